//! `sdp::parse` on the whole input and on the body after the first blank line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxguard_sip::sdp;

fn one(body: &[u8]) {
    if let Ok(s) = sdp::parse(body) {
        for m in s.media() {
            let _ = (m.port, m.connection.map(|c| c.ip()));
        }
        let _ = (s.connection().map(|c| c.ip()), s.origin_address(), s.connections().count());
    }
}

fuzz_target!(|data: &[u8]| {
    one(data);
    if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
        one(&data[i + 4..]);
    }
});
