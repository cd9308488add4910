//! Everything a guard needs to know about one message, gathered in one pass over its headers.
//!
//! The typed accessors of [`Message`] each find and parse their header on demand, and
//! [`Message::validate`] parses the headers again to check them: a sensor that wants the checks *and*
//! From, To, CSeq, the credentials… parses most headers twice. [`Facts::of`] parses each header once,
//! runs the same checks as [`Message::validate`] and keeps the values it parsed. Its fields are what the
//! accessors return (the first header of each kind, the topmost Via value) and its
//! [`Facts::anomalies`] are what [`Message::validate`] returns; the tests below hold it to both on the
//! RFC 4475 and RFC 5118 messages and on random ones. Like the rest of the crate it neither allocates
//! nor panics.

use crate::auth::{AuthHeader, AuthParams};
use crate::header::HeaderName;
use crate::message::{Message, StartLine};
use crate::method::{Method, StatusCode};
use crate::name_addr::{Contact, NameAddr};
use crate::text::{Params, is_token, is_ws, parse_number, sub_str, word_run};
use crate::typed::{CSeq, ContentType, check_date};
use crate::uri::{Host, Uri};
use crate::via::{Transport, Via};
use crate::{Anomalies, Anomaly};

/// A From or To header, reduced to what identifies a party.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Party<'b> {
    /// The display name ([`NameAddr::display_name`]).
    pub display_name: Option<&'b str>,
    /// The user part of the URI, still escaped.
    pub user: Option<&'b str>,
    /// The host of the URI (`None` for tel and other schemes).
    pub host: Option<Host<'b>>,
    /// The header parameters (`;tag=…`), read on demand.
    pub params: Params<'b>,
}

impl<'b> Party<'b> {
    fn of(na: &NameAddr<'b>) -> Self {
        Party {
            display_name: na.display_name,
            user: na.uri.user,
            host: na.uri.host,
            params: na.params,
        }
    }

    /// The `tag` parameter (RFC 3261 §19.3): set on the To header of an in-dialog request.
    #[must_use]
    pub fn tag(&self) -> Option<&'b str> {
        self.params.get("tag")
    }
}

/// The topmost Via value: where the request says it was sent from (RFC 3261 §18.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentBy<'b> {
    /// The transport.
    pub transport: Transport<'b>,
    /// The sent-by host.
    pub host: Host<'b>,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// The Via parameters (`;branch=…;rport`), read on demand.
    pub params: Params<'b>,
}

impl<'b> SentBy<'b> {
    fn of(v: &Via<'b>) -> Self {
        SentBy {
            transport: v.transport,
            host: v.host,
            port: v.port,
            params: v.params,
        }
    }

    /// The `branch` parameter (RFC 3261 §8.1.1.7).
    #[must_use]
    pub fn branch(&self) -> Option<&'b str> {
        self.params.get("branch")
    }
}

/// The credentials a request carries: the first Authorization header if it parses, else the first
/// Proxy-Authorization header (as [`Message::authorization`] then [`Message::proxy_authorization`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'b> {
    /// Whether they came from Proxy-Authorization.
    pub proxy: bool,
    /// The scheme as sent (`Digest`, `Basic`, …).
    pub scheme: &'b str,
    /// The `username` parameter ([`AuthHeader::username`]).
    pub username: Option<&'b str>,
    /// All parameters, read on demand.
    pub params: AuthParams<'b>,
}

impl<'b> Credentials<'b> {
    /// The `realm` parameter ([`AuthHeader::realm`]).
    #[must_use]
    pub fn realm(&self) -> Option<&'b str> {
        self.params.get("realm")
    }
}

/// The challenge a response carries: the first WWW-Authenticate header if it parses, else the first
/// Proxy-Authenticate header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge<'b> {
    /// Whether it came from Proxy-Authenticate.
    pub proxy: bool,
    /// The scheme as sent.
    pub scheme: &'b str,
    /// All parameters, read on demand.
    pub params: AuthParams<'b>,
}

impl<'b> Challenge<'b> {
    /// The `realm` parameter.
    #[must_use]
    pub fn realm(&self) -> Option<&'b str> {
        self.params.get("realm")
    }
}

