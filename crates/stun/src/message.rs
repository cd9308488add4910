//! The STUN message: header fields, a borrowing parser and a builder that writes into a caller-owned
//! buffer (RFC 5389 §6 and §15).

use std::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::attr::{AttrType, AttributeError, ErrorCode};
use crate::crc::crc32;

/// The fixed value in bytes 4..8 of every RFC 5389 message (§6).
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// Length of the STUN header in bytes (§6).
pub const HEADER_LEN: usize = 20;

/// The value XORed into the CRC-32 to form FINGERPRINT ("STUN" in ASCII, §15.5).
const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// Size of the MESSAGE-INTEGRITY attribute including its header (§15.4).
const INTEGRITY_ATTR_LEN: usize = 24;

/// Size of the FINGERPRINT attribute including its header (§15.5).
const FINGERPRINT_ATTR_LEN: usize = 8;

/// Largest attribute section that a 16-bit length field can describe while staying a multiple of 4.
const MAX_BODY_LEN: usize = 0xFFFC;

/// A STUN method (12 bits). Unknown methods survive parsing unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Method(pub u16);

impl Method {
    /// Binding (RFC 5389 §18.1), the only method that this crate's state machines use.
    pub const BINDING: Method = Method(0x001);
}

/// The class of a STUN message (RFC 5389 §6): the two class bits of the message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// A request; expects a response.
    Request,
    /// An indication; no response.
    Indication,
    /// A success response.
    SuccessResponse,
    /// An error response (carries ERROR-CODE).
    ErrorResponse,
}

impl Class {
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::SuccessResponse => 0b10,
            Class::ErrorResponse => 0b11,
        }
    }

    fn from_bits(bits: u16) -> Class {
        match bits & 0b11 {
            0b00 => Class::Request,
            0b01 => Class::Indication,
            0b10 => Class::SuccessResponse,
            _ => Class::ErrorResponse,
        }
    }
}

/// Splits a 14-bit message type into method and class (RFC 5389 §6, figure 3: the class bits C0 and C1
/// sit at bit positions 4 and 8, interleaved with the method bits).
fn split_type(t: u16) -> (Method, Class) {
    let method = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2);
    let class = ((t >> 4) & 0b01) | ((t >> 7) & 0b10);
    (Method(method), Class::from_bits(class))
}

/// The inverse of [`split_type`]. Method bits above the 12th are dropped.
fn join_type(method: Method, class: Class) -> u16 {
    let m = method.0 & 0x0FFF;
    let c = class.bits();
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 0b01) << 4) | ((c & 0b10) << 7)
}

/// The 96-bit transaction ID that matches a response to its request (RFC 5389 §6).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId(pub [u8; 12]);

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionId(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// Why a datagram is not a well-formed STUN message. Every variant is the sender's fault.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the 20-byte header.
    ShorterThanHeader {
        /// Bytes available.
        len: usize,
    },
    /// One of the two most significant bits is set: not STUN (RFC 5389 §6; used to demultiplex).
    LeadingBitsSet,
    /// Bytes 4..8 are not the magic cookie (an RFC 3489 message, or not STUN at all).
    MagicCookieMismatch {
        /// The value found.
        found: u32,
    },
    /// The header's length field is not a multiple of 4 (§6).
    LengthNotMultipleOfFour {
        /// The declared length.
        declared: usize,
    },
    /// The header's length field disagrees with the number of bytes after the header.
    LengthMismatch {
        /// The declared length.
        declared: usize,
        /// Bytes present after the header.
        available: usize,
    },
    /// An attribute's header or padded value runs past the end of the message.
    AttributeOverrun {
        /// Offset of the attribute header from the start of the message.
        offset: usize,
        /// The attribute's type.
        attr: AttrType,
    },
    /// An attribute follows FINGERPRINT, which must be last (§15.5).
    AttributeAfterFingerprint {
        /// Offset of the offending attribute.
        offset: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::ShorterThanHeader { len } => {
                write!(f, "{len} bytes is shorter than the 20-byte STUN header")
            }
            DecodeError::LeadingBitsSet => write!(f, "leading two bits set: not a STUN message"),
            DecodeError::MagicCookieMismatch { found } => {
                write!(
                    f,
                    "magic cookie is {found:#010x}, expected {MAGIC_COOKIE:#010x}"
                )
            }
            DecodeError::LengthNotMultipleOfFour { declared } => {
                write!(f, "message length {declared} is not a multiple of 4")
            }
            DecodeError::LengthMismatch {
                declared,
                available,
            } => write!(
                f,
                "header declares {declared} attribute bytes but {available} follow the header"
            ),
            DecodeError::AttributeOverrun { offset, attr } => {
                write!(
                    f,
                    "attribute {attr} at offset {offset} runs past the message end"
                )
            }
            DecodeError::AttributeAfterFingerprint { offset } => {
                write!(f, "attribute at offset {offset} follows FINGERPRINT")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why MESSAGE-INTEGRITY did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntegrityError {
    /// The message carries no MESSAGE-INTEGRITY attribute.
    Missing,
    /// The attribute is not 20 bytes long.
    WrongLength {
        /// Its length.
        len: usize,
    },
    /// The HMAC does not match: wrong key, or the message was altered.
    Mismatch,
}

impl fmt::Display for IntegrityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntegrityError::Missing => write!(f, "no MESSAGE-INTEGRITY attribute"),
            IntegrityError::WrongLength { len } => {
                write!(f, "MESSAGE-INTEGRITY is {len} bytes, expected 20")
            }
            IntegrityError::Mismatch => write!(f, "MESSAGE-INTEGRITY does not match"),
        }
    }
}

