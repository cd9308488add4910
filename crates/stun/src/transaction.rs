//! Client transactions over UDP with the retransmission timers of RFC 5389 §7.2.1, and the shared
//! shape of the sans-IO probe machines.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::message::{Class, Message, MessageBuilder, Method, TransactionId};

/// Retransmission timers for requests over UDP (RFC 5389 §7.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitConfig {
    /// The initial retransmission timeout; doubled after each retransmission.
    pub rto: Duration,
    /// Rc: total number of times a request is sent.
    pub max_sends: u32,
    /// Rm: after the last send, wait this many initial RTOs before giving up.
    pub final_wait: u32,
}

impl Default for RetransmitConfig {
    /// The RFC 5389 defaults: RTO 500 ms, Rc 7, Rm 16, so a lost transaction fails after 39.5 s.
    fn default() -> Self {
        RetransmitConfig {
            rto: Duration::from_millis(500),
            max_sends: 7,
            final_wait: 16,
        }
    }
}

impl RetransmitConfig {
    /// A quick schedule for a known-nearby server (a test lab, or a reflector on the same continent):
    /// RTO 100 ms, 5 sends, final wait 8 RTOs; a lost transaction fails after 2.3 s.
    pub fn quick() -> Self {
        RetransmitConfig {
            rto: Duration::from_millis(100),
            max_sends: 5,
            final_wait: 8,
        }
    }

    /// How long a transaction that never gets an answer lasts.
    pub fn total_timeout(&self) -> Duration {
        let sends = self.max_sends.max(1);
        let mut total = Duration::ZERO;
        let mut rto = self.rto;
        for _ in 1..sends {
            total += rto;
            rto = rto.saturating_mul(2);
        }
        total + self.rto.saturating_mul(self.final_wait)
    }
}

/// An index naming one of the client's local UDP sockets. The driver binds a distinct socket (its own
/// ephemeral port, on the same interface) for each index the first time a [`Transmit`] uses it, and
/// passes it back with every datagram that socket receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalSocket(pub u16);

/// A datagram a probe machine wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The socket to send from.
    pub local: LocalSocket,
    /// The destination.
    pub destination: SocketAddr,
    /// The datagram.
    pub contents: Vec<u8>,
}

/// The interface every sans-IO probe machine in this crate offers a driver (a socket loop or a
/// simulated network).
pub trait Probe {
    /// The machine's final answer.
    type Output;

    /// A datagram arrived on `local` from `from`.
    fn handle_datagram(&mut self, now: Instant, local: LocalSocket, from: SocketAddr, bytes: &[u8]);

    /// Time has reached `now`: fire retransmissions and expire waits.
    fn handle_timeout(&mut self, now: Instant);

    /// The next datagram to send, if any is due at `now`.
    #[must_use]
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit>;

    /// When [`Probe::handle_timeout`] should next be called; `None` when nothing is pending.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;

    /// The answer, once; `None` while the probe is still running.
    #[must_use]
    fn poll_result(&mut self) -> Option<Self::Output>;
}

/// What happened to one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A success or error response arrived.
    Response {
        /// Where it came from.
        from: SocketAddr,
        /// Its bytes.
        bytes: Vec<u8>,
        /// When it arrived.
        at: Instant,
    },
    /// The retransmission schedule ran out.
    TimedOut,
}

#[derive(Debug)]
struct Pending<K> {
    key: K,
    tid: TransactionId,
    local: LocalSocket,
    destination: SocketAddr,
    request: Vec<u8>,
    sends: u32,
    /// Next retransmission (or first send), `None` after the last send.
    next_send: Option<Instant>,
    rto: Duration,
    give_up: Option<Instant>,
}

/// A set of concurrent client transactions keyed by `K` (the probe's name for each test).
#[derive(Debug)]
pub(crate) struct Transactions<K> {
    config: RetransmitConfig,
    pending: Vec<Pending<K>>,
    finished: Vec<(K, Outcome)>,
    /// Counter mixed into transaction IDs; with the seed it keeps IDs unique and unpredictable
    /// enough for matching (they are not a security measure here).
    counter: u64,
    seed: [u8; 12],
}

impl<K: Clone + PartialEq> Transactions<K> {
    pub(crate) fn new(config: RetransmitConfig, seed: [u8; 12]) -> Self {
        Transactions {
            config,
            pending: Vec::new(),
            finished: Vec::new(),
            counter: 0,
            seed,
        }
    }

    fn next_tid(&mut self) -> TransactionId {
        self.counter += 1;
        let mut t = self.seed;
        for (b, c) in t.iter_mut().zip(self.counter.to_be_bytes().iter().rev()) {
            *b ^= c;
        }
        TransactionId(t)
    }

