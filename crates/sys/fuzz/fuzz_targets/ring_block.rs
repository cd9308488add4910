//! TPACKET_V3 block parsing on arbitrary bytes (a corrupt ring must not crash the sensor).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxguard_sys::capture::frames_in_block;

fuzz_target!(|data: &[u8]| {
    for f in frames_in_block(data).take(10_000) {
        let _ = f.decode();
        assert!(f.network().len() <= f.data.len());
    }
});
