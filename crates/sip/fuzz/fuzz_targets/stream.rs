//! `StreamParser::parse` over a buffer holding any number of frames, and over every split of it;
//! `StreamParser::parse_resume` over the same bytes arriving in pieces, which must frame them
//! exactly as the stateless parse of the whole buffer does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxguard_sip::{Error, Frame, Header, Status, StreamCursor, StreamParser};

/// Frame lengths read from `rest`, and how the reading stopped.
fn drain(parser: &StreamParser, mut rest: &[u8]) -> (Vec<usize>, Option<Error>) {
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let mut headers = [Header::EMPTY; 32];
        let used = match parser.parse(rest, &mut headers) {
            Ok(Status::Complete(Frame::Message(m))) => {
                let _ = m.validate();
                m.len()
            }
            Ok(Status::Complete(Frame::KeepAlive { len, .. })) => len,
            Ok(Status::Partial) => break,
            Err(e) => return (frames, Some(e)),
        };
        assert!(used > 0 && used <= rest.len(), "frame length out of bounds");
        rest = &rest[used..];
        frames.push(used);
    }
    (frames, None)
}

/// The same, with the bytes arriving `step` at a time and a resumed parse after each piece.
fn trickle(parser: &StreamParser, data: &[u8], step: usize) -> (Vec<usize>, Option<Error>) {
    let mut cursor = StreamCursor::new();
    let mut frames = Vec::new();
    let (mut start, mut end) = (0, 0);
    while end < data.len() {
        end = (end + step).min(data.len());
        loop {
            let mut headers = [Header::EMPTY; 32];
            let used = match parser.parse_resume(&data[start..end], &mut headers, &mut cursor) {
                Ok(Status::Complete(Frame::Message(m))) => m.len(),
                Ok(Status::Complete(Frame::KeepAlive { len, .. })) => len,
                Ok(Status::Partial) => break,
                Err(e) => return (frames, Some(e)),
            };
            assert!(used > 0 && start + used <= end, "frame length out of bounds");
            start += used;
            frames.push(used);
        }
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    let parser = StreamParser::default();
    let whole = drain(&parser, data);
    // A prefix never yields more frames than the whole buffer.
    if let Some(cut) = data.first().map(|b| usize::from(*b) % (data.len() + 1)) {
        assert!(drain(&parser, &data[..cut]).0.len() <= whole.0.len());
    }
    // Trickled input is framed exactly like the whole buffer.
    let step = data.get(1).map_or(1, |b| usize::from(*b % 16) + 1);
    assert_eq!(trickle(&parser, data, step), whole, "step {step}");
});
