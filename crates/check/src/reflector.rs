//! The reflector's control service: receives authenticated probe requests over UDP, lets the
//! [`Gatekeeper`] decide, runs admitted probes against the requester's own address at a paced
//! rate, and answers with authenticated results.

use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pbxguard_probe::admission::{Admission, AdmissionStats, Gatekeeper, Keyring, Policy};
use pbxguard_probe::agent::results;
use pbxguard_probe::pacer::Pacer;
use pbxguard_probe::wire::{ProbeResult, ProbeSpec};

use crate::udp::DriverError;

/// Results larger than this are trimmed (evidence first) to fit one UDP datagram.
const MAX_RESULTS_BYTES: usize = 48_000;

/// How the control service runs.
#[derive(Debug, Clone)]
pub struct ReflectorConfig {
    /// The UDP address to receive requests on.
    pub control: SocketAddr,
    /// Shared secrets.
    pub keys: Keyring,
    /// Admission limits.
    pub policy: Policy,
    /// How long one probe waits for an answer.
    pub probe_timeout: Duration,
    /// Minimum time between the starts of two probes.
    pub probe_spacing: Duration,
    /// Most probes waiting for an answer at once (at least 1). Probes still start no faster than
    /// one per `probe_spacing`; running several at once only overlaps their waits.
    pub probes_in_flight: usize,
}

/// Milliseconds since the Unix epoch by the system clock.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A running control service; stopped and joined on drop.
pub struct Reflector {
    addr: SocketAddr,
    stats: Arc<Mutex<AdmissionStats>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Reflector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reflector")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Reflector {
    /// Binds the control socket and starts serving.
    ///
    /// # Errors
    ///
    /// [`DriverError::Bind`] when the control address cannot be bound.
    pub fn start(config: ReflectorConfig) -> Result<Reflector, DriverError> {
        let bind = |source| DriverError::Bind {
            addr: config.control,
            source,
        };
        let socket = UdpSocket::bind(config.control).map_err(bind)?;
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(bind)?;
        let addr = socket.local_addr().map_err(bind)?;
        let stats = Arc::new(Mutex::new(AdmissionStats::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stats = Arc::clone(&stats);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || serve(&socket, config, &stats, &stop))
        };
        Ok(Reflector {
            addr,
            stats,
            stop,
            thread: Some(thread),
        })
    }

    /// The control address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Admission decisions so far.
    pub fn stats(&self) -> AdmissionStats {
        self.stats.lock().map_or_else(|p| *p.into_inner(), |s| *s)
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    socket: &UdpSocket,
    config: ReflectorConfig,
    stats: &Mutex<AdmissionStats>,
    stop: &AtomicBool,
) {
    let mut gate = Gatekeeper::new(config.policy.clone(), config.keys.clone(), Instant::now());
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionRefused
                ) =>
            {
                continue;
            }
            Err(_) => return,
        };
        let Some(bytes) = buf.get(..n) else { continue };
        let decision = gate.admit(Instant::now(), unix_ms(), from.ip(), bytes);
        if let Ok(mut s) = stats.lock() {
            *s = gate.stats();
        }
        match decision {
            Admission::Drop(_) => {}
            Admission::Refuse { reply, .. } => {
                let _ = socket.send_to(&reply, from);
            }
            Admission::Admit(a) => {
                let mut out = run_paced(&a.target, &a.probes, &a.nonce, &config, stop);
                let per = MAX_RESULTS_BYTES / out.len().max(1);
                for r in &mut out {
                    r.evidence.truncate(per.saturating_sub(8));
                }
                let Some(secret) = config.keys.get(&a.key_id) else {
                    continue;
                };
                if let Ok(reply) = results(secret, &a.key_id, a.nonce, unix_ms(), out) {
                    let _ = socket.send_to(&reply, from);
                }
            }
        }
    }
}

/// Runs the probes of one admitted request against `target`: started in order, no faster than one
/// per `probe_spacing`, at most `probes_in_flight` waiting for answers at once. Results come back in
/// request order; a probe not started because the service is stopping is left out.
fn run_paced(
    target: &std::net::IpAddr,
    probes: &[ProbeSpec],
    nonce: &[u8; 16],
    config: &ReflectorConfig,
    stop: &AtomicBool,
) -> Vec<ProbeResult> {
    let mut pacer = Pacer::with_limit(config.probe_spacing, config.probes_in_flight);
    pacer.push(*target, probes);
    let (tx, rx) = mpsc::channel::<(usize, ProbeResult)>();
    // Longer than any probe can take (a TCP connect plus a read, each bounded by the timeout): a
    // probe thread that died instead of answering must not hold the service forever.
    let patience = config.probe_timeout * 4 + Duration::from_secs(2);
    let mut slots: Vec<Option<ProbeResult>> = vec![None; probes.len()];
    std::thread::scope(|scope| {
        let mut started = 0usize;
        let mut wait_for_one = |pacer: &mut Pacer| match rx.recv_timeout(patience) {
            Ok((i, r)) => {
                if let Some(slot) = slots.get_mut(i) {
                    *slot = Some(r);
                }
                pacer.handle_done();
                true
            }
            Err(_) => false,
        };
        while !pacer.is_empty() && !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if let Some((to, spec)) = pacer.poll_probe(now) {
                let (tx, index) = (tx.clone(), started);
                let timeout = config.probe_timeout;
                scope.spawn(move || {
                    let _ = tx.send((index, crate::probes::run(to, spec, nonce, timeout)));
                });
                started += 1;
            } else if let Some(until) = pacer.poll_timeout() {
                std::thread::sleep(until.saturating_duration_since(now));
            } else if !wait_for_one(&mut pacer) {
                // Every slot is taken and no probe reports back.
                break;
            }
        }
        while pacer.running() > 0 && wait_for_one(&mut pacer) {}
    });
    slots.into_iter().flatten().collect()
}
