#![no_main]
//! Every format's parser, and a Kamailio pattern built from the input itself, over arbitrary bytes. The
//! first line is the pattern; every further line goes, in order, through one parser per format, as a file
//! is read (FreeSWITCH's successful registration spans several lines, and the parser remembers where it is).

use libfuzzer_sys::fuzz_target;
use pbxguard_logs::{Format, LineParser, Pattern};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut pattern_text = "";
    let mut lines = text;
    if let Some((p, l)) = text.split_once('\n') {
        pattern_text = p;
        lines = l;
    }
    let mut patterns = Vec::new();
    if let Ok(p) = Pattern::parse(pattern_text) {
        patterns.push(p);
    }
    let parsers = [Format::Asterisk, Format::FreeSwitch, Format::Kamailio]
        .map(|format| LineParser::new(format, patterns.clone(), 2026));
    for line in lines.split('\n') {
        for parser in &parsers {
            let _ = parser.parse(line.as_bytes());
        }
        let _ = Format::detect(line.as_bytes());
    }
    // The whole rest as one line, as a journald MESSAGE with newlines arrives.
    for parser in &parsers {
        let _ = parser.parse(lines.as_bytes());
    }
});
