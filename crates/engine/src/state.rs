//! Per-source state and the bounded tables that hold it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use foldhash::fast::SeedableRandomState as RandomState;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use pbxguard_config::Config;

use crate::counter::{DistinctCounter, Tick, WindowCounter};
use crate::observation::Timestamp;

/// A tracked source: an IPv4 address as an IPv4-mapped IPv6 value, or an IPv6 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub(crate) struct Key(pub(crate) u128);

const _: () = assert!(
    std::mem::size_of::<Source>() <= 152,
    "per-source state grew: keep it under 256 bytes per source"
);

impl From<IpAddr> for Key {
    fn from(a: IpAddr) -> Self {
        match a {
            IpAddr::V4(v4) => Key(u128::from(v4.to_ipv6_mapped())),
            IpAddr::V6(v6) => Key(u128::from(v6)),
        }
    }
}

impl Key {
    /// The address the key stands for (for an IPv6 prefix, its first address).
    pub(crate) fn addr(self) -> IpAddr {
        let v6 = Ipv6Addr::from(self.0);
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    }

    /// What a ban of this key covers.
    pub(crate) fn to_net(self, v6_prefix: u8) -> IpNet {
        match self.addr() {
            IpAddr::V4(v4) => IpNet::V4(
                Ipv4Net::new(v4, 32).unwrap_or_else(|_| Ipv4Net::from(Ipv4Addr::UNSPECIFIED)),
            ),
            IpAddr::V6(v6) => IpNet::V6(
                Ipv6Net::new(v6, v6_prefix.min(128)).unwrap_or_else(|_| Ipv6Net::from(v6)),
            ),
        }
    }
}

/// A short sample of attacker-supplied text, kept inline so evidence costs no allocation per packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Default for Sample<N> {
    fn default() -> Self {
        Self {
            len: 0,
            bytes: [0; N],
        }
    }
}

impl<const N: usize> Sample<N> {
    pub(crate) fn set(&mut self, value: &[u8]) {
        let n = value.len().min(N);
        if let (Some(dst), Some(src)) = (self.bytes.get_mut(..n), value.get(..n)) {
            dst.copy_from_slice(src);
            self.len = u8::try_from(n).unwrap_or(0);
        }
    }

    pub(crate) fn get(&self) -> Option<String> {
        let b = self.bytes.get(..usize::from(self.len))?;
        if b.is_empty() {
            return None;
        }
        Some(
            String::from_utf8_lossy(b)
                .chars()
                .filter(|c| !c.is_control())
                .collect(),
        )
    }
}

/// What the engine remembers about one source that is not banned.
#[derive(Debug, Clone, Default)]
pub(crate) struct Source {
    pub(crate) rate1: WindowCounter,
    pub(crate) rate2: WindowCounter,
    pub(crate) unknown: WindowCounter,
    pub(crate) auth: WindowCounter,
    pub(crate) challenge: WindowCounter,
    pub(crate) malformed: WindowCounter,
    pub(crate) users: DistinctCounter,
    pub(crate) last_seen: Tick,
    pub(crate) trusted_until: Tick,
    /// Hash of the last User-Agent/From combination found clean (0: none yet).
    pub(crate) clean_fingerprint: u32,
    pub(crate) ever_trusted: bool,
    pub(crate) sample_user: Sample<16>,
    pub(crate) sample_ua: Sample<24>,
}

impl Source {
    pub(crate) fn is_trusted(&self, now: Tick) -> bool {
        self.trusted_until > now
    }

