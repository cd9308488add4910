//! Dial strings come from SIP Request-URIs and CDR files, both attacker-controlled: whatever they
//! hold, reading and classifying them never panics.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use pbxguard_numbers::{Classifier, Country, DialPlan, E164};

/// xorshift64*, seeded.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

#[test]
fn random_dial_strings_never_panic() {
    let pieces = [
        "0",
        "1",
        "9",
        "00",
        "011",
        "+",
        "*",
        "#",
        " ",
        "-",
        "(",
        ")",
        "@",
        ";",
        "sip:",
        "tel:",
        "ä",
        "\u{0}",
        "881",
        "1234567890",
        "x",
        "٣",
        "999",
        ".",
        "/",
        "++",
    ];
    let plans = [
        DialPlan::new(Country::new("US").unwrap()).with_outside_line("9"),
        DialPlan::new(Country::new("GB").unwrap()),
        DialPlan::new(Country::new("JP").unwrap()).with_outside_line("0"),
        DialPlan::new(Country::new("ZZ").unwrap()),
    ];
    let classifier = Classifier::default();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..3000 {
        let n = rng.below(12);
        let s: String = (0..n).map(|_| pieces[rng.below(pieces.len())]).collect();
        let plan = &plans[rng.below(plans.len())];
        let c = classifier.classify(plan, &s);
        let _ = c.risk();
        let _ = E164::parse(&s);
    }
    // Very long input.
    let long = "9".repeat(100_000);
    let _ = classifier.classify(&plans[0], &long);
}
