//! Pure frame decoding: Ethernet (with 802.1Q/802.1ad tags), IPv4, IPv6, UDP and TCP, borrowing the caller's
//! bytes. Attacker bytes never panic here: every read is bounds-checked and a short or inconsistent header is
//! a [`DecodeError`] naming the layer.
//!
//! IPv4 and IPv6 fragments are returned as [`Decoded::Fragment`] and put back together by [`Reassembler`],
//! which holds a bounded number of datagrams and bytes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod reasm;

pub use reasm::{ReasmLimits, ReasmStats, Reassembled, Reassembler};

/// What the frame starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// An Ethernet header (possibly with VLAN tags).
    Ethernet,
    /// The IP header directly (tunnels, `ppp`, or a capture that already located the network header).
    Ip,
}

/// The transport protocol of a decoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP (RFC 768).
    Udp,
    /// TCP (RFC 9293), with the fields stream reassembly needs.
    Tcp {
        /// Sequence number of the first payload byte.
        seq: u32,
        /// The flag bits (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, …).
        flags: u8,
    },
}

/// A UDP datagram or TCP segment with its addressing, borrowing the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// UDP or TCP.
    pub transport: Transport,
    /// The transport payload (a SIP message, or part of a TCP stream).
    pub payload: &'a [u8],
    /// The VLAN id of the outermost tag found in the frame, if any.
    pub vlan: Option<u16>,
}

/// One fragment of an IPv4 datagram (RFC 791 §3.2) or of an IPv6 packet (RFC 8200 §4.5), to be given
/// to a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpFragment<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The identification shared by all fragments of a datagram (16 bits in IPv4, 32 in IPv6).
    pub id: u32,
    /// The transport protocol number (17 UDP, 6 TCP): IPv4's protocol field, or the next header of the
    /// IPv6 fragment header.
    pub protocol: u8,
    /// Byte offset of `data` within the datagram's payload.
    pub offset: usize,
    /// Whether more fragments follow (MF).
    pub more: bool,
    /// This fragment's share of the payload.
    pub data: &'a [u8],
}

/// Result of decoding one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A complete UDP datagram or TCP segment.
    Packet(Packet<'a>),
    /// An IPv4 or IPv6 fragment: feed it to a [`Reassembler`].
    Fragment(IpFragment<'a>),
}

/// Why a frame could not be decoded. None of these is a bug: they describe the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame ends inside the named header (or before the length a header announced).
    Truncated(&'static str),
    /// The EtherType is neither IPv4 nor IPv6 (e.g. ARP).
    EtherTypeOther(u16),
    /// The IP version nibble is not 4 or 6.
    IpVersionInvalid(u8),
    /// An IPv4 header length below 20 bytes, or a total length below the header length.
    Ipv4HeaderInvalid,
    /// The transport protocol is neither UDP nor TCP.
    ProtocolOther(u8),
    /// More IPv6 extension headers than the decoder follows (8).
    Ipv6ExtensionChainTooLong,
    /// A UDP length below 8, or a TCP data offset below 5 words.
    TransportHeaderInvalid,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated(layer) => write!(f, "frame truncated in the {layer} header"),
            Self::EtherTypeOther(t) => write!(f, "ethertype {t:#06x} is not IP"),
            Self::IpVersionInvalid(v) => write!(f, "IP version {v} is invalid"),
            Self::Ipv4HeaderInvalid => write!(f, "IPv4 header or total length is invalid"),
            Self::ProtocolOther(p) => write!(f, "IP protocol {p} is neither UDP nor TCP"),
            Self::Ipv6ExtensionChainTooLong => write!(f, "too many IPv6 extension headers"),
            Self::TransportHeaderInvalid => write!(f, "UDP length or TCP data offset is invalid"),
        }
    }
}

impl std::error::Error for DecodeError {}

const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

