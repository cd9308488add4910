//! A `NETLINK_NETFILTER` socket: the only system calls of the nf_tables enforcer.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// A bound netlink socket talking to nfnetlink.
#[derive(Debug)]
pub(crate) struct NetlinkSocket {
    fd: OwnedFd,
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn setsockopt_int(fd: &OwnedFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` lives across the call and the length passed is exactly its size; the fd is open.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    })
    .map(drop)
}

impl NetlinkSocket {
    /// Opens and binds a `NETLINK_NETFILTER` socket in the calling thread's network namespace, with room for
    /// multi-megabyte batches, capped acknowledgements (errors do not echo whole batches back) and extended
    /// error reporting.
    pub(crate) fn open() -> io::Result<Self> {
        // SAFETY: plain socket(2) call; the returned descriptor is checked before use.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            )
        })?;
        // SAFETY: `raw` is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value (pid 0: the kernel assigns one).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `addr` is a valid sockaddr_nl and the length passed is its size.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        })?;
        const BUF: i32 = 16 << 20;
        // SO_*BUFFORCE needs CAP_NET_ADMIN, which the caller has if it may change nf_tables at all; fall back
        // to the capped variant otherwise (batches are then split smaller by the sender).
        if setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, BUF).is_err() {
            setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, BUF)?;
        }
        if setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, BUF).is_err() {
            setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, BUF)?;
        }
        setsockopt_int(&fd, libc::SOL_NETLINK, libc::NETLINK_CAP_ACK, 1)?;
        setsockopt_int(&fd, libc::SOL_NETLINK, libc::NETLINK_EXT_ACK, 1)?;
        let s = Self { fd };
        s.set_timeout(Duration::from_secs(5))?;
        Ok(s)
    }

    /// Bounds how long [`NetlinkSocket::recv`] waits, so a kernel that never answers is an error, not a hang.
    pub(crate) fn set_timeout(&self, t: Duration) -> io::Result<()> {
        let tv = libc::timeval {
            tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_usec: libc::suseconds_t::from(t.subsec_micros().min(999_999) as i32),
        };
        // SAFETY: `tv` lives across the call and the length is its size.
        cvt(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const tv).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        })
        .map(drop)
    }

    /// Stops the kernel from reporting `ENOBUFS` when the receive buffer overflowed: for a packet queue the
    /// lost messages are packets the kernel already handled (fail-open accepts them), not an error to stop on.
    pub(crate) fn set_no_enobufs(&self) -> io::Result<()> {
        setsockopt_int(&self.fd, libc::SOL_NETLINK, libc::NETLINK_NO_ENOBUFS, 1)
    }

    /// Sends one datagram (a message or a whole batch) to the kernel.
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_nl is plain old data; zero pid addresses the kernel.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes and `addr` for its size during the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                0,
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if usize::try_from(n).ok() != Some(buf.len()) {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "netlink send was truncated",
            ));
        }
        Ok(())
    }

    /// Receives one datagram into `buf` and returns its length. `nonblocking` returns `Ok(None)` instead of
    /// waiting when nothing is queued.
    pub(crate) fn recv(&self, buf: &mut [u8], nonblocking: bool) -> io::Result<Option<usize>> {
        let flags = if nonblocking { libc::MSG_DONTWAIT } else { 0 };
        loop {
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes during the call.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    flags,
                )
            };
            if n >= 0 {
                return Ok(usize::try_from(n).ok());
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock if nonblocking => return Ok(None),
                _ => return Err(e),
            }
        }
    }
}
