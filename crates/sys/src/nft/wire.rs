//! nfnetlink / nf_tables message encoding and decoding. Pure: bytes in, bytes out, no sockets.
//!
//! Layout (netlink(7), `linux/netfilter/nfnetlink.h`, `linux/netfilter/nf_tables.h`): every message is a
//! 16-byte `nlmsghdr` (host byte order), a 4-byte `nfgenmsg` (family, version, big-endian resource id), then
//! attributes: a `u16` length, a `u16` type and the payload padded to 4 bytes. nf_tables integers inside
//! attributes are big-endian. A transaction is a batch: `NFNL_MSG_BATCH_BEGIN`, the messages, and
//! `NFNL_MSG_BATCH_END`, sent in one `sendmsg` and committed (or aborted) as a whole.

/// `NLMSG_ERROR`: an acknowledgement (error 0) or an error for one request.
pub(crate) const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: end of a multipart dump.
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNL_SUBSYS_NFTABLES: u16 = 10;

/// `NFPROTO_INET`: the dual-stack family of table `inet pbxguard`.
pub(crate) const NFPROTO_INET: u8 = 1;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

// enum nf_tables_msg_types
pub(crate) const NFT_MSG_NEWTABLE: u8 = 0;
pub(crate) const NFT_MSG_DELTABLE: u8 = 2;
pub(crate) const NFT_MSG_NEWCHAIN: u8 = 3;
pub(crate) const NFT_MSG_NEWRULE: u8 = 6;
pub(crate) const NFT_MSG_DELRULE: u8 = 8;
pub(crate) const NFT_MSG_NEWSET: u8 = 9;
pub(crate) const NFT_MSG_NEWSETELEM: u8 = 12;
pub(crate) const NFT_MSG_GETSETELEM: u8 = 13;
pub(crate) const NFT_MSG_GETRULE: u8 = 7;
pub(crate) const NFT_MSG_DELSETELEM: u8 = 14;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_ID: u16 = 10;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;
const NFTA_LOOKUP_SET: u16 = 1;
const NFTA_LOOKUP_SREG: u16 = 2;
const NFTA_LOOKUP_SET_ID: u16 = 4;
const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFTA_BITWISE_SREG: u16 = 1;
const NFTA_BITWISE_DREG: u16 = 2;
const NFTA_BITWISE_LEN: u16 = 3;
const NFTA_BITWISE_MASK: u16 = 4;
const NFTA_BITWISE_XOR: u16 = 5;

const NFTA_COUNTER_BYTES: u16 = 1;
const NFTA_COUNTER_PACKETS: u16 = 2;

const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
const NFT_META_NFPROTO: u32 = 15;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_CMP_EQ: u32 = 0;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
const NF_INET_PRE_ROUTING: u32 = 0;

/// Set flag `NFT_SET_INTERVAL`: elements are ranges (the kernel's rbtree backend).
pub(crate) const NFT_SET_INTERVAL: u32 = 0x4;
/// Set flag `NFT_SET_TIMEOUT`: elements may carry their own timeout.
pub(crate) const NFT_SET_TIMEOUT: u32 = 0x10;
/// Element flag `NFT_SET_ELEM_INTERVAL_END`: this key closes the preceding range (exclusive).
pub(crate) const NFT_SET_ELEM_INTERVAL_END: u32 = 0x1;

/// nft's userspace data type numbers, stored in the set so that `nft list` prints addresses.
pub(crate) const TYPE_IPADDR: u32 = 7;
/// See [`TYPE_IPADDR`].
pub(crate) const TYPE_IP6ADDR: u32 = 8;

/// Largest attribute payload a `u16` length can describe, minus headroom for the enclosing headers: one
/// `NFT_MSG_NEWSETELEM` carries at most this many bytes of elements (about 1,800 IPv4 elements with
/// timeouts), so bigger requests are split over several messages of one batch.
pub(crate) const MAX_ELEMS_BYTES: usize = 60_000;

/// A growable netlink message buffer: one or more messages back to back.
#[derive(Debug, Default)]
pub(crate) struct MsgBuf {
    buf: Vec<u8>,
}

/// Attribute nesting that no longer fits a `u16` length: a bug in the caller's chunking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttrTooLong;

