//! The parsers under comparison, each as `fn(&[u8]) -> usize` over the same bytes.

use pbxguard_sip::{HeaderSlots, Message};
use pbxguard_sip_bench::guard_facts;

/// Header storage as a caller sizes it for SIP traffic: 32 slots (typical messages carry 10 to
/// 20 headers; more are counted as `too_many_headers`), cache-line aligned as the guard's
/// pipeline keeps it. Initialising it is part of the cost.
pub fn ours(buf: &[u8]) -> usize {
    let mut slots = HeaderSlots::<32>::new();
    match Message::parse_datagram(buf, &mut slots.0) {
        Ok(m) => m.headers().len() + m.body().len(),
        Err(_) => 0,
    }
}

pub fn ours_facts(buf: &[u8]) -> usize {
    let mut slots = HeaderSlots::<32>::new();
    match Message::parse_datagram(buf, &mut slots.0) {
        Ok(m) => guard_facts(&m),
        Err(_) => 0,
    }
}

pub fn rsip(buf: &[u8]) -> usize {
    use rsip::prelude::HasHeaders;
    match rsip::SipMessage::try_from(buf) {
        Ok(m) => m.headers().iter().count() + m.body().len(),
        Err(_) => 0,
    }
}

/// ezk-sip-types has no single "parse a message" call (its transport layer assembles one from
/// these pieces); this is the same decode: line splitting, start line, header map, body.
pub fn ezk(buf: &[u8]) -> usize {
    use ezk_sip_types::Headers;
    use ezk_sip_types::header::typed::ContentLength;
    use ezk_sip_types::msg::{Line, MessageLine, PullParser};
    use ezk_sip_types::parse::Parse;

    let src = bytes::Bytes::copy_from_slice(buf);
    let mut parser = PullParser::new(&src, 0);
    let Some(Ok(first)) = parser.next() else {
        return 0;
    };
    let Ok(first) = std::str::from_utf8(first) else {
        return 0;
    };
    let Ok((_, _line)) = MessageLine::parse(&src)(first) else {
        return 0;
    };
    let mut headers = Headers::new();
    for line in &mut parser {
        let Ok(line) = line else { return 0 };
        let Ok(line) = std::str::from_utf8(line) else {
            return 0;
        };
        let Ok((_, Line { name, value })) = Line::parse(&src, line) else {
            return 0;
        };
        headers.insert(name, value);
    }
    let head_end = parser.head_end();
    let len = headers
        .get_named::<ContentLength>()
        .map_or(src.len() - head_end, |c| c.0);
    let body = src.slice(head_end..(head_end + len).min(src.len()));
    headers.iter().count() + body.len()
}

pub type Parser = (&'static str, fn(&[u8]) -> usize);

pub const PARSERS: [Parser; 4] = [
    ("pbxguard", ours),
    ("pbxguard_facts", ours_facts),
    ("rsip", rsip),
    ("ezk_sip_types", ezk),
];