impl std::error::Error for IntegrityError {}

/// The state of a message's FINGERPRINT attribute (RFC 5389 §15.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fingerprint {
    /// The message has no FINGERPRINT.
    Absent,
    /// FINGERPRINT is present and matches the CRC-32 of the message.
    Valid,
    /// FINGERPRINT is present but wrong (or not 4 bytes long).
    Invalid,
}

/// One attribute as it appears on the wire: its type and its value without padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    /// The attribute type.
    pub attr: AttrType,
    /// The value, without the padding to a 4-byte boundary.
    pub value: &'a [u8],
    /// Offset of the attribute's 4-byte header from the start of the message.
    pub offset: usize,
}

/// A parsed STUN message borrowing the datagram it came from (RFC 5389 §6).
///
/// Parsing validates the header and the attribute framing once; typed accessors then decode single
/// attributes on demand. Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored, as
/// §15.4 requires.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    bytes: &'a [u8],
    method: Method,
    class: Class,
    tid: TransactionId,
    /// Bytes 4..8: the magic cookie, or the start of an RFC 3489 transaction ID.
    cookie: u32,
    /// Offset of MESSAGE-INTEGRITY's header, if present.
    integrity_at: Option<usize>,
    /// Offset of FINGERPRINT's header, if present.
    fingerprint_at: Option<usize>,
}

/// Reads a big-endian u16 at `at`, or `None` past the end.
fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

/// Reads a big-endian u32 at `at`, or `None` past the end.
fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_be_bytes(a))
}

