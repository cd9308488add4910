//! The capture sensor's kernel side: an AF_PACKET `TPACKET_V3` ring on one interface (or all), filtered in
//! the kernel to UDP/TCP packets from or to the SIP ports, read zero-copy one block at a time.
//!
//! ```no_run
//! use std::time::Duration;
//! use pbxguard_sys::capture::Capture;
//! use pbxguard_sys::decode::Decoded;
//!
//! let mut cap = Capture::open(None, &[5060, 5080])?;
//! loop {
//!     if let Some(batch) = cap.next_batch(Duration::from_millis(100))? {
//!         for frame in batch.frames() {
//!             if let Ok(Decoded::Packet(p)) = frame.decode() {
//!                 println!("{}:{} -> {}:{} {} bytes", p.src, p.src_port, p.dst, p.dst_port, p.payload.len());
//!             }
//!         }
//!     } // dropping the batch hands the block back to the kernel
//!     # break;
//! }
//! println!("kernel drops so far: {}", cap.stats()?.drops);
//! # Ok::<(), pbxguard_sys::capture::CaptureError>(())
//! ```
//!
//! The block parsing ([`frames_in_block`]) and the filter builder ([`bpf`]) are pure and tested without a
//! kernel; only the `ring` module touches shared memory.

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::decode::{self, DecodeError, Decoded};

pub mod bpf;
pub use bpf::Transports;
#[allow(unsafe_code)]
mod ring;

/// How to open a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Interface name; `None` captures on every interface of the namespace.
    pub interface: Option<String>,
    /// Ports matched as source or destination; empty matches every packet of the chosen transports.
    pub ports: Vec<u16>,
    /// The transports taken (UDP, TCP or both).
    pub transports: bpf::Transports,
    /// Bytes per ring block (a multiple of the page size).
    pub block_size: usize,
    /// Blocks in the ring; the ring's memory is `block_size * block_count`.
    pub block_count: usize,
    /// How long the kernel waits before handing over a partly filled block (bounds latency at low rates).
    pub block_timeout: Duration,
    /// Bytes kept per packet.
    pub snaplen: u32,
    /// Join this `PACKET_FANOUT` group: sockets of one group (same namespace, same interface binding)
    /// share the traffic by flow hash, so one ring and one thread per core scale the sensor. The kernel
    /// reassembles IPv4 fragments for fanout sockets (`PACKET_FANOUT_FLAG_DEFRAG`) so that every fragment
    /// of a datagram reaches the same member.
    pub fanout_group: Option<u16>,
}

impl Default for CaptureConfig {
    /// Every interface, SIP ports 5060 and 5080, a 32 MiB ring of 256 blocks of 128 KiB, 1 ms block
    /// timeout, whole packets.
    ///
    /// Small blocks and a short timeout keep capture latency low (a block reaches user space when full or
    /// timed out: 1 MiB blocks held frames ~3 ms at the median in the lab flood, 64 KiB blocks ~0.1 ms, with
    /// no drops either way at ~300,000 datagrams/s); 128 KiB keeps room for a 64 KiB GRO packet in one
    /// block, which a 64 KiB block would truncate.
    fn default() -> Self {
        Self {
            interface: None,
            ports: vec![5060, 5080],
            transports: bpf::Transports::Both,
            block_size: 128 << 10,
            block_count: 256,
            block_timeout: Duration::from_millis(1),
            snaplen: 65_535,
            fanout_group: None,
        }
    }
}

/// Why a capture could not be opened or read.
#[derive(Debug)]
#[non_exhaustive]
pub enum CaptureError {
    /// The configured interface does not exist in this network namespace.
    InterfaceUnknown(String),
    /// The configuration is unusable (the reason says which field).
    ConfigInvalid(&'static str),
    /// Too many ports for the packet filter.
    FilterTooLarge(bpf::FilterError),
    /// The AF_PACKET socket could not be created (needs `CAP_NET_RAW`).
    SocketOpenFailed(io::Error),
    /// The kernel refused the ring (`PACKET_VERSION`/`PACKET_RX_RING`/`mmap`), e.g. for lack of memory.
    RingSetupFailed(io::Error),
    /// The kernel refused the packet filter.
    FilterRejected(io::Error),
    /// Binding to the interface failed.
    BindFailed(io::Error),
    /// Joining the fanout group failed (a group of another type or interface holds the id).
    FanoutJoinFailed(io::Error),
    /// Waiting for packets failed.
    PollFailed(io::Error),
    /// Reading the kernel's drop counters failed.
    StatsFailed(io::Error),
    /// Joining the requested network namespace failed.
    NamespaceJoinFailed(io::Error),
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InterfaceUnknown(i) => write!(f, "no interface named `{i}`"),
            Self::ConfigInvalid(why) => write!(f, "capture configuration invalid: {why}"),
            Self::FilterTooLarge(e) => write!(f, "capture filter: {e}"),
            Self::SocketOpenFailed(e) => write!(f, "cannot open AF_PACKET socket: {e}"),
            Self::RingSetupFailed(e) => write!(f, "cannot set up the capture ring: {e}"),
            Self::FilterRejected(e) => write!(f, "kernel rejected the capture filter: {e}"),
            Self::BindFailed(e) => write!(f, "cannot bind the capture socket: {e}"),
            Self::FanoutJoinFailed(e) => write!(f, "cannot join the capture fanout group: {e}"),
            Self::PollFailed(e) => write!(f, "waiting for packets failed: {e}"),
            Self::StatsFailed(e) => write!(f, "cannot read capture statistics: {e}"),
            Self::NamespaceJoinFailed(e) => write!(f, "cannot join network namespace: {e}"),
        }
    }
}

