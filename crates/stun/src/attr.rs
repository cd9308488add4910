//! Attribute types and the value formats of the attributes this crate understands (RFC 5389 §15,
//! RFC 5780 §7).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::message::{EncodeError, MAGIC_COOKIE, TransactionId};

/// A STUN attribute type. Unknown types survive parsing unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttrType(pub u16);

impl AttrType {
    /// MAPPED-ADDRESS (RFC 5389 §15.1).
    pub const MAPPED_ADDRESS: AttrType = AttrType(0x0001);
    /// RESPONSE-ADDRESS (RFC 3489 §11.2.2): redirect the response to another host. Never honoured
    /// here: it would make a server a reflector for attacks (RFC 5389 removed it for that reason).
    pub const RESPONSE_ADDRESS: AttrType = AttrType(0x0002);
    /// CHANGE-REQUEST (RFC 5780 §7.2).
    pub const CHANGE_REQUEST: AttrType = AttrType(0x0003);
    /// SOURCE-ADDRESS (RFC 3489 §11.2.5), the predecessor of RESPONSE-ORIGIN.
    pub const SOURCE_ADDRESS: AttrType = AttrType(0x0004);
    /// CHANGED-ADDRESS (RFC 3489 §11.2.3), the predecessor of OTHER-ADDRESS.
    pub const CHANGED_ADDRESS: AttrType = AttrType(0x0005);
    /// USERNAME (RFC 5389 §15.3).
    pub const USERNAME: AttrType = AttrType(0x0006);
    /// MESSAGE-INTEGRITY (RFC 5389 §15.4).
    pub const MESSAGE_INTEGRITY: AttrType = AttrType(0x0008);
    /// ERROR-CODE (RFC 5389 §15.6).
    pub const ERROR_CODE: AttrType = AttrType(0x0009);
    /// UNKNOWN-ATTRIBUTES (RFC 5389 §15.9).
    pub const UNKNOWN_ATTRIBUTES: AttrType = AttrType(0x000A);
    /// REALM (RFC 5389 §15.7).
    pub const REALM: AttrType = AttrType(0x0014);
    /// NONCE (RFC 5389 §15.8).
    pub const NONCE: AttrType = AttrType(0x0015);
    /// XOR-MAPPED-ADDRESS (RFC 5389 §15.2).
    pub const XOR_MAPPED_ADDRESS: AttrType = AttrType(0x0020);
    /// PADDING (RFC 5780 §7.6).
    pub const PADDING: AttrType = AttrType(0x0026);
    /// RESPONSE-PORT (RFC 5780 §7.5).
    pub const RESPONSE_PORT: AttrType = AttrType(0x0027);
    /// SOFTWARE (RFC 5389 §15.10).
    pub const SOFTWARE: AttrType = AttrType(0x8022);
    /// ALTERNATE-SERVER (RFC 5389 §15.11).
    pub const ALTERNATE_SERVER: AttrType = AttrType(0x8023);
    /// FINGERPRINT (RFC 5389 §15.5).
    pub const FINGERPRINT: AttrType = AttrType(0x8028);
    /// RESPONSE-ORIGIN (RFC 5780 §7.3).
    pub const RESPONSE_ORIGIN: AttrType = AttrType(0x802B);
    /// OTHER-ADDRESS (RFC 5780 §7.4).
    pub const OTHER_ADDRESS: AttrType = AttrType(0x802C);

    /// Whether a receiver that does not know this type must reject the message: types 0x0000–0x7FFF
    /// are comprehension-required (RFC 5389 §15).
    pub fn comprehension_required(self) -> bool {
        self.0 < 0x8000
    }

