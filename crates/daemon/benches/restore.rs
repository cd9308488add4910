//! Restoring 100,000 bans at start-up, store side: reading them from SQLite and loading them into the
//! engine (the kernel side is `cargo run --release -p pbxguard-sys --example restore_bench`).
//!
//! Run: `cargo bench -p pbxguard-daemon --bench restore`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ipnet::{IpNet, Ipv4Net};
use pbxguard_config::Config;
use pbxguard_daemon::store::Store;
use pbxguard_engine::{Ban, Decision, Detector, Engine, Evidence, Timestamp};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let now = Timestamp::from_secs(1_700_000_000);
    let mut store = Store::open(&path).unwrap();
    let bans: Vec<Decision> = (0..100_000u32)
        .map(|i| {
            Decision::Ban(Ban {
                target: IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0A00_0000 + i), 32).unwrap()),
                at: now,
                until: now.plus(Duration::from_secs(3600)),
                detector: Detector::AuthFailures,
                evidence: Evidence {
                    count: 10,
                    threshold: 10,
                    window: Duration::from_secs(600),
                    sample_user: Some("1001".into()),
                    sample_user_agent: Some("friendly-scanner".into()),
                    detail: None,
                },
                offence: 1,
            })
        })
        .collect();
    let started = std::time::Instant::now();
    store.record(&bans).unwrap();
    eprintln!(
        "recording 100,000 bans in one transaction: {:?}",
        started.elapsed()
    );
    drop(store);
    let mut group = c.benchmark_group("restore");
    group.sample_size(10);
    group.bench_function("read_100k_bans_from_sqlite_and_load_the_engine", |b| {
        b.iter(|| {
            let store = Store::open(&path).unwrap();
            let active = store.restorable_bans(now).unwrap();
            assert_eq!(active.len(), 100_000);
            let mut engine = Engine::new(Config::default(), now);
            for (target, at, until, offence) in &active {
                engine.restore_ban(*target, *until, *offence, *at);
            }
            black_box(engine.is_banned(active[0].0.addr(), now))
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
