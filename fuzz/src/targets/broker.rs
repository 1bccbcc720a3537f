//! The broker's decoders of what producers and consumers send: message properties,
//! SEND_BATCH_MESSAGE bodies and tag subscriptions (compiled from the binary crate's
//! source, see the crate root).

use bytes::Bytes;

use crate::batch;
use crate::filter;
use crate::http_head::{self, HttpError, MAX_HEAD};
use crate::properties::{self, Properties, NAME_SEP, PROP_SEP};

/// Properties as a producer sends them, parsed by the broker and by the store.
pub fn properties(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = properties::parse_from_client(&text);
    let parsed = Properties::parse(&text);

    // The parser dedupes long strings through a hash map; it must leave what inserting
    // the pairs one by one leaves, which is what Java's `HashMap.put` does.
    let mut inserted = Properties::default();
    for pair in text.split(PROP_SEP) {
        if let Some((k, v)) = pair.split_once(NAME_SEP) {
            if !k.is_empty() {
                inserted.insert(k, v);
            }
        }
    }
    assert_eq!(parsed, inserted, "parse differs from one-by-one insertion");

    // What the broker stores must parse back to the same map in the same order.
    let stored = parsed.encode_java_order();
    let reparsed = Properties::parse(&stored);
    assert_eq!(
        reparsed.encode_java_order(),
        stored,
        "stored properties change when parsed again"
    );
    for (k, v) in rmqd_store::record::properties(&stored) {
        assert_eq!(reparsed.get(k), Some(v), "store reads {k:?} differently");
    }
    let _ = rmqd_store::record::property(&text, "UNIQ_KEY");
}

/// SEND_BATCH_MESSAGE bodies. Every decoded entry must lie within the body.
pub fn batch(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    if let Ok(entries) = batch::decode(&body) {
        let carried: usize = entries
            .iter()
            .map(|e| e.body.len() + e.properties.len())
            .sum();
        assert!(
            carried <= data.len(),
            "entries hold more bytes than the body"
        );
        for e in &entries {
            let _ = Properties::parse(&e.properties);
        }
    }
}

/// Subscription expressions (`TagA || TagB`): every tag parsed must match its own hash.
/// The first byte picks the expression type the client claims.
pub fn filter(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let expr = String::from_utf8_lossy(rest);
    let claimed = match kind % 3 {
        0 => None,
        1 => Some("TAG"),
        _ => Some("SQL92"),
    };
    let sub = filter::build_subscription("FuzzTopic", &expr, claimed);
    for tag in &sub.tags_set {
        let code = i64::from(properties::java_string_hash(tag));
        assert!(
            filter::matches(&sub, code),
            "tag {tag:?} does not match itself"
        );
    }
    let _ = filter::matches(&sub, i64::from(kind));
}

/// POP receipt handles as clients send them back (ack, change invisible time).
pub fn receipt_handle(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(h) = crate::pop::handle::ReceiptHandle::decode(&text) {
        let again = crate::pop::handle::ReceiptHandle::decode(&h.encode())
            .expect("an encoded handle decodes");
        assert_eq!(again, h, "handle round trip");
        let _ = (
            h.real_topic("T", "G"),
            h.next_visible_time(),
            h.extra_info(),
        );
    }
}

/// Revive-topic bodies (checkpoints, acks) as the store gives them back.
pub fn pop_records(data: &[u8]) {
    use crate::pop::records::{decode, ReviveRecord, ACK_TAG, BATCH_ACK_TAG, CK_TAG};
    for tag in [CK_TAG, ACK_TAG, BATCH_ACK_TAG] {
        match decode(Some(tag), data) {
            Some(ReviveRecord::Ck(ck)) => {
                let n = ck.len();
                assert!(n <= 32.max(usize::try_from(ck.num).unwrap_or(0)));
                for i in 0..n {
                    let _ = ck.index_of(ck.offset_at(i));
                }
                let _ = (ck.all_acked(), ck.revive_time(), ck.merge_key());
            }
            Some(ReviveRecord::Ack(a)) => {
                let _ = (a.offsets(), a.merge_key("b"));
            }
            None => {}
        }
    }
}

/// The metrics endpoint's request heads: a complete head parses or is refused, and a
/// head that is not complete is refused only once it has reached the length limit.
pub fn http_head(data: &[u8]) {
    match http_head::parse_head(data) {
        Ok(Some(r)) => {
            assert!(!r.method.is_empty(), "a request without a method");
            assert!(!r.path.contains('?'), "the query string is not cut off");
        }
        Ok(None) => assert!(data.len() < MAX_HEAD, "an endless head is not refused"),
        Err(HttpError::TooLong) => assert!(data.len() >= MAX_HEAD),
        Err(HttpError::BadRequestLine) => {}
    }
}
