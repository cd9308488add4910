//! Answering a rejected request in the PBX's name: a UDP datagram from the address and port the request
//! was sent to, written whole (IP and UDP headers) to a raw socket.
//!
//! Why a raw socket and not a UDP socket bound to the PBX's address and port with `IP_FREEBIND` /
//! `IP_TRANSPARENT`: the PBX owns that port, so the bind fails with `EADDRINUSE`, and with `SO_REUSEPORT`
//! (where the PBX allows it) the kernel would start handing the PBX's own incoming requests to our socket.
//! A raw `IPPROTO_RAW` socket receives nothing and binds nothing, so it cannot steal or conflict; the
//! datagram still goes through the `OUTPUT`/`POSTROUTING` hooks (conntrack, NAT) like one the PBX sent.
//! Because the queue sees a request before any DNAT (mangle `PREROUTING` runs before nat), answering from
//! its destination is right on a PBX host and on a router that forwards to one alike.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Why a datagram could not be built or sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplyError {
    /// Source and destination are of different address families.
    FamilyMismatch,
    /// The payload does not fit one UDP datagram, or the buffer is too small.
    TooLarge,
    /// No raw socket for that address family could be opened.
    FamilyUnavailable,
    /// The kernel refused to send.
    Io(io::Error),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::FamilyMismatch => {
                f.write_str("source and destination address families differ")
            }
            ReplyError::TooLarge => f.write_str("the reply does not fit a UDP datagram"),
            ReplyError::FamilyUnavailable => f.write_str("no raw socket for this address family"),
            ReplyError::Io(e) => write!(f, "cannot send the reply: {e}"),
        }
    }
}

impl std::error::Error for ReplyError {}

fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([
            c.first().copied().unwrap_or(0),
            c.get(1).copied().unwrap_or(0),
        ]));
    }
    if let Some(&b) = chunks.remainder().first() {
        acc += u32::from(u16::from_be_bytes([b, 0]));
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Writes an IPv4 or IPv6 packet carrying `payload` in one UDP datagram from `src` to `dst` into `out`,
/// checksums included (RFC 768; RFC 8200 §8.1 makes the UDP checksum mandatory over IPv6), and returns
/// its length.
///
/// # Errors
///
/// [`ReplyError::FamilyMismatch`] or [`ReplyError::TooLarge`].
pub fn build_udp(
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, ReplyError> {
    let udp_len = u16::try_from(8 + payload.len()).map_err(|_| ReplyError::TooLarge)?;
    let (ip_len, pseudo) = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total =
                u16::try_from(20 + usize::from(udp_len)).map_err(|_| ReplyError::TooLarge)?;
            let mut h = [0u8; 20];
            h[0] = 0x45;
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[6] = 0x40; // don't fragment: a SIP answer this small never needs it
            h[8] = 64;
            h[9] = 17;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let c = fold(sum16(0, &h));
            h[10..12].copy_from_slice(&c.to_be_bytes());
            out.get_mut(..20)
                .ok_or(ReplyError::TooLarge)?
                .copy_from_slice(&h);
            let mut p = sum16(0, &s.octets());
            p = sum16(p, &d.octets());
            p += 17 + u32::from(udp_len);
            (20, p)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = [0u8; 40];
            h[0] = 0x60;
            h[4..6].copy_from_slice(&udp_len.to_be_bytes());
            h[6] = 17;
            h[7] = 64;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            out.get_mut(..40)
                .ok_or(ReplyError::TooLarge)?
                .copy_from_slice(&h);
            let mut p = sum16(0, &s.octets());
            p = sum16(p, &d.octets());
            p += 17 + u32::from(udp_len);
            (40, p)
        }
        _ => return Err(ReplyError::FamilyMismatch),
    };
    let end = ip_len + usize::from(udp_len);
    let mut h = [0u8; 8];
    h[..2].copy_from_slice(&src.port().to_be_bytes());
    h[2..4].copy_from_slice(&dst.port().to_be_bytes());
    h[4..6].copy_from_slice(&udp_len.to_be_bytes());
    let mut c = fold(sum16(sum16(pseudo, &h), payload));
    if c == 0 {
        c = 0xffff; // 0 means "no checksum" over IPv4 and is invalid over IPv6 (RFC 768, RFC 8200 §8.1)
    }
    h[6..8].copy_from_slice(&c.to_be_bytes());
    out.get_mut(ip_len..ip_len + 8)
        .ok_or(ReplyError::TooLarge)?
        .copy_from_slice(&h);
    out.get_mut(ip_len + 8..end)
        .ok_or(ReplyError::TooLarge)?
        .copy_from_slice(payload);
    Ok(end)
}

