//! How many packets per second one NFQUEUE sustains (needs root): a `sendmmsg` flood of SIP OPTIONS from
//! a namespace through the steering rule into one queue, judged by
//!
//! 1. `accept, batch 1`: an accept-all judge with one verdict message per packet (no batching),
//! 2. `accept, batch 64`: the same with batched verdicts (the default),
//! 3. `engine, batch 64`: the daemon's path, [`inline::serve`] with the pipeline and the engine (rate
//!    detector off so the flood is parsed and judged throughout, not skipped as banned).
//!
//! Reports per run: the sender's rate, packets judged, the judged rate (first to last judged packet), what
//! fail-open let through unjudged when the queue overflowed (sent − judged), and the kernel's queue drop
//! counters (0 with fail-open). Runs are in one process, one after the other, so the ratios compare like with like.
//!
//! ```sh
//! cargo bench -p pbxguard-daemon --bench inline_queue -- [--packets N]
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::net::UdpSocket;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pbxguard_config::Config;
use pbxguard_daemon::daemon::now;
use pbxguard_daemon::inline::{self, EngineVerdict, Inline, Sensor};
use pbxguard_daemon::pipeline::Pipeline;
use pbxguard_engine::{Engine, Verdict};
use pbxguard_sys::queue::reply::RawSender;
use pbxguard_sys::queue::steer::{SteerConfig, Steering};
use pbxguard_sys::queue::{Queue, QueueConfig, QueueVerdict, kernel_stats};
use pbxguard_sys::{loadgen, netns};
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

const PBX: &str = "10.81.0.1";
const ATK: &str = "10.81.0.2";
const QUEUE: u16 = 21;

const OPTIONS: &[u8] = b"OPTIONS sip:100@10.81.0.1 SIP/2.0\r\n\
    Via: SIP/2.0/UDP 10.81.0.2:5062;branch=z9hG4bK-bench;rport\r\n\
    Max-Forwards: 70\r\n\
    From: <sip:probe@10.81.0.2>;tag=bench\r\n\
    To: <sip:100@10.81.0.1>\r\n\
    Call-ID: bench@10.81.0.2\r\n\
    CSeq: 1 OPTIONS\r\n\
    User-Agent: Yealink SIP-T46S\r\n\
    Content-Length: 0\r\n\r\n";

/// The daemon's sensor path, without the nftables enforcer and the store.
struct EngineSensor(Pipeline);

impl Sensor for EngineSensor {
    fn inbound(&mut self, ip: &[u8], time: Duration) -> Verdict {
        self.0.ip_packet(ip, None, false, time)
    }
}

/// When the first and the last batch were judged (µs since the run began).
#[derive(Default)]
struct Span {
    first_us: AtomicU64,
    last_us: AtomicU64,
}

impl Span {
    fn touch(&self, base: Instant) {
        let us = base.elapsed().as_micros() as u64;
        let _ = self
            .first_us
            .compare_exchange(0, us, Ordering::Relaxed, Ordering::Relaxed);
        self.last_us.store(us, Ordering::Relaxed);
    }

    fn duration(&self) -> Duration {
        Duration::from_micros(
            self.last_us
                .load(Ordering::Relaxed)
                .saturating_sub(self.first_us.load(Ordering::Relaxed)),
        )
    }
}

enum Judge {
    AcceptAll { batch: usize },
    Engine,
}

