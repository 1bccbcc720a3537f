//! What a peer sends over the wire: frames, both header encodings, the typed headers read
//! from `extFields`, and the JSON bodies.

use std::borrow::Cow;
use std::fmt::Debug;
use std::io::Write;

use bytes::{Bytes, BytesMut};
use rmqd_remoting::body::client::{
    CheckClientRequestBody, ConsumerIdList, HeartbeatData, LockBatchRequestBody,
    LockBatchResponseBody, SubscriptionData,
};
use rmqd_remoting::body::cluster::ClusterInfo;
use rmqd_remoting::body::fastjson;
use rmqd_remoting::body::register::RegisterBrokerBody;
use rmqd_remoting::body::route::TopicRouteData;
use rmqd_remoting::body::stats::{GetConsumerStatusBody, ResetOffsetBody};
use rmqd_remoting::body::topic::{
    DataVersion, KvTable, TopicConfig, TopicConfigSerializeWrapper, TopicList,
};
use rmqd_remoting::frame::{decode_frame, encode_frame};
use rmqd_remoting::header::{binary, json};
use rmqd_remoting::headers::{admin, broker, namesrv, send};
use rmqd_remoting::{
    CommandCodec, CommandHeader, ExtFields, LanguageCode, RemotingCommand, SerializeType,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::codec::Decoder;

/// A command as a re-encode must give it back. The binary header cannot tell an empty
/// `extFields` from none (both are a zero length), and a JSON header names the language,
/// so a number it does not know (kept for binary echoes) is written as OTHER.
fn canonical(mut cmd: RemotingCommand) -> RemotingCommand {
    if cmd.ext_fields.as_ref().is_some_and(ExtFields::is_empty) {
        cmd.ext_fields = None;
    }
    if cmd.serialize_type == SerializeType::Json {
        cmd.language = LanguageCode::from_name(cmd.language.name());
    }
    cmd
}

/// Whatever decoded must survive our own encoder and decoder unchanged: a command we
/// forward, or answer with its fields copied, must not change on the way.
fn assert_reencodes(cmd: RemotingCommand) {
    let again = encode_frame(&cmd);
    let Some(frame) = again.get(4..) else {
        panic!("encoded frame is shorter than its length word");
    };
    let back = match decode_frame(Bytes::copy_from_slice(frame)) {
        Ok(c) => c,
        Err(e) => panic!("our own frame does not decode: {e}; command {cmd:?}"),
    };
    assert_eq!(
        canonical(back),
        canonical(cmd),
        "re-encoded command differs"
    );
}

/// `decode_frame` on a frame body (the bytes after the length word).
pub fn frame(data: &[u8]) {
    if let Ok(cmd) = decode_frame(Bytes::copy_from_slice(data)) {
        assert_reencodes(cmd);
    }
}

/// The streaming codec, fed the same bytes whole and in chunks: the commands and the
/// error it stops on must not depend on how the bytes arrive. The first byte sets the
/// chunk size.
pub fn codec(data: &[u8]) {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 64) + 1;
    let whole = drain(&mut BytesMut::from(stream), &mut codec_under_test(), true);

    let mut codec = codec_under_test();
    let mut buf = BytesMut::new();
    let mut chunked = Vec::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        chunked.extend(drain(&mut buf, &mut codec, false));
        if matches!(chunked.last(), Some(Err(_))) {
            break;
        }
    }
    assert_eq!(whole, chunked, "codec output depends on chunking ({chunk})");
}

/// Small enough that hostile length words hit the limit quickly.
fn codec_under_test() -> CommandCodec {
    CommandCodec::new(1 << 16)
}

type Decoded = Result<RemotingCommand, String>;

/// Decodes until the codec wants more bytes or fails. `eof` also stops after a failure,
/// which is where a connection is closed.
fn drain(buf: &mut BytesMut, codec: &mut CommandCodec, eof: bool) -> Vec<Decoded> {
    let mut out = Vec::new();
    // Each success consumes at least the 4-byte length word, so this ends.
    loop {
        match codec.decode(buf) {
            Ok(Some(cmd)) => out.push(Ok(cmd)),
            Ok(None) => break,
            Err(e) => {
                out.push(Err(e.to_string()));
                break;
            }
        }
        if !eof && buf.is_empty() {
            break;
        }
    }
    out
}

/// The JSON header decoder alone.
pub fn header_json(data: &[u8]) {
    if let Ok(cmd) = json::decode(data) {
        assert_reencodes(cmd);
    }
}

/// The binary (ROCKETMQ) header decoder alone.
pub fn header_binary(data: &[u8]) {
    if let Ok(cmd) = binary::decode(data) {
        assert_reencodes(cmd);
    }
}

/// Every typed header read from the `extFields` of a JSON (else binary) header, and
/// `ExtFields::from_pairs` against one-by-one insertion on pairs cut from the raw bytes.
pub fn custom_headers(data: &[u8]) {
    if let Ok(mut cmd) = json::decode(data).or_else(|_| binary::decode(data)) {
        let ext = cmd.ext_fields.as_ref();
        every_header(ext);
        let _ = send::SendMessageRequestHeader::from_request(&cmd);
        cmd.code = rmqd_remoting::codes::request::SEND_MESSAGE_V2;
        let _ = send::SendMessageRequestHeader::from_request(&cmd);
    }
    from_pairs_matches_inserts(data);
}

