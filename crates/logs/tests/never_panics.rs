//! Whatever the bytes, parsing returns: no panic, no peer out of thin air.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use pbxguard_logs::{EXAMPLE_PATTERNS, Format, LineParser, Pattern, parse_prefix_time};
use proptest::prelude::*;

fn parsers() -> Vec<LineParser> {
    let patterns: Vec<Pattern> = EXAMPLE_PATTERNS
        .iter()
        .filter_map(|p| Pattern::parse(p).ok())
        .collect();
    [Format::Asterisk, Format::FreeSwitch, Format::Kamailio]
        .into_iter()
        .map(|f| LineParser::new(f, patterns.clone(), 2026))
        .collect()
}

/// Fragments of real lines, so random combinations reach deep into the parsers.
const PIECES: &[&str] = &[
    "[Nov 22 20:44:38] ",
    "[2026-11-22 20:44:38.1] ",
    "NOTICE[1] ",
    "chan_sip.c: ",
    "manager.c: ",
    "sofia_reg.c:1850 ",
    "Registration from '",
    "Request 'REGISTER' from '",
    "' failed for '",
    "' - ",
    "Wrong password",
    "No matching endpoint found",
    "(callid: x)",
    "SecurityEvent=\"",
    "RemoteAddress=\"",
    "IPV4/UDP/",
    "IPV6/UDP/",
    "203.0.113.5",
    ":5060",
    "[2001:db8::1]",
    "2001:db8::1",
    "/",
    "\"",
    "'",
    ",",
    "Host ",
    " failed MD5 authentication for '",
    "SIP auth failure (",
    "] from ip ",
    " for [",
    "@",
    "Can't find user [",
    "] from ",
    "auth failed for user ",
    " from ",
    "Call from '",
    "' (",
    " to extension '",
    "' rejected because extension not found",
    "IP ",
    " Rejected by acl",
    "-- ",
    "Registered SIP '",
    "' at ",
    "No registration for peer '",
    "' (from ",
    ")",
    " ",
    "\u{0}",
    "é",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..400)) {
        for p in parsers() {
            let _ = p.parse(&line);
        }
        let _ = Format::detect(&line);
        let _ = parse_prefix_time(&line, 2026);
    }

    #[test]
    fn spliced_real_fragments_never_panic(ix in proptest::collection::vec(0..PIECES.len(), 0..24)) {
        let line: String = ix.iter().filter_map(|&i| PIECES.get(i).copied()).collect();
        for p in parsers() {
            if let Some(parsed) = p.parse(line.as_bytes()) {
                // A peer always comes from the line's own text.
                let shown = parsed.peer.to_string();
                let v6_compact = shown.contains(':');
                prop_assert!(v6_compact || line.contains(&shown), "{line} gave {shown}");
            }
        }
    }

    #[test]
    fn arbitrary_patterns_never_panic(text in "\\PC{0,80}", line in "\\PC{0,200}") {
        if let Ok(p) = Pattern::parse(&text) {
            let _ = p.apply(line.as_bytes());
            let _ = p.to_string();
        }
    }
}
