//! STUN for pbxguard's exposure check: an RFC 5389 message codec with the RFC 5780 NAT-behaviour
//! attributes, and sans-IO state machines for NAT behaviour discovery (client) and for answering
//! Binding requests (server).
//!
//! Nothing here opens a socket or reads a clock. Parsing borrows the datagram
//! ([`Message::parse`]); building writes into a caller-owned buffer ([`MessageBuilder`]). The state
//! machines take datagrams and an explicit `now` through `handle_*` calls and hand out datagrams to
//! send and deadlines through `poll_*` calls, so the same code runs over real sockets and in a
//! simulated network with a virtual clock.

pub mod attr;
mod crc;
pub mod discovery;
pub mod lifetime;
pub mod message;
pub mod server;
pub mod transaction;

pub use attr::{AttrType, AttributeError, ChangeRequest, ErrorCode};
pub use message::{
    Attributes, Class, DecodeError, EncodeError, Fingerprint, HEADER_LEN, IntegrityError,
    MAGIC_COOKIE, Message, MessageBuilder, Method, RawAttribute, TransactionId, looks_like_stun,
};
pub use transaction::{LocalSocket, Probe, RetransmitConfig, Transmit};
