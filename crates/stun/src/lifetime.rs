//! NAT binding lifetime (RFC 5780 §4.6), for a one-shot exchange and for a kept-alive flow.
//!
//! RFC 5780 measures one interval at a time. This machine measures a ladder of intervals at once,
//! so a run takes about as long as the lifetime itself: probe socket *i* (local socket `i + 1`)
//! makes a fresh binding, goes quiet, and after its interval the trigger socket (local socket 0)
//! sends a Binding request with RESPONSE-PORT set to probe *i*'s mapped port. The server answers to
//! that port on the shared public address, from the same server address probe *i* talked to, so
//! the answer passes any filter and reaches probe *i* exactly when its binding is still alive.
//!
//! A NAT often keeps a binding that saw a single request and answer for a shorter time than one
//! that carried a flow (Linux: 30 s versus 120 s once packets flowed both ways for over 2 s), so
//! the flow shape before going quiet is part of the configuration and of the report.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::message::{Class, Message, TransactionId};
use crate::transaction::{LocalSocket, Outcome, Probe, RetransmitConfig, Transactions, Transmit};

/// The socket that sends the RESPONSE-PORT triggers.
pub const TRIGGER_SOCKET: LocalSocket = LocalSocket(0);

/// The traffic on a binding before it goes quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// One request and its response (a phone's single REGISTER, a DNS-like exchange).
    OneShot,
    /// Several request/response exchanges, `spacing` apart (a phone that has been sending
    /// keep-alives, a call's signalling).
    KeptAlive {
        /// Number of exchanges.
        exchanges: u32,
        /// Time between the start of consecutive exchanges.
        spacing: Duration,
    },
}

impl Flow {
    /// Three exchanges 1.5 s apart: long enough for Linux conntrack to treat the flow as a stream.
    pub fn kept_alive() -> Flow {
        Flow::KeptAlive {
            exchanges: 3,
            spacing: Duration::from_millis(1500),
        }
    }

    fn exchanges(self) -> u32 {
        match self {
            Flow::OneShot => 1,
            Flow::KeptAlive { exchanges, .. } => exchanges.max(1),
        }
    }

    fn spacing(self) -> Duration {
        match self {
            Flow::OneShot => Duration::ZERO,
            Flow::KeptAlive { spacing, .. } => spacing,
        }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flow::OneShot => write!(f, "one-shot exchange"),
            Flow::KeptAlive { exchanges, spacing } => {
                write!(f, "flow of {exchanges} exchanges {spacing:?} apart")
            }
        }
    }
}

/// Configuration of a [`LifetimeProbe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifetimeConfig {
    /// The server's address (it must support RESPONSE-PORT, RFC 5780 §7.5).
    pub server: SocketAddr,
    /// Idle intervals to test, shortest first; each uses its own local socket.
    pub intervals: Vec<Duration>,
    /// Traffic before the binding goes quiet.
    pub flow: Flow,
    /// Retransmission timers for every request.
    pub retransmit: RetransmitConfig,
    /// Seed for transaction IDs; the driver should pass random bytes.
    pub seed: [u8; 12],
}

impl LifetimeConfig {
    /// A ladder covering common NAT timeouts from 10 s to 5 minutes.
    pub fn default_intervals() -> Vec<Duration> {
        [10, 20, 30, 45, 60, 90, 120, 180, 300]
            .into_iter()
            .map(Duration::from_secs)
            .collect()
    }
}

/// What happened to the binding tested at one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntervalOutcome {
    /// The binding still delivered after being idle for the interval.
    Alive,
    /// The binding was gone.
    Expired,
    /// Not tested: a shorter interval had already expired.
    Skipped,
    /// The binding could not be set up: the server never answered this socket.
    NoResponse,
    /// This socket's public IP differs from the trigger socket's, so the trigger cannot reach it
    /// (a NAT with an address pool).
    AddressMismatch,
}

/// The result of a lifetime measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifetimeReport {
    /// The traffic shape measured.
    pub flow: Flow,
    /// Each interval and its outcome, shortest first.
    pub intervals: Vec<(Duration, IntervalOutcome)>,
}

impl LifetimeReport {
    /// The longest interval after which the binding was alive.
    pub fn longest_alive(&self) -> Option<Duration> {
        self.intervals
            .iter()
            .filter(|(_, o)| *o == IntervalOutcome::Alive)
            .map(|(d, _)| *d)
            .max()
    }

    /// The shortest interval after which the binding was gone.
    pub fn shortest_expired(&self) -> Option<Duration> {
        self.intervals
            .iter()
            .filter(|(_, o)| *o == IntervalOutcome::Expired)
            .map(|(d, _)| *d)
            .min()
    }
}

