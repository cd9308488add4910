//! Benchmark: restoring 100,000 bans into the kernel set, pbxguard's netlink batches against `nft -f` loading
//! the same elements, in a throwaway network namespace. Needs root.
//!
//! ```sh
//! cargo run --release -p pbxguard-sys --example restore_bench [-- RUNS]
//! ```
//!
//! Each run starts from an empty table (delete, ensure) and times only the load. Prints the median and the
//! spread for both, and their ratio.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use pbxguard_sys::netns;
use pbxguard_sys::nft::{Enforcer, Nft, Target};
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

const BANS: u32 = 100_000;

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if !root_or_skip("restore_bench") || !tools_or_skip("restore_bench", &["ip", "nft"]) {
        return;
    }
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(9);
    let ns = Netns::new("nbench").unwrap();
    let mut nft = Nft::open_in_netns(&netns::named(ns.name())).unwrap();
    let bans: Vec<(Target, Option<Duration>)> = (0..BANS)
        .map(|i| {
            let a = Ipv4Addr::from(0x0a00_0000 | i);
            (
                Target::V4(a),
                Some(Duration::from_secs(3600 + u64::from(i % 3600))),
            )
        })
        .collect();

    let mut ours = Vec::new();
    let mut listing = Vec::new();
    for _ in 0..runs {
        nft.delete_table().unwrap();
        nft.ensure_table().unwrap();
        let t = Instant::now();
        nft.ban(&bans).unwrap();
        ours.push(t.elapsed());
        let t = Instant::now();
        let n = nft.list_bans().unwrap().len();
        listing.push(t.elapsed());
        assert_eq!(n, BANS as usize);
    }

    // The peer: the nft tool loading the same elements from a file (what a script-based restore does).
    let mut file = String::with_capacity(BANS as usize * 40);
    file.push_str("add element inet pbxguard ban4 {\n");
    for (t, d) in &bans {
        let Target::V4(a) = t else { unreachable!() };
        writeln!(file, "{a} timeout {}s,", d.unwrap().as_secs()).unwrap();
    }
    file.push_str("}\n");
    let path = std::env::temp_dir().join(format!("pbxguard-bench-{}.nft", std::process::id()));
    std::fs::write(&path, file).unwrap();
    let mut peer = Vec::new();
    for _ in 0..runs.min(5) {
        nft.delete_table().unwrap();
        nft.ensure_table().unwrap();
        let t = Instant::now();
        ns.exec("nft", ["-f", path.to_str().unwrap()]).unwrap();
        peer.push(t.elapsed());
        assert_eq!(nft.list_bans().unwrap().len(), BANS as usize);
    }
    let _ = std::fs::remove_file(&path);
    nft.delete_table().unwrap();

    // One ban at a time, as the daemon applies a decision: the enforcer's share of ban latency.
    nft.delete_table().unwrap();
    nft.ensure_table().unwrap();
    let mut single: Vec<Duration> = (0..2000u32)
        .map(|i| {
            let one = [(
                Target::V4(Ipv4Addr::from(0x0a40_0000 + i)),
                Some(Duration::from_secs(600)),
            )];
            let t = Instant::now();
            nft.ban(&one).unwrap();
            t.elapsed()
        })
        .collect();
    assert_eq!(nft.list_bans().unwrap().len(), single.len());
    single.sort();
    let p99 = single[single.len() * 99 / 100];
    nft.delete_table().unwrap();

    let (mo, ml, mp) = (median(&mut ours), median(&mut listing), median(&mut peer));
    println!("restore {BANS} IPv4 bans with timeouts ({runs} runs, median [min..max]):");
    println!(
        "  pbxguard netlink batches: {:>8.1} ms  [{:.1}..{:.1}]",
        mo.as_secs_f64() * 1e3,
        ours[0].as_secs_f64() * 1e3,
        ours[ours.len() - 1].as_secs_f64() * 1e3
    );
    println!(
        "  nft -f (peer):            {:>8.1} ms  [{:.1}..{:.1}]",
        mp.as_secs_f64() * 1e3,
        peer[0].as_secs_f64() * 1e3,
        peer[peer.len() - 1].as_secs_f64() * 1e3
    );
    println!(
        "  ratio nft -f / pbxguard:  {:>8.1}x",
        mp.as_secs_f64() / mo.as_secs_f64()
    );
    println!(
        "list {BANS} bans with remaining timeouts: {:.1} ms median",
        ml.as_secs_f64() * 1e3
    );
    println!(
        "single ban (one acknowledged netlink transaction), {} samples: p50 {:.0} us, p99 {:.0} us, \
         max {:.0} us",
        single.len(),
        single[single.len() / 2].as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        single[single.len() - 1].as_secs_f64() * 1e6
    );
}