    /// How much the source's state is worth keeping, 0 to 255: suspicion (how close a detector is to
    /// firing; trusted sources rank highest) in the high bits, recency in the low two. Eviction removes
    /// the lowest first.
    fn eviction_score(&mut self, now: Tick, c: &Config) -> u8 {
        let idle = now.saturating_sub(self.last_seen);
        let recency = match idle {
            0..10 => 3,
            10..100 => 2,
            100..600 => 1,
            _ => 0,
        };
        if self.is_trusted(now) {
            return 252 + recency;
        }
        let t = |d: std::time::Duration| {
            u32::try_from(d.as_millis() / 100)
                .unwrap_or(u32::MAX)
                .max(1)
        };
        let r = &c.rules;
        let ratios = [
            (
                self.auth.estimate(now, t(r.auth.window)),
                r.auth.max_failures,
            ),
            (
                self.challenge.estimate(now, t(r.challenge.window)),
                r.challenge.max_unanswered,
            ),
            (
                self.malformed.estimate(now, t(r.malformed.window)),
                r.malformed.max_anomalies,
            ),
            (
                self.rate1.estimate(now, t(r.rate.level1_window)),
                r.rate.level1_rate.max(1),
            ),
            (
                self.unknown.estimate(now, t(r.rate.unknown_window)),
                r.rate.unknown_max_packets.max(1),
            ),
        ];
        let worst = ratios
            .iter()
            .map(|(n, limit)| u64::from(*n) * 62 / u64::from((*limit).max(1)))
            .max()
            .unwrap_or(0);
        let users = if self.users.is_idle(now, t(r.enumeration.window)) {
            0
        } else {
            1
        };
        let suspicion = u8::try_from(worst.min(62)).unwrap_or(62).max(users);
        suspicion * 4 + recency
    }
}

/// What the engine remembers about a source it banned: kept through the ban and for the recidive window
/// after it, so repeat offences escalate.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Offender {
    pub(crate) banned_until: Timestamp,
    pub(crate) last_offence: Timestamp,
    pub(crate) offences: u32,
}

/// A request the engine saw, so the PBX's answer can be matched to it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Txn {
    pub(crate) tag: u64,
    pub(crate) user: u64,
    pub(crate) credentialed: bool,
    pub(crate) at: Tick,
}

/// Per (source, user) failures: a small side table, only for users that failed.
#[derive(Debug, Clone, Copy, Default)]
struct UserFailures {
    counter: WindowCounter,
    alerted_at: Option<Tick>,
}

/// Transactions older than this (SIP timer F, 32 s) no longer match a response.
const TXN_TTL: Tick = 320;
const TXN_SLOTS: usize = 1 << 16;

pub(crate) struct Tables {
    hasher: RandomState,
    pub(crate) sources: SourceTable,
    pub(crate) offenders: HashMap<Key, Offender, RandomState>,
    users: HashMap<u64, UserFailures, RandomState>,
    txns: Box<[Txn]>,
    cap: usize,
}

impl Tables {
    /// Tables keyed with `hasher`: random per process in the daemon (an attacker cannot aim sources at
    /// one set), fixed for reproducible offline runs.
    pub(crate) fn new(config: &Config, hasher: RandomState) -> Self {
        let cap = Self::cap_of(config);
        Self {
            sources: SourceTable::new(cap, hasher.clone()),
            offenders: HashMap::with_hasher(hasher.clone()),
            users: HashMap::with_hasher(hasher.clone()),
            txns: vec![Txn::default(); TXN_SLOTS].into_boxed_slice(),
            cap,
            hasher,
        }
    }

    fn cap_of(config: &Config) -> usize {
        usize::try_from(config.limits.max_sources)
            .unwrap_or(usize::MAX)
            .max(16)
    }

    pub(crate) fn resize(&mut self, config: &Config) {
        self.cap = Self::cap_of(config);
        if self.cap != self.sources.capacity() {
            self.sources = self.sources.rebuilt(self.cap);
        }
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        // hashbrown: one control byte per bucket plus the entry; buckets ≈ capacity × 8/7.
        fn table<K, V, S>(m: &HashMap<K, V, S>) -> usize {
            m.capacity() * 8 / 7 * (std::mem::size_of::<(K, V)>() + 1)
        }
        self.sources.memory_bytes()
            + table(&self.offenders)
            + table(&self.users)
            + self.txns.len() * std::mem::size_of::<Txn>()
    }

    pub(crate) fn hash_bytes(&self, bytes: &[u8]) -> u64 {
        crate::hash_with(&self.hasher, &[bytes], 0)
    }

