//! SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966), borrowed.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use crate::Anomaly;
use crate::text::{
    Cursor, ParamCtx, Params, is_header_char, is_host_char, is_user_char, parse_params,
};

/// A URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme<'b> {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other scheme (absoluteURI), kept as sent.
    Other(&'b str),
}

/// A host as it appears in a URI or Via: a domain name, an IPv4 address or an IPv6
/// reference (`[…]`, RFC 5118).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Host<'b>(&'b str);

impl<'b> Host<'b> {
    /// The host as received, brackets of an IPv6 reference included.
    #[must_use]
    pub fn as_str(&self) -> &'b str {
        self.0
    }

    /// The host without the brackets of an IPv6 reference.
    #[must_use]
    pub fn name(&self) -> &'b str {
        self.0
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(self.0)
    }

    /// Whether the host is written as an IPv6 reference (`[…]`).
    #[must_use]
    pub fn is_ipv6_reference(&self) -> bool {
        self.0.starts_with('[')
    }

    /// The host as an IP address, if it is an IPv4 address or a valid IPv6 address (with or
    /// without brackets). `None` for domain names and for malformed literals such as RFC 5118
    /// §4.10's `2001:db8:::192.0.2.1`.
    #[must_use]
    pub fn ip(&self) -> Option<IpAddr> {
        let name = self.name();
        if name.contains(':') {
            Ipv6Addr::from_str(name).ok().map(IpAddr::V6)
        } else if name.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
            Ipv4Addr::from_str(name).ok().map(IpAddr::V4)
        } else {
            None
        }
    }
}

impl core::fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0)
    }
}

/// Parses a host at the cursor: `hostname / IPv4address / IPv6reference` (RFC 3261 §25.1).
pub(crate) fn parse_host<'b>(cur: &mut Cursor<'b>) -> Result<Host<'b>, Anomaly> {
    let start = cur.pos();
    if cur.eat(b'[') {
        let inner = cur.take_while(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if inner.is_empty() || !cur.eat(b']') {
            return Err(Anomaly::BadRequestUri);
        }
        Ok(Host(cur.slice(start, cur.pos())))
    } else {
        // The run of host characters is the whole host.
        let h = cur.take_while(is_host_char);
        if h.is_empty() {
            return Err(Anomaly::BadRequestUri);
        }
        Ok(Host(h))
    }
}

/// Parses `[":" port]`; `Ok(None)` if there is no colon.
pub(crate) fn parse_port(cur: &mut Cursor<'_>) -> Result<Option<u16>, Anomaly> {
    if !cur.eat(b':') {
        return Ok(None);
    }
    let digits = cur.take_while(|b| b.is_ascii_digit());
    if let 1..=4 = digits.len() {
        // Up to four digits cannot exceed the largest port: no overflow checks needed.
        let n = digits
            .bytes()
            .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
        return Ok(Some(n));
    }
    crate::text::parse_number(digits.as_bytes(), u64::from(u16::MAX))
        .map(|p| u16::try_from(p).ok())
        .map_err(|_| Anomaly::BadRequestUri)
}

/// A parsed URI. Components are borrowed and still percent-escaped; decode with
/// [`crate::percent_decode`] when comparing user parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'b> {
    /// The whole URI as received.
    pub raw: &'b str,
    /// The scheme.
    pub scheme: Scheme<'b>,
    /// The user part (SIP/SIPS), or the subscriber number (tel), escaped.
    pub user: Option<&'b str>,
    /// The password after `user:` (deprecated by RFC 3261 but still sent by scanners).
    pub password: Option<&'b str>,
    /// The host (SIP/SIPS); `None` for tel and other schemes.
    pub host: Option<Host<'b>>,
    /// The port, if given.
    pub port: Option<u16>,
    /// URI parameters (`;transport=udp;lr`; for tel, `;phone-context=…`).
    pub params: Params<'b>,
    /// The `?headers` part without the `?`.
    pub headers: Option<&'b str>,
}

impl<'b> Uri<'b> {
    /// Parses a complete URI.
    ///
    /// # Errors
    ///
    /// [`Anomaly::BadRequestUri`] when the text is not a URI (the callers map it to the
    /// anomaly of the header it came from).
    pub fn parse(s: &'b str) -> Result<Self, Anomaly> {
        let mut cur = Cursor::new(s);
        let uri = parse_uri(&mut cur, false)?;
        if !cur.at_end() {
            return Err(Anomaly::BadRequestUri);
        }
        Ok(uri)
    }

