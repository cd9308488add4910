//! The reflector's admission policy: which control requests it acts on.
//!
//! The reflector must never be usable as a scanner or an amplifier. A request is acted on only when
//! it is authenticated with a shared secret, fresh (its clock is close to ours and its nonce is
//! new), asks to probe exactly the address it came from, and fits the per-source and global rate
//! budgets. Everything else is refused; unauthenticated and flooding senders get no reply at all, so
//! a forged source address cannot turn the reflector against a third party.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::wire::{
    Body, DecodeError, Envelope, MAX_PROBES, MIN_SECRET, NONCE_LEN, ProbeSpec, RefusalCode, decode,
    encode, peek_header,
};

/// A token bucket's shape: `burst` tokens at most, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Bucket size.
    pub burst: f64,
    /// Refill rate.
    pub per_second: f64,
}

/// The reflector's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Largest accepted difference between the request's clock and ours.
    pub max_skew: Duration,
    /// Requests per source address.
    pub requests_per_source: Rate,
    /// Requests from everyone together.
    pub requests_global: Rate,
    /// Probes per source address (one request may ask for many).
    pub probes_per_source: Rate,
    /// Most source addresses with rate state; beyond it, new sources are refused until old ones
    /// go idle (bounded memory under a spoofed-source flood).
    pub max_sources: usize,
    /// Most remembered nonces; beyond it, requests are refused until old nonces expire.
    pub max_nonces: usize,
}

impl Default for Policy {
    /// One check every few seconds per site with bursts for retries; a full check of a site (tens of
    /// ports plus an RTP sample) fits the probe burst; the whole reflector handles 20 requests/s.
    fn default() -> Self {
        Policy {
            max_skew: Duration::from_secs(30),
            requests_per_source: Rate {
                burst: 5.0,
                per_second: 0.5,
            },
            requests_global: Rate {
                burst: 50.0,
                per_second: 20.0,
            },
            probes_per_source: Rate {
                burst: 600.0,
                per_second: 20.0,
            },
            max_sources: 4096,
            max_nonces: 65_536,
        }
    }
}

/// Shared secrets by key id.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: HashMap<String, Vec<u8>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets.
        f.debug_struct("Keyring")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A secret that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Shorter than [`MIN_SECRET`] bytes.
    SecretTooShort {
        /// The key id.
        key_id: String,
    },
    /// The key id is empty or longer than 64 bytes.
    BadKeyId {
        /// The key id.
        key_id: String,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::SecretTooShort { key_id } => write!(
                f,
                "secret for key {key_id:?} is shorter than {MIN_SECRET} bytes"
            ),
            KeyError::BadKeyId { key_id } => write!(f, "key id {key_id:?} must be 1 to 64 bytes"),
        }
    }
}

impl std::error::Error for KeyError {}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Keyring::default()
    }

    /// Adds (or replaces) a key.
    ///
    /// # Errors
    ///
    /// [`KeyError`] for a short secret or a bad key id.
    pub fn insert(&mut self, key_id: &str, secret: &[u8]) -> Result<(), KeyError> {
        if key_id.is_empty() || key_id.len() > crate::wire::MAX_KEY_ID {
            return Err(KeyError::BadKeyId {
                key_id: key_id.to_owned(),
            });
        }
        if secret.len() < MIN_SECRET {
            return Err(KeyError::SecretTooShort {
                key_id: key_id.to_owned(),
            });
        }
        self.keys.insert(key_id.to_owned(), secret.to_vec());
        Ok(())
    }

    /// The secret for `key_id`.
    pub fn get(&self, key_id: &str) -> Option<&[u8]> {
        self.keys.get(key_id).map(Vec::as_slice)
    }
}

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Too many requests from this source, or from everyone, or too many tracked sources.
    RateLimited,
    /// The bytes are not a well-formed control message.
    Malformed(DecodeError),
    /// Unknown key or failed MAC.
    Unauthenticated(DecodeError),
    /// An authenticated message that is not a request.
    NotARequest,
    /// The request's clock differs from ours by more than the policy allows.
    Stale {
        /// Request time minus our time, in milliseconds.
        skew_ms: i64,
    },
    /// The nonce was seen before (a replay, or the nonce store is full).
    Replayed,
    /// The request asks to probe an address other than the one it came from.
    TargetMismatch {
        /// The address in the request.
        claimed: IpAddr,
        /// The address it came from.
        observed: IpAddr,
    },
    /// Unknown probe kinds, no probes, or too many.
    Unsupported,
    /// The source's probe budget cannot cover the request.
    ProbeBudgetExceeded {
        /// Probes asked for.
        asked: usize,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::RateLimited => write!(f, "rate limited"),
            Refusal::Malformed(e) => write!(f, "malformed: {e}"),
            Refusal::Unauthenticated(e) => write!(f, "unauthenticated: {e}"),
            Refusal::NotARequest => write!(f, "not a request"),
            Refusal::Stale { skew_ms } => write!(f, "clock skew of {skew_ms} ms"),
            Refusal::Replayed => write!(f, "replayed nonce"),
            Refusal::TargetMismatch { claimed, observed } => {
                write!(f, "asked to probe {claimed} but came from {observed}")
            }
            Refusal::Unsupported => write!(f, "unsupported probes"),
            Refusal::ProbeBudgetExceeded { asked } => {
                write!(f, "{asked} probes exceed the source's budget")
            }
        }
    }
}

