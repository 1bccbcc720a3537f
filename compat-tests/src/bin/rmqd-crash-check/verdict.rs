use std::collections::HashMap;

use crate::produce::Ack;
use crate::requests::Seen;

#[derive(Debug, Default)]
pub struct Figures {
    pub lost: u64,
    pub duplicates: u64,
    pub order_violations: u64,
    /// Acked messages not at the queue offset / msgId the ack named.
    pub ack_mismatches: u64,
    /// Offsets a live consumer read that later held something else or nothing.
    pub rewritten: u64,
    /// Records whose body, topic, queue or KEYS do not agree.
    pub corrupt: u64,
    /// Stored messages that were never acknowledged (sends cut by a kill).
    pub unacked_stored: u64,
}

impl Figures {
    pub fn failed(&self) -> bool {
        self.lost + self.order_violations + self.ack_mismatches + self.rewritten + self.corrupt > 0
    }
}

fn note(count: &mut u64, what: std::fmt::Arguments<'_>) {
    if *count < 10 {
        eprintln!("rmqd-crash-check: {what}");
    }
    *count += 1;
}

pub fn judge(acks: &[Ack], fin: &[Seen], live: &[Seen]) -> Figures {
    let mut f = Figures::default();
    let mut at: HashMap<(i32, i64), &Seen> = HashMap::new();
    let mut copies: HashMap<(u32, u64), u64> = HashMap::new();
    for s in fin {
        at.insert((s.queue, s.offset), s);
        if !s.consistent {
            note(
                &mut f.corrupt,
                format_args!("corrupt record at {}/{}: {:?}", s.queue, s.offset, s.id),
            );
        }
        if let Some(id) = s.id {
            *copies.entry(id).or_default() += 1;
        }
    }
    f.duplicates = copies.values().map(|n| n.saturating_sub(1)).sum();
    let mut acked: HashMap<(u32, u64), &Ack> = HashMap::new();
    for a in acks {
        acked.insert((a.producer, a.seq), a);
        if !copies.contains_key(&(a.producer, a.seq)) {
            note(
                &mut f.lost,
                format_args!(
                    "lost: producer {} seq {} acked at {}/{} ({})",
                    a.producer, a.seq, a.queue, a.offset, a.msg_id
                ),
            );
            continue;
        }
        let here = at.get(&(a.queue, a.offset));
        let same = here.is_some_and(|s| s.id == Some((a.producer, a.seq)) && s.msg_id == a.msg_id);
        if !same {
            note(
                &mut f.ack_mismatches,
                format_args!(
                    "producer {} seq {} acked at {}/{} ({}) but that offset holds {:?}",
                    a.producer,
                    a.seq,
                    a.queue,
                    a.offset,
                    a.msg_id,
                    here.map(|s| (s.id, &s.msg_id))
                ),
            );
        }
    }
    f.unacked_stored = copies.keys().filter(|id| !acked.contains_key(id)).count() as u64;
    f.order_violations = order_violations(fin, acks);
    for s in live {
        let now = at.get(&(s.queue, s.offset));
        if !matches!(now, Some(n) if n.id == s.id && n.msg_id == s.msg_id) {
            note(
                &mut f.rewritten,
                format_args!(
                    "{}/{} read as {:?} during the run, now {:?}",
                    s.queue,
                    s.offset,
                    s.id,
                    now.map(|n| n.id)
                ),
            );
        }
    }
    f
}

/// Within a queue a producer's messages must come in sequence: it sends the next only
/// after the previous was acked, so a smaller sequence after a larger one (in read
/// order, or in the offsets the acks named) is an order violation.
fn order_violations(fin: &[Seen], acks: &[Ack]) -> u64 {
    let mut n = 0;
    let mut read: Vec<&Seen> = fin.iter().collect();
    read.sort_by_key(|s| (s.queue, s.offset));
    let mut highest: HashMap<(i32, u32), u64> = HashMap::new();
    for s in read {
        if let Some((p, seq)) = s.id {
            let h = highest.entry((s.queue, p)).or_insert(seq);
            if seq < *h {
                note(
                    &mut n,
                    format_args!(
                        "order: producer {p} seq {seq} at {}/{} after seq {}",
                        s.queue, s.offset, *h
                    ),
                );
            }
            *h = (*h).max(seq);
        }
    }
    let mut by_seq: Vec<&Ack> = acks.iter().collect();
    by_seq.sort_by_key(|a| (a.queue, a.producer, a.seq));
    for w in by_seq.windows(2) {
        if let [a, b] = w {
            if a.queue == b.queue && a.producer == b.producer && b.offset <= a.offset {
                note(
                    &mut n,
                    format_args!(
                        "order: producer {} seq {} acked at {}/{}, seq {} at {}",
                        a.producer, a.seq, a.queue, a.offset, b.seq, b.offset
                    ),
                );
            }
        }
    }
    n
}
