//! Inline mode's kernel side: an NFQUEUE consumer over `NETLINK_NETFILTER` (nfnetlink_queue), the
//! iptables rules that steer SIP traffic into it ([`steer`]), and the raw socket that answers a rejected
//! request in the PBX's name ([`reply`]).
//!
//! The queue is bound in copy mode "packet" with `NFQA_CFG_F_FAIL_OPEN`: when the daemon cannot keep up
//! (the queue or the socket buffer is full) the kernel accepts packets instead of dropping them, and the
//! steering rule's `--queue-bypass` accepts packets when no process is bound at all (the daemon died). A
//! guard must never be the reason a PBX goes deaf. Verdicts are sent once per received batch, as one
//! `NFQNL_MSG_VERDICT_BATCH` accept plus one message per dropped packet, in one datagram.
//!
//! ```no_run
//! use std::time::Duration;
//! use pbxguard_sys::queue::{Queue, QueueConfig, QueueVerdict};
//!
//! let mut q = Queue::open(&QueueConfig::new(0))?;
//! loop {
//!     q.process(Duration::from_millis(100), |p| {
//!         if p.payload.len() > 1500 { QueueVerdict::Drop } else { QueueVerdict::Accept }
//!     })?;
//! }
//! # Ok::<(), pbxguard_sys::queue::QueueError>(())
//! ```

#[allow(unsafe_code)]
pub mod reply;
pub mod steer;
mod wire;

use std::fmt;
use std::io;
use std::time::Duration;

pub use wire::{QueueVerdict, QueuedPacket};

use crate::netlink::NetlinkSocket;
use wire::{Message, Writer};

/// How a queue is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueConfig {
    /// The queue number (`--queue-num` of the steering rule).
    pub num: u16,
    /// Packets the kernel holds for the queue before fail-open accepts the overflow.
    pub max_len: u32,
    /// Packets received before their verdicts are sent (a batch ends earlier when nothing more is queued).
    pub batch: usize,
    /// Bytes of each packet copied to user space. A SIP datagram fits in 65,535.
    pub copy_range: u32,
    /// Accept instead of drop when the queue overflows (`NFQA_CFG_F_FAIL_OPEN`).
    pub fail_open: bool,
}

impl QueueConfig {
    /// Queue `num`, 8,192 packets long, batches of 64, whole packets, fail-open.
    pub fn new(num: u16) -> Self {
        Self {
            num,
            max_len: 8192,
            batch: 64,
            copy_range: 0xffff,
            fail_open: true,
        }
    }
}

/// Why the queue failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum QueueError {
    /// The netlink socket could not be opened (usually: not root / no `CAP_NET_ADMIN`).
    SocketUnavailable(io::Error),
    /// Another process is bound to this queue number already.
    QueueBusy {
        /// The queue number.
        num: u16,
    },
    /// The kernel refused a configuration request.
    ConfigRefused {
        /// The queue number.
        num: u16,
        /// What was asked.
        what: &'static str,
        /// The kernel's error.
        source: io::Error,
    },
    /// Receiving packets or sending verdicts failed.
    Io(io::Error),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::SocketUnavailable(e) => {
                write!(f, "cannot open a netfilter netlink socket: {e}")
            }
            QueueError::QueueBusy { num } => {
                write!(f, "NFQUEUE {num} is already bound by another process")
            }
            QueueError::ConfigRefused { num, what, source } => {
                write!(
                    f,
                    "the kernel refused to {what} for NFQUEUE {num}: {source}"
                )
            }
            QueueError::Io(e) => write!(f, "NFQUEUE receive/verdict failed: {e}"),
        }
    }
}

impl std::error::Error for QueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueueError::SocketUnavailable(e) | QueueError::Io(e) => Some(e),
            QueueError::ConfigRefused { source, .. } => Some(source),
            QueueError::QueueBusy { .. } => None,
        }
    }
}

