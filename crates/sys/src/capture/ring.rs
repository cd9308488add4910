//! The AF_PACKET socket and its memory-mapped `TPACKET_V3` receive ring: every system call and every access
//! to kernel-shared memory of the capture sensor.
//!
//! Ring protocol (Documentation/networking/packet_mmap.rst): the ring is `block_count` blocks of
//! `block_size` bytes. The kernel fills a block with packets and hands it over by setting
//! `TP_STATUS_USER` in the block descriptor's status word; user space reads it and hands it back by writing
//! `TP_STATUS_KERNEL`. Blocks are handed over in ring order. While a block is ours the kernel does not write
//! to it, which is what makes a shared `&[u8]` over it sound.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{Ordering, fence};
use std::time::Duration;

use super::bpf::Insn;

const TPACKET_V3: i32 = 2;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
/// Offset of `hdr.bh1.block_status` in `struct tpacket_block_desc`.
const BLOCK_STATUS_OFFSET: usize = 8;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn setsockopt<T>(fd: &OwnedFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live, initialised `T` and the length passed is exactly `size_of::<T>()`.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// The interface index of `name` in the calling thread's network namespace.
pub(crate) fn ifindex(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// Geometry of the ring.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub(crate) block_size: usize,
    pub(crate) block_count: usize,
    pub(crate) block_timeout_ms: u32,
    pub(crate) fanout_group: Option<u16>,
}

/// Which step of setting up the ring failed.
#[derive(Debug)]
pub(crate) enum SetupError {
    Socket(io::Error),
    Ring(io::Error),
    Filter(io::Error),
    Bind(io::Error),
    Fanout(io::Error),
}

/// An AF_PACKET socket with a mapped `TPACKET_V3` receive ring.
#[derive(Debug)]
pub(crate) struct Ring {
    fd: OwnedFd,
    map: NonNull<u8>,
    geometry: Geometry,
    next: usize,
}

// SAFETY: the mapping is owned by this value alone (no aliasing handles exist), and all access to it goes
// through `&self`/`&mut self`, so moving the ring to another thread is as safe as moving a Vec.
unsafe impl Send for Ring {}

impl Ring {
    /// Opens the socket, maps the ring, attaches `filter`, then binds to `ifindex` (0: every interface).
    /// The socket is created with protocol 0, so nothing is queued before the filter is in place.
    pub(crate) fn open(ifindex: u32, g: Geometry, filter: &[Insn]) -> Result<Self, SetupError> {
        // SAFETY: plain socket(2) call; the result is checked.
        let raw =
            cvt(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })
                .map_err(SetupError::Socket)?;
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V3)
            .map_err(SetupError::Ring)?;

        let frame_size: u32 = 2048;
        let block_size = u32::try_from(g.block_size)
            .map_err(|_| SetupError::Ring(io::ErrorKind::InvalidInput.into()))?;
        let block_nr = u32::try_from(g.block_count)
            .map_err(|_| SetupError::Ring(io::ErrorKind::InvalidInput.into()))?;
        let req = libc::tpacket_req3 {
            tp_block_size: block_size,
            tp_block_nr: block_nr,
            tp_frame_size: frame_size,
            tp_frame_nr: (block_size / frame_size).saturating_mul(block_nr),
            tp_retire_blk_tov: g.block_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req).map_err(SetupError::Ring)?;

        let len = g.block_size.saturating_mul(g.block_count);
        // SAFETY: mapping the ring the kernel just allocated for this socket, with the size it was given;
        // the result is checked against MAP_FAILED.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                fd.as_raw_fd(),
                0,
            )
        };
        let map = if map == libc::MAP_FAILED {
            // MAP_LOCKED fails under a low RLIMIT_MEMLOCK; an unlocked ring works, only with paging risk.
            // SAFETY: as above, without MAP_LOCKED.
            let m = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd.as_raw_fd(),
                    0,
                )
            };
            if m == libc::MAP_FAILED {
                return Err(SetupError::Ring(io::Error::last_os_error()));
            }
            m
        } else {
            map
        };
        let map =
            NonNull::new(map.cast::<u8>()).ok_or(SetupError::Ring(io::ErrorKind::Other.into()))?;
        let ring = Self {
            fd,
            map,
            geometry: g,
            next: 0,
        };

        let code: Vec<libc::sock_filter> = filter
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let prog = libc::sock_fprog {
            len: u16::try_from(code.len())
                .map_err(|_| SetupError::Filter(io::ErrorKind::InvalidInput.into()))?,
            filter: code.as_ptr().cast_mut(),
        };
        // The kernel copies the program during the call; `code` outlives it.
        setsockopt(&ring.fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
            .map_err(SetupError::Filter)?;

        // SAFETY: sockaddr_ll is plain old data; all-zero is valid before the fields are set.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = i32::try_from(ifindex).unwrap_or(0);
        // SAFETY: `sll` is a valid sockaddr_ll and the length is its size.
        cvt(unsafe {
            libc::bind(
                ring.fd.as_raw_fd(),
                (&raw const sll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })
        .map_err(SetupError::Bind)?;
        if let Some(group) = g.fanout_group {
            // Fanout needs a bound socket. Hash by flow; defragment so fragments follow their datagram.
            let arg: i32 = i32::from(group)
                | ((libc::PACKET_FANOUT_HASH as i32 | libc::PACKET_FANOUT_FLAG_DEFRAG as i32)
                    << 16);
            setsockopt(&ring.fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)
                .map_err(SetupError::Fanout)?;
        }
        Ok(ring)
    }

    fn status_ptr(&self, idx: usize) -> *mut u32 {
        // SAFETY: pointer arithmetic only; idx < block_count (callers pass `self.next`, kept in range), so the
        // offset stays inside the mapping; the status word is 4-byte aligned (blocks are page aligned).
        unsafe {
            self.map
                .as_ptr()
                .add(idx * self.geometry.block_size + BLOCK_STATUS_OFFSET)
                .cast::<u32>()
        }
    }

    fn user_owned(&self, idx: usize) -> bool {
        // SAFETY: the status word is inside the mapping (see `status_ptr`) and written by the kernel
        // concurrently, hence the volatile read.
        let status = unsafe { std::ptr::read_volatile(self.status_ptr(idx)) };
        // Order the reads of the block's contents after the status that handed it over.
        fence(Ordering::Acquire);
        status & TP_STATUS_USER != 0
    }

    /// Waits up to `timeout` for the next block to be handed over; returns its index.
    pub(crate) fn wait_block(&mut self, timeout: Duration) -> io::Result<Option<usize>> {
        if self.user_owned(self.next) {
            return Ok(Some(self.next));
        }
        if timeout.is_zero() {
            return Ok(None);
        }
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `pfd` is one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&raw mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(None);
            }
            return Err(e);
        }
        Ok(self.user_owned(self.next).then_some(self.next))
    }

    /// Whether the next block is in user space.
    pub(crate) fn ready(&self) -> bool {
        self.user_owned(self.next)
    }

    /// The bytes of block `idx`, which must be user-owned (returned by [`Ring::wait_block`] and not yet
    /// released). The borrow of `self` keeps the block from being released while the slice lives.
    pub(crate) fn block(&self, idx: usize) -> &[u8] {
        if idx >= self.geometry.block_count {
            return &[];
        }
        // SAFETY: the range lies inside the mapping; the block is user-owned, so the kernel does not write
        // it until `release` (which needs `&mut self`, impossible while this borrow lives).
        unsafe {
            std::slice::from_raw_parts(
                self.map.as_ptr().add(idx * self.geometry.block_size),
                self.geometry.block_size,
            )
        }
    }

    /// Hands block `idx` back to the kernel and advances to the next one.
    pub(crate) fn release(&mut self, idx: usize) {
        if idx >= self.geometry.block_count {
            return;
        }
        // Finish all reads of the block before the kernel may overwrite it.
        fence(Ordering::Release);
        // SAFETY: the status word is inside the mapping; a volatile write because the kernel reads it.
        unsafe { std::ptr::write_volatile(self.status_ptr(idx), TP_STATUS_KERNEL) };
        self.next = (idx + 1) % self.geometry.block_count.max(1);
    }

    /// Reads and resets the kernel's counters: (packets, drops, times the queue froze).
    pub(crate) fn stats(&self) -> io::Result<(u32, u32, u32)> {
        let mut st = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        let mut len = size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `st` is writable for `len` bytes and `len` is a valid in/out length.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&raw mut st).cast(),
                &raw mut len,
            )
        })?;
        Ok((st.tp_packets, st.tp_drops, st.tp_freeze_q_cnt))
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `open`; no slices into it outlive `self`.
        unsafe {
            libc::munmap(
                self.map.as_ptr().cast(),
                self.geometry.block_size * self.geometry.block_count,
            );
        }
    }
}

/// Waits up to `timeout` until one of `rings` has its next block in user space; returns whether one has.
pub(crate) fn wait_any(rings: &[&Ring], timeout: Duration) -> io::Result<bool> {
    if rings.iter().any(|r| r.ready()) {
        return Ok(true);
    }
    let mut pfds: Vec<libc::pollfd> = rings
        .iter()
        .map(|r| libc::pollfd {
            fd: r.fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        })
        .collect();
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let n = libc::nfds_t::try_from(pfds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `pfds` holds `n` valid pollfds for the duration of the call.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), n, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(rings.iter().any(|r| r.ready()))
}