/// Why no lifetime could be measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifetimeError {
    /// The server never answered the trigger socket's first request.
    ServerUnreachable,
    /// The server refused RESPONSE-PORT (an error response to a trigger).
    ResponsePortRefused {
        /// The error code.
        code: u16,
    },
    /// The server answered a trigger to its source port: it ignores RESPONSE-PORT.
    ResponsePortIgnored,
}

impl fmt::Display for LifetimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifetimeError::ServerUnreachable => write!(f, "the STUN server did not answer"),
            LifetimeError::ResponsePortRefused { code } => {
                write!(f, "the STUN server refused RESPONSE-PORT (error {code})")
            }
            LifetimeError::ResponsePortIgnored => {
                write!(f, "the STUN server ignores RESPONSE-PORT")
            }
        }
    }
}

impl std::error::Error for LifetimeError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// The trigger socket's own Binding, to learn its public IP.
    Trigger0,
    /// Exchange `k` of probe `i`.
    Exchange(usize, u32),
    /// The trigger for probe `i`.
    Trigger(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Exchanges under way; the next one starts at the given time (if not already started).
    Flowing {
        done: u32,
        next_at: Option<Instant>,
    },
    /// Quiet until the given time.
    Quiet {
        until: Instant,
    },
    /// Triggered; waiting for the answer on this probe's socket.
    Triggered {
        tid: TransactionId,
    },
    Done(IntervalOutcome),
}

#[derive(Debug)]
struct Slot {
    interval: Duration,
    socket: LocalSocket,
    mapped: Option<SocketAddr>,
    phase: Phase,
}

/// Measures binding lifetimes at several intervals at once; see the module documentation.
#[derive(Debug)]
pub struct LifetimeProbe {
    config: LifetimeConfig,
    txns: Transactions<Key>,
    trigger_mapped: Option<SocketAddr>,
    slots: Vec<Slot>,
    fatal: Option<LifetimeError>,
    delivered: bool,
}

impl LifetimeProbe {
    /// Starts the measurement at `now`. Intervals are sorted; probe *i* uses local socket `i + 1`.
    pub fn new(now: Instant, mut config: LifetimeConfig) -> LifetimeProbe {
        config.intervals.sort();
        config.intervals.dedup();
        let mut txns = Transactions::new(config.retransmit, config.seed);
        txns.start(now, Key::Trigger0, TRIGGER_SOCKET, config.server, |_| {});
        let mut slots = Vec::new();
        for (i, interval) in config.intervals.iter().enumerate() {
            let socket = LocalSocket(u16::try_from(i + 1).unwrap_or(u16::MAX));
            txns.start(now, Key::Exchange(i, 0), socket, config.server, |_| {});
            slots.push(Slot {
                interval: *interval,
                socket,
                mapped: None,
                phase: Phase::Flowing {
                    done: 0,
                    next_at: None,
                },
            });
        }
        LifetimeProbe {
            config,
            txns,
            trigger_mapped: None,
            slots,
            fatal: None,
            delivered: false,
        }
    }

    fn finished(&self) -> bool {
        self.fatal.is_some() || self.slots.iter().all(|s| matches!(s.phase, Phase::Done(_)))
    }

    fn set_done(&mut self, i: usize, outcome: IntervalOutcome) {
        if let Some(s) = self.slots.get_mut(i) {
            s.phase = Phase::Done(outcome);
        }
        if outcome == IntervalOutcome::Expired {
            // A binding that expired after this interval will not survive a longer one: skip them.
            let interval = self.slots.get(i).map(|s| s.interval);
            for (j, s) in self.slots.iter_mut().enumerate() {
                if Some(s.interval) > interval
                    && !matches!(s.phase, Phase::Done(_) | Phase::Triggered { .. })
                {
                    s.phase = Phase::Done(IntervalOutcome::Skipped);
                    self.txns.cancel(&Key::Trigger(j));
                    for k in 0..self.config.flow.exchanges() {
                        self.txns.cancel(&Key::Exchange(j, k));
                    }
                }
            }
        }
    }

