//! The few `java.lang` behaviours the selector semantics lean on: how `Integer.valueOf`,
//! `Long.valueOf`, `Double.valueOf` and `Boolean.valueOf` read a string, how
//! `Double.compareTo` orders, `Double.toString` and `String.hashCode`. Nothing here
//! allocates except the `to_string` helpers used for error text.

use std::cmp::Ordering;

/// Zero code points of the BMP decimal-digit blocks (`Character.digit(char, 10)` accepts
/// every Unicode `Nd` character, not just ASCII; a surrogate pair never reads as a digit).
const DIGIT_ZEROS: &[u32] = &[
    0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
    0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0xFF10,
];

/// `Character.digit(c, 10)` for a UTF-16 code unit.
fn java_digit(c: char) -> Option<u32> {
    if let Some(d) = c.to_digit(10) {
        return Some(d);
    }
    let cp = c as u32;
    if cp > 0xFFFF {
        return None;
    }
    DIGIT_ZEROS
        .iter()
        .find(|&&zero| cp >= zero && cp < zero + 10)
        .map(|zero| cp - zero)
}

/// `Long.parseLong(s, 10)` limited to `[min, max]`: an optional sign, then one or more
/// decimal digits, nothing else (no blanks). `None` is Java's NumberFormatException.
fn parse_integral(s: &str, min: i64, max: i64) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulated negatively, as Java does, so that `min` itself is reachable.
    let mut acc: i64 = 0;
    for c in digits.chars() {
        let d = i64::from(java_digit(c)?);
        acc = acc.checked_mul(10)?.checked_sub(d)?;
        if acc < min {
            return None;
        }
    }
    if negative {
        Some(acc)
    } else {
        let v = acc.checked_neg()?;
        (v <= max).then_some(v)
    }
}

/// `Integer.valueOf(String)`.
pub fn parse_int(s: &str) -> Option<i32> {
    parse_integral(s, i64::from(i32::MIN), i64::from(i32::MAX)).map(|v| v as i32)
}

/// `Long.valueOf(String)`.
pub fn parse_long(s: &str) -> Option<i64> {
    parse_integral(s, i64::MIN, i64::MAX)
}

/// `Boolean.valueOf(String)`: true only for "true" in any case.
pub fn parse_boolean(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

fn digit_run(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

fn hex_run(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_hexdigit() {
        i += 1;
    }
    i
}

/// `Double.valueOf(String)` (`FloatingDecimal.readJavaFormatString`): surrounding
/// characters up to U+0020 trimmed, an optional sign, then `NaN`, `Infinity`, a hex
/// literal (`0x1.8p3`) or a decimal one (`1`, `1.`, `.5`, `1e-3`), with an optional
/// `f`/`F`/`d`/`D` suffix. `None` is Java's NumberFormatException.
pub fn parse_double(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let b = t.as_bytes();
    let (negative, start) = match b.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let rest = &t[start..];
    let value = if rest == "NaN" {
        f64::NAN
    } else if rest == "Infinity" {
        f64::INFINITY
    } else if rest.len() > 1 && (rest.starts_with("0x") || rest.starts_with("0X")) {
        parse_hex_double(&rest[2..])?
    } else {
        parse_decimal_double(rest)?
    };
    Some(if negative { -value } else { value })
}

/// The unsigned decimal form; the digits are handed to Rust's correctly rounded
/// parser once Java's grammar has accepted them.
fn parse_decimal_double(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let int_end = digit_run(b, 0);
    let mut i = int_end;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        let end = digit_run(b, i + 1);
        frac_digits = end - i - 1;
        i = end;
    }
    if int_end == 0 && frac_digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let end = digit_run(b, j);
        if end == j {
            return None;
        }
        i = end;
    }
    let number = &s[..i];
    match &b[i..] {
        [] | [b'f' | b'F' | b'd' | b'D'] => number.parse().ok(),
        _ => None,
    }
}

