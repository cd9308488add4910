//! Wire enums as open newtypes: unknown methods and status codes survive parsing.

use core::fmt;

/// A SIP request method (RFC 3261 §7.1, `Method = INVITEm / … / extension-method`).
///
/// Methods are case-sensitive tokens; any token is kept as-is, so extension methods survive.
/// Compare with the named constants: `msg.method() == Some(Method::REGISTER)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method<'b>(&'b str);

impl<'b> Method<'b> {
    /// INVITE (RFC 3261).
    pub const INVITE: Method<'static> = Method("INVITE");
    /// ACK (RFC 3261).
    pub const ACK: Method<'static> = Method("ACK");
    /// BYE (RFC 3261).
    pub const BYE: Method<'static> = Method("BYE");
    /// CANCEL (RFC 3261).
    pub const CANCEL: Method<'static> = Method("CANCEL");
    /// OPTIONS (RFC 3261).
    pub const OPTIONS: Method<'static> = Method("OPTIONS");
    /// REGISTER (RFC 3261).
    pub const REGISTER: Method<'static> = Method("REGISTER");
    /// PRACK (RFC 3262).
    pub const PRACK: Method<'static> = Method("PRACK");
    /// SUBSCRIBE (RFC 6665).
    pub const SUBSCRIBE: Method<'static> = Method("SUBSCRIBE");
    /// NOTIFY (RFC 6665).
    pub const NOTIFY: Method<'static> = Method("NOTIFY");
    /// PUBLISH (RFC 3903).
    pub const PUBLISH: Method<'static> = Method("PUBLISH");
    /// INFO (RFC 6086).
    pub const INFO: Method<'static> = Method("INFO");
    /// REFER (RFC 3515).
    pub const REFER: Method<'static> = Method("REFER");
    /// MESSAGE (RFC 3428).
    pub const MESSAGE: Method<'static> = Method("MESSAGE");
    /// UPDATE (RFC 3311).
    pub const UPDATE: Method<'static> = Method("UPDATE");

    /// Wraps a method token. The parser only produces tokens (RFC 3261 §25.1); this
    /// constructor does not check, so it can name anything for comparisons.
    #[must_use]
    pub const fn new(token: &'b str) -> Self {
        Method(token)
    }

    /// The method as sent.
    #[must_use]
    pub const fn as_str(&self) -> &'b str {
        self.0
    }
}

impl fmt::Debug for Method<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Method({})", self.0)
    }
}

impl fmt::Display for Method<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A SIP status code (RFC 3261 §7.2, §21): always three digits, 100..=999.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

impl StatusCode {
    /// 100 Trying.
    pub const TRYING: StatusCode = StatusCode(100);
    /// 180 Ringing.
    pub const RINGING: StatusCode = StatusCode(180);
    /// 200 OK.
    pub const OK: StatusCode = StatusCode(200);
    /// 400 Bad Request.
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    /// 401 Unauthorized.
    pub const UNAUTHORIZED: StatusCode = StatusCode(401);
    /// 403 Forbidden.
    pub const FORBIDDEN: StatusCode = StatusCode(403);
    /// 404 Not Found.
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    /// 407 Proxy Authentication Required.
    pub const PROXY_AUTHENTICATION_REQUIRED: StatusCode = StatusCode(407);
    /// 408 Request Timeout.
    pub const REQUEST_TIMEOUT: StatusCode = StatusCode(408);
    /// 480 Temporarily Unavailable.
    pub const TEMPORARILY_UNAVAILABLE: StatusCode = StatusCode(480);
    /// 486 Busy Here.
    pub const BUSY_HERE: StatusCode = StatusCode(486);
    /// 500 Server Internal Error.
    pub const SERVER_INTERNAL_ERROR: StatusCode = StatusCode(500);
    /// 503 Service Unavailable.
    pub const SERVICE_UNAVAILABLE: StatusCode = StatusCode(503);
    /// 603 Decline.
    pub const DECLINE: StatusCode = StatusCode(603);

    /// A status code, if `code` has three digits (100..=999).
    #[must_use]
    pub const fn new(code: u16) -> Option<Self> {
        if code >= 100 && code <= 999 {
            Some(StatusCode(code))
        } else {
            None
        }
    }

    /// The numeric value.
    #[must_use]
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// The class digit: 1 provisional, 2 success, 3 redirect, 4 client, 5 server, 6 global.
    #[must_use]
    pub const fn class(self) -> u8 {
        (self.0 / 100) as u8
    }

    /// Whether this is a final response (≥ 200).
    #[must_use]
    pub const fn is_final(self) -> bool {
        self.0 >= 200
    }

    /// The RFC 3261 §21 reason phrase for well-known codes.
    #[must_use]
    pub const fn canonical_reason(self) -> Option<&'static str> {
        Some(match self.0 {
            100 => "Trying",
            180 => "Ringing",
            181 => "Call Is Being Forwarded",
            182 => "Queued",
            183 => "Session Progress",
            200 => "OK",
            202 => "Accepted",
            301 => "Moved Permanently",
            302 => "Moved Temporarily",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            407 => "Proxy Authentication Required",
            408 => "Request Timeout",
            413 => "Request Entity Too Large",
            420 => "Bad Extension",
            480 => "Temporarily Unavailable",
            481 => "Call/Transaction Does Not Exist",
            482 => "Loop Detected",
            483 => "Too Many Hops",
            486 => "Busy Here",
            487 => "Request Terminated",
            488 => "Not Acceptable Here",
            500 => "Server Internal Error",
            501 => "Not Implemented",
            503 => "Service Unavailable",
            504 => "Server Time-out",
            505 => "Version Not Supported",
            600 => "Busy Everywhere",
            603 => "Decline",
            604 => "Does Not Exist Anywhere",
            606 => "Not Acceptable",
            _ => return None,
        })
    }
}

impl fmt::Debug for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusCode({})", self.0)
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