fn raw_socket(family: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the returned descriptor is checked before use.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_RAW,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Raw sockets (`IPPROTO_RAW`, header included) for sending built datagrams. Needs `CAP_NET_RAW`.
#[derive(Debug)]
pub struct RawSender {
    v4: Option<OwnedFd>,
    v6: Option<OwnedFd>,
}

impl RawSender {
    /// Opens the IPv4 socket and, where the host has IPv6, the IPv6 one, in the calling thread's network
    /// namespace.
    ///
    /// # Errors
    ///
    /// The IPv4 socket cannot be opened (no `CAP_NET_RAW`).
    pub fn open() -> io::Result<Self> {
        let v4 = raw_socket(libc::AF_INET)?;
        let v6 = raw_socket(libc::AF_INET6).ok();
        Ok(Self { v4: Some(v4), v6 })
    }

    /// Sends `packet` (as built by [`build_udp`]) to `dst`.
    ///
    /// # Errors
    ///
    /// [`ReplyError::FamilyUnavailable`] or the kernel's error.
    pub fn send(&self, packet: &[u8], dst: IpAddr) -> Result<(), ReplyError> {
        // SAFETY: sockaddr_storage is plain old data; all-zero is valid before the family fields are set.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let (fd, len) = match dst {
            IpAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: 0,
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr, sockaddr_in included.
                unsafe { std::ptr::write((&raw mut ss).cast::<libc::sockaddr_in>(), sin) };
                (self.v4.as_ref(), size_of::<libc::sockaddr_in>())
            }
            IpAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: 0,
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.octets(),
                    },
                    sin6_scope_id: 0,
                };
                // SAFETY: as above, for sockaddr_in6.
                unsafe { std::ptr::write((&raw mut ss).cast::<libc::sockaddr_in6>(), sin6) };
                (self.v6.as_ref(), size_of::<libc::sockaddr_in6>())
            }
        };
        let fd = fd.ok_or(ReplyError::FamilyUnavailable)?;
        // SAFETY: `packet` is valid for reads of its length and `ss` holds an initialised address of `len`
        // bytes; both outlive the call.
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&raw const ss).cast(),
                len as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(ReplyError::Io(io::Error::last_os_error()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoded, decode_ip};

    #[test]
    fn an_ipv4_datagram_decodes_back_with_valid_checksums() {
        let src: SocketAddr = "10.77.0.2:5060".parse().unwrap();
        let dst: SocketAddr = "10.77.0.3:40000".parse().unwrap();
        let mut out = [0u8; 256];
        let n = build_udp(src, dst, b"SIP/2.0 403 Forbidden\r\n\r\n", &mut out).unwrap();
        let pkt = &out[..n];
        // Summing a header with its checksum gives 0xffff (RFC 1071).
        assert_eq!(fold(sum16(0, &pkt[..20])), 0);
        let mut p = sum16(0, &pkt[12..20]);
        p += 17 + u32::from(u16::from_be_bytes([pkt[24], pkt[25]]));
        assert_eq!(fold(sum16(p, &pkt[20..])), 0);
        let Ok(Decoded::Packet(d)) = decode_ip(pkt, None) else {
            panic!("does not decode");
        };
        assert_eq!((d.src, d.src_port), (src.ip(), 5060));
        assert_eq!((d.dst, d.dst_port), (dst.ip(), 40000));
        assert_eq!(d.payload, b"SIP/2.0 403 Forbidden\r\n\r\n");
    }

    #[test]
    fn an_ipv6_datagram_has_a_nonzero_valid_checksum() {
        let src: SocketAddr = "[2001:db8::2]:5060".parse().unwrap();
        let dst: SocketAddr = "[2001:db8::3]:5062".parse().unwrap();
        let mut out = [0u8; 256];
        let n = build_udp(src, dst, b"odd", &mut out).unwrap();
        let pkt = &out[..n];
        assert_eq!(n, 40 + 8 + 3);
        let mut p = sum16(0, &pkt[8..40]);
        p += 17 + 11;
        assert_eq!(fold(sum16(p, &pkt[40..])), 0);
        assert_ne!(&pkt[46..48], &[0, 0]);
        let Ok(Decoded::Packet(d)) = decode_ip(pkt, None) else {
            panic!("does not decode");
        };
        assert_eq!(d.payload, b"odd");
    }

    #[test]
    fn mixed_families_and_small_buffers_are_errors() {
        let v4: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let v6: SocketAddr = "[::1]:1".parse().unwrap();
        let mut out = [0u8; 64];
        assert!(matches!(
            build_udp(v4, v6, b"", &mut out),
            Err(ReplyError::FamilyMismatch)
        ));
        assert!(matches!(
            build_udp(v4, v4, &[0; 100], &mut out),
            Err(ReplyError::TooLarge)
        ));
        let mut big = vec![0u8; 70_000];
        assert!(matches!(
            build_udp(v4, v4, &[0; 65_530], &mut big),
            Err(ReplyError::TooLarge)
        ));
    }
}