    /// The registered name, when this crate knows it.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            AttrType::MAPPED_ADDRESS => "MAPPED-ADDRESS",
            AttrType::CHANGE_REQUEST => "CHANGE-REQUEST",
            AttrType::CHANGED_ADDRESS => "CHANGED-ADDRESS",
            AttrType::RESPONSE_ADDRESS => "RESPONSE-ADDRESS",
            AttrType::SOURCE_ADDRESS => "SOURCE-ADDRESS",
            AttrType::USERNAME => "USERNAME",
            AttrType::MESSAGE_INTEGRITY => "MESSAGE-INTEGRITY",
            AttrType::ERROR_CODE => "ERROR-CODE",
            AttrType::UNKNOWN_ATTRIBUTES => "UNKNOWN-ATTRIBUTES",
            AttrType::REALM => "REALM",
            AttrType::NONCE => "NONCE",
            AttrType::XOR_MAPPED_ADDRESS => "XOR-MAPPED-ADDRESS",
            AttrType::PADDING => "PADDING",
            AttrType::RESPONSE_PORT => "RESPONSE-PORT",
            AttrType::SOFTWARE => "SOFTWARE",
            AttrType::ALTERNATE_SERVER => "ALTERNATE-SERVER",
            AttrType::FINGERPRINT => "FINGERPRINT",
            AttrType::RESPONSE_ORIGIN => "RESPONSE-ORIGIN",
            AttrType::OTHER_ADDRESS => "OTHER-ADDRESS",
            _ => return None,
        })
    }
}

impl fmt::Display for AttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{:#06x}", self.0),
        }
    }
}

/// Why one attribute's value could not be decoded. The sender's fault in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttributeError {
    /// The value has a length its definition does not allow.
    WrongLength {
        /// The attribute.
        attr: AttrType,
        /// The value's length.
        len: usize,
    },
    /// An address attribute names a family other than IPv4 (0x01) or IPv6 (0x02).
    UnknownAddressFamily {
        /// The attribute.
        attr: AttrType,
        /// The family byte.
        family: u8,
    },
    /// A text attribute is not valid UTF-8.
    NotUtf8 {
        /// The attribute.
        attr: AttrType,
    },
    /// ERROR-CODE's class is outside 3..=6 or its number above 99 (RFC 5389 §15.6).
    ErrorCodeOutOfRange {
        /// The class digit.
        class: u8,
        /// The number within the class.
        number: u8,
    },
}

impl fmt::Display for AttributeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeError::WrongLength { attr, len } => {
                write!(f, "{attr} has invalid length {len}")
            }
            AttributeError::UnknownAddressFamily { attr, family } => {
                write!(f, "{attr} has unknown address family {family:#04x}")
            }
            AttributeError::NotUtf8 { attr } => write!(f, "{attr} is not valid UTF-8"),
            AttributeError::ErrorCodeOutOfRange { class, number } => {
                write!(
                    f,
                    "ERROR-CODE class {class} number {number} is out of range"
                )
            }
        }
    }
}

impl std::error::Error for AttributeError {}

/// Encodes an address in the MAPPED-ADDRESS format (RFC 5389 §15.1).
pub(crate) fn encode_address(addr: SocketAddr) -> Vec<u8> {
    let mut v = Vec::with_capacity(20);
    v.push(0);
    match addr.ip() {
        IpAddr::V4(ip) => {
            v.push(0x01);
            v.extend_from_slice(&addr.port().to_be_bytes());
            v.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            v.push(0x02);
            v.extend_from_slice(&addr.port().to_be_bytes());
            v.extend_from_slice(&ip.octets());
        }
    }
    v
}

/// Decodes a MAPPED-ADDRESS-format value (RFC 5389 §15.1).
pub(crate) fn decode_address(attr: AttrType, v: &[u8]) -> Result<SocketAddr, AttributeError> {
    let wrong = || AttributeError::WrongLength { attr, len: v.len() };
    let family = *v.get(1).ok_or_else(wrong)?;
    let port = u16::from_be_bytes([*v.get(2).ok_or_else(wrong)?, *v.get(3).ok_or_else(wrong)?]);
    match family {
        0x01 => {
            let o: [u8; 4] = v
                .get(4..)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(wrong)?;
            Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(o)), port))
        }
        0x02 => {
            let o: [u8; 16] = v
                .get(4..)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(wrong)?;
            Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), port))
        }
        family => Err(AttributeError::UnknownAddressFamily { attr, family }),
    }
}

