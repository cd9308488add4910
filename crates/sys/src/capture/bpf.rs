//! The classic BPF filter attached to the capture socket: IPv4/IPv6 UDP or TCP with a SIP port as source or
//! destination (both directions: requests to the PBX and its answers), plus IP fragments, which carry no
//! ports after the first and are sorted out by reassembly.
//!
//! Offsets are taken relative to the network header (`SKF_NET_OFF`) and the EtherType from the socket
//! buffer's protocol field (`SKF_AD_PROTOCOL`), so the same program works on Ethernet with or without
//! (offloaded) VLAN tags, on loopback, and on interfaces without a link header.

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_H_IND: u16 = 0x48;
const ALU_AND_K: u16 = 0x54;
const ALU_LSH_K: u16 = 0x64;
const MISC_TAX: u16 = 0x07;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

const SKF_AD_PROTOCOL: u32 = 0xffff_f000; // SKF_AD_OFF + SKF_AD_PROTOCOL (0)
const NET: u32 = 0xfff0_0000; // SKF_NET_OFF

/// Most ports a filter can test: each port costs two instructions and conditional jumps reach 255 ahead.
pub const MAX_PORTS: usize = 48;

/// Why a filter could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterError {
    /// More than [`MAX_PORTS`] ports were given.
    TooManyPorts(usize),
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooManyPorts(n) => write!(f, "{n} ports given, at most {MAX_PORTS} supported"),
        }
    }
}

impl std::error::Error for FilterError {}

#[derive(Clone, Copy)]
enum Target {
    Next,
    /// Skip this many instructions after the next one.
    Skip(usize),
    Accept,
    Reject,
    V6,
}

struct Asm {
    code: Vec<(u16, Target, Target, u32)>,
}

impl Asm {
    fn op(&mut self, code: u16, k: u32) {
        self.code.push((code, Target::Next, Target::Next, k));
    }

    fn jmp(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.code.push((code, jt, jf, k));
    }
}

/// Which transports a capture takes: a ring per transport lets UDP, where floods come from, use small
/// blocks that reach user space quickly, while TCP keeps blocks large enough for coalesced (GRO) segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transports {
    /// UDP and TCP.
    #[default]
    Both,
    /// UDP only (with IPv4 and IPv6 fragments of UDP datagrams).
    Udp,
    /// TCP only (with fragments of TCP segments).
    Tcp,
}

impl Transports {
    /// The IP protocol numbers taken: (first, second); equal when only one.
    fn protocols(self) -> (u32, u32) {
        match self {
            Self::Both => (17, 6),
            Self::Udp => (17, 17),
            Self::Tcp => (6, 6),
        }
    }
}

/// Builds the filter for `ports` (empty: every UDP/TCP packet), accepting up to `snaplen` bytes per packet.
///
/// # Errors
///
/// [`FilterError::TooManyPorts`] beyond [`MAX_PORTS`].
pub fn sip_filter(ports: &[u16], snaplen: u32) -> Result<Vec<Insn>, FilterError> {
    sip_filter_for(Transports::Both, ports, snaplen)
}