/// The facts of one message. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Facts<'b> {
    /// The request method ([`Message::method`]).
    pub method: Option<Method<'b>>,
    /// The response status ([`Message::status`]).
    pub status: Option<StatusCode>,
    /// The user part of the Request-URI (for an INVITE, the dialled number), still escaped.
    pub uri_user: Option<&'b str>,
    /// The host of the Request-URI.
    pub uri_host: Option<Host<'b>>,
    /// The first From header, if it parses ([`Message::from`]).
    pub from: Option<Party<'b>>,
    /// The first To header, if it parses ([`Message::to`]).
    pub to: Option<Party<'b>>,
    /// The first Call-ID ([`Message::call_id`]).
    pub call_id: Option<&'b str>,
    /// The first CSeq, if it parses ([`Message::cseq`]).
    pub cseq: Option<CSeq<'b>>,
    /// The topmost Via value, if it parses ([`Message::via`]).
    pub via: Option<SentBy<'b>>,
    /// The first User-Agent, raw ([`Message::user_agent`]).
    pub user_agent: Option<&'b [u8]>,
    /// The credentials of a request.
    pub credentials: Option<Credentials<'b>>,
    /// The challenge of a 401/407 response (with [`Facts::of`]; not read by [`Facts::transaction`]).
    pub challenge: Option<Challenge<'b>>,
    /// Whether the challenge says `stale=true` ([`AuthHeader::stale`]): the previous credentials
    /// were right but their nonce expired (RFC 2617 §3.2.1), so this is no failure.
    pub stale: bool,
    /// The first Content-Length value ([`Message::content_length`]); a body shorter than it is
    /// [`Anomaly::ContentLengthMismatch`].
    pub content_length: Option<u32>,
    /// With [`Facts::of`], what [`Message::validate`] returns; with [`Facts::transaction`], the
    /// framing anomalies only ([`Message::anomalies`]).
    pub anomalies: Anomalies,
}

/// Adds the anomaly of a header whose value failed to parse, plus the parser's more precise fact when
/// it names one (as [`Message::validate`] does).
fn flag(an: &mut Anomalies, header: Anomaly, err: Anomaly) {
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
}

/// The auth parameter `name` (a lowercase ASCII literal), as [`AuthParams::get`] returns it.
///
/// Walking the parameter list costs far more than looking at it: when the first parameter is `name`
/// with a plain value (the usual `Digest username="…", …`) it is read directly, and the list is
/// walked only when `name` occurs in it at all (a `stale` flag is rare).
fn auth_param<'b>(params: AuthParams<'b>, name: &[u8]) -> Option<&'b str> {
    let text = params.as_str();
    if let Some(value) = leading_param(text, name) {
        return Some(value);
    }
    if !mentions(text.as_bytes(), name) {
        return None;
    }
    params.get(core::str::from_utf8(name).ok()?)
}

/// Whether `name` (lowercase ASCII) occurs in `text`, ignoring ASCII case: a parameter of that name
/// can only exist if it does.
fn mentions(text: &[u8], name: &[u8]) -> bool {
    let (Some(&first), Some(rest)) = (name.first(), name.get(1..)) else {
        return false;
    };
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), text).any(|i| {
        text.get(i + 1..i + name.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(rest))
    })
}

/// The value of the first item of an auth parameter list when it is `name LWS "=" LWS value LWS`
/// followed by a comma or the end, `value` being a quoted-string (returned without its quotes,
/// escapes kept) or a run of token characters: exactly what [`AuthParams::get`] returns for it.
/// `None` when the first item has another shape (the caller then walks the list).
fn leading_param<'b>(text: &'b str, name: &[u8]) -> Option<&'b str> {
    let b = text.as_bytes();
    let ws = |i: usize| {
        b.get(i..)
            .map_or(0, |r| r.iter().take_while(|c| is_ws(**c)).count())
            + i
    };
    if !b.get(..name.len())?.eq_ignore_ascii_case(name) {
        return None;
    }
    let mut i = ws(name.len());
    if b.get(i) != Some(&b'=') {
        return None;
    }
    i = ws(i + 1);
    let (start, end, after) = if b.get(i) == Some(&b'"') {
        let mut j = i + 1;
        loop {
            match b.get(j)? {
                b'"' => break,
                b'\\' => j += 2,
                _ => j += 1,
            }
        }
        (i + 1, j, j + 1)
    } else {
        let len = b.get(i..)?.iter().take_while(|c| is_token(**c)).count();
        (i, i + len, i + len)
    };
    let after = ws(after);
    if !matches!(b.get(after), None | Some(b',')) || end < start {
        return None;
    }
    text.get(start..end)
}

