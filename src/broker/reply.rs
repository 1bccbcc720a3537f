//! SEND_REPLY_MESSAGE (324) and SEND_REPLY_MESSAGE_V2 (325): the replying side of
//! `DefaultMQProducer.request`, as `ReplyMessageProcessor` does it. The reply goes
//! straight to the requester's connection (PUSH_REPLY_MESSAGE_TO_CLIENT, 326), found by
//! the client id in its REPLY_TO_CLIENT property; with `storeReplyMessageEnable` it is
//! also stored, in `<cluster>_REPLY_TOPIC` or wherever the replier sent it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rmqd_remoting::codes::{request, response};
use rmqd_remoting::headers::send::{
    ReplyMessageRequestHeader, SendMessageRequestHeader, SendMessageResponseHeader,
};
use rmqd_remoting::{ConnectionHandle, RemotingCommand, Reply};
use rmqd_store::{MessageToStore, PutStatus};

use super::context::{now_ms, BrokerContext, Outcome};
use super::properties::Properties;
use super::send;

/// `MessageConst.PROPERTY_MESSAGE_REPLY_TO_CLIENT`.
pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// `MessageConst.PROPERTY_PUSH_REPLY_TIME`, added to what is pushed.
const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// `Broker2Client.callClient`'s timeout.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

pub fn process(ctx: &Arc<BrokerContext>, conn: &ConnectionHandle, req: RemotingCommand) -> Reply {
    let prepared = match prepare(ctx, conn, &req) {
        Ok(p) => p,
        Err(r) => {
            tracing::debug!(code = r.code, remark = %r.remark, "reply refused");
            return Reply::Now(Some(RemotingCommand::error(&req, r.code, r.remark)));
        }
    };
    let ctx = Arc::clone(ctx);
    Reply::Later(Box::pin(async move {
        Some(deliver(&ctx, &req, prepared).await)
    }))
}

struct Prepared {
    header: SendMessageRequestHeader,
    queue_id: i32,
    props: Properties,
    msg: MessageToStore,
}

/// `msgCheck` (the same topic checks and creation as a send) and the message to store.
fn prepare(
    ctx: &Arc<BrokerContext>,
    conn: &ConnectionHandle,
    req: &RemotingCommand,
) -> Outcome<Prepared> {
    let h = SendMessageRequestHeader::from_request(req)?;
    let topic_cfg = send::check_topic(ctx, conn.peer_addr(), &h)?;
    let queue_id = send::pick_queue(&h, &topic_cfg)?;
    send::check_body(ctx, req.body.len())?;
    let raw = h.properties.clone().unwrap_or_default();
    let props = send::client_properties(ctx, &raw)?;
    let msg = MessageToStore {
        topic: h.topic.clone(),
        queue_id,
        flag: h.flag,
        body: req.body.clone(),
        // Java stores the replier's properties string as it came (no CLUSTER added)
        // and a zero sysFlag.
        properties: raw,
        sys_flag: 0,
        born_timestamp: h.born_timestamp,
        born_host: conn.peer_addr(),
        reconsume_times: h.reconsume_times.unwrap_or(0),
        prepared_transaction_offset: 0,
    };
    Ok(Prepared {
        header: h,
        queue_id,
        props,
        msg,
    })
}

async fn deliver(ctx: &BrokerContext, req: &RemotingCommand, p: Prepared) -> RemotingCommand {
    let Prepared {
        header,
        queue_id,
        mut props,
        msg,
    } = p;
    let mut resp = RemotingCommand::response_to(req, response::SUCCESS);
    {
        let ext = resp.ext_mut();
        ext.insert("MSG_REGION", "DefaultRegion");
        ext.insert("TRACE_ON", "true");
    }
    match push(ctx, req, &header, msg.born_host, &mut props).await {
        Ok(()) => {
            // "set to zero to avoid client decoding exception"
            resp.set_header(&SendMessageResponseHeader {
                msg_id: "0".into(),
                queue_id,
                queue_offset: 0,
                transaction_id: None,
            });
        }
        Err(remark) => {
            resp.code = response::SYSTEM_ERROR;
            resp.remark = Some(remark);
        }
    }
    if ctx.config.store_reply_message_enable {
        let result = ctx.store.put(msg).await;
        match result.status {
            PutStatus::PutOk | PutStatus::FlushDiskTimeout => {
                resp.set_header(&SendMessageResponseHeader {
                    msg_id: result.msg_id,
                    queue_id,
                    queue_offset: result.queue_offset,
                    transaction_id: None,
                });
            }
            // Java only logs a failed put of a reply; the answer is the push's.
            status => tracing::warn!(?status, topic = %header.topic, "reply not stored"),
        }
    }
    resp
}

/// PUSH_REPLY_MESSAGE_TO_CLIENT to the requester's connection. The error is Java's
/// remark for the replier.
async fn push(
    ctx: &BrokerContext,
    req: &RemotingCommand,
    h: &SendMessageRequestHeader,
    born_host: SocketAddr,
    props: &mut Properties,
) -> Result<(), String> {
    let Some(sender) = props.get(REPLY_TO_CLIENT).map(str::to_owned) else {
        tracing::warn!("{REPLY_TO_CLIENT} is null, can not reply message");
        return Err(format!(
            "reply message properties[{REPLY_TO_CLIENT}] is null"
        ));
    };
    let Some(conn) = ctx.clients.producer_connection_of_client(&sender) else {
        let remark = format!("push reply message fail, channel of <{sender}> not found.");
        tracing::warn!("{remark}");
        return Err(remark);
    };
    props.insert(PUSH_REPLY_TIME, &now_ms().to_string());
    let header = ReplyMessageRequestHeader {
        producer_group: h.producer_group.clone(),
        topic: h.topic.clone(),
        default_topic: h.default_topic.clone(),
        default_topic_queue_nums: h.default_topic_queue_nums,
        queue_id: h.queue_id,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        flag: h.flag,
        properties: Some(props.encode_java_order()),
        reconsume_times: h.reconsume_times,
        unit_mode: h.unit_mode,
        born_host: java_host_address(born_host),
        store_host: java_host_address(ctx.store_host),
        store_timestamp: now_ms(),
    };
    let push = RemotingCommand::request(request::PUSH_REPLY_MESSAGE_TO_CLIENT)
        .with_header(&header)
        .with_body(req.body.clone());
    let failed = || format!("push reply message to {sender}fail.");
    match conn.invoke(push, PUSH_TIMEOUT).await {
        Ok(r) if r.code == response::SUCCESS => Ok(()),
        Ok(r) => {
            tracing::warn!(client = %sender, remark = ?r.remark, "push reply message returned failure");
            Err(failed())
        }
        Err(e) => {
            tracing::warn!(client = %sender, error = %e, "push reply message failed");
            Err(failed())
        }
    }
}

/// `InetAddress.getHostAddress() + ":" + port`: IPv6 in full, unbracketed.
fn java_host_address(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
        IpAddr::V6(ip) => {
            let segments: Vec<String> = ip.segments().iter().map(|s| format!("{s:x}")).collect();
            format!("{}:{}", segments.join(":"), addr.port())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_addresses_as_java_prints_them() {
        assert_eq!(
            java_host_address("127.0.0.1:10911".parse().unwrap()),
            "127.0.0.1:10911"
        );
        assert_eq!(
            java_host_address("[::1]:5".parse().unwrap()),
            "0:0:0:0:0:0:0:1:5"
        );
    }
}