/// The XOR mask for an address: magic cookie, then (IPv6 only) the transaction ID (RFC 5389 §15.2).
fn xor_mask(tid: &TransactionId) -> [u8; 16] {
    let mut mask = [0u8; 16];
    let (cookie, rest) = mask.split_at_mut(4);
    cookie.copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    rest.copy_from_slice(&tid.0);
    mask
}

/// XORs an address value in place (involution: encodes and decodes).
fn xor_value(v: &mut [u8], tid: &TransactionId) {
    let mask = xor_mask(tid);
    let cookie = MAGIC_COOKIE.to_be_bytes();
    if let Some(port) = v.get_mut(2..4) {
        port.iter_mut()
            .zip(cookie.iter())
            .for_each(|(b, m)| *b ^= m);
    }
    if let Some(ip) = v.get_mut(4..) {
        ip.iter_mut().zip(mask.iter()).for_each(|(b, m)| *b ^= m);
    }
}

/// Encodes XOR-MAPPED-ADDRESS (RFC 5389 §15.2).
pub(crate) fn encode_xor_address(addr: SocketAddr, tid: &TransactionId) -> Vec<u8> {
    let mut v = encode_address(addr);
    xor_value(&mut v, tid);
    v
}

/// Decodes XOR-MAPPED-ADDRESS (RFC 5389 §15.2).
pub(crate) fn decode_xor_address(
    attr: AttrType,
    v: &[u8],
    tid: &TransactionId,
) -> Result<SocketAddr, AttributeError> {
    if v.len() > 20 {
        return Err(AttributeError::WrongLength { attr, len: v.len() });
    }
    let mut copy = [0u8; 20];
    let slot = copy
        .get_mut(..v.len())
        .ok_or(AttributeError::WrongLength { attr, len: v.len() })?;
    slot.copy_from_slice(v);
    let plain = copy
        .get_mut(..v.len())
        .ok_or(AttributeError::WrongLength { attr, len: v.len() })?;
    xor_value(plain, tid);
    decode_address(attr, plain)
}

/// Decodes a UTF-8 text attribute of at most `max` bytes.
pub(crate) fn decode_text(attr: AttrType, v: &[u8], max: usize) -> Result<&str, AttributeError> {
    if v.len() > max {
        return Err(AttributeError::WrongLength { attr, len: v.len() });
    }
    std::str::from_utf8(v).map_err(|_| AttributeError::NotUtf8 { attr })
}

/// Decodes RESPONSE-PORT: a port followed by two bytes of padding (RFC 5780 §7.5).
pub(crate) fn decode_response_port(v: &[u8]) -> Result<u16, AttributeError> {
    match v {
        [a, b, _, _] => Ok(u16::from_be_bytes([*a, *b])),
        _ => Err(AttributeError::WrongLength {
            attr: AttrType::RESPONSE_PORT,
            len: v.len(),
        }),
    }
}

/// CHANGE-REQUEST flags (RFC 5780 §7.2): ask the server to answer from its other IP and/or port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeRequest {
    /// Flag A: answer from the alternate IP address.
    pub change_ip: bool,
    /// Flag B: answer from the alternate port.
    pub change_port: bool,
}

impl ChangeRequest {
    pub(crate) fn encode(self) -> [u8; 4] {
        let mut flags = 0u8;
        if self.change_ip {
            flags |= 0x04;
        }
        if self.change_port {
            flags |= 0x02;
        }
        [0, 0, 0, flags]
    }

    pub(crate) fn decode(v: &[u8]) -> Result<ChangeRequest, AttributeError> {
        match v {
            [_, _, _, flags] => Ok(ChangeRequest {
                change_ip: flags & 0x04 != 0,
                change_port: flags & 0x02 != 0,
            }),
            _ => Err(AttributeError::WrongLength {
                attr: AttrType::CHANGE_REQUEST,
                len: v.len(),
            }),
        }
    }
}

/// ERROR-CODE (RFC 5389 §15.6): a code in 300..=699 and a reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode<'a> {
    /// The numeric code, e.g. 420.
    pub code: u16,
    /// The reason phrase.
    pub reason: &'a str,
}