/// Rounds `n` up to a multiple of 4.
fn padded(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Whether `bytes` could be a STUN message: the cheap test of RFC 5389 §7.3 (leading zero bits and the
/// magic cookie) used to tell STUN apart from other protocols sharing a port.
pub fn looks_like_stun(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN
        && bytes.first().is_some_and(|b| b & 0xC0 == 0)
        && be32(bytes, 4) == Some(MAGIC_COOKIE)
}

impl<'a> Message<'a> {
    /// Parses one complete STUN message (one UDP datagram).
    ///
    /// # Errors
    ///
    /// [`DecodeError`] when the header is malformed, the length does not match the datagram, or an
    /// attribute runs past the end. Never panics, whatever the bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        Self::parse_inner(bytes, true)
    }

    /// Parses a message that may come from an RFC 3489 ("classic STUN") peer: as [`Message::parse`],
    /// but bytes 4..8 may hold anything, because RFC 3489 used them as part of a 128-bit
    /// transaction ID. [`Message::is_rfc3489`] tells the two apart.
    ///
    /// # Errors
    ///
    /// [`DecodeError`] as for [`Message::parse`], except `MagicCookieMismatch`.
    pub fn parse_rfc3489(bytes: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        Self::parse_inner(bytes, false)
    }

    fn parse_inner(bytes: &'a [u8], require_cookie: bool) -> Result<Message<'a>, DecodeError> {
        let header = bytes
            .get(..HEADER_LEN)
            .ok_or(DecodeError::ShorterThanHeader { len: bytes.len() })?;
        let t = be16(header, 0).ok_or(DecodeError::ShorterThanHeader { len: bytes.len() })?;
        if t & 0xC000 != 0 {
            return Err(DecodeError::LeadingBitsSet);
        }
        let declared = usize::from(be16(header, 2).unwrap_or(0));
        let cookie = be32(header, 4).unwrap_or(0);
        if require_cookie && cookie != MAGIC_COOKIE {
            return Err(DecodeError::MagicCookieMismatch { found: cookie });
        }
        if declared % 4 != 0 {
            return Err(DecodeError::LengthNotMultipleOfFour { declared });
        }
        let available = bytes.len() - HEADER_LEN;
        if declared != available {
            return Err(DecodeError::LengthMismatch {
                declared,
                available,
            });
        }
        let mut tid = [0u8; 12];
        if let Some(s) = header.get(8..20) {
            tid.copy_from_slice(s);
        }
        let (method, class) = split_type(t);

        let mut integrity_at = None;
        let mut fingerprint_at = None;
        let mut at = HEADER_LEN;
        while at < bytes.len() {
            if fingerprint_at.is_some() {
                return Err(DecodeError::AttributeAfterFingerprint { offset: at });
            }
            let attr = AttrType(be16(bytes, at).unwrap_or(0));
            let len = be16(bytes, at + 2)
                .map(usize::from)
                .ok_or(DecodeError::AttributeOverrun { offset: at, attr })?;
            let end = at + 4 + padded(len);
            if end > bytes.len() {
                return Err(DecodeError::AttributeOverrun { offset: at, attr });
            }
            if attr == AttrType::MESSAGE_INTEGRITY && integrity_at.is_none() {
                integrity_at = Some(at);
            } else if attr == AttrType::FINGERPRINT {
                fingerprint_at = Some(at);
            }
            at = end;
        }
        Ok(Message {
            bytes,
            method,
            class,
            tid: TransactionId(tid),
            cookie,
            integrity_at,
            fingerprint_at,
        })
    }

    /// The message's method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The message's class.
    pub fn class(&self) -> Class {
        self.class
    }

    /// The transaction ID.
    pub fn transaction_id(&self) -> TransactionId {
        self.tid
    }

    /// Whether the message lacks the magic cookie: an RFC 3489 message (only possible with
    /// [`Message::parse_rfc3489`]).
    pub fn is_rfc3489(&self) -> bool {
        self.cookie != MAGIC_COOKIE
    }

    /// The 128-bit transaction ID of RFC 3489 §11.1: bytes 4..20 of the header.
    pub fn rfc3489_transaction_id(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        let (c, t) = id.split_at_mut(4);
        c.copy_from_slice(&self.cookie.to_be_bytes());
        t.copy_from_slice(&self.tid.0);
        id
    }

    /// The whole message as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The attributes in wire order. Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are
    /// skipped (RFC 5389 §15.4).
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            bytes: self.bytes,
            at: HEADER_LEN,
            integrity_at: self.integrity_at,
        }
    }

    /// The first attribute of type `attr` (later duplicates are ignored, RFC 5389 §15).
    pub fn get(&self, attr: AttrType) -> Option<RawAttribute<'a>> {
        self.attributes().find(|a| a.attr == attr)
    }

    /// Comprehension-required attributes (type below 0x8000) that `known` does not contain, for an
    /// UNKNOWN-ATTRIBUTES error response (RFC 5389 §7.3.1).
    pub fn unknown_required(&self, known: &[AttrType]) -> Vec<AttrType> {
        let mut out: Vec<AttrType> = Vec::new();
        for a in self.attributes() {
            if a.attr.comprehension_required() && !known.contains(&a.attr) && !out.contains(&a.attr)
            {
                out.push(a.attr);
            }
        }
        out
    }

    /// Verifies FINGERPRINT (RFC 5389 §15.5).
    pub fn fingerprint(&self) -> Fingerprint {
        let Some(at) = self.fingerprint_at else {
            return Fingerprint::Absent;
        };
        let (Some(len), Some(value), Some(covered)) = (
            be16(self.bytes, at + 2),
            be32(self.bytes, at + 4),
            self.bytes.get(..at),
        ) else {
            return Fingerprint::Invalid;
        };
        if len == 4 && value == crc32(covered) ^ FINGERPRINT_XOR {
            Fingerprint::Valid
        } else {
            Fingerprint::Invalid
        }
    }

    /// Verifies MESSAGE-INTEGRITY (HMAC-SHA1, RFC 5389 §15.4) with `key`: for short-term credentials
    /// the SASLprep'd password, for long-term credentials MD5(username ":" realm ":" password).
    ///
    /// # Errors
    ///
    /// [`IntegrityError`] when the attribute is missing, malformed or does not match.
    pub fn verify_integrity(&self, key: &[u8]) -> Result<(), IntegrityError> {
        let at = self.integrity_at.ok_or(IntegrityError::Missing)?;
        let len = usize::from(be16(self.bytes, at + 2).unwrap_or(0));
        if len != 20 {
            return Err(IntegrityError::WrongLength { len });
        }
        let expected = self
            .bytes
            .get(at + 4..at + 24)
            .ok_or(IntegrityError::WrongLength { len })?;
        let covered = self.bytes.get(..at).ok_or(IntegrityError::Mismatch)?;
        let mac = integrity_mac(key, covered, at + INTEGRITY_ATTR_LEN - HEADER_LEN)
            .ok_or(IntegrityError::Mismatch)?;
        mac.verify_slice(expected)
            .map_err(|_| IntegrityError::Mismatch)
    }

    fn typed<T>(
        &self,
        attr: AttrType,
        decode: impl FnOnce(&[u8], &TransactionId) -> Result<T, AttributeError>,
    ) -> Result<Option<T>, AttributeError> {
        match self.get(attr) {
            None => Ok(None),
            Some(raw) => decode(raw.value, &self.tid).map(Some),
        }
    }

    /// XOR-MAPPED-ADDRESS (§15.2): the reflexive transport address the server saw.
    ///
    /// # Errors
    ///
    /// [`AttributeError`] when the attribute is present but malformed.
    pub fn xor_mapped_address(&self) -> Result<Option<std::net::SocketAddr>, AttributeError> {
        self.typed(AttrType::XOR_MAPPED_ADDRESS, |v, tid| {
            crate::attr::decode_xor_address(AttrType::XOR_MAPPED_ADDRESS, v, tid)
        })
    }

    /// MAPPED-ADDRESS (§15.1), which RFC 3489 servers send instead of XOR-MAPPED-ADDRESS.
    ///
    /// # Errors
    ///
    /// [`AttributeError`] when the attribute is present but malformed.
    pub fn mapped_address(&self) -> Result<Option<std::net::SocketAddr>, AttributeError> {
        self.address(AttrType::MAPPED_ADDRESS)
    }

    /// The reflexive address: XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS when only that is present.
    ///
    /// # Errors
    ///
    /// [`AttributeError`] when the attribute used is malformed.
    pub fn reflexive_address(&self) -> Result<Option<std::net::SocketAddr>, AttributeError> {
        match self.xor_mapped_address()? {
            Some(a) => Ok(Some(a)),
            None => self.mapped_address(),
        }
    }

    /// OTHER-ADDRESS (RFC 5780 §7.4): the server's alternate address and port.
    ///
    /// # Errors
    ///
    /// [`AttributeError`] when the attribute is present but malformed.
    pub fn other_address(&self) -> Result<Option<std::net::SocketAddr>, AttributeError> {
        match self.address(AttrType::OTHER_ADDRESS)? {
            Some(a) => Ok(Some(a)),
            // RFC 5780 §7.4: OTHER-ADDRESS uses the format of RFC 3489's CHANGED-ADDRESS, which older
            // servers still send under that name.
            None => self.address(AttrType::CHANGED_ADDRESS),
        }
    }

    /// RESPONSE-ORIGIN (RFC 5780 §7.3): the address the response was sent from.
    ///
    /// # Errors
    ///
    /// [`AttributeError`] when the attribute is present but malformed.
    pub fn response_origin(&self) -> Result<Option<std::net::SocketAddr>, AttributeError> {
        match self.address(AttrType::RESPONSE_ORIGIN)? {
            Some(a) => Ok(Some(a)),
            // RFC 5780 §7.3: RESPONSE-ORIGIN replaces RFC 3489's SOURCE-ADDRESS.
            None => self.address(AttrType::SOURCE_ADDRESS),
        }
    }

    fn address(&self, attr: AttrType) -> Result<Option<std::net::SocketAddr>, AttributeError> {
        self.typed(attr, |v, _| crate::attr::decode_address(attr, v))
    }

    /// CHANGE-REQUEST (RFC 5780 §7.2).
    ///
    /// # Errors
    ///
    /// [`AttributeError`] when the attribute is present but malformed.
    pub fn change_request(&self) -> Result<Option<crate::attr::ChangeRequest>, AttributeError> {
        self.typed(AttrType::CHANGE_REQUEST, |v, _| {
            crate::attr::ChangeRequest::decode(v)
        })
    }

    /// RESPONSE-PORT (RFC 5780 §7.5).
    ///
    /// # Errors
    ///
    /// [`AttributeError`] when the attribute is present but malformed.
    pub fn response_port(&self) -> Result<Option<u16>, AttributeError> {
        self.typed(AttrType::RESPONSE_PORT, |v, _| {
            crate::attr::decode_response_port(v)
        })
    }

    /// ERROR-CODE (RFC 5389 §15.6).
    ///
    /// # Errors
    ///
    /// [`AttributeError`] when the attribute is present but malformed.
    pub fn error_code(&self) -> Result<Option<ErrorCode<'a>>, AttributeError> {
        match self.get(AttrType::ERROR_CODE) {
            None => Ok(None),
            Some(raw) => ErrorCode::decode(raw.value).map(Some),
        }
    }

    /// UNKNOWN-ATTRIBUTES (RFC 5389 §15.9): the attribute types the server did not understand.
    ///
    /// # Errors
    ///
    /// [`AttributeError`] when the attribute is present but has an odd length.
    pub fn unknown_attributes(&self) -> Result<Option<Vec<AttrType>>, AttributeError> {
        self.typed(AttrType::UNKNOWN_ATTRIBUTES, |v, _| {
            if v.len() % 2 != 0 {
                return Err(AttributeError::WrongLength {
                    attr: AttrType::UNKNOWN_ATTRIBUTES,
                    len: v.len(),
                });
            }
            Ok(v.chunks_exact(2)
                .filter_map(|c| <[u8; 2]>::try_from(c).ok())
                .map(|c| AttrType(u16::from_be_bytes(c)))
                .collect())
        })
    }

    /// SOFTWARE (RFC 5389 §15.10).
    ///
    /// # Errors
    ///
    /// [`AttributeError`] when the attribute is present but not UTF-8 or too long.
    pub fn software(&self) -> Result<Option<&'a str>, AttributeError> {
        self.text(AttrType::SOFTWARE, 763)
    }

    /// USERNAME (RFC 5389 §15.3).
    ///
    /// # Errors
    ///
    /// [`AttributeError`] when the attribute is present but not UTF-8 or longer than 513 bytes.
    pub fn username(&self) -> Result<Option<&'a str>, AttributeError> {
        self.text(AttrType::USERNAME, 513)
    }

    fn text(&self, attr: AttrType, max: usize) -> Result<Option<&'a str>, AttributeError> {
        match self.get(attr) {
            None => Ok(None),
            Some(raw) => crate::attr::decode_text(attr, raw.value, max).map(Some),
        }
    }
}

