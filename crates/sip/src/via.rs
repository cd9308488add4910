//! The Via header (RFC 3261 §20.42, §18.2.1; RFC 3581 rport; RFC 5118 IPv6).

use core::fmt;

use crate::Anomaly;
use crate::text::{Cursor, ParamCtx, Params, parse_params};
use crate::uri::{Host, parse_host, parse_port};

/// A Via transport token, an open newtype (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, `WSS`, or any
/// other token as sent).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transport<'b>(&'b str);

impl<'b> Transport<'b> {
    /// UDP.
    pub const UDP: Transport<'static> = Transport("UDP");
    /// TCP.
    pub const TCP: Transport<'static> = Transport("TCP");
    /// TLS.
    pub const TLS: Transport<'static> = Transport("TLS");
    /// SCTP.
    pub const SCTP: Transport<'static> = Transport("SCTP");
    /// WebSocket (RFC 7118).
    pub const WS: Transport<'static> = Transport("WS");
    /// Secure WebSocket (RFC 7118).
    pub const WSS: Transport<'static> = Transport("WSS");

    /// The transport as sent.
    #[must_use]
    pub fn as_str(&self) -> &'b str {
        self.0
    }

    /// Case-insensitive comparison (transport tokens are case-insensitive, RFC 3261 §7.3.1).
    #[must_use]
    pub fn is(&self, other: Transport<'_>) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl fmt::Debug for Transport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Transport({})", self.0)
    }
}

/// The `rport` Via parameter (RFC 3581).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rport {
    /// `;rport` without a value: the client asks for the source port to be filled in.
    Requested,
    /// `;rport=N`, filled in by a server.
    Port(u16),
}

/// One Via value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'b> {
    /// Protocol name, normally `SIP`.
    pub protocol: &'b str,
    /// Protocol version, normally `2.0`.
    pub version: &'b str,
    /// Transport.
    pub transport: Transport<'b>,
    /// The sent-by host.
    pub host: Host<'b>,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// Via parameters.
    pub params: Params<'b>,
}

