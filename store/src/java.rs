//! Java semantics the on-disk formats depend on.

/// Java `String.hashCode` over UTF-16 code units: the ConsumeQueue tags code and the
/// IndexFile key hash are both defined by it.
pub fn string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_java() {
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("TagA"), 2598919);
        assert_eq!(string_hash("hello"), 99162322);
        // Overflow wraps as Java's int arithmetic does.
        assert_eq!(string_hash("FixtureTopic#key-0"), -1171452347);
    }
}
