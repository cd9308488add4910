//! `pbxguard run`: capture → pipeline → engine → nftables, store and API, until SIGTERM.
//!
//! Touches: AF_PACKET sockets on `[guard] interfaces` filtered to `[guard] sip_ports`; nftables table
//! `inet pbxguard` (and nothing else); in inline mode NFQUEUE `[guard] queue` and the iptables chain
//! `PBXGUARD_INLINE` (see [`crate::inline`]); the store in `[guard] state_dir`; the Unix socket `[guard] socket`.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufReader, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use ipnet::IpNet;
use pbxguard_config::{Config, GuardMode};
use pbxguard_engine::{CallPolicyReload, Decision, Engine, Timestamp, TrunkLoad, Verdict};
use pbxguard_numbers::guard::CallGuard;
use pbxguard_numbers::policy::{PolicyConfig, Reconfigured};
use pbxguard_sys::capture::{Capture, CaptureConfig, CaptureStats, Transports};
use pbxguard_sys::nft::{Cidr, DryRun, Enforcer, NetList, Nft, Target};
use pbxguard_sys::queue::reply::RawSender;
use pbxguard_sys::queue::steer::{SteerConfig, Steering};
use pbxguard_sys::queue::{Queue, QueueConfig};
use serde_json::json;

use crate::api::{self, ApiRequest, ApiResponse, Body};
use crate::inline::{self, EngineVerdict, Inline, InlineStats};
use crate::journal::JournalSensor;
use crate::logtail::LogSensor;
use crate::pipeline::{Pipeline, PipelineStats};
use crate::store::{Store, StoreWriter, evidence_json};

/// How the daemon was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration in force.
    pub config: Config,
    /// Where it came from, to re-read on SIGHUP (`None`: built-in defaults).
    pub config_path: Option<PathBuf>,
    /// Log what would be enforced instead of touching nftables.
    pub dry_run: bool,
    /// The call policy (toll-fraud defence), if one was given: refused calls raise alerts, and inline mode
    /// answers them 403.
    pub call_guard: Option<CallGuard>,
    /// Where the call policy came from, to re-read on SIGHUP (`None`: the policy in force stays).
    pub policy_source: Option<PolicySource>,
}

/// Reads the call policy file: the guard it describes, or every mistake in it, one line each, each naming
/// the file and the key (and the line, for a syntax error).
pub type PolicyLoader = dyn Fn() -> Result<CallGuard, Vec<String>> + Send + Sync;

/// The call policy file, for SIGHUP to read again the way the policy was read at start.
#[derive(Clone)]
pub struct PolicySource {
    path: PathBuf,
    load: Arc<PolicyLoader>,
}

