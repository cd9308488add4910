//! Observations per second on a realistic mix: an office and remote workers registering and calling,
//! carriers' OPTIONS pings, and attackers (brute force, enumeration, a flood, scanners) at the same time.
//!
//! Run: `cargo bench -p pbxguard-engine --bench engine`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pbxguard_config::Config;
use pbxguard_engine::{Engine, Event, Observation, Request, Response, Timestamp};

/// An observation with owned bytes, so the benchmark measures the engine, not the generator.
struct Owned {
    dt_us: u64,
    peer: IpAddr,
    request: bool,
    method: &'static [u8],
    user: String,
    ua: &'static [u8],
    call_id: String,
    cseq: u32,
    credentials: bool,
    status: u16,
}

fn mix(n: usize) -> Vec<Owned> {
    let mut out = Vec::with_capacity(n);
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut call = 0u64;
    while out.len() < n {
        call += 1;
        let r = rnd() % 100;
        let (peer, method, user, ua, credentials, status): (
            IpAddr,
            &[u8],
            String,
            &[u8],
            bool,
            u16,
        ) = match r {
            // 40%: phones on 2,000 addresses registering with credentials, answered 200.
            0..40 => {
                let p = rnd() % 2000;
                (
                    IpAddr::V4(Ipv4Addr::from(0xC633_6400 + p as u32)),
                    b"REGISTER",
                    format!("{}", 1000 + p),
                    b"Yealink SIP-T46S",
                    true,
                    200,
                )
            }
            // 10%: their first, unauthenticated REGISTER, challenged.
            40..50 => {
                let p = rnd() % 2000;
                (
                    IpAddr::V4(Ipv4Addr::from(0xC633_6400 + p as u32)),
                    b"REGISTER",
                    format!("{}", 1000 + p),
                    b"Yealink SIP-T46S",
                    false,
                    401,
                )
            }
            // 10%: calls.
            50..60 => {
                let p = rnd() % 2000;
                (
                    IpAddr::V4(Ipv4Addr::from(0xC633_6400 + p as u32)),
                    b"INVITE",
                    format!("0044{}", rnd() % 1_000_000),
                    b"Grandstream GXP2170",
                    true,
                    100,
                )
            }
            // 10%: carriers' OPTIONS pings from 20 addresses.
            60..70 => (
                IpAddr::V4(Ipv4Addr::from(0xCB00_7100 + (rnd() % 20) as u32)),
                b"OPTIONS",
                String::new(),
                b"Carrier SBC",
                false,
                200,
            ),
            // 10%: brute force from 50 addresses.
            70..80 => (
                IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + (rnd() % 50) as u32)),
                b"REGISTER",
                "1001".to_owned(),
                b"Asterisk PBX",
                true,
                401,
            ),
            // 10%: enumeration from 50 addresses.
            80..90 => (
                IpAddr::V4(Ipv4Addr::from(0x0A01_0000 + (rnd() % 50) as u32)),
                b"REGISTER",
                format!("{}", rnd() % 10_000),
                b"",
                false,
                404,
            ),
            // 5%: a flood from 10,000 spoofed addresses.
            90..95 => (
                IpAddr::V4(Ipv4Addr::from(0x0B00_0000 + (rnd() % 10_000) as u32)),
                b"OPTIONS",
                String::new(),
                b"",
                false,
                0,
            ),
            // 5%: scanners.
            _ => (
                IpAddr::V4(Ipv4Addr::from(0x0C00_0000 + (rnd() % 1000) as u32)),
                b"OPTIONS",
                "100".to_owned(),
                b"friendly-scanner",
                false,
                0,
            ),
        };
        let call_id = format!("{call:x}@{peer}");
        out.push(Owned {
            dt_us: 20,
            peer,
            request: true,
            method,
            user: user.clone(),
            ua,
            call_id: call_id.clone(),
            cseq: 1,
            credentials,
            status,
        });
        if status != 0 {
            out.push(Owned {
                dt_us: 5,
                peer,
                request: false,
                method,
                user,
                ua,
                call_id,
                cseq: 1,
                credentials,
                status,
            });
        }
    }
    out.truncate(n);
    out
}

fn run(engine: &mut Engine, obs: &[Owned], mut now: Timestamp) -> Timestamp {
    for o in obs {
        now = Timestamp::from_millis(now.as_millis() + o.dt_us / 1000);
        let user = (!o.user.is_empty()).then_some(o.user.as_bytes());
        let event = if o.request {
            Event::Request(Request {
                method: o.method,
                to_user: user,
                from_user: user,
                uri_user: user,
                user_agent: (!o.ua.is_empty()).then_some(o.ua),
                call_id: o.call_id.as_bytes(),
                cseq: o.cseq,
                credentials: if o.credentials {
                    user.or(Some(b""))
                } else {
                    None
                },
                ..Request::default()
            })
        } else {
            Event::Response(Response {
                status: o.status,
                call_id: o.call_id.as_bytes(),
                cseq: o.cseq,
                to_user: user,
                stale: false,
            })
        };
        black_box(engine.handle(&Observation {
            time: now,
            peer: o.peer,
            event,
        }));
        while let Some(d) = engine.poll_decision() {
            black_box(d);
        }
    }
    engine.handle_timeout(now);
    now
}

fn is_legitimate(o: &Owned) -> bool {
    match o.peer {
        IpAddr::V4(v) => matches!(u32::from(v) >> 24, 0xC6 | 0xCB),
        IpAddr::V6(_) => false,
    }
}

fn bench(c: &mut Criterion) {
    let (legit, _): (Vec<Owned>, Vec<Owned>) = mix(200_000).into_iter().partition(is_legitimate);
    for (name, obs) in [("realistic_mix", mix(100_000)), ("legitimate_only", legit)] {
        let mut group = c.benchmark_group("engine");
        group.throughput(Throughput::Elements(obs.len() as u64));
        group.measurement_time(Duration::from_secs(8));
        group.bench_function(name, |b| {
            let mut now = Timestamp::from_secs(1_700_000_000);
            let mut engine = Engine::new(Config::default(), now);
            b.iter(|| {
                now = run(&mut engine, &obs, now);
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
