//! Malformation as data: named facts the engine can count.

use core::fmt;

/// One way in which a message deviates from RFC 3261 (or from the configured [`crate::Limits`]).
///
/// Each variant is a fact about the bytes that were received; the parser never stops at the
/// first one. The same enum is the error type of the typed header parsers (e.g.
/// [`crate::Via::parse`]), so a failed accessor and [`crate::Message::validate`] name the same
/// fact.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Anomaly {
    /// The start line is not `Method SP Request-URI SP SIP-Version` nor
    /// `SIP-Version SP Status-Code SP Reason-Phrase` (RFC 3261 §7.1, §7.2): extra or trailing
    /// whitespace, missing parts, bytes outside the grammar.
    BadStartLine = 0,
    /// The SIP-Version is well-formed but not `SIP/2.0` (RFC 3261 §7.1).
    UnsupportedVersion,
    /// The Status-Code is not exactly three digits (RFC 3261 §7.2).
    BadStatusCode,
    /// The Request-URI does not parse, is enclosed in `<>`, or carries a `?headers` part,
    /// which RFC 3261 §19.1.1 forbids in a Request-URI.
    BadRequestUri,
    /// A line ends in a bare LF instead of CRLF (RFC 3261 §7).
    BareLineFeed,
    /// A NUL byte appears in the start line or header section outside a quoted-pair.
    NulInHeaders,
    /// A header line has no colon or its name is not a token (RFC 3261 §7.3.1).
    MalformedHeaderLine,
    /// The header section does not end with an empty line (truncated message).
    UnterminatedHeaders,
    /// The message is larger than [`crate::Limits::max_message_size`]; only the first bytes
    /// were examined.
    Oversize,
    /// More header lines than the caller's storage or [`crate::Limits::max_headers`] allow; the
    /// rest were skipped (but still scanned for framing).
    TooManyHeaders,
    /// A line is longer than [`crate::Limits::max_line_length`].
    LineTooLong,
    /// A Content-Length value is not a decimal number (e.g. negative, RFC 3261 §20.14).
    InvalidContentLength,
    /// More than one Content-Length header is present.
    DuplicateContentLength,
    /// The body is shorter than Content-Length announces (RFC 3261 §18.3).
    ContentLengthMismatch,
    /// A request lacks one of To, From, CSeq, Call-ID, Max-Forwards or Via (RFC 3261 §8.1.1),
    /// or a response lacks one of To, From, CSeq, Call-ID or Via.
    MissingRequiredHeader,
    /// A single-valued header (To, From, CSeq, Call-ID, Max-Forwards) appears more than once.
    DuplicateHeader,
    /// A Via value does not match `sent-protocol LWS sent-by *(SEMI via-params)` (RFC 3261 §20.42).
    BadVia,
    /// The From value is not a name-addr or addr-spec with parameters (RFC 3261 §20.20).
    BadFrom,
    /// The To value is not a name-addr or addr-spec with parameters (RFC 3261 §20.39).
    BadTo,
    /// A Contact value is malformed, e.g. an addr-spec with `?` or `,` outside `<>` (§20.10).
    BadContact,
    /// The CSeq value is not `1*DIGIT LWS Method` (RFC 3261 §20.16).
    BadCSeq,
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
    CSeqMethodMismatch,
    /// The Call-ID is empty or contains bytes outside `word ["@" word]` (RFC 3261 §20.8).
    BadCallId,
    /// Max-Forwards, Expires or a similar header is not a plain decimal number.
    BadNumber,
    /// A number is larger than its grammar allows: CSeq ≥ 2^31, Max-Forwards > 255, Expires or
    /// Content-Length ≥ 2^32 (RFC 3261 §8.1.1.5, §20.19, §20.22).
    ValueOutOfRange,
    /// A quoted-string is not closed.
    UnbalancedQuotes,
    /// A `;` with no parameter name after it (e.g. `;;`).
    EmptyParameter,
    /// A Date header is not an RFC 1123 date in GMT (RFC 3261 §20.17).
    BadDate,
    /// An Authorization / WWW-Authenticate family value does not match
    /// `auth-scheme LWS auth-param *(COMMA auth-param)` (RFC 3261 §25.1).
    BadAuthorization,
    /// The Content-Type value is not `type "/" subtype *(;param)` (RFC 3261 §20.15).
    BadContentType,
}

