//! How long planning takes: the catalog load, site parsing (against a plain TOML parse of the same
//! text as the peer), building the plan, and each renderer.
//!
//! Run: `cargo bench -p pbxguard-firewall --bench plan`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pbxguard_firewall::{Catalog, EXAMPLE_SITE, Format, Plan, Site, render};

fn bench(c: &mut Criterion) {
    c.bench_function("catalog/builtin (9 files)", |b| {
        b.iter(|| Catalog::builtin().unwrap())
    });
    let catalog = Catalog::builtin().unwrap();

    let mut g = c.benchmark_group("site");
    g.bench_function("pbxguard Site::parse (syntax + meaning)", |b| {
        b.iter(|| Site::parse(black_box(EXAMPLE_SITE), &catalog).unwrap())
    });
    g.bench_function("peer: toml::Table parse (syntax only)", |b| {
        b.iter(|| black_box(EXAMPLE_SITE).parse::<toml::Table>().unwrap())
    });
    g.finish();

    let site = Site::parse(EXAMPLE_SITE, &catalog).unwrap();
    c.bench_function("plan/build", |b| {
        b.iter(|| Plan::build(black_box(&site), &catalog).unwrap())
    });
    let plan = Plan::build(&site, &catalog).unwrap();
    let mut g = c.benchmark_group("render");
    for (name, format) in Format::ALL {
        g.bench_function(*name, |b| b.iter(|| render(black_box(&plan), *format)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