/// The longest UTF-8 prefix of the start line and header section of `msg` within `input` (empty when
/// `msg` was not parsed from `input`).
fn head_text<'b>(msg: &Message<'_, 'b>, input: &'b [u8]) -> &'b str {
    // The body follows the header section; an empty body may not point into `input`.
    let body = msg.body();
    let end = (body.as_ptr() as usize)
        .checked_sub(input.as_ptr() as usize)
        .filter(|end| !body.is_empty() && *end <= input.len())
        .unwrap_or(msg.len());
    let head = input.get(..end).unwrap_or_default();
    match core::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) => head
            .get(..e.valid_up_to())
            .and_then(|valid| core::str::from_utf8(valid).ok())
            .unwrap_or(""),
    }
}

/// The first header of a kind, once looked at: `None` before, `Some(parsed value)` after.
type First<T> = Option<Option<T>>;

impl<'b> Facts<'b> {
    /// The facts of `msg` and every header-level check of [`Message::validate`], in one pass.
    #[must_use]
    pub fn of(msg: &Message<'_, 'b>) -> Self {
        Self::gather(msg, true, "")
    }

    /// The facts that tie a message to its transaction and say how it ended, without any
    /// header-level check: the method or status, Call-ID, CSeq, To, the credentials, whether a
    /// challenge is stale, User-Agent and Content-Length. Only the first header of each of those
    /// kinds is parsed, a challenge only when it mentions `stale` at all; the Request-URI, From, Via
    /// and challenge are not read (their fields stay `None`), and [`Facts::anomalies`]
    /// holds the framing anomalies only. For messages whose malformation does not matter, such as
    /// the protected PBX's own responses.
    #[must_use]
    pub fn transaction(msg: &Message<'_, 'b>) -> Self {
        Self::gather(msg, false, "")
    }

    /// [`Facts::of`] for a message parsed from `input`: the same facts, with one UTF-8 check of the
    /// header section instead of one per header value (values outside `input` are checked on their
    /// own, so any `input` gives the same result).
    #[must_use]
    pub fn of_input(msg: &Message<'_, 'b>, input: &'b [u8]) -> Self {
        Self::gather(msg, true, head_text(msg, input))
    }

    /// [`Facts::transaction`] for a message parsed from `input`, as [`Facts::of_input`].
    #[must_use]
    pub fn transaction_input(msg: &Message<'_, 'b>, input: &'b [u8]) -> Self {
        Self::gather(msg, false, head_text(msg, input))
    }