    /// A nonzero 32-bit hash of the scanner-relevant headers of a request.
    pub(crate) fn fingerprint(&self, parts: &[Option<&[u8]>; 3]) -> u32 {
        let [a, b, c] = parts.map(|p| p.unwrap_or_default());
        let h = crate::hash_with(&self.hasher, &[a, b, c], 0);
        u32::try_from(h >> 32).unwrap_or(1).max(1)
    }

    pub(crate) fn txn_tag(&self, key: Key, call_id: &[u8], cseq: u32) -> u64 {
        crate::hash_with(&self.hasher, &[call_id], key.0 ^ u128::from(cseq))
    }

    fn slot(tag: u64) -> usize {
        usize::try_from(tag).unwrap_or(0) & (TXN_SLOTS - 1)
    }

    pub(crate) fn remember(&mut self, txn: Txn) {
        if let Some(slot) = self.txns.get_mut(Self::slot(txn.tag)) {
            *slot = txn;
        }
    }

    pub(crate) fn recall(&self, tag: u64, now: Tick) -> Option<Txn> {
        self.txns
            .get(Self::slot(tag))
            .copied()
            .filter(|t| t.tag == tag && now.saturating_sub(t.at) <= TXN_TTL)
    }

    pub(crate) fn forget(&mut self, tag: u64) {
        if let Some(slot) = self.txns.get_mut(Self::slot(tag))
            && slot.tag == tag
        {
            *slot = Txn::default();
        }
    }

    fn user_key(&self, key: Key, user: u64) -> u64 {
        crate::hash_with(&self.hasher, &[&user.to_le_bytes()], key.0)
    }

    /// Counts a failure of `user` from `key` and returns the windowed count, never below the failures of
    /// the sliding window (a failing user must not go unreported because of where a window boundary fell).
    pub(crate) fn user_failure(&mut self, key: Key, user: u64, now: Tick, w: Tick) -> u32 {
        let k = self.user_key(key, user);
        if self.users.len() >= self.cap && !self.users.contains_key(&k) {
            self.users.retain(|_, u| !u.counter.is_idle(now, w));
            if self.users.len() >= self.cap {
                // Still full of live counters: drop the lot rather than grow; sources keep their own counts.
                self.users.clear();
            }
        }
        self.users
            .entry(k)
            .or_default()
            .counter
            .add_no_undercount(now, w, 1)
    }

