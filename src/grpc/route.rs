//! QueryRoute and QueryAssignment (`RouteActivity`): one broker, this process, reached at
//! the gRPC address the client used.

use std::sync::Arc;

use rmqd_remoting::body::topic::{perm, TopicConfig};

use super::client::group_is_fifo;
use super::pb::{self, Code, MessageType, Permission};
use super::{status, validate};
use crate::broker::context::BrokerContext;

/// `TopicAttributes.TOPIC_MESSAGE_TYPE_ATTRIBUTE`.
pub const MESSAGE_TYPE_ATTRIBUTE: &str = "message.type";

/// `TopicConfig.getTopicMessageType` → the types a queue accepts (`parseTopicMessageType`).
pub fn accepted_types(tc: &TopicConfig) -> Vec<i32> {
    let t = tc
        .attributes
        .as_ref()
        .and_then(|a| a.get(MESSAGE_TYPE_ATTRIBUTE))
        .map(String::as_str)
        .unwrap_or("NORMAL");
    let types = match t {
        "NORMAL" => vec![MessageType::Normal],
        "FIFO" => vec![MessageType::Fifo],
        "TRANSACTION" => vec![MessageType::Transaction],
        "DELAY" => vec![MessageType::Delay],
        "MIXED" => vec![
            MessageType::Normal,
            MessageType::Fifo,
            MessageType::Delay,
            MessageType::Transaction,
        ],
        _ => vec![MessageType::Unspecified],
    };
    types.into_iter().map(|t| t as i32).collect()
}

/// The broker as clients should reach it: the hosts they dialled, this gRPC port.
fn broker(ctx: &BrokerContext, asked: Option<&pb::Endpoints>) -> pb::Broker {
    let port = i32::from(ctx.config.grpc_server_port);
    let endpoints = match asked {
        Some(e) if !e.addresses.is_empty() => pb::Endpoints {
            scheme: e.scheme,
            addresses: e
                .addresses
                .iter()
                .map(|a| pb::Address {
                    host: a.host.clone(),
                    port,
                })
                .collect(),
        },
        _ => pb::Endpoints {
            scheme: pb::AddressScheme::IPv4 as i32,
            addresses: vec![pb::Address {
                host: ctx.config.broker_ip1.clone(),
                port,
            }],
        },
    };
    pb::Broker {
        name: ctx.config.broker_name.clone(),
        id: 0,
        endpoints: Some(endpoints),
    }
}

fn permission(p: i32) -> Permission {
    match (p & perm::READ != 0, p & perm::WRITE != 0) {
        (true, true) => Permission::ReadWrite,
        (true, false) => Permission::Read,
        (false, true) => Permission::Write,
        (false, false) => Permission::None,
    }
}

fn topic_config(ctx: &BrokerContext, topic: &pb::Resource) -> Result<TopicConfig, pb::Status> {
    validate::topic(&topic.name).map_err(|(c, m)| status::with(c, m))?;
    ctx.topics().get(&topic.name).cloned().ok_or_else(|| {
        status::with(
            Code::TopicNotFound,
            format!(
                "No topic route info in name server for the topic: {}",
                topic.name
            ),
        )
    })
}

pub fn query_route(ctx: &Arc<BrokerContext>, req: pb::QueryRouteRequest) -> pb::QueryRouteResponse {
    let topic = req.topic.unwrap_or_default();
    let tc = match topic_config(ctx, &topic) {
        Ok(tc) => tc,
        Err(s) => {
            return pb::QueryRouteResponse {
                status: Some(s),
                message_queues: Vec::new(),
            }
        }
    };
    let b = broker(ctx, req.endpoints.as_ref());
    let accepted = accepted_types(&tc);
    // `genMessageQueueFromQueueData`: read-only, write-only, then read-write queues.
    let (readable, writable) = (tc.perm & perm::READ != 0, tc.perm & perm::WRITE != 0);
    let (r, w, rw, n) = match (readable, writable) {
        (true, true) => {
            let rw = tc.write_queue_nums.min(tc.read_queue_nums);
            (tc.read_queue_nums - rw, tc.write_queue_nums - rw, rw, 0)
        }
        (false, true) => (0, tc.write_queue_nums, 0, 0),
        (true, false) => (tc.read_queue_nums, 0, 0, 0),
        (false, false) => (0, 0, 0, tc.write_queue_nums.max(tc.read_queue_nums).max(1)),
    };
    let mut queues = Vec::new();
    let mut id = 0;
    for (count, p) in [
        (r, Permission::Read),
        (w, Permission::Write),
        (rw, Permission::ReadWrite),
        (n, Permission::None),
    ] {
        for _ in 0..count.max(0) {
            queues.push(pb::MessageQueue {
                topic: Some(topic.clone()),
                id,
                permission: p as i32,
                broker: Some(b.clone()),
                accept_message_types: accepted.clone(),
            });
            id += 1;
        }
    }
    pb::QueryRouteResponse {
        status: status::ok(),
        message_queues: queues,
    }
}

pub fn query_assignment(
    ctx: &Arc<BrokerContext>,
    req: pb::QueryAssignmentRequest,
) -> pb::QueryAssignmentResponse {
    let topic = req.topic.unwrap_or_default();
    let group = req.group.unwrap_or_default();
    let fail = |s: pb::Status| pb::QueryAssignmentResponse {
        status: Some(s),
        assignments: Vec::new(),
    };
    if let Err((c, m)) = validate::group(&group.name) {
        return fail(status::with(c, m));
    }
    let tc = match topic_config(ctx, &topic) {
        Ok(tc) => tc,
        Err(s) => return fail(s),
    };
    if tc.perm & perm::READ == 0 || tc.read_queue_nums <= 0 {
        return fail(status::with(Code::Forbidden, "no readable queue"));
    }
    let b = broker(ctx, req.endpoints.as_ref());
    let p = permission(tc.perm) as i32;
    let ids: Vec<i32> = if group_is_fifo(ctx, &group.name) {
        (0..tc.read_queue_nums).collect()
    } else {
        vec![-1]
    };
    let assignments = ids
        .into_iter()
        .map(|id| pb::Assignment {
            message_queue: Some(pb::MessageQueue {
                topic: Some(topic.clone()),
                id,
                permission: p,
                broker: Some(b.clone()),
                accept_message_types: Vec::new(),
            }),
        })
        .collect();
    pb::QueryAssignmentResponse {
        status: status::ok(),
        assignments,
    }
}
