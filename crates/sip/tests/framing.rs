//! Framing, keep-alives and limits, named after the behaviour they pin down.

// Helper functions outside #[test] bodies may unwrap and index: a failure is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use pbxguard_sip::{
    Anomaly, Error, Frame, Header, KeepAlive, Limits, Message, Status, StreamCursor, StreamParser,
};

const OPTIONS: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nbody";

fn frames(buf: &[u8]) -> Result<Vec<String>, Error> {
    let parser = StreamParser::default();
    let mut rest = buf;
    let mut out = Vec::new();
    loop {
        let mut headers = [Header::EMPTY; 16];
        match parser.parse(rest, &mut headers)? {
            Status::Partial => return Ok(out),
            Status::Complete(Frame::KeepAlive { kind, len }) => {
                out.push(format!("{kind:?}"));
                rest = &rest[len..];
            }
            Status::Complete(Frame::Message(m)) => {
                out.push(format!("{}+{}", m.method().unwrap(), m.body().len()));
                rest = &rest[m.len()..];
            }
        }
    }
}

#[test]
fn rfc5626_keepalives_are_frames_not_errors() {
    let mut buf = b"\r\n\r\n".to_vec();
    buf.extend_from_slice(OPTIONS);
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(OPTIONS);
    assert_eq!(
        frames(&buf).unwrap(),
        ["Ping", "OPTIONS+4", "Pong", "OPTIONS+4"]
    );
    let parser = StreamParser::default();
    let mut h = [Header::EMPTY; 4];
    assert!(matches!(
        parser.parse(b"\r\n\r", &mut h),
        Ok(Status::Partial)
    ));
    assert!(matches!(
        parser.parse(b"\r\n\r\n", &mut h),
        Ok(Status::Complete(Frame::KeepAlive {
            kind: KeepAlive::Ping,
            len: 4
        }))
    ));
}

#[test]
fn several_messages_in_one_buffer() {
    let buf = [OPTIONS, OPTIONS, OPTIONS].concat();
    assert_eq!(frames(&buf).unwrap().len(), 3);
}

#[test]
fn partial_until_content_length_bytes_arrive() {
    for cut in 0..OPTIONS.len() {
        assert_eq!(frames(&OPTIONS[..cut]).unwrap().len(), 0, "cut at {cut}");
    }
}

#[test]
fn stream_without_content_length_cannot_be_framed() {
    let m = b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n";
    assert_eq!(frames(m), Err(Error::MissingContentLength));
    let m = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n";
    assert_eq!(frames(m), Err(Error::InvalidContentLength));
    let m = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab";
    assert_eq!(frames(m), Err(Error::ConflictingContentLength));
}

#[test]
fn stream_message_over_the_size_limit_is_refused() {
    let parser = StreamParser::new(Limits {
        max_message_size: 64,
        ..Limits::DEFAULT
    });
    let mut h = [Header::EMPTY; 16];
    assert_eq!(
        parser.parse(OPTIONS, &mut h).err(),
        Some(Error::MessageTooLarge { limit: 64 })
    );
    let big_body = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 100000\r\n\r\n";
    let parser = StreamParser::default();
    assert_eq!(
        parser.parse(big_body, &mut h).err(),
        Some(Error::MessageTooLarge { limit: 65_535 })
    );
}

#[test]
fn datagram_limits_are_anomalies_and_the_rest_is_still_read() {
    let mut h = [Header::EMPTY; 3];
    let m = Message::parse_datagram(OPTIONS, &mut h).unwrap();
    assert!(m.anomalies().contains(Anomaly::TooManyHeaders));
    assert_eq!(m.headers().len(), 3);
    assert_eq!(m.body(), b"body", "framing still found the body");

    let mut h = [Header::EMPTY; 16];
    let limits = Limits {
        max_message_size: 40,
        max_headers: 16,
        max_line_length: 20,
    };
    let m = Message::parse_datagram_with(OPTIONS, &mut h, &limits).unwrap();
    assert!(m.anomalies().contains(Anomaly::Oversize));
    assert!(m.anomalies().contains(Anomaly::LineTooLong));
    assert!(m.anomalies().contains(Anomaly::UnterminatedHeaders));
    assert_eq!(m.method().unwrap().as_str(), "OPTIONS");
}

#[test]
fn nul_in_headers_is_flagged_but_quoted_pair_nul_is_not() {
    let mut h = [Header::EMPTY; 8];
    let m =
        Message::parse_datagram(b"OPTIONS sip:a@b SIP/2.0\r\nTo: x\0y\r\n\r\n", &mut h).unwrap();
    assert!(m.anomalies().contains(Anomaly::NulInHeaders));
    let m = Message::parse_datagram(
        b"OPTIONS sip:a@b SIP/2.0\r\nTo: \"x\\\0\" <sip:a@b>\r\n\r\n",
        &mut h,
    )
    .unwrap();
    assert!(!m.anomalies().contains(Anomaly::NulInHeaders));
}

