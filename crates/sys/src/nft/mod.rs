//! The nf_tables enforcer: pbxguard's own table, ban and allow sets, and one prerouting chain, driven over
//! netlink in batched transactions.
//!
//! # What it creates (and all it ever touches)
//!
//! ```text
//! table inet pbxguard {
//!     set allow4  { type ipv4_addr; flags interval; }
//!     set allow6  { type ipv6_addr; flags interval; }
//!     set block4  { type ipv4_addr; flags interval; }
//!     set block6  { type ipv6_addr; flags interval; }
//!     set ban4    { type ipv4_addr; flags timeout; }
//!     set ban6    { type ipv6_addr; flags timeout; }
//!     set ban6net { type ipv6_addr; flags timeout; }          # networks (default /64), host bits zero
//!     chain prerouting {
//!         type filter hook prerouting priority raw; policy accept;   # raw = -300, before conntrack (-200)
//!         ip saddr @allow4 counter accept
//!         ip6 saddr @allow6 counter accept
//!         ip saddr @block4 counter drop
//!         ip6 saddr @block6 counter drop
//!         ip saddr @ban4 counter drop
//!         ip6 saddr @ban6 counter drop
//!         ip6 saddr & ffff:ffff:ffff:ffff:: @ban6net counter drop   # mask from the prefix length
//!     }
//! }
//! ```
//!
//! The chain runs before connection tracking, so a host ruleset's `ct state established,related accept`
//! cannot let a banned UDP source through (the trap that makes fail2ban's UDP bans useless). `accept` here
//! only ends this chain: allow-listed traffic still meets every rule of the host's own tables.
//!
//! # Use
//!
//! ```no_run
//! use std::time::Duration;
//! use pbxguard_sys::nft::{Enforcer, Nft, Target};
//!
//! let mut nft = Nft::open()?;                    // needs CAP_NET_ADMIN
//! nft.ensure_table()?;                           // idempotent; keeps bans already in the sets
//! nft.set_allow(&["192.0.2.0/24".parse().expect("valid")])?;
//! let attacker = Target::from("198.51.100.7".parse::<std::net::IpAddr>().expect("valid"));
//! nft.ban(&[(attacker, Some(Duration::from_secs(3600)))])?;
//! for b in nft.list_bans()? {
//!     println!("{} expires in {:?}", b.target, b.expires);
//! }
//! nft.unban(&[attacker])?;
//! nft.delete_table()?;                           // removes every trace
//! # Ok::<(), pbxguard_sys::nft::NftError>(())
//! ```
//!
//! # Why hand-written nfnetlink
//!
//! The messages needed are few (table, chain, set, rule, element add/delete/dump) and fixed, while batching,
//! chunking below the 64 KiB attribute limit, acknowledgement accounting and error attribution must be
//! under our control. The candidates: `rustables` covers nf_tables but is GPL-3.0-or-later (this workspace
//! is Apache-2.0) and runs bindgen at build time (libclang in CI). `netlink-packet-netfilter` (MIT) gained
//! typed nf_tables messages in 0.4, but brings the `netlink-packet-core`/`-utils` stack for what is a
//! few hundred lines here, and batching and ack accounting would still be ours. `neli` is generic netlink framing only; `nlink` is async. The encoder (module `wire`) is pure code
//! with unit tests; the only system calls are in the socket module, and the one dependency is `libc`.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::netlink::NetlinkSocket;

pub(crate) mod wire;

use wire::{Elem, Match, MsgBuf, SetSpec, Verdict};

/// The table pbxguard owns: `inet pbxguard`. Nothing outside it is ever created, changed or deleted.
pub const TABLE: &str = "pbxguard";
/// The base chain inside [`TABLE`].
pub const CHAIN: &str = "prerouting";
/// Hook priority of [`CHAIN`]: `raw` (-300), before conntrack (-200) and any filter chain (0).
pub const PRIORITY: i32 = -300;

const ALLOW4: SetSpec = SetSpec {
    name: "allow4",
    id: 1,
    key_type: wire::TYPE_IPADDR,
    key_len: 4,
    flags: wire::NFT_SET_INTERVAL,
};
const ALLOW6: SetSpec = SetSpec {
    name: "allow6",
    id: 2,
    key_type: wire::TYPE_IP6ADDR,
    key_len: 16,
    flags: wire::NFT_SET_INTERVAL,
};
const BLOCK4: SetSpec = SetSpec {
    name: "block4",
    id: 6,
    key_type: wire::TYPE_IPADDR,
    key_len: 4,
    flags: wire::NFT_SET_INTERVAL,
};
const BLOCK6: SetSpec = SetSpec {
    name: "block6",
    id: 7,
    key_type: wire::TYPE_IP6ADDR,
    key_len: 16,
    flags: wire::NFT_SET_INTERVAL,
};
const BAN4: SetSpec = SetSpec {
    name: "ban4",
    id: 3,
    key_type: wire::TYPE_IPADDR,
    key_len: 4,
    flags: wire::NFT_SET_TIMEOUT,
};
const BAN6: SetSpec = SetSpec {
    name: "ban6",
    id: 4,
    key_type: wire::TYPE_IP6ADDR,
    key_len: 16,
    flags: wire::NFT_SET_TIMEOUT,
};
const BAN6NET: SetSpec = SetSpec {
    name: "ban6net",
    id: 5,
    key_type: wire::TYPE_IP6ADDR,
    key_len: 16,
    flags: wire::NFT_SET_TIMEOUT,
};

/// The rules of [`CHAIN`], in order, for IPv6 network bans of `prefix` bits.
fn rules(prefix: u8) -> [(Match, SetSpec, Verdict); 7] {
    [
        (Match::Ip4Saddr, ALLOW4, Verdict::Accept),
        (Match::Ip6Saddr, ALLOW6, Verdict::Accept),
        (Match::Ip4Saddr, BLOCK4, Verdict::Drop),
        (Match::Ip6Saddr, BLOCK6, Verdict::Drop),
        (Match::Ip4Saddr, BAN4, Verdict::Drop),
        (Match::Ip6Saddr, BAN6, Verdict::Drop),
        (Match::Ip6SaddrNet(prefix), BAN6NET, Verdict::Drop),
    ]
}

