//! What a request asks for (`PlainAccessValidator.parse`): the topics and groups it touches
//! and the permission each needs. Groups are named by their retry topic, as Java names them.

use rmqd_remoting::body::client::HeartbeatData;
use rmqd_remoting::codes::request;
use rmqd_remoting::headers::broker::{
    ConsumerGroupHeader, UnregisterClientRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use rmqd_remoting::RemotingCommand;

use super::perm::{PUB, RETRY_PREFIX, SUB};
use super::AclError;

fn retry(group: &str) -> String {
    format!("{RETRY_PREFIX}{group}")
}

/// The resources `req` needs, in Java's map semantics (a resource named twice keeps its
/// last permission). A request without ext fields needs nothing here: only an address
/// rule can let it through.
pub fn needed(req: &RemotingCommand) -> Result<Vec<(String, u8)>, AclError> {
    let mut out: Vec<(String, u8)> = Vec::new();
    let mut add = |r: Option<String>, p: u8| {
        if let Some(r) = r {
            match out.iter_mut().find(|(k, _)| *k == r) {
                Some(slot) => slot.1 = p,
                None => out.push((r, p)),
            }
        }
    };
    if req.ext_fields.is_none() {
        return Ok(Vec::new());
    }
    let ext = |k: &str| req.ext(k).map(str::to_owned);
    match req.code {
        request::SEND_MESSAGE | request::SEND_MESSAGE_V2 => {
            let (t, g) = if req.code == request::SEND_MESSAGE {
                ("topic", "group")
            } else {
                ("b", "a")
            };
            match ext(t) {
                Some(topic) if topic.starts_with(RETRY_PREFIX) => {
                    add(ext(g).map(|g| retry(&g)), SUB)
                }
                topic => add(topic, PUB),
            }
        }
        request::CONSUMER_SEND_MSG_BACK => add(ext("group").map(|g| retry(&g)), SUB),
        request::PULL_MESSAGE => {
            add(ext("topic"), SUB);
            add(ext("consumerGroup").map(|g| retry(&g)), SUB);
        }
        request::QUERY_MESSAGE => add(ext("topic"), SUB),
        request::HEART_BEAT => {
            let hb: HeartbeatData =
                serde_json::from_slice(&req.body).map_err(|e| AclError(e.to_string()))?;
            for c in hb.consumer_data_set {
                add(Some(retry(&c.group_name)), SUB);
                for s in c.subscription_data_set {
                    add(Some(s.topic), SUB);
                }
            }
        }
        request::UNREGISTER_CLIENT => {
            let h: UnregisterClientRequestHeader =
                req.decode_header().map_err(|e| AclError(e.to_string()))?;
            add(h.consumer_group.map(|g| retry(&g)), SUB);
        }
        request::GET_CONSUMER_LIST_BY_GROUP => {
            let h: ConsumerGroupHeader =
                req.decode_header().map_err(|e| AclError(e.to_string()))?;
            add(Some(retry(&h.consumer_group)), SUB);
        }
        request::UPDATE_CONSUMER_OFFSET => {
            let h: UpdateConsumerOffsetRequestHeader =
                req.decode_header().map_err(|e| AclError(e.to_string()))?;
            add(Some(retry(&h.consumer_group)), SUB);
            add(Some(h.topic), SUB);
        }
        _ => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(code: i32, ext: &[(&str, &str)], body: &[u8]) -> RemotingCommand {
        let mut r = RemotingCommand::request(code);
        for (k, v) in ext {
            r.ext_mut().insert(k.to_string(), v.to_string());
        }
        r.body = body.to_vec().into();
        r
    }

    #[test]
    fn resources_as_java_names_them() {
        let n = |r| needed(&r).unwrap();
        assert_eq!(
            n(req(310, &[("a", "G"), ("b", "T")], b"")),
            vec![("T".into(), PUB)]
        );
        assert_eq!(
            n(req(310, &[("a", "G"), ("b", "%RETRY%G")], b"")),
            vec![("%RETRY%G".into(), SUB)]
        );
        assert_eq!(
            n(req(10, &[("group", "G"), ("topic", "T")], b"")),
            vec![("T".into(), PUB)]
        );
        assert_eq!(
            n(req(11, &[("topic", "T"), ("consumerGroup", "G")], b"")),
            vec![("T".into(), SUB), ("%RETRY%G".into(), SUB)]
        );
        let hb = br#"{"clientID":"c","consumerDataSet":[{"groupName":"G","consumeType":1,"subscriptionDataSet":[{"topic":"T","subString":"*"}]}],"producerDataSet":[]}"#;
        assert_eq!(
            n(req(34, &[("AccessKey", "a")], hb)),
            vec![("%RETRY%G".into(), SUB), ("T".into(), SUB)]
        );
        assert!(needed(&req(34, &[("AccessKey", "a")], b"{not json")).is_err());
        assert!(needed(&req(35, &[("AccessKey", "a")], b"")).is_err());
        assert_eq!(
            n(req(34, &[], b"junk")),
            vec![],
            "no ext fields: nothing parsed"
        );
        let mut no_ext = req(34, &[], b"junk");
        no_ext.ext_fields = None;
        assert_eq!(needed(&no_ext).unwrap(), vec![]);
    }

    proptest::proptest! {
        /// Any header fields and body give a resource list or an error, never a panic.
        #[test]
        fn any_request(
            code in proptest::sample::select(vec![10, 11, 12, 15, 34, 35, 36, 38, 310, 17]),
            fields in proptest::collection::vec(("[a-zA-Z]{1,13}", "\\PC{0,10}"), 0..8),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
        ) {
            let mut r = RemotingCommand::request(code);
            for (k, v) in fields {
                r.ext_mut().insert(k, v);
            }
            r.body = body.into();
            let _ = needed(&r);
        }
    }
}
