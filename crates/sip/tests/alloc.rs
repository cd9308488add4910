//! Parsing allocates nothing: a counting global allocator sees zero allocations across the
//! datagram and stream parsers, `validate()`, every typed accessor, SDP and the response builder.

// Helper functions outside #[test] bodies may unwrap and index: a failure is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use pbxguard_sip::{
    Frame, Header, Message, Status, StatusCode, StreamCursor, StreamParser, response, sdp,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const INVITE: &[u8] = b"INVITE sip:+4930123456@pbx.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---a2f;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:100@198.51.100.7:5060;transport=UDP>;expires=3600\r\n\
To: <sip:+4930123456@pbx.example.com>\r\n\
From: \"100\" <sip:100@pbx.example.com>;tag=2a7d9f1b\r\n\
Call-ID: ZTg4NmFlNmQ3MzA3OGRmNmU0@198.51.100.7\r\n\
CSeq: 2 INVITE\r\n\
Proxy-Authorization: Digest username=\"100\",realm=\"asterisk\",nonce=\"1a2b3c\",uri=\"sip:+4930123456@pbx.example.com\",response=\"0123456789abcdef0123456789abcdef\",algorithm=MD5\r\n\
User-Agent: friendly-scanner\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 129\r\n\r\n\
v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n";

fn exercise(m: &Message<'_, '_>) -> usize {
    let mut n = 0;
    n += usize::from(m.via().is_some());
    n += m.vias().filter(Result::is_ok).count();
    n += usize::from(m.from().and_then(|f| f.tag()).is_some());
    n += usize::from(m.to().is_some());
    n += usize::from(m.call_id().is_some());
    n += usize::from(m.cseq().is_some());
    n += m.contacts().filter(Result::is_ok).count();
    n += usize::from(m.max_forwards().is_some());
    n += usize::from(m.user_agent().is_some());
    n += usize::from(m.proxy_authorization().and_then(|a| a.response()).is_some());
    n += usize::from(m.content_type().is_some_and(|c| c.is_sdp()));
    n += usize::from(m.request_uri_parsed().is_some());
    n += m.validate().len();
    if let Ok(s) = sdp::parse(m.body()) {
        n += s.media().map(|x| usize::from(x.port)).sum::<usize>();
        n += usize::from(s.connection().is_some());
    }
    n
}

/// Runs without the libtest harness (`harness = false`): its threads would allocate
/// concurrently and the global counter would see them.
fn main() {
    zero_allocations_per_parse();
    println!("1 passed, 0 failed");
}

fn zero_allocations_per_parse() {
    let mut headers = [Header::EMPTY; 32];
    let mut out = [0u8; 1500];
    let parser = StreamParser::default();
    // Warm up anything lazily initialised by the test harness itself.
    let _ = Message::parse_datagram(INVITE, &mut headers);

    let region = Region::new(GLOBAL);
    let mut total = 0;
    for _ in 0..100 {
        let m = Message::parse_datagram(INVITE, &mut headers).unwrap();
        total += exercise(&m);
        total += response::build(&m, StatusCode::FORBIDDEN, "Forbidden", "pbxg", &mut out).unwrap();
        let mut h2 = [Header::EMPTY; 32];
        if let Ok(Status::Complete(Frame::Message(m))) = parser.parse(INVITE, &mut h2) {
            total += exercise(&m);
        }
        // Trickled in three pieces through a resumed parse.
        let mut cursor = StreamCursor::new();
        for end in [INVITE.len() / 3, INVITE.len() / 2, INVITE.len()] {
            let mut h3 = [Header::EMPTY; 32];
            if let Ok(Status::Complete(Frame::Message(m))) =
                parser.parse_resume(&INVITE[..end], &mut h3, &mut cursor)
            {
                total += exercise(&m);
            }
        }
    }
    let stats = region.change();
    assert!(total > 0);
    assert_eq!(stats.allocations, 0, "{stats:?}");
    assert_eq!(stats.reallocations, 0, "{stats:?}");
    assert_eq!(stats.bytes_allocated, 0, "{stats:?}");
}