/// Default prefix length of IPv6 network bans: one host usually controls a whole /64.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The longest timeout the kernel accepts for an element is bounded by its jiffies conversion; pbxguard
/// caps bans at ten years, far beyond any policy, and treats "no timeout" as "until unbanned".
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Largest batch sent in one `sendmsg`; bigger element lists become several consecutive transactions.
const MAX_BATCH_BYTES: usize = 4 << 20;

// Message types added in Linux 6.3; older kernels answer EINVAL and pbxguard falls back.
const NFT_MSG_DESTROYSETELEM: u8 = 30;

/// What is banned: an address, or an IPv6 network, since one IPv6 host usually controls a whole /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// One IPv4 address (set `ban4`).
    V4(Ipv4Addr),
    /// One IPv6 address (set `ban6`).
    V6(Ipv6Addr),
    /// An IPv6 network (set `ban6net`), host bits zero. The prefix length must be the one the enforcer's
    /// table was set up with ([`Nft::set_ipv6_prefix`], default [`DEFAULT_IPV6_PREFIX`]): one set, one mask.
    V6Net(Ipv6Addr, u8),
}

impl Target {
    /// The network of `prefix` bits containing `addr` (`prefix` is capped at 128).
    pub fn v6_net(addr: Ipv6Addr, prefix: u8) -> Self {
        let prefix = prefix.min(128);
        Self::V6Net(Ipv6Addr::from(u128::from(addr) & mask128(prefix)), prefix)
    }

    fn set(&self) -> &'static SetSpec {
        match self {
            Self::V4(_) => &BAN4,
            Self::V6(_) => &BAN6,
            Self::V6Net(..) => &BAN6NET,
        }
    }

    fn key(&self) -> KeyBytes {
        match self {
            Self::V4(a) => KeyBytes::V4(a.octets()),
            Self::V6(a) => KeyBytes::V6(a.octets()),
            Self::V6Net(a, p) => KeyBytes::V6((u128::from(*a) & mask128(*p)).to_be_bytes()),
        }
    }
}

impl From<IpAddr> for Target {
    /// IPv4-mapped IPv6 addresses (from dual-stack sockets) become IPv4 targets: that is what the packets
    /// carry on the wire.
    fn from(a: IpAddr) -> Self {
        match a.to_canonical() {
            IpAddr::V4(v4) => Self::V4(v4),
            IpAddr::V6(v6) => Self::V6(v6),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(a) => write!(f, "{a}"),
            Self::V6(a) => write!(f, "{a}"),
            Self::V6Net(a, p) => write!(f, "{a}/{p}"),
        }
    }
}

#[derive(Clone, Copy)]
enum KeyBytes {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl KeyBytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Self::V4(k) => k,
            Self::V6(k) => k,
        }
    }
}

/// What one rule of the chain has matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCounter {
    /// The set the rule looks up (`allow4`, `block4`, `ban4`, `ban6`, `ban6net`, …).
    pub set: String,
    /// Packets matched (accepted for allow sets, dropped for the others).
    pub packets: u64,
    /// Bytes matched.
    pub bytes: u64,
}

/// A ban as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanEntry {
    /// What is banned.
    pub target: Target,
    /// The timeout the ban was (last) given; `None` for a ban without expiry.
    pub timeout: Option<Duration>,
    /// Time left before the kernel removes it; `None` for a ban without expiry.
    pub expires: Option<Duration>,
}

/// A network in CIDR notation, for the allow lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a CIDR string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CidrError {
    /// The address part is not an IPv4 or IPv6 address.
    AddressInvalid(String),
    /// The prefix length is not a number within 0..=32 (IPv4) or 0..=128 (IPv6).
    PrefixInvalid(String),
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AddressInvalid(s) => write!(f, "`{s}` is not an IP address"),
            Self::PrefixInvalid(s) => write!(f, "`{s}` is not a valid prefix length"),
        }
    }
}

impl std::error::Error for CidrError {}

impl Cidr {
    /// `addr/prefix`, with host bits cleared.
    ///
    /// # Errors
    ///
    /// [`CidrError::PrefixInvalid`] when `prefix` exceeds the address width.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, CidrError> {
        let width = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > width {
            return Err(CidrError::PrefixInvalid(prefix.to_string()));
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(prefix))),
        };
        Ok(Self { addr, prefix })
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask32(self.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask128(self.prefix) == u128::from(n),
            _ => false,
        }
    }

    /// First address and last address, as integers in a 128-bit space.
    fn range(&self) -> (u128, u128) {
        match self.addr {
            IpAddr::V4(a) => {
                let s = u32::from(a);
                (u128::from(s), u128::from(s | !mask32(self.prefix)))
            }
            IpAddr::V6(a) => {
                let s = u128::from(a);
                (s, s | !mask128(self.prefix))
            }
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128).
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| CidrError::AddressInvalid(a.to_owned()))?;
        let prefix = match p {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .map_err(|_| CidrError::PrefixInvalid(p.to_owned()))?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Self::new(addr, prefix).map_err(|_| CidrError::PrefixInvalid(prefix.to_string()))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Merges overlapping and adjacent networks into disjoint inclusive ranges, sorted (the kernel's interval
/// sets reject overlapping elements).
fn merge_ranges(nets: impl Iterator<Item = (u128, u128)>) -> Vec<(u128, u128)> {
    let mut v: Vec<(u128, u128)> = nets.collect();
    v.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// The two static network lists of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetList {
    /// Never dropped by pbxguard (sets `allow4`/`allow6`, checked first): allow-listed networks and trunks.
    Allow,
    /// Always dropped (sets `block4`/`block6`), unless also allow-listed.
    Block,
}

impl NetList {
    fn sets(self) -> [(&'static SetSpec, bool); 2] {
        match self {
            Self::Allow => [(&ALLOW4, true), (&ALLOW6, false)],
            Self::Block => [(&BLOCK4, true), (&BLOCK6, false)],
        }
    }
}

impl fmt::Display for NetList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Block => "block",
        })
    }
}

