//! Paces the reflector's probes: at most one probe start per `spacing` towards any one target, and at
//! most `in_flight` probes waiting for answers at once, so even an admitted request cannot turn the
//! reflector into a fast scanner of the requester's own address.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::wire::ProbeSpec;

/// A queue of probes released no faster than one per `spacing`, with a bounded number running.
#[derive(Debug)]
pub struct Pacer {
    spacing: Duration,
    limit: usize,
    running: usize,
    queue: VecDeque<(IpAddr, ProbeSpec)>,
    next_at: Option<Instant>,
}

impl Pacer {
    /// A pacer releasing one probe per `spacing`, however many are still running.
    pub fn new(spacing: Duration) -> Self {
        Self::with_limit(spacing, usize::MAX)
    }

    /// A pacer releasing one probe per `spacing`, with at most `in_flight` (at least 1) released and
    /// not yet reported done.
    pub fn with_limit(spacing: Duration, in_flight: usize) -> Self {
        Pacer {
            spacing,
            limit: in_flight.max(1),
            running: 0,
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

    /// Probes released and not yet reported done.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Whether every slot is taken: no probe is released until one is reported done.
    pub fn is_full(&self) -> bool {
        self.running >= self.limit
    }

    /// A released probe finished.
    pub fn handle_done(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    /// The next probe, if one may start at `now`.
    #[must_use]
    pub fn poll_probe(&mut self, now: Instant) -> Option<(IpAddr, ProbeSpec)> {
        if self.is_full() || self.next_at.is_some_and(|t| t > now) {
            return None;
        }
        let p = self.queue.pop_front()?;
        self.next_at = Some(now + self.spacing);
        self.running += 1;
        Some(p)
    }

    /// When the next probe may start, if one is waiting and a slot is free (when every slot is
    /// taken, the next start waits for [`Pacer::handle_done`] instead).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.queue.is_empty() || self.is_full() {
            None
        } else {
            self.next_at
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ProbeKind;

    fn probes(n: u16) -> Vec<ProbeSpec> {
        (1..=n)
            .map(|port| ProbeSpec {
                kind: ProbeKind::UDP,
                port,
            })
            .collect()
    }

    const TARGET: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));

    #[test]
    fn starts_are_spaced_even_when_slots_are_free() {
        let t0 = Instant::now();
        let spacing = Duration::from_millis(10);
        let mut p = Pacer::with_limit(spacing, 16);
        p.push(TARGET, &probes(5));
        let mut starts = Vec::new();
        let mut now = t0;
        while !p.is_empty() {
            if let Some((_, spec)) = p.poll_probe(now) {
                starts.push((spec.port, now - t0));
                continue;
            }
            // Jump the virtual clock to the next deadline.
            now = p.poll_timeout().unwrap();
        }
        let want: Vec<(u16, Duration)> = (1..=5).map(|i| (i, spacing * u32::from(i - 1))).collect();
        assert_eq!(starts, want);
        assert_eq!(p.running(), 5);
    }

    #[test]
    fn a_full_pacer_releases_nothing_until_a_probe_is_done() {
        let t0 = Instant::now();
        let mut p = Pacer::with_limit(Duration::from_millis(1), 2);
        p.push(TARGET, &probes(3));
        assert!(p.poll_probe(t0).is_some());
        assert!(p.poll_probe(t0 + Duration::from_millis(1)).is_some());
        assert!(p.is_full());
        assert_eq!(p.poll_timeout(), None);
        assert_eq!(p.poll_probe(t0 + Duration::from_secs(60)), None);
        p.handle_done();
        let late = t0 + Duration::from_secs(61);
        assert_eq!(p.poll_probe(late).map(|(_, s)| s.port), Some(3));
        assert!(p.is_empty());
    }

    #[test]
    fn a_one_slot_pacer_waits_for_each_probe() {
        let t0 = Instant::now();
        let mut p = Pacer::with_limit(Duration::ZERO, 1);
        p.push(TARGET, &probes(2));
        assert!(p.poll_probe(t0).is_some());
        assert_eq!(p.poll_probe(t0), None);
        p.handle_done();
        assert!(p.poll_probe(t0).is_some());
    }
}