impl Anomaly {
    /// Every variant, in declaration order; handy for metrics tables.
    pub const ALL: [Anomaly; 30] = [
        Anomaly::BadStartLine,
        Anomaly::UnsupportedVersion,
        Anomaly::BadStatusCode,
        Anomaly::BadRequestUri,
        Anomaly::BareLineFeed,
        Anomaly::NulInHeaders,
        Anomaly::MalformedHeaderLine,
        Anomaly::UnterminatedHeaders,
        Anomaly::Oversize,
        Anomaly::TooManyHeaders,
        Anomaly::LineTooLong,
        Anomaly::InvalidContentLength,
        Anomaly::DuplicateContentLength,
        Anomaly::ContentLengthMismatch,
        Anomaly::MissingRequiredHeader,
        Anomaly::DuplicateHeader,
        Anomaly::BadVia,
        Anomaly::BadFrom,
        Anomaly::BadTo,
        Anomaly::BadContact,
        Anomaly::BadCSeq,
        Anomaly::CSeqMethodMismatch,
        Anomaly::BadCallId,
        Anomaly::BadNumber,
        Anomaly::ValueOutOfRange,
        Anomaly::UnbalancedQuotes,
        Anomaly::EmptyParameter,
        Anomaly::BadDate,
        Anomaly::BadAuthorization,
        Anomaly::BadContentType,
    ];

    /// A stable snake_case name, suitable as a metric label.
    pub const fn name(self) -> &'static str {
        match self {
            Anomaly::BadStartLine => "bad_start_line",
            Anomaly::UnsupportedVersion => "unsupported_version",
            Anomaly::BadStatusCode => "bad_status_code",
            Anomaly::BadRequestUri => "bad_request_uri",
            Anomaly::BareLineFeed => "bare_line_feed",
            Anomaly::NulInHeaders => "nul_in_headers",
            Anomaly::MalformedHeaderLine => "malformed_header_line",
            Anomaly::UnterminatedHeaders => "unterminated_headers",
            Anomaly::Oversize => "oversize",
            Anomaly::TooManyHeaders => "too_many_headers",
            Anomaly::LineTooLong => "line_too_long",
            Anomaly::InvalidContentLength => "invalid_content_length",
            Anomaly::DuplicateContentLength => "duplicate_content_length",
            Anomaly::ContentLengthMismatch => "content_length_mismatch",
            Anomaly::MissingRequiredHeader => "missing_required_header",
            Anomaly::DuplicateHeader => "duplicate_header",
            Anomaly::BadVia => "bad_via",
            Anomaly::BadFrom => "bad_from",
            Anomaly::BadTo => "bad_to",
            Anomaly::BadContact => "bad_contact",
            Anomaly::BadCSeq => "bad_cseq",
            Anomaly::CSeqMethodMismatch => "cseq_method_mismatch",
            Anomaly::BadCallId => "bad_call_id",
            Anomaly::BadNumber => "bad_number",
            Anomaly::ValueOutOfRange => "value_out_of_range",
            Anomaly::UnbalancedQuotes => "unbalanced_quotes",
            Anomaly::EmptyParameter => "empty_parameter",
            Anomaly::BadDate => "bad_date",
            Anomaly::BadAuthorization => "bad_authorization",
            Anomaly::BadContentType => "bad_content_type",
        }
    }

    const fn bit(self) -> u64 {
        1u64 << (self as u8)
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl core::error::Error for Anomaly {}

/// A set of [`Anomaly`] values (a 64-bit bitset: copying it is free, no allocation).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Anomalies(u64);

impl Anomalies {
    /// The empty set.
    pub const EMPTY: Anomalies = Anomalies(0);

    /// Adds `a` to the set.
    pub fn insert(&mut self, a: Anomaly) {
        self.0 |= a.bit();
    }

    /// Whether `a` is in the set.
    #[must_use]
    pub const fn contains(self, a: Anomaly) -> bool {
        self.0 & a.bit() != 0
    }

    /// Whether no anomaly was seen.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of distinct anomalies in the set.
    #[must_use]
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The union of two sets.
    #[must_use]
    pub const fn union(self, other: Anomalies) -> Anomalies {
        Anomalies(self.0 | other.0)
    }

    /// The raw bits (bit `n` is the variant with discriminant `n`), for compact storage.
    #[must_use]
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The anomalies in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Anomaly> {
        Anomaly::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

impl fmt::Debug for Anomalies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Anomaly> for Anomalies {
    fn from_iter<I: IntoIterator<Item = Anomaly>>(iter: I) -> Self {
        let mut s = Anomalies::EMPTY;
        for a in iter {
            s.insert(a);
        }
        s
    }
}