/// What a queue has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Packets received and judged.
    pub packets: u64,
    /// Of those, dropped.
    pub dropped: u64,
    /// Batches (one verdict datagram each).
    pub batches: u64,
    /// Verdict messages sent.
    pub verdict_messages: u64,
    /// Error replies from the kernel to verdicts (e.g. a verdict for a packet that fail-open already let go).
    pub kernel_errors: u64,
    /// Times the socket's receive buffer overflowed (those packets were accepted by fail-open).
    pub overruns: u64,
}

/// The kernel's own counters for a queue, from `/proc/net/netfilter/nfnetlink_queue`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelQueueStats {
    /// Packets waiting for a verdict now.
    pub waiting: u64,
    /// Packets the queue could not hold (accepted by fail-open, or dropped without it).
    pub queue_dropped: u64,
    /// Packets the netlink socket could not take.
    pub user_dropped: u64,
    /// The last packet id handed out.
    pub id_sequence: u64,
}

/// Parses the kernel's queue table (`/proc/net/netfilter/nfnetlink_queue`) for queue `num`. Each line
/// reads `queue portid waiting copy_mode copy_range queue_dropped user_dropped id_sequence 1`.
pub fn parse_kernel_stats(table: &str, num: u16) -> Option<KernelQueueStats> {
    table.lines().find_map(|line| {
        let f: Vec<u64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        if f.first().copied()? != u64::from(num) {
            return None;
        }
        Some(KernelQueueStats {
            waiting: *f.get(2)?,
            queue_dropped: *f.get(5)?,
            user_dropped: *f.get(6)?,
            id_sequence: *f.get(7)?,
        })
    })
}

/// Reads the kernel's counters for queue `num` (`None` when the queue is not bound or the table is absent).
pub fn kernel_stats(num: u16) -> Option<KernelQueueStats> {
    let table = std::fs::read_to_string("/proc/net/netfilter/nfnetlink_queue").ok()?;
    parse_kernel_stats(&table, num)
}

/// Largest netlink message the kernel sends for one packet: copy range plus headers and metadata.
const SLOT: usize = 0xffff + 1024;

/// A bound NFQUEUE. Dropping it unbinds the queue (closing the socket would too).
#[derive(Debug)]
pub struct Queue {
    sock: NetlinkSocket,
    config: QueueConfig,
    buf: Vec<u8>,
    verdicts: Vec<(u32, QueueVerdict)>,
    out: Writer,
    seq: u32,
    timeout: Duration,
    stats: QueueStats,
}

impl Queue {
    /// Binds queue `config.num` in the calling thread's network namespace.
    ///
    /// # Errors
    ///
    /// [`QueueError::SocketUnavailable`] without `CAP_NET_ADMIN`, [`QueueError::QueueBusy`] when another
    /// process holds the queue, [`QueueError::ConfigRefused`] when the kernel rejects the parameters.
    pub fn open(config: &QueueConfig) -> Result<Self, QueueError> {
        let sock = NetlinkSocket::open().map_err(QueueError::SocketUnavailable)?;
        sock.set_no_enobufs()
            .map_err(QueueError::SocketUnavailable)?;
        let mut q = Self {
            sock,
            config: QueueConfig {
                batch: config.batch.max(1),
                ..*config
            },
            buf: vec![0; SLOT],
            verdicts: Vec::with_capacity(config.batch.max(1)),
            out: Writer::default(),
            seq: 0,
            timeout: Duration::ZERO,
            stats: QueueStats::default(),
        };
        q.configure("bind the queue", |w, seq, num| {
            w.command(seq, num, wire::CMD_BIND)
        })
        .map_err(|e| match e {
            QueueError::ConfigRefused { source, num, .. }
                if source.raw_os_error() == Some(libc::EBUSY) =>
            {
                QueueError::QueueBusy { num }
            }
            e => e,
        })?;
        let flags = if config.fail_open {
            wire::F_FAIL_OPEN
        } else {
            0
        };
        q.configure("set copy mode, length and flags", |w, seq, num| {
            w.params(seq, num, config.copy_range, config.max_len, flags)
        })?;
        Ok(q)
    }

