//! pbxguard's detection engine.
//!
//! Sensors feed [`Observation`]s (a parsed SIP message seen in either direction, or a PBX log event); the
//! engine keeps bounded per-source state and decides. Outputs are pulled: [`Engine::poll_decision`] for
//! bans, unbans and alerts; the [`Verdict`] returned by [`Engine::handle`] for the packet in hand; and
//! [`Engine::poll_timeout`] for the next time the caller must call [`Engine::handle_timeout`].
//!
//! The engine has no sockets, files, clock or threads. The daemon, `replay` and the tests run the same code,
//! and tests drive it with a virtual clock.
//!
//! # Detectors and the traps they avoid
//!
//! - A 401/407 challenge answered with credentials is the normal SIP handshake. Only a rejection of a
//!   request that carried credentials (matched by Call-ID and CSeq), or a PBX log line saying so, is a
//!   failure; a challenge that says `stale=true` is not.
//! - Failures are counted per source and per (source, user). A source that authenticated successfully is
//!   trusted: its thresholds are multiplied, and a single user failing behind it raises an alert instead of
//!   banning the address, so one misconfigured phone does not ban an office behind one NAT address.
//! - Allow-listed networks and trunks are never banned, whatever arrives (UDP sources can be spoofed).
//! - Memory is bounded: at most `max_sources` sources are tracked; beyond it the least suspicious state
//!   is evicted first, never the record of an active ban.

mod counter;
pub mod decision;
pub mod observation;
mod state;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::time::Duration;

use aho_corasick::AhoCorasick;
use ipnet::IpNet;
use pbxguard_config::Config;
use pbxguard_numbers::guard::CallGuard;
use pbxguard_numbers::policy::Reconfigured;

pub use decision::{Alert, AlertKind, Ban, Decision, Detector, Evidence, UnbanReason, Verdict};
pub use observation::{Event, LogEvent, Observation, Request, Response, Timestamp};

use counter::Tick;
use state::{Key, Source, Tables, Txn};

/// Why a manual operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManualError {
    /// The address is on the allow list (or is a trunk), which always wins.
    Protected {
        /// The list that protects it.
        list: &'static str,
    },
    /// There is no ban on that address.
    NotBanned,
}

impl std::fmt::Display for ManualError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManualError::Protected { list } => write!(
                f,
                "the address is on the {list} list, which is never banned"
            ),
            ManualError::NotBanned => f.write_str("the address is not banned"),
        }
    }
}

impl std::error::Error for ManualError {}

/// Counters for status pages and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Observations handled.
    pub observations: u64,
    /// Bans decided by detectors.
    pub bans: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Observations ignored because the source was allow-listed.
    pub allowed: u64,
    /// Packets dropped inline (banned, blocked, scanner, threshold crossed).
    pub dropped: u64,
    /// Sources evicted to stay within the memory bound.
    pub evicted: u64,
    /// Calls the call policy refused.
    pub rejected: u64,
}

/// The detection engine. See the crate documentation.
pub struct Engine {
    config: Config,
    epoch: Timestamp,
    scanners: Option<AhoCorasick>,
    lists: Lists,
    tables: Tables,
    decisions: VecDeque<Decision>,
    expiries: BinaryHeap<Reverse<(Timestamp, Key)>>,
    calls: Option<CallGuard>,
    /// Refusals per trunk name since the engine started, kept when the call policy is reloaded.
    trunk_refusals: HashMap<String, TrunkRefusals>,
    stats: Stats,
}

/// What a trunk's cap turned away, counted by the engine so that it outlives a call-policy reload.
#[derive(Debug, Clone, Copy, Default)]
struct TrunkRefusals {
    refused: u64,
    placed_over_cap: u64,
}

/// A named trunk of the call policy and its load, for status pages and metrics ([`Engine::trunks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkLoad {
    /// The trunk's name (`[trunks.NAME]` of the policy).
    pub name: String,
    /// Calls in progress counted against it.
    pub calls: u32,
    /// Its concurrent-call cap; `None`: no cap, and its calls are not counted.
    pub cap: Option<u32>,
    /// Calls refused with 503 because it was full (offered by its carrier, or placed by an extension when
    /// it is the policy's `outbound_trunk`), since the engine started.
    pub refused: u64,
    /// Calls the PBX placed on it while it was full (alerted: the PBX's own requests are not held back),
    /// since the engine started.
    pub placed_over_cap: u64,
}

/// What [`Engine::reload_call_guard`] did with the running call policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallPolicyReload {
    /// The new policy has the running one's dial plan and rules: nothing changed.
    Unchanged,
    /// There was no call policy: the new one is in force, with nothing counted yet.
    Installed,
    /// The new dial plan and rules are in force over the running state: calls in progress, per-extension
    /// counts and velocity windows are kept ([`CallPolicy::reconfigure`]), as are bans, detector state and
    /// the refusal counts per trunk.
    ///
    /// [`CallPolicy::reconfigure`]: pbxguard_numbers::policy::CallPolicy::reconfigure
    Reconfigured(Reconfigured),
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("sources", &self.tables.sources.len())
            .field("offenders", &self.tables.offenders.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Which list protects an address, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Allowed,
    Trunk,
    Blocked,
    Ordinary,
}

/// A list of networks as integer prefixes, checked on every observation.
#[derive(Debug, Clone, Default)]
struct NetList {
    /// (network bits, mask) over the IPv4-mapped IPv6 space, so one comparison serves both families.
    nets: Vec<(u128, u128)>,
}

