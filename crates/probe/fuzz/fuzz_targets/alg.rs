//! The SIP echo and the echo comparison on arbitrary bytes: no panic, and nothing without the
//! right MAC is answered or accepted.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use pbxguard_probe::admission::Keyring;
use pbxguard_probe::alg::{EchoService, base64_decode, compare};

const SECRET: &[u8] = b"fuzzing secret, sixteen+ bytes";

fuzz_target!(|data: &[u8]| {
    let mut keys = Keyring::new();
    keys.insert("k", SECRET).unwrap();
    let mut echo = EchoService::new(keys);
    let from = "198.51.100.1".parse().unwrap();
    let _ = echo.answer(Instant::now(), 0, from, data);
    let _ = compare(SECRET, [0; 16], b"OPTIONS sip:x SIP/2.0\r\n\r\n", data);
    let _ = base64_decode(&String::from_utf8_lossy(data));
});
