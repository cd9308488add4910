#![no_main]
//! Every format's parser, and a Kamailio pattern built from the input itself, over arbitrary bytes.

use libfuzzer_sys::fuzz_target;
use pbxguard_logs::{Format, LineParser, Pattern};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut pattern_text = "";
    let mut line = text;
    if let Some((p, l)) = text.split_once('\n') {
        pattern_text = p;
        line = l;
    }
    let mut patterns = Vec::new();
    if let Ok(p) = Pattern::parse(pattern_text) {
        patterns.push(p);
    }
    for format in [Format::Asterisk, Format::FreeSwitch, Format::Kamailio] {
        let parser = LineParser::new(format, patterns.clone(), 2026);
        let _ = parser.parse(line.as_bytes());
    }
    let _ = Format::detect(line.as_bytes());
});