fn every_header(ext: Option<&ExtFields>) {
    macro_rules! each {
        ($($m:ident :: $h:ident),* $(,)?) => { $( header_round_trip::<$m::$h>(ext); )* };
    }
    each!(
        broker::PullMessageRequestHeader,
        broker::PullMessageResponseHeader,
        broker::QueryConsumerOffsetRequestHeader,
        broker::UpdateConsumerOffsetRequestHeader,
        broker::TopicQueueHeader,
        broker::SearchOffsetRequestHeader,
        broker::OffsetResponseHeader,
        broker::TimestampResponseHeader,
        broker::UnregisterClientRequestHeader,
        broker::ConsumerGroupHeader,
        broker::QueryMessageRequestHeader,
        broker::QueryMessageResponseHeader,
        broker::ViewMessageRequestHeader,
        broker::CreateTopicRequestHeader,
        broker::TopicOnlyHeader,
        broker::DeleteSubscriptionGroupRequestHeader,
        broker::GetConsumeStatsRequestHeader,
        broker::ConsumerSendMsgBackRequestHeader,
        broker::EndTransactionRequestHeader,
        broker::CheckTransactionStateRequestHeader,
        send::ReplyMessageRequestHeader,
        admin::ProducerGroupHeader,
        admin::ResetOffsetRequestHeader,
        admin::GetConsumerStatusRequestHeader,
        admin::QueryConsumeTimeSpanRequestHeader,
        admin::GetConsumerRunningInfoRequestHeader,
        admin::QueryCorrectionOffsetHeader,
        admin::ConsumeMessageDirectlyRequestHeader,
        admin::CloneGroupOffsetRequestHeader,
        admin::ViewBrokerStatsDataRequestHeader,
        admin::GetConsumeStatsInBrokerHeader,
        admin::QueryConsumeQueueRequestHeader,
        admin::ResumeCheckHalfMessageRequestHeader,
        admin::GetBrokerConfigResponseHeader,
        namesrv::RegisterBrokerRequestHeader,
        namesrv::RegisterBrokerResponseHeader,
        namesrv::BrokerIdentityHeader,
        namesrv::QueryDataVersionResponseHeader,
        namesrv::GetRouteInfoRequestHeader,
        namesrv::PutKvConfigRequestHeader,
        namesrv::KvConfigKeyHeader,
        namesrv::GetKvConfigResponseHeader,
        namesrv::NamespaceHeader,
        namesrv::BrokerNameHeader,
        namesrv::WipeWritePermResponseHeader,
        namesrv::AddWritePermResponseHeader,
        namesrv::TopicHeader,
        namesrv::ClusterHeader,
        send::SendMessageRequestHeader,
        send::SendMessageRequestHeaderV2,
        send::SendMessageResponseHeader,
    );
}

/// A header that reads must write fields that read back to the same fields.
fn header_round_trip<H: CommandHeader + Debug>(ext: Option<&ExtFields>) {
    let Ok(h) = H::from_ext(ext) else {
        return;
    };
    let mut written = ExtFields::new();
    h.write_ext(&mut written);
    let again = match H::from_ext(Some(&written)) {
        Ok(a) => a,
        Err(e) => panic!("{h:?} wrote fields it cannot read: {e}"),
    };
    let mut rewritten = ExtFields::new();
    again.write_ext(&mut rewritten);
    assert_eq!(
        written,
        rewritten,
        "{} changed on a re-read",
        std::any::type_name::<H>()
    );
}

/// `from_pairs` switches to a hashed dedupe past a few dozen pairs; both paths must
/// agree with inserting the pairs one by one. Keys are few so that repeats are common.
fn from_pairs_matches_inserts(data: &[u8]) {
    let pairs: Vec<(Cow<'static, str>, String)> = data
        .chunks(2)
        .map(|c| {
            let key = format!("k{}", c[0] % 16);
            let value = c.get(1).map(|v| v.to_string()).unwrap_or_default();
            (Cow::Owned(key), value)
        })
        .collect();
    let mut inserted = ExtFields::new();
    for (k, v) in pairs.iter().cloned() {
        inserted.insert(k, v);
    }
    assert_eq!(
        ExtFields::from_pairs(pairs),
        inserted,
        "from_pairs differs from inserts"
    );
}

/// REGISTER_BROKER bodies. The first byte picks the form: plain JSON, a compressed body
/// as received, or the bytes compressed here first, so that the fuzzer reaches the
/// binary layout inside the zlib stream.
pub fn body_register(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(body) = RegisterBrokerBody::decode(rest, false) {
                let text = rmqd_remoting::body::to_json(&body);
                match RegisterBrokerBody::decode(&text, false) {
                    Ok(back) => assert_eq!(back, body, "register body changed on a re-read"),
                    Err(e) => panic!("our own register body does not decode: {e}"),
                }
            }
        }
        1 => {
            let _ = RegisterBrokerBody::decode(rest, true);
        }
        _ => {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            if z.write_all(rest).is_ok() {
                if let Ok(packed) = z.finish() {
                    let _ = RegisterBrokerBody::decode(&packed, true);
                }
            }
        }
    }
}

