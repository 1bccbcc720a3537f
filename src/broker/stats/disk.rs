//! Disk figures as Java's `File` reports them, and Java's ways of printing them.

use std::path::Path;

/// (total, free, usable) bytes of the file system holding `path`: Java's
/// `getTotalSpace`, `getFreeSpace` (root included) and `getUsableSpace`.
pub fn space(path: &Path) -> Option<(u64, u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we pass; `c` is a valid C string.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        st
    };
    let unit = st.f_frsize as u64;
    Some((
        (st.f_blocks as u64).saturating_mul(unit),
        (st.f_bfree as u64).saturating_mul(unit),
        (st.f_bavail as u64).saturating_mul(unit),
    ))
}

/// `UtilAll.getDiskPartitionSpaceUsedPercent`: the used share, rounded up to whole
/// percent, -1 when the path is missing.
pub fn used_ratio(path: &Path) -> f64 {
    let Some((total, free, usable)) = space(path) else {
        return -1.0;
    };
    if total == 0 {
        return -1.0;
    }
    let used = total - free.min(total);
    let entire = used + usable;
    if entire == 0 {
        return -1.0;
    }
    let round = u64::from((used * 100) % entire != 0);
    ((used * 100) / entire + round) as f64 / 100.0
}

/// `MixAll.humanReadableByteCount(bytes, false)`: `512 B`, `58.3 GiB`.
pub fn human_bytes(bytes: i64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let exp = ((bytes as f64).ln() / 1024f64.ln()) as i32;
    let pre = "KMGTPE"
        .chars()
        .nth((exp - 1).max(0) as usize)
        .unwrap_or('E');
    format!("{:.1} {pre}iB", bytes as f64 / 1024f64.powi(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_readable_as_java() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(270_582_939_648), "252.0 GiB");
        assert_eq!(human_bytes(62_599_416_627), "58.3 GiB");
    }

    #[test]
    fn ratio_of_a_real_and_a_missing_path() {
        let r = used_ratio(Path::new("/"));
        assert!((0.0..=1.0).contains(&r), "{r}");
        assert_eq!(used_ratio(Path::new("/no/such/dir/anywhere")), -1.0);
    }
}
