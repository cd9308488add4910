//! `Message::parse_datagram` plus everything reachable from a parsed message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxguard_sip::{Header, Message, StatusCode, response, sdp};

fuzz_target!(|data: &[u8]| {
    let mut headers = [Header::EMPTY; 32];
    let Ok(m) = Message::parse_datagram(data, &mut headers) else {
        return;
    };
    assert!(m.len() <= data.len());
    let _ = m.validate();
    let _ = (m.via(), m.from(), m.to(), m.cseq(), m.contact(), m.call_id(), m.expires());
    let _ = (m.authorization(), m.proxy_authorization(), m.www_authenticate());
    let _ = (m.proxy_authenticate(), m.content_type(), m.content_length(), m.max_forwards());
    let _ = (m.request_uri_parsed(), m.user_agent(), m.server());
    for v in m.vias().flatten() {
        let _ = (v.branch(), v.received(), v.rport(), v.host.ip());
    }
    for c in m.contacts().flatten() {
        let _ = c.expires();
    }
    if let Ok(s) = sdp::parse(m.body()) {
        let _ = (s.media().count(), s.connections().count(), s.connection(), s.origin_address());
    }
    let mut out = [0u8; 2048];
    if let Ok(n) = response::build(&m, StatusCode::FORBIDDEN, "Forbidden", "fz", &mut out) {
        // What we send must itself parse as a clean-framed response.
        let mut h2 = [Header::EMPTY; 64];
        let r = Message::parse_datagram(&out[..n], &mut h2).expect("built response parses");
        assert_eq!(r.status(), Some(StatusCode::FORBIDDEN));
    }
});
