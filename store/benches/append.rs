//! Append throughput of 1 KiB records through the store's writer, ASYNC_FLUSH and
//! SYNC_FLUSH, next to a plain sequential write (+ fsync) of the same bytes to the same
//! disk: the ratio shows how close the store gets to the disk's limit.
//!
//! `cargo bench -p rmqd-store --bench append` (RMQD_BENCH_MB sets the volume, default 256).

use std::io::Write;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use rmqd_store::config::{FlushDiskType, StoreConfig};
use rmqd_store::{MessageStore, MessageToStore, PutStatus};

const BODY: usize = 1024;

fn msg(i: usize) -> MessageToStore {
    MessageToStore {
        topic: "BenchTopic".into(),
        queue_id: (i % 8) as i32,
        flag: 0,
        body: Bytes::from(vec![b'x'; BODY]),
        properties: format!("UNIQ_KEY\u{1}{i:032X}\u{2}TAGS\u{1}TagA"),
        sys_flag: 0,
        born_timestamp: 0,
        born_host: SocketAddr::from(([127, 0, 0, 1], 5000)),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn bench_store(flush: FlushDiskType, n: usize, in_flight: usize) -> (f64, usize) {
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let mut cfg = StoreConfig::new(
        dir.path().to_path_buf(),
        SocketAddr::from(([127, 0, 0, 1], 10911)),
    );
    cfg.flush_disk_type = flush;
    cfg.mapped_file_size_commitlog = 256 * 1024 * 1024;
    let (store, _) = MessageStore::open(cfg).expect("open");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let start = Instant::now();
    let bytes = rt.block_on(async {
        let mut pending = std::collections::VecDeque::new();
        let mut bytes = 0usize;
        for i in 0..n {
            pending.push_back(tokio::spawn(store.put(msg(i))));
            if pending.len() >= in_flight {
                if let Some(p) = pending.pop_front() {
                    let r = p.await.expect("join");
                    assert_eq!(r.status, PutStatus::PutOk);
                    bytes += r.wrote_bytes;
                }
            }
        }
        for p in pending {
            let r = p.await.expect("join");
            assert_eq!(r.status, PutStatus::PutOk);
            bytes += r.wrote_bytes;
        }
        bytes
    });
    let secs = start.elapsed().as_secs_f64();
    store.shutdown();
    (bytes as f64 / secs / 1_048_576.0, bytes)
}

fn bench_plain(bytes: usize, sync: bool) -> f64 {
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let mut f = std::fs::File::create(dir.path().join("plain")).expect("create");
    let chunk = vec![b'x'; 64 * 1024];
    let start = Instant::now();
    let mut done = 0;
    while done < bytes {
        f.write_all(&chunk).expect("write");
        done += chunk.len();
    }
    if sync {
        f.sync_all().expect("sync");
    }
    done as f64 / start.elapsed().as_secs_f64() / 1_048_576.0
}

fn bench_dir() -> std::path::PathBuf {
    std::env::var_os("RMQD_BENCH_DIR")
        .map(Into::into)
        .unwrap_or_else(std::env::temp_dir)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mb: usize = std::env::var("RMQD_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let n = mb * 1024 * 1024 / (BODY + 150);
    let (async_mbs, bytes) = bench_store(FlushDiskType::Async, n, 256);
    let plain = bench_plain(bytes, true);
    let (sync_mbs, _) = bench_store(FlushDiskType::Sync, n / 4, 256);
    let plain_small = bench_plain(bytes / 4, true);
    println!(
        "append 1 KiB records, {n} messages ({:.0} MiB), 256 in flight",
        bytes as f64 / 1_048_576.0
    );
    println!("  store ASYNC_FLUSH : {async_mbs:8.1} MiB/s   plain write+fsync: {plain:8.1} MiB/s   ratio {:.2}", async_mbs / plain);
    println!("  store SYNC_FLUSH  : {sync_mbs:8.1} MiB/s   plain write+fsync: {plain_small:8.1} MiB/s   ratio {:.2}", sync_mbs / plain_small);
}
