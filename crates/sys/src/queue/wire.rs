//! The nfnetlink_queue wire format (`linux/netfilter/nfnetlink_queue.h`): configuration and verdict
//! messages out, packet messages in. Pure byte handling, no system calls, so it is tested without root.
//!
//! Netlink headers and attribute headers are in host byte order; nfnetlink_queue's own fields (queue
//! number, packet id, verdict, copy range, flags) are big-endian.

/// `NETLINK_NETFILTER` subsystem id of nfnetlink_queue.
const NFNL_SUBSYS_QUEUE: u16 = 3;
/// A queued packet (kernel → user).
pub(crate) const NFQNL_MSG_PACKET: u8 = 0;
/// A verdict on one packet.
const NFQNL_MSG_VERDICT: u8 = 1;
/// Queue configuration.
const NFQNL_MSG_CONFIG: u8 = 2;
/// One verdict for every packet up to an id.
const NFQNL_MSG_VERDICT_BATCH: u8 = 3;

const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLA_TYPE_MASK: u16 = 0x3fff;

const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_IFINDEX_INDEV: u16 = 5;
const NFQA_PAYLOAD: u16 = 10;
const NFQA_CAP_LEN: u16 = 13;

const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;

/// `NFQNL_CFG_CMD_BIND`.
pub(crate) const CMD_BIND: u8 = 1;
/// `NFQNL_CFG_CMD_UNBIND`.
pub(crate) const CMD_UNBIND: u8 = 2;
/// `NFQNL_COPY_PACKET`: the whole packet (up to the copy range) comes with each message.
const COPY_PACKET: u8 = 2;
/// `NFQA_CFG_F_FAIL_OPEN`: when the queue is full or the socket cannot take a packet, accept it instead
/// of dropping it.
pub(crate) const F_FAIL_OPEN: u32 = 0x1;

/// `NF_DROP`.
const NF_DROP: u32 = 0;
/// `NF_ACCEPT`.
const NF_ACCEPT: u32 = 1;

const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;

/// What happens to a queued packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueVerdict {
    /// Let it continue through the hooks.
    Accept,
    /// Discard it.
    Drop,
}

impl QueueVerdict {
    fn code(self) -> u32 {
        match self {
            QueueVerdict::Accept => NF_ACCEPT,
            QueueVerdict::Drop => NF_DROP,
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends netlink messages to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
    start: usize,
}

impl Writer {
    fn begin(&mut self, msg: u8, flags: u16, seq: u32, queue: u16) {
        self.start = self.buf.len();
        let kind = (NFNL_SUBSYS_QUEUE << 8) | u16::from(msg);
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched by `end`
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf
            .extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        // nfgenmsg: family AF_UNSPEC, version NFNETLINK_V0, resource id = queue number (big-endian).
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&queue.to_be_bytes());
    }

    fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = u16::try_from(4 + data.len()).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        let pad = align4(self.buf.len()) - self.buf.len();
        self.buf.extend(std::iter::repeat_n(0u8, pad));
    }

    fn end(&mut self) {
        let len = u32::try_from(self.buf.len() - self.start).unwrap_or(u32::MAX);
        if let Some(slot) = self.buf.get_mut(self.start..self.start + 4) {
            slot.copy_from_slice(&len.to_ne_bytes());
        }
    }

    /// A bind or unbind command for `queue` (acknowledged, so the caller learns whether it worked).
    pub(crate) fn command(&mut self, seq: u32, queue: u16, cmd: u8) {
        self.begin(NFQNL_MSG_CONFIG, NLM_F_ACK, seq, queue);
        // struct nfqnl_msg_config_cmd { u8 command; u8 pad; be16 pf; } — pf is ignored since Linux 3.8.
        self.attr(NFQA_CFG_CMD, &[cmd, 0, 0, 0]);
        self.end();
    }

    /// Copy mode "packet" with `copy_range` bytes, the queue length bound and the flags (`mask` selects
    /// which flags the kernel must change; it rejects flags it does not know with EOPNOTSUPP).
    pub(crate) fn params(
        &mut self,
        seq: u32,
        queue: u16,
        copy_range: u32,
        maxlen: u32,
        flags: u32,
    ) {
        self.begin(NFQNL_MSG_CONFIG, NLM_F_ACK, seq, queue);
        // struct nfqnl_msg_config_params { be32 copy_range; u8 copy_mode; } __attribute__((packed)).
        let mut p = [0u8; 5];
        p[..4].copy_from_slice(&copy_range.to_be_bytes());
        p[4] = COPY_PACKET;
        self.attr(NFQA_CFG_PARAMS, &p);
        self.attr(NFQA_CFG_QUEUE_MAXLEN, &maxlen.to_be_bytes());
        self.attr(NFQA_CFG_FLAGS, &flags.to_be_bytes());
        self.attr(NFQA_CFG_MASK, &flags.to_be_bytes());
        self.end();
    }