/// Why an nf_tables operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum NftError {
    /// The netlink socket could not be opened (no `CAP_NET_ADMIN`, or no nf_tables in this kernel).
    SocketOpenFailed(io::Error),
    /// Joining the requested network namespace failed.
    NamespaceJoinFailed(io::Error),
    /// Sending a request to the kernel failed.
    SendFailed(io::Error),
    /// Receiving the kernel's answer failed (including timing out after 5 s).
    ReceiveFailed(io::Error),
    /// The kernel refused an operation of the transaction; nothing of that transaction was applied.
    KernelRejected {
        /// Which operation (e.g. "add elements to ban4").
        operation: &'static str,
        /// The error the kernel returned.
        error: io::Error,
    },
    /// The kernel did not acknowledge every message of a transaction.
    AcknowledgementMissing {
        /// How many messages were sent.
        sent: usize,
        /// How many were acknowledged.
        acknowledged: usize,
    },
    /// Table `inet pbxguard` does not exist (call [`Nft::ensure_table`] first).
    TableMissing,
    /// A request was larger than the netlink encoding allows; a bug in the chunking.
    RequestTooLarge,
    /// An IPv6 ban prefix length outside 1..=128 was configured.
    PrefixLengthInvalid(u8),
    /// An IPv6 network ban's prefix length differs from the one the table was set up with.
    PrefixLengthMismatch {
        /// The enforcer's prefix length.
        table: u8,
        /// The target's prefix length.
        given: u8,
    },
}

impl fmt::Display for NftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SocketOpenFailed(e) => write!(f, "cannot open nf_tables netlink socket: {e}"),
            Self::NamespaceJoinFailed(e) => write!(f, "cannot join network namespace: {e}"),
            Self::SendFailed(e) => write!(f, "netlink send failed: {e}"),
            Self::ReceiveFailed(e) => write!(f, "netlink receive failed: {e}"),
            Self::KernelRejected { operation, error } => {
                write!(f, "kernel rejected `{operation}`: {error}")
            }
            Self::AcknowledgementMissing { sent, acknowledged } => write!(
                f,
                "kernel acknowledged {acknowledged} of {sent} nf_tables messages"
            ),
            Self::TableMissing => write!(f, "table inet {TABLE} does not exist"),
            Self::RequestTooLarge => write!(f, "nf_tables request exceeds netlink limits"),
            Self::PrefixLengthInvalid(p) => {
                write!(f, "IPv6 ban prefix length /{p} is outside 1..=128")
            }
            Self::PrefixLengthMismatch { table, given } => write!(
                f,
                "IPv6 network ban of /{given} given, but the table bans /{table} networks"
            ),
        }
    }
}

/// The underlying system error is part of the message, so it is not repeated as a `source`.
impl std::error::Error for NftError {}

impl From<wire::AttrTooLong> for NftError {
    fn from(_: wire::AttrTooLong) -> Self {
        Self::RequestTooLarge
    }
}

/// The operations the daemon applies to the kernel, implemented by [`Nft`] (real) and [`DryRun`] (records).
pub trait Enforcer {
    /// Sets the prefix length of IPv6 network bans ([`Target::V6Net`]); takes effect at the next
    /// [`Enforcer::ensure_table`]. Elements already in `ban6net` keep the mask they were added with.
    ///
    /// # Errors
    ///
    /// [`NftError::PrefixLengthInvalid`] outside 1..=128.
    fn set_ipv6_prefix(&mut self, prefix: u8) -> Result<(), NftError>;

    /// The prefix length of IPv6 network bans.
    fn ipv6_prefix(&self) -> u8;

    /// Creates table, sets, chain and rules if missing; resets the chain's rules to pbxguard's; keeps
    /// elements already in the sets. Idempotent.
    ///
    /// # Errors
    ///
    /// [`NftError`] when the kernel refuses or cannot be reached.
    fn ensure_table(&mut self) -> Result<(), NftError>;

    /// Adds bans; `None` means no expiry. Re-banning a target replaces its timeout.
    ///
    /// # Errors
    ///
    /// [`NftError`] when the kernel refuses or cannot be reached.
    fn ban(&mut self, bans: &[(Target, Option<Duration>)]) -> Result<(), NftError>;

    /// Lifts bans; targets that are not banned (or already expired) are ignored.
    ///
    /// # Errors
    ///
    /// [`NftError`] when the kernel refuses or cannot be reached.
    fn unban(&mut self, targets: &[Target]) -> Result<(), NftError>;

    /// Replaces the IPv4 and IPv6 sets of `list` with `nets` (overlaps merged) in one transaction.
    ///
    /// # Errors
    ///
    /// [`NftError`] when the kernel refuses or cannot be reached.
    fn set_list(&mut self, list: NetList, nets: &[Cidr]) -> Result<(), NftError>;

    /// [`Enforcer::set_list`] for the allow list.
    ///
    /// # Errors
    ///
    /// As [`Enforcer::set_list`].
    fn set_allow(&mut self, nets: &[Cidr]) -> Result<(), NftError> {
        self.set_list(NetList::Allow, nets)
    }

    /// Every ban in force, with remaining time.
    ///
    /// # Errors
    ///
    /// [`NftError::TableMissing`] before [`Enforcer::ensure_table`]; other [`NftError`]s from the kernel.
    fn list_bans(&mut self) -> Result<Vec<BanEntry>, NftError>;

