//! Crash checker: producers and consumers run against a real `rmqd standalone` while it is
//! killed with SIGKILL at random moments and restarted on the same store. At the end every
//! acknowledged send must be readable from its queue at the offset it was acknowledged
//! with, each producer's messages must keep their order within a queue, QUERY_MESSAGE must
//! find every acknowledged key through the IndexFile, and `rmqd store verify` must pass
//! after a clean stop.
//!
//! rmqd-crash-check [--flush ASYNC_FLUSH|SYNC_FLUSH] [--kills 20] [--seed 1] [--dir DIR]
//!     [--producers 4] [--queues 4] [--size 256] [--rate 400] [--min-gap-ms 1000]
//!     [--max-gap-ms 8000] [--tail-ms 1000] [--commitlog-file-size 262144]
//!     [--cq-file-size 60000] [--max-hash-slot-num 1000] [--max-index-num 8000]
//!     [--rmqd PATH] [--keep]
//!
//! The defaults are chosen so that kills land while an index file has been filling for
//! longer than crash recovery looks back (the checkpoint time less 3 s, rounded down to a
//! CommitLog file): --rate paces the sends (0: full speed) so an index file
//! (--max-index-num / 2 messages) takes about 10 s to fill, and small CommitLog files keep
//! recovery's look-back close to that margin.
//!
//! The store lives in DIR/store (DIR defaults to a fresh temporary directory, removed on
//! success unless --keep). Prints one summary line of `key=value` figures on stdout;
//! progress and problem details go to stderr. Exits 1 on any loss, order violation, index
//! miss or other damage, 2 when the run itself could not be carried out.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "CrashCheck";
const GROUP: &str = "crash-check";

/// Seeded randomness for the kill moments, so a run that finds something can be repeated.
mod rng;

mod args;

/// What a message carries, so that a record read back names its producer and sequence.
mod ident;

/// One connection to the broker that reconnects on the next request after any failure.
mod link;

/// The rmqd process: its config, start, SIGKILL, clean stop and the offline verify.
mod process;

/// Broker requests the checker makes, each answering a plain result.
mod requests;

/// Producers: synchronous sends, each message retried until acknowledged.
mod produce;

/// Consumers: one follows each queue during the run; the final read takes every queue
/// from offset 0 to its max.
mod consume;

/// The figures, from what was acknowledged and what was read.
mod verdict;