impl MsgBuf {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    /// Starts a message; returns its start offset for [`MsgBuf::end_msg`].
    pub(crate) fn begin_msg(
        &mut self,
        ty: u16,
        flags: u16,
        seq: u32,
        family: u8,
        res_id: u16,
    ) -> usize {
        self.pad();
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched by end_msg
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
        self.buf.push(family);
        self.buf.push(0); // NFNETLINK_V0
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        start
    }

    /// Closes the message begun at `start` by writing its length.
    pub(crate) fn end_msg(&mut self, start: usize) {
        self.pad();
        let len = u32::try_from(self.buf.len().saturating_sub(start)).unwrap_or(u32::MAX);
        if let Some(slot) = self.buf.get_mut(start..start + 4) {
            slot.copy_from_slice(&len.to_ne_bytes());
        }
    }

    /// An nf_tables request message header of type `msg` in `family`.
    pub(crate) fn begin_nft(&mut self, msg: u8, flags: u16, seq: u32, family: u8) -> usize {
        self.begin_msg(
            (NFNL_SUBSYS_NFTABLES << 8) | u16::from(msg),
            NLM_F_REQUEST | flags,
            seq,
            family,
            0,
        )
    }

    /// `NFNL_MSG_BATCH_BEGIN` for the nf_tables subsystem.
    pub(crate) fn batch_begin(&mut self, seq: u32) {
        let s = self.begin_msg(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            seq,
            0,
            NFNL_SUBSYS_NFTABLES,
        );
        self.end_msg(s);
    }

    /// `NFNL_MSG_BATCH_END`: commit.
    pub(crate) fn batch_end(&mut self, seq: u32) {
        let s = self.begin_msg(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            seq,
            0,
            NFNL_SUBSYS_NFTABLES,
        );
        self.end_msg(s);
    }

