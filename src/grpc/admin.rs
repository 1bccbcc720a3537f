//! Admin requests that reach 5.x clients over their telemetry streams, as the Java proxy
//! relays them: GET_CONSUMER_RUNNING_INFO (307) asks for the client's thread stacks
//! (PrintThreadStackTraceCommand), CONSUME_MESSAGE_DIRECTLY (309) asks it to verify a
//! message (VerifyMessageCommand).

use std::sync::Arc;
use std::time::Duration;

use rmqd_remoting::codes::response;
use rmqd_remoting::{RemotingCommand, Reply};
use rmqd_store::record::{self, Decoded};
use serde_json::json;

use super::convert::{self, Delivery};
use super::pb::{self, telemetry_command::Command};
use crate::broker::context::BrokerContext;

/// How long an admin request waits for the client's answer.
const WAIT: Duration = Duration::from_secs(3);

fn not_online(req: &RemotingCommand, group: &str, client: &str) -> Reply {
    Reply::Now(Some(RemotingCommand::error(
        req,
        response::SYSTEM_ERROR,
        format!("The Consumer <{group}> <{client}> not online"),
    )))
}

/// GET_CONSUMER_RUNNING_INFO for a gRPC client: its thread stacks as `jstack`.
/// Whether the client a relayed admin request names is a 5.x gRPC session.
pub fn is_grpc_client(ctx: &BrokerContext, req: &RemotingCommand) -> bool {
    req.ext("clientId")
        .is_some_and(|c| ctx.grpc_clients.is_connected(c))
}

pub fn consumer_running_info(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    let group = req.ext("consumerGroup").unwrap_or_default().to_string();
    let client = req.ext("clientId").unwrap_or_default().to_string();
    if !ctx.grpc_clients.is_connected(&client) {
        return not_online(&req, &group, &client);
    }
    let ctx = ctx.clone();
    Reply::Later(Box::pin(async move {
        let answer = ctx
            .grpc_clients
            .ask(
                &client,
                |nonce| {
                    Command::PrintThreadStackTraceCommand(pb::PrintThreadStackTraceCommand {
                        nonce,
                    })
                },
                WAIT,
            )
            .await;
        Some(match answer {
            Some(Command::ThreadStackTrace(t)) => {
                let body = json!({
                    "jstack": t.thread_stack_trace.unwrap_or_default(),
                    "mqTable": {},
                    "properties": {"PROP_CONSUMER_START_TIMESTAMP": "0"},
                    "statusTable": {},
                    "subscriptionSet": [],
                });
                RemotingCommand::success(&req).with_body(body.to_string())
            }
            _ => RemotingCommand::error(
                &req,
                response::SYSTEM_ERROR,
                format!("The Consumer <{group}> <{client}> did not answer in time"),
            ),
        })
    }))
}

/// CONSUME_MESSAGE_DIRECTLY for a gRPC client: the message by its offsetMsgId, verified.
pub fn consume_message_directly(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    let group = req.ext("consumerGroup").unwrap_or_default().to_string();
    let client = req.ext("clientId").unwrap_or_default().to_string();
    if !ctx.grpc_clients.is_connected(&client) {
        return not_online(&req, &group, &client);
    }
    let msg_id = req.ext("msgId").unwrap_or_default().to_string();
    let Some(bytes) =
        record::decode_offset_msg_id(&msg_id).and_then(|(_, phy)| ctx.store.message_at(phy))
    else {
        return Reply::Now(Some(RemotingCommand::error(
            &req,
            response::SYSTEM_ERROR,
            format!("The message {msg_id} not exist"),
        )));
    };
    let Ok(Decoded::Message(m)) = record::decode(&bytes, false) else {
        return Reply::Now(Some(RemotingCommand::error(
            &req,
            response::SYSTEM_ERROR,
            "message unreadable",
        )));
    };
    let message = convert::message(
        &bytes,
        &m,
        &Delivery {
            topic: m.topic,
            receipt_handle: None,
            reconsume_times: m.reconsume_times,
            invisible_ms: None,
        },
    );
    let ctx = ctx.clone();
    Reply::Later(Box::pin(async move {
        let started = std::time::Instant::now();
        let answer = ctx
            .grpc_clients
            .ask(
                &client,
                move |nonce| {
                    Command::VerifyMessageCommand(pb::VerifyMessageCommand {
                        nonce,
                        message: Some(message),
                    })
                },
                WAIT,
            )
            .await;
        Some(match answer {
            Some(Command::VerifyMessageResult(_)) => {
                let body = json!({
                    "autoCommit": true,
                    "consumeResult": "CR_SUCCESS",
                    "order": false,
                    "remark": "",
                    "spentTimeMills": started.elapsed().as_millis() as i64,
                });
                RemotingCommand::success(&req).with_body(body.to_string())
            }
            _ => RemotingCommand::error(
                &req,
                response::SYSTEM_ERROR,
                format!("The Consumer <{group}> <{client}> did not verify the message in time"),
            ),
        })
    }))
}
