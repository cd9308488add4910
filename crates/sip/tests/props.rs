//! Property tests: arbitrary bytes and mutations of real messages never panic, and what the
//! parser returns stays inside the input.

// Helper functions outside #[test] bodies may unwrap and index: a failure is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use pbxguard_sip::{
    AuthHeader, Contact, Frame, Header, Message, Status, StreamParser, Uri, Via, sdp,
};
use proptest::prelude::*;

const SEEDS: &[&[u8]] = &[
    b"REGISTER sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport\r\nFrom: \"A\" <sip:100@pbx.example.com>;tag=1\r\nTo: <sip:100@pbx.example.com>\r\nCall-ID: x@y\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@192.0.2.1>;expires=60\r\nAuthorization: Digest username=\"100\", realm=\"r\", nonce=\"n\", uri=\"sip:pbx\", response=\"0a\"\r\nContent-Length: 0\r\n\r\n",
    b"INVITE sip:bob@[2001:db8::1]:5060 SIP/2.0\r\nv: SIP / 2.0 / TCP [2001:db8::2];branch=z9hG4bK2\r\nf: sip:a@b;tag=2\r\nt: sip:b@c\r\ni: 1\r\nCSeq: 9\r\n INVITE\r\nc: application/sdp\r\nl: 37\r\n\r\nv=0\r\nc=IN IP6 2001:db8::3\r\nm=audio 4 RTP/AVP 0\r\n",
    b"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=MD5\r\nContent-Length: 0\r\n\r\n",
];

fn exercise(buf: &[u8]) {
    let mut headers = [Header::EMPTY; 16];
    if let Ok(m) = Message::parse_datagram(buf, &mut headers) {
        assert!(m.len() <= buf.len());
        assert!(m.body().len() <= buf.len());
        let _ = m.validate();
        let _ = (
            m.via(),
            m.from(),
            m.to(),
            m.cseq(),
            m.contact(),
            m.call_id(),
        );
        let _ = (
            m.authorization(),
            m.www_authenticate(),
            m.content_type(),
            m.expires(),
        );
        let _ = (m.max_forwards(), m.request_uri_parsed(), m.user_agent());
        let _ = m.vias().count() + m.contacts().count();
        if let Ok(s) = sdp::parse(m.body()) {
            let _ = s.media().count() + s.connections().count();
        }
        let mut out = [0u8; 512];
        let _ = pbxguard_sip::response::build(
            &m,
            pbxguard_sip::StatusCode::FORBIDDEN,
            "Forbidden",
            "t",
            &mut out,
        );
    }
    let parser = StreamParser::default();
    let mut rest = buf;
    for _ in 0..8 {
        let mut headers = [Header::EMPTY; 16];
        let used = match parser.parse(rest, &mut headers) {
            Ok(Status::Complete(Frame::Message(m))) => m.len(),
            Ok(Status::Complete(Frame::KeepAlive { len, .. })) => len,
            _ => break,
        };
        assert!(used > 0 && used <= rest.len());
        rest = &rest[used..];
    }
    if let Ok(s) = std::str::from_utf8(buf) {
        let _ = (
            Uri::parse(s),
            Via::parse(s),
            Contact::parse(s),
            AuthHeader::parse(s),
        );
    }
}

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(SEEDS),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..12),
    )
        .prop_map(|(seed, edits)| {
            let mut v = seed.to_vec();
            for (at, byte, op) in edits {
                if v.is_empty() {
                    v.push(byte);
                    continue;
                }
                let i = at.index(v.len());
                match op {
                    0 => v[i] = byte,
                    1 => v.insert(i, byte),
                    2 => {
                        v.remove(i);
                    }
                    _ => v.truncate(i),
                }
            }
            v
        })
}

fn sip_ish() -> impl Strategy<Value = Vec<u8>> {
    const ATOMS: &[&[u8]] = &[
        b"\r\n",
        b"\n",
        b" ",
        b"\t",
        b":",
        b";",
        b",",
        b"\"",
        b"\\",
        b"<",
        b">",
        b"@",
        b"[",
        b"]",
        b"=",
        b"/",
        b"%",
        b"\0",
        b"SIP/2.0",
        b"INVITE",
        b"sip:",
        b"Via",
        b"v",
        b"l",
        b"Content-Length",
        b"From",
        b"To",
        b"tag",
        b"branch",
        b"0",
        b"99999999999999999999",
        b"-1",
        b"\xff",
        b"\xc3",
    ];
    let atoms = prop::sample::select(ATOMS);
    prop::collection::vec(atoms, 0..64).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..512)) {
        exercise(&buf);
    }

    #[test]
    fn mutated_messages_never_panic(buf in mutated()) {
        exercise(&buf);
    }

    #[test]
    fn sip_shaped_noise_never_panics(buf in sip_ish()) {
        exercise(&buf);
    }

    #[test]
    fn stream_split_anywhere_yields_the_same_message(cut in 0usize..400) {
        let seed = SEEDS[0];
        let cut = cut.min(seed.len());
        let parser = StreamParser::default();
        let mut h = [Header::EMPTY; 16];
        let partial = parser.parse(&seed[..cut], &mut h).unwrap();
        if cut < seed.len() {
            prop_assert!(matches!(partial, Status::Partial));
        }
        let mut h = [Header::EMPTY; 16];
        let Ok(Status::Complete(Frame::Message(m))) = parser.parse(seed, &mut h) else {
            panic!("complete message not framed");
        };
        prop_assert_eq!(m.len(), seed.len());
    }
}