    /// Whether to raise the per-user alert now (once per window per user).
    pub(crate) fn should_alert_user(&mut self, key: Key, user: u64, now: Tick, w: Tick) -> bool {
        let k = self.user_key(key, user);
        match self.users.get_mut(&k) {
            Some(u) if u.alerted_at.is_none_or(|t| now.saturating_sub(t) >= w) => {
                u.alerted_at = Some(now);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn clear_user(&mut self, key: Key, user: u64) {
        let k = self.user_key(key, user);
        self.users.remove(&k);
    }

    /// The state of `key`, created if new (possibly evicting a less valuable source).
    pub(crate) fn source(
        &mut self,
        key: Key,
        now: Tick,
        config: &Config,
        evicted: &mut u64,
    ) -> &mut Source {
        self.sources.get_or_insert(key, now, config, evicted)
    }

    /// Keeps the offender table within the same bound: expired offenders outside the recidive window go
    /// first, then expired ones, then the bans that end soonest (the kernel keeps enforcing them anyway).
    pub(crate) fn bound_offenders(&mut self, now: Timestamp) {
        if self.offenders.len() <= self.cap {
            return;
        }
        self.offenders.retain(|_, o| o.banned_until > now);
        if self.offenders.len() > self.cap {
            let mut ends: Vec<Timestamp> =
                self.offenders.values().map(|o| o.banned_until).collect();
            let drop =
                (self.offenders.len() - self.cap + self.cap / 8).min(ends.len().saturating_sub(1));
            ends.select_nth_unstable(drop);
            if let Some(limit) = ends.get(drop).copied() {
                self.offenders.retain(|_, o| o.banned_until > limit);
            }
        }
    }
}

/// Ways per set: a new source may replace the least valuable of the 8 sources its key hashes to.
const WAYS: usize = 8;

/// One set of the source table: which ways are used, their keys (scanned together), their states.
#[derive(Clone, Default)]
struct Set {
    used: u8,
    keys: [Key; WAYS],
    states: [Source; WAYS],
}

/// The per-source table: a fixed-size, set-associative cache of [`Source`]s, allocated once at the bound.
///
/// A key can live only in the set its keyed hash selects. When that set is full, the new source replaces
/// the set's least valuable one (lowest [`Source::eviction_score`]: least suspicious, least recent, never a
/// trusted source before an untrusted one). Memory is exactly `capacity × entry size` at every instant, there
/// are no sweeps and no tombstones, and every operation touches one set.
pub(crate) struct SourceTable {
    sets: Box<[Set]>,
    hasher: RandomState,
    len: usize,
}

impl SourceTable {
    fn new(cap: usize, hasher: RandomState) -> Self {
        let n = cap.div_ceil(WAYS).max(1);
        Self {
            sets: vec![Set::default(); n].into_boxed_slice(),
            hasher,
            len: 0,
        }
    }

    /// A table of another capacity holding as many of this table's sources as fit.
    fn rebuilt(&self, cap: usize) -> Self {
        let mut t = Self::new(cap, self.hasher.clone());
        let mut ignored = 0;
        for set in self.sets.iter() {
            for (way, key) in set.keys.iter().enumerate() {
                if set.used & (1 << way) != 0
                    && let Some(src) = set.states.get(way)
                {
                    t.put(*key, src.clone(), &mut ignored);
                }
            }
        }
        t
    }

    fn capacity(&self) -> usize {
        self.sets.len() * WAYS
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn memory_bytes(&self) -> usize {
        self.sets.len() * std::mem::size_of::<Set>()
    }

    fn set_index(&self, key: Key) -> usize {
        let h = crate::hash_with(&self.hasher, &[], key.0);
        // Multiply-shift maps the hash onto 0..sets without a division or a power-of-two size.
        let n = self.sets.len() as u128;
        usize::try_from((u128::from(h) * n) >> 64).unwrap_or(0)
    }

    fn find(set: &Set, key: Key) -> Option<usize> {
        (0..WAYS).find(|&w| set.used & (1 << w) != 0 && set.keys.get(w) == Some(&key))
    }

    pub(crate) fn remove(&mut self, key: Key) {
        let i = self.set_index(key);
        if let Some(set) = self.sets.get_mut(i)
            && let Some(w) = Self::find(set, key)
        {
            set.used &= !(1 << w);
            self.len -= 1;
        }
    }

    /// Inserts without scoring: used when rebuilding, where an overflowing set simply drops the newcomer.
    fn put(&mut self, key: Key, src: Source, dropped: &mut u64) {
        let i = self.set_index(key);
        let Some(set) = self.sets.get_mut(i) else {
            return;
        };
        match (0..WAYS).find(|&w| set.used & (1 << w) == 0) {
            Some(w) => {
                set.used |= 1 << w;
                if let (Some(k), Some(s)) = (set.keys.get_mut(w), set.states.get_mut(w)) {
                    *k = key;
                    *s = src;
                }
                self.len += 1;
            }
            None => *dropped += 1,
        }
    }

    // Indexes are in range by construction: `set_index` returns `(h × n) >> 64 < n` for n = sets.len() ≥ 1,
    // and ways are drawn from 0..WAYS.
    #[allow(clippy::indexing_slicing)]
    fn get_or_insert(
        &mut self,
        key: Key,
        now: Tick,
        config: &Config,
        evicted: &mut u64,
    ) -> &mut Source {
        let i = self.set_index(key);
        let set = &mut self.sets[i];
        let way = match Self::find(set, key) {
            Some(w) => w,
            None => {
                let w = match (0..WAYS).find(|&w| set.used & (1 << w) == 0) {
                    Some(free) => {
                        self.len += 1;
                        free
                    }
                    None => {
                        *evicted += 1;
                        (0..WAYS)
                            .min_by_key(|&w| set.states[w].eviction_score(now, config))
                            .unwrap_or(0)
                    }
                };
                set.used |= 1 << w;
                set.keys[w] = key;
                set.states[w] = Source::default();
                w
            }
        };
        &mut set.states[way]
    }
}
