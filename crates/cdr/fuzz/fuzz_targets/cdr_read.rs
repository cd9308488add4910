//! Any bytes as a CDR file, in every format: reading never panics, and whatever is read goes
//! through the full audit without panicking.
//!
//! Seed the corpus with generated rows, e.g. from the crate's tests, then
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run cdr_read -- -max_total_time=60`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxguard_cdr::generate::site_audit_config;
use pbxguard_cdr::{Auditor, CdrReader, Format};

fuzz_target!(|data: &[u8]| {
    let formats = [
        Some(Format::AsteriskMaster),
        Some(Format::Freeswitch),
        Some(Format::FreeswitchAsterisk),
        Format::asterisk_custom("src,dst,start,answer,end,duration,billsec,disposition").ok(),
        Format::generic("src=a,dst=b,start=c,billsec=d,end=5").ok(),
    ];
    for format in formats.into_iter().flatten() {
        let mut auditor = Auditor::new(site_audit_config());
        for row in CdrReader::new(data, format, chrono_tz::Europe::London) {
            match row {
                Ok(rec) => auditor.add(0, &rec),
                Err(e) => auditor.add_error(0, e),
            }
        }
        let report = auditor.finish();
        let _ = report.suspicious_calls();
    }
});