    /// One pass over the headers; `check` runs the checks of [`Message::validate`] and reads the
    /// Request-URI, From and Via as well. Header values inside `head` are sliced out of it rather
    /// than checked for UTF-8 one by one.
    fn gather(msg: &Message<'_, 'b>, check: bool, head: &'b str) -> Self {
        let text = |v: &'b [u8]| sub_str(head, v);
        let mut an = msg.anomalies();
        let mut facts = Facts {
            method: msg.method(),
            status: msg.status(),
            ..Facts::default()
        };
        let start = msg.start_line();
        if check && let StartLine::Request { uri, .. } = start {
            match Uri::parse(uri) {
                Ok(u) => {
                    if u.headers.is_some() {
                        an.insert(Anomaly::BadRequestUri);
                    }
                    facts.uri_user = u.user;
                    facts.uri_host = u.host;
                }
                Err(_) => an.insert(Anomaly::BadRequestUri),
            }
        }
        let (mut via, mut from, mut to, mut call_id, mut cseq, mut max_fwd) =
            (0u32, 0u32, 0u32, 0u32, 0u32, 0u32);
        let mut top_via: First<SentBy<'b>> = None;
        let mut authz: First<AuthHeader<'b>> = None;
        let mut proxy_authz: First<AuthHeader<'b>> = None;
        let mut www_authn: First<AuthHeader<'b>> = None;
        let mut proxy_authn: First<AuthHeader<'b>> = None;
        // Without checks, the challenges' text: parsed afterwards only if it can say stale=true.
        let mut www_text: First<&'b str> = None;
        let mut proxy_text: First<&'b str> = None;
        let mut content_length: First<u32> = None;
        for h in msg.headers() {
            let kind = h.kind();
            match kind {
                HeaderName::Via if check => {
                    via += 1;
                    // List items are slices of the line: one UTF-8 check for the line serves them all.
                    let line = text(h.value()).unwrap_or("");
                    for v in h.values() {
                        let r = sub_str(line, v).ok_or(Anomaly::BadVia).and_then(Via::parse);
                        if top_via.is_none() {
                            top_via = Some(r.as_ref().ok().map(SentBy::of));
                        }
                        if let Err(e) = r {
                            flag(&mut an, Anomaly::BadVia, e);
                        }
                    }
                }
                HeaderName::From | HeaderName::To if check || kind == HeaderName::To => {
                    let (count, which, slot) = if kind == HeaderName::From {
                        (&mut from, Anomaly::BadFrom, &mut facts.from)
                    } else {
                        (&mut to, Anomaly::BadTo, &mut facts.to)
                    };
                    *count += 1;
                    let first = *count == 1;
                    if !check && !first {
                        continue;
                    }
                    match text(h.value()).map(NameAddr::parse) {
                        Some(Ok(na)) => {
                            if first {
                                *slot = Some(Party::of(&na));
                            }
                        }
                        Some(Err(e)) => flag(&mut an, which, e),
                        None => an.insert(which),
                    }
                }
                HeaderName::Contact if check => {
                    let line = text(h.value()).unwrap_or("");
                    for v in h.values() {
                        match sub_str(line, v)
                            .ok_or(Anomaly::BadContact)
                            .and_then(Contact::parse)
                        {
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
                    if call_id == 1 {
                        facts.call_id = text(h.value());
                    }
                    if check && !is_call_id(h.value()) {
                        an.insert(Anomaly::BadCallId);
                    }
                }
                HeaderName::CSeq => {
                    cseq += 1;
                    if !check && cseq > 1 {
                        continue;
                    }
                    match text(h.value()).map(CSeq::parse) {
                        Some(Ok(c)) => {
                            if cseq == 1 {
                                facts.cseq = Some(c);
                            }
                            if let Some(m) = facts.method
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
                    if check && let Err(e) = parse_number(h.value(), 255) {
                        an.insert(e);
                    }
                }
                HeaderName::Expires if check => {
                    if let Err(e) = parse_number(h.value(), u64::from(u32::MAX)) {
                        an.insert(e);
                    }
                }
                HeaderName::Date if check => {
                    if let Err(e) = check_date(h.value()) {
                        an.insert(e);
                    }
                }
                HeaderName::WwwAuthenticate | HeaderName::ProxyAuthenticate if !check => {
                    let slot = if kind == HeaderName::WwwAuthenticate {
                        &mut www_text
                    } else {
                        &mut proxy_text
                    };
                    if slot.is_none() {
                        *slot = Some(text(h.value()));
                    }
                }
                HeaderName::Authorization
                | HeaderName::ProxyAuthorization
                | HeaderName::WwwAuthenticate
                | HeaderName::ProxyAuthenticate => {
                    let slot = match kind {
                        HeaderName::Authorization => &mut authz,
                        HeaderName::ProxyAuthorization => &mut proxy_authz,
                        HeaderName::WwwAuthenticate => &mut www_authn,
                        _ => &mut proxy_authn,
                    };
                    if !check && slot.is_some() {
                        continue;
                    }
                    let r = text(h.value()).map(AuthHeader::parse);
                    if slot.is_none() {
                        *slot = Some(r.and_then(Result::ok));
                    }
                    match r {
                        Some(Ok(_)) => {}
                        Some(Err(e)) => flag(&mut an, Anomaly::BadAuthorization, e),
                        None => an.insert(Anomaly::BadAuthorization),
                    }
                }
                HeaderName::ContentType if check => match text(h.value()).map(ContentType::parse) {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => flag(&mut an, Anomaly::BadContentType, e),
                    None => an.insert(Anomaly::BadContentType),
                },
                HeaderName::ContentLength if content_length.is_none() => {
                    content_length = Some(
                        parse_number(h.value(), u64::from(u32::MAX))
                            .ok()
                            .and_then(|v| u32::try_from(v).ok()),
                    );
                }
                HeaderName::UserAgent if facts.user_agent.is_none() => {
                    facts.user_agent = Some(h.value());
                }
                _ => {}
            }
        }
        if !matches!(start, StartLine::Invalid(_))
            && (via == 0 || from == 0 || to == 0 || call_id == 0 || cseq == 0)
        {
            an.insert(Anomaly::MissingRequiredHeader);
        }
        if from > 1 || to > 1 || call_id > 1 || cseq > 1 || max_fwd > 1 {
            an.insert(Anomaly::DuplicateHeader);
        }
        facts.via = top_via.flatten();
        facts.content_length = content_length.flatten();
        facts.credentials = match (authz.flatten(), proxy_authz.flatten()) {
            (Some(a), _) => Some((false, a)),
            (None, Some(a)) => Some((true, a)),
            (None, None) => None,
        }
        .map(|(proxy, a)| Credentials {
            proxy,
            scheme: a.scheme,
            username: auth_param(a.params, b"username"),
            params: a.params,
        });
        let stale_text = |t: First<&str>| {
            t.flatten()
                .is_some_and(|t| mentions(t.as_bytes(), b"stale"))
        };
        if stale_text(www_text) || stale_text(proxy_text) {
            // Whichever challenge is the one, it can only be stale if `stale` occurs in its text.
            let parse = |t: First<&'b str>| t.map(|t| t.and_then(|t| AuthHeader::parse(t).ok()));
            www_authn = parse(www_text);
            proxy_authn = parse(proxy_text);
        }
        let challenge = match (www_authn.flatten(), proxy_authn.flatten()) {
            (Some(a), _) => Some((false, a)),
            (None, Some(a)) => Some((true, a)),
            (None, None) => None,
        };
        facts.stale = challenge.is_some_and(|(_, a)| {
            auth_param(a.params, b"stale").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        });
        if check {
            facts.challenge = challenge.map(|(proxy, a)| Challenge {
                proxy,
                scheme: a.scheme,
                params: a.params,
            });
        }
        facts.anomalies = if check { an } else { msg.anomalies() };
        facts
    }
}

/// `callid = word [ "@" word ]` (RFC 3261 §25.1). `@` is no word character, so one run of word
/// characters ends at the `@` (or at a byte that makes the Call-ID invalid).
pub(crate) fn is_call_id(v: &[u8]) -> bool {
    let first = word_run(v);
    match v.get(first) {
        None => first > 0,
        Some(b'@') if first > 0 => {
            let rest = v.get(first + 1..).unwrap_or_default();
            let second = word_run(rest);
            second > 0 && second == rest.len()
        }
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Header;
    use proptest::prelude::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    /// `is_call_id` as it was before it scanned with the class table: the reference.
    fn reference_is_call_id(v: &[u8]) -> bool {
        let is_word = |b: &u8| crate::text::word_class(*b);
        let mut parts = v.split(|b| *b == b'@');
        let ok = |p: Option<&[u8]>| p.is_some_and(|p| !p.is_empty() && p.iter().all(is_word));
        match (parts.next(), parts.next(), parts.next()) {
            (first, None, _) => ok(first),
            (first, second @ Some(_), None) => ok(first) && ok(second),
            _ => false,
        }
    }

    #[test]
    fn call_id_check_matches_the_split_definition_on_every_short_value() {
        let alphabet = [
            b'a', b'@', b'(', b'}', b'\\', b' ', b';', b'=', 0x80, b'"', b'.',
        ];
        let mut v = Vec::new();
        for len in 0..=4u32 {
            for mut k in 0..alphabet.len().pow(len) {
                v.clear();
                for _ in 0..len {
                    v.push(alphabet[k % alphabet.len()]);
                    k /= alphabet.len();
                }
                assert_eq!(is_call_id(&v), reference_is_call_id(&v), "{v:?}");
            }
        }
        for b in 0..=255u8 {
            for v in [
                [b].as_slice(),
                &[b'x', b, b'y'],
                &[b'x', b'@', b],
                &[b, b'@', b'y'],
            ] {
                assert_eq!(is_call_id(v), reference_is_call_id(v), "{v:?}");
            }
        }
    }

    /// What the accessors and [`Message::validate`] say, field by field: the reference [`Facts`] must match.
    fn by_accessors<'b>(m: &Message<'_, 'b>) -> Facts<'b> {
        let credentials = m
            .authorization()
            .map(|a| (false, a))
            .or_else(|| m.proxy_authorization().map(|a| (true, a)))
            .map(|(proxy, a)| Credentials {
                proxy,
                scheme: a.scheme,
                username: a.username(),
                params: a.params,
            });
        let challenge = m
            .www_authenticate()
            .map(|a| (false, a))
            .or_else(|| m.proxy_authenticate().map(|a| (true, a)))
            .map(|(proxy, a)| Challenge {
                proxy,
                scheme: a.scheme,
                params: a.params,
            });
        let stale = m
            .www_authenticate()
            .or_else(|| m.proxy_authenticate())
            .is_some_and(|a| a.stale());
        let party = |na: NameAddr<'b>| Party {
            display_name: na.display_name,
            user: na.uri.user,
            host: na.uri.host,
            params: na.params,
        };
        Facts {
            method: m.method(),
            status: m.status(),
            uri_user: m.request_uri_parsed().and_then(|u| u.user),
            uri_host: m.request_uri_parsed().and_then(|u| u.host),
            from: m.from().map(party),
            to: m.to().map(party),
            call_id: m.call_id(),
            cseq: m.cseq(),
            via: m.via().map(|v| SentBy {
                transport: v.transport,
                host: v.host,
                port: v.port,
                params: v.params,
            }),
            user_agent: m.user_agent(),
            credentials,
            challenge,
            stale,
            content_length: m.content_length(),
            anomalies: m.validate(),
        }
    }

    /// Parses `buf` with `slots` header lines of storage and checks both entry points against the
    /// accessors.
    fn agrees(buf: &[u8], slots: usize) {
        let mut headers = [Header::EMPTY; 64];
        let Some(storage) = headers.get_mut(..slots) else {
            return;
        };
        let Ok(m) = Message::parse_datagram(buf, storage) else {
            return;
        };
        let expected = by_accessors(&m);
        let transaction = Facts {
            uri_user: None,
            uri_host: None,
            from: None,
            via: None,
            challenge: None,
            anomalies: m.anomalies(),
            ..expected
        };
        // The input only saves UTF-8 checks: the bytes parsed, a copy of them (values outside it) and
        // nothing all give the same facts.
        let copy = buf.to_vec();
        for input in [buf, &copy[..], &[][..]] {
            let text = String::from_utf8_lossy(buf);
            assert_eq!(Facts::of_input(&m, input), expected, "{text:?}");
            assert_eq!(Facts::transaction_input(&m, input), transaction, "{text:?}");
        }
        assert_eq!(Facts::of(&m), expected);
        assert_eq!(Facts::transaction(&m), transaction);
    }

    fn fixtures(dir: &str) -> Vec<(String, Vec<u8>)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(dir);
        let mut out = Vec::new();
        for e in std::fs::read_dir(&path).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "dat") {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn facts_agree_with_the_accessors_on_the_rfc4475_and_rfc5118_messages() {
        let all: Vec<_> = fixtures("rfc4475")
            .into_iter()
            .chain(fixtures("rfc5118"))
            .collect();
        assert!(all.len() > 50, "fixtures missing: {}", all.len());
        for (_, buf) in &all {
            // Roomy storage, and storage too small for some of them (TooManyHeaders).
            agrees(buf, 64);
            agrees(buf, 8);
        }
    }

    #[test]
    fn a_register_with_credentials_yields_every_fact() {
        let buf = b"REGISTER sip:pbx.example.com SIP/2.0\r\n\
            Via: SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bK1;rport\r\n\
            From: \"Desk\" <sip:1001@pbx.example.com>;tag=a\r\n\
            To: <sip:1001@pbx.example.com>\r\n\
            Call-ID: abc@192.0.2.5\r\n\
            CSeq: 2 REGISTER\r\n\
            User-Agent: friendly-scanner\r\n\
            Authorization: Digest username=\"1001\", realm=\"pbx\", nonce=\"n\", uri=\"sip:pbx\", response=\"0\"\r\n\
            Content-Length: 0\r\n\r\n";
        let mut headers = [Header::EMPTY; 16];
        let m = Message::parse_datagram(buf, &mut headers).unwrap();
        let f = Facts::of(&m);
        assert_eq!(f.method, Some(Method::REGISTER));
        assert_eq!(f.uri_user, None);
        assert_eq!(f.uri_host.map(|h| h.as_str()), Some("pbx.example.com"));
        let from = f.from.unwrap();
        assert_eq!(
            (from.display_name, from.user, from.tag()),
            (Some("Desk"), Some("1001"), Some("a"))
        );
        assert_eq!(f.to.unwrap().tag(), None);
        assert_eq!(f.call_id, Some("abc@192.0.2.5"));
        assert_eq!(f.cseq.unwrap().seq, 2);
        let via = f.via.unwrap();
        assert_eq!(
            (via.host.as_str(), via.port, via.branch()),
            ("192.0.2.5", Some(5060), Some("z9hG4bK1"))
        );
        assert_eq!(f.user_agent, Some(&b"friendly-scanner"[..]));
        let c = f.credentials.unwrap();
        assert_eq!(
            (c.proxy, c.scheme, c.username, c.realm()),
            (false, "Digest", Some("1001"), Some("pbx"))
        );
        assert_eq!(f.content_length, Some(0));
        assert!(f.anomalies.is_empty());
    }

    #[test]
    fn the_first_header_of_a_kind_counts_and_duplicates_are_flagged() {
        // An unparseable first Authorization hides a second one, as `authorization()` does; the
        // Proxy-Authorization is then the credentials. Two From headers: the first is the From.
        let buf = b"INVITE sip:+442079460000@pbx SIP/2.0\r\n\
            Via: ,SIP/2.0/UDP a.example;branch=z9hG4bKx, bad via\r\n\
            From: <sip:one@a>;tag=1\r\nFrom: <sip:two@a>;tag=2\r\nTo: <sip:+442079460000@pbx>\r\n\
            Call-ID: c\r\nCSeq: 1 REGISTER\r\n\
            Authorization: Digest username=\"unterminated\r\n\
            Authorization: Digest username=\"second\"\r\n\
            Proxy-Authorization: Digest realm=\"r\", username=\"proxy\"\r\n\
            Content-Length: 0\r\n\r\n";
        let mut headers = [Header::EMPTY; 16];
        let m = Message::parse_datagram(buf, &mut headers).unwrap();
        let f = Facts::of(&m);
        assert_eq!(f, by_accessors(&m));
        assert_eq!(f.from.unwrap().user, Some("one"));
        assert_eq!(f.uri_user, Some("+442079460000"));
        assert_eq!(f.via.unwrap().host.as_str(), "a.example");
        let c = f.credentials.unwrap();
        assert_eq!(
            (c.proxy, c.username, c.realm()),
            (true, Some("proxy"), Some("r"))
        );
        for a in [
            Anomaly::DuplicateHeader,
            Anomaly::BadVia,
            Anomaly::BadAuthorization,
            Anomaly::UnbalancedQuotes,
            Anomaly::CSeqMethodMismatch,
        ] {
            assert!(f.anomalies.contains(a), "{a:?} in {:?}", f.anomalies);
        }
        assert_eq!(Facts::transaction(&m).anomalies, m.anomalies());
    }

    #[test]
    fn a_stale_challenge_is_read_from_proxy_authenticate() {
        let buf = b"SIP/2.0 407 Proxy Authentication Required\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\n\
            From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
            Proxy-Authenticate: Digest realm=\"r\", nonce=\"n\", STALE=TRUE\r\nContent-Length: 0\r\n\r\n";
        let mut headers = [Header::EMPTY; 16];
        let m = Message::parse_datagram(buf, &mut headers).unwrap();
        let f = Facts::transaction(&m);
        assert_eq!(f.status, Some(StatusCode::new(407).unwrap()));
        assert!(f.stale);
        assert_eq!(f.challenge, None);
        assert_eq!(f.to.unwrap().tag(), Some("2"));
        let ch = Facts::of(&m).challenge.unwrap();
        assert_eq!((ch.proxy, ch.realm()), (true, Some("r")));
    }

    /// Header lines drawn from valid and broken values of every kind the facts or the checks read.
    fn header_line() -> impl Strategy<Value = Vec<u8>> {
        let names = prop::sample::select(
            &[
                "Via",
                "v",
                "From",
                "f",
                "To",
                "t",
                "Call-ID",
                "i",
                "CSeq",
                "Contact",
                "m",
                "Max-Forwards",
                "Expires",
                "Date",
                "Authorization",
                "Proxy-Authorization",
                "WWW-Authenticate",
                "Proxy-Authenticate",
                "Content-Type",
                "c",
                "Content-Length",
                "l",
                "User-Agent",
                "X-Other",
            ][..],
        );
        let values = prop::sample::select(
            &[
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport",
                "SIP / 2.0 / TCP [2001:db8::1];branch=x, SIP/2.0/UDP h",
                "SIP/2.0/UDP h;;",
                ", ,",
                "\"A \\\"q\\\"\" <sip:100@pbx.example.com>;tag=9",
                "sip:u@h;tag=1",
                "tel:+1-201-555-0123",
                "<sip:x@y>;;",
                "\"open <sip:a@b>",
                "caller<sip:c@e>;tag=3",
                "<sip:1@h>;expires=99999999999, *",
                "1 REGISTER",
                "9\r\n INVITE",
                "2147483648 INVITE",
                "x@y",
                "bad call id",
                "70",
                "256",
                "-1",
                "Sat, 13 Nov 2010 23:29:00 GMT",
                "Digest username=\"u\", realm=\"r\", nonce=\"n\", stale=true",
                "Digest realm=\"r\", USERNAME=\"U\", username=\"v\", stale=FALSE",
                "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
                "Digest username=tok, realm=\"r\"",
                "Digest Username = \"a\\\"b\" ,\r\n nonce=n",
                "Digest username=\"x\"junk, username=\"y\"",
                "Digest username=, realm=r",
                "Digest username=<a,b>, username=c",
                "Digest usernames=\"no\", username=\"yes\"",
                "Digest a b",
                "Digest username=\"open",
                "application/sdp",
                "multipart/mixed;boundary=x",
                "text",
                "0",
                "12",
                "friendly-scanner",
                "",
            ][..],
        );
        let value = prop_oneof![
            4 => values.prop_map(|v| v.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..24),
            1 => "[ -~]{0,24}".prop_map(String::into_bytes),
        ];
        (names, value).prop_map(|(n, v)| {
            let mut line = n.as_bytes().to_vec();
            line.extend_from_slice(b": ");
            line.extend_from_slice(&v);
            line.extend_from_slice(b"\r\n");
            line
        })
    }

    fn message() -> impl Strategy<Value = Vec<u8>> {
        let start = prop::sample::select(
            &[
                "INVITE sip:00442079460000@pbx.example.com SIP/2.0",
                "REGISTER sip:pbx.example.com SIP/2.0",
                "OPTIONS sip:100@192.0.2.10 SIP/2.0",
                "INVITE tel:+12015550123 SIP/2.0",
                "INVITE sip:u@h?Subject=x SIP/2.0",
                "INVITE <sip:u@h> SIP/2.0",
                "BYE sip:u@[2001:db8::1]:5060;transport=udp SIP/2.0",
                "SIP/2.0 401 Unauthorized",
                "SIP/2.0 200 OK",
                "SIP/2.0 99 Bad",
                "garbage here",
            ][..],
        );
        (
            start,
            prop::collection::vec(header_line(), 0..14),
            prop::collection::vec(any::<u8>(), 0..8),
        )
            .prop_map(|(start, lines, body)| {
                let mut buf = start.as_bytes().to_vec();
                buf.extend_from_slice(b"\r\n");
                for l in lines {
                    buf.extend_from_slice(&l);
                }
                buf.extend_from_slice(b"\r\n");
                buf.extend_from_slice(&body);
                buf
            })
    }

    /// Auth parameter lists: names that are, contain or resemble the wanted ones, quoted values with
    /// escapes and commas, tokens, empty values, and whitespace with folds around every delimiter.
    fn auth_params_text() -> impl Strategy<Value = String> {
        let name = prop::sample::select(
            &[
                "username",
                "USERNAME",
                "usernames",
                "realm",
                "stale",
                "Stale",
                "nonce",
            ][..],
        );
        let value = prop::sample::select(
            &[
                "\"u\"",
                "\"a,b\"",
                "\"q\\\"x\"",
                "tok",
                "true",
                "",
                "\"\"",
                "<a,b>",
            ][..],
        );
        let ws = prop::sample::select(&["", " ", "\r\n ", "\t"][..]);
        let item = (name, ws.clone(), ws.clone(), value, ws)
            .prop_map(|(n, w1, w2, v, w3)| std::format!("{n}{w1}={w2}{v}{w3}"));
        prop::collection::vec(item, 1..5).prop_map(|items| items.join(","))
    }

    proptest! {
        #[test]
        fn auth_params_are_read_as_auth_params_get_reads_them(params in auth_params_text()) {
            let header = std::format!("Digest {params}");
            if let Ok(a) = AuthHeader::parse(&header) {
                for name in ["username", "stale", "realm"] {
                    prop_assert_eq!(auth_param(a.params, name.as_bytes()), a.params.get(name), "{}", name);
                }
            }
        }

        #[test]
        fn facts_agree_with_the_accessors_on_random_messages(buf in message(), slots in 4usize..64) {
            agrees(&buf, slots);
        }

        #[test]
        fn facts_agree_with_the_accessors_on_random_bytes(buf in prop::collection::vec(any::<u8>(), 0..256)) {
            agrees(&buf, 32);
        }

        #[test]
        fn call_id_check_matches_the_split_definition(v in proptest::collection::vec(any::<u8>(), 0..48)) {
            prop_assert_eq!(is_call_id(&v), reference_is_call_id(&v));
        }
    }
}
