//! A parsed message and its accessors.

use crate::auth::AuthHeader;
use crate::header::{Header, HeaderName};
use crate::method::{Method, StatusCode};
use crate::name_addr::{Contact, NameAddr};
use crate::text::parse_number;
use crate::typed::{CSeq, ContentType, check_date};
use crate::uri::Uri;
use crate::via::Via;
use crate::{Anomalies, Anomaly};

/// The first line of a message (RFC 3261 §7.1, §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'b> {
    /// `Method SP Request-URI SP SIP-Version`.
    Request {
        /// The method.
        method: Method<'b>,
        /// The Request-URI as received; parse it with [`Message::request_uri_parsed`].
        uri: &'b str,
        /// The version, normally `SIP/2.0`.
        version: &'b str,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    Response {
        /// The version, normally `SIP/2.0`.
        version: &'b str,
        /// The status code.
        code: StatusCode,
        /// The reason phrase (UTF-8 per RFC 3261, but not checked).
        reason: &'b [u8],
    },
    /// The first line as received, when neither shape could be read
    /// ([`Anomaly::BadStartLine`] or [`Anomaly::BadStatusCode`] is set).
    Invalid(&'b [u8]),
}

/// A parsed SIP message borrowing the input bytes (`'b`) and the caller's header storage
/// (`'h`). Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Message<'h, 'b> {
    start: StartLine<'b>,
    headers: &'h [Header<'b>],
    head: &'b [u8],
    body: &'b [u8],
    len: usize,
    anomalies: Anomalies,
}