struct Outcome {
    summary: String,
    failed: bool,
}

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rmqd-crash-check: {e}");
            return ExitCode::from(2);
        }
    };
    let (dir, temp) = match &args.dir {
        Some(d) => (d.clone(), None),
        None => match tempfile::Builder::new().prefix("rmqd-crash-").tempdir() {
            Ok(t) => (t.path().to_path_buf(), Some(t)),
            Err(e) => {
                eprintln!("rmqd-crash-check: tempdir: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rmqd-crash-check: tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(run(&args, &dir));
    let code = match result {
        Ok(o) => {
            println!("{}", o.summary);
            if o.failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("rmqd-crash-check: {e}");
            ExitCode::from(2)
        }
    };
    if let Some(t) = temp {
        if args.keep || code != ExitCode::SUCCESS {
            eprintln!(
                "rmqd-crash-check: store and log kept in {}",
                t.keep().display()
            );
        }
    }
    code
}

fn fresh_dir(dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let store = dir.join("store");
    let used = std::fs::read_dir(&store).is_ok_and(|mut d| d.next().is_some());
    if used {
        return Err(format!(
            "{} is not empty: the checker needs a fresh store",
            store.display()
        ));
    }
    Ok(())
}

async fn run(args: &args::Args, dir: &std::path::Path) -> Result<Outcome, String> {
    fresh_dir(dir)?;
    let mut broker = process::Broker::new(args, dir)?;
    broker.spawn()?;
    broker.wait_answering(Duration::from_secs(30)).await?;
    let addr = broker.addr();
    requests::create_topic(&mut link::Link::new(&addr), args.queues).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..args.producers)
        .map(|id| {
            tokio::spawn(
                produce::Producer {
                    id,
                    addr: addr.clone(),
                    queues: args.queues,
                    size: args.size,
                    period: if args.rate > 0.0 {
                        Duration::from_secs_f64(f64::from(args.producers) / args.rate)
                    } else {
                        Duration::ZERO
                    },
                    stop: stop.clone(),
                    acked: acked.clone(),
                }
                .run(),
            )
        })
        .collect();
    let followers: Vec<_> = (0..args.queues)
        .map(|q| tokio::spawn(consume::follow(addr.clone(), q, stop.clone())))
        .collect();

    let kills = kill_loop(args, &mut broker, &acked).await;
    tokio::time::sleep(Duration::from_millis(args.tail_ms)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acks = Vec::new();
    let (mut attempts, mut errors, mut refused, mut wrong_queue) = (0, 0, 0, 0);
    for p in producers {
        let r = p.await.map_err(|e| format!("producer task: {e}"))?;
        acks.extend(r.acks);
        attempts += r.attempts;
        errors += r.errors;
        refused += r.refused;
        wrong_queue += r.wrong_queue;
    }
    let mut live = Vec::new();
    let mut moved = 0;
    for f in followers {
        let l = f.await.map_err(|e| format!("consumer task: {e}"))?;
        live.extend(l.seen);
        moved += l.moved;
    }
    let kills = kills?;

    let maxes = wait_dispatched(&addr, args.queues, &acks).await?;
    let mut fin = Vec::new();
    let mut unread = 0;
    for (q, max) in maxes.iter().enumerate() {
        let (seen, missing) = consume::read_all(&addr, q as i32, *max).await;
        fin.extend(seen);
        unread += missing;
    }
    let figures = verdict::judge(&acks, &fin, &live);
    let index_misses = index_misses(&addr, &acks).await?;

    let stopped = broker.stop_clean().await;
    if let Err(e) = &stopped {
        eprintln!("rmqd-crash-check: clean stop: {e}");
    }
    let (verified, report) = broker.verify()?;
    if !verified {
        eprintln!(
            "rmqd-crash-check: rmqd store verify failed:\n{}",
            head_and_tail(&report)
        );
    }

    let rec_ms: Vec<f64> = kills
        .recoveries
        .iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    let rec_max = rec_ms.iter().cloned().fold(0.0, f64::max);
    let rec_avg = if rec_ms.is_empty() {
        0.0
    } else {
        rec_ms.iter().sum::<f64>() / rec_ms.len() as f64
    };
    let nothing_acked = acks.is_empty();
    if nothing_acked {
        eprintln!("rmqd-crash-check: no send was acknowledged: nothing was checked");
    }
    let failed = figures.failed()
        || index_misses > 0
        || unread > 0
        || wrong_queue > 0
        || stopped.is_err()
        || !verified
        || nothing_acked;
    let summary = format!(
        "crash-check flush={} seed={} kills={} kills_under_load={} producers={} queues={} \
         acked={} attempts={} send_errors={} send_refused={} lost={} duplicates={} \
         unacked_stored={} order_violations={} ack_mismatches={} rewritten={} corrupt={} \
         unread={} wrong_queue={} offset_moved={} live_read={} index_checked={} \
         index_misses={} commitlog_files={} index_files={} recovery_max_ms={:.0} \
         recovery_avg_ms={:.0} clean_stop={} verify={} result={}",
        args.flush,
        args.seed,
        kills.recoveries.len(),
        kills.under_load,
        args.producers,
        args.queues,
        acks.len(),
        attempts,
        errors,
        refused,
        figures.lost,
        figures.duplicates,
        figures.unacked_stored,
        figures.order_violations,
        figures.ack_mismatches,
        figures.rewritten,
        figures.corrupt,
        unread,
        wrong_queue,
        moved,
        live.len(),
        acks.len(),
        index_misses,
        broker.files_in("commitlog"),
        broker.files_in("index"),
        rec_max,
        rec_avg,
        if stopped.is_ok() { "OK" } else { "FAIL" },
        if verified { "OK" } else { "FAIL" },
        if failed { "FAIL" } else { "PASS" },
    );
    Ok(Outcome { summary, failed })
}

/// A long report cut to its first lines and its last.
fn head_and_tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= 25 {
        return text.to_string();
    }
    let mut out = lines[..20].join("\n");
    out.push_str(&format!("\n… {} lines …\n", lines.len() - 21));
    out.push_str(lines[lines.len() - 1]);
    out
}

struct Kills {
    /// Kill → broker answering again, per kill.
    recoveries: Vec<Duration>,
    /// Kills that came while sends were being acknowledged.
    under_load: u32,
}

async fn kill_loop(
    args: &args::Args,
    broker: &mut process::Broker,
    acked: &AtomicU64,
) -> Result<Kills, String> {
    let mut rng = rng::SplitMix::new(args.seed);
    let mut kills = Kills {
        recoveries: Vec::new(),
        under_load: 0,
    };
    for k in 0..args.kills {
        let before = acked.load(Ordering::Relaxed);
        let gap = rng.range(args.min_gap_ms, args.max_gap_ms);
        tokio::time::sleep(Duration::from_millis(gap)).await;
        if acked.load(Ordering::Relaxed) > before {
            kills.under_load += 1;
        }
        let killed = broker.kill9().await?;
        broker.spawn()?;
        broker.wait_answering(Duration::from_secs(60)).await?;
        let took = killed.elapsed();
        kills.recoveries.push(took);
        eprintln!(
            "rmqd-crash-check: kill {}/{} after {gap} ms: back in {} ms, {} acked so far",
            k + 1,
            args.kills,
            took.as_millis(),
            acked.load(Ordering::Relaxed)
        );
    }
    Ok(kills)
}

/// Waits (bounded) until every queue holds at least up to its highest acked offset:
/// dispatch to the consume queues trails the appends. Returns each queue's max offset.
async fn wait_dispatched(
    addr: &str,
    queues: i32,
    acks: &[produce::Ack],
) -> Result<Vec<i64>, String> {
    let mut want = vec![0i64; queues as usize];
    for a in acks {
        if let Some(w) = want.get_mut(a.queue as usize) {
            *w = (*w).max(a.offset + 1);
        }
    }
    let mut link = link::Link::new(addr);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut maxes = Vec::with_capacity(want.len());
        for q in 0..queues {
            maxes.push(requests::max_offset(&mut link, q).await?);
        }
        let behind = maxes.iter().zip(&want).any(|(m, w)| m < w);
        if !behind || Instant::now() > deadline {
            link.close();
            return Ok(maxes);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asks QUERY_MESSAGE for every key with a few connections; keys not found are asked
/// again after a pause (the index trails the appends) before they count as misses.
async fn index_misses(addr: &str, acks: &[produce::Ack]) -> Result<u64, String> {
    const WORKERS: usize = 4;
    let mut missing: Vec<(u32, u64)> = acks.iter().map(|a| (a.producer, a.seq)).collect();
    for round in 0..2 {
        if round > 0 {
            if missing.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let chunk = missing.len().div_ceil(WORKERS).max(1);
        let mut tasks = Vec::new();
        for part in missing.chunks(chunk) {
            let part = part.to_vec();
            let addr = addr.to_string();
            tasks.push(tokio::spawn(async move {
                let mut link = link::Link::new(&addr);
                let mut miss = Vec::new();
                for (p, seq) in part {
                    if !requests::query_key(&mut link, &ident::key(p, seq)).await? {
                        miss.push((p, seq));
                    }
                }
                link.close();
                Ok::<_, String>(miss)
            }));
        }
        let mut next = Vec::new();
        for t in tasks {
            next.extend(t.await.map_err(|e| format!("query task: {e}"))??);
        }
        missing = next;
    }
    if !missing.is_empty() {
        eprintln!(
            "rmqd-crash-check: index misses (QUERY_MESSAGE finds no crash-P-SEQ): {}",
            seq_ranges(&mut missing)
        );
    }
    Ok(missing.len() as u64)
}

/// `p0 0..=612 2001..=2400; p1 …`: runs of consecutive sequences per producer.
fn seq_ranges(ids: &mut [(u32, u64)]) -> String {
    ids.sort_unstable();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(&(p, first)) = ids.get(i) {
        let mut last = first;
        i += 1;
        while ids.get(i) == Some(&(p, last + 1)) {
            last += 1;
            i += 1;
        }
        let run = if first == last {
            format!("{first}")
        } else {
            format!("{first}..={last}")
        };
        match out.last_mut() {
            Some(prev) if prev.starts_with(&format!("p{p} ")) => {
                prev.push(' ');
                prev.push_str(&run);
            }
            _ => out.push(format!("p{p} {run}")),
        }
    }
    out.join("; ")
}
