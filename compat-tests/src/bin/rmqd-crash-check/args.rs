use std::path::PathBuf;

pub struct Args {
    pub rmqd: PathBuf,
    pub dir: Option<PathBuf>,
    pub keep: bool,
    pub flush: String,
    pub kills: u32,
    pub seed: u64,
    pub producers: u32,
    pub queues: i32,
    pub size: usize,
    /// Sends per second over all producers; 0: as fast as acks come.
    pub rate: f64,
    pub min_gap_ms: u64,
    pub max_gap_ms: u64,
    pub tail_ms: u64,
    pub commitlog_file_size: u64,
    pub cq_file_size: u64,
    pub max_hash_slot_num: u32,
    pub max_index_num: u32,
}

fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    v.parse().map_err(|e| format!("{flag} {v}: {e}"))
}

pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        rmqd: rmqd_compat_tests::rmqd_bin(),
        dir: None,
        keep: false,
        flush: "ASYNC_FLUSH".into(),
        kills: 20,
        seed: 1,
        producers: 4,
        queues: 4,
        size: 256,
        rate: 400.0,
        min_gap_ms: 1000,
        max_gap_ms: 8000,
        tail_ms: 1000,
        commitlog_file_size: 262_144,
        cq_file_size: 60_000,
        max_hash_slot_num: 1000,
        max_index_num: 8000,
    };
    while let Some(flag) = it.next() {
        if flag == "--keep" {
            a.keep = true;
            continue;
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--rmqd" => a.rmqd = PathBuf::from(v),
            "--dir" => a.dir = Some(PathBuf::from(v)),
            "--flush" => a.flush = v,
            "--kills" => a.kills = num(&flag, v)?,
            "--seed" => a.seed = num(&flag, v)?,
            "--producers" => a.producers = num(&flag, v)?,
            "--queues" => a.queues = num(&flag, v)?,
            "--size" => a.size = num(&flag, v)?,
            "--rate" => a.rate = num(&flag, v)?,
            "--min-gap-ms" => a.min_gap_ms = num(&flag, v)?,
            "--max-gap-ms" => a.max_gap_ms = num(&flag, v)?,
            "--tail-ms" => a.tail_ms = num(&flag, v)?,
            "--commitlog-file-size" => a.commitlog_file_size = num(&flag, v)?,
            "--cq-file-size" => a.cq_file_size = num(&flag, v)?,
            "--max-hash-slot-num" => a.max_hash_slot_num = num(&flag, v)?,
            "--max-index-num" => a.max_index_num = num(&flag, v)?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if a.flush != "ASYNC_FLUSH" && a.flush != "SYNC_FLUSH" {
        return Err(format!("--flush {}: ASYNC_FLUSH or SYNC_FLUSH", a.flush));
    }
    if a.producers == 0 || !(1..=64).contains(&a.queues) {
        return Err("--producers must be > 0 and --queues within 1..=64".into());
    }
    if !(a.rate >= 0.0 && a.rate.is_finite()) {
        return Err("--rate must be a number >= 0".into());
    }
    if a.cq_file_size == 0 || !a.cq_file_size.is_multiple_of(20) {
        return Err("--cq-file-size must be a positive multiple of 20 (one unit)".into());
    }
    Ok(a)
}
