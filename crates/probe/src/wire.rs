//! The control messages and their authenticated encoding.
//!
//! Every message has the same frame:
//!
//! ```text
//! "PBXG" | version (1) | kind (1) | key-id length (1) | key id | time, Unix ms (8) | nonce (16)
//!        | body length (2) | body | HMAC-SHA256 over everything before it (32)
//! ```
//!
//! A response carries the nonce of the request it answers, so a recorded response cannot be passed
//! off as the answer to a new request.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The first four bytes of every message.
pub const MAGIC: [u8; 4] = *b"PBXG";
/// The protocol version this crate speaks.
pub const VERSION: u8 = 1;
/// Length of the HMAC-SHA256 tag.
pub const MAC_LEN: usize = 32;
/// Length of a nonce.
pub const NONCE_LEN: usize = 16;
/// Most probes one request may ask for.
pub const MAX_PROBES: usize = 1024;
/// Longest key id.
pub const MAX_KEY_ID: usize = 64;
/// Shortest shared secret accepted.
pub const MIN_SECRET: usize = 16;

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kind(pub u8);

impl Kind {
    /// Agent → reflector: probe me.
    pub const REQUEST: Kind = Kind(1);
    /// Reflector → agent: the results.
    pub const RESULTS: Kind = Kind(2);
    /// Reflector → agent: an authenticated request was refused.
    pub const REFUSAL: Kind = Kind(3);
}

/// A kind of probe the reflector runs against the agent's public address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeKind(pub u8);

impl ProbeKind {
    /// Send a UDP datagram carrying a token to the port; the agent listens and reports it.
    pub const UDP: ProbeKind = ProbeKind(1);
    /// Open a TCP connection to the port.
    pub const TCP: ProbeKind = ProbeKind(2);
    /// Send a SIP OPTIONS over UDP and report the answer.
    pub const SIP_UDP: ProbeKind = ProbeKind(3);
    /// Send a SIP OPTIONS over TCP and report the answer.
    pub const SIP_TCP: ProbeKind = ProbeKind(4);
    /// Send a SIP OPTIONS over UDP through the site's forward to the agent's own listener, and
    /// report the exact bytes sent: the agent compares them with what arrived, which shows an
    /// inbound SIP ALG's rewrites.
    pub const SIP_ALG_IN: ProbeKind = ProbeKind(5);

    /// Whether this version of the protocol defines the kind.
    pub fn is_known(self) -> bool {
        (1..=5).contains(&self.0)
    }
}

/// One probe: what to do, to which port of the requester's own address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeSpec {
    /// The probe.
    pub kind: ProbeKind,
    /// The port on the requester's public address.
    pub port: u16,
}

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict(pub u8);

impl Verdict {
    /// Something answered (a TCP handshake completed, a SIP response came back, the agent saw the
    /// datagram).
    pub const ANSWERED: Verdict = Verdict(1);
    /// Nothing came back before the timeout.
    pub const SILENT: Verdict = Verdict(2);
    /// The port was actively refused: TCP reset or ICMP port unreachable (forwarded to a host where
    /// nothing listens).
    pub const REFUSED: Verdict = Verdict(3);
    /// The reflector skipped the probe (rate budget exhausted, or shutting down).
    pub const SKIPPED: Verdict = Verdict(4);
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// The probe.
    pub spec: ProbeSpec,
    /// What it found.
    pub verdict: Verdict,
    /// Evidence (a SIP response's first line, the received datagram's token), at most 1 KiB.
    pub evidence: Vec<u8>,
}

/// Why the reflector refused an authenticated request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefusalCode(pub u8);

impl RefusalCode {
    /// The request named a target other than the address it came from.
    pub const TARGET_MISMATCH: RefusalCode = RefusalCode(1);
    /// Too many requests or probes from this address.
    pub const RATE_LIMITED: RefusalCode = RefusalCode(2);
    /// The request's time is too far from the reflector's clock.
    pub const STALE: RefusalCode = RefusalCode(3);
    /// The nonce was seen before.
    pub const REPLAYED: RefusalCode = RefusalCode(4);
    /// The request asked for an unknown probe kind or too many probes.
    pub const UNSUPPORTED: RefusalCode = RefusalCode(5);
}

/// A message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Probe `target` (which must be the sender's own public address).
    Request {
        /// The address to probe, as the agent believes it is seen from outside.
        target: IpAddr,
        /// The probes.
        probes: Vec<ProbeSpec>,
    },
    /// Results, in request order.
    Results(Vec<ProbeResult>),
    /// A refusal; for a target mismatch, `observed` is the address the request came from.
    Refusal {
        /// Why.
        code: RefusalCode,
        /// The requester's address as the reflector saw it.
        observed: IpAddr,
    },
}

