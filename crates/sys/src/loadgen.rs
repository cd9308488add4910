//! A bounded load generator for the lab benchmarks: sends exactly `count` copies of a datagram as fast as
//! the kernel takes them. It is for the project's own namespaces; callers choose the destination by
//! connecting the socket.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;

/// Sends `count` copies of `payload` on a connected UDP socket with `sendmmsg(2)`, 64 per call, and returns
/// how many the kernel accepted (stops early only if the socket fails with an error other than a full
/// buffer).
pub fn send_copies(sock: &UdpSocket, payload: &[u8], count: u64) -> u64 {
    const BATCH: usize = 64;
    let mut iov = [libc::iovec {
        iov_base: payload.as_ptr().cast_mut().cast(),
        iov_len: payload.len(),
    }; 1];
    // SAFETY: mmsghdr is plain old data; all-zero is a valid value before the fields are set.
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
    for m in &mut msgs {
        m.msg_hdr.msg_iov = iov.as_mut_ptr();
        m.msg_hdr.msg_iovlen = 1;
    }
    let mut sent = 0u64;
    let mut failures = 0u32;
    while sent < count {
        let n = u32::try_from((count - sent).min(BATCH as u64)).unwrap_or(1);
        // SAFETY: `msgs` holds `n` ≤ BATCH initialised headers pointing at `iov`, which points at `payload`;
        // all outlive the call, and the socket is connected so no address is needed.
        let r = unsafe { libc::sendmmsg(sock.as_raw_fd(), msgs.as_mut_ptr(), n, 0) };
        if r > 0 {
            sent += u64::try_from(r).unwrap_or(0);
            failures = 0;
        } else {
            let err = std::io::Error::last_os_error();
            let transient = matches!(
                err.raw_os_error(),
                Some(libc::ENOBUFS | libc::EAGAIN | libc::ECONNREFUSED)
            );
            failures += 1;
            if !transient || failures > 10_000 {
                break;
            }
        }
    }
    sent
}
