//! What the store reads back from disk, and the record layout clients decode from pull
//! bodies. A damaged or hostile store directory must give errors or skipped entries,
//! never a panic.

use std::path::Path;

use rmqd_store::checkpoint::{Checkpoint, CheckpointValues};
use rmqd_store::consume_queue::ConsumeQueue;
use rmqd_store::fastjson::{self, DelayOffsetTable, OffsetTable};
use rmqd_store::index_file::{AbnormalExit, IndexConfig, IndexFile, IndexHeader, IndexService};
use rmqd_store::record::{self, Decoded, RecordFields, RecordView};

use crate::scratch;

/// One record at the start of the bytes, and a run of them as in a pull body.
pub fn record(data: &[u8]) {
    for check_crc in [true, false] {
        match record::decode(data, check_crc) {
            Ok(Decoded::Message(m)) => {
                assert!(
                    m.total_size <= data.len(),
                    "record claims bytes past the input"
                );
                record_reencodes(&m, check_crc);
                let id = m.offset_msg_id();
                assert_eq!(
                    record::decode_offset_msg_id(&id),
                    Some((m.store_host, m.physical_offset)),
                    "offsetMsgId {id} does not decode to its record"
                );
                let _ = record::inflate_body(m.sys_flag, m.body);
                let _ = m.property("UNIQ_KEY");
                // The filter's quick lookup must find the properties the decoder found.
                assert_eq!(
                    record::properties_bytes(data),
                    Some(m.properties.as_bytes()),
                    "properties_bytes disagrees with decode"
                );
            }
            Ok(Decoded::Blank { .. }) | Err(_) => {}
        }
    }
    if let Some(p) = record::properties_bytes(data) {
        assert!(p.len() <= data.len(), "properties past the input");
    }
    let all = record::decode_all(data);
    let used: usize = all.iter().map(|m| m.total_size).sum();
    assert!(used <= data.len(), "decode_all used more bytes than it had");
}

/// A record we decoded, written again by our encoder, must decode to the same fields.
/// The magic may differ (the encoder picks V1 for short topics), and only a checked CRC
/// is known to be the body's.
fn record_reencodes(m: &RecordView<'_>, crc_checked: bool) {
    let fields = RecordFields {
        queue_id: m.queue_id,
        flag: m.flag,
        queue_offset: m.queue_offset,
        physical_offset: m.physical_offset,
        sys_flag: m.sys_flag,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host,
        store_timestamp: m.store_timestamp,
        store_host: m.store_host,
        reconsume_times: m.reconsume_times,
        prepared_transaction_offset: m.prepared_transaction_offset,
        body: m.body,
        topic: m.topic,
        properties: m.properties,
    };
    let bytes = fields.encode();
    let back = match record::decode(&bytes, true) {
        Ok(Decoded::Message(b)) => b,
        other => panic!("our own record does not decode: {other:?}"),
    };
    let mut expected = m.clone();
    expected.magic = back.magic;
    if !crc_checked {
        expected.body_crc = back.body_crc;
    }
    assert_eq!(back, expected, "record changed on a re-encode");
}

/// offsetMsgId strings as clients send them to VIEW_MESSAGE_BY_ID.
pub fn msg_id(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some((host, offset)) = record::decode_offset_msg_id(&text) {
        let again = record::offset_msg_id(host, offset);
        assert_eq!(
            record::decode_offset_msg_id(&again),
            Some((host, offset)),
            "re-encoded offsetMsgId {again} decodes differently"
        );
    }
}

/// Consume-queue files. The first byte shapes the queue: how many files (1 to 3) the
/// rest is split into, and at which file-sized offset the first one starts.
pub fn consume_queue(data: &[u8]) {
    let Some((&shape, units)) = data.split_first() else {
        return;
    };
    let count = usize::from(shape % 3) + 1;
    let size = units.len() / count;
    if size == 0 {
        return;
    }
    let Ok(root) = scratch::fresh("consume_queue") else {
        return;
    };
    let dir = root.join("FuzzTopic").join("0");
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let first = u64::from(shape >> 2) * size as u64;
    for (i, part) in units.chunks_exact(size).enumerate() {
        let name = format!("{:020}", first + (i * size) as u64);
        if std::fs::write(dir.join(name), part).is_err() {
            return;
        }
    }
    // Read-only first: the read-write recovery below truncates the files.
    if let Ok(cq) = ConsumeQueue::open(&root, "FuzzTopic", 0, size, true) {
        cq.scan_read_only();
        walk_queue(&cq);
    }
    if let Ok(cq) = ConsumeQueue::open(&root, "FuzzTopic", 0, size, false) {
        let cut = i64::from(shape) << 20;
        // Both recoveries: after a clean stop, and after a crash rebuilding from `cut`.
        let end = cq.recover((shape & 2 != 0).then_some(cut));
        assert_eq!(cq.max_offset(), end, "recover's end is not the max offset");
        walk_queue(&cq);
        let _ = cq.truncate_phy(cut);
        cq.correct_min_offset(cut >> 1);
        walk_queue(&cq);
    }
}