/// Iterator over a message's attributes; see [`Message::attributes`].
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    bytes: &'a [u8],
    at: usize,
    integrity_at: Option<usize>,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = RawAttribute<'a>;

    fn next(&mut self) -> Option<RawAttribute<'a>> {
        loop {
            let offset = self.at;
            let attr = AttrType(be16(self.bytes, offset)?);
            let len = usize::from(be16(self.bytes, offset + 2)?);
            let value = self.bytes.get(offset + 4..offset + 4 + len)?;
            self.at = offset + 4 + padded(len);
            let after_integrity = self.integrity_at.is_some_and(|mi| offset > mi);
            if after_integrity && attr != AttrType::FINGERPRINT {
                continue;
            }
            return Some(RawAttribute {
                attr,
                value,
                offset,
            });
        }
    }
}

/// HMAC-SHA1 over `covered` (header plus attributes before MESSAGE-INTEGRITY) with the header's length
/// field replaced by `length`, as §15.4 prescribes.
fn integrity_mac(key: &[u8], covered: &[u8], length: usize) -> Option<Hmac<Sha1>> {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).ok()?;
    let length = u16::try_from(length).ok()?;
    mac.update(covered.get(..2)?);
    mac.update(&length.to_be_bytes());
    mac.update(covered.get(4..)?);
    Some(mac)
}