fn run(name: &str, judge: Judge, packets: u64, pbx_ns: &Path, atk_ns: &Path) {
    // The PBX: a bound port, so that accepted datagrams are delivered rather than answered with ICMP.
    let _server = netns::run_in(pbx_ns, || UdpSocket::bind((PBX, 5060)))
        .unwrap()
        .unwrap();
    let mut config = QueueConfig::new(QUEUE);
    if let Judge::AcceptAll { batch } = judge {
        config.batch = batch;
    }
    let mut queue = netns::run_in(pbx_ns, || Queue::open(&config))
        .unwrap()
        .unwrap();
    let before = netns::run_in(pbx_ns, || kernel_stats(QUEUE))
        .unwrap()
        .unwrap_or_default();
    let stop = Arc::new(AtomicBool::new(false));
    let span = Arc::new(Span::default());
    let base = Instant::now();
    let sender = netns::run_in(pbx_ns, RawSender::open).unwrap().unwrap();
    // The engine is built before the flood starts, so its setup does not count against the queue.
    let sensor = matches!(judge, Judge::Engine).then(|| {
        let mut cfg = Config::from_toml("[rules.rate]\nenabled = false\n", "bench").unwrap();
        cfg.guard.sip_ports = vec![5060];
        Mutex::new(EngineSensor(Pipeline::new(
            Engine::new(cfg, now()),
            vec![5060],
        )))
    });
    let consumer = {
        let (stop, span) = (Arc::clone(&stop), Arc::clone(&span));
        std::thread::spawn(move || match judge {
            Judge::AcceptAll { .. } => {
                while !stop.load(Ordering::Relaxed) {
                    let n = queue
                        .process(Duration::from_millis(50), |_| QueueVerdict::Accept)
                        .unwrap();
                    if n > 0 {
                        span.touch(base);
                    }
                }
                (queue.stats(), None)
            }
            Judge::Engine => {
                let sensor = sensor.unwrap();
                let mut judge = Inline::new(EngineVerdict);
                // `serve` takes the lock once per batch, when its first packet has arrived.
                inline::serve(&mut queue, &sender, &mut judge, &stop, || {
                    span.touch(base);
                    sensor.lock().unwrap()
                })
                .unwrap();
                let engine = sensor.lock().unwrap().0.engine().stats();
                (queue.stats(), Some((judge.stats(), engine.bans)))
            }
        })
    };
    let client = netns::run_in(atk_ns, || UdpSocket::bind((ATK, 5062)))
        .unwrap()
        .unwrap();
    client.connect((PBX, 5060)).unwrap();
    let started = Instant::now();
    let sent = loadgen::send_copies(&client, OPTIONS, packets);
    let send_secs = started.elapsed().as_secs_f64();
    // Let the queue drain what is still waiting.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let (qstats, engine) = consumer.join().unwrap();
    let after = netns::run_in(pbx_ns, || kernel_stats(QUEUE))
        .unwrap()
        .unwrap_or_default();
    let judged = qstats.packets;
    let secs = span.duration().as_secs_f64().max(1e-9);
    if let Some((inline, bans)) = engine {
        println!("{name:<18} inline {inline:?}, engine bans {bans}");
    }
    println!(
        "{name:<18} sent {sent} at {:>8.0}/s | judged {judged} ({:.1}%) at {:>8.0}/s | {} verdict msgs in {} \
         batches | fail-open passed {} | kernel queue_dropped {}",
        sent as f64 / send_secs,
        100.0 * judged as f64 / sent.max(1) as f64,
        judged as f64 / secs,
        qstats.verdict_messages,
        qstats.batches,
        sent.saturating_sub(judged),
        after.queue_dropped.saturating_sub(before.queue_dropped)
            + after.user_dropped.saturating_sub(before.user_dropped),
    );
}

/// The engine path alone, on the same datagram held in memory: what the queue costs on top of it.
fn in_memory(packets: u64) {
    let mut cfg = Config::from_toml("[rules.rate]\nenabled = false\n", "bench").unwrap();
    cfg.guard.sip_ports = vec![5060];
    let mut sensor = EngineSensor(Pipeline::new(Engine::new(cfg, now()), vec![5060]));
    let mut judge = Inline::new(EngineVerdict);
    let mut ip = vec![0u8; 60 + OPTIONS.len()];
    let n = pbxguard_sys::queue::reply::build_udp(
        format!("{ATK}:5062").parse().unwrap(),
        format!("{PBX}:5060").parse().unwrap(),
        OPTIONS,
        &mut ip,
    )
    .unwrap();
    ip.truncate(n);
    let start = Instant::now();
    let time = Duration::from_secs(1_800_000_000);
    for _ in 0..packets {
        let v = sensor.inbound(std::hint::black_box(&ip), time);
        std::hint::black_box(judge.decide(&ip, v));
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:<18} judged {packets} at {:>8.0}/s (no queue, no kernel)",
        "engine, in memory",
        packets as f64 / secs
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let packets: u64 = args
        .iter()
        .position(|a| a == "--packets")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    if !root_or_skip("inline_queue benchmark")
        || !tools_or_skip("inline_queue benchmark", &["iptables"])
    {
        return;
    }
    let pbx = Netns::new("qbpbx").unwrap();
    let atk = Netns::new("qbatk").unwrap();
    pbx.link(&atk, &format!("{PBX}/24"), &format!("{ATK}/24"))
        .unwrap();
    let (pbx_ns, atk_ns) = (netns::named(pbx.name()), netns::named(atk.name()));
    let steering = netns::run_in(&pbx_ns, || {
        Steering::install(&SteerConfig {
            queue: QUEUE,
            ports: vec![5060],
        })
    })
    .unwrap()
    .unwrap();
    println!("one NFQUEUE, {packets} SIP OPTIONS per run from one sendmmsg sender over veth");
    for _ in 0..3 {
        in_memory(packets);
        run(
            "accept, batch 1",
            Judge::AcceptAll { batch: 1 },
            packets,
            &pbx_ns,
            &atk_ns,
        );
        run(
            "accept, batch 64",
            Judge::AcceptAll { batch: 64 },
            packets,
            &pbx_ns,
            &atk_ns,
        );
        run("engine, batch 64", Judge::Engine, packets, &pbx_ns, &atk_ns);
    }
    netns::run_in(&pbx_ns, move || steering.remove()).unwrap();
}
