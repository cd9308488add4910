//! `pbxguard-sip`: a zero-copy, allocation-free SIP message parser in the shape of `httparse`,
//! built for a security guard that must keep up with floods and must never crash on attacker bytes.
//!
//! * [`Message::parse_datagram`] parses one message from a UDP datagram; [`StreamParser`] frames
//!   messages out of a TCP/TLS byte stream (`Status::Partial` means "need more bytes", RFC 5626
//!   CRLF keep-alives are recognised as [`Frame::KeepAlive`]); with a per-connection
//!   [`StreamCursor`], [`StreamParser::parse_resume`] stays linear when bytes trickle in.
//! * Header storage is supplied by the caller (`&mut [Header]`, like `httparse`); nothing is
//!   copied and nothing is allocated: the crate is `#![no_std]` without `alloc`.
//! * Malformation is data: the parser records [`Anomaly`] facts in an [`Anomalies`] set and still
//!   exposes everything it could read. [`Message::validate`] adds the header-level checks
//!   (Via, From/To, CSeq, scalar ranges, quoting, …) in one linear pass.
//! * Typed accessors ([`Message::via`], [`Message::from`], [`Message::cseq`],
//!   [`Message::authorization`], …) parse header values on demand, folding (LWS) included.
//! * [`sdp::parse`] reads connection addresses and media ports from an SDP body;
//!   [`response::build`] writes an RFC 3261 §8.2.6 final response into a caller buffer.
//!
//! ```
//! use pbxguard_sip::{Header, Message, Method};
//!
//! let buf = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
//!     From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n\
//!     To: <sip:bob@example.com>\r\n\
//!     Call-ID: a84b4c76e66710\r\n\
//!     CSeq: 1 OPTIONS\r\n\
//!     User-Agent: friendly-scanner\r\n\
//!     Content-Length: 0\r\n\r\n";
//! let mut headers = [Header::EMPTY; 32];
//! let msg = Message::parse_datagram(buf, &mut headers).unwrap();
//! assert_eq!(msg.method(), Some(Method::OPTIONS));
//! assert_eq!(msg.from().unwrap().uri.user, Some("alice"));
//! assert_eq!(msg.via().unwrap().branch(), Some("z9hG4bK776asdhds"));
//! assert_eq!(msg.user_agent(), Some(&b"friendly-scanner"[..]));
//! assert!(msg.validate().is_empty());
//! ```
#![no_std]

#[cfg(test)]
extern crate std;

mod anomaly;
mod auth;
pub mod facts;
mod header;
mod message;
mod method;
mod name_addr;
mod parse;
pub mod response;
pub mod sdp;
mod text;
mod typed;
mod uri;
mod via;

pub use anomaly::{Anomalies, Anomaly};
pub use auth::{AuthHeader, AuthParams};
pub use header::{Header, HeaderName, HeaderSlots, Values};
pub use message::{Message, StartLine};
pub use method::{Method, StatusCode};
pub use name_addr::{Contact, NameAddr};
pub use parse::{Error, Frame, KeepAlive, Limits, Status, StreamCursor, StreamParser};
pub use text::{Params, percent_decode};
pub use typed::{CSeq, ContentType};
pub use uri::{Host, Scheme, Uri};
pub use via::{Rport, Transport, Via};