    fn verdict_msg(&mut self, msg: u8, queue: u16, id: u32, verdict: QueueVerdict) {
        self.begin(msg, 0, 0, queue);
        // struct nfqnl_msg_verdict_hdr { be32 verdict; be32 id; }.
        let mut v = [0u8; 8];
        v[..4].copy_from_slice(&verdict.code().to_be_bytes());
        v[4..].copy_from_slice(&id.to_be_bytes());
        self.attr(NFQA_VERDICT_HDR, &v);
        self.end();
    }
}

/// Encodes the verdicts for one received batch into `w` as few messages as possible.
///
/// The kernel's batch verdict (`NFQNL_MSG_VERDICT_BATCH`) applies one verdict to every packet still queued
/// whose id is at most the given id. So each packet whose verdict differs from the majority verdict
/// `Accept` gets its own message first, and one batch message then accepts everything else up to the
/// highest id; the kernel processes the messages of one datagram in order. Ids of one queue grow
/// monotonically (modulo 2^32, which the kernel's comparison also handles), and the caller passes every
/// packet it received, so the batch never covers a packet it has not judged. Returns how many messages
/// were written.
pub(crate) fn encode_verdicts(
    w: &mut Writer,
    queue: u16,
    verdicts: &[(u32, QueueVerdict)],
) -> usize {
    let mut messages = 0;
    let mut last_accept: Option<u32> = None;
    let mut accepts = 0usize;
    for &(id, v) in verdicts {
        match v {
            QueueVerdict::Accept => {
                accepts += 1;
                last_accept = Some(match last_accept {
                    // Wrapping comparison, like the kernel's `nfq_id_after`.
                    Some(prev) if (id.wrapping_sub(prev) as i32) < 0 => prev,
                    _ => id,
                });
            }
            QueueVerdict::Drop => {
                w.verdict_msg(NFQNL_MSG_VERDICT, queue, id, v);
                messages += 1;
            }
        }
    }
    if let Some(max) = last_accept {
        let kind = if accepts == 1 {
            NFQNL_MSG_VERDICT
        } else {
            NFQNL_MSG_VERDICT_BATCH
        };
        // A drop with a higher id than the last accept was already given its own verdict, so the batch up
        // to `max` covers exactly the accepted packets (and the dropped ones below it are gone already).
        w.verdict_msg(kind, queue, max, QueueVerdict::Accept);
        messages += 1;
    }
    messages
}

/// One packet message from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedPacket<'a> {
    /// The id a verdict must name.
    pub id: u32,
    /// The link-layer protocol (EtherType: 0x0800 IPv4, 0x86dd IPv6).
    pub hw_protocol: u16,
    /// The netfilter hook the packet was queued from (0 = prerouting).
    pub hook: u8,
    /// Index of the interface it arrived on, when known.
    pub indev: Option<u32>,
    /// The packet from its IP header on (possibly cut at the copy range).
    pub payload: &'a [u8],
    /// The packet's full length when the payload was cut.
    pub cap_len: Option<u32>,
}

/// Something in a netlink datagram from the kernel other than a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A queued packet.
    Packet(QueuedPacket<'a>),
    /// An acknowledgement (`errno` 0) or an error for the request with sequence number `seq`.
    Ack {
        /// The sequence number of the request it answers.
        seq: u32,
        /// 0 for success, otherwise a positive errno.
        errno: i32,
    },
    /// Anything else (ignored).
    Other,
}

fn u16_ne(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_ne(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u32_be(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Iterates over the netlink messages of one received datagram. A malformed length ends the iteration.
pub(crate) fn messages(buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let len = usize::try_from(u32_ne(rest, 0)?).ok()?;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return None;
        }
        let (msg, tail) = rest.split_at(len);
        let pad = (align4(len) - len).min(tail.len());
        rest = tail.get(pad..).unwrap_or_default();
        Some(parse_message(msg))
    })
}