/// A request the reflector may act on: probe `target` (the requester's own address) with `probes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The key that authenticated it.
    pub key_id: String,
    /// The nonce, to put in the results.
    pub nonce: [u8; NONCE_LEN],
    /// The address to probe: always the address the request came from.
    pub target: IpAddr,
    /// The probes.
    pub probes: Vec<ProbeSpec>,
}

/// What to do with one incoming control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Run the probes.
    Admit(Admitted),
    /// Authenticated but refused: send `reply` (an authenticated refusal, no larger than a request)
    /// back to the sender.
    Refuse {
        /// Why.
        reason: Refusal,
        /// The encoded refusal.
        reply: Vec<u8>,
    },
    /// Send nothing.
    Drop(Refusal),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Bucket {
            tokens: rate.burst,
            at: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * rate.per_second).min(rate.burst);
        self.at = now;
    }

    fn take(&mut self, rate: Rate, now: Instant, n: f64) -> bool {
        self.refill(rate, now);
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Source {
    requests: Bucket,
    probes: Bucket,
}

/// Counters of admission decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    /// Requests admitted.
    pub admitted: u64,
    /// Authenticated requests refused with a reply.
    pub refused: u64,
    /// Messages dropped without a reply.
    pub dropped: u64,
}

/// The reflector's admission state: keys, rate buckets and seen nonces. No I/O; time comes in with
/// every call.
#[derive(Debug)]
pub struct Gatekeeper {
    policy: Policy,
    keys: Keyring,
    global: Bucket,
    sources: HashMap<IpAddr, Source>,
    /// Nonce → Unix ms after which it may be forgotten (it would be refused as stale anyway).
    nonces: HashMap<[u8; NONCE_LEN], u64>,
    stats: AdmissionStats,
}

impl Gatekeeper {
    /// A gatekeeper starting at `now` with full buckets.
    pub fn new(policy: Policy, keys: Keyring, now: Instant) -> Self {
        Gatekeeper {
            global: Bucket::full(policy.requests_global, now),
            policy,
            keys,
            sources: HashMap::new(),
            nonces: HashMap::new(),
            stats: AdmissionStats::default(),
        }
    }

    /// Decisions so far.
    pub fn stats(&self) -> AdmissionStats {
        self.stats
    }

    /// Source addresses with rate state (bounded by [`Policy::max_sources`]).
    pub fn tracked_sources(&self) -> usize {
        self.sources.len()
    }

    /// Decides what to do with `bytes` that arrived from `from`, at monotonic time `now` and wall
    /// clock `unix_ms` (which also stamps any refusal sent back).
    pub fn admit(&mut self, now: Instant, unix_ms: u64, from: IpAddr, bytes: &[u8]) -> Admission {
        let a = self.decide(now, unix_ms, from, bytes);
        match &a {
            Admission::Admit(_) => self.stats.admitted += 1,
            Admission::Refuse { .. } => self.stats.refused += 1,
            Admission::Drop(_) => self.stats.dropped += 1,
        }
        a
    }

    fn source(&mut self, now: Instant, from: IpAddr) -> Option<&mut Source> {
        if !self.sources.contains_key(&from) && self.sources.len() >= self.policy.max_sources {
            // Forget sources whose buckets have refilled: they hold no information.
            let p = self.policy.clone();
            self.sources.retain(|_, s| {
                let mut r = s.requests;
                let mut q = s.probes;
                r.refill(p.requests_per_source, now);
                q.refill(p.probes_per_source, now);
                r.tokens < p.requests_per_source.burst || q.tokens < p.probes_per_source.burst
            });
            if self.sources.len() >= self.policy.max_sources {
                return None;
            }
        }
        let p = &self.policy;
        Some(self.sources.entry(from).or_insert_with(|| Source {
            requests: Bucket::full(p.requests_per_source, now),
            probes: Bucket::full(p.probes_per_source, now),
        }))
    }