    /// Deletes table `inet pbxguard` with everything in it. Returns whether it existed.
    ///
    /// # Errors
    ///
    /// [`NftError`] when the kernel refuses or cannot be reached.
    fn delete_table(&mut self) -> Result<bool, NftError>;
}

/// A transaction being built: the batch bytes plus, per sequence number, what the message does.
struct Txn {
    buf: MsgBuf,
    first_seq: u32,
    ops: Vec<&'static str>,
}

/// The nf_tables enforcer over a `NETLINK_NETFILTER` socket.
pub struct Nft {
    sock: NetlinkSocket,
    seq: u32,
    rbuf: Vec<u8>,
    ipv6_prefix: u8,
    /// Set once the kernel refused `NFT_MSG_DESTROYSETELEM` (before Linux 6.3).
    destroy_unsupported: bool,
}

impl fmt::Debug for Nft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nft")
            .field("sock", &self.sock)
            .field("seq", &self.seq)
            .field("ipv6_prefix", &self.ipv6_prefix)
            .field("destroy_unsupported", &self.destroy_unsupported)
            .finish_non_exhaustive()
    }
}

impl Nft {
    /// Opens the netlink socket in the current network namespace.
    ///
    /// # Errors
    ///
    /// [`NftError::SocketOpenFailed`] without `CAP_NET_ADMIN` or nf_tables support.
    pub fn open() -> Result<Self, NftError> {
        let sock = NetlinkSocket::open().map_err(NftError::SocketOpenFailed)?;
        // Sequence numbers only need to differ between outstanding requests; start from the clock so two
        // consecutive processes do not reuse them.
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1);
        Ok(Self {
            sock,
            seq,
            rbuf: vec![0; 1 << 18],
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
            destroy_unsupported: false,
        })
    }

    /// Opens the netlink socket inside the network namespace at `path` (see [`crate::netns::run_in`]); the
    /// enforcer then acts on that namespace's ruleset.
    ///
    /// # Errors
    ///
    /// [`NftError::NamespaceJoinFailed`], or as [`Nft::open`].
    pub fn open_in_netns(path: &Path) -> Result<Self, NftError> {
        crate::netns::run_in(path, Self::open).map_err(NftError::NamespaceJoinFailed)?
    }

    fn txn(&mut self) -> Txn {
        let first_seq = self.seq;
        let mut buf = MsgBuf::new();
        buf.batch_begin(first_seq);
        self.seq = self.seq.wrapping_add(1);
        Txn {
            buf,
            first_seq: self.seq,
            ops: Vec::new(),
        }
    }

    fn next_seq(&mut self, txn: &mut Txn, op: &'static str) -> u32 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(1);
        txn.ops.push(op);
        s
    }

    fn add_elems(
        &mut self,
        txn: &mut Txn,
        set: &'static str,
        elems: &[Elem<'_>],
        msg_kind: ElemOp,
        op: &'static str,
    ) -> Result<(), NftError> {
        let mut seq = self.seq;
        let n = match msg_kind {
            ElemOp::Add => wire::set_elems(&mut txn.buf, &mut seq, TABLE, set, elems, false)?,
            ElemOp::Delete => wire::set_elems(&mut txn.buf, &mut seq, TABLE, set, elems, true)?,
            ElemOp::Destroy => {
                let before = txn.buf.len();
                let n = wire::set_elems(&mut txn.buf, &mut seq, TABLE, set, elems, true)?;
                txn.buf.retag_nft_from(before, NFT_MSG_DESTROYSETELEM);
                n
            }
        };
        self.seq = seq;
        txn.ops.extend(std::iter::repeat_n(op, n));
        Ok(())
    }

    /// Sends the transaction and checks that every message was acknowledged.
    fn commit(&mut self, mut txn: Txn) -> Result<(), NftError> {
        let end = self.seq;
        self.seq = self.seq.wrapping_add(1);
        txn.buf.batch_end(end);
        self.sock
            .send(txn.buf.as_bytes())
            .map_err(NftError::SendFailed)?;
        let sent = txn.ops.len();
        let mut acked = vec![false; sent];
        let mut first_error: Option<NftError> = None;
        // nfnetlink processes a batch inside sendmsg and queues every answer before returning, so after the
        // first datagram the rest are already waiting: drain without blocking.
        let mut nonblocking = false;
        loop {
            let n = match self.sock.recv(&mut self.rbuf, nonblocking) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(e) => return Err(first_error.unwrap_or(NftError::ReceiveFailed(e))),
            };
            nonblocking = true;
            for m in wire::messages(self.rbuf.get(..n).unwrap_or_default()) {
                if m.ty != wire::NLMSG_ERROR {
                    continue;
                }
                let idx = m.seq.wrapping_sub(txn.first_seq) as usize;
                let Some(slot) = acked.get_mut(idx) else {
                    continue;
                };
                *slot = true;
                match wire::error_code(m.body) {
                    Some(0) | None => {}
                    Some(code) => {
                        if first_error.is_none() {
                            first_error = Some(NftError::KernelRejected {
                                operation: txn.ops.get(idx).copied().unwrap_or("batch"),
                                error: io::Error::from_raw_os_error(-code),
                            });
                        }
                    }
                }
            }
            if acked.iter().all(|a| *a) {
                break;
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let acknowledged = acked.iter().filter(|a| **a).count();
        if acknowledged != sent {
            return Err(NftError::AcknowledgementMissing { sent, acknowledged });
        }
        Ok(())
    }

    /// Dumps the elements of one set.
    fn dump(&mut self, set: &str) -> Result<Vec<wire::DumpedElem>, NftError> {
        let mut out = Vec::new();
        self.dump_with(
            |b, seq| wire::dump_set(b, seq, TABLE, set),
            "list set elements",
            |body| wire::parse_elems(body, &mut out),
        )?;
        Ok(out)
    }

    /// Sends the dump request `request` writes and hands every answer message's body to `on_msg`.
    fn dump_with(
        &mut self,
        request: impl FnOnce(&mut MsgBuf, u32),
        operation: &'static str,
        mut on_msg: impl FnMut(&[u8]),
    ) -> Result<(), NftError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let mut b = MsgBuf::new();
        request(&mut b, seq);
        self.sock.send(b.as_bytes()).map_err(NftError::SendFailed)?;
        loop {
            let n = match self.sock.recv(&mut self.rbuf, false) {
                Ok(Some(n)) => n,
                Ok(None) => continue,
                Err(e) => return Err(NftError::ReceiveFailed(e)),
            };
            for m in wire::messages(self.rbuf.get(..n).unwrap_or_default()) {
                if m.seq != seq {
                    continue;
                }
                match m.ty {
                    wire::NLMSG_DONE => return Ok(()),
                    wire::NLMSG_ERROR => match wire::error_code(m.body) {
                        Some(0) | None => return Ok(()),
                        Some(code) if -code == libc::ENOENT => return Err(NftError::TableMissing),
                        Some(code) => {
                            return Err(NftError::KernelRejected {
                                operation,
                                error: io::Error::from_raw_os_error(-code),
                            });
                        }
                    },
                    _ => on_msg(m.body),
                }
            }
        }
    }

    /// Packets and bytes each rule of [`CHAIN`] has matched, by the set it looks up (e.g. `ban4`: what
    /// the kernel dropped for IPv4 bans). For metrics; counters restart when [`Enforcer::ensure_table`]
    /// re-creates the rules.
    ///
    /// # Errors
    ///
    /// [`NftError::TableMissing`] before [`Enforcer::ensure_table`]; other kernel errors.
    pub fn counters(&mut self) -> Result<Vec<RuleCounter>, NftError> {
        let mut out = Vec::new();
        self.dump_with(
            |b, seq| wire::dump_rules(b, seq, TABLE, CHAIN),
            "list rules",
            |body| {
                if let Some((set, packets, bytes)) = wire::parse_rule_counter(body) {
                    out.push(RuleCounter {
                        set,
                        packets,
                        bytes,
                    });
                }
            },
        )?;
        Ok(out)
    }

    fn set_elems_bytes(
        bans: &[(Target, Option<Duration>)],
        set: &SetSpec,
    ) -> Vec<(KeyBytes, Option<u64>)> {
        bans.iter()
            .filter(|(t, _)| t.set().name == set.name)
            .map(|(t, d)| {
                let ms = d.map(|d| {
                    let d = d.min(MAX_TIMEOUT);
                    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
                });
                (t.key(), ms)
            })
            .collect()
    }

    /// Lifts bans the way kernels before 6.3 allow: lists each ban set, then deletes only the targets it
    /// holds (deleting an absent element would abort the whole transaction). [`Enforcer::unban`] uses this
    /// automatically when the kernel lacks "destroy"; it is public so the fallback can be exercised anywhere.
    /// A ban that expires between the listing and the deletion makes the deletion fail with `ENOENT`;
    /// it is retried once.
    ///
    /// # Errors
    ///
    /// As [`Enforcer::unban`].
    pub fn unban_listed(&mut self, targets: &[Target]) -> Result<(), NftError> {
        check_targets(targets.iter(), self.ipv6_prefix)?;
        for (set, keys) in ban_keys(targets) {
            let mut attempt = 0;
            loop {
                let present: std::collections::HashSet<Vec<u8>> =
                    self.dump(set.name)?.into_iter().map(|e| e.key).collect();
                let elems: Vec<Elem<'_>> = key_elems(&keys)
                    .into_iter()
                    .filter(|e| present.contains(e.key))
                    .collect();
                if elems.is_empty() {
                    break;
                }
                let mut t = self.txn();
                self.add_elems(
                    &mut t,
                    set.name,
                    &elems,
                    ElemOp::Delete,
                    "remove ban elements",
                )?;
                match self.commit(t) {
                    Ok(()) => break,
                    Err(NftError::KernelRejected { error, .. })
                        if error.raw_os_error() == Some(libc::ENOENT) && attempt == 0 =>
                    {
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Lists the ranges of a network list the kernel holds, as (first, last) addresses.
    ///
    /// # Errors
    ///
    /// [`NftError::TableMissing`] before [`Enforcer::ensure_table`]; other kernel errors.
    pub fn list_networks(&mut self, list: NetList) -> Result<Vec<(IpAddr, IpAddr)>, NftError> {
        let mut out = Vec::new();
        for (set, _) in list.sets() {
            let mut elems = self.dump(set.name)?;
            // The kernel reports interval sets in descending key order; walk them ascending.
            elems.sort_by(|a, b| a.key.cmp(&b.key));
            let mut open: Option<u128> = None;
            for e in elems {
                let Some(k) = key_to_u128(&e.key) else {
                    continue;
                };
                if e.interval_end {
                    if let Some(s) = open.take() {
                        out.push((to_ip(s, set), to_ip(k.saturating_sub(1), set)));
                    }
                } else {
                    if let Some(s) = open.take() {
                        // Two starts in a row: the first range ran to the end of the address space.
                        out.push((to_ip(s, set), to_ip(k.saturating_sub(1), set)));
                    }
                    open = Some(k);
                }
            }
            if let Some(s) = open {
                let last = if set.key_len == 4 {
                    u128::from(u32::MAX)
                } else {
                    u128::MAX
                };
                out.push((to_ip(s, set), to_ip(last, set)));
            }
        }
        Ok(out)
    }
}

/// The targets grouped by ban set, as key bytes; sets without targets are left out.
fn ban_keys(targets: &[Target]) -> Vec<(&'static SetSpec, Vec<KeyBytes>)> {
    [&BAN4, &BAN6, &BAN6NET]
        .into_iter()
        .map(|set| {
            let keys: Vec<KeyBytes> = targets
                .iter()
                .filter(|t| t.set().name == set.name)
                .map(Target::key)
                .collect();
            (set, keys)
        })
        .filter(|(_, keys)| !keys.is_empty())
        .collect()
}

fn key_elems(keys: &[KeyBytes]) -> Vec<Elem<'_>> {
    keys.iter()
        .map(|k| Elem {
            key: k.as_slice(),
            interval_end: false,
            timeout_ms: None,
        })
        .collect()
}

fn key_to_u128(k: &[u8]) -> Option<u128> {
    match k.len() {
        4 => Some(u128::from(u32::from_be_bytes(k.try_into().ok()?))),
        16 => Some(u128::from_be_bytes(k.try_into().ok()?)),
        _ => None,
    }
}

fn to_ip(v: u128, set: &SetSpec) -> IpAddr {
    if set.key_len == 4 {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX)))
    } else {
        IpAddr::V6(Ipv6Addr::from(v))
    }
}

#[derive(Clone, Copy)]
enum ElemOp {
    Add,
    Delete,
    Destroy,
}

fn check_prefix(prefix: u8) -> Result<u8, NftError> {
    if (1..=128).contains(&prefix) {
        Ok(prefix)
    } else {
        Err(NftError::PrefixLengthInvalid(prefix))
    }
}

fn check_targets<'a>(
    targets: impl Iterator<Item = &'a Target>,
    prefix: u8,
) -> Result<(), NftError> {
    for t in targets {
        if let Target::V6Net(_, p) = t
            && *p != prefix
        {
            return Err(NftError::PrefixLengthMismatch {
                table: prefix,
                given: *p,
            });
        }
    }
    Ok(())
}

