//! Header lines as borrowed slices, with names classified once at parse time.

use crate::text::{eq_lower, lower8, next_list_item, trim};

/// The first eight bytes of each known lowercase header name, as little-endian words.
mod w {
    // Const-evaluated over literals only: an out-of-range index would fail to compile.
    #[allow(clippy::indexing_slicing)]
    const fn w(s: &[u8]) -> u64 {
        let mut v = 0u64;
        let mut i = 0;
        while i < 8 && i < s.len() {
            v |= (s[i] as u64) << (8 * i);
            i += 1;
        }
        v
    }
    pub(super) const TO: u64 = w(b"to");
    pub(super) const VIA: u64 = w(b"via");
    pub(super) const FROM: u64 = w(b"from");
    pub(super) const CSEQ: u64 = w(b"cseq");
    pub(super) const DATE: u64 = w(b"date");
    pub(super) const ROUTE: u64 = w(b"route");
    pub(super) const EVENT: u64 = w(b"event");
    pub(super) const ALLOW: u64 = w(b"allow");
    pub(super) const ACCEPT: u64 = w(b"accept");
    pub(super) const SERVER: u64 = w(b"server");
    pub(super) const CALL_ID: u64 = w(b"call-id");
    pub(super) const CONTACT: u64 = w(b"contact");
    pub(super) const EXPIRES: u64 = w(b"expires");
    pub(super) const SUBJECT: u64 = w(b"subject");
    pub(super) const REFER_TO: u64 = w(b"refer-to");
    pub(super) const IDENTITY: u64 = w(b"identity");
    pub(super) const SUPPORTE: u64 = w(b"supporte");
    pub(super) const USER_AGE: u64 = w(b"user-age");
    pub(super) const REFERRED: u64 = w(b"referred");
    pub(super) const CONTENT_: u64 = w(b"content-");
    pub(super) const MAX_FORW: u64 = w(b"max-forw");
    pub(super) const RECORD_R: u64 = w(b"record-r");
    pub(super) const ALLOW_EV: u64 = w(b"allow-ev");
    pub(super) const AUTHORIZ: u64 = w(b"authoriz");
    pub(super) const ACCEPT_C: u64 = w(b"accept-c");
    pub(super) const REJECT_C: u64 = w(b"reject-c");
    pub(super) const SESSION_: u64 = w(b"session-");
    pub(super) const WWW_AUTH: u64 = w(b"www-auth");
    pub(super) const PROXY_AU: u64 = w(b"proxy-au");
    pub(super) const REQUEST_: u64 = w(b"request-");
}

/// A header name the parser recognises, compact forms included (RFC 3261 §7.3.3 and the
/// extensions that register one). Anything else is [`HeaderName::Other`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderName {
    /// `Via` / `v`.
    Via,
    /// `From` / `f`.
    From,
    /// `To` / `t`.
    To,
    /// `Call-ID` / `i`.
    CallId,
    /// `CSeq`.
    CSeq,
    /// `Contact` / `m`.
    Contact,
    /// `Content-Length` / `l`.
    ContentLength,
    /// `Content-Type` / `c`.
    ContentType,
    /// `Content-Encoding` / `e`.
    ContentEncoding,
    /// `Max-Forwards`.
    MaxForwards,
    /// `Expires`.
    Expires,
    /// `User-Agent`.
    UserAgent,
    /// `Server`.
    Server,
    /// `Authorization`.
    Authorization,
    /// `Proxy-Authorization`.
    ProxyAuthorization,
    /// `WWW-Authenticate`.
    WwwAuthenticate,
    /// `Proxy-Authenticate`.
    ProxyAuthenticate,
    /// `Date`.
    Date,
    /// `Route`.
    Route,
    /// `Record-Route`.
    RecordRoute,
    /// `Subject` / `s`.
    Subject,
    /// `Supported` / `k`.
    Supported,
    /// `Event` / `o` (RFC 6665).
    Event,
    /// `Allow-Events` / `u` (RFC 6665).
    AllowEvents,
    /// `Refer-To` / `r` (RFC 3515).
    ReferTo,
    /// `Referred-By` / `b` (RFC 3892).
    ReferredBy,
    /// `Session-Expires` / `x` (RFC 4028).
    SessionExpires,
    /// `Accept-Contact` / `a` (RFC 3841).
    AcceptContact,
    /// `Reject-Contact` / `j` (RFC 3841).
    RejectContact,
    /// `Request-Disposition` / `d` (RFC 3841).
    RequestDisposition,
    /// `Identity` / `y` (RFC 8224).
    Identity,
    /// `Allow`.
    Allow,
    /// `Accept`.
    Accept,
    /// Any other name; compare the text with [`Header::name`].
    Other,
}