    pub(crate) fn put(&mut self, ty: u16, data: &[u8]) {
        self.pad();
        let len = u16::try_from(4 + data.len()).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    pub(crate) fn put_str(&mut self, ty: u16, s: &str) {
        // NLA_STRING attributes carry the terminating NUL, as libnftnl sends them.
        self.pad();
        let len = u16::try_from(5 + s.len()).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    pub(crate) fn put_u32(&mut self, ty: u16, v: u32) {
        self.put(ty, &v.to_be_bytes());
    }

    pub(crate) fn put_u64(&mut self, ty: u16, v: u64) {
        self.put(ty, &v.to_be_bytes());
    }

    /// Opens a nested attribute; returns its offset for [`MsgBuf::nest_end`].
    pub(crate) fn nest_begin(&mut self, ty: u16) -> usize {
        self.pad();
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        start
    }

    pub(crate) fn nest_end(&mut self, start: usize) -> Result<(), AttrTooLong> {
        self.pad();
        let len = u16::try_from(self.buf.len().saturating_sub(start)).map_err(|_| AttrTooLong)?;
        if let Some(slot) = self.buf.get_mut(start..start + 2) {
            slot.copy_from_slice(&len.to_ne_bytes());
        }
        Ok(())
    }

    /// Rewrites the nf_tables message type of every message from byte `from` on to `msg` (same body, other
    /// verb: e.g. "destroy" instead of "delete" elements).
    pub(crate) fn retag_nft_from(&mut self, from: usize, msg: u8) {
        let ty = (NFNL_SUBSYS_NFTABLES << 8) | u16::from(msg);
        let mut off = from;
        while let Some(len) = self.buf.get(off..off + 4).map(arr4).map(u32::from_ne_bytes) {
            let len = usize::try_from(len).unwrap_or(0);
            if len < 16 {
                break;
            }
            if let Some(slot) = self.buf.get_mut(off + 4..off + 6) {
                slot.copy_from_slice(&ty.to_ne_bytes());
            }
            off += align4(len);
        }
    }

    /// Bytes written since `start` (for chunking decisions).
    pub(crate) fn since(&self, start: usize) -> usize {
        self.buf.len().saturating_sub(start)
    }

    fn put_data_value(&mut self, ty: u16, value: &[u8]) -> Result<(), AttrTooLong> {
        let n = self.nest_begin(ty);
        self.put(NFTA_DATA_VALUE, value);
        self.nest_end(n)
    }

    fn expr_begin(&mut self, name: &str) -> (usize, usize) {
        let e = self.nest_begin(NFTA_LIST_ELEM);
        self.put_str(NFTA_EXPR_NAME, name);
        let d = self.nest_begin(NFTA_EXPR_DATA);
        (e, d)
    }

    fn expr_end(&mut self, (e, d): (usize, usize)) -> Result<(), AttrTooLong> {
        self.nest_end(d)?;
        self.nest_end(e)
    }
}

/// `NFT_MSG_NEWTABLE` without `NLM_F_EXCL`: creates the table, or does nothing when it exists.
pub(crate) fn new_table(b: &mut MsgBuf, seq: u32, table: &str) {
    let m = b.begin_nft(
        NFT_MSG_NEWTABLE,
        NLM_F_CREATE | NLM_F_ACK,
        seq,
        NFPROTO_INET,
    );
    b.put_str(NFTA_TABLE_NAME, table);
    b.end_msg(m);
}

/// `NFT_MSG_DELTABLE`: removes the table with its chains, rules, sets and elements.
pub(crate) fn del_table(b: &mut MsgBuf, seq: u32, table: &str) {
    let m = b.begin_nft(NFT_MSG_DELTABLE, NLM_F_ACK, seq, NFPROTO_INET);
    b.put_str(NFTA_TABLE_NAME, table);
    b.end_msg(m);
}

/// `NFT_MSG_NEWCHAIN`: a base chain of type filter at hook prerouting with the given priority and policy
/// accept. Without `NLM_F_EXCL` an identical existing chain is left as it is.
pub(crate) fn new_prerouting_chain(
    b: &mut MsgBuf,
    seq: u32,
    table: &str,
    chain: &str,
    priority: i32,
) -> Result<(), AttrTooLong> {
    let m = b.begin_nft(
        NFT_MSG_NEWCHAIN,
        NLM_F_CREATE | NLM_F_ACK,
        seq,
        NFPROTO_INET,
    );
    b.put_str(NFTA_CHAIN_TABLE, table);
    b.put_str(NFTA_CHAIN_NAME, chain);
    let h = b.nest_begin(NFTA_CHAIN_HOOK);
    b.put_u32(NFTA_HOOK_HOOKNUM, NF_INET_PRE_ROUTING);
    b.put(NFTA_HOOK_PRIORITY, &priority.to_be_bytes());
    b.nest_end(h)?;
    b.put_u32(NFTA_CHAIN_POLICY, NF_ACCEPT);
    b.put_str(NFTA_CHAIN_TYPE, "filter");
    b.end_msg(m);
    Ok(())
}

/// `NFT_MSG_DELRULE` naming only the chain: flushes every rule of the chain (inside the same transaction that
/// re-adds them, so the chain is never seen empty).
pub(crate) fn flush_chain(b: &mut MsgBuf, seq: u32, table: &str, chain: &str) {
    let m = b.begin_nft(NFT_MSG_DELRULE, NLM_F_ACK, seq, NFPROTO_INET);
    b.put_str(NFTA_RULE_TABLE, table);
    b.put_str(NFTA_RULE_CHAIN, chain);
    b.end_msg(m);
}

/// Shape of one of pbxguard's sets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SetSpec {
    pub(crate) name: &'static str,
    pub(crate) id: u32,
    pub(crate) key_type: u32,
    pub(crate) key_len: u32,
    pub(crate) flags: u32,
}

/// `NFT_MSG_NEWSET` without `NLM_F_EXCL`: an existing set of the same shape keeps its elements.
pub(crate) fn new_set(b: &mut MsgBuf, seq: u32, table: &str, set: &SetSpec) {
    let m = b.begin_nft(NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_ACK, seq, NFPROTO_INET);
    b.put_str(NFTA_SET_TABLE, table);
    b.put_str(NFTA_SET_NAME, set.name);
    b.put_u32(NFTA_SET_FLAGS, set.flags);
    b.put_u32(NFTA_SET_KEY_TYPE, set.key_type);
    b.put_u32(NFTA_SET_KEY_LEN, set.key_len);
    b.put_u32(NFTA_SET_ID, set.id);
    b.end_msg(m);
}

/// What a rule of the prerouting chain does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    Drop,
}

