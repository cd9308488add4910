//! Frame decoding and IPv4 reassembly on arbitrary bytes: never panics, never exceeds its memory bounds.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pbxguard_sys::decode::{self, Decoded, Link, Reassembler, ReasmLimits};

fuzz_target!(|data: &[u8]| {
    let limits = ReasmLimits {
        max_datagrams: 4,
        max_bytes: 16 << 10,
        timeout: Duration::from_secs(30),
    };
    let mut r = Reassembler::new(limits);
    // The input is a sequence of frames, each prefixed by a one-byte length and a link selector bit.
    let mut rest = data;
    let mut t = Duration::ZERO;
    while let Some((&head, tail)) = rest.split_first() {
        let len = usize::from(head >> 1).min(tail.len());
        let (frame, next) = tail.split_at(len);
        rest = next;
        t += Duration::from_secs(1);
        let link = if head & 1 == 0 { Link::Ethernet } else { Link::Ip };
        if let Ok(Decoded::Fragment(f)) = decode::decode_frame(frame, link) {
            if let Some(d) = r.push(t, &f) {
                let _ = decode::decode_transport(d.protocol, d.src.into(), d.dst.into(), &d.data, None);
            }
            assert!(r.in_progress() <= 4);
            assert!(r.bytes_held() <= 16 << 10);
        }
    }
    // Whole input as one frame, both link types.
    let _ = decode::decode_frame(data, Link::Ethernet);
    let _ = decode::decode_frame(data, Link::Ip);
});