fn arr<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Decodes one captured frame.
///
/// # Errors
///
/// [`DecodeError`] describing the first header that is short, inconsistent or of another protocol.
pub fn decode_frame(frame: &[u8], link: Link) -> Result<Decoded<'_>, DecodeError> {
    match link {
        Link::Ip => decode_ip(frame, None),
        Link::Ethernet => {
            let mut ty = be16(frame, 12).ok_or(DecodeError::Truncated("ethernet"))?;
            let mut at = 14;
            let mut vlan = None;
            // At most two tags (QinQ); a third is treated as an unknown EtherType.
            for _ in 0..2 {
                if ty != ETH_P_8021Q && ty != ETH_P_8021AD {
                    break;
                }
                let tci = be16(frame, at).ok_or(DecodeError::Truncated("vlan"))?;
                vlan.get_or_insert(tci & 0x0fff);
                ty = be16(frame, at + 2).ok_or(DecodeError::Truncated("vlan"))?;
                at += 4;
            }
            match ty {
                ETH_P_IPV4 | ETH_P_IPV6 => decode_ip(frame.get(at..).unwrap_or_default(), vlan),
                other => Err(DecodeError::EtherTypeOther(other)),
            }
        }
    }
}

/// Decodes an IP packet (IPv4 or IPv6, by its version nibble). `vlan` is carried into the result.
///
/// # Errors
///
/// As [`decode_frame`].
pub fn decode_ip(ip: &[u8], vlan: Option<u16>) -> Result<Decoded<'_>, DecodeError> {
    let first = *ip.first().ok_or(DecodeError::Truncated("ip"))?;
    match first >> 4 {
        4 => decode_ipv4(ip, vlan),
        6 => decode_ipv6(ip, vlan),
        v => Err(DecodeError::IpVersionInvalid(v)),
    }
}

fn decode_ipv4(ip: &[u8], vlan: Option<u16>) -> Result<Decoded<'_>, DecodeError> {
    let ihl = usize::from(ip.first().copied().unwrap_or(0) & 0x0f) * 4;
    if ip.len() < 20 {
        return Err(DecodeError::Truncated("ipv4"));
    }
    let total = usize::from(be16(ip, 2).ok_or(DecodeError::Truncated("ipv4"))?);
    if ihl < 20 || total < ihl {
        return Err(DecodeError::Ipv4HeaderInvalid);
    }
    // Ethernet pads short frames: the total length, not the frame, says where the packet ends.
    let packet = ip
        .get(..total)
        .ok_or(DecodeError::Truncated("ipv4 payload"))?;
    let body = packet
        .get(ihl..)
        .ok_or(DecodeError::Truncated("ipv4 options"))?;
    let id = be16(ip, 4).ok_or(DecodeError::Truncated("ipv4"))?;
    let frag = be16(ip, 6).ok_or(DecodeError::Truncated("ipv4"))?;
    let protocol = *ip.get(9).ok_or(DecodeError::Truncated("ipv4"))?;
    let src = Ipv4Addr::from(arr::<4>(ip, 12).ok_or(DecodeError::Truncated("ipv4"))?);
    let dst = Ipv4Addr::from(arr::<4>(ip, 16).ok_or(DecodeError::Truncated("ipv4"))?);
    let more = frag & 0x2000 != 0;
    let offset = usize::from(frag & 0x1fff) * 8;
    if more || offset != 0 {
        if protocol != IPPROTO_UDP && protocol != IPPROTO_TCP {
            return Err(DecodeError::ProtocolOther(protocol));
        }
        return Ok(Decoded::Fragment(IpFragment {
            src: IpAddr::V4(src),
            dst: IpAddr::V4(dst),
            id: u32::from(id),
            protocol,
            offset,
            more,
            data: body,
        }));
    }
    decode_transport(protocol, IpAddr::V4(src), IpAddr::V4(dst), body, vlan).map(Decoded::Packet)
}