impl Enforcer for Nft {
    fn set_ipv6_prefix(&mut self, prefix: u8) -> Result<(), NftError> {
        self.ipv6_prefix = check_prefix(prefix)?;
        Ok(())
    }

    fn ipv6_prefix(&self) -> u8 {
        self.ipv6_prefix
    }

    fn ensure_table(&mut self) -> Result<(), NftError> {
        let mut t = self.txn();
        let s = self.next_seq(&mut t, "create table inet pbxguard");
        wire::new_table(&mut t.buf, s, TABLE);
        for set in [&ALLOW4, &ALLOW6, &BLOCK4, &BLOCK6, &BAN4, &BAN6, &BAN6NET] {
            let s = self.next_seq(&mut t, "create set");
            wire::new_set(&mut t.buf, s, TABLE, set);
        }
        let s = self.next_seq(&mut t, "create chain prerouting");
        wire::new_prerouting_chain(&mut t.buf, s, TABLE, CHAIN, PRIORITY)?;
        let s = self.next_seq(&mut t, "flush chain prerouting");
        wire::flush_chain(&mut t.buf, s, TABLE, CHAIN);
        for (field, set, verdict) in &rules(self.ipv6_prefix) {
            let s = self.next_seq(&mut t, "add rule");
            wire::new_lookup_rule(&mut t.buf, s, TABLE, CHAIN, *field, set, *verdict)?;
        }
        self.commit(t)
    }

