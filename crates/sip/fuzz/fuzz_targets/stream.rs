//! `StreamParser::parse` over a buffer holding any number of frames, and over every split of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxguard_sip::{Frame, Header, Status, StreamParser};

fn drain(parser: &StreamParser, mut rest: &[u8]) -> usize {
    let mut frames = 0;
    while !rest.is_empty() {
        let mut headers = [Header::EMPTY; 32];
        let used = match parser.parse(rest, &mut headers) {
            Ok(Status::Complete(Frame::Message(m))) => {
                let _ = m.validate();
                m.len()
            }
            Ok(Status::Complete(Frame::KeepAlive { len, .. })) => len,
            Ok(Status::Partial) | Err(_) => break,
        };
        assert!(used > 0 && used <= rest.len(), "frame length out of bounds");
        rest = &rest[used..];
        frames += 1;
    }
    frames
}

fuzz_target!(|data: &[u8]| {
    let parser = StreamParser::default();
    let whole = drain(&parser, data);
    // A prefix never yields more frames than the whole buffer.
    if let Some(cut) = data.first().map(|b| usize::from(*b) % (data.len() + 1)) {
        assert!(drain(&parser, &data[..cut]) <= whole);
    }
});