impl std::error::Error for CaptureError {}

/// Kernel counters of a capture, cumulative since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets that passed the filter (delivered plus dropped).
    pub packets: u64,
    /// Packets the kernel dropped because the ring was full.
    pub drops: u64,
    /// Times the ring was completely full (`tp_freeze_q_cnt`).
    pub ring_full: u64,
}

/// An open capture ring.
#[derive(Debug)]
pub struct Capture {
    ring: ring::Ring,
    totals: CaptureStats,
}

impl Capture {
    /// Opens a capture on `interface` (or every interface) for `ports`, with default ring geometry.
    ///
    /// # Errors
    ///
    /// See [`CaptureError`]; without `CAP_NET_RAW` it is [`CaptureError::SocketOpenFailed`].
    pub fn open(interface: Option<&str>, ports: &[u16]) -> Result<Self, CaptureError> {
        Self::open_with(&CaptureConfig {
            interface: interface.map(str::to_owned),
            ports: ports.to_vec(),
            ..CaptureConfig::default()
        })
    }

    /// Opens a capture as configured.
    ///
    /// # Errors
    ///
    /// See [`CaptureError`].
    pub fn open_with(cfg: &CaptureConfig) -> Result<Self, CaptureError> {
        let page = 4096;
        if cfg.block_size < page || !cfg.block_size.is_multiple_of(page) {
            return Err(CaptureError::ConfigInvalid(
                "block_size must be a positive multiple of 4096",
            ));
        }
        if cfg.block_count == 0 {
            return Err(CaptureError::ConfigInvalid(
                "block_count must be at least 1",
            ));
        }
        let ifindex = match &cfg.interface {
            None => 0,
            Some(name) => {
                ring::ifindex(name).ok_or_else(|| CaptureError::InterfaceUnknown(name.clone()))?
            }
        };
        let filter = bpf::sip_filter_for(cfg.transports, &cfg.ports, cfg.snaplen)
            .map_err(CaptureError::FilterTooLarge)?;
        let geometry = ring::Geometry {
            block_size: cfg.block_size,
            block_count: cfg.block_count,
            fanout_group: cfg.fanout_group,
            block_timeout_ms: u32::try_from(cfg.block_timeout.as_millis())
                .unwrap_or(u32::MAX)
                .max(1),
        };
        let ring = ring::Ring::open(ifindex, geometry, &filter).map_err(|e| match e {
            ring::SetupError::Socket(e) => CaptureError::SocketOpenFailed(e),
            ring::SetupError::Ring(e) => CaptureError::RingSetupFailed(e),
            ring::SetupError::Filter(e) => CaptureError::FilterRejected(e),
            ring::SetupError::Bind(e) => CaptureError::BindFailed(e),
            ring::SetupError::Fanout(e) => CaptureError::FanoutJoinFailed(e),
        })?;
        Ok(Self {
            ring,
            totals: CaptureStats::default(),
        })
    }

    /// Opens a capture inside the network namespace at `path` (see [`crate::netns::run_in`]).
    ///
    /// # Errors
    ///
    /// [`CaptureError::NamespaceJoinFailed`], or as [`Capture::open_with`].
    pub fn open_in_netns(path: &Path, cfg: &CaptureConfig) -> Result<Self, CaptureError> {
        crate::netns::run_in(path, || Self::open_with(cfg))
            .map_err(CaptureError::NamespaceJoinFailed)?
    }

