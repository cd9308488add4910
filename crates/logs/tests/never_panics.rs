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
    "Register:",
    "#012",
    "\n",
    "From:    [",
    "Contact: [",
    "\"1000\" <sip:1000@192.168.1.20:5060",
    ";fs_nat=yes;fs_path=",
    "sip%3A1000%40",
    "203.0.113.5%3A5060",
    "%5B2001%3Adb8%3A%3A1%5D",
    "%3A5060",
    "%",
    ">",
    "]",
];

/// The line with the escapes FreeSWITCH's `fs_path` uses undone, where a success's address is written.
fn unescaped(line: &str) -> String {
    line.replace("%3A", ":")
        .replace("%40", "@")
        .replace("%5B", "[")
        .replace("%5D", "]")
}

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
                prop_assert!(
                    v6_compact || line.contains(&shown) || unescaped(&line).contains(&shown),
                    "{line} gave {shown}"
                );
            }
        }
    }

    #[test]
    fn spliced_lines_in_sequence_never_panic(
        lines in proptest::collection::vec(proptest::collection::vec(0..PIECES.len(), 0..12), 0..8)
    ) {
        // One parser per format fed every line in order, as a file is read: what a line remembers for the
        // next never makes one panic or report an address from nowhere.
        let parsers = parsers();
        for ix in &lines {
            let line: String = ix.iter().filter_map(|&i| PIECES.get(i).copied()).collect();
            for p in &parsers {
                if let Some(parsed) = p.parse(line.as_bytes()) {
                    let shown = parsed.peer.to_string();
                    let v6_compact = shown.contains(':');
                    prop_assert!(
                        v6_compact || line.contains(&shown) || unescaped(&line).contains(&shown),
                        "{line} gave {shown}"
                    );
                }
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