/// Why a message could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The attributes would exceed the 16-bit message length.
    MessageTooLong,
    /// An attribute value is longer than its definition allows.
    ValueTooLong {
        /// The attribute.
        attr: AttrType,
        /// The value's length.
        len: usize,
    },
    /// An ERROR-CODE outside 300..=699.
    ErrorCodeOutOfRange {
        /// The code given.
        code: u16,
    },
    /// An attribute was added after MESSAGE-INTEGRITY or FINGERPRINT (only FINGERPRINT may follow
    /// MESSAGE-INTEGRITY, and nothing may follow FINGERPRINT).
    AttributeAfterTrailer {
        /// The attribute that came too late.
        attr: AttrType,
    },
    /// XOR-MAPPED-ADDRESS was added to an RFC 3489 message, which has no magic cookie.
    XorWithoutMagicCookie,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::MessageTooLong => write!(f, "message exceeds 65,535 attribute bytes"),
            EncodeError::ValueTooLong { attr, len } => {
                write!(f, "attribute {attr} value of {len} bytes is too long")
            }
            EncodeError::ErrorCodeOutOfRange { code } => {
                write!(f, "error code {code} is outside 300..=699")
            }
            EncodeError::XorWithoutMagicCookie => {
                write!(f, "XOR-MAPPED-ADDRESS needs the magic cookie of RFC 5389")
            }
            EncodeError::AttributeAfterTrailer { attr } => write!(
                f,
                "attribute {attr} added after MESSAGE-INTEGRITY or FINGERPRINT"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trailer {
    None,
    Integrity,
    Fingerprint,
}

/// Builds a STUN message into a caller-owned buffer, keeping the header's length field current.
///
/// Errors are sticky: the first one is remembered and returned by [`MessageBuilder::finish`], so a
/// chain of `add_*` calls needs one check at the end.
#[derive(Debug)]
pub struct MessageBuilder<'b> {
    buf: &'b mut Vec<u8>,
    tid: TransactionId,
    /// An RFC 3489 message: no magic cookie, so no XOR-MAPPED-ADDRESS.
    rfc3489: bool,
    trailer: Trailer,
    error: Option<EncodeError>,
}