    /// Waits up to `timeout` for the next block of packets (a zero timeout only looks). The block goes back to the kernel when the
    /// returned [`Batch`] is dropped, so hold it only as long as its frames are being read.
    ///
    /// # Errors
    ///
    /// [`CaptureError::PollFailed`].
    pub fn next_batch(&mut self, timeout: Duration) -> Result<Option<Batch<'_>>, CaptureError> {
        match self
            .ring
            .wait_block(timeout)
            .map_err(CaptureError::PollFailed)?
        {
            Some(idx) => Ok(Some(Batch {
                ring: &mut self.ring,
                idx,
            })),
            None => Ok(None),
        }
    }

    /// Waits up to `timeout` until one of `captures` has a block ready for [`Capture::next_batch`];
    /// returns whether one has. One wait for several rings, so that a quiet ring never delays a busy one.
    ///
    /// # Errors
    ///
    /// [`CaptureError::PollFailed`].
    pub fn wait_any(captures: &[Self], timeout: Duration) -> Result<bool, CaptureError> {
        let rings: Vec<&ring::Ring> = captures.iter().map(|c| &c.ring).collect();
        ring::wait_any(&rings, timeout).map_err(CaptureError::PollFailed)
    }

    /// The kernel's counters, cumulative since the capture was opened.
    ///
    /// # Errors
    ///
    /// [`CaptureError::StatsFailed`].
    pub fn stats(&mut self) -> Result<CaptureStats, CaptureError> {
        // The kernel resets its counters on every read; keep running totals.
        let (p, d, f) = self.ring.stats().map_err(CaptureError::StatsFailed)?;
        self.totals.packets += u64::from(p);
        self.totals.drops += u64::from(d);
        self.totals.ring_full += u64::from(f);
        Ok(self.totals)
    }
}

/// One block of captured frames, owned by user space until dropped.
#[derive(Debug)]
pub struct Batch<'a> {
    ring: &'a mut ring::Ring,
    idx: usize,
}

impl Batch<'_> {
    /// The frames in this block, in arrival order, borrowing the ring memory.
    pub fn frames(&self) -> Frames<'_> {
        frames_in_block(self.ring.block(self.idx))
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.ring.release(self.idx);
    }
}

/// A captured frame, borrowing ring memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The frame from its link-layer header, as much as was captured.
    pub data: &'a [u8],
    /// Where the network (IP) header starts within `data`.
    pub network_offset: usize,
    /// The packet's length on the wire (may exceed `data.len()` when the snap length cut it).
    pub wire_len: u32,
    /// Capture time since the Unix epoch.
    pub timestamp: Duration,
    /// The VLAN id when the tag was stripped by the NIC or driver (it is then absent from `data`).
    pub vlan: Option<u16>,
    /// The interface index the packet was seen on.
    pub ifindex: i32,
    /// Whether the packet was sent by this host (`PACKET_OUTGOING`) rather than received.
    pub outgoing: bool,
}

impl<'a> Frame<'a> {
    /// The bytes from the IP header on.
    pub fn network(&self) -> &'a [u8] {
        self.data.get(self.network_offset..).unwrap_or_default()
    }

    /// Decodes the IP and transport headers.
    ///
    /// # Errors
    ///
    /// [`DecodeError`] for anything that is not a well-formed UDP/TCP packet.
    pub fn decode(&self) -> Result<Decoded<'a>, DecodeError> {
        decode::decode_ip(self.network(), self.vlan)
    }
}

/// Iterator over the frames of one ring block.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    block: &'a [u8],
    left: u32,
    at: usize,
}

const TP_STATUS_VLAN_VALID: u32 = 0x10;
const PACKET_OUTGOING: u8 = 4;
/// `TPACKET_ALIGN(sizeof(struct tpacket3_hdr))`: where the `sockaddr_ll` follows the packet header.
const SLL_OFFSET: usize = 48;