impl HeaderName {
    /// Classifies a header name, case-insensitively, compact forms included.
    #[must_use]
    pub fn classify(name: &[u8]) -> HeaderName {
        Self::classify_in(name, name.len())
    }

    /// Classifies the name that occupies the first `len` bytes of `line`; the bytes after it
    /// let the first word be loaded at once.
    #[inline]
    pub(crate) fn classify_in(line: &[u8], len: usize) -> HeaderName {
        let Some(name) = line.get(..len) else {
            return HeaderName::Other;
        };
        use HeaderName as H;
        if let [c] = name {
            return match c.to_ascii_lowercase() {
                b'v' => H::Via,
                b'f' => H::From,
                b't' => H::To,
                b'i' => H::CallId,
                b'm' => H::Contact,
                b'l' => H::ContentLength,
                b'c' => H::ContentType,
                b'e' => H::ContentEncoding,
                b's' => H::Subject,
                b'k' => H::Supported,
                b'o' => H::Event,
                b'u' => H::AllowEvents,
                b'r' => H::ReferTo,
                b'b' => H::ReferredBy,
                b'x' => H::SessionExpires,
                b'a' => H::AcceptContact,
                b'j' => H::RejectContact,
                b'd' => H::RequestDisposition,
                b'y' => H::Identity,
                _ => H::Other,
            };
        }
        // Dispatch on (length, first eight bytes lowercased): one load and one match per header;
        // names longer than eight bytes then compare their tail.
        let len = name.len();
        let head = match line.first_chunk::<8>() {
            // Keep the name's bytes only (little-endian: the low `len` bytes).
            Some(c) if len < 8 => u64::from_le_bytes(*c) & ((1u64 << (8 * len)) - 1),
            Some(c) => u64::from_le_bytes(*c),
            None => {
                let mut v = 0u64;
                for (i, b) in name.iter().enumerate() {
                    v |= u64::from(*b) << (8 * i);
                }
                v
            }
        };
        let head = lower8(head);
        let tail = |lit: &[u8]| eq_lower(name.get(8..).unwrap_or(&[]), lit.get(8..).unwrap_or(&[]));
        // A jump on the length, then at most four word comparisons.
        let is = |w: u64, h: HeaderName| if head == w { h } else { H::Other };
        let long = |w: u64, lit: &[u8], h: HeaderName| {
            if head == w && tail(lit) { h } else { H::Other }
        };
        match len {
            2 => is(w::TO, H::To),
            3 => is(w::VIA, H::Via),
            4 => match head {
                w::FROM => H::From,
                w::CSEQ => H::CSeq,
                w::DATE => H::Date,
                _ => H::Other,
            },
            5 => match head {
                w::ROUTE => H::Route,
                w::EVENT => H::Event,
                w::ALLOW => H::Allow,
                _ => H::Other,
            },
            6 => match head {
                w::ACCEPT => H::Accept,
                w::SERVER => H::Server,
                _ => H::Other,
            },
            7 => match head {
                w::CALL_ID => H::CallId,
                w::CONTACT => H::Contact,
                w::EXPIRES => H::Expires,
                w::SUBJECT => H::Subject,
                _ => H::Other,
            },
            8 => match head {
                w::REFER_TO => H::ReferTo,
                w::IDENTITY => H::Identity,
                _ => H::Other,
            },
            9 => long(w::SUPPORTE, b"supported", H::Supported),
            10 => long(w::USER_AGE, b"user-agent", H::UserAgent),
            11 => long(w::REFERRED, b"referred-by", H::ReferredBy),
            12 => match head {
                w::CONTENT_ => long(w::CONTENT_, b"content-type", H::ContentType),
                w::MAX_FORW => long(w::MAX_FORW, b"max-forwards", H::MaxForwards),
                w::RECORD_R => long(w::RECORD_R, b"record-route", H::RecordRoute),
                w::ALLOW_EV => long(w::ALLOW_EV, b"allow-events", H::AllowEvents),
                _ => H::Other,
            },
            13 => long(w::AUTHORIZ, b"authorization", H::Authorization),
            14 => match head {
                w::CONTENT_ => long(w::CONTENT_, b"content-length", H::ContentLength),
                w::ACCEPT_C => long(w::ACCEPT_C, b"accept-contact", H::AcceptContact),
                w::REJECT_C => long(w::REJECT_C, b"reject-contact", H::RejectContact),
                _ => H::Other,
            },
            15 => long(w::SESSION_, b"session-expires", H::SessionExpires),
            16 => match head {
                w::WWW_AUTH => long(w::WWW_AUTH, b"www-authenticate", H::WwwAuthenticate),
                w::CONTENT_ => long(w::CONTENT_, b"content-encoding", H::ContentEncoding),
                _ => H::Other,
            },
            18 => long(w::PROXY_AU, b"proxy-authenticate", H::ProxyAuthenticate),
            19 => match head {
                w::PROXY_AU => long(w::PROXY_AU, b"proxy-authorization", H::ProxyAuthorization),
                w::REQUEST_ => long(w::REQUEST_, b"request-disposition", H::RequestDisposition),
                _ => H::Other,
            },
            _ => H::Other,
        }
    }

