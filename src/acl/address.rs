//! Remote address patterns (`RemoteAddressStrategyFactory`): `whiteRemoteAddress` and
//! `globalWhiteRemoteAddresses` entries. A pattern is one of
//! * blank: matches nothing;
//! * `*`, `*.*.*.*`, `*:*:*:*:*:*:*:*`: matches everything;
//! * `192.168.1.{1,2,3}` / `1:2::{3,4}`: the listed addresses;
//! * `192.168.1.1,192.168.1.2`: the listed addresses;
//! * `192.168.*` / `192.168.1.10-20` (and IPv6 forms): a range in one position;
//! * one address.
//!
//! Malformed patterns are errors worded as Java's `AclException`s.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::AclError;

#[derive(Debug, Clone, PartialEq)]
pub enum AddressPattern {
    /// Blank: matches nothing.
    Nothing,
    /// `*`: matches everything.
    Anything,
    /// A set of full addresses (IPv6 ones expanded and upper-cased, as Java keeps them).
    Set(HashSet<String>),
    /// One address (expanded, upper-cased).
    One(String),
    Range(Range),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    /// The fixed leading part, up to and including its separator (IPv4 `"10.1."`,
    /// IPv6 expanded and upper-cased).
    head: String,
    /// Which position varies (IPv4: 1–3; IPv6: 1–7).
    index: usize,
    start: u32,
    end: u32,
    v6: bool,
}

fn err(msg: String) -> AclError {
    AclError(msg)
}

fn valid_v4(s: &str) -> bool {
    // commons-validator: four decimal parts 0–255; leading zeros are allowed up to 3 digits.
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| n <= 255)
        })
}

fn valid_v6(s: &str) -> bool {
    s.contains(':') && s.parse::<Ipv6Addr>().is_ok()
}

/// `AclUtils.expandIP`: upper-cases, widens `::` to the missing groups and pads every
/// group to four digits.
pub fn expand_ip(addr: &str, part: usize) -> String {
    let mut a = addr.to_uppercase();
    let colons = a.matches(':').count();
    if part > colons {
        let pad = ":".repeat(part - colons + 1);
        a = a.replace("::", &pad);
    }
    a.split(':')
        .map(|g| {
            if g.len() < 4 {
                format!("{g:0>4}")
            } else {
                g.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// The address as Java's channel shows it (`Inet6Address.getHostAddress`: eight
/// lower-case groups, no zero compression), which is what patterns are matched against.
pub fn java_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Ipv4Addr::to_string(&v4),
            None => v6
                .segments()
                .iter()
                .map(|s| format!("{s:x}"))
                .collect::<Vec<_>>()
                .join(":"),
        },
    }
}

impl AddressPattern {
    pub fn parse(raw: Option<&str>) -> Result<Self, AclError> {
        let Some(p) = raw.filter(|s| !s.trim().is_empty()) else {
            return Ok(AddressPattern::Nothing);
        };
        if p == "*" || p == "*.*.*.*" || p == "*:*:*:*:*:*:*:*" {
            return Ok(AddressPattern::Anything);
        }
        if p.ends_with('}') {
            let sep = if p.contains(':') { ':' } else { '.' };
            let parts: Vec<&str> = p.split(sep).filter(|s| !s.is_empty()).collect();
            if sep == '.' && parts.len() < 4 {
                return Err(err(
                    "MultipleRemoteAddressStrategy has got a/some wrong format IP(s) ".into(),
                ));
            }
            let last = parts.last().copied().unwrap_or("");
            if !last.starts_with('{') {
                return Err(err(
                    "MultipleRemoteAddressStrategy netaddress examine scope Exception netaddress"
                        .into(),
                ));
            }
            let prefix = &p[..p.find('{').unwrap_or(0)];
            let inner = &last[1..last.len() - 1];
            let addrs: Vec<String> = inner
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| format!("{prefix}{s}"))
                .collect();
            return Self::set(&addrs);
        }
        if p.contains(',') {
            let addrs: Vec<String> = p
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            return Self::set(&addrs);
        }
        if p.contains('*') || p.contains('-') {
            return Range::parse(p).map(AddressPattern::Range);
        }
        if !(valid_v4(p) || valid_v6(p)) {
            return Err(err(format!(
                "Netaddress examine Exception netaddress is {p}"
            )));
        }
        Ok(AddressPattern::One(expand_ip(p, 8)))
    }

    fn set(addrs: &[String]) -> Result<Self, AclError> {
        let mut set = HashSet::new();
        for a in addrs {
            if valid_v4(a) {
                set.insert(a.clone());
            } else if valid_v6(a) {
                set.insert(expand_ip(a, 8));
            } else {
                return Err(err(format!(
                    "Netaddress examine Exception netaddress is {a}"
                )));
            }
        }
        Ok(AddressPattern::Set(set))
    }

    /// Whether `host` (as [`java_host`] renders the peer) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            AddressPattern::Nothing => false,
            AddressPattern::Anything => true,
            AddressPattern::Set(set) => {
                if valid_v6(host) {
                    set.contains(&expand_ip(host, 8))
                } else {
                    set.contains(host)
                }
            }
            AddressPattern::One(a) => *a == expand_ip(host, 8),
            AddressPattern::Range(r) => r.matches(host),
        }
    }
}

