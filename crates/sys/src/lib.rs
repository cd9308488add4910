//! pbxguard's kernel interfaces, and the only crate of the workspace with `unsafe` code.
//!
//! - [`nft`]: the nf_tables enforcer (table `inet pbxguard`, ban and allow sets, a prerouting chain that drops
//!   before conntrack), over batched netlink transactions; and [`nft::DryRun`], which only records.
//! - [`capture`]: an AF_PACKET `TPACKET_V3` ring with a classic BPF filter for the SIP ports, zero-copy frame
//!   iteration and kernel drop counters.
//! - [`decode`]: the pure Ethernet/VLAN/IPv4/IPv6/UDP/TCP decoder and bounded IPv4 reassembly the capture
//!   feeds (no `unsafe`, fuzzed).
//! - [`netns`]: creating sockets inside another network namespace.
//! - [`queue`]: inline mode's NFQUEUE consumer (nfnetlink_queue, batched verdicts, fail-open), the iptables
//!   rules that steer SIP into it, and the raw socket that answers a rejected request.
//! - [`loadgen`]: a bounded `sendmmsg` datagram sender for the lab benchmarks.
//! - [`sched`]: real-time scheduling for the capture thread.
//!
//! `unsafe` is denied crate-wide and allowed only in the modules that make system calls (`netlink`,
//! [`netns`], the capture ring, [`queue::reply`], [`sched`]); every block states why it is sound.

pub mod capture;
pub mod decode;
#[allow(unsafe_code)]
pub mod loadgen;
#[allow(unsafe_code)]
mod netlink;
#[allow(unsafe_code)]
pub mod netns;
pub mod nft;
pub mod queue;
#[allow(unsafe_code)]
pub mod sched;
