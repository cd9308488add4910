//! IPv4 and IPv6 fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5) with bounded memory.
//!
//! SIP over UDP fragments when an INVITE with a large SDP body exceeds the path MTU, and attackers send
//! fragments on purpose. The reassembler keeps at most [`ReasmLimits::max_datagrams`] datagrams and
//! [`ReasmLimits::max_bytes`] bytes in progress, evicts the oldest when full, drops a datagram whose fragments
//! overlap (RFC 5722's rule for IPv6, applied to IPv4 too: overlaps only serve evasion), and forgets
//! incomplete datagrams after [`ReasmLimits::timeout`]. Time is passed in, so tests use a virtual clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::IpFragment;

/// Bounds on what the reassembler holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasmLimits {
    /// Datagrams in progress at once.
    pub max_datagrams: usize,
    /// Payload bytes held across all datagrams in progress.
    pub max_bytes: usize,
    /// How long an incomplete datagram is kept (Linux's `ipfrag_time` default is 30 s).
    pub timeout: Duration,
}

impl Default for ReasmLimits {
    fn default() -> Self {
        Self {
            max_datagrams: 256,
            max_bytes: 4 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Counters of what the reassembler discarded, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReasmStats {
    /// Datagrams completed.
    pub completed: u64,
    /// Incomplete datagrams dropped after the timeout.
    pub timed_out: u64,
    /// Incomplete datagrams evicted to stay within the limits.
    pub evicted: u64,
    /// Datagrams dropped because fragments overlapped or exceeded 65,535 bytes.
    pub invalid: u64,
}

/// A reassembled datagram: the transport header and payload, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number.
    pub protocol: u8,
    /// The IP payload: decode it with [`super::decode_transport`].
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    protocol: u8,
}

#[derive(Debug)]
struct Partial {
    first_seen: Duration,
    data: Vec<u8>,
    /// Received byte ranges, sorted, disjoint.
    have: Vec<(usize, usize)>,
    /// Total payload length, known once the last fragment (MF clear) arrived.
    total: Option<usize>,
}

/// IPv4 and IPv6 fragment reassembler with bounded memory.
#[derive(Debug, Default)]
pub struct Reassembler {
    limits: ReasmLimits,
    pending: HashMap<Key, Partial>,
    bytes: usize,
    stats: ReasmStats,
}

/// Largest reassembled payload: IPv4's 65,535 minus the minimal header (IPv6 allows a few bytes more
/// without a jumbogram; SIP needs neither).
const MAX_PAYLOAD: usize = 65_535 - 20;

impl Reassembler {
    /// A reassembler with the given limits.
    pub fn new(limits: ReasmLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// What has been discarded so far.
    pub fn stats(&self) -> ReasmStats {
        self.stats
    }

    /// Datagrams currently in progress.
    pub fn in_progress(&self) -> usize {
        self.pending.len()
    }

    /// Bytes currently held.
    pub fn bytes_held(&self) -> usize {
        self.bytes
    }

    /// Adds a fragment seen at monotonic time `now`; returns the datagram when it is complete.
    pub fn push(&mut self, now: Duration, frag: &IpFragment<'_>) -> Option<Reassembled> {
        self.expire(now);
        let key = Key {
            src: frag.src,
            dst: frag.dst,
            id: frag.id,
            protocol: frag.protocol,
        };
        let start = frag.offset;
        let end = start.saturating_add(frag.data.len());
        if end > MAX_PAYLOAD || (frag.more && !frag.data.len().is_multiple_of(8)) {
            self.drop_key(&key);
            self.stats.invalid += 1;
            return None;
        }
        if !self.pending.contains_key(&key) {
            while self.pending.len() >= self.limits.max_datagrams.max(1) {
                self.evict_oldest();
            }
            self.pending.insert(
                key,
                Partial {
                    first_seen: now,
                    data: Vec::new(),
                    have: Vec::new(),
                    total: None,
                },
            );
        }
        // Memory is accounted as allocated: a lone fragment at a high offset costs its offset too.
        let growth = end.saturating_sub(self.pending.get(&key).map_or(0, |p| p.data.len()));
        while self.bytes.saturating_add(growth) > self.limits.max_bytes {
            if !self.evict_oldest_except(&key) {
                // This datagram alone exceeds the budget.
                self.drop_key(&key);
                self.stats.evicted += 1;
                return None;
            }
        }
        let p = self.pending.get_mut(&key)?;
        let overlaps = p.have.iter().any(|&(s, e)| start < e && s < end);
        let beyond_total = p.total.is_some_and(|t| end > t || (!frag.more && end != t));
        let before_last = !frag.more && p.have.iter().any(|&(_, e)| e > end);
        if overlaps || beyond_total || before_last {
            self.drop_key(&key);
            self.stats.invalid += 1;
            return None;
        }
        if p.data.len() < end {
            p.data.resize(end, 0);
        }
        if let Some(dst) = p.data.get_mut(start..end) {
            dst.copy_from_slice(frag.data);
        }
        self.bytes += growth;
        let pos = p.have.partition_point(|&(s, _)| s < start);
        p.have.insert(pos, (start, end));
        if !frag.more {
            p.total = Some(end);
        }
        let complete = p.total.is_some_and(|t| {
            let mut next = 0;
            for &(s, e) in &p.have {
                if s != next {
                    return false;
                }
                next = e;
            }
            next == t
        });
        if !complete {
            return None;
        }
        let p = self.pending.remove(&key)?;
        self.bytes = self.bytes.saturating_sub(p.data.len());
        self.stats.completed += 1;
        Some(Reassembled {
            src: key.src,
            dst: key.dst,
            protocol: key.protocol,
            data: p.data,
        })
    }

    /// Drops incomplete datagrams older than the timeout.
    pub fn expire(&mut self, now: Duration) {
        let timeout = self.limits.timeout;
        let mut freed = 0;
        let before = self.pending.len();
        self.pending.retain(|_, p| {
            let keep = now.saturating_sub(p.first_seen) < timeout;
            if !keep {
                freed += held(p);
            }
            keep
        });
        self.stats.timed_out += (before - self.pending.len()) as u64;
        self.bytes = self.bytes.saturating_sub(freed);
    }

    fn drop_key(&mut self, key: &Key) {
        if let Some(p) = self.pending.remove(key) {
            self.bytes = self.bytes.saturating_sub(held(&p));
        }
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .pending
            .iter()
            .min_by_key(|(_, p)| p.first_seen)
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            self.drop_key(&k);
            self.stats.evicted += 1;
        }
    }

    fn evict_oldest_except(&mut self, keep: &Key) -> bool {
        let oldest = self
            .pending
            .iter()
            .filter(|(k, _)| *k != keep)
            .min_by_key(|(_, p)| p.first_seen)
            .map(|(k, _)| *k);
        match oldest {
            Some(k) => {
                self.drop_key(&k);
                self.stats.evicted += 1;
                true
            }
            None => false,
        }
    }
}

/// Bytes accounted to a partial datagram: its buffer.
fn held(p: &Partial) -> usize {
    p.data.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(id: u16, offset: usize, more: bool, data: &[u8]) -> IpFragment<'_> {
        IpFragment {
            src: IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)),
            dst: IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2)),
            id: u32::from(id),
            protocol: 17,
            offset,
            more,
            data,
        }
    }

    const T0: Duration = Duration::from_secs(100);

    #[test]
    fn fragments_in_any_order_reassemble_once() {
        let payload: Vec<u8> = (0..40u8).collect();
        let mut r = Reassembler::new(ReasmLimits::default());
        assert!(r.push(T0, &frag(1, 32, false, &payload[32..])).is_none());
        assert!(r.push(T0, &frag(1, 0, true, &payload[..16])).is_none());
        let done = r.push(T0, &frag(1, 16, true, &payload[16..32])).unwrap();
        assert_eq!(done.data, payload);
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.bytes_held(), 0);
        assert_eq!(r.stats().completed, 1);
    }

    #[test]
    fn ipv4_and_ipv6_datagrams_with_the_same_id_are_kept_apart() {
        let payload: Vec<u8> = (0..32u8).collect();
        let v6 = |offset, more, data| IpFragment {
            src: IpAddr::V6("2001:db8::1".parse().unwrap()),
            dst: IpAddr::V6("2001:db8::2".parse().unwrap()),
            ..frag(7, offset, more, data)
        };
        let mut r = Reassembler::new(ReasmLimits::default());
        assert!(r.push(T0, &frag(7, 0, true, &payload[..16])).is_none());
        assert!(r.push(T0, &v6(0, true, &[9; 16])).is_none());
        assert_eq!(r.in_progress(), 2);
        let done = r.push(T0, &v6(16, false, &payload[16..])).unwrap();
        assert_eq!(done.src, IpAddr::V6("2001:db8::1".parse().unwrap()));
        assert_eq!(&done.data[16..], &payload[16..]);
        assert_eq!(&done.data[..16], &[9; 16]);
        let done = r.push(T0, &frag(7, 16, false, &payload[16..])).unwrap();
        assert_eq!(done.data, payload);
    }

    #[test]
    fn overlapping_fragments_drop_the_datagram() {
        let mut r = Reassembler::new(ReasmLimits::default());
        assert!(r.push(T0, &frag(2, 0, true, &[0; 16])).is_none());
        assert!(r.push(T0, &frag(2, 8, false, &[1; 16])).is_none());
        assert_eq!(r.stats().invalid, 1);
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.bytes_held(), 0);
    }

    #[test]
    fn incomplete_datagrams_time_out() {
        let mut r = Reassembler::new(ReasmLimits::default());
        r.push(T0, &frag(3, 0, true, &[0; 8]));
        r.expire(T0 + Duration::from_secs(29));
        assert_eq!(r.in_progress(), 1);
        r.expire(T0 + Duration::from_secs(30));
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.stats().timed_out, 1);
        assert_eq!(r.bytes_held(), 0);
    }

    #[test]
    fn memory_stays_within_the_limits_under_a_fragment_flood() {
        let limits = ReasmLimits {
            max_datagrams: 16,
            max_bytes: 4096,
            timeout: Duration::from_secs(30),
        };
        let mut r = Reassembler::new(limits);
        let chunk = [0u8; 512];
        for id in 0..10_000u16 {
            r.push(
                T0 + Duration::from_millis(u64::from(id)),
                &frag(id, 0, true, &chunk),
            );
            assert!(r.in_progress() <= 16);
            assert!(r.bytes_held() <= 4096);
        }
        assert!(r.stats().evicted > 9_000);
    }

    #[test]
    fn oversized_and_misaligned_fragments_are_invalid() {
        let mut r = Reassembler::new(ReasmLimits::default());
        assert!(r.push(T0, &frag(4, 65_528, false, &[0; 16])).is_none());
        assert!(r.push(T0, &frag(5, 0, true, &[0; 7])).is_none());
        assert_eq!(r.stats().invalid, 2);
    }
}
