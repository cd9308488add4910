//! Parse the same bytes with pbxguard-sip, rsip and ezk-sip-types, in one run.
//!
//! `cargo bench -p pbxguard-sip-bench --features bench`
//!
//! Groups: `typical/<message>/<parser>` and `torture/<parser>` (all 61 RFC 4475/5118
//! messages per iteration). For pbxguard-sip, `pbxguard` is the parse alone (what the peers do
//! in one call) and `pbxguard_facts` adds `validate()` and every accessor the guard reads.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use pbxguard_sip_bench::TYPICAL;

mod peers;
use peers::PARSERS;

fn torture() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sip/tests/fixtures");
    let mut out = Vec::new();
    for sub in ["rfc4475", "rfc5118"] {
        let mut files: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "dat"))
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|p| std::fs::read(p).unwrap()));
    }
    assert_eq!(out.len(), 61);
    out
}

fn bench(c: &mut Criterion) {
    for (name, buf) in TYPICAL {
        let mut g = c.benchmark_group(format!("typical/{name}"));
        for (pname, f) in PARSERS {
            g.bench_function(pname, |b| b.iter(|| f(black_box(buf))));
        }
        g.finish();
    }
    let corpus = torture();
    let mut g = c.benchmark_group("torture");
    for (pname, f) in PARSERS {
        g.bench_function(pname, |b| {
            b.iter(|| corpus.iter().map(|m| f(black_box(m))).sum::<usize>())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