/// `0x` already stripped: `h+ .?`, or `h* . h+`, then a mandatory binary exponent
/// `p[+-]?d+`, then an optional type suffix. Rounded to nearest, ties to even, with
/// subnormals, like `FloatingDecimal.parseHexString`.
fn parse_hex_double(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let int_end = hex_run(b, 0);
    let mut i = int_end;
    let mut frac = (0, 0);
    if b.get(i) == Some(&b'.') {
        let end = hex_run(b, i + 1);
        frac = (i + 1, end);
        i = end;
    }
    if int_end == 0 && frac.1 == frac.0 {
        return None;
    }
    if !matches!(b.get(i), Some(b'p' | b'P')) {
        return None;
    }
    i += 1;
    let exp_negative = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let exp_end = digit_run(b, i);
    if exp_end == i {
        return None;
    }
    // Huge exponents saturate: the result is 0 or infinity either way.
    let mut exp: i64 = 0;
    for &c in &b[i..exp_end] {
        exp = (exp * 10 + i64::from(c - b'0')).min(1 << 40);
    }
    if exp_negative {
        exp = -exp;
    }
    if !matches!(&b[exp_end..], [] | [b'f' | b'F' | b'd' | b'D']) {
        return None;
    }
    // Significant bits: the first 64 kept, the rest folded into a sticky bit.
    let mut mant: u64 = 0;
    let mut sticky = false;
    let mut shift: i64 = 0; // binary exponent adjustment for digits that did not fit
    let mut seen_nonzero = false;
    let digits = b[..int_end]
        .iter()
        .map(|d| (d, false))
        .chain(b[frac.0..frac.1].iter().map(|d| (d, true)));
    for (&d, fractional) in digits {
        let v = u64::from((d as char).to_digit(16).unwrap_or(0));
        if fractional {
            shift -= 4;
        }
        if !seen_nonzero && v == 0 {
            continue;
        }
        seen_nonzero = true;
        if mant >> 60 == 0 {
            mant = (mant << 4) | v;
        } else {
            sticky |= v != 0;
            shift += 4;
        }
    }
    if mant == 0 {
        return Some(0.0);
    }
    Some(compose_double(mant, sticky, exp.saturating_add(shift)))
}

/// `mant * 2^exp` (plus a sticky fraction) rounded to the nearest double, ties to even.
fn compose_double(mant: u64, sticky: bool, exp: i64) -> f64 {
    let top = 63 - i64::from(mant.leading_zeros()); // index of the highest set bit
    let value_exp = top + exp; // the number is in [2^value_exp, 2^(value_exp+1))
    if value_exp > 1023 {
        return f64::INFINITY;
    }
    // Bits kept: 53 for normals, fewer for subnormals (the lowest is 2^-1074).
    let lowest_kept = (value_exp - 52).max(-1074);
    let drop = lowest_kept - exp; // how many low bits of `mant` go
    let (kept, round_up) = if drop <= 0 {
        (mant << (-drop).min(63), false)
    } else if drop > 64 {
        (0, false)
    } else {
        let kept = if drop == 64 { 0 } else { mant >> drop };
        let half = 1u128 << (drop - 1);
        let rest = u128::from(mant) & ((1u128 << drop) - 1);
        let more = sticky || rest & (half - 1) != 0;
        let up = rest & half != 0 && (more || kept & 1 == 1);
        (kept, up)
    };
    let kept = kept + u64::from(round_up);
    // kept * 2^lowest_kept is exact in f64 (at most 54 bits, power-of-two scale).
    let scaled = kept as f64;
    scale_by_power_of_two(scaled, lowest_kept)
}

fn scale_by_power_of_two(mut v: f64, mut e: i64) -> f64 {
    // Steps that stay exact: each multiply is by a normal power of two.
    while e > 0 {
        let step = e.min(1000);
        v *= f64::powi(2.0, step as i32);
        e -= step;
    }
    while e < 0 {
        let step = (-e).min(1000);
        v /= f64::powi(2.0, step as i32);
        e += step;
    }
    v
}

/// `Double.compareTo`: numeric order, with -0.0 below 0.0 and NaN above everything
/// (all NaNs equal).
pub fn compare_double(a: f64, b: f64) -> Ordering {
    if a < b {
        return Ordering::Less;
    }
    if a > b {
        return Ordering::Greater;
    }
    let bits = |d: f64| -> i64 {
        if d.is_nan() {
            0x7ff8_0000_0000_0000
        } else {
            d.to_bits() as i64
        }
    };
    bits(a).cmp(&bits(b))
}

/// `String.compareTo`: lexicographic over UTF-16 code units.
pub fn compare_strings(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// `String.hashCode`.
pub fn string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// `Double.toString`: plain notation for magnitudes in [1e-3, 1e7), otherwise
/// `d.dddE±n`; always at least one fractional digit, and at least two significant
/// digits (closest to the exact value) when one would do.
pub fn double_to_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let shortest = format!("{:e}", d.abs());
    let (mut digits, exp) = split_sci(&shortest);
    if digits.len() == 1 {
        let two = format!("{:.1e}", d.abs());
        let (two_digits, two_exp) = split_sci(&two);
        if two_exp == exp {
            digits = two_digits;
        }
    }
    let sign = if d < 0.0 { "-" } else { "" };
    let abs = d.abs();
    if (1e-3..1e7).contains(&abs) {
        let point = exp + 1; // digits before the decimal point
        let mut s = String::from(sign);
        if point <= 0 {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', (-point) as usize));
            s.push_str(&digits);
        } else {
            let p = point as usize;
            if digits.len() <= p {
                s.push_str(&digits);
                s.extend(std::iter::repeat_n('0', p - digits.len()));
                s.push_str(".0");
            } else {
                s.push_str(&digits[..p]);
                s.push('.');
                s.push_str(&digits[p..]);
            }
        }
        s
    } else {
        let frac = if digits.len() > 1 { &digits[1..] } else { "0" };
        format!("{sign}{}.{frac}E{exp}", &digits[..1])
    }
}