impl ErrorCode<'_> {
    /// 400 Bad Request (RFC 5389 §15.6).
    pub const BAD_REQUEST: u16 = 400;
    /// 401 Unauthorized (RFC 5389 §15.6).
    pub const UNAUTHORIZED: u16 = 401;
    /// 420 Unknown Attribute (RFC 5389 §15.6); also the answer to an unsupported CHANGE-REQUEST
    /// (RFC 5780 §6.1).
    pub const UNKNOWN_ATTRIBUTE: u16 = 420;

    pub(crate) fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        if !(300..=699).contains(&self.code) {
            return Err(EncodeError::ErrorCodeOutOfRange { code: self.code });
        }
        if self.reason.len() > 763 {
            return Err(EncodeError::ValueTooLong {
                attr: AttrType::ERROR_CODE,
                len: self.reason.len(),
            });
        }
        let class = u8::try_from(self.code / 100).unwrap_or(0);
        let number = u8::try_from(self.code % 100).unwrap_or(0);
        let mut v = vec![0, 0, class, number];
        v.extend_from_slice(self.reason.as_bytes());
        Ok(v)
    }
}

impl<'a> ErrorCode<'a> {
    pub(crate) fn decode(v: &'a [u8]) -> Result<ErrorCode<'a>, AttributeError> {
        let attr = AttrType::ERROR_CODE;
        let (Some(&class), Some(&number), Some(reason)) = (v.get(2), v.get(3), v.get(4..)) else {
            return Err(AttributeError::WrongLength { attr, len: v.len() });
        };
        let class = class & 0x07;
        if !(3..=6).contains(&class) || number > 99 {
            return Err(AttributeError::ErrorCodeOutOfRange { class, number });
        }
        Ok(ErrorCode {
            code: u16::from(class) * 100 + u16::from(number),
            reason: decode_text(attr, reason, 763)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_family_other_than_ipv4_or_ipv6_is_rejected() {
        let v = [0, 0x03, 0, 80, 1, 2, 3, 4];
        assert_eq!(
            decode_address(AttrType::MAPPED_ADDRESS, &v),
            Err(AttributeError::UnknownAddressFamily {
                attr: AttrType::MAPPED_ADDRESS,
                family: 3
            })
        );
    }

    #[test]
    fn ipv4_address_with_ipv6_length_is_rejected() {
        let mut v = vec![0, 0x01, 0, 80];
        v.extend_from_slice(&[0; 16]);
        assert!(matches!(
            decode_address(AttrType::MAPPED_ADDRESS, &v),
            Err(AttributeError::WrongLength { len: 20, .. })
        ));
    }

    #[test]
    fn xor_address_round_trips_for_both_families() {
        let tid = TransactionId(*b"0123456789ab");
        for a in [
            "192.0.2.1:32853",
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
        ] {
            let addr: SocketAddr = a.parse().unwrap();
            let v = encode_xor_address(addr, &tid);
            assert_ne!(v, encode_address(addr));
            assert_eq!(
                decode_xor_address(AttrType::XOR_MAPPED_ADDRESS, &v, &tid),
                Ok(addr)
            );
        }
    }

    #[test]
    fn error_code_class_and_number_split() {
        let e = ErrorCode {
            code: 420,
            reason: "Unknown Attribute",
        };
        let v = e.encode().unwrap();
        assert_eq!(&v[..4], &[0, 0, 4, 20]);
        assert_eq!(ErrorCode::decode(&v), Ok(e));
        assert!(
            ErrorCode {
                code: 299,
                reason: ""
            }
            .encode()
            .is_err()
        );
        assert_eq!(
            ErrorCode::decode(&[0, 0, 2, 0]),
            Err(AttributeError::ErrorCodeOutOfRange {
                class: 2,
                number: 0
            })
        );
    }

    #[test]
    fn change_request_flags_follow_rfc5780_section_7_2() {
        let both = ChangeRequest {
            change_ip: true,
            change_port: true,
        };
        assert_eq!(both.encode(), [0, 0, 0, 0x06]);
        assert!(ChangeRequest::decode(&[0, 0, 0, 0x04]).unwrap().change_ip);
        assert!(ChangeRequest::decode(&[0, 0, 0]).is_err());
    }
}