/// A decoded, authenticated message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The key that authenticated it.
    pub key_id: String,
    /// The sender's clock, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// The nonce (a request's own, or the request's a reply answers).
    pub nonce: [u8; NONCE_LEN],
    /// The content.
    pub body: Body,
}

/// Why bytes are not a valid message. `Truncated`…`BadBody` are the sender's malformation;
/// `BadMac` means the sender does not hold the key (or the bytes were altered).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The message ends before a field does.
    Truncated,
    /// Not a pbxguard control message.
    BadMagic,
    /// A version this crate does not speak.
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// The key id is empty, too long or not UTF-8.
    BadKeyId,
    /// The key id is not in the keyring.
    UnknownKey {
        /// The key id.
        key_id: String,
    },
    /// The HMAC does not verify.
    BadMac,
    /// Bytes follow the MAC.
    TrailingBytes,
    /// An unknown message kind.
    UnknownKind {
        /// The kind byte.
        kind: u8,
    },
    /// The body does not match its kind's layout.
    BadBody {
        /// What was wrong.
        what: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "message truncated"),
            DecodeError::BadMagic => write!(f, "not a pbxguard control message"),
            DecodeError::UnsupportedVersion { version } => {
                write!(f, "unsupported protocol version {version}")
            }
            DecodeError::BadKeyId => write!(f, "malformed key id"),
            DecodeError::UnknownKey { key_id } => write!(f, "unknown key id {key_id:?}"),
            DecodeError::BadMac => write!(f, "authentication failed"),
            DecodeError::TrailingBytes => write!(f, "bytes after the MAC"),
            DecodeError::UnknownKind { kind } => write!(f, "unknown message kind {kind}"),
            DecodeError::BadBody { what } => write!(f, "malformed body: {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a message could not be encoded: the caller's mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The key id is empty or longer than [`MAX_KEY_ID`].
    BadKeyId,
    /// The secret is shorter than [`MIN_SECRET`] bytes.
    SecretTooShort,
    /// The body exceeds 65,535 bytes or [`MAX_PROBES`] entries.
    TooLarge,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BadKeyId => write!(f, "key id must be 1 to {MAX_KEY_ID} bytes"),
            EncodeError::SecretTooShort => {
                write!(f, "shared secret must be at least {MIN_SECRET} bytes")
            }
            EncodeError::TooLarge => write!(f, "message too large"),
        }
    }
}

impl std::error::Error for EncodeError {}

fn put_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            out.push(4);
            out.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            out.push(6);
            out.extend_from_slice(&a.octets());
        }
    }
}

fn encode_body(body: &Body) -> Result<(Kind, Vec<u8>), EncodeError> {
    let mut out = Vec::new();
    let count = |n: usize| {
        if n > MAX_PROBES {
            Err(EncodeError::TooLarge)
        } else {
            u16::try_from(n).map_err(|_| EncodeError::TooLarge)
        }
    };
    let kind = match body {
        Body::Request { target, probes } => {
            put_ip(&mut out, *target);
            out.extend_from_slice(&count(probes.len())?.to_be_bytes());
            for p in probes {
                out.push(p.kind.0);
                out.extend_from_slice(&p.port.to_be_bytes());
            }
            Kind::REQUEST
        }
        Body::Results(results) => {
            out.extend_from_slice(&count(results.len())?.to_be_bytes());
            for r in results {
                out.push(r.spec.kind.0);
                out.extend_from_slice(&r.spec.port.to_be_bytes());
                out.push(r.verdict.0);
                let len = u16::try_from(r.evidence.len()).map_err(|_| EncodeError::TooLarge)?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&r.evidence);
            }
            Kind::RESULTS
        }
        Body::Refusal { code, observed } => {
            out.push(code.0);
            put_ip(&mut out, *observed);
            Kind::REFUSAL
        }
    };
    Ok((kind, out))
}