impl<'b> MessageBuilder<'b> {
    /// Clears `buf` and writes a header for a message of `class` and `method` with transaction `tid`.
    pub fn new(
        buf: &'b mut Vec<u8>,
        class: Class,
        method: Method,
        tid: TransactionId,
    ) -> MessageBuilder<'b> {
        buf.clear();
        buf.extend_from_slice(&join_type(method, class).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&tid.0);
        MessageBuilder {
            buf,
            tid,
            rfc3489: false,
            trailer: Trailer::None,
            error: None,
        }
    }

    /// Like [`MessageBuilder::new`], for an answer to an RFC 3489 peer: `id` is its 128-bit
    /// transaction ID, written where RFC 5389 puts the magic cookie and transaction ID.
    pub fn new_rfc3489(
        buf: &'b mut Vec<u8>,
        class: Class,
        method: Method,
        id: [u8; 16],
    ) -> MessageBuilder<'b> {
        buf.clear();
        buf.extend_from_slice(&join_type(method, class).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&id);
        let mut tid = [0u8; 12];
        if let Some(t) = id.get(4..) {
            tid.copy_from_slice(t);
        }
        MessageBuilder {
            buf,
            tid: TransactionId(tid),
            rfc3489: true,
            trailer: Trailer::None,
            error: None,
        }
    }

    /// The transaction ID in the header.
    pub fn transaction_id(&self) -> TransactionId {
        self.tid
    }

    fn fail(&mut self, e: EncodeError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn set_length(&mut self) {
        let body = self.buf.len().saturating_sub(HEADER_LEN);
        let len = u16::try_from(body).unwrap_or(u16::MAX).to_be_bytes();
        if let Some(slot) = self.buf.get_mut(2..4) {
            slot.copy_from_slice(&len);
        }
    }

    /// Appends an attribute with an arbitrary value, padded with zero bytes to a 4-byte boundary.
    pub fn add_raw(&mut self, attr: AttrType, value: &[u8]) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        let allowed = match self.trailer {
            Trailer::None => true,
            Trailer::Integrity => attr == AttrType::FINGERPRINT,
            Trailer::Fingerprint => false,
        };
        if !allowed {
            self.fail(EncodeError::AttributeAfterTrailer { attr });
            return self;
        }
        let Ok(len) = u16::try_from(value.len()) else {
            self.fail(EncodeError::ValueTooLong {
                attr,
                len: value.len(),
            });
            return self;
        };
        let body = self.buf.len() - HEADER_LEN + 4 + padded(value.len());
        if body > MAX_BODY_LEN {
            self.fail(EncodeError::MessageTooLong);
            return self;
        }
        self.buf.extend_from_slice(&attr.0.to_be_bytes());
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(value);
        self.buf
            .resize(self.buf.len() + padded(value.len()) - value.len(), 0);
        self.set_length();
        self
    }

    fn add_address_attr(&mut self, attr: AttrType, addr: std::net::SocketAddr) -> &mut Self {
        let v = crate::attr::encode_address(addr);
        self.add_raw(attr, &v)
    }

    /// Appends XOR-MAPPED-ADDRESS (RFC 5389 §15.2). An RFC 3489 message cannot carry it (the XOR
    /// uses the magic cookie): that is an [`EncodeError::XorWithoutMagicCookie`].
    pub fn add_xor_mapped_address(&mut self, addr: std::net::SocketAddr) -> &mut Self {
        if self.rfc3489 {
            self.fail(EncodeError::XorWithoutMagicCookie);
            return self;
        }
        let v = crate::attr::encode_xor_address(addr, &self.tid);
        self.add_raw(AttrType::XOR_MAPPED_ADDRESS, &v)
    }

    /// Appends MAPPED-ADDRESS (RFC 5389 §15.1).
    pub fn add_mapped_address(&mut self, addr: std::net::SocketAddr) -> &mut Self {
        self.add_address_attr(AttrType::MAPPED_ADDRESS, addr)
    }

    /// Appends an address attribute in the MAPPED-ADDRESS format under any type (RFC 3489's
    /// SOURCE-ADDRESS and CHANGED-ADDRESS, for example).
    pub fn add_address(&mut self, attr: AttrType, addr: std::net::SocketAddr) -> &mut Self {
        self.add_address_attr(attr, addr)
    }

    /// Appends OTHER-ADDRESS (RFC 5780 §7.4).
    pub fn add_other_address(&mut self, addr: std::net::SocketAddr) -> &mut Self {
        self.add_address_attr(AttrType::OTHER_ADDRESS, addr)
    }

    /// Appends RESPONSE-ORIGIN (RFC 5780 §7.3).
    pub fn add_response_origin(&mut self, addr: std::net::SocketAddr) -> &mut Self {
        self.add_address_attr(AttrType::RESPONSE_ORIGIN, addr)
    }

    /// Appends CHANGE-REQUEST (RFC 5780 §7.2).
    pub fn add_change_request(&mut self, change: crate::attr::ChangeRequest) -> &mut Self {
        self.add_raw(AttrType::CHANGE_REQUEST, &change.encode())
    }

    /// Appends RESPONSE-PORT (RFC 5780 §7.5).
    pub fn add_response_port(&mut self, port: u16) -> &mut Self {
        let p = port.to_be_bytes();
        self.add_raw(AttrType::RESPONSE_PORT, &[p[0], p[1], 0, 0])
    }

    /// Appends PADDING of `len` zero bytes (RFC 5780 §7.6).
    pub fn add_padding(&mut self, len: usize) -> &mut Self {
        let zeros = vec![0u8; len];
        self.add_raw(AttrType::PADDING, &zeros)
    }

    /// Appends SOFTWARE (RFC 5389 §15.10; at most 763 bytes).
    pub fn add_software(&mut self, software: &str) -> &mut Self {
        if software.len() > 763 {
            self.fail(EncodeError::ValueTooLong {
                attr: AttrType::SOFTWARE,
                len: software.len(),
            });
            return self;
        }
        self.add_raw(AttrType::SOFTWARE, software.as_bytes())
    }

    /// Appends USERNAME (RFC 5389 §15.3; at most 513 bytes).
    pub fn add_username(&mut self, username: &str) -> &mut Self {
        if username.len() > 513 {
            self.fail(EncodeError::ValueTooLong {
                attr: AttrType::USERNAME,
                len: username.len(),
            });
            return self;
        }
        self.add_raw(AttrType::USERNAME, username.as_bytes())
    }

    /// Appends ERROR-CODE (RFC 5389 §15.6) with `code` in 300..=699 and a reason phrase.
    pub fn add_error_code(&mut self, code: u16, reason: &str) -> &mut Self {
        match (ErrorCode { code, reason }).encode() {
            Ok(v) => self.add_raw(AttrType::ERROR_CODE, &v),
            Err(e) => {
                self.fail(e);
                self
            }
        }
    }

    /// Appends UNKNOWN-ATTRIBUTES (RFC 5389 §15.9).
    pub fn add_unknown_attributes(&mut self, attrs: &[AttrType]) -> &mut Self {
        let v: Vec<u8> = attrs.iter().flat_map(|a| a.0.to_be_bytes()).collect();
        self.add_raw(AttrType::UNKNOWN_ATTRIBUTES, &v)
    }

    /// Appends MESSAGE-INTEGRITY (RFC 5389 §15.4) computed with `key` over everything written so far.
    /// Only FINGERPRINT may follow.
    pub fn add_integrity(&mut self, key: &[u8]) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        if self.trailer != Trailer::None {
            self.fail(EncodeError::AttributeAfterTrailer {
                attr: AttrType::MESSAGE_INTEGRITY,
            });
            return self;
        }
        let length = self.buf.len() + INTEGRITY_ATTR_LEN - HEADER_LEN;
        if length > MAX_BODY_LEN {
            self.fail(EncodeError::MessageTooLong);
            return self;
        }
        let tag = match integrity_mac(key, self.buf, length) {
            Some(mac) => mac.finalize().into_bytes(),
            None => {
                self.fail(EncodeError::MessageTooLong);
                return self;
            }
        };
        self.add_raw(AttrType::MESSAGE_INTEGRITY, &tag);
        self.trailer = Trailer::Integrity;
        self
    }

    /// Appends FINGERPRINT (RFC 5389 §15.5). Nothing may follow.
    pub fn add_fingerprint(&mut self) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        if self.trailer == Trailer::Fingerprint {
            self.fail(EncodeError::AttributeAfterTrailer {
                attr: AttrType::FINGERPRINT,
            });
            return self;
        }
        let body = self.buf.len() + FINGERPRINT_ATTR_LEN - HEADER_LEN;
        if body > MAX_BODY_LEN {
            self.fail(EncodeError::MessageTooLong);
            return self;
        }
        // The CRC covers the header with the length already including FINGERPRINT itself.
        let len = u16::try_from(body).unwrap_or(u16::MAX).to_be_bytes();
        if let Some(slot) = self.buf.get_mut(2..4) {
            slot.copy_from_slice(&len);
        }
        let crc = crc32(self.buf) ^ FINGERPRINT_XOR;
        self.add_raw(AttrType::FINGERPRINT, &crc.to_be_bytes());
        self.trailer = Trailer::Fingerprint;
        self
    }

    /// Ends the message, returning its length in bytes.
    ///
    /// # Errors
    ///
    /// The first [`EncodeError`] met while building; the buffer's contents are then unspecified.
    pub fn finish(self) -> Result<usize, EncodeError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.buf.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_bits_round_trip_for_all_methods_and_classes() {
        for m in 0..0x1000u16 {
            for c in [
                Class::Request,
                Class::Indication,
                Class::SuccessResponse,
                Class::ErrorResponse,
            ] {
                let t = join_type(Method(m), c);
                assert_eq!(t & 0xC000, 0);
                assert_eq!(split_type(t), (Method(m), c));
            }
        }
    }

    #[test]
    fn rfc5389_section_6_binding_types() {
        assert_eq!(join_type(Method::BINDING, Class::Request), 0x0001);
        assert_eq!(join_type(Method::BINDING, Class::Indication), 0x0011);
        assert_eq!(join_type(Method::BINDING, Class::SuccessResponse), 0x0101);
        assert_eq!(join_type(Method::BINDING, Class::ErrorResponse), 0x0111);
    }

    #[test]
    fn builder_rejects_attributes_after_fingerprint() {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(
            &mut buf,
            Class::Request,
            Method::BINDING,
            TransactionId([1; 12]),
        );
        b.add_fingerprint().add_software("x");
        assert_eq!(
            b.finish(),
            Err(EncodeError::AttributeAfterTrailer {
                attr: AttrType::SOFTWARE
            })
        );
    }

    #[test]
    fn builder_allows_only_fingerprint_after_integrity() {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(
            &mut buf,
            Class::Request,
            Method::BINDING,
            TransactionId([1; 12]),
        );
        b.add_integrity(b"k").add_fingerprint();
        assert!(b.finish().is_ok());
        let m = Message::parse(&buf).unwrap();
        assert_eq!(m.verify_integrity(b"k"), Ok(()));
        assert_eq!(m.fingerprint(), Fingerprint::Valid);
        assert_eq!(m.verify_integrity(b"other"), Err(IntegrityError::Mismatch));
    }

    #[test]
    fn builder_reports_overlong_message() {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(
            &mut buf,
            Class::Request,
            Method::BINDING,
            TransactionId([1; 12]),
        );
        b.add_padding(40_000).add_padding(40_000);
        assert_eq!(b.finish(), Err(EncodeError::MessageTooLong));
    }

    #[test]
    fn attributes_after_integrity_are_ignored_except_fingerprint() {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(
            &mut buf,
            Class::Request,
            Method::BINDING,
            TransactionId([2; 12]),
        );
        b.add_software("before").add_integrity(b"k");
        b.finish().unwrap();
        // Splice a SOFTWARE attribute after MESSAGE-INTEGRITY by hand.
        buf.extend_from_slice(&[0x80, 0x22, 0, 5, b'a', b'f', b't', b'e', b'r', 0, 0, 0]);
        let len = u16::try_from(buf.len() - HEADER_LEN).unwrap().to_be_bytes();
        buf[2..4].copy_from_slice(&len);
        let m = Message::parse(&buf).unwrap();
        assert_eq!(m.software(), Ok(Some("before")));
        assert_eq!(m.attributes().count(), 2);
    }
}
