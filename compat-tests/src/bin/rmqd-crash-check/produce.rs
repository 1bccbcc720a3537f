use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rmqd_remoting::codes::{request, response};
use rmqd_remoting::headers::send::{SendMessageRequestHeaderV2, SendMessageResponseHeader};
use rmqd_remoting::RemotingCommand;

use crate::ident;
use crate::link::Link;

/// A SEND_OK: where the broker said the message went.
#[derive(Debug, Clone)]
pub struct Ack {
    pub producer: u32,
    pub seq: u64,
    pub queue: i32,
    pub offset: i64,
    pub msg_id: String,
}

#[derive(Default)]
pub struct Report {
    pub acks: Vec<Ack>,
    pub attempts: u64,
    /// Sends that failed on the connection (the broker died under them).
    pub errors: u64,
    /// Sends answered with something other than SEND_OK.
    pub refused: u64,
    /// Acks whose queue id was not the one asked for.
    pub wrong_queue: u64,
}

pub struct Producer {
    pub id: u32,
    pub addr: String,
    pub queues: i32,
    pub size: usize,
    /// Time between this producer's first attempts at successive messages (zero:
    /// none). Paced sends keep an index file filling for seconds, the window in which
    /// a kill must not lose its keys.
    pub period: Duration,
    pub stop: Arc<AtomicBool>,
    pub acked: Arc<AtomicU64>,
}

impl Producer {
    /// Sends `0, 1, 2, …` until told to stop. A message is resent (same sequence, same
    /// queue) until acknowledged, as a client retries: a send whose answer was lost
    /// in a kill may be stored twice, which the checker counts as a duplicate.
    pub async fn run(self) -> Report {
        let mut link = Link::new(&self.addr);
        let mut report = Report::default();
        let mut seq: u64 = 0;
        let mut due = Instant::now();
        let mut paced_seq = None;
        while !self.stop.load(Ordering::Relaxed) {
            if !self.period.is_zero() && paced_seq != Some(seq) {
                paced_seq = Some(seq);
                // After a long outage start afresh instead of sending a burst.
                due += self.period;
                if let Some(floor) = Instant::now().checked_sub(Duration::from_secs(1)) {
                    due = due.max(floor);
                }
                tokio::time::sleep_until(due.into()).await;
            }
            let queue = ident::queue_of(self.id, seq, self.queues);
            report.attempts += 1;
            match link
                .invoke(self.request(seq, queue), Duration::from_secs(10))
                .await
            {
                Ok(r) if r.code == response::SUCCESS => {
                    match r.decode_header::<SendMessageResponseHeader>() {
                        Ok(h) => {
                            if h.queue_id != queue {
                                report.wrong_queue += 1;
                            }
                            report.acks.push(Ack {
                                producer: self.id,
                                seq,
                                queue: h.queue_id,
                                offset: h.queue_offset,
                                msg_id: h.msg_id,
                            });
                            self.acked.fetch_add(1, Ordering::Relaxed);
                            seq += 1;
                        }
                        Err(e) => {
                            eprintln!("rmqd-crash-check: SEND_OK without header: {e}");
                            report.refused += 1;
                        }
                    }
                }
                Ok(r) => {
                    if report.refused == 0 {
                        eprintln!(
                            "rmqd-crash-check: producer {}: send answered {} {:?}",
                            self.id, r.code, r.remark
                        );
                    }
                    report.refused += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(_) => {
                    report.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        link.close();
        report
    }

    fn request(&self, seq: u64, queue: i32) -> RemotingCommand {
        let props = format!(
            "KEYS\u{1}{}\u{2}UNIQ_KEY\u{1}{}\u{2}WAIT\u{1}true\u{2}",
            ident::key(self.id, seq),
            ident::uniq_key(self.id, seq)
        );
        let header = SendMessageRequestHeaderV2 {
            a: crate::GROUP.into(),
            b: crate::TOPIC.into(),
            c: "TBW102".into(),
            d: 4,
            e: queue,
            f: 0,
            g: rmqd_compat_tests::wire::now_ms(),
            h: 0,
            i: Some(props),
            j: Some(0),
            k: false,
            l: None,
            m: false,
            n: None,
        };
        RemotingCommand::request(request::SEND_MESSAGE_V2)
            .with_header(&header)
            .with_body(Bytes::from(ident::body(self.id, seq, self.size)))
    }
}