/// fastjson bodies, with number and MessageQueue map keys: the lenient reader, and the
/// typed readers of MessageQueue-keyed maps a client sends the broker
/// (GET_CONSUMER_STATUS_FROM_CLIENT answers, reset bodies). What they read must read back
/// the same from what they write.
pub fn body_fastjson(data: &[u8]) {
    // An admin client's view: a value or an error, and what it accepts re-reads the same
    // once written as standard JSON.
    if let Ok(v) = fastjson::parse(data) {
        let text = serde_json::to_vec(&v).expect("a parsed value serializes");
        let again = fastjson::parse(&text).expect("standard JSON re-reads");
        assert_eq!(v, again);
        let _ = rmqd_remoting::admin::queue_entries(&v);
    }
    if let Ok(b) = GetConsumerStatusBody::decode(data) {
        match GetConsumerStatusBody::decode(&b.encode()) {
            Ok(back) => assert_eq!(back, b, "consumer status body changed on a re-read"),
            Err(e) => panic!("our own consumer status body does not decode: {e}"),
        }
    }
    if let Ok(b) = ResetOffsetBody::decode(data) {
        match ResetOffsetBody::decode(&b.encode()) {
            Ok(back) => assert_eq!(back, b, "reset body changed on a re-read"),
            Err(e) => panic!("our own reset body does not decode: {e}"),
        }
    }
}

/// The JSON bodies serde reads: the first byte picks the type. Each must read back
/// what it writes, since the broker and name server store and forward them.
pub fn body_json(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 14 {
        0 => json_round_trip::<HeartbeatData>(body),
        1 => json_round_trip::<LockBatchRequestBody>(body),
        2 => json_round_trip::<LockBatchResponseBody>(body),
        3 => json_round_trip::<ConsumerIdList>(body),
        4 => json_round_trip::<SubscriptionData>(body),
        5 => json_round_trip::<DataVersion>(body),
        6 => json_round_trip::<TopicConfig>(body),
        7 => json_round_trip::<TopicConfigSerializeWrapper>(body),
        8 => json_round_trip::<TopicList>(body),
        9 => json_round_trip::<KvTable>(body),
        10 => json_round_trip::<TopicRouteData>(body),
        11 => json_round_trip::<ClusterInfo>(body),
        12 => json_round_trip::<RegisterBrokerBody>(body),
        _ => json_round_trip::<CheckClientRequestBody>(body),
    }
}

/// Selector bytes for [`body_json`], used by the seed writer.
pub const BODY_JSON_KINDS: &[(&str, u8)] = &[
    ("heartbeat", 0),
    ("lock_batch_request", 1),
    ("lock_batch_response", 2),
    ("consumer_id_list", 3),
    ("subscription", 4),
    ("data_version", 5),
    ("topic_config", 6),
    ("topic_config_wrapper", 7),
    ("topic_list", 8),
    ("kv_table", 9),
    ("route", 10),
    ("cluster_info", 11),
    ("register_broker", 12),
    ("check_client", 13),
];

fn json_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(body: &[u8]) {
    let Ok(v) = serde_json::from_slice::<T>(body) else {
        return;
    };
    let text = rmqd_remoting::body::to_json(&v);
    match serde_json::from_slice::<T>(&text) {
        Ok(back) => assert_eq!(
            back,
            v,
            "{} changed on a re-read",
            std::any::type_name::<T>()
        ),
        Err(e) => panic!(
            "{} does not read its own JSON {:?}: {e}",
            std::any::type_name::<T>(),
            String::from_utf8_lossy(&text)
        ),
    }
}

/// The HA replication stream (raw TCP on haListenPort) as a slave reads a master's
/// transfers and a master reads a slave's reports: the first byte picks how the rest is
/// cut into reads, so frames split at any point are seen.
pub fn ha_stream(data: &[u8]) {
    use rmqd_remoting::ha::{ReportDecoder, TransferDecoder, REPORT_LEN};
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut transfers = TransferDecoder::new(64 * 1024);
    let mut reports = ReportDecoder;
    let (mut bt, mut br) = (BytesMut::new(), BytesMut::new());
    let mut consumed = 0usize;
    let mut failed = false;
    for piece in rest.chunks(chunk) {
        br.extend_from_slice(piece);
        while let Ok(Some(_)) = reports.decode(&mut br) {}
        assert!(br.len() < REPORT_LEN, "a complete report was left unread");
        if failed {
            continue;
        }
        bt.extend_from_slice(piece);
        loop {
            match transfers.decode(&mut bt) {
                Ok(Some(t)) => {
                    assert!(t.start >= 0 && t.body.len() <= 64 * 1024);
                    consumed += 12 + t.body.len();
                }
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
    }
    if !failed {
        assert_eq!(
            consumed + bt.len(),
            rest.len(),
            "transfer bytes lost or invented"
        );
    }
}
