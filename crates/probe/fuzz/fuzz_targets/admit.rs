//! The reflector's gate and the agent's answer check on arbitrary bytes: no panic, and nothing
//! unauthenticated is ever admitted. The known secret lets the fuzzer also reach the body parser
//! through messages it builds by mutating valid ones.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use pbxguard_probe::admission::{Admission, Gatekeeper, Keyring, Policy};
use pbxguard_probe::agent::{self, Credentials};
use pbxguard_probe::wire::{decode, peek_header};

const SECRET: &[u8] = b"fuzzing secret, sixteen+ bytes";

fuzz_target!(|data: &[u8]| {
    let _ = peek_header(data);
    let authentic = decode(data, |_| Some(SECRET)).is_ok();
    let now = Instant::now();
    let mut keys = Keyring::new();
    keys.insert("k", SECRET).unwrap();
    let mut g = Gatekeeper::new(Policy::default(), keys, now);
    let from = "198.51.100.1".parse().unwrap();
    if let Admission::Admit(a) = g.admit(now, 0, from, data) {
        assert!(authentic);
        assert_eq!(a.target, from);
    }
    let creds = Credentials {
        key_id: "k".into(),
        secret: SECRET.to_vec(),
    };
    let pending = agent::request(&creds, 0, [0; 16], from, Vec::new()).unwrap();
    let _ = agent::accept(&creds, &pending, 0, Duration::from_secs(30), data);
});
