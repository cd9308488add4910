//! Building a final response for inline rejection (RFC 3261 §8.2.6).
//!
//! ```
//! use pbxguard_sip::{Header, Message, StatusCode, response};
//!
//! let req = b"REGISTER sip:pbx.example.com SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1;rport\r\n\
//!     From: <sip:100@pbx.example.com>;tag=abc\r\n\
//!     To: <sip:100@pbx.example.com>\r\n\
//!     Call-ID: 1234@198.51.100.7\r\n\
//!     CSeq: 1 REGISTER\r\n\
//!     Content-Length: 0\r\n\r\n";
//! let mut headers = [Header::EMPTY; 16];
//! let msg = Message::parse_datagram(req, &mut headers).unwrap();
//! let mut out = [0u8; 1024];
//! let n = response::build(&msg, StatusCode::FORBIDDEN, "Forbidden", "pbxguard1", &mut out).unwrap();
//! assert!(out[..n].starts_with(b"SIP/2.0 403 Forbidden\r\nVia: SIP/2.0/UDP 198.51.100.7"));
//! assert!(out[..n].ends_with(b"CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"));
//! ```

use core::fmt;

use crate::header::HeaderName;
use crate::message::Message;
use crate::method::{Method, StatusCode};
use crate::name_addr::NameAddr;
use crate::text::is_token;

/// Why a response could not be built.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    /// The message is a response or its start line could not be read.
    NotARequest,
    /// ACK requests are never answered (RFC 3261 §17.2.1).
    AckIsNotAnswered,
    /// The request lacks a header that the response must copy.
    MissingHeader {
        /// The header's canonical name.
        name: &'static str,
    },
    /// The reason phrase contains CR, LF or another control character.
    InvalidReason,
    /// The tag is empty or not a token.
    InvalidTag,
    /// The output buffer is too small.
    BufferTooSmall,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NotARequest => f.write_str("only requests can be answered"),
            BuildError::AckIsNotAnswered => f.write_str("ACK requests are never answered"),
            BuildError::MissingHeader { name } => write!(f, "request has no {name} header"),
            BuildError::InvalidReason => f.write_str("reason phrase contains control characters"),
            BuildError::InvalidTag => f.write_str("To tag is not a token"),
            BuildError::BufferTooSmall => f.write_str("output buffer too small"),
        }
    }
}

impl core::error::Error for BuildError {}

struct Writer<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, b: &[u8]) -> Result<(), BuildError> {
        let end = self
            .pos
            .checked_add(b.len())
            .ok_or(BuildError::BufferTooSmall)?;
        self.out
            .get_mut(self.pos..end)
            .ok_or(BuildError::BufferTooSmall)?
            .copy_from_slice(b);
        self.pos = end;
        Ok(())
    }

    /// Copies a received header value, turning the CR/LF of folded lines into spaces
    /// (equivalent per RFC 3261 §7.3.1) so no received byte can end a line early.
    fn put_value(&mut self, v: &[u8]) -> Result<(), BuildError> {
        let start = self.pos;
        self.put(v)?;
        for b in self.out.get_mut(start..self.pos).into_iter().flatten() {
            if matches!(*b, b'\r' | b'\n') {
                *b = b' ';
            }
        }
        Ok(())
    }

    fn put_u16(&mut self, n: u16) -> Result<(), BuildError> {
        let mut buf = [0u8; 5];
        let mut i = buf.len();
        let mut n = n;
        loop {
            i -= 1;
            if let Some(d) = buf.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.put(buf.get(i..).unwrap_or(&[]))
    }
}

