//! `name-addr / addr-spec` with header parameters: From, To, Contact (RFC 3261 §20.10, §20.20,
//! §20.39).

use crate::Anomaly;
use crate::text::{Cursor, ParamCtx, Params, is_ws, parse_params};
use crate::uri::{Uri, parse_uri};

/// A From, To or Contact value: optional display name, URI, header parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'b> {
    /// The display name: the content of a quoted-string (quoted-pairs still escaped) or the
    /// sequence of tokens before `<`. `None` when absent.
    pub display_name: Option<&'b str>,
    /// The URI.
    pub uri: Uri<'b>,
    /// Header parameters after the URI (`;tag=…`, `;expires=…`).
    pub params: Params<'b>,
}

impl<'b> NameAddr<'b> {
    /// Parses a complete name-addr or addr-spec with parameters.
    ///
    /// # Errors
    ///
    /// [`Anomaly::UnbalancedQuotes`] for an unterminated display name,
    /// [`Anomaly::EmptyParameter`] for `;;`, otherwise [`Anomaly::BadContact`] (callers
    /// substitute the anomaly of their header, e.g. [`Anomaly::BadFrom`]).
    pub fn parse(s: &'b str) -> Result<Self, Anomaly> {
        let mut cur = Cursor::new(s);
        let na = parse_name_addr(&mut cur)?;
        cur.skip_ws();
        if !cur.at_end() {
            return Err(Anomaly::BadContact);
        }
        Ok(na)
    }

    /// The `tag` parameter (RFC 3261 §19.3).
    #[must_use]
    pub fn tag(&self) -> Option<&'b str> {
        self.params.get("tag")
    }
}

/// A Contact value: `*` (only valid in a REGISTER that removes all bindings) or an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'b> {
    /// `Contact: *`.
    Star,
    /// An address with contact parameters.
    Addr(NameAddr<'b>),
}

impl<'b> Contact<'b> {
    /// Parses one Contact value (one element of the comma-separated list).
    ///
    /// # Errors
    ///
    /// As [`NameAddr::parse`].
    pub fn parse(s: &'b str) -> Result<Self, Anomaly> {
        if crate::text::trim_str(s) == "*" {
            return Ok(Contact::Star);
        }
        NameAddr::parse(s).map(Contact::Addr)
    }

    /// The address, unless this is `*`.
    #[must_use]
    pub fn addr(&self) -> Option<&NameAddr<'b>> {
        match self {
            Contact::Star => None,
            Contact::Addr(a) => Some(a),
        }
    }

    /// The `expires` contact parameter in seconds; `None` if absent or not a number.
    #[must_use]
    pub fn expires(&self) -> Option<u32> {
        let v = self.addr()?.params.get("expires")?;
        crate::text::parse_number(v.as_bytes(), u64::from(u32::MAX))
            .ok()
            .and_then(|v| u32::try_from(v).ok())
    }
}

pub(crate) fn parse_name_addr<'b>(cur: &mut Cursor<'b>) -> Result<NameAddr<'b>, Anomaly> {
    cur.skip_ws();
    let mut display_name = None;
    let uri;
    match cur.peek() {
        Some(b'"') => {
            display_name = Some(cur.quoted()?);
            cur.skip_ws();
            uri = angle_uri(cur)?;
        }
        Some(b'<') => uri = angle_uri(cur)?,
        _ => {
            // Either `token *(LWS token) <uri>` or a bare addr-spec. Look ahead for a `<`
            // reached only through tokens and whitespace.
            let mut look = cur.clone();
            let start = look.pos();
            let mut end = start;
            loop {
                if look.token().is_none() {
                    break;
                }
                end = look.pos();
                look.skip_ws();
            }
            if end > start && look.peek() == Some(b'<') {
                display_name = Some(look.slice(start, end));
                *cur = look;
                uri = angle_uri(cur)?;
            } else {
                uri = parse_uri(cur, true).map_err(|_| Anomaly::BadContact)?;
            }
        }
    }
    let params = parse_params(cur, ParamCtx::Header)?;
    Ok(NameAddr {
        display_name,
        uri,
        params,
    })
}

/// `<` URI `>` with no whitespace inside the brackets (RFC 4475 §3.1.2.14 `badaspec`).
fn angle_uri<'b>(cur: &mut Cursor<'b>) -> Result<Uri<'b>, Anomaly> {
    if !cur.eat(b'<') {
        return Err(Anomaly::BadContact);
    }
    if cur.peek().is_some_and(is_ws) {
        return Err(Anomaly::BadContact);
    }
    let uri = parse_uri(cur, false).map_err(|_| Anomaly::BadContact)?;
    if !cur.eat(b'>') {
        return Err(Anomaly::BadContact);
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_display_name_with_escaped_quotes_rfc4475_wsinv() {
        let na = NameAddr::parse(
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(na.display_name, Some("J Rosenberg \\\\\\\""));
        assert_eq!(na.uri.user, Some("jdrosen"));
        assert_eq!(na.tag(), Some("98asjd8"));
    }

    #[test]
    fn token_display_name_without_space_rfc4475_lwsdisp() {
        let na = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(na.display_name, Some("caller"));
        assert_eq!(na.tag(), Some("323"));
    }

    #[test]
    fn addr_spec_params_belong_to_the_header() {
        let na = NameAddr::parse("sip:caller@example.net;tag=134161461246").unwrap();
        assert_eq!(na.display_name, None);
        assert_eq!(na.uri.host.unwrap().as_str(), "example.net");
        assert!(na.uri.params.is_empty());
        assert_eq!(na.tag(), Some("134161461246"));
    }

    #[test]
    fn malformed_name_addrs_are_rejected() {
        assert_eq!(
            NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>"),
            Err(Anomaly::UnbalancedQuotes)
        );
        assert!(NameAddr::parse("\"Watson, Thomas\" < sip:t.watson@example.org >").is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert_eq!(
            NameAddr::parse("\"Joe\" <sip:joe@example.org>;;;;"),
            Err(Anomaly::EmptyParameter)
        );
        assert!(Contact::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
    }

    #[test]
    fn contact_star_and_expires() {
        assert_eq!(Contact::parse(" * "), Ok(Contact::Star));
        let c = Contact::parse("<sip:user@host129.example.com>\r\n  ;expires=3600").unwrap();
        assert_eq!(c.expires(), Some(3600));
    }
}
