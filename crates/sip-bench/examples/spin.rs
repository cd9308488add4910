//! Parses one typical message N times; for `perf stat` / `perf record`, whose instruction
//! counts do not depend on how busy the machine is.
//!
//! `cargo run --release -p pbxguard-sip-bench --example spin -- register 1000000 [facts|facts_of]`
//!
//! `facts`: `validate()` and the accessors the guard reads ([`guard_facts`]); `facts_of`: the
//! one-pass `Facts::of_input` the guard uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use pbxguard_sip::facts::Facts;
use pbxguard_sip::{Header, Message};
use pbxguard_sip_bench::{TYPICAL, guard_facts};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map_or("register", String::as_str);
    let n: usize = args.get(2).map_or(1_000_000, |s| s.parse().expect("count"));
    let mode = args.get(3).map_or("", String::as_str);
    let (_, buf) = TYPICAL
        .iter()
        .find(|(k, _)| *k == name)
        .expect("message name");
    let start = std::time::Instant::now();
    let mut sum = 0usize;
    for _ in 0..n {
        let mut headers = [Header::EMPTY; 32];
        let m = Message::parse_datagram(black_box(buf), &mut headers).unwrap();
        sum += match mode {
            "facts" => guard_facts(&m),
            "facts_of" => Facts::of_input(&m, buf).anomalies.len(),
            _ => m.headers().len(),
        };
    }
    let el = start.elapsed();
    println!(
        "{name}: {:.1} ns/parse (sum {sum})",
        el.as_nanos() as f64 / n as f64
    );
}