/// Which header field a rule looks up in its set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    /// `ip saddr @set`
    Ip4Saddr,
    /// `ip6 saddr @set`
    Ip6Saddr,
    /// `ip6 saddr & <mask> @set`: the source's network at this prefix length.
    Ip6SaddrNet(u8),
}

/// `NFT_MSG_NEWRULE`: `meta nfproto X <payload saddr> [& mask] @set counter <verdict>`, appended.
pub(crate) fn new_lookup_rule(
    b: &mut MsgBuf,
    seq: u32,
    table: &str,
    chain: &str,
    field: Match,
    set: &SetSpec,
    verdict: Verdict,
) -> Result<(), AttrTooLong> {
    let m = b.begin_nft(
        NFT_MSG_NEWRULE,
        NLM_F_CREATE | NLM_F_ACK | NLM_F_APPEND,
        seq,
        NFPROTO_INET,
    );
    b.put_str(NFTA_RULE_TABLE, table);
    b.put_str(NFTA_RULE_CHAIN, chain);
    let exprs = b.nest_begin(NFTA_RULE_EXPRESSIONS);

    let (proto, offset, len) = match field {
        Match::Ip4Saddr => (NFPROTO_IPV4, 12u32, 4u32),
        Match::Ip6Saddr | Match::Ip6SaddrNet(_) => (NFPROTO_IPV6, 8, 16),
    };
    let e = b.expr_begin("meta");
    b.put_u32(NFTA_META_KEY, NFT_META_NFPROTO);
    b.put_u32(NFTA_META_DREG, NFT_REG_1);
    b.expr_end(e)?;

    let e = b.expr_begin("cmp");
    b.put_u32(NFTA_CMP_SREG, NFT_REG_1);
    b.put_u32(NFTA_CMP_OP, NFT_CMP_EQ);
    b.put_data_value(NFTA_CMP_DATA, &[proto])?;
    b.expr_end(e)?;

    let e = b.expr_begin("payload");
    b.put_u32(NFTA_PAYLOAD_DREG, NFT_REG_1);
    b.put_u32(NFTA_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
    b.put_u32(NFTA_PAYLOAD_OFFSET, offset);
    b.put_u32(NFTA_PAYLOAD_LEN, len);
    b.expr_end(e)?;

    if let Match::Ip6SaddrNet(prefix) = field {
        let mask = u128::MAX
            .checked_shl(128 - u32::from(prefix.min(128)))
            .unwrap_or(0)
            .to_be_bytes();
        let e = b.expr_begin("bitwise");
        b.put_u32(NFTA_BITWISE_SREG, NFT_REG_1);
        b.put_u32(NFTA_BITWISE_DREG, NFT_REG_1);
        b.put_u32(NFTA_BITWISE_LEN, 16);
        b.put_data_value(NFTA_BITWISE_MASK, &mask)?;
        b.put_data_value(NFTA_BITWISE_XOR, &[0u8; 16])?;
        b.expr_end(e)?;
    }

    let e = b.expr_begin("lookup");
    b.put_str(NFTA_LOOKUP_SET, set.name);
    b.put_u32(NFTA_LOOKUP_SET_ID, set.id);
    b.put_u32(NFTA_LOOKUP_SREG, NFT_REG_1);
    b.expr_end(e)?;

    let e = b.expr_begin("counter");
    b.expr_end(e)?;

    let e = b.expr_begin("immediate");
    b.put_u32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
    let d = b.nest_begin(NFTA_IMMEDIATE_DATA);
    let v = b.nest_begin(NFTA_DATA_VERDICT);
    b.put_u32(
        NFTA_VERDICT_CODE,
        match verdict {
            Verdict::Accept => NF_ACCEPT,
            Verdict::Drop => NF_DROP,
        },
    );
    b.nest_end(v)?;
    b.nest_end(d)?;
    b.expr_end(e)?;

    b.nest_end(exprs)?;
    b.end_msg(m);
    Ok(())
}

/// One set element to encode: a key, optional interval-end flag, optional timeout in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elem<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) interval_end: bool,
    pub(crate) timeout_ms: Option<u64>,
}

