//! URI, Via, name-addr and credential parsers on the whole input and on each line of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxguard_sip::{AuthHeader, Contact, Uri, Via, percent_decode};

fn one(s: &str) {
    if let Ok(u) = Uri::parse(s) {
        let _ = (u.host.map(|h| h.ip()), u.user_param(), u.transport(), u.params.iter().count());
        let mut out = [0u8; 256];
        let _ = u.user.map(|x| percent_decode(x.as_bytes(), &mut out));
    }
    if let Ok(v) = Via::parse(s) {
        let _ = (v.branch(), v.rport(), v.received(), v.host.ip());
    }
    if let Ok(c) = Contact::parse(s) {
        let _ = (c.expires(), c.addr().map(|a| a.tag()));
    }
    if let Ok(a) = AuthHeader::parse(s) {
        let _ = (a.username(), a.realm(), a.nonce(), a.uri(), a.response(), a.stale());
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    one(s);
    for line in s.lines() {
        one(line);
        if let Some((_, value)) = line.split_once(':') {
            one(value);
        }
        for word in line.split(' ') {
            one(word.trim_matches(|c| c == '<' || c == '>'));
        }
    }
});
