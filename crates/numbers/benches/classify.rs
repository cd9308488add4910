//! Classifications per second: dial-string normalisation plus destination classification, and the
//! policy decision on top, against a mix of national, international and internal strings.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pbxguard_numbers::policy::{CallAttempt, CallPolicy, PolicyConfig};
use pbxguard_numbers::{Classifier, Country, DialPlan, Timestamp};
use std::hint::black_box;

const DIALLED: &[&str] = &[
    "9 0121 234 5678",
    "9 07400 123456",
    "9 00 33 1 23 45 67 89",
    "9 00 1 201 555 0123",
    "9 0901 234 5678",
    "9 00 881 631234567",
    "+4930123456",
    "201",
    "999",
    "9 00 53 7 1234567",
];

fn bench(c: &mut Criterion) {
    let plan = DialPlan::new(Country::new("GB").unwrap()).with_outside_line("9");
    let classifier = Classifier::default();
    // Warm the metadata (lazily built on first use).
    let _ = classifier.classify(&plan, DIALLED[0]);
    let mut g = c.benchmark_group("numbers");
    g.throughput(Throughput::Elements(DIALLED.len() as u64));
    g.bench_function("normalise", |b| {
        b.iter(|| {
            for d in DIALLED {
                black_box(plan.normalise(black_box(d)));
            }
        });
    });
    g.bench_function("classify", |b| {
        b.iter(|| {
            for d in DIALLED {
                black_box(classifier.classify(&plan, black_box(d)));
            }
        });
    });
    let classified: Vec<_> = DIALLED
        .iter()
        .map(|d| classifier.classify(&plan, d))
        .collect();
    let policy = CallPolicy::new(PolicyConfig::default());
    let now = Timestamp::from_unix_secs(1_775_037_600);
    g.bench_function("policy_check_static", |b| {
        b.iter(|| {
            for c in &classified {
                let a = CallAttempt {
                    call_id: "x",
                    extension: Some("201"),
                    trunk: Some("t"),
                    destination: c,
                };
                let _ = black_box(policy.check_static(now, &a));
            }
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
