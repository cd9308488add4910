//! Small byte-level helpers shared by the format parsers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::Format;

/// Position of the first `needle` in `hay`. Log lines are short, so scanning for the first byte with
/// `memchr` and comparing beats building a `memmem` searcher per call.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, tail)) = needle.split_first() else {
        return Some(0);
    };
    let mut from = 0;
    while let Some(i) = memchr::memchr(first, hay.get(from..)?) {
        let at = from + i;
        if hay.get(at + 1..at + needle.len()) == Some(tail) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Position of the last `needle` in `hay`.
pub fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, tail)) = needle.split_first() else {
        return Some(hay.len());
    };
    let mut end = hay.len();
    while let Some(at) = memchr::memrchr(first, hay.get(..end)?) {
        if hay.get(at + 1..at + needle.len()) == Some(tail) {
            return Some(at);
        }
        end = at;
    }
    None
}

/// The bytes after the first `needle`.
pub fn after<'a>(hay: &'a [u8], needle: &[u8]) -> Option<&'a [u8]> {
    let at = find(hay, needle)?;
    hay.get(at + needle.len()..)
}

/// The bytes of `b` up to (not including) the first `end`, or `None` when `end` never comes.
pub fn until(b: &[u8], end: u8) -> Option<&[u8]> {
    let n = memchr::memchr(end, b)?;
    b.get(..n)
}

/// The bytes of `b` up to the first byte that is not part of an address (`[0-9a-fA-F.:[]]`).
pub fn address_run(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .position(|c| !(c.is_ascii_hexdigit() || matches!(c, b'.' | b':' | b'[' | b']')))
        .unwrap_or(b.len());
    b.get(..n).unwrap_or_default()
}

/// An address written as `IP`, `IP:port`, `[IPv6]` or `[IPv6]:port`. An unbracketed IPv6 address is read
/// whole (Asterisk and FreeSWITCH bracket IPv6 when they add a port).
pub fn ip(b: &[u8]) -> Option<IpAddr> {
    if b.is_empty() || b.len() > 64 {
        return None;
    }
    if let Some(v4) = ipv4_fast(b) {
        return Some(IpAddr::V4(v4));
    }
    let s = std::str::from_utf8(b).ok()?;
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(a);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    let inner = s.strip_prefix('[')?;
    let (inner, _) = inner.split_once(']')?;
    inner.parse::<IpAddr>().ok()
}