/// Encodes and authenticates a message with `secret`.
///
/// # Errors
///
/// [`EncodeError`] for a bad key id, a short secret or an oversized body.
pub fn encode(secret: &[u8], envelope: &Envelope) -> Result<Vec<u8>, EncodeError> {
    if secret.len() < MIN_SECRET {
        return Err(EncodeError::SecretTooShort);
    }
    let key_id = envelope.key_id.as_bytes();
    if key_id.is_empty() || key_id.len() > MAX_KEY_ID {
        return Err(EncodeError::BadKeyId);
    }
    let (kind, body) = encode_body(&envelope.body)?;
    let body_len = u16::try_from(body.len()).map_err(|_| EncodeError::TooLarge)?;
    let mut out = Vec::with_capacity(4 + 3 + key_id.len() + 8 + NONCE_LEN + 2 + body.len() + 32);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(kind.0);
    out.push(u8::try_from(key_id.len()).map_err(|_| EncodeError::BadKeyId)?);
    out.extend_from_slice(key_id);
    out.extend_from_slice(&envelope.unix_ms.to_be_bytes());
    out.extend_from_slice(&envelope.nonce);
    out.extend_from_slice(&body_len.to_be_bytes());
    out.extend_from_slice(&body);
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| EncodeError::SecretTooShort)?;
    mac.update(&out);
    out.extend_from_slice(&mac.finalize().into_bytes());
    Ok(out)
}

/// A cursor over untrusted bytes; every read is bounds-checked.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.b.get(self.at..end).ok_or(DecodeError::Truncated)?;
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.take(1)?.first().copied().ok_or(DecodeError::Truncated)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let s: [u8; 2] = self
            .take(2)?
            .try_into()
            .map_err(|_| DecodeError::Truncated)?;
        Ok(u16::from_be_bytes(s))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let s: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| DecodeError::Truncated)?;
        Ok(u64::from_be_bytes(s))
    }

    fn ip(&mut self) -> Result<IpAddr, DecodeError> {
        match self.u8()? {
            4 => {
                let o: [u8; 4] = self
                    .take(4)?
                    .try_into()
                    .map_err(|_| DecodeError::Truncated)?;
                Ok(IpAddr::V4(Ipv4Addr::from(o)))
            }
            6 => {
                let o: [u8; 16] = self
                    .take(16)?
                    .try_into()
                    .map_err(|_| DecodeError::Truncated)?;
                Ok(IpAddr::V6(Ipv6Addr::from(o)))
            }
            _ => Err(DecodeError::BadBody {
                what: "address family",
            }),
        }
    }

    fn done(&self) -> bool {
        self.at == self.b.len()
    }
}

/// The unauthenticated prefix of a message: enough to find the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// The message kind.
    pub kind: Kind,
    /// The key id.
    pub key_id: &'a str,
}

/// Reads the header without authenticating anything.
///
/// # Errors
///
/// [`DecodeError`] when the prefix is malformed.
pub fn peek_header(bytes: &[u8]) -> Result<Header<'_>, DecodeError> {
    let mut r = Reader { b: bytes, at: 0 };
    if r.take(4)? != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion { version });
    }
    let kind = Kind(r.u8()?);
    let len = usize::from(r.u8()?);
    if len == 0 || len > MAX_KEY_ID {
        return Err(DecodeError::BadKeyId);
    }
    let key_id = std::str::from_utf8(r.take(len)?).map_err(|_| DecodeError::BadKeyId)?;
    Ok(Header { kind, key_id })
}

/// Authenticates and decodes a message. `secret_for` maps a key id to its secret.
///
/// The MAC is checked before the body is interpreted, so an unauthenticated sender learns nothing
/// from the error beyond "not authenticated".
///
/// # Errors
///
/// [`DecodeError`] when the bytes are malformed, the key is unknown, or the MAC fails.
pub fn decode<'s>(
    bytes: &[u8],
    secret_for: impl FnOnce(&str) -> Option<&'s [u8]>,
) -> Result<Envelope, DecodeError> {
    let header = peek_header(bytes)?;
    let secret = secret_for(header.key_id).ok_or_else(|| DecodeError::UnknownKey {
        key_id: header.key_id.to_owned(),
    })?;
    let mac_at = bytes
        .len()
        .checked_sub(MAC_LEN)
        .ok_or(DecodeError::Truncated)?;
    let (signed, tag) = (
        bytes.get(..mac_at).ok_or(DecodeError::Truncated)?,
        bytes.get(mac_at..).ok_or(DecodeError::Truncated)?,
    );
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| DecodeError::BadMac)?;
    mac.update(signed);
    mac.verify_slice(tag).map_err(|_| DecodeError::BadMac)?;

    let mut r = Reader { b: signed, at: 0 };
    r.take(4 + 1 + 1 + 1 + header.key_id.len())?;
    let unix_ms = r.u64()?;
    let nonce: [u8; NONCE_LEN] = r
        .take(NONCE_LEN)?
        .try_into()
        .map_err(|_| DecodeError::Truncated)?;
    let body_len = usize::from(r.u16()?);
    let body_bytes = r.take(body_len)?;
    if !r.done() {
        return Err(DecodeError::TrailingBytes);
    }
    let body = decode_body(header.kind, body_bytes)?;
    Ok(Envelope {
        key_id: header.key_id.to_owned(),
        unix_ms,
        nonce,
        body,
    })
}