impl<'h, 'b> Message<'h, 'b> {
    pub(crate) fn new(
        start: StartLine<'b>,
        headers: &'h [Header<'b>],
        head: &'b [u8],
        body: &'b [u8],
        len: usize,
        anomalies: Anomalies,
    ) -> Self {
        Message {
            start,
            headers,
            head,
            body,
            len,
            anomalies,
        }
    }

    /// The start line.
    #[must_use]
    pub fn start_line(&self) -> StartLine<'b> {
        self.start
    }

    /// Whether the start line is a request line.
    #[must_use]
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// Whether the start line is a status line.
    #[must_use]
    pub fn is_response(&self) -> bool {
        matches!(self.start, StartLine::Response { .. })
    }

    /// The request method.
    #[must_use]
    pub fn method(&self) -> Option<Method<'b>> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            _ => None,
        }
    }

    /// The Request-URI as received.
    #[must_use]
    pub fn request_uri(&self) -> Option<&'b str> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri),
            _ => None,
        }
    }

    /// The Request-URI, parsed; `None` for responses and unparseable URIs.
    #[must_use]
    pub fn request_uri_parsed(&self) -> Option<Uri<'b>> {
        Uri::parse(self.request_uri()?).ok()
    }

    /// The response status code.
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The response reason phrase.
    #[must_use]
    pub fn reason(&self) -> Option<&'b [u8]> {
        match self.start {
            StartLine::Response { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// All stored header lines, in order.
    #[must_use]
    pub fn headers(&self) -> &'h [Header<'b>] {
        self.headers
    }

    /// The body: Content-Length bytes, or the rest of the datagram without Content-Length, or
    /// what arrived when Content-Length promised more ([`Anomaly::ContentLengthMismatch`]).
    #[must_use]
    pub fn body(&self) -> &'b [u8] {
        self.body
    }

    /// Bytes of input this message occupies, leading CRLFs included; on a stream, consume this
    /// many bytes before parsing the next message.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message occupies no bytes (never true for a parsed message).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The anomalies found while framing: start line, header lines, limits, Content-Length.
    /// See [`Message::validate`] for header-level checks.
    #[must_use]
    pub fn anomalies(&self) -> Anomalies {
        self.anomalies
    }

    /// The value of the first header named `name` (case-insensitive, compact forms included).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers_named(name).next().map(|h| h.value())
    }

    /// All header lines named `name` (case-insensitive, compact forms included).
    pub fn headers_named<'n>(&self, name: &'n str) -> impl Iterator<Item = &'h Header<'b>> + 'n
    where
        'h: 'n,
        'b: 'n,
    {
        let kind = HeaderName::classify(name.as_bytes());
        self.headers.iter().filter(move |h| match kind {
            HeaderName::Other => {
                h.kind() == HeaderName::Other && h.name().eq_ignore_ascii_case(name)
            }
            k => h.kind() == k,
        })
    }

    /// All values of a header kind across lines, split on commas for list headers.
    pub fn values(&self, kind: HeaderName) -> impl Iterator<Item = &'b [u8]> + 'h {
        self.headers
            .iter()
            .filter(move |h| h.kind() == kind)
            .flat_map(|h| h.values())
    }

    fn first(&self, kind: HeaderName) -> Option<&'b str> {
        let h = self.headers.iter().find(|h| h.kind() == kind)?;
        h.value_str()
    }

    /// The topmost Via value, if present and well-formed.
    #[must_use]
    pub fn via(&self) -> Option<Via<'b>> {
        let v = self.values(HeaderName::Via).next()?;
        Via::parse(core::str::from_utf8(v).ok()?).ok()
    }

    /// Every Via value, top first, each parsed on its own.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'b>, Anomaly>> + 'h {
        self.values(HeaderName::Via).map(|v| {
            core::str::from_utf8(v)
                .map_err(|_| Anomaly::BadVia)
                .and_then(Via::parse)
        })
    }

    /// The From header.
    #[must_use]
    pub fn from(&self) -> Option<NameAddr<'b>> {
        NameAddr::parse(self.first(HeaderName::From)?).ok()
    }

    /// The To header.
    #[must_use]
    pub fn to(&self) -> Option<NameAddr<'b>> {
        NameAddr::parse(self.first(HeaderName::To)?).ok()
    }

    /// The Call-ID.
    #[must_use]
    pub fn call_id(&self) -> Option<&'b str> {
        self.first(HeaderName::CallId)
    }

    /// The CSeq.
    #[must_use]
    pub fn cseq(&self) -> Option<CSeq<'b>> {
        CSeq::parse(self.first(HeaderName::CSeq)?).ok()
    }

    /// The first Contact value.
    #[must_use]
    pub fn contact(&self) -> Option<Contact<'b>> {
        self.contacts().next()?.ok()
    }

    /// Every Contact value, each parsed on its own.
    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact<'b>, Anomaly>> + 'h {
        self.values(HeaderName::Contact).map(|v| {
            core::str::from_utf8(v)
                .map_err(|_| Anomaly::BadContact)
                .and_then(Contact::parse)
        })
    }

    /// The Expires header in seconds.
    #[must_use]
    pub fn expires(&self) -> Option<u32> {
        let v = parse_number(
            self.first(HeaderName::Expires)?.as_bytes(),
            u64::from(u32::MAX),
        );
        v.ok().and_then(|v| u32::try_from(v).ok())
    }

    /// The Max-Forwards header (0..=255).
    #[must_use]
    pub fn max_forwards(&self) -> Option<u8> {
        let v = parse_number(self.first(HeaderName::MaxForwards)?.as_bytes(), 255);
        v.ok().and_then(|v| u8::try_from(v).ok())
    }

    /// The Content-Length header value (the framing already applied it to [`Message::body`]).
    #[must_use]
    pub fn content_length(&self) -> Option<u32> {
        let v = parse_number(
            self.first(HeaderName::ContentLength)?.as_bytes(),
            u64::from(u32::MAX),
        );
        v.ok().and_then(|v| u32::try_from(v).ok())
    }

    /// The Content-Type header.
    #[must_use]
    pub fn content_type(&self) -> Option<ContentType<'b>> {
        ContentType::parse(self.first(HeaderName::ContentType)?).ok()
    }

    /// The User-Agent value as raw bytes (free text; may be any bytes an attacker chose).
    #[must_use]
    pub fn user_agent(&self) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.kind() == HeaderName::UserAgent)
            .map(|h| h.value())
    }

    /// The Server value as raw bytes.
    #[must_use]
    pub fn server(&self) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.kind() == HeaderName::Server)
            .map(|h| h.value())
    }

    /// The first Authorization header.
    #[must_use]
    pub fn authorization(&self) -> Option<AuthHeader<'b>> {
        AuthHeader::parse(self.first(HeaderName::Authorization)?).ok()
    }

    /// The first Proxy-Authorization header.
    #[must_use]
    pub fn proxy_authorization(&self) -> Option<AuthHeader<'b>> {
        AuthHeader::parse(self.first(HeaderName::ProxyAuthorization)?).ok()
    }

    /// The first WWW-Authenticate challenge.
    #[must_use]
    pub fn www_authenticate(&self) -> Option<AuthHeader<'b>> {
        AuthHeader::parse(self.first(HeaderName::WwwAuthenticate)?).ok()
    }

    /// The first Proxy-Authenticate challenge.
    #[must_use]
    pub fn proxy_authenticate(&self) -> Option<AuthHeader<'b>> {
        AuthHeader::parse(self.first(HeaderName::ProxyAuthenticate)?).ok()
    }

    /// The framing anomalies plus header-level checks, in one pass over the stored headers:
    /// Request-URI, Via, From, To, Contact, Call-ID, CSeq (and its method against the
    /// request's), Max-Forwards, Expires, Date, the authorization family, Content-Type,
    /// required and duplicated headers.
    ///
    /// Max-Forwards is not required, so RFC 2543 requests (RFC 4475 `inv2543`) stay clean.
    #[must_use]
    pub fn validate(&self) -> Anomalies {
        let mut an = self.anomalies;
        let flag = |an: &mut Anomalies, header: Anomaly, err: Anomaly| {
            an.insert(header);
            if matches!(
                err,
                Anomaly::EmptyParameter
                    | Anomaly::UnbalancedQuotes
                    | Anomaly::ValueOutOfRange
                    | Anomaly::BadNumber
            ) {
                an.insert(err);
            }
        };
        if let StartLine::Request { uri, .. } = self.start {
            match Uri::parse(uri) {
                Ok(u) if u.headers.is_some() => an.insert(Anomaly::BadRequestUri),
                Ok(_) => {}
                Err(_) => an.insert(Anomaly::BadRequestUri),
            }
        }
        // One UTF-8 check of the whole header section; values are then sliced out of it.
        let head = core::str::from_utf8(self.head).unwrap_or("");
        let text_of = |v: &'b [u8]| crate::text::sub_str(head, v);
        let (mut via, mut from, mut to, mut call_id, mut cseq, mut max_fwd) =
            (0u32, 0u32, 0u32, 0u32, 0u32, 0u32);
        for h in self.headers {
            let kind = h.kind();
            let text = text_of(h.value());
            match kind {
                HeaderName::Via => {
                    via += 1;
                    for v in h.values() {
                        let r = text_of(v).ok_or(Anomaly::BadVia).and_then(Via::parse);
                        if let Err(e) = r {
                            flag(&mut an, Anomaly::BadVia, e);
                        }
                    }
                }
                HeaderName::From | HeaderName::To => {
                    let which = if kind == HeaderName::From {
                        from += 1;
                        Anomaly::BadFrom
                    } else {
                        to += 1;
                        Anomaly::BadTo
                    };
                    match text.map(NameAddr::parse) {
                        Some(Ok(_)) => {}
                        Some(Err(e)) => flag(&mut an, which, e),
                        None => an.insert(which),
                    }
                }
                HeaderName::Contact => {
                    for v in h.values() {
                        let r = text_of(v)
                            .ok_or(Anomaly::BadContact)
                            .and_then(Contact::parse);
                        match r {
                            Ok(c) => {
                                if let Some(e) = c.addr().and_then(|a| a.params.get("expires"))
                                    && let Err(e) = parse_number(e.as_bytes(), u64::from(u32::MAX))
                                {
                                    an.insert(e);
                                }
                            }
                            Err(e) => flag(&mut an, Anomaly::BadContact, e),
                        }
                    }
                }
                HeaderName::CallId => {
                    call_id += 1;
                    if !crate::facts::is_call_id(h.value()) {
                        an.insert(Anomaly::BadCallId);
                    }
                }
                HeaderName::CSeq => {
                    cseq += 1;
                    match text.map(CSeq::parse) {
                        Some(Ok(c)) => {
                            if let Some(m) = self.method()
                                && c.method != m
                            {
                                an.insert(Anomaly::CSeqMethodMismatch);
                            }
                        }
                        Some(Err(e)) => flag(&mut an, Anomaly::BadCSeq, e),
                        None => an.insert(Anomaly::BadCSeq),
                    }
                }
                HeaderName::MaxForwards => {
                    max_fwd += 1;
                    if let Err(e) = parse_number(h.value(), 255) {
                        an.insert(e);
                    }
                }
                HeaderName::Expires => {
                    if let Err(e) = parse_number(h.value(), u64::from(u32::MAX)) {
                        an.insert(e);
                    }
                }
                HeaderName::Date => {
                    if let Err(e) = check_date(h.value()) {
                        an.insert(e);
                    }
                }
                HeaderName::Authorization
                | HeaderName::ProxyAuthorization
                | HeaderName::WwwAuthenticate
                | HeaderName::ProxyAuthenticate => match text.map(AuthHeader::parse) {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => flag(&mut an, Anomaly::BadAuthorization, e),
                    None => an.insert(Anomaly::BadAuthorization),
                },
                HeaderName::ContentType => match text.map(ContentType::parse) {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => flag(&mut an, Anomaly::BadContentType, e),
                    None => an.insert(Anomaly::BadContentType),
                },
                _ => {}
            }
        }
        if !matches!(self.start, StartLine::Invalid(_))
            && (via == 0 || from == 0 || to == 0 || call_id == 0 || cseq == 0)
        {
            an.insert(Anomaly::MissingRequiredHeader);
        }
        if from > 1 || to > 1 || call_id > 1 || cseq > 1 || max_fwd > 1 {
            an.insert(Anomaly::DuplicateHeader);
        }
        an
    }
}