impl PolicySource {
    /// The file at `path`, read by `load` (which applies whatever the command line added, such as
    /// `--country`).
    pub fn new(path: impl Into<PathBuf>, load: Arc<PolicyLoader>) -> Self {
        Self {
            path: path.into(),
            load,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and parses the file.
    ///
    /// # Errors
    ///
    /// Every mistake in the file, one line each; or that it cannot be read.
    pub fn load(&self) -> Result<CallGuard, Vec<String>> {
        (self.load)()
    }
}

impl fmt::Debug for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicySource")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The call policy's named trunks must be trunks of the configuration too: their addresses are never
/// banned (UDP sources can be spoofed), and none may be allow-listed, since the allow list exempts an
/// address from every check, the trunk's cap included. Checked at start and on every SIGHUP.
///
/// # Errors
///
/// Each address that breaks the rule, one line each, naming the policy key.
pub fn check_trunks(policy: &PolicyConfig, config: &Config) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    for trunk in &policy.trunks {
        for net in &trunk.networks {
            if !config.lists.trunks.iter().any(|t| t.contains(net)) {
                problems.push(format!(
                    "policy `trunks.{}.addresses`: {net} is not within [lists] trunks of the configuration \
                     (add it there: a trunk's addresses are never banned)",
                    trunk.name
                ));
            }
            if let Some(a) = config
                .lists
                .allow
                .iter()
                .find(|a| a.contains(net) || net.contains(*a))
            {
                problems.push(format!(
                    "policy `trunks.{}.addresses`: {net} overlaps [lists] allow {a}, which exempts it from \
                     every check, the trunk's cap included",
                    trunk.name
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Why the daemon could not start or had to stop.
#[derive(Debug)]
#[non_exhaustive]
pub enum DaemonError {
    /// No packet capture could be opened (usually: not root / no CAP_NET_RAW).
    CaptureUnavailable(String),
    /// A `[logs]` entry is invalid or its file cannot be opened.
    LogsUnavailable(String),
    /// The state store failed.
    Store(crate::store::StoreError),
    /// The TCP API's token file cannot be used.
    ApiTokenUnusable {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A socket of the control API cannot be created.
    SocketUnavailable {
        /// The path, or the TCP address.
        path: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// The kernel refused the nftables setup.
    Enforcer(String),
    /// Inline mode could not bind its queue, steer traffic into it, or open its reply socket.
    InlineUnavailable(String),
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::CaptureUnavailable(m) => write!(
                f,
                "cannot capture SIP traffic: {m} (run as root, or with CAP_NET_RAW and CAP_NET_ADMIN as the \
                 systemd unit in dist/ grants)"
            ),
            DaemonError::Store(e) => write!(f, "{e}"),
            DaemonError::LogsUnavailable(m) => write!(f, "cannot follow the PBX logs: {m}"),
            DaemonError::ApiTokenUnusable { path, reason } => {
                write!(f, "cannot use the TCP API token in {path}: {reason}")
            }
            DaemonError::SocketUnavailable { path, source } => {
                write!(f, "cannot create the control socket {path}: {source}")
            }
            DaemonError::Enforcer(m) => write!(f, "cannot set up nftables: {m}"),
            DaemonError::InlineUnavailable(m) => write!(f, "cannot start inline mode: {m}"),
        }
    }
}

impl std::error::Error for DaemonError {}

/// Wall-clock time as an engine timestamp.
pub fn now() -> Timestamp {
    Timestamp::from_unix(wall_clock())
}

fn cidr(net: &IpNet) -> Option<Cidr> {
    Cidr::new(net.network(), net.prefix_len()).ok()
}

fn target(net: &IpNet) -> Target {
    match net {
        IpNet::V4(v4) => Target::V4(v4.addr()),
        IpNet::V6(v6) if v6.prefix_len() == 128 => Target::V6(v6.addr()),
        IpNet::V6(v6) => Target::v6_net(v6.network(), v6.prefix_len()),
    }
}

/// Ban-to-kernel latencies in microseconds, for p50/p99 in status and metrics (a bounded ring).
#[derive(Debug, Default)]
struct Latencies {
    samples: Vec<u32>,
    next: usize,
}

impl Latencies {
    const CAP: usize = 4096;

    fn push(&mut self, us: u32) {
        if self.samples.len() < Self::CAP {
            self.samples.push(us);
        } else if let Some(slot) = self.samples.get_mut(self.next % Self::CAP) {
            *slot = us;
        }
        self.next = self.next.wrapping_add(1);
    }

    fn quantile(&self, q: f64) -> Option<u32> {
        let mut v = self.samples.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v.get(i).copied()
    }
}

/// Everything the capture loop and the API share.
struct Shared {
    pipeline: Pipeline,
    enforcer: Box<dyn Enforcer + Send>,
    enforcing: bool,
    /// Reads, and the runtime allow list; decisions and log positions go through `writer`.
    store: Store,
    /// Writes decisions and log positions off the capture thread.
    writer: StoreWriter,
    capture: CaptureStats,
    latencies: Latencies,
    /// Of `latencies`, the part the threshold-crossing packet spent in the capture ring before its block
    /// reached user space (the rest is the engine, the queue ahead of it, and the netlink round trip).
    ring_waits: Latencies,
    started: Instant,
    runtime_allow: Vec<IpNet>,
    /// The TCP API's bearer token, when the TCP API is on.
    api_token: Option<String>,
    base_config: Config,
    /// Inline mode's counters (`None` in capture mode).
    inline: Option<InlineStats>,
    /// Whether the capture thread runs at real-time priority.
    realtime: bool,
}

impl Shared {
    /// The configuration the engine runs with: the file's, plus the runtime allow list.
    fn effective_config(&self) -> Config {
        let mut c = self.base_config.clone();
        c.lists.allow.extend(self.runtime_allow.iter().copied());
        c
    }

    /// Puts the effective configuration (file plus runtime allow list) in force: in the engine, and the
    /// allow, trunk and block lists in the kernel. Bans and counters are kept.
    fn apply_config(&mut self) {
        let c = self.effective_config();
        let allow: Vec<Cidr> = c
            .lists
            .allow
            .iter()
            .chain(c.lists.trunks.iter())
            .filter_map(cidr)
            .collect();
        let block: Vec<Cidr> = c.lists.block.iter().filter_map(cidr).collect();
        if let Err(e) = self.enforcer.set_list(NetList::Allow, &allow) {
            tracing::error!("cannot load the allow list into nftables: {e}");
        }
        if let Err(e) = self.enforcer.set_list(NetList::Block, &block) {
            tracing::error!("cannot load the block list into nftables: {e}");
        }
        self.pipeline.engine_mut().reconfigure(c);
    }

    /// Applies queued decisions: kernel first (that is what stops packets), then the store.
    /// `crossing` times the packet that caused them, for the latency figures.
    fn apply(&mut self, crossing: Option<Crossing>) {
        let mut decisions = Vec::new();
        while let Some(d) = self.pipeline.engine_mut().poll_decision() {
            decisions.push(d);
        }
        if decisions.is_empty() {
            return;
        }
        let now_ms = now().as_millis();
        let bans: Vec<(Target, Option<Duration>)> = decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Ban(b) => Some((
                    target(&b.target),
                    Some(
                        Duration::from_millis(b.until.as_millis().saturating_sub(now_ms))
                            .max(Duration::from_secs(1)),
                    ),
                )),
                _ => None,
            })
            .collect();
        let unbans: Vec<Target> = decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Unban { target: t, .. } => Some(target(t)),
                _ => None,
            })
            .collect();
        if !bans.is_empty() {
            match self.enforcer.ban(&bans) {
                Ok(()) => {
                    if let Some(c) = crossing {
                        let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
                        self.latencies
                            .push(us(wall_clock().saturating_sub(c.captured)));
                        self.ring_waits
                            .push(us(c.handed_over.saturating_sub(c.captured)));
                    }
                }
                Err(e) => tracing::error!("nftables refused {} ban(s): {e}", bans.len()),
            }
        }
        if !unbans.is_empty()
            && let Err(e) = self.enforcer.unban(&unbans)
        {
            tracing::error!("nftables refused {} unban(s): {e}", unbans.len());
        }
        for d in &decisions {
            match d {
                Decision::Ban(b) => tracing::warn!(
                    target = %b.target, detector = %b.detector, offence = b.offence,
                    until_ms = b.until.as_millis(), "banned: {}", b.evidence
                ),
                Decision::Unban { target, reason, .. } => {
                    tracing::info!(%target, ?reason, "ban lifted")
                }
                Decision::Alert(a) => {
                    tracing::warn!(source = %a.source, detector = %a.detector, kind = ?a.kind, "alert: {}", a.evidence)
                }
                _ => {}
            }
        }
        self.writer.record(decisions);
    }
}

/// When the packet behind a decision was captured, and when it reached user space (both since the epoch).
#[derive(Debug, Clone, Copy)]
struct Crossing {
    captured: Duration,
    handed_over: Duration,
}

/// Wall-clock time since the Unix epoch, the clock capture timestamps use.
fn wall_clock() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

impl inline::Sensor for Shared {
    fn inbound(&mut self, ip: &[u8], time: Duration) -> Verdict {
        let verdict = self.pipeline.ip_packet(ip, None, false, time);
        self.apply(Some(Crossing {
            captured: time,
            handed_over: time,
        }));
        verdict
    }

    fn record(&mut self, stats: InlineStats) {
        self.inline = Some(stats);
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic elsewhere must not stop the guard: the state inside stays consistent per call.
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Restores the bans still in force from the store into the kernel and the engine. Returns how many.
fn restore(shared: &mut Shared) -> Result<usize, DaemonError> {
    let now = now();
    let bans = shared.store.active_bans(now).map_err(DaemonError::Store)?;
    let started = Instant::now();
    let kernel: Vec<(Target, Option<Duration>)> = bans
        .iter()
        .map(|b| {
            (
                target(&b.target),
                Some(Duration::from_millis(
                    b.until.as_millis().saturating_sub(now.as_millis()),
                )),
            )
        })
        .collect();
    shared
        .enforcer
        .ban(&kernel)
        .map_err(|e| DaemonError::Enforcer(e.to_string()))?;
    for b in &bans {
        shared
            .pipeline
            .engine_mut()
            .restore_ban(b.target, b.until, b.offence, b.at);
    }
    tracing::info!(
        "restored {} ban(s) from the store in {:?}",
        bans.len(),
        started.elapsed()
    );
    Ok(bans.len())
}

/// Runs the guard until `stop` is set (SIGTERM/SIGINT). `reload` (SIGHUP) re-reads the configuration.
///
/// # Errors
///
/// [`DaemonError`] when capture, the store, the socket or nftables cannot be set up.
pub fn run(
    opts: Options,
    stop: &Arc<AtomicBool>,
    reload: &Arc<AtomicBool>,
) -> Result<(), DaemonError> {
    let config = opts.config.clone();
    let guard = config.guard.clone();
    std::fs::create_dir_all(&guard.state_dir).map_err(|e| {
        DaemonError::Store(crate::store::StoreError::OpenFailed {
            path: guard.state_dir.clone(),
            source: rusqlite::Error::InvalidPath(PathBuf::from(format!(
                "{}: {e}",
                guard.state_dir
            ))),
        })
    })?;
    let db = Path::new(&guard.state_dir).join("pbxguard.db");
    let store = Store::open(&db).map_err(DaemonError::Store)?;
    let writer = StoreWriter::start(Store::open(&db).map_err(DaemonError::Store)?)
        .map_err(DaemonError::Store)?;

    let mut captures = open_captures(&guard.interfaces, &guard.sip_ports)?;
    let started_at = now();
    let saved = |source: &str| {
        let (text, saved_at) = store.log_position(source).ok().flatten()?;
        // Lines older than that say nothing about now: start at the end instead.
        let age =
            Duration::from_millis(started_at.as_millis().saturating_sub(saved_at.as_millis()));
        (age < RESUME_WITHIN).then_some(text)
    };
    let (mut log_sensors, mut journals) =
        open_log_sources(&config, |path| saved(path)?.parse().ok(), saved)?;
    for sensor in &log_sensors {
        tracing::info!("following PBX log {}", sensor.tail().path().display());
    }
    for j in &journals {
        tracing::info!(
            "following the journal of {}{}",
            j.unit(),
            if j.cursor().is_some() {
                " from where the guard stopped"
            } else {
                ""
            }
        );
    }
    let mut saved_positions: HashMap<String, String> = HashMap::new();

    let (enforcer, enforcing): (Box<dyn Enforcer + Send>, bool) = if opts.dry_run {
        tracing::warn!("dry run: decisions are logged and stored, nftables is not touched");
        (Box::new(DryRun::new()), false)
    } else {
        match Nft::open() {
            Ok(mut nft) => {
                nft.set_ipv6_prefix(config.bans.ipv6_prefix)
                    .map_err(|e| DaemonError::Enforcer(e.to_string()))?;
                nft.ensure_table()
                    .map_err(|e| DaemonError::Enforcer(e.to_string()))?;
                (Box::new(nft), true)
            }
            Err(e) => {
                tracing::warn!(
                    "OBSERVE-ONLY: cannot use nftables ({e}); attackers are detected and logged but NOT banned. \
                     Run as root or grant CAP_NET_ADMIN."
                );
                (Box::new(DryRun::new()), false)
            }
        }
    };

    let mut engine = Engine::new(config.clone(), now());
    engine.set_call_guard(opts.call_guard.clone());
    let runtime_allow = store.allow_list().map_err(DaemonError::Store)?;
    let api_token = if guard.api_listen.is_empty() {
        None
    } else {
        Some(read_api_token(&guard.api_token_file)?)
    };
    let mut shared = Shared {
        pipeline: Pipeline::new(engine, guard.sip_ports.clone()),
        enforcer,
        enforcing,
        store,
        writer,
        capture: CaptureStats::default(),
        latencies: Latencies::default(),
        ring_waits: Latencies::default(),
        started: Instant::now(),
        runtime_allow,
        api_token,
        base_config: config,
        inline: None,
        realtime: false,
    };
    shared.apply_config();
    restore(&mut shared)?;
    let shared = Arc::new(Mutex::new(shared));

    let socket = PathBuf::from(&guard.socket);
    if let Some(dir) = socket.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::remove_file(&socket);
    let listener =
        UnixListener::bind(&socket).map_err(|source| DaemonError::SocketUnavailable {
            path: socket.display().to_string(),
            source,
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| DaemonError::SocketUnavailable {
            path: socket.display().to_string(),
            source,
        })?;
    let mut api_threads = vec![spawn_api(
        listener,
        &socket.display().to_string(),
        &shared,
        stop,
    )?];
    for addr in &guard.api_listen {
        let unavailable = |source| DaemonError::SocketUnavailable {
            path: addr.to_string(),
            source,
        };
        let tcp = TcpListener::bind(addr).map_err(unavailable)?;
        tcp.set_nonblocking(true).map_err(unavailable)?;
        api_threads.push(spawn_api(tcp, &addr.to_string(), &shared, stop)?);
        tracing::info!("control API also on tcp://{addr} (bearer token required)");
    }

    let inline = if guard.mode == GuardMode::Inline && !opts.dry_run {
        Some(start_inline(guard.queue, &guard.sip_ports, &shared, stop)?)
    } else {
        if guard.mode == GuardMode::Inline {
            tracing::warn!("dry run: inline mode is off, nothing is queued");
        }
        None
    };
    tracing::info!(
        "guarding SIP ports {:?} on {}; control socket {}",
        guard.sip_ports,
        if guard.interfaces.is_empty() {
            "all interfaces".to_owned()
        } else {
            guard.interfaces.join(", ")
        },
        socket.display()
    );
    let realtime = guard.realtime_capture && capture_realtime();
    lock(&shared).realtime = realtime;
    let mut last_tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if reload.swap(false, Ordering::Relaxed) {
            reload_files(&opts, &shared);
        }
        // One wait over every ring: a quiet ring must not delay a busy one.
        if let Err(e) = Capture::wait_any(&captures, Duration::from_millis(100)) {
            tracing::error!("capture failed: {e}");
            std::thread::sleep(Duration::from_millis(100));
        }
        for cap in &mut captures {
            // What is ready now, a bounded number of blocks per ring and round so that no ring starves.
            for _ in 0..BLOCKS_PER_ROUND {
                let batch = match cap.next_batch(Duration::ZERO) {
                    Ok(Some(b)) => b,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!("capture failed: {e}");
                        break;
                    }
                };
                let handed_over = wall_clock();
                let mut s = lock(&shared);
                for frame in batch.frames() {
                    if inline.is_some()
                        && inline::queued(frame.network(), frame.outgoing, &guard.sip_ports)
                    {
                        continue;
                    }
                    s.pipeline.ip_packet(
                        frame.network(),
                        frame.vlan,
                        frame.outgoing,
                        frame.timestamp,
                    );
                    // Enforce at once: the ban must reach the kernel before the attacker's next packets.
                    s.apply(Some(Crossing {
                        captured: frame.timestamp,
                        handed_over,
                    }));
                }
            }
        }
        if !log_sensors.is_empty() || !journals.is_empty() {
            // Log lines say what packets cannot (TLS, WebSocket, the PBX's own verdicts).
            let mut s = lock(&shared);
            let t = now();
            let engine = s.pipeline.engine_mut();
            for sensor in &mut log_sensors {
                if let Err(e) = sensor.poll(t, |obs| {
                    let _ = engine.handle(obs);
                }) {
                    tracing::warn!("reading {}: {e}", sensor.tail().path().display());
                }
            }
            for j in &mut journals {
                j.poll(t, |obs| {
                    let _ = engine.handle(obs);
                });
            }
            s.apply(None);
        }
        if last_tick.elapsed() >= Duration::from_millis(200) {
            last_tick = Instant::now();
            let mut s = lock(&shared);
            let t = now();
            s.pipeline.engine_mut().handle_timeout(t);
            s.apply(None);
            s.pipeline.expire(Duration::from_millis(t.as_millis()));
            let mut total = CaptureStats::default();
            for cap in &mut captures {
                if let Ok(st) = cap.stats() {
                    total.packets += st.packets;
                    total.drops += st.drops;
                    total.ring_full += st.ring_full;
                }
            }
            s.capture = total;
            save_log_positions(&s.writer, &log_sensors, &journals, &mut saved_positions);
        }
    }
    save_log_positions(
        &lock(&shared).writer,
        &log_sensors,
        &journals,
        &mut saved_positions,
    );
    lock(&shared).writer.flush();
    tracing::info!("stopping: state is in the store; bans stay in the kernel until they expire");
    if let Some((thread, steering)) = inline {
        // Steering first: from then on nothing new is queued, and the queue unbinds when its thread ends.
        steering.remove();
        let _ = thread.join();
    }
    for t in api_threads {
        let _ = t.join();
    }
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

/// Opens the PBX log sources of `[logs]`: the files, and the units' journals. The Kamailio patterns are
/// parsed here, once for both kinds of sensor, so that a bad pattern is reported once; every mistake of
/// the section is reported together.
fn open_log_sources(
    config: &Config,
    file_resume: impl Fn(&str) -> Option<crate::logtail::Position>,
    journal_resume: impl Fn(&str) -> Option<String>,
) -> Result<(Vec<LogSensor>, Vec<JournalSensor>), DaemonError> {
    let (patterns, mut errors) = crate::logtail::kamailio_patterns(config);
    let files = LogSensor::from_config(config, &patterns, file_resume).unwrap_or_else(|e| {
        errors.extend(e);
        Vec::new()
    });
    let journals =
        JournalSensor::from_config(config, &patterns, journal_resume).unwrap_or_else(|e| {
            errors.extend(e);
            Vec::new()
        });
    if errors.is_empty() {
        Ok((files, journals))
    } else {
        Err(DaemonError::LogsUnavailable(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        ))
    }
}

/// Binds the queue, opens the reply socket, installs the steering rules, and starts the thread that
/// judges queued packets. The queue is bound before the rules exist so that no packet waits for a consumer
/// (with `--queue-bypass` it would pass unjudged anyway).
fn start_inline(
    num: u16,
    ports: &[u16],
    shared: &Arc<Mutex<Shared>>,
    stop: &Arc<AtomicBool>,
) -> Result<(std::thread::JoinHandle<()>, Steering), DaemonError> {
    let unavailable = |e: &dyn fmt::Display| DaemonError::InlineUnavailable(e.to_string());
    let mut queue = Queue::open(&QueueConfig::new(num)).map_err(|e| unavailable(&e))?;
    let sender = RawSender::open().map_err(|e| unavailable(&e))?;
    let steering = Steering::install(&SteerConfig {
        queue: num,
        ports: ports.to_vec(),
    })
    .map_err(|e| unavailable(&e))?;
    tracing::info!(
        "inline: UDP to SIP ports {ports:?} goes through NFQUEUE {num} (IPv6 {}); fail-open if this process \
         stops or falls behind",
        if steering.ipv6() {
            "too"
        } else {
            "not steered: no ip6tables"
        }
    );
    lock(shared).inline = Some(InlineStats::default());
    let shared = Arc::clone(shared);
    let stop = Arc::clone(stop);
    let thread = std::thread::Builder::new()
        .name("pbxguard-inline".into())
        .spawn(move || {
            let mut judge = Inline::new(EngineVerdict);
            if let Err(e) = inline::serve(&mut queue, &sender, &mut judge, &stop, || lock(&shared))
            {
                tracing::error!("inline: {e}; queued traffic now bypasses the guard");
            }
            tracing::info!("inline: {:?}; queue {:?}", judge.stats(), queue.stats());
        })
        .map_err(|e| unavailable(&e))?;
    Ok((thread, steering))
}

fn open_captures(interfaces: &[String], ports: &[u16]) -> Result<Vec<Capture>, DaemonError> {
    let names: Vec<Option<String>> = if interfaces.is_empty() {
        vec![None]
    } else {
        interfaces.iter().cloned().map(Some).collect()
    };
    let mut captures = Vec::with_capacity(names.len() * 2);
    for interface in names {
        for ring in RINGS {
            let cfg = CaptureConfig {
                interface: interface.clone(),
                ports: ports.to_vec(),
                ..ring()
            };
            let capture = Capture::open_with(&cfg).map_err(|e| {
                DaemonError::CaptureUnavailable(format!(
                    "{} ({:?}): {e}",
                    interface.as_deref().unwrap_or("all interfaces"),
                    cfg.transports
                ))
            })?;
            captures.push(capture);
        }
    }
    Ok(captures)
}

/// A log position saved longer ago than this is not resumed from: the file is read from its end.
const RESUME_WITHIN: Duration = Duration::from_secs(3600);

/// Saves where each log file and journal sensor stopped, for those that moved since the last save, so
/// that a restart reads what was logged while the guard was down, and nothing twice.
fn save_log_positions(
    writer: &StoreWriter,
    files: &[LogSensor],
    journals: &[JournalSensor],
    saved: &mut HashMap<String, String>,
) {
    let now_at = files
        .iter()
        .map(|f| {
            (
                f.tail().path().display().to_string(),
                f.tail().position().to_string(),
            )
        })
        .chain(
            journals
                .iter()
                .filter_map(|j| Some((j.source(), j.cursor()?.to_owned()))),
        );
    let changed: Vec<(String, String)> = now_at
        .filter(|(source, position)| saved.get(source) != Some(position))
        .collect();
    if changed.is_empty() {
        return;
    }
    saved.extend(changed.iter().cloned());
    writer.save_log_positions(now(), changed);
}

/// Puts the calling (capture) thread at real-time priority 1 when the host has CPUs to spare; says why
/// not otherwise. Returns whether it did.
fn capture_realtime() -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    if cpus < 2 {
        tracing::info!(
            "one CPU: the capture thread keeps normal priority so as not to starve the PBX"
        );
        return false;
    }
    match pbxguard_sys::sched::set_realtime(1) {
        Ok(()) => {
            tracing::info!("capture thread at real-time priority (SCHED_FIFO 1)");
            true
        }
        Err(e) => {
            tracing::warn!(
                "capture thread at normal priority ({e}); bans may lag by milliseconds under a flood. \
                 Grant CAP_SYS_NICE or LimitRTPRIO=1, or set [guard] realtime_capture = false"
            );
            false
        }
    }
}

/// Blocks taken from one ring before the others get their turn.
const BLOCKS_PER_ROUND: usize = 8;

/// The rings opened per interface. A block reaches user space when it is full or after the block timeout,
/// so the block size sets how long a packet waits under load: UDP, where floods come from, gets 32 KiB
/// blocks (about 90 flood datagrams; the threshold-crossing packet reached the engine 4x sooner at the
/// median than with 128 KiB in the lab flood), TCP keeps 128 KiB so that a coalesced (GRO) 64 KiB segment
/// fits one block. A UDP datagram larger than a block (possible only above a 32 KiB MTU, e.g. loopback) is
/// cut; IP fragments are captured one by one and reassembled.
const RINGS: [fn() -> CaptureConfig; 2] = [
    || CaptureConfig {
        transports: Transports::Udp,
        block_size: 32 << 10,
        block_count: 1024,
        block_timeout: Duration::from_millis(1),
        ..CaptureConfig::default()
    },
    || CaptureConfig {
        transports: Transports::Tcp,
        block_size: 128 << 10,
        block_count: 128,
        block_timeout: Duration::from_millis(1),
        ..CaptureConfig::default()
    },
];

/// SIGHUP: reads the configuration and the call policy file again and puts what is valid in force.
///
/// Each file is all or nothing: an invalid one is reported and what it set stays as it runs. The policy's
/// trunks are checked against the configuration that will be in force ([`check_trunks`]), so a policy
/// whose trunks the new configuration no longer lists is refused, and a configuration that would leave
/// the running policy's trunks unlisted is refused too.
fn reload_files(opts: &Options, shared: &Mutex<Shared>) {
    // Files are read before the lock is taken: the capture loop must not wait for the disk.
    let config = read_config(opts);
    let policy = opts.policy_source.as_ref().map(|src| (src, src.load()));
    let mut s = lock(shared);
    let guard = match policy {
        None => None,
        Some((src, Err(mistakes))) => {
            tracing::error!(
                "SIGHUP: the call policy {} is invalid, keeping the running policy:\n{}",
                src.path().display(),
                mistakes.join("\n")
            );
            None
        }
        Some((src, Ok(guard))) => {
            let against = config.as_ref().map_or(&s.base_config, |(c, _)| c);
            match check_trunks(guard.policy().config(), against) {
                Ok(()) => Some((src, guard)),
                Err(problems) => {
                    tracing::error!(
                        "SIGHUP: the call policy {} does not fit the configuration, keeping the running \
                         policy:\n{}",
                        src.path().display(),
                        problems.join("\n")
                    );
                    None
                }
            }
        }
    };
    if let Some((config, path)) = config {
        // With no new policy, the running one must still fit the new configuration.
        let running = match (&guard, s.pipeline.engine().call_guard()) {
            (None, Some(running)) => check_trunks(running.policy().config(), &config).err(),
            _ => None,
        };
        match running {
            Some(problems) => tracing::error!(
                "SIGHUP: {} does not fit the running call policy, keeping the running configuration:\n{}",
                path.display(),
                problems.join("\n")
            ),
            None => apply_reloaded_config(&mut s, config, path),
        }
    }
    if let Some((src, guard)) = guard {
        let path = src.path().display();
        match s.pipeline.engine_mut().reload_call_guard(guard) {
            CallPolicyReload::Unchanged => tracing::info!(
                "SIGHUP: the call policy {path} is unchanged; calls in progress and velocity windows kept"
            ),
            CallPolicyReload::Reconfigured(report) => log_policy_reload(src.path(), &report),
            _ => tracing::info!("SIGHUP: call policy loaded from {path}"),
        }
    }
}

/// Says what a changed call policy kept: every call in progress stays counted against its trunk by name,
/// except on trunks the new policy no longer names or caps; a lowered cap below a trunk's calls is a
/// warning, since that trunk refuses calls until enough of them end.
fn log_policy_reload(path: &Path, report: &Reconfigured) {
    let path = path.display();
    let trunks = if report.trunks.is_empty() {
        "no call in progress on a capped trunk".to_owned()
    } else {
        report
            .trunks
            .iter()
            .map(|t| format!("{}: {} of cap {}", t.name, t.calls, t.cap))
            .collect::<Vec<_>>()
            .join(", ")
    };
    tracing::info!(
        "SIGHUP: call policy reloaded from {path}; kept: {} calls in progress ({trunks}), per-extension \
         counts, velocity windows, bans, detector counters, refusals per trunk",
        report.calls
    );
    if !report.dropped.is_empty() {
        tracing::info!(
            "SIGHUP: trunks the call policy no longer names or caps; their calls stay tracked until they \
             end but count against no trunk: {}",
            report
                .dropped
                .iter()
                .map(|(trunk, n)| format!("{trunk}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for t in report.trunks.iter().filter(|t| t.over_cap()) {
        tracing::warn!(
            "SIGHUP: trunk {} has {} calls in progress, over its new cap of {}: its calls are refused \
             until enough of them end (none is cut)",
            t.name,
            t.calls,
            t.cap
        );
    }
}

/// The configuration file read again, with its path; `None` (reported) when there is none or it is
/// invalid.
fn read_config(opts: &Options) -> Option<(Config, &Path)> {
    let Some(path) = &opts.config_path else {
        tracing::info!("SIGHUP: running on built-in defaults, no configuration to reload");
        return None;
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(
                "SIGHUP: cannot read {}: {e}; keeping the running configuration",
                path.display()
            );
            return None;
        }
    };
    match Config::from_toml(&text, &path.display().to_string()) {
        Ok(config) => Some((config, path.as_path())),
        Err(e) => {
            tracing::error!(
                "SIGHUP: {} is invalid, keeping the running configuration:\n{e}",
                path.display()
            );
            None
        }
    }
}

/// Puts a re-read configuration in force; bans and counters are kept.
fn apply_reloaded_config(s: &mut Shared, config: Config, path: &Path) {
    if config.guard.api_listen != s.base_config.guard.api_listen {
        tracing::warn!("SIGHUP: a change of guard.api_listen takes effect on restart");
    }
    // The TCP listeners stay as started; while they run, the token is re-read.
    if s.api_token.is_some() {
        match read_api_token(&config.guard.api_token_file) {
            Ok(t) => s.api_token = Some(t),
            Err(e) => tracing::error!("SIGHUP: {e}; keeping the previous token"),
        }
    }
    s.base_config = config;
    s.apply_config();
    tracing::info!(
        "SIGHUP: configuration reloaded from {}; bans and counters kept",
        path.display()
    );
}

/// A listening socket of the control API.
trait ApiListener: Send + 'static {
    /// A connection.
    type Conn: Read + Write;
    /// Whether every request must carry the bearer token: on TCP, which any local user can reach; the
    /// Unix socket is guarded by its file permissions.
    const TOKEN_REQUIRED: bool;
    /// Accepts a connection (the listener is non-blocking) and makes it blocking with a read timeout.
    fn accept_conn(&self) -> std::io::Result<Self::Conn>;
}

/// Both kinds of listener accept alike: a blocking connection with a read timeout.
macro_rules! api_listener {
    ($listener:ty, $conn:ty, $token:expr) => {
        impl ApiListener for $listener {
            type Conn = $conn;
            const TOKEN_REQUIRED: bool = $token;
            fn accept_conn(&self) -> std::io::Result<$conn> {
                let (stream, _) = self.accept()?;
                stream.set_nonblocking(false)?;
                stream.set_read_timeout(Some(Duration::from_secs(5)))?;
                Ok(stream)
            }
        }
    };
}
api_listener!(UnixListener, UnixStream, false);
api_listener!(TcpListener, TcpStream, true);

/// Starts the thread that serves `listener`.
fn spawn_api<L: ApiListener>(
    listener: L,
    name: &str,
    shared: &Arc<Mutex<Shared>>,
    stop: &Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, DaemonError> {
    let (shared, stop) = (Arc::clone(shared), Arc::clone(stop));
    std::thread::Builder::new()
        .name("pbxguard-api".into())
        .spawn(move || serve_api(&listener, &shared, &stop))
        .map_err(|source| DaemonError::SocketUnavailable {
            path: name.to_owned(),
            source,
        })
}

fn serve_api<L: ApiListener>(listener: &L, shared: &Mutex<Shared>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept_conn() {
            Ok(mut stream) => {
                let resp = match api::read_request(&mut BufReader::new(&mut stream)) {
                    Ok(req) if L::TOKEN_REQUIRED && !authorized(&req, shared) => {
                        ApiResponse::error(401, "a valid `Authorization: Bearer TOKEN` is required")
                    }
                    Ok(req) => handle(&req, shared),
                    Err(e) => ApiResponse::error(400, e),
                };
                let _ = api::write_response(&mut stream, &resp);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => {
                tracing::error!("control API: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn authorized(req: &ApiRequest, shared: &Mutex<Shared>) -> bool {
    let s = lock(shared);
    s.api_token
        .as_deref()
        .is_some_and(|t| api::token_matches(req.bearer.as_deref(), t))
}

/// Shortest TCP API token accepted.
const MIN_TOKEN_LEN: usize = 32;

/// Reads the TCP API token: the file's first line, trimmed, at least [`MIN_TOKEN_LEN`] characters.
fn read_api_token(path: &str) -> Result<String, DaemonError> {
    let unusable = |reason: String| DaemonError::ApiTokenUnusable {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| unusable(e.to_string()))?;
    let token = text.lines().next().unwrap_or_default().trim();
    if token.len() < MIN_TOKEN_LEN {
        return Err(unusable(format!(
            "the token has {} characters, at least {MIN_TOKEN_LEN} are needed (e.g. `openssl rand -hex 32`)",
            token.len()
        )));
    }
    if let Ok(meta) = std::fs::metadata(path)
        && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0
    {
        tracing::warn!("{path} is readable by other users; `chmod 600 {path}`");
    }
    Ok(token.to_owned())
}

fn parse_addr(s: &str) -> Result<IpAddr, ApiResponse> {
    let s = api::decode_segment(s);
    let host = s.split('/').next().unwrap_or(&s);
    host.parse()
        .map_err(|_| ApiResponse::error(400, format!("`{s}` is not an IP address")))
}

fn parse_net(s: &str) -> Result<IpNet, ApiResponse> {
    let s = api::decode_segment(s);
    pbxguard_config::value::parse_network(&s).map_err(|e| ApiResponse::error(400, e))
}

fn handle(req: &ApiRequest, shared: &Mutex<Shared>) -> ApiResponse {
    let path = req.path.trim_end_matches('/');
    let result = match (req.method.as_str(), path) {
        ("GET", "/status") => Ok(status(&lock(shared))),
        ("GET", "/metrics") => Ok(ApiResponse {
            status: 200,
            body: Body::Text(metrics(&lock(shared))),
        }),
        ("GET", "/bans") => {
            // Most of the wait for the disk happens here, without holding the state the capture loop
            // needs; `bans` then waits only for what was queued in between.
            let flusher = lock(shared).writer.flusher();
            flusher.flush();
            Ok(bans(&lock(shared)))
        }
        ("POST", "/bans") => add_ban(req, &mut lock(shared)),
        ("GET", "/allow") => Ok(ApiResponse::json(
            200,
            json!(
                lock(shared)
                    .runtime_allow
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            ),
        )),
        ("POST", "/allow") => add_allow(req, &mut lock(shared)),
        ("DELETE", p) if p.starts_with("/bans/") => {
            remove_ban(p.trim_start_matches("/bans/"), &mut lock(shared))
        }
        ("DELETE", p) if p.starts_with("/allow/") => {
            remove_allow(p.trim_start_matches("/allow/"), &mut lock(shared))
        }
        (m, p) => Err(ApiResponse::error(404, format!("no endpoint {m} {p}"))),
    };
    result.unwrap_or_else(|e| e)
}

fn status(s: &Shared) -> ApiResponse {
    let e = s.pipeline.engine().stats();
    let p: PipelineStats = s.pipeline.stats();
    let now = now();
    ApiResponse::json(
        200,
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": s.started.elapsed().as_secs(),
            "enforcing": s.enforcing,
            "active_bans": s.pipeline.engine().active_bans(now).len(),
            "tracked_sources": s.pipeline.engine().tracked_sources(),
            "engine": { "observations": e.observations, "bans": e.bans, "alerts": e.alerts, "allowed": e.allowed, "dropped": e.dropped, "evicted": e.evicted },
            "pipeline": { "packets": p.packets, "banned_skipped": p.banned_skipped, "messages": p.messages, "not_sip": p.not_sip, "keepalives": p.keepalives, "undecodable": p.undecodable, "fragments": p.fragments, "streams_dropped": p.streams_dropped },
            "capture": { "packets": s.capture.packets, "kernel_drops": s.capture.drops, "ring_full": s.capture.ring_full },
            "inline": s.inline.map(|i| json!({ "packets": i.packets, "accepted": i.accepted, "dropped": i.dropped, "answered": i.answered, "answer_failed": i.answer_failed })),
            "ban_latency_us": { "p50": s.latencies.quantile(0.5), "p99": s.latencies.quantile(0.99), "samples": s.latencies.samples.len() },
            "capture_realtime": s.realtime,
            "ban_latency_ring_wait_us": { "p50": s.ring_waits.quantile(0.5), "p99": s.ring_waits.quantile(0.99) },
            "trunks": s.pipeline.engine().trunks().iter().map(|t| json!({
                "name": t.name, "calls": t.calls, "cap": t.cap, "refused": t.refused, "placed_over_cap": t.placed_over_cap,
            })).collect::<Vec<_>>(),
        }),
    )
}

fn metrics(s: &Shared) -> String {
    let e = s.pipeline.engine().stats();
    let p = s.pipeline.stats();
    let active = s.pipeline.engine().active_bans(now()).len();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        out.push_str(&format!("# HELP pbxguard_{name} {help}\n# TYPE pbxguard_{name} {kind}\npbxguard_{name} {value}\n"));
    };
    metric(
        "observations_total",
        "counter",
        "Observations handled by the engine.",
        e.observations.to_string(),
    );
    metric(
        "bans_total",
        "counter",
        "Bans decided by detectors.",
        e.bans.to_string(),
    );
    metric(
        "alerts_total",
        "counter",
        "Alerts raised.",
        e.alerts.to_string(),
    );
    metric(
        "inline_drops_total",
        "counter",
        "Packets the engine said to drop.",
        e.dropped.to_string(),
    );
    metric(
        "evicted_sources_total",
        "counter",
        "Sources evicted to stay within the memory bound.",
        e.evicted.to_string(),
    );
    metric(
        "tracked_sources",
        "gauge",
        "Sources tracked now.",
        s.pipeline.engine().tracked_sources().to_string(),
    );
    metric("active_bans", "gauge", "Bans in force.", active.to_string());
    metric(
        "packets_total",
        "counter",
        "Packets given to the sensor pipeline.",
        p.packets.to_string(),
    );
    metric(
        "sip_messages_total",
        "counter",
        "SIP messages parsed.",
        p.messages.to_string(),
    );
    metric(
        "not_sip_total",
        "counter",
        "Payloads that were not SIP.",
        p.not_sip.to_string(),
    );
    metric(
        "capture_kernel_drops_total",
        "counter",
        "Packets the kernel dropped because the capture ring was full.",
        s.capture.drops.to_string(),
    );
    metric(
        "enforcing",
        "gauge",
        "1 when bans reach nftables, 0 when observing only.",
        u8::from(s.enforcing).to_string(),
    );
    if let Some(i) = s.inline {
        metric(
            "inline_judged_total",
            "counter",
            "Datagrams judged in the inline queue.",
            i.packets.to_string(),
        );
        metric(
            "inline_queue_drops_total",
            "counter",
            "Datagrams the inline queue dropped (not counting those answered).",
            i.dropped.to_string(),
        );
        metric(
            "inline_answered_total",
            "counter",
            "Requests the inline queue dropped and answered with a final response.",
            i.answered.to_string(),
        );
    }
    if let Some(p99) = s.latencies.quantile(0.99) {
        metric(
            "ban_latency_p99_seconds",
            "gauge",
            "p99 time from the packet that crossed a threshold to the ban in the kernel set.",
            format!("{:.6}", f64::from(p99) / 1e6),
        );
    }
    let trunks = s.pipeline.engine().trunks();
    if !trunks.is_empty() {
        let mut labelled =
            |name: &str, kind: &str, help: &str, value: &dyn Fn(&TrunkLoad) -> Option<String>| {
                out.push_str(&format!(
                    "# HELP pbxguard_{name} {help}\n# TYPE pbxguard_{name} {kind}\n"
                ));
                for t in &trunks {
                    if let Some(v) = value(t) {
                        out.push_str(&format!(
                            "pbxguard_{name}{{trunk=\"{}\"}} {v}\n",
                            label_value(&t.name)
                        ));
                    }
                }
            };
        labelled(
            "trunk_calls",
            "gauge",
            "Calls in progress counted against the trunk's cap (call policy [trunks.NAME]).",
            &|t| Some(t.calls.to_string()),
        );
        labelled(
            "trunk_cap",
            "gauge",
            "The trunk's concurrent-call cap (trunks without one are not listed).",
            &|t| t.cap.map(|c| c.to_string()),
        );
        labelled(
            "trunk_refused_total",
            "counter",
            "Calls refused with 503 because the trunk was full.",
            &|t| Some(t.refused.to_string()),
        );
        labelled(
            "trunk_placed_over_cap_total",
            "counter",
            "Calls the PBX placed on the trunk while it was full.",
            &|t| Some(t.placed_over_cap.to_string()),
        );
    }
    out
}

/// A Prometheus label value, escaped (text exposition format: backslash, double quote, line feed).
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn bans(s: &Shared) -> ApiResponse {
    let now = now();
    // The evidence of a ban made a moment ago may still be on its way to the disk.
    s.writer.flush();
    let stored = s.store.active_bans(now).unwrap_or_default();
    let list: Vec<_> = s
        .pipeline
        .engine()
        .active_bans(now)
        .into_iter()
        .map(|(target, until, offence)| {
            let st = stored.iter().find(|b| b.target == target);
            json!({
                "target": target.to_string(),
                "until_ms": until.as_millis(),
                "remaining_secs": until.as_millis().saturating_sub(now.as_millis()) / 1000,
                "offence": offence,
                "detector": st.map(|b| b.detector.clone()),
                "evidence": st.map(|b| b.evidence.clone()),
            })
        })
        .collect();
    ApiResponse::json(200, json!(list))
}

fn body_str<'a>(req: &'a ApiRequest, key: &str) -> Option<&'a str> {
    req.body
        .as_ref()
        .and_then(|b| b.get(key))
        .and_then(|v| v.as_str())
}

fn add_ban(req: &ApiRequest, s: &mut Shared) -> Result<ApiResponse, ApiResponse> {
    let addr = parse_addr(
        body_str(req, "target").ok_or_else(|| ApiResponse::error(400, "missing \"target\""))?,
    )?;
    let secs = req
        .body
        .as_ref()
        .and_then(|b| b.get("duration_secs"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(3600);
    let reason = body_str(req, "reason").unwrap_or("");
    let ban = s
        .pipeline
        .engine_mut()
        .ban_manually(addr, now(), Duration::from_secs(secs), reason)
        .map_err(|e| ApiResponse::error(409, e))?;
    s.apply(None);
    Ok(ApiResponse::json(
        200,
        json!({ "banned": ban.target.to_string(), "until_ms": ban.until.as_millis(), "evidence": evidence_json(&ban.evidence) }),
    ))
}

fn remove_ban(seg: &str, s: &mut Shared) -> Result<ApiResponse, ApiResponse> {
    let addr = parse_addr(seg)?;
    let target = s
        .pipeline
        .engine_mut()
        .unban(addr, now())
        .map_err(|e| ApiResponse::error(404, e))?;
    s.apply(None);
    Ok(ApiResponse::json(
        200,
        json!({ "unbanned": target.to_string() }),
    ))
}

fn add_allow(req: &ApiRequest, s: &mut Shared) -> Result<ApiResponse, ApiResponse> {
    let net =
        parse_net(body_str(req, "net").ok_or_else(|| ApiResponse::error(400, "missing \"net\""))?)?;
    if net.prefix_len() == 0 {
        return Err(ApiResponse::error(
            400,
            format!("`{net}` allows the whole internet, which disables every ban"),
        ));
    }
    let note = body_str(req, "note").unwrap_or("");
    s.store
        .add_allow(net, now(), note)
        .map_err(|e| ApiResponse::error(500, e))?;
    if !s.runtime_allow.contains(&net) {
        s.runtime_allow.push(net);
    }
    s.apply_config();
    // Lift bans the new entry covers: the allow list wins.
    let covered: Vec<IpNet> = s
        .pipeline
        .engine()
        .active_bans(now())
        .into_iter()
        .map(|(t, _, _)| t)
        .filter(|t| net.contains(&t.addr()))
        .collect();
    for t in covered {
        let _ = s.pipeline.engine_mut().unban(t.addr(), now());
    }
    s.apply(None);
    Ok(ApiResponse::json(
        200,
        json!({ "allowed": net.to_string() }),
    ))
}

fn remove_allow(seg: &str, s: &mut Shared) -> Result<ApiResponse, ApiResponse> {
    let net = parse_net(seg)?;
    let removed = s
        .store
        .remove_allow(net)
        .map_err(|e| ApiResponse::error(500, e))?;
    if !removed {
        return Err(ApiResponse::error(
            404,
            format!("`{net}` is not on the runtime allow list"),
        ));
    }
    s.runtime_allow.retain(|n| *n != net);
    s.apply_config();
    Ok(ApiResponse::json(
        200,
        json!({ "removed": net.to_string() }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pbxguard_engine::{Event, Observation, Request};
    use pbxguard_numbers::policy::Trunk;
    use pbxguard_numbers::{Classifier, Country, DialPlan};

    const CARRIER: &str = "203.0.113.10";
    const TRUNKS: &str = "[lists]\ntrunks = [\"203.0.113.0/28\"]\n";

    /// A call guard for trunk `carrier` at `net` capped at `cap`, with `denied` prefixes refused.
    fn guard(net: &str, cap: u32, denied: &[&str]) -> CallGuard {
        let mut policy = PolicyConfig::default();
        policy.trunk_caps.insert("carrier".into(), cap);
        policy.trunks.push(Trunk {
            name: "carrier".into(),
            networks: vec![net.parse().unwrap()],
        });
        policy.denied_prefixes = denied.iter().map(|p| (*p).to_owned()).collect();
        let plan = DialPlan::new(Country::new("GB").unwrap()).with_outside_line("9");
        CallGuard::new(plan, Classifier::default(), policy)
    }

    /// What the policy file holds: what the loader of a [`PolicySource`] returns when read.
    type PolicyFile = Arc<Mutex<Result<CallGuard, Vec<String>>>>;

    /// The guard's shared state with the configuration `toml` (also written to a file in `dir`, for
    /// SIGHUP) and `policy` in force, the policy's source reading `file`.
    fn daemon(
        dir: &Path,
        toml: &str,
        policy: Option<CallGuard>,
    ) -> (Options, Mutex<Shared>, PolicyFile) {
        let path = dir.join("pbxguard.toml");
        std::fs::write(&path, toml).unwrap();
        let config = Config::from_toml(toml, "pbxguard.toml").unwrap();
        let file: PolicyFile = Arc::new(Mutex::new(Err(vec!["not written yet".into()])));
        let reader = Arc::clone(&file);
        let opts = Options {
            config: config.clone(),
            config_path: Some(path),
            dry_run: true,
            call_guard: policy.clone(),
            policy_source: Some(PolicySource::new(
                dir.join("policy.toml"),
                Arc::new(move || reader.lock().unwrap().clone()),
            )),
        };
        let mut engine = Engine::new(config.clone(), now());
        engine.set_call_guard(policy);
        let shared = Shared {
            pipeline: Pipeline::new(engine, vec![5060]),
            enforcer: Box::new(DryRun::new()),
            enforcing: false,
            store: Store::in_memory().unwrap(),
            writer: StoreWriter::start(Store::in_memory().unwrap()).unwrap(),
            capture: CaptureStats::default(),
            latencies: Latencies::default(),
            ring_waits: Latencies::default(),
            started: Instant::now(),
            runtime_allow: Vec::new(),
            api_token: None,
            base_config: config,
            inline: None,
            realtime: false,
        };
        (opts, Mutex::new(shared), file)
    }

    /// An initial INVITE from `peer` (the carrier offering a call, or a phone dialling `dialled`).
    fn invite(s: &Mutex<Shared>, peer: &str, call_id: &str, dialled: &str) -> Verdict {
        let req = Request {
            method: b"INVITE",
            from_user: Some(b"201"),
            credentials: Some(b"201"),
            uri_user: Some(dialled.as_bytes()),
            call_id: call_id.as_bytes(),
            cseq: 1,
            ..Request::default()
        };
        lock(s).pipeline.engine_mut().handle(&Observation {
            time: now(),
            peer: peer.parse().unwrap(),
            event: Event::Request(req),
        })
    }

    fn policy_in_force(s: &Mutex<Shared>) -> PolicyConfig {
        lock(s)
            .pipeline
            .engine()
            .call_guard()
            .unwrap()
            .policy()
            .config()
            .clone()
    }

    #[test]
    fn sighup_puts_a_changed_call_policy_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, s, file) = daemon(dir.path(), TRUNKS, Some(guard("203.0.113.0/28", 2, &[])));
        assert_eq!(
            invite(&s, "198.51.100.7", "x1", "90033123456789"),
            Verdict::Accept
        );
        assert_eq!(invite(&s, CARRIER, "in-1", "2001"), Verdict::Accept);
        *file.lock().unwrap() = Ok(guard("203.0.113.0/28", 1, &["+33"]));
        reload_files(&opts, &s);
        assert_eq!(
            invite(&s, "198.51.100.7", "x2", "90033123456789"),
            Verdict::Reject(403)
        );
        assert_eq!(policy_in_force(&s).trunk_caps.get("carrier"), Some(&1));
        assert_eq!(
            invite(&s, CARRIER, "in-2", "2001"),
            Verdict::Reject(503),
            "the call up before the reload still counts against the new cap"
        );
        assert_eq!(lock(&s).pipeline.engine().trunks()[0].calls, 1);
    }

    #[test]
    fn sighup_with_a_changed_policy_keeps_calls_in_progress() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, s, file) = daemon(dir.path(), TRUNKS, Some(guard("203.0.113.0/28", 2, &[])));
        assert_eq!(invite(&s, CARRIER, "in-1", "2001"), Verdict::Accept);
        assert_eq!(invite(&s, CARRIER, "in-2", "2001"), Verdict::Accept);
        // The same trunk and cap; London forbidden.
        *file.lock().unwrap() = Ok(guard("203.0.113.0/28", 2, &["+4420"]));
        reload_files(&opts, &s);
        assert_eq!(policy_in_force(&s).denied_prefixes, ["+4420"]);
        assert_eq!(invite(&s, CARRIER, "in-3", "2001"), Verdict::Reject(503));
        let trunks = lock(&s).pipeline.engine().trunks();
        assert_eq!((trunks[0].calls, trunks[0].refused), (2, 1));
    }

    #[test]
    fn sighup_with_the_same_policy_keeps_calls_in_progress() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, s, file) = daemon(dir.path(), TRUNKS, Some(guard("203.0.113.0/28", 1, &[])));
        assert_eq!(invite(&s, CARRIER, "in-1", "2001"), Verdict::Accept);
        *file.lock().unwrap() = Ok(guard("203.0.113.0/28", 1, &[]));
        reload_files(&opts, &s);
        assert_eq!(lock(&s).pipeline.engine().trunks()[0].calls, 1);
        assert_eq!(invite(&s, CARRIER, "in-2", "2001"), Verdict::Reject(503));
    }

    #[test]
    fn sighup_keeps_the_running_policy_when_the_file_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, s, file) = daemon(dir.path(), TRUNKS, Some(guard("203.0.113.0/28", 2, &[])));
        *file.lock().unwrap() = Err(vec![
            "policy.toml: `max_risk`: \"extreme\" is not low, medium or high".into(),
        ]);
        reload_files(&opts, &s);
        assert_eq!(policy_in_force(&s).trunk_caps.get("carrier"), Some(&2));
        // A trunk outside [lists] trunks is refused as at start.
        *file.lock().unwrap() = Ok(guard("192.0.2.0/28", 1, &[]));
        reload_files(&opts, &s);
        assert_eq!(
            policy_in_force(&s).trunks[0].networks,
            ["203.0.113.0/28".parse::<IpNet>().unwrap()]
        );
    }

    #[test]
    fn sighup_checks_the_policy_against_the_configuration_that_comes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, s, file) = daemon(dir.path(), TRUNKS, Some(guard("203.0.113.0/28", 2, &[])));
        let moved = "[lists]\ntrunks = [\"192.0.2.0/28\"]\n";
        std::fs::write(dir.path().join("pbxguard.toml"), moved).unwrap();
        // The configuration moves the trunk, the policy still has the old address: neither is applied.
        *file.lock().unwrap() = Ok(guard("203.0.113.0/28", 2, &[]));
        reload_files(&opts, &s);
        assert_eq!(
            lock(&s).base_config.lists.trunks,
            ["203.0.113.0/28".parse::<IpNet>().unwrap()]
        );
        // An invalid policy file does not let the configuration orphan the running policy's trunk.
        *file.lock().unwrap() = Err(vec!["policy.toml: TOML parse error at line 1".into()]);
        reload_files(&opts, &s);
        assert_eq!(
            lock(&s).base_config.lists.trunks,
            ["203.0.113.0/28".parse::<IpNet>().unwrap()]
        );
        // Both moved together: both in force.
        *file.lock().unwrap() = Ok(guard("192.0.2.0/28", 3, &[]));
        reload_files(&opts, &s);
        assert_eq!(
            lock(&s).base_config.lists.trunks,
            ["192.0.2.0/28".parse::<IpNet>().unwrap()]
        );
        assert_eq!(policy_in_force(&s).trunk_caps.get("carrier"), Some(&3));
        // A configuration change that leaves the policy alone still applies when the policy fits.
        let more = "[lists]\ntrunks = [\"192.0.2.0/28\"]\nallow = [\"198.51.100.0/24\"]\n";
        std::fs::write(dir.path().join("pbxguard.toml"), more).unwrap();
        *file.lock().unwrap() = Err(vec!["policy.toml: cannot read".into()]);
        reload_files(&opts, &s);
        assert_eq!(lock(&s).base_config.lists.allow.len(), 1);
    }

