//! `Facts::of` and `Facts::transaction` on any parsed message: no panic, and agreement with
//! `Message::validate` and the accessors they replace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxguard_sip::facts::Facts;
use pbxguard_sip::{Header, Message};

fuzz_target!(|data: &[u8]| {
    let mut headers = [Header::EMPTY; 32];
    let Ok(m) = Message::parse_datagram(data, &mut headers) else {
        return;
    };
    let f = Facts::of(&m);
    assert_eq!(f.anomalies, m.validate());
    assert_eq!(f.call_id, m.call_id());
    assert_eq!(f.cseq, m.cseq());
    assert_eq!(f.user_agent, m.user_agent());
    assert_eq!(f.content_length, m.content_length());
    assert_eq!(
        f.from.and_then(|p| p.user),
        m.from().and_then(|n| n.uri.user)
    );
    assert_eq!(f.to.and_then(|p| p.tag()), m.to().and_then(|n| n.tag()));
    assert_eq!(f.uri_user, m.request_uri_parsed().and_then(|u| u.user));
    assert_eq!(f.via.map(|v| v.host), m.via().map(|v| v.host));
    let username = m
        .authorization()
        .or_else(|| m.proxy_authorization())
        .map(|a| a.username());
    assert_eq!(f.credentials.map(|c| c.username), username);
    let stale = m
        .www_authenticate()
        .or_else(|| m.proxy_authenticate())
        .is_some_and(|a| a.stale());
    assert_eq!(f.stale, stale);
    let t = Facts::transaction(&m);
    assert_eq!(t.anomalies, m.anomalies());
    assert_eq!(
        (t.call_id, t.cseq, t.to, t.credentials, t.stale),
        (f.call_id, f.cseq, f.to, f.credentials, f.stale)
    );
});