    /// The `user` URI parameter (`;user=phone` marks a telephone number).
    #[must_use]
    pub fn user_param(&self) -> Option<&'b str> {
        self.params.get("user")
    }

    /// The `transport` URI parameter.
    #[must_use]
    pub fn transport(&self) -> Option<&'b str> {
        self.params.get("transport")
    }
}

/// Parses a URI at the cursor. When `bare` is set the URI is an addr-spec outside `<>` in a
/// header, so it ends before `;` (header parameters), `,` and whitespace, and may not contain
/// `?` (RFC 3261 §20.10).
pub(crate) fn parse_uri<'b>(cur: &mut Cursor<'b>, bare: bool) -> Result<Uri<'b>, Anomaly> {
    let start = cur.pos();
    let scheme = if cur
        .rest()
        .as_bytes()
        .first_chunk::<4>()
        // `s`, `i` and `p` in either case, then exactly `:`.
        .is_some_and(|s| u32::from_le_bytes(*s) | 0x0020_2020 == u32::from_le_bytes(*b"sip:"))
    {
        // The usual scheme, read as `parse_scheme` would read it.
        cur.advance(4);
        Scheme::Sip
    } else {
        parse_scheme(cur)?
    };
    let mut uri = Uri {
        raw: "",
        scheme,
        user: None,
        password: None,
        host: None,
        port: None,
        params: Params::default(),
        headers: None,
    };
    match scheme {
        Scheme::Sip | Scheme::Sips => {
            // userinfo ends at the first '@': '@' may not appear unescaped anywhere else in a
            // SIP URI, while ';', '?', ',' and ':' may appear in the user part (RFC 4475
            // `semiuri`, `intmeth`).
            let rest = cur.rest().as_bytes();
            // One scan over user characters settles the usual shapes: it stops either on the
            // '@' that ends a valid userinfo, or on a byte that ends the URI before any '@'
            // (no userinfo). Anything else takes the general search below.
            let run = rest
                .iter()
                .position(|b| !is_user_char(*b))
                .unwrap_or(rest.len());
            let at = match rest.get(run) {
                Some(b'@') => Some((run, true)),
                None | Some(b'>' | b' ' | b'\t' | b'\r' | b'\n' | b'<' | b'"') => None,
                Some(_) => find_at(rest).map(|at| (at, false)),
            };
            if let Some((at, checked)) = at {
                let ustart = cur.pos();
                let userinfo = cur.slice(ustart, ustart + at);
                if bare && userinfo.bytes().any(|b| matches!(b, b',' | b'?' | b';')) {
                    return Err(Anomaly::BadContact);
                }
                let (user, password) = match crate::text::split_at_byte(userinfo, b':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (userinfo, None),
                };
                if !checked
                    && (!user.bytes().all(is_user_char)
                        || !password.is_none_or(|p| p.bytes().all(is_user_char)))
                {
                    return Err(Anomaly::BadRequestUri);
                }
                uri.user = Some(user);
                uri.password = password;
                cur.advance(at + 1);
            }
            sip_uri_rest(cur, &mut uri, bare)?;
        }
        Scheme::Tel | Scheme::Other(_) => other_uri_rest(cur, &mut uri, bare)?,
    }
    uri.raw = cur.slice(start, cur.pos());
    Ok(uri)
}

/// A SIP or SIPS URI after its userinfo: host, port, and unless `bare`, parameters and headers.
fn sip_uri_rest<'b>(cur: &mut Cursor<'b>, uri: &mut Uri<'b>, bare: bool) -> Result<(), Anomaly> {
    uri.host = Some(parse_host(cur)?);
    uri.port = parse_port(cur)?;
    if !bare {
        uri.params = parse_params(cur, ParamCtx::Uri)?;
        if cur.eat(b'?') {
            uri.headers = Some(cur.take_while(is_header_char));
        }
    } else if cur.peek() == Some(b'?') {
        return Err(Anomaly::BadContact);
    }
    Ok(())
}

/// A tel URI (the subscriber number, then parameters unless `bare`) or an URI of another scheme
/// (absoluteURI: opaque, everything up to a delimiter) after its scheme.
fn other_uri_rest<'b>(cur: &mut Cursor<'b>, uri: &mut Uri<'b>, bare: bool) -> Result<(), Anomaly> {
    if uri.scheme == Scheme::Tel {
        let number = cur.take_while(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
        });
        if number.is_empty() {
            return Err(Anomaly::BadRequestUri);
        }
        uri.user = Some(number);
        if !bare {
            uri.params = parse_params(cur, ParamCtx::Uri)?;
        }
    } else {
        let stop = |b: u8| {
            !(b.is_ascii_graphic())
                || matches!(b, b'>' | b'<' | b'"')
                || (bare && matches!(b, b';' | b','))
        };
        cur.take_while(|b| !stop(b));
    }
    Ok(())
}

