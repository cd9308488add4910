//! Parse the same bytes with pbxguard-sip, rsip and ezk-sip-types, in one run.
//!
//! `cargo bench -p pbxguard-sip-bench --features bench`
//!
//! Groups: `typical/<message>/<parser>` and `torture/<parser>` (all 61 RFC 4475/5118
//! messages per iteration). For pbxguard-sip, `pbxguard` is the parse alone (what the peers do
//! in one call) and `pbxguard_facts` adds `validate()` and every accessor the guard reads.
//! `scaling/headers_N` parses a request with N headers: time per header must not grow with N.

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

/// A request with `n` extra headers, for the scaling group: time per header must stay flat.
fn with_headers(n: usize) -> Vec<u8> {
    let mut m = b"OPTIONS sip:a@example.com SIP/2.0\r\n".to_vec();
    for i in 0..n {
        m.extend_from_slice(format!("X-Header-{i}: value {i}\r\n").as_bytes());
    }
    m.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    m
}

fn scaling(c: &mut Criterion) {
    use pbxguard_sip::{Header, Limits, Message};
    let limits = Limits {
        max_message_size: usize::MAX,
        max_headers: usize::MAX,
        max_line_length: usize::MAX,
    };
    let mut g = c.benchmark_group("scaling");
    for n in [60usize, 600, 6_000] {
        let buf = with_headers(n);
        let mut headers = vec![Header::EMPTY; n + 8];
        g.throughput(criterion::Throughput::Elements(n as u64));
        g.bench_function(format!("headers_{n}"), |b| {
            b.iter(|| {
                Message::parse_datagram_with(black_box(&buf), &mut headers, &limits)
                    .map_or(0, |m| m.headers().len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, scaling);
criterion_main!(benches);