    #[test]
    fn status_and_metrics_show_calls_in_progress_per_trunk() {
        let dir = tempfile::tempdir().unwrap();
        let (_, s, _) = daemon(dir.path(), TRUNKS, Some(guard("203.0.113.0/28", 2, &[])));
        for id in ["in-1", "in-2"] {
            assert_eq!(invite(&s, CARRIER, id, "2001"), Verdict::Accept);
        }
        assert_eq!(invite(&s, CARRIER, "in-3", "2001"), Verdict::Reject(503));
        let Body::Json(v) = status(&lock(&s)).body else {
            panic!("status is JSON")
        };
        assert_eq!(
            v["trunks"],
            json!([{ "name": "carrier", "calls": 2, "cap": 2, "refused": 1, "placed_over_cap": 0 }])
        );
        let text = metrics(&lock(&s));
        for line in [
            "# TYPE pbxguard_trunk_calls gauge",
            "pbxguard_trunk_calls{trunk=\"carrier\"} 2",
            "pbxguard_trunk_cap{trunk=\"carrier\"} 2",
            "pbxguard_trunk_refused_total{trunk=\"carrier\"} 1",
            "pbxguard_trunk_placed_over_cap_total{trunk=\"carrier\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        // Without a policy: an empty list, and no trunk metrics.
        let (_, plain, _) = daemon(dir.path(), TRUNKS, None);
        let Body::Json(v) = status(&lock(&plain)).body else {
            panic!("status is JSON")
        };
        assert_eq!(v["trunks"], json!([]));
        assert!(!metrics(&lock(&plain)).contains("trunk"));
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn a_bad_kamailio_pattern_is_reported_once_with_a_file_and_a_journal_source() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("kamailio.log");
        std::fs::write(&log, "").unwrap();
        let mut config = Config::default();
        config.logs.files = vec![format!("kamailio:{}", log.display())];
        config.logs.journal = vec!["kamailio:kamailio.service".into()];
        config.logs.journal_directory = dir.path().display().to_string();
        config.logs.kamailio_patterns = vec![
            "auth_failed: auth failed for user {user} from {ip}:{port}".into(),
            "auth_failed: no address".into(),
        ];
        let Err(DaemonError::LogsUnavailable(message)) =
            open_log_sources(&config, |_| None, |_| None)
        else {
            panic!("a bad pattern must stop the start");
        };
        assert_eq!(message.matches("kamailio_patterns").count(), 1, "{message}");
        assert!(message.contains("`auth_failed: no address`"), "{message}");
        // Fixed, both kinds of sensor start with the patterns.
        config.logs.kamailio_patterns.truncate(1);
        if pbxguard_testlab::tools_or_skip("journal sources", &["journalctl"]) {
            let (files, journals) = open_log_sources(&config, |_| None, |_| None).unwrap();
            assert_eq!((files.len(), journals.len()), (1, 1));
        }
    }
}
