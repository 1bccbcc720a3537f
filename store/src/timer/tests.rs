//! Real files in a temporary directory: parking, walking, recovery after a crash, a torn
//! tail, a damaged link.

use super::*;

const P: i64 = 1000;
const T0: i64 = 1_700_000_000_000;

fn cfg(root: &Path, log_file_size: usize) -> TimerFilesConfig {
    TimerFilesConfig {
        root_dir: root.to_path_buf(),
        precision_ms: P,
        log_file_size,
        roll_window_slots: roll_window_slots(3600 * 24 * 2),
        slots_total: SLOTS_TOTAL,
    }
}

fn req(delayed: i64, offset_py: i64) -> EnqueueRequest {
    EnqueueRequest {
        delayed_time: delayed,
        offset_py,
        size_py: 100,
        real_topic_hash: 7,
        delete: false,
    }
}

fn offsets(w: &SlotWalk) -> Vec<i64> {
    w.units.iter().map(|(_, u)| u.offset_py).collect()
}

#[test]
fn parked_messages_come_back_per_slot_oldest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut f, r) = TimerFiles::open(&cfg(dir.path(), 4096), false).expect("open");
    assert_eq!((r.log_end, r.revised, r.checkpoint_existed), (0, 0, false));
    for (i, d) in [3000, 5000, 3000, 3999, 5000].into_iter().enumerate() {
        let e = f
            .enqueue(&req(T0 + d, i as i64 * 100), T0)
            .expect("enqueue");
        assert!(!e.rolled);
        assert_eq!(e.slot_time, (T0 + d) / P * P);
    }
    assert_eq!(offsets(&f.walk(T0 + 3000)), vec![0, 200, 300]);
    assert_eq!(offsets(&f.walk(T0 + 5500)), vec![100, 400]);
    assert!(f.walk(T0 + 4000).units.is_empty());
    let s = f.wheel().slot(T0 + 3000).expect("slot");
    assert_eq!((s.first_pos, s.last_pos, s.num), (0, 52 * 3, 3));
    let w = f.walk(T0 + 3000);
    assert!(w.broken.is_none());
    assert_eq!(w.units[0].1.prev_pos, -1);
    assert_eq!(w.units[1].1.prev_pos, 0);
}

#[test]
fn long_delays_roll_to_a_nearer_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut f, _) = TimerFiles::open(&cfg(dir.path(), 4096), false).expect("open");
    let window = 3600 * 24 * 2 * P;
    // Just past the window: the rest (< window / 3) is short, so half the window.
    let e = f.enqueue(&req(T0 + window + 5000, 1), T0).expect("enqueue");
    assert!(e.rolled);
    assert_eq!(e.slot_time, T0 + window / 2);
    // Far past it: the whole window.
    let e = f.enqueue(&req(T0 + 2 * window, 2), T0).expect("enqueue");
    assert_eq!(e.slot_time, T0 + window);
    let w = f.walk(T0 + window);
    assert_eq!(w.units.len(), 1);
    assert!(w.units[0].1.rolled());
    assert_eq!(w.units[0].1.magic, MAGIC_DEFAULT | MAGIC_ROLL);
    // Below the window: where asked.
    let e = f.enqueue(&req(T0 + window - P, 3), T0).expect("enqueue");
    assert!(!e.rolled);
    // A delete marker counts down its slot.
    let mut d = req(T0 + 3000, 4);
    d.delete = true;
    f.enqueue(&d, T0).expect("enqueue");
    let s = f.wheel().slot(T0 + 3000).expect("slot");
    assert_eq!(s.num, -1);
    assert!(f.walk(T0 + 3000).units[0].1.deletes());
}

#[test]
fn a_crash_relinks_the_wheel_from_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small files: the units span several.
    let size = 52 * 4 + 16;
    {
        let (mut f, _) = TimerFiles::open(&cfg(dir.path(), size), false).expect("open");
        for i in 0..10 {
            f.enqueue(&req(T0 + 2000 + (i % 3) * P, i), T0)
                .expect("enqueue");
        }
        f.checkpoint_now(T0, 4, T0).expect("checkpoint");
        for i in 10..14 {
            f.enqueue(&req(T0 + 2000 + (i % 3) * P, i), T0)
                .expect("enqueue");
        }
        // Gone with the process: the wheel's changes since the checkpoint. (A kill keeps
        // them in the page cache; a power cut may not.)
    }
    let wheel = wheel_path(dir.path());
    let mut bytes = std::fs::read(&wheel).expect("wheel");
    bytes.iter_mut().for_each(|b| *b = 0);
    std::fs::write(&wheel, &bytes).expect("wheel wiped");
    let (f, r) = TimerFiles::open(&cfg(dir.path(), size), true).expect("reopen");
    assert_eq!(r.log_end, 3 * size as u64 + 2 * 52);
    assert_eq!(r.checkpoint.last_timer_queue_offset, 4);
    assert_eq!(r.last_unit.map(|u| u.offset_py), Some(13));
    assert_eq!(r.cut, 0);
    // Re-linked from the start of the file before the flush position: the units the
    // wiped wheel knew are back (all of them here, the log is short).
    let mut all: Vec<i64> = (0..3)
        .flat_map(|k| offsets(&f.walk(T0 + 2000 + k * P)))
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..14).collect::<Vec<_>>());
    assert_eq!(offsets(&f.walk(T0 + 2000)), vec![0, 3, 6, 9, 12]);
}

