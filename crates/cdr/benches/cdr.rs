//! CDR rows per second: reading Master.csv (split, parse, times), and the full audit.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pbxguard_cdr::generate::{GeneratorConfig, Pattern, generate, site_audit_config};
use pbxguard_cdr::{Auditor, CdrReader, Format};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    // About 20,000 rows: a month of a 100-extension site with every fraud pattern.
    let g = generate(&GeneratorConfig {
        extensions: 100,
        inject: Pattern::ALL.to_vec(),
        ..GeneratorConfig::default()
    });
    let rows = g.csv.lines().count() as u64;
    let mut group = c.benchmark_group("cdr");
    group.throughput(Throughput::Elements(rows));
    group.bench_function("read_master_csv_utc", |b| {
        b.iter(|| {
            let n = CdrReader::new(
                black_box(g.csv.as_bytes()),
                Format::AsteriskMaster,
                chrono_tz::UTC,
            )
            .filter(Result::is_ok)
            .count();
            assert_eq!(n as u64, rows);
        });
    });
    group.bench_function("read_master_csv_london", |b| {
        b.iter(|| {
            CdrReader::new(
                black_box(g.csv.as_bytes()),
                Format::AsteriskMaster,
                chrono_tz::Europe::London,
            )
            .filter(Result::is_ok)
            .count()
        });
    });
    group.sample_size(10);
    group.bench_function("audit", |b| {
        b.iter(|| {
            let mut auditor = Auditor::new(site_audit_config());
            for rec in CdrReader::new(
                g.csv.as_bytes(),
                Format::AsteriskMaster,
                chrono_tz::Europe::London,
            )
            .flatten()
            {
                auditor.add(0, &rec);
            }
            black_box(auditor.finish().findings.len())
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