impl<'b> Via<'b> {
    /// Parses one Via value (one element of the comma-separated list). LWS is allowed around
    /// `/`, `;` and `=` (RFC 4475 `wsinv`).
    ///
    /// # Errors
    ///
    /// [`Anomaly::BadVia`], [`Anomaly::EmptyParameter`] or [`Anomaly::UnbalancedQuotes`].
    pub fn parse(s: &'b str) -> Result<Self, Anomaly> {
        let mut cur = Cursor::new(s);
        let slash = |cur: &mut Cursor<'b>| {
            cur.skip_ws();
            let ok = cur.eat(b'/');
            cur.skip_ws();
            ok
        };
        let (protocol, version) = if s.starts_with("SIP/2.0/") {
            // The usual sent-protocol, read as the general path below would read it.
            cur.advance(8);
            cur.skip_ws();
            (cur.slice(0, 3), cur.slice(4, 7))
        } else {
            cur.skip_ws();
            let protocol = cur.token().ok_or(Anomaly::BadVia)?;
            if !slash(&mut cur) {
                return Err(Anomaly::BadVia);
            }
            let version = cur.token().ok_or(Anomaly::BadVia)?;
            if !slash(&mut cur) {
                return Err(Anomaly::BadVia);
            }
            (protocol, version)
        };
        Self::parse_rest(cur, protocol, version)
    }

    /// The rest of a Via value after its `protocol/version/`: transport, sent-by, parameters.
    fn parse_rest(
        mut cur: Cursor<'b>,
        protocol: &'b str,
        version: &'b str,
    ) -> Result<Self, Anomaly> {
        let transport = Transport(cur.token().ok_or(Anomaly::BadVia)?);
        if !cur.skip_ws() {
            return Err(Anomaly::BadVia);
        }
        let host = parse_host(&mut cur).map_err(|_| Anomaly::BadVia)?;
        cur.skip_ws();
        let port = parse_port(&mut cur).map_err(|_| Anomaly::BadVia)?;
        let params = parse_params(&mut cur, ParamCtx::Header)?;
        cur.skip_ws();
        if !cur.at_end() {
            return Err(Anomaly::BadVia);
        }
        Ok(Via {
            protocol,
            version,
            transport,
            host,
            port,
            params,
        })
    }

    /// The `branch` parameter (RFC 3261 §8.1.1.7; `z9hG4bK` prefix for RFC 3261 clients).
    #[must_use]
    pub fn branch(&self) -> Option<&'b str> {
        self.params.get("branch")
    }

    /// The `received` parameter, with or without IPv6 brackets (RFC 5118 §4.5).
    #[must_use]
    pub fn received(&self) -> Option<&'b str> {
        self.params.get("received")
    }

    /// The `rport` parameter (RFC 3581).
    #[must_use]
    pub fn rport(&self) -> Option<Rport> {
        let v = self.params.get("rport")?;
        if v.is_empty() {
            return Some(Rport::Requested);
        }
        crate::text::parse_number(v.as_bytes(), u64::from(u16::MAX))
            .ok()
            .and_then(|p| u16::try_from(p).ok())
            .map(Rport::Port)
    }

    /// The `maddr` parameter.
    #[must_use]
    pub fn maddr(&self) -> Option<&'b str> {
        self.params.get("maddr")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::String;

    /// `Via::parse` as it was before the `SIP/2.0/` fast path: the reference.
    fn reference_parse<'b>(s: &'b str) -> Result<Via<'b>, Anomaly> {
        let mut cur = Cursor::new(s);
        cur.skip_ws();
        let protocol = cur.token().ok_or(Anomaly::BadVia)?;
        let slash = |cur: &mut Cursor<'b>| {
            cur.skip_ws();
            let ok = cur.eat(b'/');
            cur.skip_ws();
            ok
        };
        if !slash(&mut cur) {
            return Err(Anomaly::BadVia);
        }
        let version = cur.token().ok_or(Anomaly::BadVia)?;
        if !slash(&mut cur) {
            return Err(Anomaly::BadVia);
        }
        Via::parse_rest(cur, protocol, version)
    }

    /// Via-like text around the usual shape.
    fn via_text() -> impl Strategy<Value = String> {
        let piece = proptest::sample::select(std::vec![
            "SIP/2.0/",
            "SIP",
            "sip",
            "/",
            "2.0",
            " ",
            "\t",
            "\r\n ",
            "UDP",
            "TCP",
            " ",
            "198.51.100.7",
            "[2001:db8::1]",
            ":5060",
            ":",
            "99999",
            ";branch=z9hG4bK-1",
            ";rport",
            ";",
            "=",
            "\"",
            ",",
            "é",
            "@",
        ]);
        let pieces = proptest::collection::vec(piece, 0..10).prop_map(|v| v.concat());
        prop_oneof![
            pieces.clone().prop_map(|p| String::from("SIP/2.0/") + &p),
            pieces
                .clone()
                .prop_map(|p| String::from("SIP/2.0/UDP ") + &p),
            pieces,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

        #[test]
        fn fast_path_gives_what_the_general_parser_gives(s in via_text()) {
            let fast = Via::parse(&s);
            prop_assert_eq!(fast, reference_parse(&s));
            if let Ok(v) = fast {
                // Still borrowed from the value itself.
                prop_assert!(s.as_ptr() <= v.protocol.as_ptr() && s.as_ptr() <= v.version.as_ptr());
            }
        }
    }

    #[test]
    fn fast_path_agrees_on_the_usual_and_the_odd_shapes() {
        for s in [
            "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1;rport",
            "SIP/2.0/ UDP host",
            "SIP/2.0/\r\n UDP host",
            "SIP/2.0/",
            "SIP/2.0//UDP host",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP host:0",
            "SIP/2.0/UDP host:65535",
            "SIP/2.0/UDP host:65536",
            "SIP/2.0/UDP host:00005060",
            "SIP/2.0/UDP host:",
            " SIP/2.0/UDP host",
            "SIP /2.0/UDP host",
        ] {
            assert_eq!(Via::parse(s), reference_parse(s), "{s:?}");
        }
    }

    #[test]
    fn short_ports_read_as_parse_number_reads_them() {
        let reference = |digits: &str| {
            crate::text::parse_number(digits.as_bytes(), u64::from(u16::MAX))
                .map(|p| u16::try_from(p).ok())
                .map_err(|_| Anomaly::BadRequestUri)
        };
        let mut text = String::new();
        for len in 0..=6u32 {
            for n in 0..10u32.pow(len).min(200_000) {
                text.clear();
                text.push(':');
                let digits = std::format!("{n:0width$}", width = len as usize);
                text.push_str(if len == 0 { "" } else { &digits });
                text.push(';');
                let mut cur = Cursor::new(&text);
                assert_eq!(
                    parse_port(&mut cur),
                    reference(&text[1..text.len() - 1]),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn via_with_folded_lws_rfc4475_wsinv() {
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.protocol, "SIP");
        assert_eq!(v.version, "2.0");
        assert!(v.transport.is(Transport::UDP));
        assert_eq!(v.host.as_str(), "192.0.2.2");
        assert_eq!(v.branch(), Some("390skdjuw"));
    }

    #[test]
    fn via_ipv6_sent_by_received_and_rport() {
        let v = Via::parse("SIP/2.0/TCP [2001:db8::9:255]:6050;branch=z9hG4bK451jj;received=[2001:db8::9:1];rport=1234").unwrap();
        assert_eq!(v.host.name(), "2001:db8::9:255");
        assert_eq!(v.port, Some(6050));
        assert_eq!(v.received(), Some("[2001:db8::9:1]"));
        assert_eq!(v.rport(), Some(Rport::Port(1234)));
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;rport").unwrap();
        assert_eq!(v.received(), Some("2001:db8::9:255"));
        assert_eq!(v.rport(), Some(Rport::Requested));
    }

    #[test]
    fn malformed_vias_are_rejected() {
        assert_eq!(
            Via::parse("SIP/2.0/UDP 192.0.2.15;;"),
            Err(Anomaly::EmptyParameter)
        );
        for s in [
            "",
            "SIP/2.0",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP host:port",
            "SIP/2.0/UDP a b",
        ] {
            assert!(Via::parse(s).is_err(), "{s}");
        }
    }
}