    fn decide(&mut self, now: Instant, unix_ms: u64, from: IpAddr, bytes: &[u8]) -> Admission {
        // Rate limits come first: a flood costs a map lookup, not a MAC.
        let per_source = self.policy.requests_per_source;
        let source_ok = self
            .source(now, from)
            .is_some_and(|s| s.requests.take(per_source, now, 1.0));
        if !source_ok {
            return Admission::Drop(Refusal::RateLimited);
        }
        let global = self.policy.requests_global;
        if !self.global.take(global, now, 1.0) {
            return Admission::Drop(Refusal::RateLimited);
        }

        if let Err(e) = peek_header(bytes) {
            return Admission::Drop(Refusal::Malformed(e));
        }
        let keys = &self.keys;
        let env = match decode(bytes, |id| keys.get(id)) {
            Ok(env) => env,
            Err(e @ (DecodeError::UnknownKey { .. } | DecodeError::BadMac)) => {
                return Admission::Drop(Refusal::Unauthenticated(e));
            }
            Err(e) => return Admission::Drop(Refusal::Malformed(e)),
        };
        let Body::Request { target, probes } = &env.body else {
            return Admission::Drop(Refusal::NotARequest);
        };

        let skew_ms =
            i64::try_from(i128::from(env.unix_ms) - i128::from(unix_ms)).unwrap_or(i64::MAX);
        let max_skew = i64::try_from(self.policy.max_skew.as_millis()).unwrap_or(i64::MAX);
        if skew_ms.abs() > max_skew {
            return self.refuse(
                bytes.len(),
                &env,
                from,
                unix_ms,
                Refusal::Stale { skew_ms },
                RefusalCode::STALE,
            );
        }

        // Nonces: forget the expired ones, then refuse any seen one. A full store refuses too,
        // rather than forgetting a nonce that could still be replayed.
        if self.nonces.contains_key(&env.nonce) {
            return Admission::Drop(Refusal::Replayed);
        }
        if self.nonces.len() >= self.policy.max_nonces {
            self.nonces.retain(|_, until| *until > unix_ms);
            if self.nonces.len() >= self.policy.max_nonces {
                return Admission::Drop(Refusal::RateLimited);
            }
        }
        let keep_until =
            unix_ms.saturating_add(2 * u64::try_from(max_skew).unwrap_or(u64::MAX / 4));
        self.nonces.insert(env.nonce, keep_until);

        if *target != from {
            let reason = Refusal::TargetMismatch {
                claimed: *target,
                observed: from,
            };
            return self.refuse(
                bytes.len(),
                &env,
                from,
                unix_ms,
                reason,
                RefusalCode::TARGET_MISMATCH,
            );
        }
        if probes.is_empty()
            || probes.len() > MAX_PROBES
            || probes.iter().any(|p| !p.kind.is_known())
        {
            return self.refuse(
                bytes.len(),
                &env,
                from,
                unix_ms,
                Refusal::Unsupported,
                RefusalCode::UNSUPPORTED,
            );
        }
        let per_probe = self.policy.probes_per_source;
        let asked = probes.len();
        #[allow(clippy::cast_precision_loss)] // at most MAX_PROBES
        let budget_ok = self
            .source(now, from)
            .is_some_and(|s| s.probes.take(per_probe, now, asked as f64));
        if !budget_ok {
            let reason = Refusal::ProbeBudgetExceeded { asked };
            return self.refuse(
                bytes.len(),
                &env,
                from,
                unix_ms,
                reason,
                RefusalCode::RATE_LIMITED,
            );
        }
        Admission::Admit(Admitted {
            key_id: env.key_id.clone(),
            nonce: env.nonce,
            target: from,
            probes: probes.clone(),
        })
    }

    /// An authenticated refusal for `from`, or a silent drop when the refusal would be larger than
    /// the request (never amplify, even towards a key holder's forged address).
    fn refuse(
        &self,
        request_len: usize,
        env: &Envelope,
        from: IpAddr,
        unix_ms: u64,
        reason: Refusal,
        code: RefusalCode,
    ) -> Admission {
        let reply = self.keys.get(&env.key_id).and_then(|secret| {
            encode(
                secret,
                &Envelope {
                    key_id: env.key_id.clone(),
                    unix_ms,
                    nonce: env.nonce,
                    body: Body::Refusal {
                        code,
                        observed: from,
                    },
                },
            )
            .ok()
        });
        match reply {
            Some(reply) if reply.len() <= request_len => Admission::Refuse { reason, reply },
            _ => Admission::Drop(reason),
        }
    }
}