    fn on_outcome(&mut self, key: Key, outcome: Outcome) {
        match key {
            Key::Trigger0 => match outcome {
                Outcome::Response { bytes, .. } => {
                    let mapped = Message::parse(&bytes)
                        .ok()
                        .and_then(|m| m.reflexive_address().ok().flatten());
                    match mapped {
                        Some(m) => self.trigger_mapped = Some(m),
                        None => self.fatal = Some(LifetimeError::ServerUnreachable),
                    }
                }
                Outcome::TimedOut => self.fatal = Some(LifetimeError::ServerUnreachable),
            },
            Key::Exchange(i, k) => match outcome {
                Outcome::Response { bytes, at, .. } => {
                    let mapped = Message::parse(&bytes)
                        .ok()
                        .filter(|m| m.class() == Class::SuccessResponse)
                        .and_then(|m| m.reflexive_address().ok().flatten());
                    let flow = self.config.flow;
                    let Some(slot) = self.slots.get_mut(i) else {
                        return;
                    };
                    if mapped.is_none() {
                        slot.phase = Phase::Done(IntervalOutcome::NoResponse);
                        return;
                    }
                    slot.mapped = slot.mapped.or(mapped);
                    let done = k + 1;
                    slot.phase = if done >= flow.exchanges() {
                        Phase::Quiet {
                            until: at + slot.interval,
                        }
                    } else {
                        Phase::Flowing {
                            done,
                            next_at: Some(at + flow.spacing()),
                        }
                    };
                }
                Outcome::TimedOut => self.set_done(i, IntervalOutcome::NoResponse),
            },
            Key::Trigger(i) => match outcome {
                Outcome::TimedOut => self.set_done(i, IntervalOutcome::Expired),
                Outcome::Response { bytes, .. } => {
                    let m = Message::parse(&bytes).ok();
                    self.fatal = Some(match m {
                        Some(m) if m.class() == Class::ErrorResponse => {
                            LifetimeError::ResponsePortRefused {
                                code: m.error_code().ok().flatten().map_or(0, |e| e.code),
                            }
                        }
                        _ => LifetimeError::ResponsePortIgnored,
                    });
                }
            },
        }
    }

    fn drain(&mut self) {
        while let Some((key, outcome)) = self.txns.poll_finished() {
            self.on_outcome(key, outcome);
        }
    }

    fn advance(&mut self, now: Instant) {
        let Some(trigger_ip) = self.trigger_mapped.map(|m| m.ip()) else {
            // Triggers wait for the trigger socket's own mapping; exchanges need not.
            self.start_exchanges(now);
            return;
        };
        self.start_exchanges(now);
        let server = self.config.server;
        for i in 0..self.slots.len() {
            let Some(slot) = self.slots.get(i) else {
                continue;
            };
            let Phase::Quiet { until } = slot.phase else {
                continue;
            };
            if until > now {
                continue;
            }
            let Some(mapped) = slot.mapped else {
                continue;
            };
            if mapped.ip() != trigger_ip {
                self.set_done(i, IntervalOutcome::AddressMismatch);
                continue;
            }
            let tid = self
                .txns
                .start(now, Key::Trigger(i), TRIGGER_SOCKET, server, |b| {
                    b.add_response_port(mapped.port());
                });
            if let Some(slot) = self.slots.get_mut(i) {
                slot.phase = Phase::Triggered { tid };
            }
        }
    }

    fn start_exchanges(&mut self, now: Instant) {
        let server = self.config.server;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Phase::Flowing {
                done,
                next_at: Some(at),
            } = slot.phase
            else {
                continue;
            };
            if at <= now {
                self.txns
                    .start(now, Key::Exchange(i, done), slot.socket, server, |_| {});
                slot.phase = Phase::Flowing {
                    done,
                    next_at: None,
                };
            }
        }
    }
}

impl Probe for LifetimeProbe {
    type Output = Result<LifetimeReport, LifetimeError>;

    fn handle_datagram(
        &mut self,
        now: Instant,
        local: LocalSocket,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        if self.txns.handle_datagram(now, local, from, bytes) {
            self.drain();
            self.advance(now);
            return;
        }
        // A trigger's answer arrives on the probe socket, not on the socket that sent it.
        let Ok(m) = Message::parse(bytes) else {
            return;
        };
        if m.class() != Class::SuccessResponse {
            return;
        }
        let tid = m.transaction_id();
        let hit = self.slots.iter().position(|s| {
            s.socket == local && matches!(s.phase, Phase::Triggered { tid: t } if t == tid)
        });
        if let Some(i) = hit {
            self.txns.cancel(&Key::Trigger(i));
            self.set_done(i, IntervalOutcome::Alive);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.txns.handle_timeout(now);
        self.drain();
        self.advance(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.finished() {
            return None;
        }
        self.txns.poll_transmit(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.finished() {
            return None;
        }
        let slot_timers = self.slots.iter().filter_map(|s| match s.phase {
            Phase::Flowing { next_at, .. } => next_at,
            Phase::Quiet { until } if self.trigger_mapped.is_some() => Some(until),
            _ => None,
        });
        slot_timers.chain(self.txns.poll_timeout()).min()
    }

    fn poll_result(&mut self) -> Option<Self::Output> {
        if self.delivered || !self.finished() {
            return None;
        }
        self.delivered = true;
        if let Some(e) = self.fatal {
            return Some(Err(e));
        }
        Some(Ok(LifetimeReport {
            flow: self.config.flow,
            intervals: self
                .slots
                .iter()
                .map(|s| {
                    let outcome = match s.phase {
                        Phase::Done(o) => o,
                        _ => IntervalOutcome::Skipped,
                    };
                    (s.interval, outcome)
                })
                .collect(),
        }))
    }
}