    /// Starts a Binding request; `build` adds attributes. Returns its transaction ID.
    pub(crate) fn start(
        &mut self,
        now: Instant,
        key: K,
        local: LocalSocket,
        destination: SocketAddr,
        build: impl FnOnce(&mut MessageBuilder<'_>),
    ) -> TransactionId {
        let tid = self.next_tid();
        let mut request = Vec::new();
        let mut b = MessageBuilder::new(&mut request, Class::Request, Method::BINDING, tid);
        build(&mut b);
        b.add_fingerprint();
        // The attributes this crate adds are tiny; a build error would be a bug in the caller's
        // closure, and the request then goes out without them rather than not at all.
        if b.finish().is_err() {
            MessageBuilder::new(&mut request, Class::Request, Method::BINDING, tid);
        }
        self.pending.push(Pending {
            key,
            tid,
            local,
            destination,
            request,
            sends: 0,
            next_send: Some(now),
            rto: self.config.rto,
            give_up: None,
        });
        tid
    }

    /// Stops retransmitting `key` without an outcome.
    pub(crate) fn cancel(&mut self, key: &K) {
        self.pending.retain(|p| &p.key != key);
    }

    #[cfg(test)]
    pub(crate) fn any_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Offers a received datagram. Returns true when it answered a pending transaction.
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        local: LocalSocket,
        from: SocketAddr,
        bytes: &[u8],
    ) -> bool {
        let Ok(m) = Message::parse(bytes) else {
            return false;
        };
        if !matches!(m.class(), Class::SuccessResponse | Class::ErrorResponse) {
            return false;
        }
        let tid = m.transaction_id();
        let Some(i) = self
            .pending
            .iter()
            .position(|p| p.tid == tid && p.local == local)
        else {
            return false;
        };
        let p = self.pending.swap_remove(i);
        self.finished.push((
            p.key,
            Outcome::Response {
                from,
                bytes: bytes.to_vec(),
                at: now,
            },
        ));
        true
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let mut i = 0;
        while let Some(p) = self.pending.get(i) {
            if p.give_up.is_some_and(|t| t <= now) {
                let p = self.pending.swap_remove(i);
                self.finished.push((p.key, Outcome::TimedOut));
            } else {
                i += 1;
            }
        }
    }

    pub(crate) fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let max_sends = self.config.max_sends.max(1);
        let final_wait = self.config.rto.saturating_mul(self.config.final_wait);
        let p = self
            .pending
            .iter_mut()
            .find(|p| p.next_send.is_some_and(|t| t <= now))?;
        p.sends += 1;
        if p.sends >= max_sends {
            p.next_send = None;
            p.give_up = Some(now + final_wait);
        } else {
            p.next_send = Some(now + p.rto);
            p.rto = p.rto.saturating_mul(2);
        }
        Some(Transmit {
            local: p.local,
            destination: p.destination,
            contents: p.request.clone(),
        })
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.pending
            .iter()
            .filter_map(|p| p.next_send.or(p.give_up))
            .min()
    }

    /// The next finished transaction, in completion order.
    pub(crate) fn poll_finished(&mut self) -> Option<(K, Outcome)> {
        if self.finished.is_empty() {
            None
        } else {
            Some(self.finished.remove(0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5389_7_2_1_default_schedule_gives_up_after_39_5_seconds() {
        let cfg = RetransmitConfig::default();
        assert_eq!(cfg.total_timeout(), Duration::from_millis(39_500));
        let t0 = Instant::now();
        let mut t = Transactions::new(cfg, [0; 12]);
        t.start(
            t0,
            1u8,
            LocalSocket(0),
            "192.0.2.1:3478".parse().unwrap(),
            |_| {},
        );
        let mut sends = Vec::new();
        let mut now = t0;
        while t.any_pending() {
            while t.poll_transmit(now).is_some() {
                sends.push(now - t0);
            }
            t.handle_timeout(now);
            match t.poll_timeout() {
                Some(next) => now = next,
                None => break,
            }
        }
        let ms: Vec<u128> = sends.iter().map(Duration::as_millis).collect();
        // RFC 5389 §7.2.1's example: sent at 0, 500, 1500, 3500, 7500, 15500 and 31500 ms.
        assert_eq!(ms, vec![0, 500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(now - t0, Duration::from_millis(39_500));
        assert_eq!(t.poll_finished(), Some((1, Outcome::TimedOut)));
    }

    #[test]
    fn response_on_another_socket_does_not_match() {
        let t0 = Instant::now();
        let server: SocketAddr = "192.0.2.1:3478".parse().unwrap();
        let mut t = Transactions::new(RetransmitConfig::quick(), [9; 12]);
        let tid = t.start(t0, 1u8, LocalSocket(0), server, |_| {});
        let mut resp = Vec::new();
        MessageBuilder::new(&mut resp, Class::SuccessResponse, Method::BINDING, tid)
            .finish()
            .unwrap();
        assert!(!t.handle_datagram(t0, LocalSocket(1), server, &resp));
        assert!(t.handle_datagram(t0, LocalSocket(0), server, &resp));
        assert!(!t.any_pending());
    }
}