/// Reads the units a consumer could ask for, and the offsets just outside them.
fn walk_queue(cq: &ConsumeQueue) {
    let (min, max) = (cq.min_offset(), cq.max_offset());
    for off in [
        i64::MIN,
        -1,
        0,
        min.saturating_sub(1),
        max,
        max.saturating_add(1),
        i64::MAX,
    ] {
        let _ = cq.get(off);
    }
    for off in min..max.min(min.saturating_add(64)) {
        let _ = cq.get(off);
    }
    let _ = cq.max_phy_end();
}

/// Sizes the index is tried with: the fixture store's, and two small ones where the
/// fuzzer can fill every slot and entry.
const INDEX_CONFIGS: [IndexConfig; 3] = [
    IndexConfig {
        max_hash_slot_num: 100,
        max_index_num: 400,
    },
    IndexConfig {
        max_hash_slot_num: 4,
        max_index_num: 8,
    },
    IndexConfig {
        max_hash_slot_num: 1,
        max_index_num: 2,
    },
];

/// Index files: the first byte picks the configured size, whether the file is padded
/// to it (else the service must cope with a foreign size), and which keys are asked for.
pub fn index_file(data: &[u8]) {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let cfg = INDEX_CONFIGS[usize::from(shape) % INDEX_CONFIGS.len()];
    let mut bytes = rest.to_vec();
    if shape & 4 == 0 {
        bytes.resize(cfg.file_size(), 0);
    }
    let header = IndexHeader::parse(&bytes);
    let Ok(dir) = scratch::fresh("index_file") else {
        return;
    };
    let path = dir.join("20261122115335181");
    if std::fs::write(&path, &bytes).is_err() {
        return;
    }
    let n = shape >> 3;
    let keys = [
        format!("FixtureTopic#key-{n}"),
        format!("PadTopic#padkey-{n}"),
        format!("FuzzTopic#{n}"),
    ];
    let window = [
        (i64::MIN, i64::MAX),
        (header.begin_timestamp, header.end_timestamp),
        (header.end_timestamp, header.begin_timestamp),
    ];

    if let Ok(f) = IndexFile::open(&path, cfg, true) {
        assert_eq!(
            f.header(),
            header,
            "opened header differs from the parsed one"
        );
        select_all(&f, &keys, &window);
        let _ = f.covers(header.begin_timestamp, header.end_timestamp);
    }
    if let Ok(svc) = IndexService::open_read_only(&dir, cfg) {
        query_all(&svc, &window);
    }
    if let Ok(mut f) = IndexFile::open(&path, cfg, false) {
        for (i, k) in keys.iter().enumerate() {
            let at = header.end_timestamp.saturating_add(i as i64);
            let _ = f.put_key(k, i as i64, at);
        }
        select_all(&f, &keys, &window);
        let _ = f.is_full();
    }
    reopen_service(&dir, cfg, header.end_timestamp);
}

fn select_all(f: &IndexFile, keys: &[String], windows: &[(i64, i64)]) {
    for k in keys {
        for &(begin, end) in windows {
            let mut out = Vec::new();
            f.select(k, 32, begin, end, &mut out);
            assert!(out.len() <= 32, "select returned more than asked for");
        }
    }
}

fn query_all(svc: &IndexService, windows: &[(i64, i64)]) {
    for &(begin, end) in windows {
        let _ = svc.query("FixtureTopic", "key-0", 32, begin, end);
    }
    let _ = svc.files();
    let _ = svc.last_full_end_timestamp();
}