/// Appends `NFT_MSG_NEWSETELEM` (or `DELSETELEM` when `delete`) messages carrying `elems`, split so that no
/// element list outgrows a netlink attribute. Returns the number of messages written; each takes one
/// sequence number starting at `*seq`, which is advanced.
pub(crate) fn set_elems(
    b: &mut MsgBuf,
    seq: &mut u32,
    table: &str,
    set: &str,
    elems: &[Elem<'_>],
    delete: bool,
) -> Result<usize, AttrTooLong> {
    let msg = if delete {
        NFT_MSG_DELSETELEM
    } else {
        NFT_MSG_NEWSETELEM
    };
    let flags = if delete {
        NLM_F_ACK
    } else {
        NLM_F_CREATE | NLM_F_ACK
    };
    let mut written = 0;
    let mut rest = elems;
    while !rest.is_empty() {
        let m = b.begin_nft(msg, flags, *seq, NFPROTO_INET);
        *seq = seq.wrapping_add(1);
        b.put_str(NFTA_SET_ELEM_LIST_TABLE, table);
        b.put_str(NFTA_SET_ELEM_LIST_SET, set);
        let list = b.nest_begin(NFTA_SET_ELEM_LIST_ELEMENTS);
        while let Some((e, tail)) = rest.split_first() {
            if b.since(list) > MAX_ELEMS_BYTES {
                break;
            }
            let n = b.nest_begin(NFTA_LIST_ELEM);
            b.put_data_value(NFTA_SET_ELEM_KEY, e.key)?;
            if e.interval_end {
                b.put_u32(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
            }
            if let Some(t) = e.timeout_ms {
                b.put_u64(NFTA_SET_ELEM_TIMEOUT, t);
            }
            b.nest_end(n)?;
            rest = tail;
        }
        b.nest_end(list)?;
        b.end_msg(m);
        written += 1;
    }
    Ok(written)
}

/// `NFT_MSG_DELSETELEM` without an element list: removes every element of the set.
pub(crate) fn flush_set(b: &mut MsgBuf, seq: u32, table: &str, set: &str) {
    let m = b.begin_nft(NFT_MSG_DELSETELEM, NLM_F_ACK, seq, NFPROTO_INET);
    b.put_str(NFTA_SET_ELEM_LIST_TABLE, table);
    b.put_str(NFTA_SET_ELEM_LIST_SET, set);
    b.end_msg(m);
}

/// `NFT_MSG_GETSETELEM` dump request for one set.
pub(crate) fn dump_set(b: &mut MsgBuf, seq: u32, table: &str, set: &str) {
    let m = b.begin_nft(NFT_MSG_GETSETELEM, NLM_F_DUMP, seq, NFPROTO_INET);
    b.put_str(NFTA_SET_ELEM_LIST_TABLE, table);
    b.put_str(NFTA_SET_ELEM_LIST_SET, set);
    b.end_msg(m);
}

/// `NFT_MSG_GETRULE` dump request for the rules of one chain.
pub(crate) fn dump_rules(b: &mut MsgBuf, seq: u32, table: &str, chain: &str) {
    let m = b.begin_nft(NFT_MSG_GETRULE, NLM_F_DUMP, seq, NFPROTO_INET);
    b.put_str(NFTA_RULE_TABLE, table);
    b.put_str(NFTA_RULE_CHAIN, chain);
    b.end_msg(m);
}

/// From one rule of a `GETRULE` dump (the body after `nlmsghdr`): the set its `lookup` names and the
/// packets and bytes of its `counter`. `None` for a rule without both.
pub(crate) fn parse_rule_counter(body: &[u8]) -> Option<(String, u64, u64)> {
    let attr_area = body.get(4..)?;
    let (_, exprs) = attrs(attr_area).find(|(t, _)| *t == NFTA_RULE_EXPRESSIONS)?;
    let mut set = None;
    let mut counts = None;
    for (ty, expr) in attrs(exprs) {
        if ty != NFTA_LIST_ELEM {
            continue;
        }
        let name = attrs(expr)
            .find(|(t, _)| *t == NFTA_EXPR_NAME)
            .map(|(_, v)| v);
        let data = attrs(expr)
            .find(|(t, _)| *t == NFTA_EXPR_DATA)
            .map(|(_, v)| v);
        let (Some(name), Some(data)) = (name, data) else {
            continue;
        };
        match name.strip_suffix(b"\0").unwrap_or(name) {
            b"lookup" => {
                set = attrs(data)
                    .find(|(t, _)| *t == NFTA_LOOKUP_SET)
                    .map(|(_, v)| {
                        String::from_utf8_lossy(v.strip_suffix(b"\0").unwrap_or(v)).into_owned()
                    });
            }
            b"counter" => {
                let get = |want| {
                    attrs(data)
                        .find(|(t, _)| *t == want)
                        .and_then(|(_, v)| v.get(0..8))
                        .map(be64)
                };
                counts = Some((
                    get(NFTA_COUNTER_PACKETS).unwrap_or(0),
                    get(NFTA_COUNTER_BYTES).unwrap_or(0),
                ));
            }
            _ => {}
        }
    }
    let (packets, bytes) = counts?;
    Some((set?, packets, bytes))
}

/// One netlink message received from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Msg<'a> {
    pub(crate) ty: u16,
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    /// Everything after the 16-byte header.
    pub(crate) body: &'a [u8],
}

/// Splits a datagram into netlink messages; stops at the first malformed header.
pub(crate) fn messages(mut buf: &[u8]) -> impl Iterator<Item = Msg<'_>> {
    std::iter::from_fn(move || {
        let hdr = buf.get(..16)?;
        let len = usize::try_from(u32::from_ne_bytes(arr4(hdr.get(0..4)?))).ok()?;
        if len < 16 || len > buf.len() {
            return None;
        }
        let ty = u16::from_ne_bytes(arr2(hdr.get(4..6)?));
        let flags = u16::from_ne_bytes(arr2(hdr.get(6..8)?));
        let seq = u32::from_ne_bytes(arr4(hdr.get(8..12)?));
        let body = buf.get(16..len)?;
        buf = buf.get(align4(len).min(buf.len())..).unwrap_or_default();
        Some(Msg {
            ty,
            flags,
            seq,
            body,
        })
    })
}