fn ne32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn ne16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// Parses a `TPACKET_V3` block (`struct tpacket_block_desc` followed by `struct tpacket3_hdr` records).
/// Pure and bounds-checked: a corrupt block yields fewer frames, never a panic.
pub fn frames_in_block(block: &[u8]) -> Frames<'_> {
    let left = ne32(block, 12).unwrap_or(0);
    let at = ne32(block, 16).map_or(usize::MAX, |o| usize::try_from(o).unwrap_or(usize::MAX));
    Frames { block, left, at }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let b = self.block;
        let h = self.at;
        let next = usize::try_from(ne32(b, h)?).ok()?;
        let sec = ne32(b, h + 4)?;
        let nsec = ne32(b, h + 8)?;
        let snaplen = usize::try_from(ne32(b, h + 12)?).ok()?;
        let wire_len = ne32(b, h + 16)?;
        let status = ne32(b, h + 20)?;
        let mac = usize::from(ne16(b, h + 24)?);
        let net = usize::from(ne16(b, h + 26)?);
        let tci = ne32(b, h + 32)?;
        let ifindex = i32::from_ne_bytes(ne32(b, h + SLL_OFFSET + 4)?.to_ne_bytes());
        let pkttype = *b.get(h + SLL_OFFSET + 10)?;
        let start = h.checked_add(mac)?;
        let data = b.get(start..start.checked_add(snaplen)?)?;
        self.at = if next == 0 {
            self.left = 0;
            usize::MAX
        } else {
            h.checked_add(next)?
        };
        Some(Frame {
            data,
            network_offset: net.saturating_sub(mac),
            wire_len,
            timestamp: Duration::new(u64::from(sec), nsec.min(999_999_999)),
            vlan: (status & TP_STATUS_VLAN_VALID != 0).then_some((tci & 0x0fff) as u16),
            ifindex,
            outgoing: pkttype == PACKET_OUTGOING,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a block the way the kernel lays it out.
    fn block(frames: &[(&[u8], u16, bool)]) -> Vec<u8> {
        let mut b = vec![0u8; 48];
        b[12..16].copy_from_slice(&(frames.len() as u32).to_ne_bytes());
        b[16..20].copy_from_slice(&48u32.to_ne_bytes());
        for (i, (data, vlan, out)) in frames.iter().enumerate() {
            let h = b.len();
            let mac = 48 + 20 + 2; // header, sockaddr_ll, alignment pad as the kernel does (mac at 70 + 2)
            let mut rec = vec![0u8; mac];
            let total = (mac + data.len() + 15) & !15;
            let next = if i + 1 == frames.len() {
                0
            } else {
                total as u32
            };
            rec[0..4].copy_from_slice(&next.to_ne_bytes());
            rec[4..8].copy_from_slice(&1_700_000_000u32.to_ne_bytes());
            rec[8..12].copy_from_slice(&5u32.to_ne_bytes());
            rec[12..16].copy_from_slice(&(data.len() as u32).to_ne_bytes());
            rec[16..20].copy_from_slice(&(data.len() as u32).to_ne_bytes());
            let status = if *vlan != 0 { TP_STATUS_VLAN_VALID } else { 0 };
            rec[20..24].copy_from_slice(&status.to_ne_bytes());
            rec[24..26].copy_from_slice(&(mac as u16).to_ne_bytes());
            rec[26..28].copy_from_slice(&((mac + 14) as u16).to_ne_bytes());
            rec[32..36].copy_from_slice(&u32::from(*vlan).to_ne_bytes());
            rec[SLL_OFFSET + 4..SLL_OFFSET + 8].copy_from_slice(&7i32.to_ne_bytes());
            rec[SLL_OFFSET + 10] = if *out { PACKET_OUTGOING } else { 0 };
            rec.extend_from_slice(data);
            rec.resize(total, 0);
            assert_eq!(b.len(), h);
            b.extend_from_slice(&rec);
        }
        b
    }

    #[test]
    fn block_frames_are_iterated_with_metadata_and_decode() {
        let f1 = crate::decode::tests::eth_ipv4_udp(b"REGISTER", None, 1, 0, None);
        let f2 = crate::decode::tests::eth_ipv4_udp(b"SIP/2.0 200 OK", None, 2, 0, None);
        let b = block(&[(&f1, 0, false), (&f2, 42, true)]);
        let frames: Vec<Frame<'_>> = frames_in_block(&b).collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].data, &f1[..]);
        assert_eq!(frames[0].network_offset, 14);
        assert_eq!(frames[0].ifindex, 7);
        assert!(!frames[0].outgoing);
        assert!(frames[1].outgoing);
        assert_eq!(frames[1].vlan, Some(42));
        assert_eq!(frames[1].timestamp, Duration::new(1_700_000_000, 5));
        let Ok(Decoded::Packet(p)) = frames[1].decode() else {
            panic!("frame does not decode");
        };
        assert_eq!(p.payload, b"SIP/2.0 200 OK");
        assert_eq!(p.vlan, Some(42));
    }

    #[test]
    fn corrupt_blocks_yield_fewer_frames_without_panicking() {
        let f1 = crate::decode::tests::eth_ipv4_udp(b"x", None, 1, 0, None);
        let good = block(&[(&f1, 0, false), (&f1, 0, false)]);
        for cut in 0..good.len() {
            let n = frames_in_block(&good[..cut]).count();
            assert!(n <= 2);
        }
        let mut lying = good.clone();
        lying[12..16].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(frames_in_block(&lying).count(), 2);
    }
}