#[test]
fn header_line_without_colon_is_flagged_and_skipped() {
    let mut h = [Header::EMPTY; 8];
    let m = Message::parse_datagram(
        b"OPTIONS sip:a@b SIP/2.0\r\nGarbage\r\nTo: <sip:a@b>\r\n\r\n",
        &mut h,
    )
    .unwrap();
    assert!(m.anomalies().contains(Anomaly::MalformedHeaderLine));
    assert!(m.to().is_some());
}

#[test]
fn empty_and_keepalive_datagrams_are_empty() {
    let mut h = [Header::EMPTY; 8];
    for buf in [&b""[..], b"\r\n\r\n", b"\r\n"] {
        assert_eq!(
            Message::parse_datagram(buf, &mut h).err(),
            Some(Error::Empty)
        );
    }
}

#[test]
fn garbage_start_line_keeps_headers_readable() {
    let mut h = [Header::EMPTY; 8];
    let m = Message::parse_datagram(
        b"\x16\x03\x01 hello\r\nUser-Agent: sipvicious\r\n\r\n",
        &mut h,
    )
    .unwrap();
    assert!(m.anomalies().contains(Anomaly::BadStartLine));
    assert_eq!(m.user_agent(), Some(&b"sipvicious"[..]));
}

/// What a connection sees when `buf` arrives in pieces of `step` bytes and each piece is
/// followed by a `parse_resume` call (frames consumed as they complete), as in `frames`.
fn trickled(buf: &[u8], step: usize) -> Result<Vec<String>, Error> {
    let parser = StreamParser::default();
    let mut cursor = StreamCursor::new();
    let mut out = Vec::new();
    let mut start = 0;
    let mut end = 0;
    while end < buf.len() {
        end = (end + step).min(buf.len());
        loop {
            let mut headers = [Header::EMPTY; 16];
            match parser.parse_resume(&buf[start..end], &mut headers, &mut cursor)? {
                Status::Partial => break,
                Status::Complete(Frame::KeepAlive { kind, len }) => {
                    out.push(format!("{kind:?}"));
                    start += len;
                }
                Status::Complete(Frame::Message(m)) => {
                    out.push(format!("{}+{}", m.method().unwrap(), m.body().len()));
                    start += m.len();
                }
            }
        }
    }
    Ok(out)
}

#[test]
fn resumed_parse_frames_trickled_input_like_whole_input() {
    let mut ok = b"\r\n\r\n".to_vec();
    ok.extend_from_slice(OPTIONS);
    ok.extend_from_slice(b"\r\n");
    ok.extend_from_slice(OPTIONS);
    ok.extend_from_slice(b"\n\nOPTIONS sip:a@b SIP/2.0\nContent-Length: 2\n\nab");
    ok.extend_from_slice(
        b"OPTIONS sip:a@b SIP/2.0\r\nSubject: folded\r\n\r\n value\r\nl: 0\r\n\r\n",
    );
    let missing_cl = b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n".to_vec();
    let conflicting = b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nab".to_vec();
    for buf in [ok, missing_cl, conflicting] {
        let whole = frames(&buf);
        for step in [1, 2, 3, 7, 64, buf.len()] {
            assert_eq!(trickled(&buf, step), whole, "step {step}");
        }
    }
}

#[test]
fn resumed_parse_enforces_the_size_limit_on_trickled_heads() {
    let parser = StreamParser::new(Limits {
        max_message_size: 64,
        ..Limits::DEFAULT
    });
    let mut cursor = StreamCursor::new();
    let buf = [b"OPTIONS sip:a@b SIP/2.0\r\n".as_slice(), &[b'X'; 100]].concat();
    let mut verdicts = Vec::new();
    for end in 1..=buf.len() {
        let mut h = [Header::EMPTY; 4];
        match parser.parse_resume(&buf[..end], &mut h, &mut cursor) {
            Ok(Status::Partial) => {}
            other => verdicts.push((end, format!("{other:?}"))),
        }
    }
    // The first call that holds more than the limit without a complete head is refused.
    assert_eq!(verdicts.first().map(|v| v.0), Some(65));
    assert!(verdicts[0].1.contains("MessageTooLarge"), "{verdicts:?}");
}

#[test]
fn a_cursor_handed_a_shorter_buffer_starts_over() {
    let parser = StreamParser::default();
    let mut cursor = StreamCursor::new();
    let mut h = [Header::EMPTY; 16];
    let long = b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\nX-Pad: aaaaaaaaaaaaaaaa";
    assert!(matches!(
        parser.parse_resume(long, &mut h, &mut cursor),
        Ok(Status::Partial)
    ));
    assert!(cursor.scanned() > 0);
    // Another connection's bytes, shorter: the cursor must not skip any of them.
    let mut h = [Header::EMPTY; 16];
    let short = b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n";
    assert!(matches!(
        parser.parse_resume(short, &mut h, &mut cursor),
        Ok(Status::Complete(Frame::Message(_)))
    ));
    assert_eq!(cursor, StreamCursor::new());
}
