//! Any text as a dialled string (a SIP Request-URI user part, a CDR `dst`) and as a risk table:
//! normalising, classifying, judging and parsing never panic.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run dial -- -max_total_time=60`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxguard_numbers::policy::{CallAttempt, CallPolicy, PolicyConfig};
use pbxguard_numbers::{Classifier, Country, DialPlan, E164, RiskTable, Timestamp};

static CLASSIFIER: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let classifier = CLASSIFIER.get_or_init(Classifier::default);
    let mut policy = CallPolicy::new(PolicyConfig::default());
    for (cc, outside) in [(*b"US", Some("9")), (*b"GB", None), (*b"JP", Some("0"))] {
        let mut plan = DialPlan::new(Country::from_upper(cc));
        if let Some(o) = outside {
            plan = plan.with_outside_line(o);
        }
        let c = classifier.classify(&plan, text);
        let a = CallAttempt {
            call_id: text,
            extension: Some(text),
            trunk: Some(text),
            destination: &c,
        };
        let _ = policy.handle_attempt(Timestamp::from_unix_secs(1_775_037_600), &a);
    }
    let _ = E164::parse(text);
    let _ = RiskTable::parse(text);
});
