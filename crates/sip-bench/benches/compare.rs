//! Interleaved comparison: every parser runs a short batch in turn, round after round, so that
//! a change in machine load hits all of them alike; prints the minimum, median and 90th-percentile time
//! per message and each parser's ratio to the fastest peer.
//!
//! Each round also runs at another depth of the stack (64 placements, 80 bytes apart, over
//! 5 KiB): where the caller's header array and the parser's spills land relative to the
//! message (4 KiB aliasing of stores and loads) changes a parser's time by up to 10%, so a
//! single placement, fixed for a whole process by address randomisation, would decide the
//! result by chance. The median is over all placements alike.
//!
//! `cargo bench -p pbxguard-sip-bench --features bench --bench compare [-- ROUNDS]`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::time::Instant;

use pbxguard_sip_bench::TYPICAL;

mod peers;
use peers::PARSERS;

fn per_call_ns(f: fn(&[u8]) -> usize, buf: &[u8], iters: u32) -> f64 {
    let start = Instant::now();
    let mut sink = 0usize;
    for _ in 0..iters {
        sink = sink.wrapping_add(f(black_box(buf)));
    }
    black_box(sink);
    start.elapsed().as_nanos() as f64 / f64::from(iters)
}

/// Runs `f` with the stack `depth` frames of at least 64 bytes deeper.
#[inline(never)]
fn at_depth<R>(depth: usize, f: &mut dyn FnMut() -> R) -> R {
    if depth == 0 {
        return f();
    }
    let pad = black_box([0u8; 64]);
    let r = at_depth(depth - 1, f);
    black_box(&pad);
    r
}

/// Minimum, median and 90th percentile.
fn spread(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[0], v[v.len() / 2], v[v.len() * 9 / 10])
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    println!(
        "{:<14} {:<15} {:>10} {:>10} {:>10} {:>14}",
        "message", "parser", "min ns", "median ns", "p90 ns", "fastest peer /"
    );
    for (name, buf) in TYPICAL {
        for (pname, f) in PARSERS {
            if f(buf) == 0 {
                println!(
                    "{name:<14} {pname:<15} rejected the message (its timing is of a failure)"
                );
            }
        }
        // Batch sizes giving roughly 50 µs per batch for each parser.
        let iters: Vec<u32> = PARSERS
            .iter()
            .map(|(_, f)| {
                let t = per_call_ns(*f, buf, 200).max(1.0);
                ((50_000.0 / t) as u32).clamp(1, 100_000)
            })
            .collect();
        let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); PARSERS.len()];
        for round in 0..rounds {
            for (i, (_, f)) in PARSERS.iter().enumerate() {
                let t = at_depth(round % 64, &mut || per_call_ns(*f, buf, iters[i]));
                samples[i].push(t);
            }
        }
        let stats: Vec<(f64, f64, f64)> = samples.iter_mut().map(|s| spread(s)).collect();
        let fastest_peer = PARSERS
            .iter()
            .zip(&stats)
            .filter(|((p, _), _)| !p.starts_with("pbxguard"))
            .map(|(_, (_, med, _))| *med)
            .fold(f64::INFINITY, f64::min);
        for ((pname, _), (min, med, p90)) in PARSERS.iter().zip(&stats) {
            println!(
                "{name:<14} {pname:<15} {min:>10.0} {med:>10.0} {p90:>10.0} {:>13.1}x",
                fastest_peer / med
            );
        }
    }
}