#[test]
fn a_clean_reopen_looks_only_past_the_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut f, _) = TimerFiles::open(&cfg(dir.path(), 4096), false).expect("open");
        for i in 0..5 {
            f.enqueue(&req(T0 + 3000, i), T0).expect("enqueue");
        }
        f.checkpoint_now(T0 + 1000, 5, T0).expect("checkpoint");
    }
    let (f, r) = TimerFiles::open(&cfg(dir.path(), 4096), false).expect("reopen");
    assert_eq!((r.scanned_from, r.log_end, r.revised), (260, 260, 0));
    assert_eq!(r.last_unit.map(|u| u.offset_py), Some(4));
    assert_eq!(r.checkpoint.last_read_time_ms, T0 + 1000);
    assert_eq!(r.checkpoint.counter, 1);
    assert_eq!(offsets(&f.walk(T0 + 3000)), vec![0, 1, 2, 3, 4]);
    let raw = std::fs::read(checkpoint_path(dir.path())).expect("timercheck");
    assert_eq!(raw.len(), 4096);
    assert_eq!(&raw[8..16], &260i64.to_be_bytes(), "flush position");
}

#[test]
fn a_torn_tail_is_cut_and_a_slot_left_pointing_past_it_walks_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log0 = log_dir(dir.path()).join(format!("{:020}", 0));
    {
        let (mut f, _) = TimerFiles::open(&cfg(dir.path(), 4096), false).expect("open");
        for i in 0..5 {
            f.enqueue(&req(T0 + 3000, i), T0).expect("enqueue");
        }
        f.checkpoint_now(T0, 3, T0).expect("checkpoint");
        // Units 5 and 6 are the only ones of their slots.
        f.enqueue(&req(T0 + 7000, 5), T0).expect("enqueue");
        f.enqueue(&req(T0 + 8000, 6), T0).expect("enqueue");
    }
    // Unit 4 damaged (a magic with high bits), unit 5 fine but after it, unit 6 torn.
    let mut bytes = std::fs::read(&log0).expect("log");
    bytes[4 * 52 + 12..4 * 52 + 16].copy_from_slice(&0x7f00_0001i32.to_be_bytes());
    bytes[6 * 52 + 26..7 * 52].iter_mut().for_each(|b| *b = 0);
    std::fs::write(&log0, &bytes).expect("damage");
    let (mut f, r) = TimerFiles::open(&cfg(dir.path(), 4096), true).expect("reopen");
    assert_eq!(r.log_end, 4 * 52, "cut at the first damaged unit");
    assert!(r.cut > 0);
    assert_eq!(r.last_unit.map(|u| u.offset_py), Some(3));
    // Slot 3000 re-linked to its last good unit.
    let w = f.walk(T0 + 3000);
    assert_eq!((offsets(&w), w.broken.is_none()), (vec![0, 1, 2, 3], true));
    // Slots 7000 and 8000 still name units past the end: their walks yield nothing...
    let w = f.walk(T0 + 7000);
    assert!(w.units.is_empty() && w.broken.is_some());
    // ...and units parked again after recovery do not chain into the lost ones, even
    // when a new unit lands where a lost one of the slot was.
    f.enqueue(&req(T0 + 8000, 60), T0).expect("enqueue"); // at 208; slot named 312
    f.enqueue(&req(T0 + 3000, 40), T0).expect("enqueue"); // at 260
    f.enqueue(&req(T0 + 8000, 61), T0).expect("enqueue"); // at 312, prev 208
    let w = f.walk(T0 + 8000);
    assert_eq!(offsets(&w), vec![60, 61], "{:?}", w.broken);
    assert_eq!(offsets(&f.walk(T0 + 3000)), vec![0, 1, 2, 3, 40]);
    f.flush().expect("flush");
    let raw = std::fs::read(&log0).expect("log");
    assert!(
        raw[7 * 52..8 * 52].iter().all(|b| *b == 0),
        "stale tail zeroed"
    );
}

#[test]
fn a_walk_never_strays_into_another_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut f, _) = TimerFiles::open(&cfg(dir.path(), 4096), false).expect("open");
    f.enqueue(&req(T0 + 9000, 1), T0).expect("enqueue");
    f.enqueue(&req(T0 + 3000, 2), T0).expect("enqueue");
    f.enqueue(&req(T0 + 3000, 3), T0).expect("enqueue");
    assert_eq!(offsets(&f.walk(T0 + 3000)), vec![2, 3]);
    // Slot 3000's newest unit made to point back at slot 9000's (written through the
    // file: the mapping sees it).
    {
        use std::os::unix::fs::FileExt;
        let log = std::fs::OpenOptions::new()
            .write(true)
            .open(log_dir(dir.path()).join(format!("{:020}", 0)))
            .expect("log");
        log.write_all_at(&0i64.to_be_bytes(), 104 + 4)
            .expect("link");
    }
    let w = f.walk(T0 + 3000);
    assert_eq!(offsets(&w), vec![3]);
    assert!(w.broken.expect("broken").contains("belongs to"));
    // A link that does not go backwards ends the walk (no loop).
    f.wheel().put_slot(T0 + 9000, 0, 0, 1, 0);
    assert_eq!(offsets(&f.walk(T0 + 9000)), vec![1]);
    f.wheel().put_slot(T0 + 9000, 0, 4096, 1, 0);
    let w = f.walk(T0 + 9000);
    assert!(w.units.is_empty() && w.broken.is_some());
}

#[test]
fn precision_and_window_follow_javas_rules() {
    assert_eq!(snap_precision(1000), 1000);
    assert_eq!(snap_precision(5000), 1000);
    assert_eq!(snap_precision(999), 500);
    assert_eq!(snap_precision(250), 200);
    assert_eq!(snap_precision(10), 100);
    assert_eq!(roll_window_slots(172_800), 172_800);
    assert_eq!(roll_window_slots(1), 604_740);
    assert_eq!(roll_window_slots(10_000_000), 604_740);
}