/// Writes a response to `req` into `out` and returns its length: status line, every Via in
/// order, From, To (with `;tag=to_tag` added unless the request's To already has a tag or the
/// status is 100), Call-ID, CSeq, `Content-Length: 0` (RFC 3261 §8.2.6.2).
///
/// # Errors
///
/// [`BuildError`]: the message is not an answerable request, lacks Via/From/To/Call-ID/CSeq,
/// the reason or tag is unsafe to send, or `out` is too small.
pub fn build(
    req: &Message<'_, '_>,
    status: StatusCode,
    reason: &str,
    to_tag: &str,
    out: &mut [u8],
) -> Result<usize, BuildError> {
    let method = req.method().ok_or(BuildError::NotARequest)?;
    if method == Method::ACK {
        return Err(BuildError::AckIsNotAnswered);
    }
    if reason.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(BuildError::InvalidReason);
    }
    if to_tag.is_empty() || !to_tag.bytes().all(is_token) {
        return Err(BuildError::InvalidTag);
    }
    let find = |kind: HeaderName| {
        req.headers()
            .iter()
            .find(|h| h.kind() == kind)
            .map(|h| h.value())
            .ok_or(BuildError::MissingHeader {
                name: kind.canonical().unwrap_or(""),
            })
    };
    let from = find(HeaderName::From)?;
    let to = find(HeaderName::To)?;
    let call_id = find(HeaderName::CallId)?;
    let cseq = find(HeaderName::CSeq)?;
    find(HeaderName::Via)?;

    let mut w = Writer { out, pos: 0 };
    w.put(b"SIP/2.0 ")?;
    w.put_u16(status.as_u16())?;
    w.put(b" ")?;
    w.put(reason.as_bytes())?;
    w.put(b"\r\n")?;
    for via in req.headers().iter().filter(|h| h.kind() == HeaderName::Via) {
        w.put(b"Via: ")?;
        w.put_value(via.value())?;
        w.put(b"\r\n")?;
    }
    w.put(b"From: ")?;
    w.put_value(from)?;
    w.put(b"\r\nTo: ")?;
    w.put_value(to)?;
    let has_tag = core::str::from_utf8(to)
        .ok()
        .and_then(|t| NameAddr::parse(t).ok())
        .is_some_and(|na| na.tag().is_some());
    if !has_tag && status != StatusCode::TRYING {
        w.put(b";tag=")?;
        w.put(to_tag.as_bytes())?;
    }
    w.put(b"\r\nCall-ID: ")?;
    w.put_value(call_id)?;
    w.put(b"\r\nCSeq: ")?;
    w.put_value(cseq)?;
    w.put(b"\r\nContent-Length: 0\r\n\r\n")?;
    Ok(w.pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Header;

    const REQ: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1, SIP/2.0/TCP 192.0.2.2;branch=z9hG4bK2\r\n\
Via: SIP/2.0/UDP 192.0.2.3\r\n ;branch=z9hG4bK3\r\n\
f: <sip:alice@example.com>;tag=a1\r\n\
t: <sip:bob@example.com>\r\n\
i: call-1\r\n\
CSeq: 7 INVITE\r\n\
l: 0\r\n\r\n";

    fn parse_and_build(
        req: &[u8],
        status: StatusCode,
        out: &mut [u8],
    ) -> Result<usize, BuildError> {
        let mut h = [Header::EMPTY; 16];
        let m = Message::parse_datagram(req, &mut h).unwrap();
        build(&m, status, "Forbidden", "g1", out)
    }

    #[test]
    fn copies_vias_in_order_and_adds_to_tag_rfc3261_8_2_6_2() {
        let mut out = [0u8; 512];
        let n = parse_and_build(REQ, StatusCode::FORBIDDEN, &mut out).unwrap();
        let expected: &[u8] = b"SIP/2.0 403 Forbidden\r\n\
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1, SIP/2.0/TCP 192.0.2.2;branch=z9hG4bK2\r\n\
Via: SIP/2.0/UDP 192.0.2.3   ;branch=z9hG4bK3\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>;tag=g1\r\n\
Call-ID: call-1\r\n\
CSeq: 7 INVITE\r\n\
Content-Length: 0\r\n\r\n";
        assert_eq!(
            &out[..n],
            expected,
            "{}",
            std::string::String::from_utf8_lossy(&out[..n])
        );
        // The response parses back cleanly.
        let mut h = [Header::EMPTY; 16];
        let r = Message::parse_datagram(&out[..n], &mut h).unwrap();
        assert_eq!(r.status(), Some(StatusCode::FORBIDDEN));
        assert_eq!(r.to().unwrap().tag(), Some("g1"));
        assert!(r.validate().is_empty(), "{:?}", r.validate());
    }

    #[test]
    fn existing_to_tag_is_kept_and_100_gets_none() {
        let req = b"BYE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\n\r\n";
        let mut out = [0u8; 512];
        let n = parse_and_build(req, StatusCode::OK, &mut out).unwrap();
        assert!(out[..n].windows(20).any(|w| w == b"To: <sip:b@h>;tag=2\r"));
        let n = parse_and_build(REQ, StatusCode::TRYING, &mut out).unwrap();
        assert!(
            out[..n]
                .windows(26)
                .any(|w| w == b"To: <sip:bob@example.com>\r")
        );
    }

    #[test]
    fn refuses_what_it_cannot_answer_safely() {
        let mut out = [0u8; 512];
        let resp = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n";
        assert_eq!(
            parse_and_build(resp, StatusCode::OK, &mut out),
            Err(BuildError::NotARequest)
        );
        let ack = b"ACK sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@h>\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 ACK\r\n\r\n";
        assert_eq!(
            parse_and_build(ack, StatusCode::OK, &mut out),
            Err(BuildError::AckIsNotAnswered)
        );
        let no_cseq = b"OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@h>\r\nTo: <sip:b@h>\r\nCall-ID: c\r\n\r\n";
        assert_eq!(
            parse_and_build(no_cseq, StatusCode::OK, &mut out),
            Err(BuildError::MissingHeader { name: "CSeq" })
        );
        let mut small = [0u8; 40];
        assert_eq!(
            parse_and_build(REQ, StatusCode::OK, &mut small),
            Err(BuildError::BufferTooSmall)
        );
        let mut h = [Header::EMPTY; 16];
        let m = Message::parse_datagram(REQ, &mut h).unwrap();
        assert_eq!(
            build(&m, StatusCode::OK, "OK\r\nX: y", "t", &mut out),
            Err(BuildError::InvalidReason)
        );
        assert_eq!(
            build(&m, StatusCode::OK, "OK", "a b", &mut out),
            Err(BuildError::InvalidTag)
        );
    }
}