impl Range {
    fn parse(p: &str) -> Result<Self, AclError> {
        let scope_err = || {
            err(format!(
                "Netaddress examine scope Exception netaddress is {p}"
            ))
        };
        let v6 = p.contains(':');
        let parts: Vec<&str> = p
            .split(if v6 { ':' } else { '.' })
            .filter(|s| !s.is_empty())
            .collect();
        if v6 {
            ipv6_check(p)?;
        }
        let max = if v6 { 0xffff } else { 255 };
        for (index, raw) in parts.iter().enumerate().skip(1) {
            if !v6 && index > 3 {
                break;
            }
            let value = raw.trim();
            let (start, end) = if value == "*" {
                (0, max)
            } else if value.contains('-') {
                if value.starts_with('-') {
                    return Err(err(format!(
                        "RangeRemoteAddressStrategy netaddress examine scope Exception value {value} "
                    )));
                }
                let mut it = value.split('-').filter(|s| !s.is_empty());
                let radix = if v6 { 16 } else { 10 };
                let num = |s: Option<&str>| {
                    s.and_then(|s| u32::from_str_radix(s.trim(), radix).ok())
                        .ok_or_else(scope_err)
                };
                let (s, e) = (num(it.next())?, num(it.next())?);
                if !(s <= max && e <= max && s <= e) {
                    return Err(err(format!(
                        "RangeRemoteAddressStrategy netaddress examine scope Exception start is {s} , end is {e}"
                    )));
                }
                (s, e)
            } else {
                continue;
            };
            // The positions before the varying one must be valid numbers.
            let leading_ok = parts[..index].iter().all(|g| {
                if v6 {
                    u32::from_str_radix(g.trim(), 16).is_ok_and(|n| n <= 0xffff)
                } else {
                    g.trim().parse::<u32>().is_ok_and(|n| n <= 255)
                }
            });
            if !leading_ok || (!v6 && parts.len() != 4) || end == 0 {
                return Err(scope_err());
            }
            let head = if v6 {
                v6_head(p)
            } else {
                parts[..index]
                    .iter()
                    .map(|s| format!("{}.", s.trim()))
                    .collect()
            };
            let index = if v6 {
                head.split(':').filter(|s| !s.is_empty()).count()
            } else {
                index
            };
            return Ok(Range {
                head,
                index,
                start,
                end,
                v6,
            });
        }
        Err(scope_err())
    }

    fn matches(&self, host: &str) -> bool {
        if !self.v6 && valid_v4(host) {
            let Some(rest) = host.strip_prefix(&self.head) else {
                return false;
            };
            // The varying position is the first of what follows the head.
            let value = rest.split('.').next().unwrap_or("");
            return value
                .parse::<u32>()
                .is_ok_and(|v| v >= self.start && v <= self.end);
        }
        if self.v6 && valid_v6(host) {
            let full = expand_ip(host, 8);
            if !full.starts_with(&self.head) {
                return false;
            }
            let at = 5 * self.index;
            return full
                .get(at..at + 4)
                .and_then(|g| u32::from_str_radix(g, 16).ok())
                .is_some_and(|v| v >= self.start && v <= self.end);
        }
        false
    }
}

/// `AclUtils.IPv6AddressCheck`: `*` only at the end, `-` only in the last group (or the
/// one before a trailing `*`).
fn ipv6_check(p: &str) -> Result<(), AclError> {
    let e = || {
        err(format!(
            "Netaddress examine scope Exception netaddress is {p}"
        ))
    };
    let star = p.find('*');
    if let Some(s) = star {
        if s != p.len() - 1 {
            return Err(e());
        }
    }
    if let Some(minus) = p.find('-') {
        let last = p.rfind(':').unwrap_or(0);
        let limit = match star {
            None => last,
            Some(_) => p[..last].rfind(':').unwrap_or(0),
        };
        if minus <= limit {
            return Err(e());
        }
    }
    Ok(())
}

