/// The KEYS property of message `seq` of producer `p`: what QUERY_MESSAGE looks up.
pub fn key(p: u32, seq: u64) -> String {
    format!("crash-{p}-{seq}")
}

pub fn uniq_key(p: u32, seq: u64) -> String {
    format!("C0DE{p:08X}{seq:020X}")
}

/// `p:seq:` padded to `size` bytes.
pub fn body(p: u32, seq: u64, size: usize) -> Vec<u8> {
    let mut b = format!("{p}:{seq}:").into_bytes();
    if b.len() < size {
        b.resize(size, b'x');
    }
    b
}

pub fn parse_body(body: &[u8]) -> Option<(u32, u64)> {
    let text = std::str::from_utf8(body).ok()?;
    let mut parts = text.splitn(3, ':');
    let p = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    Some((p, seq))
}

pub fn queue_of(p: u32, seq: u64, queues: i32) -> i32 {
    ((u64::from(p) + seq) % queues.max(1) as u64) as i32
}