/// The scheme and its `:` at the cursor, for any URI.
fn parse_scheme<'b>(cur: &mut Cursor<'b>) -> Result<Scheme<'b>, Anomaly> {
    let scheme_text =
        cur.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if scheme_text.is_empty()
        || !scheme_text
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphabetic)
        || !cur.eat(b':')
    {
        return Err(Anomaly::BadRequestUri);
    }
    Ok(if scheme_text.eq_ignore_ascii_case("sip") {
        Scheme::Sip
    } else if scheme_text.eq_ignore_ascii_case("sips") {
        Scheme::Sips
    } else if scheme_text.eq_ignore_ascii_case("tel") {
        Scheme::Tel
    } else {
        Scheme::Other(scheme_text)
    })
}

/// The first `@` of a SIP URI's text, if it comes before the first byte that ends the URI
/// (`>`, `<`, `"` or whitespace): the end of the userinfo.
fn find_at(rest: &[u8]) -> Option<usize> {
    let limit = rest
        .iter()
        .position(|b| matches!(b, b'>' | b' ' | b'\t' | b'\r' | b'\n' | b'<' | b'"'))
        .unwrap_or(rest.len());
    rest.get(..limit)
        .and_then(|r| crate::text::find_byte(r, b'@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;
    use std::string::String;
    use std::vec::Vec;

    /// `parse_uri` as it was before the `sip:` and userinfo fast paths: the reference they must
    /// agree with.
    fn reference_parse_uri<'b>(cur: &mut Cursor<'b>, bare: bool) -> Result<Uri<'b>, Anomaly> {
        let start = cur.pos();
        let scheme = parse_scheme(cur)?;
        let mut uri = Uri {
            raw: "",
            scheme,
            user: None,
            password: None,
            host: None,
            port: None,
            params: Params::default(),
            headers: None,
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => {
                if let Some(at) = find_at(cur.rest().as_bytes()) {
                    let ustart = cur.pos();
                    let userinfo = cur.slice(ustart, ustart + at);
                    if bare && userinfo.bytes().any(|b| matches!(b, b',' | b'?' | b';')) {
                        return Err(Anomaly::BadContact);
                    }
                    let (user, password) = match crate::text::split_at_byte(userinfo, b':') {
                        Some((u, p)) => (u, Some(p)),
                        None => (userinfo, None),
                    };
                    if !user.bytes().all(is_user_char)
                        || !password.is_none_or(|p| p.bytes().all(is_user_char))
                    {
                        return Err(Anomaly::BadRequestUri);
                    }
                    uri.user = Some(user);
                    uri.password = password;
                    cur.advance(at + 1);
                }
                sip_uri_rest(cur, &mut uri, bare)?;
            }
            Scheme::Tel | Scheme::Other(_) => other_uri_rest(cur, &mut uri, bare)?,
        }
        uri.raw = cur.slice(start, cur.pos());
        Ok(uri)
    }

    /// Both parsers on `s`, bare and in brackets: same result, same position afterwards.
    fn agrees(s: &str) {
        for bare in [false, true] {
            let (mut a, mut b) = (Cursor::new(s), Cursor::new(s));
            let fast = parse_uri(&mut a, bare);
            let reference = reference_parse_uri(&mut b, bare);
            assert_eq!(fast, reference, "{s:?} bare={bare}");
            if fast.is_ok() {
                assert_eq!(a.pos(), b.pos(), "{s:?} bare={bare}");
            }
        }
    }

    /// URI-like text: pieces of the usual shape and of every delimiter the parser looks at.
    fn uri_text() -> impl Strategy<Value = String> {
        let piece = proptest::sample::select(std::vec![
            "sip:",
            "SiP:",
            "sips:",
            "tel:",
            "x-y:",
            "sip",
            "100",
            "alice",
            "pbx.example.com",
            "198.51.100.7",
            "[2001:db8::1]",
            "@",
            ":",
            ":5060",
            ";",
            ";transport=udp",
            ";lr",
            "?",
            "?h=v",
            ",",
            ">",
            "<",
            " ",
            "\t",
            "\r\n ",
            "\"",
            "[",
            "]",
            "%40",
            "=",
            "&",
            "é",
            "#",
            "{",
        ]);
        let pieces = proptest::collection::vec(piece, 0..10).prop_map(|v| v.concat());
        prop_oneof![
            pieces.clone().prop_map(|p| String::from("sip:") + &p),
            pieces,
            proptest::collection::vec(any::<char>(), 0..12)
                .prop_map(|v| String::from("sip:") + &v.into_iter().collect::<String>()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

        #[test]
        fn fast_paths_give_what_the_general_parser_gives(s in uri_text()) {
            agrees(&s);
        }
    }

    #[test]
    fn hosts_are_the_text_between_start_and_end_on_every_short_input() {
        let reference = |cur: &mut Cursor<'static>| -> Result<Host<'static>, Anomaly> {
            let start = cur.pos();
            if cur.eat(b'[') {
                let inner = cur.take_while(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
                if inner.is_empty() || !cur.eat(b']') {
                    return Err(Anomaly::BadRequestUri);
                }
            } else if cur.take_while(is_host_char).is_empty() {
                return Err(Anomaly::BadRequestUri);
            }
            Ok(Host(cur.slice(start, cur.pos())))
        };
        let alphabet = ["a", "1", ".", "-", "[", "]", ":", "@", ";", " ", "é"];
        let mut inputs = std::vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = inputs
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| std::format!("{s}{c}")))
                .collect();
            inputs.extend(longer);
        }
        for s in inputs {
            let s: &'static str = std::boxed::Box::leak(s.into_boxed_str());
            for skip in [0, 1] {
                let (mut a, mut b) = (Cursor::new(s), Cursor::new(s));
                a.advance(skip);
                b.advance(skip);
                let (fast, slow) = (parse_host(&mut a), reference(&mut b));
                assert_eq!(fast, slow, "{s:?}");
                assert_eq!(a.pos(), b.pos(), "{s:?}");
            }
        }
    }

    #[test]
    fn scheme_fast_path_agrees_for_every_ascii_byte_in_every_position() {
        for k in 0..4 {
            for b in 0..128u8 {
                let mut s = *b"sip:a@h";
                s[k] = b;
                agrees(core::str::from_utf8(&s).unwrap());
            }
        }
    }

    #[test]
    fn fast_paths_agree_on_the_usual_and_the_odd_shapes() {
        let cases: Vec<&str> = std::vec![
            "sip:pbx.example.com",
            "SIP:100@pbx.example.com:5060;transport=udp",
            "sip:100@198.51.100.7:5060;rinstance=8f2c;transport=UDP>;tag=1",
            "sip:user;par=u%40example.net@example.com",
            "sip:a[b@host",
            "sip:a{b>@host",
            "sip:[2001:db8::1]:5060",
            "sip:alice:secret@host",
            "sip:alice:sec{ret@host",
            "sip:a,b@host;x",
            "sip:a?b@host",
            "sip:@host",
            "sip:",
            "sip:user@",
            "sip:user\"@host",
            "sip:us er@host",
            "sip:é@host",
            "sips:a@b",
            "tel:+1-201-555-0123",
        ];
        for s in cases {
            agrees(s);
        }
    }

    #[test]
    fn sip_uri_with_params_and_headers() {
        let u =
            Uri::parse("sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr?subject=x").unwrap();
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("secret"));
        assert_eq!(u.host.unwrap().name(), "2001:db8::1");
        assert!(u.host.unwrap().is_ipv6_reference());
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(), Some("tls"));
        assert!(u.params.contains("lr"));
        assert_eq!(u.headers, Some("subject=x"));
    }

    #[test]
    fn user_part_may_contain_semicolons_rfc4475_semiuri() {
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.host.unwrap().as_str(), "example.com");
    }

    #[test]
    fn tel_uri_rfc3966() {
        let u = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(u.scheme, Scheme::Tel);
        assert_eq!(u.user, Some("+1-201-555-0123"));
        assert_eq!(u.params.get("phone-context"), Some("example.com"));
        assert_eq!(u.host, None);
    }

    #[test]
    fn unbracketed_ipv6_is_rejected_rfc5118_4_2() {
        assert!(Uri::parse("sip:2001:db8::10").is_err());
    }

    #[test]
    fn ambiguous_port_stays_in_the_address_rfc5118_4_3() {
        let u = Uri::parse("sip:[2001:db8::10:5070]").unwrap();
        assert_eq!(u.port, None);
        assert_eq!(u.host.unwrap().ip(), "2001:db8::10:5070".parse().ok());
    }

    #[test]
    fn garbage_is_rejected() {
        for s in [
            "",
            ":",
            "sip:",
            "<sip:a@b>",
            "sip:a@b c",
            "sip:a@b:99999",
            "1sip:a",
        ] {
            assert!(Uri::parse(s).is_err(), "{s}");
        }
    }
}