/// `a.b.c.d` or `a.b.c.d:port` in decimal without leading zeros, the common case, without going through
/// `str` parsing. Anything else returns `None` and takes the general path.
fn ipv4_fast(b: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        let start = i;
        let mut v: u32 = 0;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            v = v * 10 + u32::from(c - b'0');
            i += 1;
            if i - start > 3 {
                return None;
            }
        }
        let len = i - start;
        if len == 0 || v > 255 || (len > 1 && b.get(start) == Some(&b'0')) {
            return None;
        }
        *octet = u8::try_from(v).ok()?;
        match (n, b.get(i)) {
            (0..=2, Some(b'.')) => i += 1,
            (3, None) => {}
            (3, Some(b':')) => {
                let port = b.get(i + 1..)?;
                if port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                let p: u32 = port.iter().fold(0, |a, c| a * 10 + u32::from(c - b'0'));
                if p > 65_535 {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(Ipv4Addr::from(octets))
}

/// The user part of the first `sip:`/`sips:` URI in `b` (`'"Bob" <sip:100@192.0.2.1>'` gives `100`).
pub fn sip_user(b: &[u8]) -> Option<&[u8]> {
    let rest = after(b, b"sip:").or_else(|| after(b, b"sips:"))?;
    let n = rest
        .iter()
        .position(|c| matches!(c, b'@' | b'>' | b';' | b'\'' | b'"' | b' '))?;
    if rest.get(n) != Some(&b'@') {
        return None;
    }
    rest.get(..n).filter(|u| !u.is_empty())
}

/// Whether `b` contains `needle`, ignoring ASCII case.
pub fn contains_ignore_case(b: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    // Candidates start with the first byte in either case; memchr finds them without a byte loop.
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let mut from = 0;
    while let Some(i) = b
        .get(from..)
        .and_then(|rest| memchr::memchr2(lower, upper, rest))
    {
        let at = from + i;
        if b.get(at..at + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
        {
            return true;
        }
        from = at + 1;
    }
    false
}

/// See [`Format::detect`].
pub fn detect(line: &[u8]) -> Option<Format> {
    const ASTERISK: [&[u8]; 8] = [
        b"NOTICE[",
        b"VERBOSE[",
        b"WARNING[",
        b"SECURITY[",
        b"ERROR[",
        b"DEBUG[",
        b"asterisk[",
        b"chan_sip.c:",
    ];
    const FREESWITCH: [&[u8]; 6] = [
        b"[WARNING] sofia",
        b"[NOTICE] sofia",
        b"[DEBUG] sofia",
        b"[INFO] sofia",
        b"[ERR] ",
        b"freeswitch[",
    ];
    if ASTERISK.iter().any(|m| find(line, m).is_some()) {
        Some(Format::Asterisk)
    } else if FREESWITCH.iter().any(|m| find(line, m).is_some())
        || find(line, b"] sofia").is_some()
        || find(line, b"] switch_").is_some()
        || find(line, b"] mod_").is_some()
    {
        Some(Format::FreeSwitch)
    } else if find(line, b"kamailio").is_some() || find(line, b"opensips").is_some() {
        Some(Format::Kamailio)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_every_notation() {
        for (s, want) in [
            ("203.0.113.5", "203.0.113.5"),
            ("203.0.113.5:5060", "203.0.113.5"),
            ("[2001:db8::7]:5060", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("2001:db8::7", "2001:db8::7"),
            ("0.0.0.0:0", "0.0.0.0"),
            ("255.255.255.255:65535", "255.255.255.255"),
        ] {
            assert_eq!(
                ip(s.as_bytes()).map(|a| a.to_string()),
                Some(want.to_owned()),
                "{s}"
            );
        }
        for s in [
            "",
            "203.0.113",
            "300.1.1.1",
            "[2001:db8::7",
            "host:5060",
            "[]",
        ] {
            assert_eq!(ip(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn case_insensitive_search() {
        assert!(contains_ignore_case(
            b"'Friendly-Scanner' <sip:1@x>",
            b"friendly-scanner"
        ));
        assert!(contains_ignore_case(
            b"fffriendly-scanner",
            b"friendly-scanner"
        ));
        assert!(!contains_ignore_case(
            b"friendly-scanne",
            b"friendly-scanner"
        ));
        assert!(contains_ignore_case(b"", b""));
    }

    #[test]
    fn find_and_rfind_agree_with_memmem() {
        let hay = b"a' failed for 'b' failed for 'c";
        for needle in [&b"' failed for '"[..], b"a", b"c", b"zz", b"", b"'c"] {
            assert_eq!(
                find(hay, needle),
                memchr::memmem::find(hay, needle),
                "{needle:?}"
            );
            assert_eq!(
                rfind(hay, needle),
                memchr::memmem::rfind(hay, needle),
                "{needle:?}"
            );
        }
    }

    #[test]
    fn sip_user_is_the_uri_user_part() {
        assert_eq!(
            sip_user(b"'\"Bob\" <sip:100@192.0.2.1>'"),
            Some(&b"100"[..])
        );
        assert_eq!(
            sip_user(b"<sips:alice@example.com;transport=tls>"),
            Some(&b"alice"[..])
        );
        assert_eq!(sip_user(b"<sip:192.0.2.1>"), None);
        assert_eq!(sip_user(b"no uri"), None);
    }
}