impl NetList {
    fn new(list: &[IpNet]) -> Self {
        let nets = list
            .iter()
            .map(|n| {
                let (bits, len) = match n {
                    IpNet::V4(v4) => (
                        u128::from(v4.network().to_ipv6_mapped()),
                        96 + u32::from(v4.prefix_len()),
                    ),
                    IpNet::V6(v6) => (u128::from(v6.network()), u32::from(v6.prefix_len())),
                };
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len.min(128))
                };
                (bits & mask, mask)
            })
            .collect();
        Self { nets }
    }

    fn contains(&self, key: u128) -> bool {
        self.nets.iter().any(|(net, mask)| key & mask == *net)
    }
}

/// The allow, trunk and block lists, compiled.
#[derive(Debug, Clone, Default)]
struct Lists {
    allow: NetList,
    trunks: NetList,
    block: NetList,
}

impl Lists {
    fn new(c: &Config) -> Self {
        Self {
            allow: NetList::new(&c.lists.allow),
            trunks: NetList::new(&c.lists.trunks),
            block: NetList::new(&c.lists.block),
        }
    }
}

/// Turns an address into a map key: IPv4 (and IPv4-mapped IPv6) as is, IPv6 masked to the ban prefix.
fn key_of(addr: IpAddr, v6_prefix: u8) -> Key {
    match addr {
        IpAddr::V4(v4) => Key::from(IpAddr::V4(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Key::from(IpAddr::V4(v4)),
            None => {
                let bits = u128::from(v6);
                let mask = if v6_prefix >= 128 {
                    u128::MAX
                } else {
                    !(u128::MAX >> v6_prefix)
                };
                Key(bits & mask)
            }
        },
    }
}

impl Engine {
    /// Creates an engine. `now` anchors the engine's internal clock; later observations must not be much
    /// earlier than it (earlier ones count as happening at `now`).
    pub fn new(config: Config, now: Timestamp) -> Self {
        Self::with_hashing(config, now, foldhash::fast::SeedableRandomState::random())
    }

    /// As [`Engine::new`], but with the same table hashing in every process, so that an offline run
    /// (`pbxguard replay`) gives the same result every time. A daemon facing the network keeps the
    /// random keys of [`Engine::new`]: with fixed ones an attacker could aim spoofed sources at one set
    /// of the source table.
    pub fn new_reproducible(config: Config, now: Timestamp) -> Self {
        Self::with_hashing(config, now, foldhash::fast::SeedableRandomState::fixed())
    }

    fn with_hashing(
        config: Config,
        now: Timestamp,
        hasher: foldhash::fast::SeedableRandomState,
    ) -> Self {
        let scanners = Self::build_scanners(&config);
        let tables = Tables::new(&config, hasher);
        Self {
            lists: Lists::new(&config),
            config,
            epoch: now,
            scanners,
            tables,
            decisions: VecDeque::new(),
            expiries: BinaryHeap::new(),
            calls: None,
            trunk_refusals: HashMap::new(),
            stats: Stats::default(),
        }
    }

    fn build_scanners(config: &Config) -> Option<AhoCorasick> {
        let patterns = &config.rules.scanner.user_agents;
        if patterns.is_empty() {
            return None;
        }
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(patterns)
            .ok()
    }

    /// Puts a call policy in front of the PBX (toll-fraud defence). `None` removes it.
    ///
    /// - Every initial INVITE from a source that is neither a trunk of the `[lists]` nor at the address of
    ///   one of the policy's named trunks is a call placed by an extension: the number policy decides, and
    ///   a refused call gets [`Verdict::Reject`]`(403)` and an alert. When the policy names the
    ///   `outbound_trunk`, an outside call counts against it from this INVITE on, and a full trunk gets
    ///   [`Verdict::Reject`]`(503)`.
    /// - An initial INVITE from a named trunk's address is a call the carrier offers: only the trunk's
    ///   concurrent-call cap applies; past it the call gets [`Verdict::Reject`]`(503)` and an alert.
    /// - An initial INVITE the PBX sends to a named trunk's address ([`Event::PbxRequest`]) counts against
    ///   the trunk; past its cap an [`AlertKind::TrunkOverCap`] alert is raised.
    ///
    /// Calls end on BYE or CANCEL from either side, on a final failure response (the PBX's to the caller,
    /// or a carrier's to the PBX), or after the policy's call timeout when the BYE was lost.
    pub fn set_call_guard(&mut self, guard: Option<CallGuard>) {
        self.calls = guard;
    }

    /// Puts the dial plan and rules of `guard` in force (SIGHUP). The running call guard keeps its state
    /// and its classifier (which comes with the build, not with the policy file); it is only left alone
    /// when nothing changed. Without a running call guard, `guard` is put in force as it is.
    pub fn reload_call_guard(&mut self, guard: CallGuard) -> CallPolicyReload {
        let Some(running) = &mut self.calls else {
            self.calls = Some(guard);
            return CallPolicyReload::Installed;
        };
        if running.plan() == guard.plan() && running.policy().config() == guard.policy().config() {
            return CallPolicyReload::Unchanged;
        }
        CallPolicyReload::Reconfigured(
            running.reconfigure(guard.plan().clone(), guard.policy().config().clone()),
        )
    }

    /// The call policy in force, if any.
    pub fn call_guard(&self) -> Option<&CallGuard> {
        self.calls.as_ref()
    }

    /// The call policy's named trunks (`[trunks.NAME]`), in its order, with their calls in progress, caps
    /// and refusals. Empty without a call policy.
    pub fn trunks(&self) -> Vec<TrunkLoad> {
        let Some(calls) = &self.calls else {
            return Vec::new();
        };
        policy_trunks(calls)
            .map(|name| {
                let refusals = self.trunk_refusals.get(name).copied().unwrap_or_default();
                TrunkLoad {
                    name: name.to_owned(),
                    calls: calls.policy().active_on_trunk(name),
                    cap: calls.policy().trunk_cap(name),
                    refused: refusals.refused,
                    placed_over_cap: refusals.placed_over_cap,
                }
            })
            .collect()
    }

    /// Counts a refusal against `trunk`. Names come from the policy file, so the map stays small.
    fn count_refusal(&mut self, trunk: &str, f: impl FnOnce(&mut TrunkRefusals)) {
        match self.trunk_refusals.get_mut(trunk) {
            Some(r) => f(r),
            None => {
                let mut r = TrunkRefusals::default();
                f(&mut r);
                self.trunk_refusals.insert(trunk.to_owned(), r);
            }
        }
    }

    /// Replaces the configuration (SIGHUP) and keeps all state: bans, counters, trust.
    pub fn reconfigure(&mut self, config: Config) {
        self.scanners = Self::build_scanners(&config);
        self.lists = Lists::new(&config);
        self.tables.resize(&config);
        self.config = config;
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters since the engine started.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Sources tracked now.
    pub fn tracked_sources(&self) -> usize {
        self.tables.sources.len()
    }

    /// An estimate of the heap memory the engine's tables hold, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.tables.memory_bytes()
            + self.expiries.capacity() * std::mem::size_of::<Reverse<(Timestamp, Key)>>()
    }

    fn tick(&self, t: Timestamp) -> Tick {
        u32::try_from(t.as_millis().saturating_sub(self.epoch.as_millis()) / 100)
            .unwrap_or(u32::MAX)
    }

    fn ticks(d: Duration) -> Tick {
        u32::try_from(d.as_millis() / 100)
            .unwrap_or(u32::MAX)
            .max(1)
    }

    fn standing(&self, addr: IpAddr) -> Standing {
        let bits = match addr {
            IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => u128::from(v6),
        };
        let lists = &self.lists;
        if lists.allow.contains(bits) {
            Standing::Allowed
        } else if lists.trunks.contains(bits) {
            Standing::Trunk
        } else if lists.block.contains(bits) {
            Standing::Blocked
        } else {
            Standing::Ordinary
        }
    }

    fn target_of(&self, key: Key) -> IpNet {
        key.to_net(self.config.bans.ipv6_prefix)
    }

    /// Whether `addr` is under an active ban at `now`.
    pub fn is_banned(&self, addr: IpAddr, now: Timestamp) -> bool {
        let key = key_of(addr, self.config.bans.ipv6_prefix);
        self.tables
            .offenders
            .get(&key)
            .is_some_and(|o| o.banned_until > now)
    }

    /// Handles one observation and returns the verdict for the packet it came from. Decisions it causes
    /// are queued for [`Engine::poll_decision`].
    pub fn handle(&mut self, obs: &Observation<'_>) -> Verdict {
        self.stats.observations += 1;
        let standing = self.standing(obs.peer);
        match standing {
            Standing::Allowed => {
                self.stats.allowed += 1;
                return Verdict::Accept;
            }
            Standing::Blocked => return self.drop_if_inbound(obs),
            Standing::Trunk | Standing::Ordinary => {}
        }
        let key = key_of(obs.peer, self.config.bans.ipv6_prefix);
        if self
            .tables
            .offenders
            .get(&key)
            .is_some_and(|o| o.banned_until > obs.time)
        {
            return self.drop_if_inbound(obs);
        }
        let now = self.tick(obs.time);
        let fired = match &obs.event {
            Event::Request(req) => self.on_request(key, now, obs.time, req),
            Event::Response(resp) => {
                self.on_response(key, now, obs.time, resp);
                None
            }
            Event::PeerResponse { .. } => self.on_packet(key, now, obs.time, 0),
            Event::PbxRequest(_) => None,
            Event::Unparseable => self.on_packet(key, now, obs.time, 1),
            Event::Log(ev) => self.on_log(key, now, obs.time, ev),
        };
        let Some((detector, evidence)) = fired else {
            return self.on_call_event(key, obs, standing);
        };
        if standing == Standing::Trunk {
            self.alert(
                key,
                obs.time,
                detector,
                AlertKind::TrunkMisbehaving,
                evidence,
            );
            return Verdict::Accept;
        }
        self.ban(key, obs.time, detector, evidence);
        self.drop_if_inbound(obs)
    }

    /// The call policy's share of an observation that no detector acted on.
    ///
    /// A call counts against a trunk when its initial INVITE comes from the trunk's address (a carrier
    /// offers a call: only the trunk's cap applies, and inline mode refuses it with 503 when the trunk is
    /// full) or when the PBX sends it to the trunk's address (the PBX places a call: always counted, an
    /// alert when the trunk was full, since the PBX's own packets are not held). Calls placed by other
    /// sources (extensions) get the number policy. A call ends on BYE or CANCEL from either side, on a
    /// final failure from whichever side answers, or after the policy's call timeout.
    fn on_call_event(&mut self, key: Key, obs: &Observation<'_>, standing: Standing) -> Verdict {
        let Some(calls) = &self.calls else {
            return Verdict::Accept;
        };
        match (&obs.event, standing) {
            (Event::Request(req), _) if calls.trunk_at(obs.peer).is_some() => {
                self.offer_from_trunk(key, obs, req)
            }
            (Event::Request(req), Standing::Ordinary) => self.police_call(key, obs.time, req),
            (Event::Request(req), _) => {
                self.track_call(obs.time, req);
                Verdict::Accept
            }
            (Event::PbxRequest(req), _) => {
                self.pbx_request(key, obs, req);
                Verdict::Accept
            }
            (Event::Response(resp), _) => {
                self.final_response(obs.time, resp.call_id, Some(resp.cseq), resp.status);
                Verdict::Accept
            }
            // A carrier's answer to a call the PBX placed on its trunk; phones' answers to the PBX's own
            // requests do not end calls (a forking PBX hears several).
            (
                Event::PeerResponse {
                    status,
                    call_id,
                    cseq,
                },
                _,
            ) if calls.trunk_at(obs.peer).is_some() => {
                self.final_response(obs.time, call_id, Some(*cseq), *status);
                Verdict::Accept
            }
            _ => Verdict::Accept,
        }
    }

    fn final_response(&mut self, at: Timestamp, call_id: &[u8], cseq: Option<u32>, status: u16) {
        if let Some(calls) = &mut self.calls {
            let call_id = String::from_utf8_lossy(call_id);
            match cseq {
                Some(n) => calls.handle_response(numbers_time(at), &call_id, n, status),
                None => calls.handle_final_response(numbers_time(at), &call_id, status),
            }
        }
    }

    /// A request from a trunk's address: an initial INVITE is an offered call, checked against the trunk's
    /// cap only; the rest is call bookkeeping.
    fn offer_from_trunk(&mut self, key: Key, obs: &Observation<'_>, req: &Request<'_>) -> Verdict {
        if !req.method.eq_ignore_ascii_case(b"INVITE") || req.to_tag {
            self.track_call(obs.time, req);
            return Verdict::Accept;
        }
        let Some(calls) = &mut self.calls else {
            return Verdict::Accept;
        };
        let Some(trunk) = calls.trunk_at(obs.peer).map(str::to_owned) else {
            return Verdict::Accept;
        };
        let call_id = String::from_utf8_lossy(req.call_id);
        let verdict = calls.handle_trunk_offer(numbers_time(obs.time), &call_id, &trunk);
        let Some(violation) = verdict.violation() else {
            calls.note_invite_cseq(&call_id, req.cseq);
            return Verdict::Accept;
        };
        let evidence = Evidence {
            count: calls.policy().active_on_trunk(&trunk),
            threshold: calls.policy().trunk_cap(&trunk).unwrap_or(0),
            sample_user: req
                .from_user
                .map(|u| String::from_utf8_lossy(u).into_owned()),
            detail: Some(format!("call offered by trunk {trunk}: {violation}")),
            ..Evidence::default()
        };
        self.alert(
            key,
            obs.time,
            Detector::CallPolicy,
            AlertKind::CallRefused,
            evidence,
        );
        self.stats.rejected += 1;
        self.count_refusal(&trunk, |r| r.refused += 1);
        // 503 (RFC 3261 §21.5.4): the trunk is busy now, the call is not forbidden; without Retry-After
        // the carrier may try another route for this call and keeps sending us the next ones.
        Verdict::Reject(503)
    }

    /// A request the PBX sent: its initial INVITE to a trunk's address counts against the trunk; BYE,
    /// CANCEL and in-dialog requests are call bookkeeping.
    fn pbx_request(&mut self, key: Key, obs: &Observation<'_>, req: &Request<'_>) {
        if !req.method.eq_ignore_ascii_case(b"INVITE") || req.to_tag {
            self.track_call(obs.time, req);
            return;
        }
        let Some(calls) = &mut self.calls else { return };
        let Some(trunk) = calls.trunk_at(obs.peer).map(str::to_owned) else {
            return;
        };
        let call_id = String::from_utf8_lossy(req.call_id);
        let over = calls.handle_trunk_leg(numbers_time(obs.time), &call_id, &trunk);
        calls.note_invite_cseq(&call_id, req.cseq);
        let Some(violation) = over else {
            return;
        };
        let evidence = Evidence {
            count: calls.policy().active_on_trunk(&trunk),
            threshold: calls.policy().trunk_cap(&trunk).unwrap_or(0),
            sample_user: req
                .from_user
                .map(|u| String::from_utf8_lossy(u).into_owned()),
            detail: Some(format!(
                "call placed by the PBX on trunk {trunk}: {violation}"
            )),
            ..Evidence::default()
        };
        self.alert(
            key,
            obs.time,
            Detector::CallPolicy,
            AlertKind::TrunkOverCap,
            evidence,
        );
        self.count_refusal(&trunk, |r| r.placed_over_cap += 1);
    }

    /// Call bookkeeping for BYE, CANCEL and in-dialog requests (concurrent-call caps).
    fn track_call(&mut self, at: Timestamp, req: &Request<'_>) {
        let Some(calls) = &mut self.calls else { return };
        let call_id = String::from_utf8_lossy(req.call_id);
        let now = numbers_time(at);
        let invite = req.method.eq_ignore_ascii_case(b"INVITE");
        if req.method.eq_ignore_ascii_case(b"BYE") || req.method.eq_ignore_ascii_case(b"CANCEL") {
            calls.handle_bye(now, &call_id);
        } else if (!invite || req.to_tag) && !req.method.eq_ignore_ascii_case(b"ACK") {
            // In-dialog traffic, a re-INVITE included: the call is alive.
            calls.handle_in_dialog(now, &call_id);
        }
    }

    /// The call policy for a request from an ordinary source: initial INVITEs are decided, the rest tracked.
    fn police_call(&mut self, key: Key, at: Timestamp, req: &Request<'_>) -> Verdict {
        if self.calls.is_none() {
            return Verdict::Accept;
        }
        if !req.method.eq_ignore_ascii_case(b"INVITE") || req.to_tag {
            self.track_call(at, req);
            return Verdict::Accept;
        }
        let Some(calls) = &mut self.calls else {
            return Verdict::Accept;
        };
        let call_id = String::from_utf8_lossy(req.call_id);
        let extension = req
            .credentials
            .filter(|c| !c.is_empty())
            .or(req.from_user)
            .map(|e| String::from_utf8_lossy(e).into_owned());
        let dialled = String::from_utf8_lossy(req.uri_user.unwrap_or_default()).into_owned();
        // Outside calls count against the trunk the PBX sends them to, when the policy names it.
        let trunk = calls.policy().config().outbound_trunk.clone();
        let (_, verdict) = calls.handle_invite(
            numbers_time(at),
            &call_id,
            extension.as_deref(),
            trunk.as_deref(),
            &dialled,
        );
        let Some(violation) = verdict.violation() else {
            calls.note_invite_cseq(&call_id, req.cseq);
            return Verdict::Accept;
        };
        // A full trunk is busy now (RFC 3261 §21.5.4); every other rule forbids the call.
        let full = violation.rule == pbxguard_numbers::policy::Rule::TrunkConcurrency;
        let status = if full { 503 } else { 403 };
        let evidence = Evidence {
            count: 1,
            threshold: 1,
            window: Duration::ZERO,
            sample_user: extension,
            sample_user_agent: req
                .user_agent
                .map(|u| String::from_utf8_lossy(u).into_owned()),
            detail: Some(format!("{dialled}: {violation}")),
        };
        self.alert(
            key,
            at,
            Detector::CallPolicy,
            AlertKind::CallRefused,
            evidence,
        );
        self.stats.rejected += 1;
        if let Some(trunk) = trunk.as_deref().filter(|_| full) {
            self.count_refusal(trunk, |r| r.refused += 1);
        }
        Verdict::Reject(status)
    }

    fn drop_if_inbound(&mut self, obs: &Observation<'_>) -> Verdict {
        match obs.event {
            Event::Request(_) | Event::PeerResponse { .. } | Event::Unparseable => {
                self.stats.dropped += 1;
                Verdict::Drop
            }
            // The PBX's own messages and log lines are not packets from the peer.
            Event::Response(_) | Event::PbxRequest(_) | Event::Log(_) => Verdict::Accept,
        }
    }

    fn source(&mut self, key: Key, now: Tick) -> &mut Source {
        let src = self
            .tables
            .source(key, now, &self.config, &mut self.stats.evicted);
        src.last_seen = now;
        src
    }

    /// Thresholds of a source, raised if it is trusted.
    fn scaled(&self, base: u32, trusted: bool) -> u32 {
        if trusted {
            base.saturating_mul(self.config.trust.threshold_factor)
        } else {
            base
        }
    }

    fn evidence(src: &Source, count: u32, threshold: u32, window: Duration) -> Evidence {
        Evidence {
            count,
            threshold,
            window,
            sample_user: src.sample_user.get(),
            sample_user_agent: src.sample_ua.get(),
            detail: None,
        }
    }

    /// Counts a packet from the peer toward the rate detectors; `anomalies` > 0 also toward malformed.
    fn on_packet(
        &mut self,
        key: Key,
        now: Tick,
        _at: Timestamp,
        anomalies: u32,
    ) -> Option<(Detector, Evidence)> {
        let (src, config) = self.source_and_config(key, now);
        Self::count_packet(src, config, now, anomalies)
    }

    /// The state of `key` (created if new, marked seen now) beside the configuration, so a caller can
    /// read the rules while it holds the one lookup.
    fn source_and_config(&mut self, key: Key, now: Tick) -> (&mut Source, &Config) {
        let src = self
            .tables
            .source(key, now, &self.config, &mut self.stats.evicted);
        src.last_seen = now;
        (src, &self.config)
    }

    /// The rate and malformation detectors for one packet of `src`.
    fn count_packet(
        src: &mut Source,
        config: &Config,
        now: Tick,
        anomalies: u32,
    ) -> Option<(Detector, Evidence)> {
        let rate = &config.rules.rate;
        let malformed = &config.rules.malformed;
        let factor = config.trust.threshold_factor;
        let trusted = src.is_trusted(now);
        if rate.enabled {
            let w2 = Self::ticks(rate.level2_window);
            let limit2 = Self::rate_limit(rate.level2_rate, rate.level2_window);
            let n2 = src.rate2.add(now, w2, 1);
            if n2 >= limit2 {
                return Some((
                    Detector::RateLevel2,
                    Self::evidence(src, n2, limit2, rate.level2_window),
                ));
            }
            let w1 = Self::ticks(rate.level1_window);
            let limit1 = Self::rate_limit(rate.level1_rate, rate.level1_window);
            let n1 = src.rate1.add(now, w1, 1);
            if n1 >= limit1 && !trusted {
                return Some((
                    Detector::RateLevel1,
                    Self::evidence(src, n1, limit1, rate.level1_window),
                ));
            }
            if rate.unknown_max_packets > 0 && !src.ever_trusted {
                let wu = Self::ticks(rate.unknown_window);
                let nu = src.unknown.add(now, wu, 1);
                if nu > rate.unknown_max_packets {
                    return Some((
                        Detector::UnknownSource,
                        Self::evidence(src, nu, rate.unknown_max_packets, rate.unknown_window),
                    ));
                }
            }
        }
        if anomalies > 0 && malformed.enabled {
            let limit = if trusted {
                malformed.max_anomalies.saturating_mul(factor)
            } else {
                malformed.max_anomalies
            };
            let n = src.malformed.add(now, Self::ticks(malformed.window), 1);
            if n >= limit {
                return Some((
                    Detector::Malformed,
                    Self::evidence(src, n, limit, malformed.window),
                ));
            }
        }
        None
    }

    /// Packets allowed in a rate window: rate × window, at least 1.
    fn rate_limit(rate: u32, window: Duration) -> u32 {
        let n = u64::from(rate) * u64::try_from(window.as_millis()).unwrap_or(u64::MAX) / 1000;
        u32::try_from(n).unwrap_or(u32::MAX).max(1)
    }

    fn is_scanner(scanners: Option<&AhoCorasick>, haystacks: &[Option<&[u8]>]) -> bool {
        let Some(ac) = scanners else {
            return false;
        };
        haystacks.iter().flatten().any(|h| ac.is_match(*h))
    }

    fn on_request(
        &mut self,
        key: Key,
        now: Tick,
        _at: Timestamp,
        req: &Request<'_>,
    ) -> Option<(Detector, Evidence)> {
        let signature = [req.user_agent, req.from_display, req.from_user];
        let check = self.config.rules.scanner.enabled && self.scanners.is_some();
        // Sources repeat the same User-Agent and From: remember the last clean combination per source and
        // search only new ones.
        let fingerprint = if check {
            self.tables.fingerprint(&signature)
        } else {
            0
        };
        let subject = req.subject_user();
        // Hashed before the source is borrowed: the source table is looked up once per request.
        let user_hash = subject.map_or(0, |u| self.tables.hash_bytes(u));
        let tag = self.tables.txn_tag(key, req.call_id, req.cseq);
        let credentialed = req.credentials.is_some();
        let Engine {
            tables,
            config,
            stats,
            scanners,
            ..
        } = self;
        let src = tables.source(key, now, config, &mut stats.evicted);
        src.last_seen = now;
        if let Some(u) = subject {
            src.sample_user.set(u);
        }
        if let Some(ua) = req.user_agent {
            src.sample_ua.set(ua);
        }
        if check && src.clean_fingerprint != fingerprint {
            if Self::is_scanner(scanners.as_ref(), &signature) {
                return Some((Detector::Scanner, Self::evidence(src, 1, 1, Duration::ZERO)));
            }
            src.clean_fingerprint = fingerprint;
        }
        if let Some(fired) = Self::count_packet(src, config, now, req.anomalies) {
            return Some(fired);
        }
        if credentialed && config.rules.challenge.enabled {
            // A request with credentials answers an earlier challenge.
            let w = Self::ticks(config.rules.challenge.window);
            src.challenge.take_one(now, w);
        }
        tables.remember(Txn {
            tag,
            user: user_hash,
            credentialed,
            at: now,
        });
        None
    }

    fn on_response(&mut self, key: Key, now: Tick, at: Timestamp, resp: &Response<'_>) {
        let tag = self.tables.txn_tag(key, resp.call_id, resp.cseq);
        let txn = self.tables.recall(tag, now);
        let status = resp.status;
        let (txn_user, credentialed) = txn.map_or((0, false), |t| (t.user, t.credentialed));
        // The user the transaction named, else the To user: hashed only for the outcomes that count it.
        let user = |t: &Tables| {
            if txn_user != 0 {
                Some(txn_user)
            } else {
                resp.to_user.map(|u| t.hash_bytes(u))
            }
        };
        let fired = match status {
            200..=299 if credentialed => {
                let user = user(&self.tables);
                self.trust(key, now, user);
                None
            }
            401 | 407 if credentialed && !resp.stale => {
                let user = user(&self.tables);
                self.auth_failure(key, now, user)
            }
            401 | 407 => self.challenge_issued(key, now),
            403 if credentialed => {
                let user = user(&self.tables);
                self.auth_failure(key, now, user)
            }
            403 | 404 => {
                let user = user(&self.tables);
                self.probe(key, now, user)
            }
            _ => None,
        };
        if let Some((detector, evidence)) = fired {
            if txn.is_some() {
                self.tables.forget(tag);
            }
            if self.standing_of_key(key) == Standing::Trunk {
                self.alert(key, at, detector, AlertKind::TrunkMisbehaving, evidence);
            } else {
                self.ban(key, at, detector, evidence);
            }
        }
    }

    fn standing_of_key(&self, key: Key) -> Standing {
        self.standing(key.addr())
    }

    fn on_log(
        &mut self,
        key: Key,
        now: Tick,
        _at: Timestamp,
        ev: &LogEvent<'_>,
    ) -> Option<(Detector, Evidence)> {
        let hash =
            |t: &Tables, u: Option<&[u8]>| u.filter(|u| !u.is_empty()).map(|u| t.hash_bytes(u));
        match *ev {
            LogEvent::AuthFailed { user } => {
                let h = hash(&self.tables, user);
                if let Some(u) = user {
                    self.source(key, now).sample_user.set(u);
                }
                self.auth_failure(key, now, h)
            }
            LogEvent::UnknownUser { user } | LogEvent::Rejected { user } => {
                let h = hash(&self.tables, user);
                if let Some(u) = user {
                    self.source(key, now).sample_user.set(u);
                }
                self.probe(key, now, h)
            }
            LogEvent::AuthSucceeded { user } => {
                let h = hash(&self.tables, user);
                self.trust(key, now, h);
                None
            }
            LogEvent::Scanner { user_agent } => {
                if !self.config.rules.scanner.enabled {
                    return None;
                }
                let src = self.source(key, now);
                if let Some(ua) = user_agent {
                    src.sample_ua.set(ua);
                }
                Some((Detector::Scanner, Self::evidence(src, 1, 1, Duration::ZERO)))
            }
        }
    }

    fn trust(&mut self, key: Key, now: Tick, user: Option<u64>) {
        let duration = Self::ticks(self.config.trust.duration);
        if self.config.trust.duration.is_zero() {
            return;
        }
        let src = self.source(key, now);
        src.trusted_until = now.saturating_add(duration);
        src.ever_trusted = true;
        if let Some(u) = user {
            // The user's password works now: its past failures were a phone being reconfigured.
            self.tables.clear_user(key, u);
        }
    }

    fn challenge_issued(&mut self, key: Key, now: Tick) -> Option<(Detector, Evidence)> {
        let rule = self.config.rules.challenge.clone();
        if !rule.enabled {
            return None;
        }
        let factor = self.config.trust.threshold_factor;
        let src = self.source(key, now);
        let trusted = src.is_trusted(now);
        let limit = if trusted {
            rule.max_unanswered.saturating_mul(factor)
        } else {
            rule.max_unanswered
        };
        let n = src.challenge.add(now, Self::ticks(rule.window), 1);
        (n >= limit).then(|| {
            (
                Detector::UnansweredChallenges,
                Self::evidence(src, n, limit, rule.window),
            )
        })
    }

    fn probe(&mut self, key: Key, now: Tick, user: Option<u64>) -> Option<(Detector, Evidence)> {
        let rule = self.config.rules.enumeration.clone();
        if !rule.enabled {
            return None;
        }
        let factor = self.config.trust.threshold_factor;
        let src = self.source(key, now);
        let limit = if src.is_trusted(now) {
            rule.max_users.saturating_mul(factor)
        } else {
            rule.max_users
        };
        let n = src
            .users
            .add(now, Self::ticks(rule.window), user.unwrap_or(0));
        (n >= limit).then(|| {
            (
                Detector::Enumeration,
                Self::evidence(src, n, limit, rule.window),
            )
        })
    }

    fn auth_failure(
        &mut self,
        key: Key,
        now: Tick,
        user: Option<u64>,
    ) -> Option<(Detector, Evidence)> {
        let rule = self.config.rules.auth.clone();
        if !rule.enabled {
            return None;
        }
        let w = Self::ticks(rule.window);
        let trusted = self.source(key, now).is_trusted(now);
        let mut counts_for_source = true;
        if let Some(u) = user {
            let per_user = self.tables.user_failure(key, u, now, w);
            if per_user >= rule.max_failures_per_user {
                // Behind a trusted address, a user past its own limit is one broken phone: reported, and
                // its further failures no longer count against the whole address.
                counts_for_source = !trusted || per_user == rule.max_failures_per_user;
                if self.tables.should_alert_user(key, u, now, w) {
                    let src = self.source(key, now);
                    let ev = Self::evidence(src, per_user, rule.max_failures_per_user, rule.window);
                    let at = self.epoch.plus(Duration::from_millis(u64::from(now) * 100));
                    self.alert(
                        key,
                        at,
                        Detector::UserAuthFailures,
                        AlertKind::UserFailing,
                        ev,
                    );
                }
            }
        }
        if !counts_for_source {
            return None;
        }
        let limit = self.scaled(rule.max_failures, trusted);
        let src = self.source(key, now);
        let n = src.auth.add(now, w, 1);
        (n >= limit).then(|| {
            (
                Detector::AuthFailures,
                Self::evidence(src, n, limit, rule.window),
            )
        })
    }

    fn alert(
        &mut self,
        key: Key,
        at: Timestamp,
        detector: Detector,
        kind: AlertKind,
        evidence: Evidence,
    ) {
        self.stats.alerts += 1;
        let source = self.target_of(key);
        self.decisions.push_back(Decision::Alert(Alert {
            source,
            at,
            detector,
            kind,
            evidence,
        }));
    }

    fn base_ban_time(&self, detector: Detector) -> Duration {
        let r = &self.config.rules;
        match detector {
            Detector::AuthFailures | Detector::UserAuthFailures => r.auth.ban_time,
            Detector::UnansweredChallenges => r.challenge.ban_time,
            Detector::Enumeration => r.enumeration.ban_time,
            Detector::RateLevel1 => r.rate.level1_ban_time,
            Detector::RateLevel2 => r.rate.level2_ban_time,
            Detector::UnknownSource => r.rate.unknown_ban_time,
            Detector::Scanner => r.scanner.ban_time,
            Detector::Malformed => r.malformed.ban_time,
            Detector::Manual | Detector::CallPolicy => r.auth.ban_time,
        }
    }

    fn ban(&mut self, key: Key, at: Timestamp, detector: Detector, evidence: Evidence) {
        let bans = self.config.bans.clone();
        let base = self.base_ban_time(detector);
        let offender = self.tables.offenders.entry(key).or_default();
        let recent =
            offender.offences > 0 && at.since(offender.last_offence) <= bans.recidive_window;
        offender.offences = if recent {
            offender.offences.saturating_add(1)
        } else {
            1
        };
        offender.last_offence = at;
        let exponent = offender.offences.saturating_sub(1).min(32);
        let factor = u64::from(bans.escalation_factor).saturating_pow(exponent);
        let millis = u64::try_from(base.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_mul(factor);
        let length = Duration::from_millis(millis).min(bans.max_ban_time);
        let until = at.plus(length);
        offender.banned_until = until;
        let offence = offender.offences;
        self.tables.bound_offenders(at);
        self.tables.sources.remove(key);
        self.expiries.push(Reverse((until, key)));
        self.stats.bans += 1;
        let target = self.target_of(key);
        self.decisions.push_back(Decision::Ban(Ban {
            target,
            at,
            until,
            detector,
            evidence,
            offence,
        }));
    }

    /// Bans `addr` by hand for `length` (operator action through the API or CLI).
    ///
    /// # Errors
    ///
    /// [`ManualError::Protected`] when the address is allow-listed or a trunk.
    pub fn ban_manually(
        &mut self,
        addr: IpAddr,
        now: Timestamp,
        length: Duration,
        reason: &str,
    ) -> Result<Ban, ManualError> {
        match self.standing(addr) {
            Standing::Allowed => return Err(ManualError::Protected { list: "allow" }),
            Standing::Trunk => return Err(ManualError::Protected { list: "trunks" }),
            Standing::Blocked | Standing::Ordinary => {}
        }
        let key = key_of(addr, self.config.bans.ipv6_prefix);
        let until = now.plus(length);
        let offender = self.tables.offenders.entry(key).or_default();
        offender.banned_until = until;
        offender.last_offence = now;
        offender.offences = offender.offences.saturating_add(1);
        let offence = offender.offences;
        self.tables.bound_offenders(now);
        self.expiries.push(Reverse((until, key)));
        let ban = Ban {
            target: self.target_of(key),
            at: now,
            until,
            detector: Detector::Manual,
            evidence: Evidence {
                sample_user: Some(reason.to_owned()).filter(|r| !r.is_empty()),
                ..Evidence::default()
            },
            offence,
        };
        self.decisions.push_back(Decision::Ban(ban.clone()));
        Ok(ban)
    }

    /// Restores a ban that is still in force (from the state store at start-up), without a new decision.
    pub fn restore_ban(&mut self, target: IpNet, until: Timestamp, offence: u32, at: Timestamp) {
        let key = key_of(target.addr(), self.config.bans.ipv6_prefix);
        let offender = self.tables.offenders.entry(key).or_default();
        offender.banned_until = until;
        offender.offences = offence.max(1);
        offender.last_offence = at;
        self.expiries.push(Reverse((until, key)));
    }

    /// Lifts a ban by hand. The source's offence count is kept, so a repeat offender still escalates.
    ///
    /// # Errors
    ///
    /// [`ManualError::NotBanned`] when there is no ban in force for `addr`.
    pub fn unban(&mut self, addr: IpAddr, now: Timestamp) -> Result<IpNet, ManualError> {
        let key = key_of(addr, self.config.bans.ipv6_prefix);
        let Some(o) = self
            .tables
            .offenders
            .get_mut(&key)
            .filter(|o| o.banned_until > now)
        else {
            return Err(ManualError::NotBanned);
        };
        o.banned_until = now;
        let target = self.target_of(key);
        self.decisions.push_back(Decision::Unban {
            target,
            at: now,
            reason: UnbanReason::Manual,
        });
        Ok(target)
    }

    /// Bans in force at `now`: target, until, offence count.
    pub fn active_bans(&self, now: Timestamp) -> Vec<(IpNet, Timestamp, u32)> {
        let mut v: Vec<_> = self
            .tables
            .offenders
            .iter()
            .filter(|(_, o)| o.banned_until > now)
            .map(|(k, o)| (self.target_of(*k), o.banned_until, o.offences))
            .collect();
        v.sort_by_key(|(t, until, _)| (*until, *t));
        v
    }

    /// The next decision, if any.
    #[must_use]
    pub fn poll_decision(&mut self) -> Option<Decision> {
        self.decisions.pop_front()
    }

    /// When the caller must next call [`Engine::handle_timeout`] (the earliest ban expiry, or call-policy
    /// housekeeping).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let bans = self.expiries.peek().map(|Reverse((t, _))| *t);
        let calls = self
            .calls
            .as_ref()
            .and_then(CallGuard::poll_timeout)
            .map(|t| Timestamp::from_millis(u64::try_from(t.unix_millis()).unwrap_or(0)));
        match (bans, calls) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Processes ban expiries due at `now`, queueing an unban for each, and call-policy housekeeping.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if let Some(calls) = &mut self.calls {
            calls.handle_timeout(numbers_time(now));
        }
        while let Some(Reverse((until, key))) = self.expiries.peek().copied() {
            if until > now {
                break;
            }
            self.expiries.pop();
            // Only the latest ban of a key matters: an escalated or lifted ban leaves stale heap entries.
            let current = self.tables.offenders.get(&key).map(|o| o.banned_until);
            if current == Some(until) {
                let target = self.target_of(key);
                self.decisions.push_back(Decision::Unban {
                    target,
                    at: until,
                    reason: UnbanReason::Expired,
                });
            }
        }
    }
}

/// The names of a call policy's `[trunks.NAME]`, each once, in the file's order.
fn policy_trunks(calls: &CallGuard) -> impl Iterator<Item = &str> {
    let trunks = &calls.policy().config().trunks;
    trunks
        .iter()
        .enumerate()
        .filter(|(i, t)| !trunks.iter().take(*i).any(|u| u.name == t.name))
        .map(|(_, t)| t.name.as_str())
}

fn numbers_time(t: Timestamp) -> pbxguard_numbers::Timestamp {
    pbxguard_numbers::Timestamp::from_unix_millis(i64::try_from(t.as_millis()).unwrap_or(i64::MAX))
}

/// Hashes bytes with the engine's keyed hasher (so attackers cannot choose colliding users or Call-IDs).
fn hash_with<S: BuildHasher>(s: &S, parts: &[&[u8]], extra: u128) -> u64 {
    let mut h = s.build_hasher();
    for p in parts {
        h.write(p);
        h.write_u8(0xff);
    }
    extra.hash(&mut h);
    // 0 means "no user" in the transaction table.
    h.finish().max(1)
}
