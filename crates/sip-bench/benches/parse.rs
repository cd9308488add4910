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
use pbxguard_sip::{Header, Message};
use pbxguard_sip_bench::{TYPICAL, guard_facts};

fn ours(buf: &[u8]) -> usize {
    let mut headers = [Header::EMPTY; 64];
    match Message::parse_datagram(buf, &mut headers) {
        Ok(m) => m.headers().len() + m.body().len(),
        Err(_) => 0,
    }
}

fn ours_facts(buf: &[u8]) -> usize {
    let mut headers = [Header::EMPTY; 64];
    match Message::parse_datagram(buf, &mut headers) {
        Ok(m) => guard_facts(&m),
        Err(_) => 0,
    }
}

fn rsip(buf: &[u8]) -> usize {
    use rsip::prelude::HasHeaders;
    match rsip::SipMessage::try_from(buf) {
        Ok(m) => m.headers().iter().count() + m.body().len(),
        Err(_) => 0,
    }
}

/// ezk-sip-types has no single "parse a message" call (its transport layer assembles one from
/// these pieces); this is the same decode: line splitting, start line, header map, body.
fn ezk(buf: &[u8]) -> usize {
    use ezk_sip_types::Headers;
    use ezk_sip_types::header::typed::ContentLength;
    use ezk_sip_types::msg::{Line, MessageLine, PullParser};
    use ezk_sip_types::parse::Parse;

    let src = bytes::Bytes::copy_from_slice(buf);
    let mut parser = PullParser::new(&src, 0);
    let Some(Ok(first)) = parser.next() else {
        return 0;
    };
    let Ok(first) = std::str::from_utf8(first) else {
        return 0;
    };
    let Ok((_, _line)) = MessageLine::parse(&src)(first) else {
        return 0;
    };
    let mut headers = Headers::new();
    for line in &mut parser {
        let Ok(line) = line else { return 0 };
        let Ok(line) = std::str::from_utf8(line) else {
            return 0;
        };
        let Ok((_, Line { name, value })) = Line::parse(&src, line) else {
            return 0;
        };
        headers.insert(name, value);
    }
    let head_end = parser.head_end();
    let len = headers
        .get_named::<ContentLength>()
        .map_or(src.len() - head_end, |c| c.0);
    let body = src.slice(head_end..(head_end + len).min(src.len()));
    headers.iter().count() + body.len()
}

type Parser = (&'static str, fn(&[u8]) -> usize);

const PARSERS: [Parser; 4] = [
    ("pbxguard", ours),
    ("pbxguard_facts", ours_facts),
    ("rsip", rsip),
    ("ezk_sip_types", ezk),
];

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