/// Builds the filter for `ports` on the given transports, accepting up to `snaplen` bytes per packet.
/// IPv6 fragments are sorted by the fragment header's next header, so a fragment reaches exactly one of
/// a UDP and a TCP capture.
///
/// # Errors
///
/// [`FilterError::TooManyPorts`] beyond [`MAX_PORTS`].
pub fn sip_filter_for(
    transports: Transports,
    ports: &[u16],
    snaplen: u32,
) -> Result<Vec<Insn>, FilterError> {
    let (p1, p2) = transports.protocols();
    if ports.len() > MAX_PORTS {
        return Err(FilterError::TooManyPorts(ports.len()));
    }
    let mut a = Asm { code: Vec::new() };
    let port_checks = |a: &mut Asm, src_off: u32, dst_off: u32, indirect: bool| {
        let ld = if indirect { LD_H_IND } else { LD_H_ABS };
        if ports.is_empty() {
            a.op(RET_K, snaplen);
            return;
        }
        for off in [src_off, dst_off] {
            a.op(ld, NET.wrapping_add(off));
            for p in ports {
                a.jmp(JEQ_K, u32::from(*p), Target::Accept, Target::Next);
            }
        }
        a.op(RET_K, 0);
    };
    a.op(LD_H_ABS, SKF_AD_PROTOCOL);
    a.jmp(JEQ_K, 0x86dd, Target::V6, Target::Next);
    a.jmp(JEQ_K, 0x0800, Target::Next, Target::Reject);
    // IPv4: the chosen transports only.
    a.op(LD_B_ABS, NET.wrapping_add(9));
    a.jmp(JEQ_K, p1, Target::Skip(1), Target::Next);
    a.jmp(JEQ_K, p2, Target::Next, Target::Reject);
    // Fragments (MF set or an offset): accept, reassembly decides.
    a.op(LD_H_ABS, NET.wrapping_add(6));
    a.jmp(JSET_K, 0x3fff, Target::Accept, Target::Next);
    // X = IPv4 header length.
    a.op(LD_B_ABS, NET);
    a.op(ALU_AND_K, 0x0f);
    a.op(ALU_LSH_K, 2);
    a.op(MISC_TAX, 0);
    port_checks(&mut a, 0, 2, true);
    let v6 = a.code.len();
    // IPv6: the chosen transports, or a fragment header whose next header is one of them; other
    // extension headers are not followed.
    a.op(LD_B_ABS, NET.wrapping_add(6));
    a.jmp(JEQ_K, 44, Target::Next, Target::Skip(3));
    a.op(LD_B_ABS, NET.wrapping_add(40));
    a.jmp(JEQ_K, p1, Target::Accept, Target::Next);
    a.jmp(JEQ_K, p2, Target::Accept, Target::Reject);
    a.jmp(JEQ_K, p1, Target::Skip(1), Target::Next);
    a.jmp(JEQ_K, p2, Target::Next, Target::Reject);
    port_checks(&mut a, 40, 42, false);
    let accept = a.code.len();
    a.op(RET_K, snaplen);
    let reject = a.code.len();
    a.op(RET_K, 0);

    let mut out = Vec::with_capacity(a.code.len());
    for (i, (code, jt, jf, k)) in a.code.iter().enumerate() {
        let resolve = |t: Target| -> u8 {
            let dest = match t {
                Target::Next => i + 1,
                Target::Skip(n) => i + 1 + n,
                Target::Accept => accept,
                Target::Reject => reject,
                Target::V6 => v6,
            };
            // Every destination lies ahead, and MAX_PORTS keeps the distance within u8.
            u8::try_from(dest.saturating_sub(i + 1)).unwrap_or(u8::MAX)
        };
        let is_jump = *code == JEQ_K || *code == JSET_K;
        out.push(Insn {
            code: *code,
            jt: if is_jump { resolve(*jt) } else { 0 },
            jf: if is_jump { resolve(*jf) } else { 0 },
            k: *k,
        });
    }
    Ok(out)
}