    /// The queue's configuration.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> QueueStats {
        self.stats
    }

    /// Sends one acknowledged configuration message and waits for its acknowledgement.
    fn configure(
        &mut self,
        what: &'static str,
        build: impl FnOnce(&mut Writer, u32, u16),
    ) -> Result<(), QueueError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let num = self.config.num;
        let mut w = Writer::default();
        build(&mut w, seq, num);
        self.sock.send(&w.buf).map_err(QueueError::Io)?;
        loop {
            let n = self
                .sock
                .recv(&mut self.buf, false)
                .map_err(QueueError::Io)?
                .unwrap_or(0);
            for m in wire::messages(self.buf.get(..n).unwrap_or_default()) {
                if let Message::Ack { seq: s, errno } = m
                    && s == seq
                {
                    return if errno == 0 {
                        Ok(())
                    } else {
                        Err(QueueError::ConfigRefused {
                            num,
                            what,
                            source: io::Error::from_raw_os_error(errno),
                        })
                    };
                }
            }
        }
    }

    /// Waits up to `timeout` for queued packets, passes each (up to the batch size, whatever is already
    /// waiting) to `judge`, and sends the verdicts in one datagram. Returns how many packets were judged
    /// (0 when the wait timed out).
    ///
    /// # Errors
    ///
    /// [`QueueError::Io`] when the socket fails; packets left without a verdict are then accepted by the
    /// kernel when the socket closes.
    pub fn process(
        &mut self,
        timeout: Duration,
        mut judge: impl FnMut(&QueuedPacket<'_>) -> QueueVerdict,
    ) -> Result<usize, QueueError> {
        if timeout != self.timeout {
            self.sock.set_timeout(timeout).map_err(QueueError::Io)?;
            self.timeout = timeout;
        }
        self.verdicts.clear();
        let mut first = true;
        while self.verdicts.len() < self.config.batch {
            let got = match self.sock.recv(&mut self.buf, !first) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && first => break,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.stats.overruns += 1;
                    continue;
                }
                Err(e) => return Err(QueueError::Io(e)),
            };
            first = false;
            for m in wire::messages(self.buf.get(..got).unwrap_or_default()) {
                match m {
                    Message::Packet(p) => {
                        let v = judge(&p);
                        self.verdicts.push((p.id, v));
                    }
                    Message::Ack { errno, .. } if errno != 0 => self.stats.kernel_errors += 1,
                    _ => {}
                }
            }
        }
        let n = self.verdicts.len();
        if n == 0 {
            return Ok(0);
        }
        self.out.buf.clear();
        let messages = wire::encode_verdicts(&mut self.out, self.config.num, &self.verdicts);
        self.sock.send(&self.out.buf).map_err(QueueError::Io)?;
        self.stats.packets += n as u64;
        self.stats.dropped += self
            .verdicts
            .iter()
            .filter(|(_, v)| *v == QueueVerdict::Drop)
            .count() as u64;
        self.stats.batches += 1;
        self.stats.verdict_messages += messages as u64;
        Ok(n)
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        let mut w = Writer::default();
        self.seq = self.seq.wrapping_add(1);
        w.command(self.seq, self.config.num, wire::CMD_UNBIND);
        let _ = self.sock.send(&w.buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_table_line_of_the_queue_is_found_and_others_ignored() {
        let table = "    0  12345     0 2 65535     0     0       10  1\n    \
                     7  23456     3 2 65535    11     5     9999  1\n";
        assert_eq!(
            parse_kernel_stats(table, 7),
            Some(KernelQueueStats {
                waiting: 3,
                queue_dropped: 11,
                user_dropped: 5,
                id_sequence: 9999
            })
        );
        assert_eq!(parse_kernel_stats(table, 3), None);
        assert_eq!(parse_kernel_stats("garbage line\n", 0), None);
    }
}
