//! Authorization, Proxy-Authorization, WWW-Authenticate and Proxy-Authenticate
//! (RFC 3261 §20.7, §20.27, §20.28, §20.44, §25.1; RFC 8760 digest parameters).

use crate::Anomaly;
use crate::text::{Cursor, next_list_item, split_at_byte, trim_str};

/// The comma-separated `name=value` parameters of credentials or a challenge, read lazily.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthParams<'b>(&'b str);

impl<'b> AuthParams<'b> {
    /// The parameter text as received.
    #[must_use]
    pub fn as_str(&self) -> &'b str {
        self.0
    }

    /// The value of `name` (case-insensitive), without quotes; escapes untouched.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&'b str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Iterates `(name, value)` pairs; an item without `=` yields an empty name.
    pub fn iter(&self) -> impl Iterator<Item = (&'b str, &'b str)> + 'b {
        let mut rest = self.0.as_bytes();
        let full = self.0;
        core::iter::from_fn(move || {
            loop {
                if rest.is_empty() {
                    return None;
                }
                let (item, r) = next_list_item(rest);
                let offset = full.len() - rest.len();
                rest = r;
                let item = full.get(offset..offset + item.len()).unwrap_or("");
                let item = trim_str(item);
                if item.is_empty() {
                    continue;
                }
                return Some(match split_at_byte(item, b'=') {
                    Some((n, v)) => {
                        let v = trim_str(v);
                        let v = v
                            .strip_prefix('"')
                            .and_then(|v| v.strip_suffix('"'))
                            .unwrap_or(v);
                        (trim_str(n), v)
                    }
                    None => ("", item),
                });
            }
        })
    }
}

impl core::fmt::Debug for AuthParams<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Credentials (Authorization, Proxy-Authorization) or a challenge (WWW-Authenticate,
/// Proxy-Authenticate): `auth-scheme LWS auth-param *(COMMA auth-param)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthHeader<'b> {
    /// The scheme as sent (`Digest`, `Basic`, or any token).
    pub scheme: &'b str,
    /// The parameters.
    pub params: AuthParams<'b>,
}

impl<'b> AuthHeader<'b> {
    /// Parses one header value.
    ///
    /// # Errors
    ///
    /// [`Anomaly::BadAuthorization`] if the scheme is missing or a parameter is not
    /// `token = (token / quoted-string)`; [`Anomaly::UnbalancedQuotes`] for an unterminated
    /// quoted value. A single opaque value without `=` (Basic's token68) is accepted.
    pub fn parse(s: &'b str) -> Result<Self, Anomaly> {
        let mut cur = Cursor::new(s);
        cur.skip_ws();
        let scheme = cur.token().ok_or(Anomaly::BadAuthorization)?;
        let had_ws = cur.skip_ws();
        if !cur.at_end() && !had_ws {
            return Err(Anomaly::BadAuthorization);
        }
        let params = cur.rest();
        let mut items = 0;
        let mut opaque = false;
        loop {
            cur.skip_ws();
            if cur.at_end() {
                break;
            }
            if cur.eat(b',') {
                continue;
            }
            items += 1;
            let Some(_) = cur.token() else {
                return Err(Anomaly::BadAuthorization);
            };
            // token68 (Basic credentials) may end in `=` padding.
            if items == 1 {
                let mut pad = cur.clone();
                pad.take_while(|b| b == b'=');
                pad.skip_ws();
                if pad.at_end() {
                    break;
                }
            }
            cur.skip_ws();
            if !cur.eat(b'=') {
                // token68 (e.g. Basic credentials): the only item, nothing after it.
                opaque = true;
                cur.take_while(|b| b == b'=');
                cur.skip_ws();
                if !cur.at_end() {
                    return Err(Anomaly::BadAuthorization);
                }
                break;
            }
            cur.skip_ws();
            if cur.peek() == Some(b'"') {
                cur.quoted()?;
            } else if cur.token().is_none() {
                return Err(Anomaly::BadAuthorization);
            }
            cur.skip_ws();
            if !cur.at_end() && !cur.eat(b',') {
                return Err(Anomaly::BadAuthorization);
            }
        }
        if opaque && items > 1 {
            return Err(Anomaly::BadAuthorization);
        }
        Ok(AuthHeader {
            scheme,
            params: AuthParams(params),
        })
    }

    /// Whether the scheme is Digest (case-insensitive).
    #[must_use]
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }

    /// `username` (credentials).
    #[must_use]
    pub fn username(&self) -> Option<&'b str> {
        self.params.get("username")
    }

    /// `realm`.
    #[must_use]
    pub fn realm(&self) -> Option<&'b str> {
        self.params.get("realm")
    }

    /// `nonce`.
    #[must_use]
    pub fn nonce(&self) -> Option<&'b str> {
        self.params.get("nonce")
    }

    /// `uri` (digest-uri, credentials).
    #[must_use]
    pub fn uri(&self) -> Option<&'b str> {
        self.params.get("uri")
    }

    /// `response` (credentials).
    #[must_use]
    pub fn response(&self) -> Option<&'b str> {
        self.params.get("response")
    }

    /// `algorithm`.
    #[must_use]
    pub fn algorithm(&self) -> Option<&'b str> {
        self.params.get("algorithm")
    }

    /// `opaque`.
    #[must_use]
    pub fn opaque(&self) -> Option<&'b str> {
        self.params.get("opaque")
    }

    /// `qop`.
    #[must_use]
    pub fn qop(&self) -> Option<&'b str> {
        self.params.get("qop")
    }

    /// `stale` (challenge): `true` when the previous nonce merely expired.
    #[must_use]
    pub fn stale(&self) -> bool {
        self.params
            .get("stale")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_credentials() {
        let a = AuthHeader::parse(
            "Digest username=\"alice\", realm=\"atlanta.example.com\",\r\n nonce=\"84a4cc6f3082121f32b42a2187831a9e\", uri=\"sip:atlanta.example.com\", response=\"7587245234b3434cc3412213e5f113a5\", algorithm=MD5",
        )
        .unwrap();
        assert!(a.is_digest());
        assert_eq!(a.username(), Some("alice"));
        assert_eq!(a.realm(), Some("atlanta.example.com"));
        assert_eq!(a.nonce(), Some("84a4cc6f3082121f32b42a2187831a9e"));
        assert_eq!(a.uri(), Some("sip:atlanta.example.com"));
        assert_eq!(a.response(), Some("7587245234b3434cc3412213e5f113a5"));
        assert_eq!(a.algorithm(), Some("MD5"));
    }

    #[test]
    fn unknown_scheme_and_basic_rfc4475_regaut01() {
        let a = AuthHeader::parse("NoOneKnowsThisScheme opaque-data=here").unwrap();
        assert_eq!(a.scheme, "NoOneKnowsThisScheme");
        assert_eq!(a.params.get("opaque-data"), Some("here"));
        let b = AuthHeader::parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!(b.scheme, "Basic");
    }

    #[test]
    fn malformed_credentials_are_rejected() {
        assert_eq!(AuthHeader::parse(""), Err(Anomaly::BadAuthorization));
        assert_eq!(
            AuthHeader::parse("Digest username=\"alice"),
            Err(Anomaly::UnbalancedQuotes)
        );
        assert_eq!(
            AuthHeader::parse("Digest a b c"),
            Err(Anomaly::BadAuthorization)
        );
        assert_eq!(
            AuthHeader::parse("Digest =x"),
            Err(Anomaly::BadAuthorization)
        );
    }
}
