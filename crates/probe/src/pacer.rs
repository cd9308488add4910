//! Paces the reflector's probes: at most one probe per `spacing` towards any one target, so even an
//! admitted request cannot turn the reflector into a fast scanner of the requester's own address.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::wire::ProbeSpec;

/// A queue of probes released no faster than one per `spacing`.
#[derive(Debug)]
pub struct Pacer {
    spacing: Duration,
    queue: VecDeque<(IpAddr, ProbeSpec)>,
    next_at: Option<Instant>,
}

impl Pacer {
    /// A pacer releasing one probe per `spacing`.
    pub fn new(spacing: Duration) -> Self {
        Pacer {
            spacing,
            queue: VecDeque::new(),
            next_at: None,
        }
    }

    /// Queues the probes of an admitted request.
    pub fn push(&mut self, target: IpAddr, probes: &[ProbeSpec]) {
        self.queue.extend(probes.iter().map(|p| (target, *p)));
    }

    /// Probes waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The next probe, if one may run at `now`.
    #[must_use]
    pub fn poll_probe(&mut self, now: Instant) -> Option<(IpAddr, ProbeSpec)> {
        if self.next_at.is_some_and(|t| t > now) {
            return None;
        }
        let p = self.queue.pop_front()?;
        self.next_at = Some(now + self.spacing);
        Some(p)
    }

    /// When the next probe may run, if any is waiting.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.queue.is_empty() {
            None
        } else {
            self.next_at
        }
    }
}