/// Runs `prog` over an IP packet the way the kernel would for a socket buffer whose network header starts at
/// `ip` and whose protocol is `ethertype`; returns the accepted length. Only the instructions
/// [`sip_filter`] emits are supported. For unit tests of the filter without a kernel.
pub fn interpret(prog: &[Insn], ethertype: u16, ip: &[u8]) -> u32 {
    let (mut acc, mut x, mut pc) = (0u32, 0u32, 0usize);
    let load = |off: u32, size: usize| -> Option<u32> {
        let off = usize::try_from(off.wrapping_sub(NET)).ok()?;
        let b = ip.get(off..off.checked_add(size)?)?;
        Some(b.iter().fold(0u32, |v, byte| (v << 8) | u32::from(*byte)))
    };
    for _ in 0..4096 {
        let Some(i) = prog.get(pc) else { return 0 };
        pc += 1;
        match i.code {
            LD_H_ABS if i.k == SKF_AD_PROTOCOL => acc = u32::from(ethertype),
            LD_H_ABS => match load(i.k, 2) {
                Some(v) => acc = v,
                None => return 0,
            },
            LD_B_ABS => match load(i.k, 1) {
                Some(v) => acc = v,
                None => return 0,
            },
            LD_H_IND => match load(i.k.wrapping_add(x), 2) {
                Some(v) => acc = v,
                None => return 0,
            },
            ALU_AND_K => acc &= i.k,
            ALU_LSH_K => acc <<= i.k,
            MISC_TAX => x = acc,
            JEQ_K | JSET_K => {
                let t = if i.code == JEQ_K {
                    acc == i.k
                } else {
                    acc & i.k != 0
                };
                pc += usize::from(if t { i.jt } else { i.jf });
            }
            RET_K => return i.k,
            _ => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, frag: u16, sport: u16, dport: u16, ihl: u8) -> Vec<u8> {
        let mut p = vec![0x40 | ihl, 0, 0, 0, 0, 1];
        p.extend_from_slice(&frag.to_be_bytes());
        p.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        p.resize(usize::from(ihl) * 4, 0);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0; 16]);
        p
    }

    fn ipv6(next: u8, sport: u16, dport: u16) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, 24, next, 64];
        p.extend_from_slice(&[0; 32]);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0; 20]);
        p
    }

    #[test]
    fn sip_ports_match_in_both_directions_for_udp_and_tcp() {
        let f = sip_filter(&[5060, 5080], 65535).unwrap();
        assert_eq!(interpret(&f, 0x0800, &ipv4(17, 0, 40000, 5060, 5)), 65535);
        assert_eq!(interpret(&f, 0x0800, &ipv4(17, 0, 5080, 40000, 5)), 65535);
        assert_eq!(
            interpret(&f, 0x0800, &ipv4(6, 0x4000, 40000, 5080, 5)),
            65535
        );
        assert_eq!(interpret(&f, 0x86dd, &ipv6(17, 5060, 1)), 65535);
        assert_eq!(interpret(&f, 0x86dd, &ipv6(6, 1, 5080),), 65535);
    }

    #[test]
    fn other_ports_protocols_and_ethertypes_are_rejected() {
        let f = sip_filter(&[5060], 65535).unwrap();
        assert_eq!(interpret(&f, 0x0800, &ipv4(17, 0, 53, 40000, 5)), 0);
        assert_eq!(interpret(&f, 0x0800, &ipv4(1, 0, 5060, 5060, 5)), 0);
        assert_eq!(interpret(&f, 0x0806, &ipv4(17, 0, 5060, 5060, 5)), 0);
        assert_eq!(interpret(&f, 0x86dd, &ipv6(58, 5060, 5060)), 0);
    }

    #[test]
    fn ipv4_options_shift_the_ports() {
        let f = sip_filter(&[5060], 100).unwrap();
        assert_eq!(interpret(&f, 0x0800, &ipv4(17, 0, 1, 5060, 6)), 100);
    }

    #[test]
    fn fragments_are_accepted_whatever_their_ports() {
        let f = sip_filter(&[5060], 100).unwrap();
        assert_eq!(interpret(&f, 0x0800, &ipv4(17, 0x2000, 1, 2, 5)), 100);
        assert_eq!(interpret(&f, 0x0800, &ipv4(17, 0x0010, 1, 2, 5)), 100);
        // The fragment header's next header (first byte after the fixed header) names the transport.
        assert_eq!(interpret(&f, 0x86dd, &ipv6(44, 17 << 8, 2)), 100);
        assert_eq!(interpret(&f, 0x86dd, &ipv6(44, 6 << 8, 2)), 100);
        assert_eq!(interpret(&f, 0x86dd, &ipv6(44, 58 << 8, 2)), 0);
    }

    #[test]
    fn a_transport_filter_takes_only_its_transport_and_its_fragments() {
        let udp = sip_filter_for(Transports::Udp, &[5060], 100).unwrap();
        let tcp = sip_filter_for(Transports::Tcp, &[5060], 100).unwrap();
        for (proto, frag_v6) in [(17u8, 17u16 << 8), (6, 6 << 8)] {
            let (mine, other) = if proto == 17 {
                (&udp, &tcp)
            } else {
                (&tcp, &udp)
            };
            let v4 = ipv4(proto, 0, 40000, 5060, 5);
            let v4_frag = ipv4(proto, 0x0010, 1, 2, 5);
            let v6 = ipv6(proto, 5060, 1);
            let v6_frag = ipv6(44, frag_v6, 2);
            for (ethertype, packet) in [
                (0x0800, &v4),
                (0x0800, &v4_frag),
                (0x86dd, &v6),
                (0x86dd, &v6_frag),
            ] {
                assert_eq!(interpret(mine, ethertype, packet), 100, "proto {proto}");
                assert_eq!(interpret(other, ethertype, packet), 0, "proto {proto}");
            }
        }
        assert_eq!(interpret(&udp, 0x0800, &ipv4(17, 0, 1, 2, 5)), 0);
    }

    #[test]
    fn no_ports_means_all_udp_and_tcp_and_too_many_ports_is_an_error() {
        let f = sip_filter(&[], 100).unwrap();
        assert_eq!(interpret(&f, 0x0800, &ipv4(17, 0, 1, 2, 5)), 100);
        assert_eq!(interpret(&f, 0x0800, &ipv4(47, 0, 1, 2, 5)), 0);
        let many: Vec<u16> = (1..=49).collect();
        assert_eq!(sip_filter(&many, 100), Err(FilterError::TooManyPorts(49)));
        let max: Vec<u16> = (1..=48).collect();
        let f = sip_filter(&max, 100).unwrap();
        assert_eq!(interpret(&f, 0x0800, &ipv4(17, 0, 1000, 48, 5)), 100);
    }
}