/// The `error` field of an `NLMSG_ERROR` body: 0 for an acknowledgement, a negative errno otherwise.
pub(crate) fn error_code(body: &[u8]) -> Option<i32> {
    body.get(0..4).map(|b| i32::from_ne_bytes(arr4(b)))
}

/// Iterates the attributes in `buf` as (type without flags, payload).
pub(crate) fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes(arr2(buf.get(0..2)?)));
        let ty = u16::from_ne_bytes(arr2(buf.get(2..4)?)) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            return None;
        }
        let payload = buf.get(4..len)?;
        buf = buf.get(align4(len).min(buf.len())..).unwrap_or_default();
        Some((ty, payload))
    })
}

/// One element as the kernel reports it in a `GETSETELEM` dump.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct DumpedElem {
    pub(crate) key: Vec<u8>,
    pub(crate) interval_end: bool,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) expiration_ms: Option<u64>,
}

/// Decodes the elements of one `NFT_MSG_NEWSETELEM` message of a dump (the body after `nlmsghdr`).
pub(crate) fn parse_elems(body: &[u8], out: &mut Vec<DumpedElem>) {
    let Some(attr_area) = body.get(4..) else {
        return;
    };
    for (ty, payload) in attrs(attr_area) {
        if ty != NFTA_SET_ELEM_LIST_ELEMENTS {
            continue;
        }
        for (ety, elem) in attrs(payload) {
            if ety != NFTA_LIST_ELEM {
                continue;
            }
            let mut d = DumpedElem::default();
            for (aty, a) in attrs(elem) {
                match aty {
                    NFTA_SET_ELEM_KEY => {
                        if let Some((_, v)) = attrs(a).find(|(t, _)| *t == NFTA_DATA_VALUE) {
                            d.key = v.to_vec();
                        }
                    }
                    NFTA_SET_ELEM_FLAGS => {
                        d.interval_end = a.get(0..4).is_some_and(|f| {
                            u32::from_be_bytes(arr4(f)) & NFT_SET_ELEM_INTERVAL_END != 0
                        });
                    }
                    NFTA_SET_ELEM_TIMEOUT => d.timeout_ms = a.get(0..8).map(be64),
                    NFTA_SET_ELEM_EXPIRATION => d.expiration_ms = a.get(0..8).map(be64),
                    _ => {}
                }
            }
            out.push(d);
        }
    }
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

fn arr2(b: &[u8]) -> [u8; 2] {
    let mut a = [0; 2];
    a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
    a
}

fn arr4(b: &[u8]) -> [u8; 4] {
    let mut a = [0; 4];
    a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
    a
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0; 8];
    a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
    u64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_the_splitter() {
        let mut b = MsgBuf::new();
        b.batch_begin(1);
        new_table(&mut b, 2, "pbxguard");
        b.batch_end(3);
        let msgs: Vec<_> = messages(b.as_bytes()).collect();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].ty, 0x10);
        assert_eq!(msgs[1].ty, (10 << 8) | u16::from(NFT_MSG_NEWTABLE));
        assert_eq!(msgs[1].seq, 2);
        // nfgenmsg: family inet, version 0, res id 0; then the name attribute with its NUL.
        assert_eq!(&msgs[1].body[..4], &[NFPROTO_INET, 0, 0, 0]);
        let a: Vec<_> = attrs(&msgs[1].body[4..]).collect();
        assert_eq!(a, vec![(NFTA_TABLE_NAME, &b"pbxguard\0"[..])]);
        assert_eq!(msgs[2].ty, 0x11);
    }

    #[test]
    fn element_lists_are_split_below_the_u16_attribute_limit() {
        let keys: Vec<[u8; 4]> = (0u32..5000).map(|i| i.to_be_bytes()).collect();
        let elems: Vec<Elem<'_>> = keys
            .iter()
            .map(|k| Elem {
                key: k,
                interval_end: false,
                timeout_ms: Some(3_600_000),
            })
            .collect();
        let mut b = MsgBuf::new();
        let mut seq = 10;
        let n = set_elems(&mut b, &mut seq, "pbxguard", "ban4", &elems, false).unwrap();
        assert!(n >= 3, "5000 elements need several messages, got {n}");
        assert_eq!(seq, 10 + n as u32);
        let mut decoded = Vec::new();
        for m in messages(b.as_bytes()) {
            assert!(m.body.len() < 65_536);
            parse_elems(m.body, &mut decoded);
        }
        assert_eq!(decoded.len(), 5000);
        assert_eq!(decoded[4999].key, 4999u32.to_be_bytes());
        assert_eq!(decoded[0].timeout_ms, Some(3_600_000));
        // About 1,800 IPv4 elements with timeouts per message, as the kernel facts say.
        let first = messages(b.as_bytes()).next().unwrap();
        let mut one = Vec::new();
        parse_elems(first.body, &mut one);
        assert!((1_700..=2_300).contains(&one.len()), "{}", one.len());
    }

    #[test]
    fn a_rule_message_yields_its_set_and_counter() {
        let mut b = MsgBuf::new();
        let set = SetSpec {
            name: "ban4",
            id: 3,
            key_type: TYPE_IPADDR,
            key_len: 4,
            flags: NFT_SET_TIMEOUT,
        };
        new_lookup_rule(
            &mut b,
            1,
            "pbxguard",
            "prerouting",
            Match::Ip4Saddr,
            &set,
            Verdict::Drop,
        )
        .unwrap();
        let m = messages(b.as_bytes()).next().unwrap();
        // What we send carries an empty counter; the kernel's dump carries the values the same way.
        assert_eq!(parse_rule_counter(m.body), Some(("ban4".to_owned(), 0, 0)));
        assert_eq!(parse_rule_counter(&m.body[..m.body.len() / 2]), None);
    }

    #[test]
    fn truncated_and_garbage_input_parses_to_nothing_without_panicking() {
        let mut out = Vec::new();
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let _ = messages(&junk).count();
            let _ = attrs(&junk).count();
            parse_elems(&junk, &mut out);
            let _ = parse_rule_counter(&junk);
        }
        // An attribute claiming more bytes than present ends the iteration.
        assert_eq!(attrs(&[0xff, 0xff, 1, 0, 0, 0]).count(), 0);
    }
}