/// The read-write service as a restart after a crash opens it, then new keys.
fn reopen_service(dir: &Path, cfg: IndexConfig, checkpoint_ts: i64) {
    let exit = AbnormalExit {
        index_timestamp: checkpoint_ts,
        commitlog_end: checkpoint_ts >> 8,
    };
    if let Ok((mut svc, _rebuild_from)) = IndexService::open(dir, cfg, Some(exit)) {
        let _ = svc.build("FuzzTopic", Some("UNIQ"), Some("a b"), 1, checkpoint_ts);
        query_all(&svc, &[(i64::MIN, i64::MAX)]);
        let _ = svc.delete_before(checkpoint_ts);
    }
}

/// The checkpoint page, parsed in memory and opened from a file, and the times recovery
/// derives from it.
pub fn checkpoint(data: &[u8]) {
    let values = CheckpointValues::parse(data);
    let _ = values.min_timestamp();
    let _ = values.min_timestamp_index();
    let Ok(dir) = scratch::fresh("checkpoint") else {
        return;
    };
    let path = dir.join("checkpoint");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(cp) = Checkpoint::open(&path) {
        assert_eq!(
            cp.values(),
            values,
            "file and bytes give different checkpoints"
        );
    }
}

/// `config/*.json` text: the lenient fastjson reader and the two offset tables, which
/// must read back what they write.
pub fn fastjson(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = fastjson::quote_numeric_keys(&text);
    let Ok(v) = fastjson::parse(&text) else {
        return;
    };
    let _ = fastjson::to_fastjson_pretty(&fastjson::from_value(&v, &|d| d == 2));
    if let Ok(t) = OffsetTable::from_json(&v) {
        let again = t.to_json_string();
        match fastjson::parse(&again).map(|w| OffsetTable::from_json(&w)) {
            Ok(Ok(back)) => assert_eq!(back, t, "consumerOffset table changed on a re-read"),
            other => panic!("our own consumerOffset.json does not read: {other:?}\n{again}"),
        }
    }
    if let Ok(t) = DelayOffsetTable::from_json(&v) {
        let again = t.to_json_string();
        match fastjson::parse(&again).map(|w| DelayOffsetTable::from_json(&w)) {
            Ok(Ok(back)) => assert_eq!(back, t, "delayOffset table changed on a re-read"),
            other => panic!("our own delayOffset.json does not read: {other:?}\n{again}"),
        }
    }
}

/// Timer-wheel slots, timer-log units and the timer checkpoint, decoded from memory: each
/// decodes whatever the bytes hold and encodes back to the same bytes.
pub fn timer_records(data: &[u8]) {
    use rmqd_store::timer::checkpoint::{TimerCheckpointValues, LEN};
    use rmqd_store::timer::log::{TimerUnit, UNIT_SIZE};
    use rmqd_store::timer::wheel::{Slot, SLOT_SIZE};
    for p in [1, 100, 1000] {
        if let Some(s) = Slot::decode(data, 1) {
            assert_eq!(
                &s.encode(1)[..],
                &data[..SLOT_SIZE],
                "slot changed on a re-encode"
            );
        }
        let _ = Slot::decode(data, p);
    }
    if let Some(u) = TimerUnit::decode(data) {
        assert_eq!(
            &u.encode()[..],
            &data[..UNIT_SIZE],
            "unit changed on a re-encode"
        );
        let _ = (u.delayed_time(), u.is_valid(), u.rolled(), u.deletes());
    }
    let _ = TimerUnit::head(data);
    let v = TimerCheckpointValues::parse(data);
    if data.len() >= LEN {
        assert_eq!(
            &v.encode()[..],
            &data[..LEN],
            "checkpoint changed on a re-encode"
        );
    }
}