fn decode_ipv6(ip: &[u8], vlan: Option<u16>) -> Result<Decoded<'_>, DecodeError> {
    let plen = usize::from(be16(ip, 4).ok_or(DecodeError::Truncated("ipv6"))?);
    let mut next = *ip.get(6).ok_or(DecodeError::Truncated("ipv6"))?;
    let src = Ipv6Addr::from(arr::<16>(ip, 8).ok_or(DecodeError::Truncated("ipv6"))?);
    let dst = Ipv6Addr::from(arr::<16>(ip, 24).ok_or(DecodeError::Truncated("ipv6"))?);
    let end = 40usize.saturating_add(plen);
    let packet = ip
        .get(..end)
        .ok_or(DecodeError::Truncated("ipv6 payload"))?;
    let mut at = 40;
    for _ in 0..8 {
        match next {
            // Hop-by-hop, routing, destination options: length in 8-byte units, not counting the first 8.
            0 | 43 | 60 => {
                let len = usize::from(
                    *packet
                        .get(at + 1)
                        .ok_or(DecodeError::Truncated("ipv6 extension"))?,
                );
                next = *packet
                    .get(at)
                    .ok_or(DecodeError::Truncated("ipv6 extension"))?;
                at += (len + 1) * 8;
            }
            44 => {
                let off = be16(packet, at + 2).ok_or(DecodeError::Truncated("ipv6 fragment"))?;
                let inner = *packet
                    .get(at)
                    .ok_or(DecodeError::Truncated("ipv6 fragment"))?;
                // An atomic fragment (offset 0, M clear; RFC 6946) is a whole packet.
                if off & 0xfff9 != 0 {
                    // RFC 7112: the first fragment carries the whole header chain, so the fragment
                    // header names the transport directly.
                    if inner != IPPROTO_UDP && inner != IPPROTO_TCP {
                        return Err(DecodeError::ProtocolOther(inner));
                    }
                    let id = be32(packet, at + 4).ok_or(DecodeError::Truncated("ipv6 fragment"))?;
                    let data = packet
                        .get(at + 8..)
                        .ok_or(DecodeError::Truncated("ipv6 fragment"))?;
                    return Ok(Decoded::Fragment(IpFragment {
                        src: IpAddr::V6(src),
                        dst: IpAddr::V6(dst),
                        id,
                        protocol: inner,
                        offset: usize::from(off & 0xfff8),
                        more: off & 1 != 0,
                        data,
                    }));
                }
                next = inner;
                at += 8;
            }
            _ => {
                let body = packet
                    .get(at..)
                    .ok_or(DecodeError::Truncated("ipv6 extension"))?;
                return decode_transport(next, IpAddr::V6(src), IpAddr::V6(dst), body, vlan)
                    .map(Decoded::Packet);
            }
        }
    }
    Err(DecodeError::Ipv6ExtensionChainTooLong)
}