/// `AclUtils.v6ipProcess`: the expanded fixed groups before the varying one.
fn v6_head(p: &str) -> String {
    let star = p.contains('*');
    let minus = p.contains('-');
    let (part, sub) = if star && minus {
        let last = p.rfind(':').unwrap_or(0);
        let second = p[..last].rfind(':').unwrap_or(0);
        (6, &p[..second])
    } else if !star && !minus {
        (8, p)
    } else {
        (7, &p[..p.rfind(':').unwrap_or(0)])
    };
    expand_ip(sub, part)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, host: &str) -> bool {
        AddressPattern::parse(Some(pattern)).unwrap().matches(host)
    }

    #[test]
    fn java_strategies() {
        // Cases from Java's RemoteAddressStrategyTest.
        assert!(!AddressPattern::parse(None).unwrap().matches("1.1.1.1"));
        assert!(!m(" ", "127.0.0.1"));
        assert!(m("*", "127.0.0.1"));
        assert!(m("*.*.*.*", "10.0.0.1"));
        assert!(m("127.0.0.1", "127.0.0.1"));
        assert!(!m("127.0.0.1", "127.0.0.2"));
        assert!(m("127.0.0.1,127.0.0.2,127.0.0.3", "127.0.0.3"));
        assert!(!m("127.0.0.1,127.0.0.2,127.0.0.3", "127.0.0.4"));
        assert!(m("127.0.0.{1,2,3}", "127.0.0.2"));
        assert!(!m("127.0.0.{1,2,3}", "127.0.0.4"));
        assert!(m("127.0.1-20.*", "127.0.1.5"));
        assert!(m("127.0.1-20.*", "127.0.20.255"));
        assert!(!m("127.0.1-20.*", "127.0.21.1"));
        assert!(m("127.0.0.1-200", "127.0.0.200"));
        assert!(!m("127.0.0.1-200", "127.0.0.201"));
        assert!(m("127.*.*.*", "127.9.9.9"));
        assert!(!m("127.*.*.*", "128.0.0.1"));
        assert!(m("192.100-150.*.*", "192.130.0.2"));
        assert!(m("192.168.0.*", "192.168.0.77"));
        assert!(!m("192.168.0.*", "192.168.1.77"));
        assert!(m(
            "1050:0000:0000:0000:0005:0600:300c:326b",
            "1050::5:600:300c:326b"
        ));
        assert!(m(
            "1050::0005:0600:300c:3261-326b",
            "1050:0:0:0:5:600:300c:326b"
        ));
        assert!(!m(
            "1050::0005:0600:300c:3261-326b",
            "1050:0:0:0:5:600:300c:326c"
        ));
        assert!(m("1050::0005:0600:300c:*", "1050:0:0:0:5:600:300c:1"));
        assert!(m("1050::0005:0600:300c:{1,2}", "1050::5:600:300c:2"));
        assert!(m("::1", "0:0:0:0:0:0:0:1"));
    }

    #[test]
    fn java_rejects() {
        for bad in [
            "127.0.0",
            "127.*",
            "256.0.0.1",
            "127.0.0.{1,2,256}",
            "127.0.{1,2}.1}",
            "127.0.0.2-1",
            "127.0.0.-1",
            "127.0.0.1-256",
            "abc",
            "1050::0005:0600:300c:*:1",
            "1050::0005:0600:30-0c:3261",
        ] {
            assert!(AddressPattern::parse(Some(bad)).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn peers_render_like_java() {
        assert_eq!(java_host("127.0.0.1".parse().unwrap()), "127.0.0.1");
        assert_eq!(java_host("::1".parse().unwrap()), "0:0:0:0:0:0:0:1");
        assert_eq!(java_host("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
        assert_eq!(
            expand_ip("1050::5:600:300c:326b", 8),
            "1050:0000:0000:0000:0005:0600:300C:326B"
        );
    }

    proptest::proptest! {
        /// Whatever a file says, parsing gives a pattern or an error, and matching any
        /// host gives an answer: never a panic.
        #[test]
        fn any_pattern_any_host(p in "[0-9a-f.:*{},\\- ]{0,40}", h in "[0-9a-f.:]{0,40}") {
            if let Ok(pattern) = AddressPattern::parse(Some(&p)) {
                let _ = pattern.matches(&h);
            }
        }

        /// An IPv4 range matches exactly the addresses inside it.
        #[test]
        fn v4_ranges(a in 0u32..256, s in 0u32..256, len in 0u32..256, x in 0u32..256) {
            let e = (s + len).clamp(1, 255);
            let s = s.min(e);
            let pattern = AddressPattern::parse(Some(&format!("10.{a}.{s}-{e}.*"))).unwrap();
            let host = format!("10.{a}.{x}.7");
            proptest::prop_assert_eq!(pattern.matches(&host), x >= s && x <= e);
        }
    }
}