/// "1.2345e-7" → ("12345", -7); trailing zeros dropped.
fn split_sci(s: &str) -> (String, i32) {
    let (m, e) = s.split_once('e').unwrap_or((s, "0"));
    let mut digits: String = m.chars().filter(|c| c.is_ascii_digit()).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (digits, e.parse().unwrap_or(0))
}

/// JavaCC's `addEscapes`, used in its error messages.
pub fn add_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.encode_utf16() {
        match c {
            0x08 => out.push_str("\\b"),
            0x09 => out.push_str("\\t"),
            0x0A => out.push_str("\\n"),
            0x0C => out.push_str("\\f"),
            0x0D => out.push_str("\\r"),
            0x22 => out.push_str("\\\""),
            0x27 => out.push_str("\\'"),
            0x5C => out.push_str("\\\\"),
            c if !(0x20..=0x7e).contains(&c) => out.push_str(&format!("\\u{c:04x}")),
            c => out.push(char::from(c as u8)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_as_java_reads_them() {
        assert_eq!(parse_int("42"), Some(42));
        assert_eq!(parse_int("+42"), Some(42));
        assert_eq!(parse_int("-2147483648"), Some(i32::MIN));
        assert_eq!(parse_int("2147483648"), None);
        assert_eq!(parse_int(" 1"), None);
        assert_eq!(parse_int("1.0"), None);
        assert_eq!(parse_int("-"), None);
        assert_eq!(parse_int(""), None);
        assert_eq!(
            parse_int("\u{0663}\u{0661}"),
            Some(31),
            "Arabic-Indic digits"
        );
        assert_eq!(parse_int("\u{FF11}\u{FF10}"), Some(10), "full-width digits");
        assert_eq!(parse_long("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_long("9223372036854775808"), None);
        assert_eq!(parse_long("3000000000"), Some(3_000_000_000));
    }

    #[test]
    fn doubles_read_as_java_reads_them() {
        for (s, v) in [
            ("1", 1.0),
            (" 1.5 ", 1.5),
            ("1.", 1.0),
            (".5", 0.5),
            ("1.e2", 100.0),
            ("-2.5e-1", -0.25),
            ("+3", 3.0),
            ("1.5f", 1.5),
            ("7D", 7.0),
            ("0x1p3", 8.0),
            ("0x.8p1", 1.0),
            ("0X1.8P1d", 3.0),
            ("-0x10p-4", -1.0),
        ] {
            assert_eq!(parse_double(s), Some(v), "{s:?}");
        }
        assert!(parse_double("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_double("-Infinity"), Some(f64::NEG_INFINITY));
        for bad in [
            "", "abc", "1e", "1e+", ".", "inf", "nan", "1_0", "0x1", "1.5ff", "1 2", "infinity",
        ] {
            assert_eq!(parse_double(bad), None, "{bad:?}");
        }
        assert_eq!(parse_double("0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(
            parse_double("0x1.fffffffffffff8p0"),
            Some(2.0),
            "ties to even"
        );
        assert_eq!(parse_double("0x1p1024"), Some(f64::INFINITY));
    }

    #[test]
    fn double_order_and_text() {
        assert_eq!(compare_double(-0.0, 0.0), Ordering::Less);
        assert_eq!(compare_double(f64::NAN, f64::INFINITY), Ordering::Greater);
        assert_eq!(compare_double(f64::NAN, -f64::NAN), Ordering::Equal);
        for (d, s) in [
            (1.0, "1.0"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (1e-4, "1.0E-4"),
            (1e7, "1.0E7"),
            (1.5e10, "1.5E10"),
            (123.456, "123.456"),
            (-2.5, "-2.5"),
            (f64::MAX, "1.7976931348623157E308"),
            (f64::MIN_POSITIVE / 4503599627370496.0, "4.9E-324"),
        ] {
            assert_eq!(double_to_string(d), s);
        }
    }

    #[test]
    fn hash_and_escapes() {
        assert_eq!(string_hash("TagA"), 2598919);
        assert_eq!(add_escapes("a'\n"), "a\\'\\n");
        assert_eq!(add_escapes("é"), "\\u00e9");
    }
}