/// Decodes a UDP or TCP header and payload (for example from a [`Reassembled`] datagram).
///
/// # Errors
///
/// [`DecodeError::ProtocolOther`], [`DecodeError::Truncated`] or [`DecodeError::TransportHeaderInvalid`].
pub fn decode_transport(
    protocol: u8,
    src: IpAddr,
    dst: IpAddr,
    body: &[u8],
    vlan: Option<u16>,
) -> Result<Packet<'_>, DecodeError> {
    let src_port = be16(body, 0);
    let dst_port = be16(body, 2);
    match protocol {
        IPPROTO_UDP => {
            let len = usize::from(be16(body, 4).ok_or(DecodeError::Truncated("udp"))?);
            if len < 8 {
                return Err(DecodeError::TransportHeaderInvalid);
            }
            let payload = body
                .get(8..len)
                .ok_or(DecodeError::Truncated("udp payload"))?;
            Ok(Packet {
                src,
                dst,
                src_port: src_port.ok_or(DecodeError::Truncated("udp"))?,
                dst_port: dst_port.ok_or(DecodeError::Truncated("udp"))?,
                transport: Transport::Udp,
                payload,
                vlan,
            })
        }
        IPPROTO_TCP => {
            let seq = be32(body, 4).ok_or(DecodeError::Truncated("tcp"))?;
            let off = usize::from(body.get(12).ok_or(DecodeError::Truncated("tcp"))? >> 4) * 4;
            let flags = *body.get(13).ok_or(DecodeError::Truncated("tcp"))?;
            if off < 20 {
                return Err(DecodeError::TransportHeaderInvalid);
            }
            let payload = body
                .get(off..)
                .ok_or(DecodeError::Truncated("tcp options"))?;
            Ok(Packet {
                src,
                dst,
                src_port: src_port.ok_or(DecodeError::Truncated("tcp"))?,
                dst_port: dst_port.ok_or(DecodeError::Truncated("tcp"))?,
                transport: Transport::Tcp { seq, flags },
                payload,
                vlan,
            })
        }
        p => Err(DecodeError::ProtocolOther(p)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    /// Builds Ethernet + IPv4 + UDP around `payload`, with optional VLAN tag and fragment fields.
    pub(crate) fn eth_ipv4_udp(
        payload: &[u8],
        vlan: Option<u16>,
        id: u16,
        frag: u16,
        udp_len_override: Option<u16>,
    ) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        if let Some(v) = vlan {
            f.extend_from_slice(&ETH_P_8021Q.to_be_bytes());
            f.extend_from_slice(&v.to_be_bytes());
        }
        f.extend_from_slice(&ETH_P_IPV4.to_be_bytes());
        let udp_len = 8 + payload.len() as u16;
        let total = 20 + udp_len;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&frag.to_be_bytes());
        f.extend_from_slice(&[64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        f.extend_from_slice(&5060u16.to_be_bytes());
        f.extend_from_slice(&5070u16.to_be_bytes());
        f.extend_from_slice(&udp_len_override.unwrap_or(udp_len).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn ethernet_ipv4_udp_decodes_addresses_ports_and_payload() {
        let f = eth_ipv4_udp(b"OPTIONS sip:x SIP/2.0\r\n\r\n", None, 1, 0, None);
        let Ok(Decoded::Packet(p)) = decode_frame(&f, Link::Ethernet) else {
            panic!("not a packet");
        };
        assert_eq!(p.src.to_string(), "192.0.2.1");
        assert_eq!(p.dst.to_string(), "192.0.2.2");
        assert_eq!((p.src_port, p.dst_port), (5060, 5070));
        assert_eq!(p.transport, Transport::Udp);
        assert_eq!(p.payload, b"OPTIONS sip:x SIP/2.0\r\n\r\n");
        assert_eq!(p.vlan, None);
    }

    #[test]
    fn vlan_tag_is_skipped_and_reported() {
        let f = eth_ipv4_udp(b"x", Some(0x2064), 1, 0, None);
        let Ok(Decoded::Packet(p)) = decode_frame(&f, Link::Ethernet) else {
            panic!("not a packet");
        };
        assert_eq!(p.vlan, Some(0x064));
        assert_eq!(p.payload, b"x");
    }

    #[test]
    fn ethernet_padding_after_the_ip_total_length_is_ignored() {
        let mut f = eth_ipv4_udp(b"ab", None, 1, 0, None);
        f.extend_from_slice(&[0; 20]);
        let Ok(Decoded::Packet(p)) = decode_frame(&f, Link::Ethernet) else {
            panic!("not a packet");
        };
        assert_eq!(p.payload, b"ab");
    }

    #[test]
    fn udp_length_beyond_the_packet_is_truncation_and_below_eight_is_invalid() {
        let f = eth_ipv4_udp(b"abc", None, 1, 0, Some(200));
        assert_eq!(
            decode_frame(&f, Link::Ethernet),
            Err(DecodeError::Truncated("udp payload"))
        );
        let f = eth_ipv4_udp(b"abc", None, 1, 0, Some(7));
        assert_eq!(
            decode_frame(&f, Link::Ethernet),
            Err(DecodeError::TransportHeaderInvalid)
        );
    }

    #[test]
    fn fragments_are_returned_for_reassembly() {
        let f = eth_ipv4_udp(b"abcdefgh", None, 77, 0x2000, None);
        let Ok(Decoded::Fragment(fr)) = decode_frame(&f, Link::Ethernet) else {
            panic!("not a fragment");
        };
        assert_eq!((fr.id, fr.offset, fr.more, fr.protocol), (77, 0, true, 17));
        assert_eq!(fr.data.len(), 16);
    }

    /// IPv6 + fragment header (+ the fragment's bytes) with the given offset field and identification.
    fn ipv6_fragment(inner: u8, off_field: u16, id: u32, data: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[44, 64]);
        p.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&[inner, 0]);
        p.extend_from_slice(&off_field.to_be_bytes());
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(data);
        p
    }

    #[test]
    fn ipv6_fragments_are_returned_for_reassembly_and_reassemble_to_the_datagram() {
        let sip = b"INVITE sip:100@[2001:db8::2] SIP/2.0\r\nContent-Length: 0\r\n\r\n";
        let mut udp = Vec::new();
        udp.extend_from_slice(&5070u16.to_be_bytes());
        udp.extend_from_slice(&5060u16.to_be_bytes());
        udp.extend_from_slice(&((8 + sip.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(sip);
        let (first, rest) = udp.split_at(32);
        let a = ipv6_fragment(IPPROTO_UDP, 1, 0xdead_beef, first);
        let b = ipv6_fragment(IPPROTO_UDP, 32, 0xdead_beef, rest);
        let mut r = Reassembler::new(ReasmLimits::default());
        let mut whole = None;
        for f in [&b, &a] {
            let Ok(Decoded::Fragment(fr)) = decode_frame(f, Link::Ip) else {
                panic!("not a fragment");
            };
            assert_eq!((fr.id, fr.protocol), (0xdead_beef, 17));
            whole = r.push(Duration::ZERO, &fr).or(whole);
        }
        let whole = whole.unwrap();
        let p = decode_transport(whole.protocol, whole.src, whole.dst, &whole.data, None).unwrap();
        assert_eq!(p.src.to_string(), "2001:db8::1");
        assert_eq!((p.src_port, p.dst_port), (5070, 5060));
        assert_eq!(p.payload, sip);
    }

    #[test]
    fn an_atomic_ipv6_fragment_is_a_whole_packet_and_other_protocols_are_named() {
        let mut udp = vec![0x13, 0xc4, 0x13, 0xce, 0, 10, 0, 0];
        udp.extend_from_slice(b"hi");
        let atomic = ipv6_fragment(IPPROTO_UDP, 0, 1, &udp);
        let Ok(Decoded::Packet(p)) = decode_frame(&atomic, Link::Ip) else {
            panic!("not a packet");
        };
        assert_eq!(p.payload, b"hi");
        assert_eq!(
            decode_frame(&ipv6_fragment(58, 1, 1, &udp), Link::Ip),
            Err(DecodeError::ProtocolOther(58))
        );
    }

    #[test]
    fn ipv6_tcp_with_a_destination_options_header_decodes() {
        let mut p = vec![0x60, 0, 0, 0];
        let tcp_payload = b"REGISTER";
        let plen = 8 + 20 + tcp_payload.len();
        p.extend_from_slice(&(plen as u16).to_be_bytes());
        p.extend_from_slice(&[60, 64]);
        p.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // dest opts -> TCP, PadN
        p.extend_from_slice(&5061u16.to_be_bytes());
        p.extend_from_slice(&40000u16.to_be_bytes());
        p.extend_from_slice(&1234u32.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend_from_slice(&[0x50, 0x18, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(tcp_payload);
        let Ok(Decoded::Packet(pk)) = decode_frame(&p, Link::Ip) else {
            panic!("not a packet");
        };
        assert_eq!(
            pk.transport,
            Transport::Tcp {
                seq: 1234,
                flags: 0x18
            }
        );
        assert_eq!(pk.payload, b"REGISTER");
        assert_eq!(pk.src.to_string(), "2001:db8::1");
    }

    #[test]
    fn every_prefix_of_a_valid_frame_is_an_error_not_a_panic() {
        let f = eth_ipv4_udp(b"INVITE sip:1@x SIP/2.0\r\n", Some(5), 9, 0, None);
        for n in 0..f.len() {
            assert!(decode_frame(&f[..n], Link::Ethernet).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn non_ip_frames_name_their_ethertype() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&0x0806u16.to_be_bytes());
        f.extend_from_slice(&[0; 28]);
        assert_eq!(
            decode_frame(&f, Link::Ethernet),
            Err(DecodeError::EtherTypeOther(0x0806))
        );
    }
}