/// A small timer store from files: `[shape][wheel 2 KiB][checkpoint 56][timer log…]`.
/// The shape picks the log's file size, the precision, and whether recovery runs as after
/// a crash. Recovery, slot walks, parking and a checkpoint must keep the walk's promises
/// (valid units of the slot asked, positions going back, inside the log) and never panic.
pub fn timer_store(data: &[u8]) {
    use rmqd_store::timer::{self, EnqueueRequest, TimerFiles, TimerFilesConfig};
    const SLOTS: usize = 32;
    const WHEEL: usize = SLOTS * 2 * 32;
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let file_size = [52 * 3 + 16, 52 * 4 + 20, 1024][usize::from(shape % 3)];
    let precision = [100i64, 1000][usize::from((shape >> 2) & 1)];
    let after_crash = shape & 8 != 0;
    let mut wheel = rest[..rest.len().min(WHEEL)].to_vec();
    wheel.resize(WHEEL, 0);
    let rest = rest.get(WHEEL..).unwrap_or_default();
    let (cp, log) = rest.split_at(rest.len().min(56));
    let Ok(root) = scratch::fresh("timer_store") else {
        return;
    };
    let log_dir = timer::log_dir(&root);
    if std::fs::create_dir_all(&log_dir).is_err()
        || std::fs::create_dir_all(root.join("config")).is_err()
        || std::fs::write(timer::wheel_path(&root), &wheel).is_err()
        || (!cp.is_empty() && std::fs::write(timer::checkpoint_path(&root), cp).is_err())
    {
        return;
    }
    let mut total = 0u64;
    for (i, part) in log.chunks(file_size).enumerate() {
        let mut f = part.to_vec();
        f.resize(file_size, 0);
        let name = format!("{:020}", i * file_size);
        if std::fs::write(log_dir.join(name), &f).is_err() {
            return;
        }
        total += file_size as u64;
    }
    let cfg = TimerFilesConfig {
        root_dir: root.clone(),
        precision_ms: precision,
        log_file_size: file_size,
        roll_window_slots: 20,
        slots_total: SLOTS,
    };
    let Ok((mut files, rec)) = TimerFiles::open(&cfg, after_crash) else {
        return;
    };
    assert!(
        rec.log_end <= total,
        "log end {} past the files ({total})",
        rec.log_end
    );
    assert_eq!(files.log_end(), rec.log_end);
    // Slot times to try: those the units name, those the wheel names, and a few more.
    let mut times: Vec<i64> = log
        .chunks(52)
        .filter_map(rmqd_store::timer::log::TimerUnit::decode)
        .map(|u| u.delayed_time())
        .take(16)
        .collect();
    times.extend(
        (0..SLOTS as i64 * 2)
            .map(|k| files.wheel().raw_slot(k * precision).time_ms)
            .take(16),
    );
    times.extend([0, -1, i64::MIN, i64::MAX, rec.checkpoint.last_read_time_ms]);
    let check = |files: &TimerFiles, t: i64| {
        let w = files.walk(t);
        let slot = t.wrapping_div(precision).wrapping_mul(precision);
        let mut prev = u64::MAX;
        for (pos, u) in w.units.iter().rev() {
            assert!(u.is_valid(), "walk gave a damaged unit at {pos}");
            assert!(
                *pos + 52 <= files.log_end(),
                "walk gave {pos} past the log end"
            );
            assert!(*pos < prev, "walk did not go back: {pos} after {prev}");
            assert_eq!(
                u.delayed_time()
                    .wrapping_div(precision)
                    .wrapping_mul(precision),
                slot,
                "walk for {t} gave a unit of another slot"
            );
            prev = *pos;
        }
    };
    for &t in &times {
        check(&files, t);
    }
    let write_time = rec.checkpoint.last_read_time_ms.clamp(0, i64::MAX / 4);
    for (k, &t) in times.iter().take(3).enumerate() {
        let req = EnqueueRequest {
            delayed_time: t.clamp(write_time, write_time + 100 * precision),
            offset_py: k as i64,
            size_py: 1,
            real_topic_hash: 0,
            delete: k == 2,
        };
        if let Ok(e) = files.enqueue(&req, write_time) {
            let w = files.walk(e.slot_time);
            assert_eq!(
                w.units.last().map(|(p, _)| *p),
                Some(e.pos),
                "new unit not the slot's newest"
            );
            check(&files, e.slot_time);
        }
    }
    let _ = files.checkpoint_now(write_time, 1, 0);
    let _ = files.delete_expired(i64::MAX);
}

/// What a slave makes of a master's replication stream: how much of it is whole records
/// it may write. The first 4 bytes choose the stream's CommitLog offset and file size.
pub fn replica_records(data: &[u8]) {
    let Some((head, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let at = i64::from(u16::from_be_bytes([head[0], head[1]]));
    let file_size = usize::from(u16::from_be_bytes([head[2], head[3]])).max(1);
    if let Ok(n) = rmqd_store::commitlog::whole_records(at, rest, file_size) {
        assert!(n <= rest.len(), "whole records past the input");
        // Counting again from a record boundary inside the whole part agrees with it.
        if let Ok(m) = rmqd_store::commitlog::whole_records(at, &rest[..n], file_size) {
            assert_eq!(m, n);
        }
    }
}