fn decode_body(kind: Kind, bytes: &[u8]) -> Result<Body, DecodeError> {
    let mut r = Reader { b: bytes, at: 0 };
    let body = match kind {
        Kind::REQUEST => {
            let target = r.ip()?;
            let n = usize::from(r.u16()?);
            if n > MAX_PROBES {
                return Err(DecodeError::BadBody {
                    what: "too many probes",
                });
            }
            let mut probes = Vec::with_capacity(n);
            for _ in 0..n {
                let kind = ProbeKind(r.u8()?);
                let port = r.u16()?;
                probes.push(ProbeSpec { kind, port });
            }
            Body::Request { target, probes }
        }
        Kind::RESULTS => {
            let n = usize::from(r.u16()?);
            if n > MAX_PROBES {
                return Err(DecodeError::BadBody {
                    what: "too many results",
                });
            }
            let mut results = Vec::with_capacity(n);
            for _ in 0..n {
                let kind = ProbeKind(r.u8()?);
                let port = r.u16()?;
                let verdict = Verdict(r.u8()?);
                let len = usize::from(r.u16()?);
                let evidence = r.take(len)?.to_vec();
                results.push(ProbeResult {
                    spec: ProbeSpec { kind, port },
                    verdict,
                    evidence,
                });
            }
            Body::Results(results)
        }
        Kind::REFUSAL => {
            let code = RefusalCode(r.u8()?);
            let observed = r.ip()?;
            Body::Refusal { code, observed }
        }
        Kind(kind) => return Err(DecodeError::UnknownKind { kind }),
    };
    if !r.done() {
        return Err(DecodeError::BadBody {
            what: "bytes after the body",
        });
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123";

    fn request() -> Envelope {
        Envelope {
            key_id: "site-a".into(),
            unix_ms: 1_700_000_000_000,
            nonce: [7; NONCE_LEN],
            body: Body::Request {
                target: "198.51.100.1".parse().unwrap(),
                probes: vec![
                    ProbeSpec {
                        kind: ProbeKind::SIP_UDP,
                        port: 5060,
                    },
                    ProbeSpec {
                        kind: ProbeKind::TCP,
                        port: 22,
                    },
                ],
            },
        }
    }

    #[test]
    fn every_body_round_trips() {
        let bodies = [
            request().body,
            Body::Results(vec![ProbeResult {
                spec: ProbeSpec {
                    kind: ProbeKind::UDP,
                    port: 10_000,
                },
                verdict: Verdict::REFUSED,
                evidence: b"icmp port unreachable".to_vec(),
            }]),
            Body::Refusal {
                code: RefusalCode::TARGET_MISMATCH,
                observed: "2001:db8::1".parse().unwrap(),
            },
        ];
        for body in bodies {
            let env = Envelope { body, ..request() };
            let bytes = encode(SECRET, &env).unwrap();
            assert_eq!(decode(&bytes, |_| Some(SECRET)), Ok(env));
        }
    }

    #[test]
    fn any_altered_byte_fails_authentication_or_framing() {
        let bytes = encode(SECRET, &request()).unwrap();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(decode(&b, |_| Some(SECRET)).is_err(), "byte {i}");
        }
    }

    #[test]
    fn wrong_secret_is_bad_mac_and_unknown_key_is_named() {
        let bytes = encode(SECRET, &request()).unwrap();
        assert_eq!(
            decode(&bytes, |_| Some(&b"another-secret-of-16"[..])),
            Err(DecodeError::BadMac)
        );
        assert_eq!(
            decode(&bytes, |_| None),
            Err(DecodeError::UnknownKey {
                key_id: "site-a".into()
            })
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = encode(SECRET, &request()).unwrap();
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n], |_| Some(SECRET)).is_err());
        }
    }

    #[test]
    fn short_secrets_and_bad_key_ids_are_refused_at_encode() {
        assert_eq!(
            encode(b"short", &request()),
            Err(EncodeError::SecretTooShort)
        );
        let env = Envelope {
            key_id: String::new(),
            ..request()
        };
        assert_eq!(encode(SECRET, &env), Err(EncodeError::BadKeyId));
    }
}
