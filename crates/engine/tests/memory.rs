//! Bounded memory under a flood from a million spoofed sources, measured with a counting allocator
//! (alone in this test binary, so no other test's allocations are counted).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::alloc::System;

use cap::Cap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use pbxguard_config::Config;
use pbxguard_engine::{
    Decision, Detector, Engine, Event, Observation, Request, Response, Timestamp,
};

/// Counts live heap bytes; the limit set in the test makes any allocation beyond the bound fail (and the
/// test abort), so the bound holds at every instant, not only where the test samples it.
#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

#[test]
fn a_million_spoofed_sources_stay_under_the_memory_cap() {
    let cap = 100_000u32;
    let mut config = Config::default();
    config.limits.max_sources = cap;
    let mut now = Timestamp::from_millis(1_700_000_000_000);
    let base = ALLOC.allocated();
    ALLOC.set_limit(base + 256 * cap as usize).unwrap();
    let mut peak = 0;
    let mut engine = Engine::new(config, now);
    let options = Request {
        method: b"OPTIONS",
        user_agent: Some(b"Linphone/5.2"),
        cseq: 1,
        ..Request::default()
    };
    // A real brute forcer hides in the flood and must still be caught.
    let atk = IpAddr::V4(Ipv4Addr::new(198, 18, 255, 1));
    let mut banned = false;
    for i in 0..1_000_000u32 {
        let spoofed = IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + i));
        let _ = engine.handle(&Observation {
            time: now,
            peer: spoofed,
            event: Event::Request(options),
        });
        if i % 10_000 == 0 {
            let call_id = format!("c{i}");
            let req = Request {
                method: b"REGISTER",
                to_user: Some(b"1001"),
                credentials: Some(b"1001"),
                call_id: call_id.as_bytes(),
                cseq: 1,
                ..Request::default()
            };
            let _ = engine.handle(&Observation {
                time: now,
                peer: atk,
                event: Event::Request(req),
            });
            let resp = Response {
                status: 401,
                call_id: call_id.as_bytes(),
                cseq: 1,
                ..Response::default()
            };
            let _ = engine.handle(&Observation {
                time: now,
                peer: atk,
                event: Event::Response(resp),
            });
        }
        while let Some(d) = engine.poll_decision() {
            if let Decision::Ban(b) = d {
                banned |= b.target.contains(&atk) && b.detector == Detector::AuthFailures;
            }
        }
        if i % 1000 == 0 {
            now = now.plus(Duration::from_millis(10));
        }
        assert!(engine.tracked_sources() <= cap as usize);
        peak = peak.max(ALLOC.allocated() - base);
    }
    ALLOC.set_limit(usize::MAX).unwrap();
    let per_source = peak / cap as usize;
    eprintln!(
        "spoofed flood of 1,000,000 sources, cap {cap}: peak heap {peak} bytes ({per_source} bytes per tracked \
         source), {} evicted",
        engine.stats().evicted
    );
    assert!(banned, "the real attacker was lost in the flood");
    assert!(engine.stats().evicted > 800_000);
    assert!(per_source < 256, "{per_source} bytes per tracked source");
}
