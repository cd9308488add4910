//! The Binding responder on arbitrary datagrams: it may drop or answer, never panic, and never send
//! to a host other than the datagram's source.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxguard_stun::server::{Server, ServerConfig};

fuzz_target!(|data: &[u8]| {
    let primary = "198.51.100.10:3478".parse().unwrap();
    let mut s = Server::new(ServerConfig {
        primary,
        alternate_ip: Some("198.51.100.11".parse().unwrap()),
        alternate_port: Some(3479),
        software: Some("fuzz".into()),
        limits: None,
    });
    let from = "192.0.2.1:40000".parse().unwrap();
    let mut out = Vec::new();
    if let Some(r) = s.handle(std::time::Instant::now(), primary, from, data, &mut out) {
        assert_eq!(r.to.ip(), from.ip());
        assert!(s.local_addresses().contains(&r.from));
        let answer = &out[..r.len];
        // RFC 3489 requests get RFC 3489 answers; RFC 5389 requests must get RFC 5389 answers.
        if pbxguard_stun::Message::parse(data).is_ok() {
            assert!(pbxguard_stun::Message::parse(answer).is_ok());
        } else {
            assert!(pbxguard_stun::Message::parse_rfc3489(answer).is_ok());
        }
    }
});