    /// The canonical long name (e.g. `"Call-ID"`), or `None` for [`HeaderName::Other`].
    #[must_use]
    pub const fn canonical(self) -> Option<&'static str> {
        use HeaderName as H;
        Some(match self {
            H::Via => "Via",
            H::From => "From",
            H::To => "To",
            H::CallId => "Call-ID",
            H::CSeq => "CSeq",
            H::Contact => "Contact",
            H::ContentLength => "Content-Length",
            H::ContentType => "Content-Type",
            H::ContentEncoding => "Content-Encoding",
            H::MaxForwards => "Max-Forwards",
            H::Expires => "Expires",
            H::UserAgent => "User-Agent",
            H::Server => "Server",
            H::Authorization => "Authorization",
            H::ProxyAuthorization => "Proxy-Authorization",
            H::WwwAuthenticate => "WWW-Authenticate",
            H::ProxyAuthenticate => "Proxy-Authenticate",
            H::Date => "Date",
            H::Route => "Route",
            H::RecordRoute => "Record-Route",
            H::Subject => "Subject",
            H::Supported => "Supported",
            H::Event => "Event",
            H::AllowEvents => "Allow-Events",
            H::ReferTo => "Refer-To",
            H::ReferredBy => "Referred-By",
            H::SessionExpires => "Session-Expires",
            H::AcceptContact => "Accept-Contact",
            H::RejectContact => "Reject-Contact",
            H::RequestDisposition => "Request-Disposition",
            H::Identity => "Identity",
            H::Allow => "Allow",
            H::Accept => "Accept",
            H::Other => return None,
        })
    }

    /// Whether RFC 3261 §7.3.1 lets this header's values be combined with commas, so a single
    /// line may carry several values. Headers such as WWW-Authenticate or Date contain commas
    /// that are not separators and are excluded.
    #[must_use]
    pub const fn is_list(self) -> bool {
        use HeaderName as H;
        matches!(
            self,
            H::Via
                | H::Contact
                | H::Route
                | H::RecordRoute
                | H::Supported
                | H::AllowEvents
                | H::ContentEncoding
                | H::AcceptContact
                | H::RejectContact
                | H::RequestDisposition
                | H::Allow
                | H::Accept
        )
    }
}

/// One header line: borrowed name and value, like `httparse::Header`.
///
/// The value has leading and trailing whitespace removed; folded continuation lines (RFC 3261
/// §7.3.1) stay inside it as `CRLF SP…`, which every typed accessor treats as whitespace.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header<'b> {
    name: &'b [u8],
    value: &'b [u8],
    kind: HeaderName,
}