    fn ban(&mut self, bans: &[(Target, Option<Duration>)]) -> Result<(), NftError> {
        check_targets(bans.iter().map(|(t, _)| t), self.ipv6_prefix)?;
        for set in [&BAN4, &BAN6, &BAN6NET] {
            let keys = Self::set_elems_bytes(bans, set);
            // One transaction per MAX_BATCH_BYTES of elements (about 100,000 IPv4 bans each).
            let per_batch = MAX_BATCH_BYTES / 64;
            for chunk in keys.chunks(per_batch.max(1)) {
                let elems: Vec<Elem<'_>> = chunk
                    .iter()
                    .map(|(k, ms)| Elem {
                        key: k.as_slice(),
                        interval_end: false,
                        timeout_ms: *ms,
                    })
                    .collect();
                let mut t = self.txn();
                self.add_elems(&mut t, set.name, &elems, ElemOp::Add, "add ban elements")?;
                self.commit(t)?;
            }
        }
        Ok(())
    }

    fn unban(&mut self, targets: &[Target]) -> Result<(), NftError> {
        if self.destroy_unsupported {
            return self.unban_listed(targets);
        }
        check_targets(targets.iter(), self.ipv6_prefix)?;
        for (set, keys) in ban_keys(targets) {
            let elems = key_elems(&keys);
            let mut t = self.txn();
            self.add_elems(
                &mut t,
                set.name,
                &elems,
                ElemOp::Destroy,
                "remove ban elements",
            )?;
            match self.commit(t) {
                Ok(()) => {}
                Err(NftError::KernelRejected { error, .. })
                    if error.raw_os_error() == Some(libc::EINVAL)
                        || error.raw_os_error() == Some(libc::EOPNOTSUPP) =>
                {
                    // Before Linux 6.3 there is no "destroy" (delete if present); remember, and fall back.
                    self.destroy_unsupported = true;
                    return self.unban_listed(targets);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn set_list(&mut self, list: NetList, nets: &[Cidr]) -> Result<(), NftError> {
        let mut t = self.txn();
        for (set, v4) in list.sets() {
            let ranges = merge_ranges(
                nets.iter()
                    .filter(|n| n.addr.is_ipv4() == v4)
                    .map(Cidr::range),
            );
            let max = if v4 { u128::from(u32::MAX) } else { u128::MAX };
            let mut keys: Vec<(KeyBytes, bool)> = Vec::with_capacity(ranges.len() * 2);
            for (s, e) in ranges {
                keys.push((key_of(s, v4), false));
                if e < max {
                    keys.push((key_of(e + 1, v4), true));
                }
            }
            let s = self.next_seq(&mut t, "flush network list set");
            wire::flush_set(&mut t.buf, s, TABLE, set.name);
            let elems: Vec<Elem<'_>> = keys
                .iter()
                .map(|(k, end)| Elem {
                    key: k.as_slice(),
                    interval_end: *end,
                    timeout_ms: None,
                })
                .collect();
            self.add_elems(
                &mut t,
                set.name,
                &elems,
                ElemOp::Add,
                "add network list elements",
            )?;
        }
        self.commit(t)
    }

    fn list_bans(&mut self) -> Result<Vec<BanEntry>, NftError> {
        let mut out = Vec::new();
        for set in [&BAN4, &BAN6, &BAN6NET] {
            for e in self.dump(set.name)? {
                let target = match (set.name, e.key.len()) {
                    ("ban4", 4) => {
                        let Ok(k) = <[u8; 4]>::try_from(e.key.as_slice()) else {
                            continue;
                        };
                        Target::V4(Ipv4Addr::from(k))
                    }
                    (name, 16) => {
                        let Ok(k) = <[u8; 16]>::try_from(e.key.as_slice()) else {
                            continue;
                        };
                        if name == "ban6" {
                            Target::V6(Ipv6Addr::from(k))
                        } else {
                            Target::V6Net(Ipv6Addr::from(k), self.ipv6_prefix)
                        }
                    }
                    _ => continue,
                };
                out.push(BanEntry {
                    target,
                    timeout: e.timeout_ms.map(Duration::from_millis),
                    expires: e.expiration_ms.map(Duration::from_millis),
                });
            }
        }
        Ok(out)
    }

    fn delete_table(&mut self) -> Result<bool, NftError> {
        let mut t = self.txn();
        let s = self.next_seq(&mut t, "delete table inet pbxguard");
        wire::del_table(&mut t.buf, s, TABLE);
        match self.commit(t) {
            Ok(()) => Ok(true),
            Err(NftError::KernelRejected { error, .. })
                if error.raw_os_error() == Some(libc::ENOENT) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

fn key_of(v: u128, v4: bool) -> KeyBytes {
    if v4 {
        KeyBytes::V4(u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes())
    } else {
        KeyBytes::V6(v.to_be_bytes())
    }
}

/// One thing [`DryRun`] would have done, printed in `nft` syntax for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Create (or verify) table, sets, chain and rules, with this IPv6 network-ban prefix length.
    EnsureTable(u8),
    /// Add a ban.
    Ban(Target, Option<Duration>),
    /// Remove a ban.
    Unban(Target),
    /// Replace a network list.
    SetList(NetList, Vec<Cidr>),
    /// Delete the table.
    DeleteTable,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EnsureTable(prefix) => write!(f, "{}", ruleset_text(*prefix).trim_end()),
            Self::Ban(t, d) => {
                write!(
                    f,
                    "add element inet {TABLE} {} {{ {}",
                    t.set().name,
                    t.key_text()
                )?;
                if let Some(d) = d {
                    write!(f, " timeout {}s", d.as_secs().max(1))?;
                }
                write!(f, " }}")
            }
            Self::Unban(t) => write!(
                f,
                "delete element inet {TABLE} {} {{ {} }}",
                t.set().name,
                t.key_text()
            ),
            Self::SetList(list, nets) => {
                write!(
                    f,
                    "flush set inet {TABLE} {list}4; flush set inet {TABLE} {list}6"
                )?;
                for n in nets {
                    let v = if n.addr.is_ipv4() { 4 } else { 6 };
                    write!(f, "; add element inet {TABLE} {list}{v} {{ {n} }}")?;
                }
                Ok(())
            }
            Self::DeleteTable => write!(f, "delete table inet {TABLE}"),
        }
    }
}

impl Target {
    fn key_text(&self) -> String {
        match self {
            Self::V4(a) => a.to_string(),
            Self::V6(a) | Self::V6Net(a, _) => a.to_string(),
        }
    }
}

/// The ruleset [`Enforcer::ensure_table`] creates, in `nft -f` syntax (for `--dry-run` logs and docs).
pub fn ruleset_text(ipv6_prefix: u8) -> String {
    let mut s = format!("table inet {TABLE} {{\n");
    for set in [&ALLOW4, &ALLOW6, &BLOCK4, &BLOCK6, &BAN4, &BAN6, &BAN6NET] {
        let ty = if set.key_len == 4 {
            "ipv4_addr"
        } else {
            "ipv6_addr"
        };
        let flags = if set.flags & wire::NFT_SET_INTERVAL != 0 {
            "interval"
        } else {
            "timeout"
        };
        s += &format!(
            "\tset {} {{\n\t\ttype {ty}\n\t\tflags {flags}\n\t}}\n",
            set.name
        );
    }
    s += &format!(
        "\tchain {CHAIN} {{\n\t\ttype filter hook prerouting priority {PRIORITY}; policy accept;\n"
    );
    for (field, set, verdict) in &rules(ipv6_prefix) {
        let m = match field {
            Match::Ip4Saddr => "ip saddr".to_owned(),
            Match::Ip6Saddr => "ip6 saddr".to_owned(),
            Match::Ip6SaddrNet(p) => {
                format!("ip6 saddr & {}", Ipv6Addr::from(mask128(*p)))
            }
        };
        let v = match verdict {
            Verdict::Accept => "accept",
            Verdict::Drop => "drop",
        };
        s += &format!("\t\t{m} @{} counter {v}\n", set.name);
    }
    s += "\t}\n}\n";
    s
}

/// An [`Enforcer`] that changes nothing: it records each [`Action`] and simulates the sets, so
/// `pbxguard run --dry-run` can log what it would do and still answer `bans`.
#[derive(Debug, Default)]
pub struct DryRun {
    ipv6_prefix: Option<u8>,
    actions: Vec<Action>,
    bans: BTreeMap<Target, (Option<Duration>, Instant)>,
    table: bool,
}

impl DryRun {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything recorded so far, oldest first.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// Returns and forgets the recorded actions (for a daemon that logs them as they happen).
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }
}

impl Enforcer for DryRun {
    fn set_ipv6_prefix(&mut self, prefix: u8) -> Result<(), NftError> {
        self.ipv6_prefix = Some(check_prefix(prefix)?);
        Ok(())
    }

    fn ipv6_prefix(&self) -> u8 {
        self.ipv6_prefix.unwrap_or(DEFAULT_IPV6_PREFIX)
    }

    fn ensure_table(&mut self) -> Result<(), NftError> {
        self.table = true;
        self.actions.push(Action::EnsureTable(self.ipv6_prefix()));
        Ok(())
    }

    fn ban(&mut self, bans: &[(Target, Option<Duration>)]) -> Result<(), NftError> {
        check_targets(bans.iter().map(|(t, _)| t), self.ipv6_prefix())?;
        let now = Instant::now();
        for (t, d) in bans {
            let d = d.map(|d| d.min(MAX_TIMEOUT));
            self.bans.insert(*t, (d, now));
            self.actions.push(Action::Ban(*t, d));
        }
        Ok(())
    }

    fn unban(&mut self, targets: &[Target]) -> Result<(), NftError> {
        check_targets(targets.iter(), self.ipv6_prefix())?;
        for t in targets {
            self.bans.remove(t);
            self.actions.push(Action::Unban(*t));
        }
        Ok(())
    }

    fn set_list(&mut self, list: NetList, nets: &[Cidr]) -> Result<(), NftError> {
        self.actions.push(Action::SetList(list, nets.to_vec()));
        Ok(())
    }

    fn list_bans(&mut self) -> Result<Vec<BanEntry>, NftError> {
        if !self.table {
            return Err(NftError::TableMissing);
        }
        let now = Instant::now();
        self.bans
            .retain(|_, (d, at)| d.is_none_or(|d| now.duration_since(*at) < d));
        Ok(self
            .bans
            .iter()
            .map(|(t, (d, at))| BanEntry {
                target: *t,
                timeout: *d,
                expires: d.map(|d| d.saturating_sub(now.duration_since(*at))),
            })
            .collect())
    }

    fn delete_table(&mut self) -> Result<bool, NftError> {
        self.actions.push(Action::DeleteTable);
        self.bans.clear();
        Ok(std::mem::replace(&mut self.table, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_clears_host_bits_and_rejects_bad_prefixes() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains("10.200.0.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert_eq!("2001:db8::1".parse::<Cidr>().unwrap().prefix(), 128);
        assert!(matches!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::PrefixInvalid(_))
        ));
        assert!(matches!(
            "nonsense/8".parse::<Cidr>(),
            Err(CidrError::AddressInvalid(_))
        ));
        assert_eq!(
            "0.0.0.0/0".parse::<Cidr>().unwrap().range(),
            (0, u128::from(u32::MAX))
        );
    }

    #[test]
    fn overlapping_and_adjacent_allow_ranges_merge() {
        let nets: Vec<Cidr> = [
            "10.0.0.0/24",
            "10.0.1.0/24",
            "10.0.0.128/25",
            "192.168.0.0/16",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let merged = merge_ranges(nets.iter().map(Cidr::range));
        assert_eq!(
            merged,
            vec![(0x0a00_0000, 0x0a00_01ff), (0xc0a8_0000, 0xc0a8_ffff)]
        );
    }

    #[test]
    fn mapped_ipv6_sources_are_banned_as_ipv4_and_prefixes_drop_host_bits() {
        let t = Target::from("::ffff:192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(t, Target::V4(Ipv4Addr::new(192, 0, 2, 7)));
        let p = Target::v6_net("2001:db8:1:2:3:4:5:6".parse().unwrap(), 64);
        assert_eq!(p.to_string(), "2001:db8:1:2::/64");
        let p = Target::v6_net("2001:db8:1:2:3:4:5:6".parse().unwrap(), 56);
        assert_eq!(p.to_string(), "2001:db8:1::/56");
    }

    #[test]
    fn dry_run_records_actions_in_nft_syntax_and_simulates_bans() {
        let mut d = DryRun::new();
        assert!(matches!(d.list_bans(), Err(NftError::TableMissing)));
        d.ensure_table().unwrap();
        let a = Target::V4(Ipv4Addr::new(198, 51, 100, 9));
        d.ban(&[(a, Some(Duration::from_secs(3600)))]).unwrap();
        assert_eq!(d.list_bans().unwrap().len(), 1);
        d.unban(&[a]).unwrap();
        assert!(d.list_bans().unwrap().is_empty());
        let text: Vec<String> = d.actions().iter().map(ToString::to_string).collect();
        assert!(text[0].contains("hook prerouting priority -300"));
        assert_eq!(
            text[1],
            "add element inet pbxguard ban4 { 198.51.100.9 timeout 3600s }"
        );
        assert_eq!(
            text[2],
            "delete element inet pbxguard ban4 { 198.51.100.9 }"
        );
        assert!(d.delete_table().unwrap());
        let wrong = Target::v6_net("2001:db8::1".parse().unwrap(), 48);
        assert!(matches!(
            d.ban(&[(wrong, None)]),
            Err(NftError::PrefixLengthMismatch {
                table: 64,
                given: 48
            })
        ));
        assert!(matches!(
            d.set_ipv6_prefix(0),
            Err(NftError::PrefixLengthInvalid(0))
        ));
    }

    #[test]
    fn ruleset_text_lists_allow_before_ban() {
        let t = ruleset_text(56);
        assert!(
            t.contains("ip6 saddr & ffff:ffff:ffff:ff00:: @ban6net"),
            "{t}"
        );
        let allow = t.find("@allow4").unwrap();
        let ban = t.find("@ban4").unwrap();
        assert!(allow < ban);
    }
}