fn parse_message(msg: &[u8]) -> Message<'_> {
    let Some(kind) = u16_ne(msg, 4) else {
        return Message::Other;
    };
    if kind == NLMSG_ERROR {
        // struct nlmsgerr { int error; struct nlmsghdr msg; ... }.
        let errno = u32_ne(msg, NLMSG_HDRLEN).map_or(0, |e| (e as i32).saturating_neg());
        let seq = u32_ne(msg, NLMSG_HDRLEN + 4 + 8).unwrap_or(0);
        return Message::Ack { seq, errno };
    }
    if kind != (NFNL_SUBSYS_QUEUE << 8) | u16::from(NFQNL_MSG_PACKET) {
        return Message::Other;
    }
    parse_packet(msg.get(NLMSG_HDRLEN + NFGENMSG_LEN..).unwrap_or_default())
        .map_or(Message::Other, Message::Packet)
}

fn parse_packet(mut attrs: &[u8]) -> Option<QueuedPacket<'_>> {
    let mut header = None;
    let mut payload: &[u8] = &[];
    let mut indev = None;
    let mut cap_len = None;
    while attrs.len() >= 4 {
        let len = usize::from(u16_ne(attrs, 0)?);
        let kind = u16_ne(attrs, 2)? & NLA_TYPE_MASK;
        if len < 4 || len > attrs.len() {
            break;
        }
        let data = attrs.get(4..len)?;
        match kind {
            NFQA_PACKET_HDR => {
                // struct nfqnl_msg_packet_hdr { be32 packet_id; be16 hw_protocol; u8 hook; } packed.
                let id = u32_be(data, 0)?;
                let proto = u16::from_be_bytes(data.get(4..6)?.try_into().ok()?);
                let hook = *data.get(6)?;
                header = Some((id, proto, hook));
            }
            NFQA_PAYLOAD => payload = data,
            NFQA_IFINDEX_INDEV => indev = u32_be(data, 0),
            NFQA_CAP_LEN => cap_len = u32_be(data, 0),
            _ => {}
        }
        attrs = attrs.get(align4(len).min(attrs.len())..)?;
    }
    let (id, hw_protocol, hook) = header?;
    Some(QueuedPacket {
        id,
        hw_protocol,
        hook,
        indev,
        payload,
        cap_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoded = (u16, u16, u16, Vec<(u16, Vec<u8>)>);

    /// Splits a datagram we wrote into (type, flags, queue, attributes) per message.
    fn decode_out(buf: &[u8]) -> Vec<Decoded> {
        let mut out = Vec::new();
        let mut rest = buf;
        while !rest.is_empty() {
            let len = u32_ne(rest, 0).unwrap() as usize;
            let kind = u16_ne(rest, 4).unwrap();
            let flags = u16_ne(rest, 6).unwrap();
            let queue = u16::from_be_bytes([rest[18], rest[19]]);
            let mut attrs = Vec::new();
            let mut a = &rest[20..len];
            while !a.is_empty() {
                let alen = u16_ne(a, 0).unwrap() as usize;
                attrs.push((u16_ne(a, 2).unwrap(), a[4..alen].to_vec()));
                a = &a[align4(alen).min(a.len())..];
            }
            out.push((kind, flags, queue, attrs));
            rest = &rest[align4(len)..];
        }
        out
    }

    fn verdict_of(attrs: &[(u16, Vec<u8>)]) -> (u32, u32) {
        let (k, v) = &attrs[0];
        assert_eq!(*k, NFQA_VERDICT_HDR);
        (u32_be(v, 0).unwrap(), u32_be(v, 4).unwrap())
    }

    const VERDICT: u16 = (3 << 8) | 1;
    const BATCH: u16 = (3 << 8) | 3;

    #[test]
    fn all_accepted_is_one_batch_message_naming_the_highest_id() {
        let mut w = Writer::default();
        let v: Vec<_> = (100..164).map(|id| (id, QueueVerdict::Accept)).collect();
        assert_eq!(encode_verdicts(&mut w, 7, &v), 1);
        let msgs = decode_out(&w.buf);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].0, BATCH);
        assert_eq!(msgs[0].2, 7);
        assert_eq!(verdict_of(&msgs[0].3), (NF_ACCEPT, 163));
    }

    #[test]
    fn drops_go_first_one_each_then_the_batch_accepts_the_rest() {
        let mut w = Writer::default();
        let v = [
            (10, QueueVerdict::Accept),
            (11, QueueVerdict::Drop),
            (12, QueueVerdict::Accept),
            (13, QueueVerdict::Drop),
        ];
        assert_eq!(encode_verdicts(&mut w, 0, &v), 3);
        let msgs = decode_out(&w.buf);
        assert_eq!(msgs[0].0, VERDICT);
        assert_eq!(verdict_of(&msgs[0].3), (NF_DROP, 11));
        assert_eq!(msgs[1].0, VERDICT);
        assert_eq!(verdict_of(&msgs[1].3), (NF_DROP, 13));
        assert_eq!(msgs[2].0, BATCH);
        assert_eq!(verdict_of(&msgs[2].3), (NF_ACCEPT, 12));
    }

    #[test]
    fn a_single_accept_is_a_plain_verdict_and_nothing_is_sent_for_nothing() {
        let mut w = Writer::default();
        assert_eq!(encode_verdicts(&mut w, 1, &[(5, QueueVerdict::Accept)]), 1);
        assert_eq!(decode_out(&w.buf)[0].0, VERDICT);
        let mut w = Writer::default();
        assert_eq!(encode_verdicts(&mut w, 1, &[]), 0);
        assert!(w.buf.is_empty());
    }

    #[test]
    fn ids_that_wrap_around_keep_the_later_id_for_the_batch() {
        let mut w = Writer::default();
        let v = [
            (u32::MAX - 1, QueueVerdict::Accept),
            (u32::MAX, QueueVerdict::Accept),
            (0, QueueVerdict::Accept),
            (1, QueueVerdict::Accept),
        ];
        encode_verdicts(&mut w, 0, &v);
        assert_eq!(verdict_of(&decode_out(&w.buf)[0].3), (NF_ACCEPT, 1));
    }

    #[test]
    fn config_messages_carry_the_queue_number_big_endian_and_ask_for_an_ack() {
        let mut w = Writer::default();
        w.command(1, 0x0102, CMD_BIND);
        w.params(2, 0x0102, 0xffff, 4096, F_FAIL_OPEN);
        let msgs = decode_out(&w.buf);
        assert_eq!(msgs[0].0, (3 << 8) | 2);
        assert_eq!(msgs[0].1, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(msgs[0].2, 0x0102);
        assert_eq!(msgs[0].3, vec![(NFQA_CFG_CMD, vec![CMD_BIND, 0, 0, 0])]);
        assert_eq!(msgs[1].3[0], (NFQA_CFG_PARAMS, vec![0, 0, 0xff, 0xff, 2]));
        assert_eq!(
            msgs[1].3[1],
            (NFQA_CFG_QUEUE_MAXLEN, 4096u32.to_be_bytes().to_vec())
        );
        assert_eq!(msgs[1].3[2], (NFQA_CFG_FLAGS, vec![0, 0, 0, 1]));
    }

    fn packet_message(id: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        let mut attrs = Vec::new();
        let mut attr = |kind: u16, data: &[u8]| {
            attrs.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
            attrs.extend_from_slice(&kind.to_ne_bytes());
            attrs.extend_from_slice(data);
            while attrs.len() % 4 != 0 {
                attrs.push(0);
            }
        };
        let mut hdr = id.to_be_bytes().to_vec();
        hdr.extend_from_slice(&0x0800u16.to_be_bytes());
        hdr.push(0);
        attr(NFQA_PACKET_HDR, &hdr);
        attr(NFQA_IFINDEX_INDEV, &3u32.to_be_bytes());
        attr(NFQA_PAYLOAD, payload);
        let len = (20 + attrs.len()) as u32;
        b.extend_from_slice(&len.to_ne_bytes());
        b.extend_from_slice(&(3u16 << 8).to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&[2, 0, 0, 0]);
        b.extend_from_slice(&attrs);
        b
    }

    #[test]
    fn a_packet_message_yields_id_protocol_device_and_payload() {
        let buf = packet_message(42, b"\x45abcde");
        let got: Vec<_> = messages(&buf).collect();
        assert_eq!(
            got,
            vec![Message::Packet(QueuedPacket {
                id: 42,
                hw_protocol: 0x0800,
                hook: 0,
                indev: Some(3),
                payload: b"\x45abcde",
                cap_len: None,
            })]
        );
    }

    #[test]
    fn an_error_message_reports_errno_and_sequence() {
        let mut b = Vec::new();
        b.extend_from_slice(&36u32.to_ne_bytes());
        b.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        b.extend_from_slice(&[0; 10]);
        b.extend_from_slice(&(-1i32).to_ne_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&9u32.to_ne_bytes());
        b.extend_from_slice(&[0; 4]);
        assert_eq!(
            messages(&b).collect::<Vec<_>>(),
            vec![Message::Ack { seq: 9, errno: 1 }]
        );
    }

    #[test]
    fn truncated_or_lying_lengths_never_panic() {
        let buf = packet_message(1, b"payload bytes here");
        for cut in 0..buf.len() {
            let _ = messages(&buf[..cut]).count();
            let mut lying = buf.clone();
            lying[cut] ^= 0xff;
            let _ = messages(&lying).count();
        }
    }
}