impl<'b> Header<'b> {
    /// An empty header, to initialise the storage array: `[Header::EMPTY; 64]`.
    pub const EMPTY: Header<'static> = Header {
        name: b"",
        value: b"",
        kind: HeaderName::Other,
    };

    pub(crate) fn new(name: &'b [u8], value: &'b [u8], kind: HeaderName) -> Self {
        Header { name, value, kind }
    }

    /// The name as received (a token; compact forms are not expanded).
    #[must_use]
    pub fn name(&self) -> &'b str {
        // The parser only stores names made of token characters, which are ASCII.
        core::str::from_utf8(self.name).unwrap_or("")
    }

    /// The recognised name, compact forms mapped to their long form.
    #[must_use]
    pub fn kind(&self) -> HeaderName {
        self.kind
    }

    /// The raw value, trimmed.
    #[must_use]
    pub fn value(&self) -> &'b [u8] {
        self.value
    }

    /// The value as text, if it is UTF-8.
    #[must_use]
    pub fn value_str(&self) -> Option<&'b str> {
        core::str::from_utf8(self.value).ok()
    }

    /// Whether this header has the given name (case-insensitive, compact forms included).
    #[must_use]
    pub fn is(&self, name: &str) -> bool {
        match HeaderName::classify(name.as_bytes()) {
            HeaderName::Other => self.name.eq_ignore_ascii_case(name.as_bytes()),
            k => self.kind == k,
        }
    }

    /// The comma-separated values of this line if the header is a list (see
    /// [`HeaderName::is_list`]), otherwise the whole value once.
    #[must_use]
    pub fn values(&self) -> Values<'b> {
        Values {
            rest: self.value,
            split: self.kind.is_list(),
        }
    }
}

impl core::fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Header")
            .field("name", &self.name())
            .field(
                "value",
                &core::str::from_utf8(self.value).unwrap_or("<non-utf8>"),
            )
            .finish()
    }
}

/// Iterator over the comma-separated values of a header line, each trimmed; empty elements
/// are skipped.
#[derive(Clone)]
pub struct Values<'b> {
    rest: &'b [u8],
    split: bool,
}

impl<'b> Iterator for Values<'b> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (item, rest) = if self.split {
                next_list_item(self.rest)
            } else {
                (self.rest, &[][..])
            };
            self.rest = rest;
            let item = trim(item);
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_forms_of_rfc3261_section_7_3_3() {
        for (c, long) in [
            ("i", HeaderName::CallId),
            ("m", HeaderName::Contact),
            ("e", HeaderName::ContentEncoding),
            ("l", HeaderName::ContentLength),
            ("c", HeaderName::ContentType),
            ("f", HeaderName::From),
            ("s", HeaderName::Subject),
            ("k", HeaderName::Supported),
            ("t", HeaderName::To),
            ("v", HeaderName::Via),
            ("o", HeaderName::Event),
            ("u", HeaderName::AllowEvents),
            ("V", HeaderName::Via),
        ] {
            assert_eq!(HeaderName::classify(c.as_bytes()), long, "{c}");
        }
    }

    #[test]
    fn long_names_round_trip_case_insensitively() {
        use HeaderName as H;
        for h in [
            H::Via,
            H::From,
            H::To,
            H::CallId,
            H::CSeq,
            H::Contact,
            H::ContentLength,
            H::ContentType,
            H::ContentEncoding,
            H::MaxForwards,
            H::Expires,
            H::UserAgent,
            H::Server,
            H::Authorization,
            H::ProxyAuthorization,
            H::WwwAuthenticate,
            H::ProxyAuthenticate,
            H::Date,
            H::Route,
            H::RecordRoute,
            H::Subject,
            H::Supported,
            H::Event,
            H::AllowEvents,
            H::ReferTo,
            H::ReferredBy,
            H::SessionExpires,
            H::AcceptContact,
            H::RejectContact,
            H::RequestDisposition,
            H::Identity,
            H::Allow,
            H::Accept,
        ] {
            let name = h.canonical().unwrap();
            assert_eq!(HeaderName::classify(name.as_bytes()), h, "{name}");
            let mut upper = [0u8; 32];
            let upper = &mut upper[..name.len()];
            upper.copy_from_slice(name.as_bytes());
            upper.make_ascii_uppercase();
            assert_eq!(HeaderName::classify(upper), h, "{name}");
        }
        assert_eq!(HeaderName::classify(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::classify(b""), HeaderName::Other);
    }
}
