//! What sensors tell the engine: one [`Observation`] per SIP message or PBX log event.
//!
//! Observations borrow from the sensor's buffers (a parsed datagram, a log line); the engine copies only
//! what it keeps as evidence, and only when it bans.

use std::net::IpAddr;
use std::time::Duration;

/// A point in time: milliseconds since the Unix epoch. The engine never reads a clock; every call carries
/// the time, so the daemon passes the wall clock, `replay` the capture's timestamps, and tests a virtual
/// clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// From milliseconds since the Unix epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// From seconds since the Unix epoch.
    pub const fn from_secs(s: u64) -> Self {
        Self(s.saturating_mul(1000))
    }

    /// From the time since the Unix epoch (a capture timestamp, `SystemTime::duration_since(UNIX_EPOCH)`),
    /// saturating.
    pub fn from_unix(since_epoch: Duration) -> Self {
        Self(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This time plus `d`, saturating.
    pub fn plus(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// One thing a sensor saw, about one remote peer.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// When it was seen.
    pub time: Timestamp,
    /// The remote party: the source of a request reaching the PBX, the destination of the PBX's response,
    /// or the address a PBX log line names.
    pub peer: IpAddr,
    /// What was seen.
    pub event: Event<'a>,
}

/// The kinds of observation.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A SIP request from the peer to the PBX.
    Request(Request<'a>),
    /// A SIP response from the PBX to the peer.
    Response(Response<'a>),
    /// A SIP response from the peer to the PBX (to the PBX's OPTIONS qualify, or a carrier's answer to a
    /// call the PBX placed): counted for rate, and matched to a call on a trunk by its Call-ID.
    PeerResponse {
        /// Status code.
        status: u16,
        /// The Call-ID header (empty when missing).
        call_id: &'a [u8],
        /// The CSeq number (0 when missing).
        cseq: u32,
    },
    /// A SIP request from the PBX to the peer (its call to a carrier, its BYE, a qualify OPTIONS). It says
    /// nothing about the peer's behaviour; the call policy uses it to count calls the PBX places on a
    /// trunk and to see calls end when the PBX hangs up.
    PbxRequest(Request<'a>),
    /// A packet from the peer that is not SIP at all or could not be parsed.
    Unparseable,
    /// A PBX log line about the peer.
    Log(LogEvent<'a>),
}

/// The facts of a SIP request that detection needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// The method, as on the wire (`REGISTER`, `INVITE`, …).
    pub method: &'a [u8],
    /// The user part of the From URI.
    pub from_user: Option<&'a [u8]>,
    /// The display name of the From header.
    pub from_display: Option<&'a [u8]>,
    /// The user part of the To URI (for REGISTER, the account being registered).
    pub to_user: Option<&'a [u8]>,
    /// The user part of the Request-URI (for INVITE, the dialled number).
    pub uri_user: Option<&'a [u8]>,
    /// The User-Agent header.
    pub user_agent: Option<&'a [u8]>,
    /// The Call-ID header.
    pub call_id: &'a [u8],
    /// The CSeq number.
    pub cseq: u32,
    /// The username of the Authorization or Proxy-Authorization header, when the request carries
    /// credentials (an empty username still counts as credentials).
    pub credentials: Option<&'a [u8]>,
    /// How many anomalies the parser flagged in this message (0 for a clean message).
    pub anomalies: u32,
    /// Whether the To header has a tag: an in-dialog request (re-INVITE, BYE), not a new call.
    pub to_tag: bool,
}

impl<'a> Request<'a> {
    /// The user this request is about: the credentials' username, else the To user for REGISTER, else the
    /// Request-URI user, else the From user.
    pub fn subject_user(&self) -> Option<&'a [u8]> {
        self.credentials
            .filter(|u| !u.is_empty())
            .or(if self.method.eq_ignore_ascii_case(b"REGISTER") {
                self.to_user
            } else {
                None
            })
            .or(self.uri_user)
            .or(self.to_user)
            .or(self.from_user)
    }
}

/// The facts of the PBX's SIP response that detection needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Response<'a> {
    /// Status code.
    pub status: u16,
    /// The Call-ID header, matching the request's.
    pub call_id: &'a [u8],
    /// The CSeq number, matching the request's.
    pub cseq: u32,
    /// The user part of the To URI.
    pub to_user: Option<&'a [u8]>,
    /// Whether a 401/407 challenge says `stale=true`: the credentials were right but the nonce expired, so
    /// this is a new challenge, not a failure (RFC 2617 §3.2.1).
    pub stale: bool,
}

/// What a PBX log line reports about a peer.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum LogEvent<'a> {
    /// Credentials for `user` were wrong.
    AuthFailed {
        /// The account, when the line names it.
        user: Option<&'a [u8]>,
    },
    /// `user` does not exist (no matching peer or endpoint).
    UnknownUser {
        /// The account, when the line names it.
        user: Option<&'a [u8]>,
    },
    /// `user` authenticated successfully (a registration succeeded).
    AuthSucceeded {
        /// The account, when the line names it.
        user: Option<&'a [u8]>,
    },
    /// The PBX rejected the peer by an ACL or policy.
    Rejected {
        /// The account, when the line names it.
        user: Option<&'a [u8]>,
    },
    /// The PBX logged a known scanner.
    Scanner {
        /// The User-Agent the line names.
        user_agent: Option<&'a [u8]>,
    },
}
