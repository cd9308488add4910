//! A sans-IO STUN Binding responder with RFC 5780 alternate address and port support.
//!
//! The driver binds one UDP socket per address in [`Server::local_addresses`] and passes every
//! datagram to [`Server::handle`] together with the socket it arrived on. The server never sends to
//! an IP address other than the request's source: RESPONSE-PORT may change the port only (RFC 5780
//! §9.1 warns that a redirect to another host would make the server a reflector for attacks).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::attr::{AttrType, ChangeRequest, ErrorCode};
use crate::message::{Class, DecodeError, Fingerprint, Message, MessageBuilder, Method};

/// Where a [`Server`] listens, and what it says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The primary address and port (A1:P1 in RFC 5780 §4.1 terms).
    pub primary: SocketAddr,
    /// The alternate IP address (A2), of the same family as `primary`.
    pub alternate_ip: Option<IpAddr>,
    /// The alternate port (P2).
    pub alternate_port: Option<u16>,
    /// SOFTWARE attribute value in responses; `None` leaves it out.
    pub software: Option<String>,
    /// Response rate limits; `None` answers everything (tests, trusted networks).
    pub limits: Option<Limits>,
}

/// Response rate limits. A STUN response is two to four times the size of the request, so a
/// server that answers forged requests without limit amplifies floods towards the forged source;
/// these bound what any one address, and everyone together, can get.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Responses one source address may get in a burst.
    pub per_source_burst: f64,
    /// Sustained responses per second per source address.
    pub per_source_rate: f64,
    /// Responses per second for all sources together (burst of one second's worth).
    pub global_rate: f64,
    /// Most source addresses tracked; beyond it, new sources are not answered until old ones go
    /// idle (bounded memory under a flood with forged sources).
    pub max_sources: usize,
}

impl Default for Limits {
    /// Enough for a NAT discovery (about ten requests) and a binding-lifetime ladder (about thirty)
    /// from one site at a time; a few thousand responses per second overall.
    fn default() -> Self {
        Limits {
            per_source_burst: 60.0,
            per_source_rate: 10.0,
            global_rate: 2000.0,
            max_sources: 8192,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, burst: f64, rate: f64, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn idle(&self, burst: f64, rate: f64, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens + dt * rate >= burst
    }
}

#[derive(Debug, Clone, Default)]
struct Limiter {
    sources: HashMap<IpAddr, Bucket>,
    global: Option<Bucket>,
}

impl Limiter {
    fn allow(&mut self, l: &Limits, from: IpAddr, now: Instant) -> bool {
        if !self.sources.contains_key(&from) && self.sources.len() >= l.max_sources {
            self.sources
                .retain(|_, b| !b.idle(l.per_source_burst, l.per_source_rate, now));
            if self.sources.len() >= l.max_sources {
                return false;
            }
        }
        let source = self.sources.entry(from).or_insert(Bucket {
            tokens: l.per_source_burst,
            at: now,
        });
        if !source.take(l.per_source_burst, l.per_source_rate, now) {
            return false;
        }
        self.global
            .get_or_insert(Bucket {
                tokens: l.global_rate,
                at: now,
            })
            .take(l.global_rate, l.global_rate, now)
    }
}

impl ServerConfig {
    /// A server on `primary` alone: plain RFC 5389 Binding, CHANGE-REQUEST refused.
    pub fn single(primary: SocketAddr) -> ServerConfig {
        ServerConfig {
            primary,
            alternate_ip: None,
            alternate_port: None,
            software: None,
            limits: Some(Limits::default()),
        }
    }
}

/// A datagram the server wants sent: `len` bytes at the start of the caller's output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The local socket to send from (one of [`Server::local_addresses`]).
    pub from: SocketAddr,
    /// The destination.
    pub to: SocketAddr,
    /// Length of the datagram in the output buffer.
    pub len: usize,
}

/// Counters of what a [`Server`] did with the datagrams it saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Binding success responses produced.
    pub answered: u64,
    /// Error responses produced (400 or 420).
    pub errors: u64,
    /// Datagrams dropped silently: not STUN, not a request, or a bad FINGERPRINT (RFC 5389 §7.3).
    pub dropped: u64,
    /// Requests not answered because of the rate limits.
    pub rate_limited: u64,
}

/// The responder. Stateless apart from counters; cheap to share behind a lock or clone per thread.
#[derive(Debug, Clone)]
pub struct Server {
    config: ServerConfig,
    stats: ServerStats,
    limiter: Limiter,
}

/// Attributes the server understands in a request. Credentials are not used by this server, but a
/// request carrying them is still answered rather than refused.
const KNOWN: &[AttrType] = &[
    AttrType::CHANGE_REQUEST,
    AttrType::RESPONSE_PORT,
    AttrType::PADDING,
    AttrType::USERNAME,
    AttrType::MESSAGE_INTEGRITY,
];

/// The largest PADDING the server echoes; larger requests get a response padded to this size.
const MAX_PADDING: usize = 1400;

impl Server {
    /// A server with `config`.
    pub fn new(config: ServerConfig) -> Server {
        Server {
            config,
            stats: ServerStats::default(),
            limiter: Limiter::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// What the server has done so far.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// The sockets the driver must bind: the primary, and every combination with the alternate IP and
    /// port that is configured.
    pub fn local_addresses(&self) -> Vec<SocketAddr> {
        let p = self.config.primary;
        let mut v = vec![p];
        if let Some(port) = self.config.alternate_port {
            v.push(SocketAddr::new(p.ip(), port));
        }
        if let Some(ip) = self.config.alternate_ip {
            v.push(SocketAddr::new(ip, p.port()));
            if let Some(port) = self.config.alternate_port {
                v.push(SocketAddr::new(ip, port));
            }
        }
        v
    }

    /// The address that differs from `local` in IP and/or port, as asked.
    fn changed(&self, local: SocketAddr, change: ChangeRequest) -> Option<SocketAddr> {
        let mut out = local;
        if change.change_ip {
            let alt = self.config.alternate_ip?;
            out.set_ip(if local.ip() == alt {
                self.config.primary.ip()
            } else {
                alt
            });
        }
        if change.change_port {
            let alt = self.config.alternate_port?;
            out.set_port(if local.port() == alt {
                self.config.primary.port()
            } else {
                alt
            });
        }
        Some(out)
    }

    /// OTHER-ADDRESS for a request that arrived on `local`: the address differing in both IP and port
    /// (RFC 5780 §7.4). Only a server with both an alternate IP and port has one.
    fn other_address(&self, local: SocketAddr) -> Option<SocketAddr> {
        self.changed(
            local,
            ChangeRequest {
                change_ip: true,
                change_port: true,
            },
        )
    }

    /// Answers one datagram that arrived at `now` on the local socket `local` from `from`. Writes
    /// the response into `out` (cleared first) and says where to send it, or returns `None` when the
    /// datagram is to be dropped silently (including when a rate limit is reached).
    pub fn handle(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<Reply> {
        let reply = self.respond(local, from, bytes, out);
        if reply.is_some()
            && let Some(limits) = self.config.limits
            && !self.limiter.allow(&limits, from.ip(), now)
        {
            self.stats.rate_limited += 1;
            return None;
        }
        match reply {
            Some((_, true)) => self.stats.answered += 1,
            Some((_, false)) => self.stats.errors += 1,
            None => self.stats.dropped += 1,
        }
        reply.map(|(r, _)| r)
    }

    /// The response, and whether it is a success.
    fn respond<'o>(
        &self,
        local: SocketAddr,
        from: SocketAddr,
        bytes: &[u8],
        out: &'o mut Vec<u8>,
    ) -> Option<(Reply, bool)> {
        let req = match Message::parse(bytes) {
            Ok(m) => m,
            // RFC 3489 clients (the classic `stun` tool, old phones) have no magic cookie.
            Err(DecodeError::MagicCookieMismatch { .. }) => Message::parse_rfc3489(bytes).ok()?,
            Err(_) => return None,
        };
        if req.class() != Class::Request || req.fingerprint() == Fingerprint::Invalid {
            return None;
        }
        let legacy = req.is_rfc3489();
        let with_fingerprint = req.fingerprint() == Fingerprint::Valid;
        let start = |out: &'o mut Vec<u8>, class: Class, method: Method| {
            if legacy {
                MessageBuilder::new_rfc3489(out, class, method, req.rfc3489_transaction_id())
            } else {
                MessageBuilder::new(out, class, method, req.transaction_id())
            }
        };
        let error = |out: &'o mut Vec<u8>, code: u16, reason: &str, unknown: &[AttrType]| {
            let mut b = start(out, Class::ErrorResponse, req.method());
            b.add_error_code(code, reason);
            if !unknown.is_empty() {
                b.add_unknown_attributes(unknown);
            }
            if let Some(sw) = &self.config.software {
                b.add_software(sw);
            }
            if with_fingerprint {
                b.add_fingerprint();
            }
            let len = b.finish().ok()?;
            Some((
                Reply {
                    from: local,
                    to: from,
                    len,
                },
                false,
            ))
        };
        if req.method() != Method::BINDING {
            return error(out, ErrorCode::BAD_REQUEST, "Unsupported method", &[]);
        }
        let unknown = req.unknown_required(KNOWN);
        if !unknown.is_empty() {
            return error(
                out,
                ErrorCode::UNKNOWN_ATTRIBUTE,
                "Unknown Attribute",
                &unknown,
            );
        }
        let (Ok(change), Ok(response_port)) = (req.change_request(), req.response_port()) else {
            return error(out, ErrorCode::BAD_REQUEST, "Malformed attribute", &[]);
        };
        let change = change.unwrap_or_default();
        // RFC 5780 §6.1: a CHANGE-REQUEST the server cannot honour is answered with 420.
        let Some(source) = self.changed(local, change) else {
            return error(
                out,
                ErrorCode::UNKNOWN_ATTRIBUTE,
                "Unknown Attribute",
                &[AttrType::CHANGE_REQUEST],
            );
        };
        let mut to = from;
        if let Some(port) = response_port {
            to.set_port(port);
        }
        let padding = req
            .get(AttrType::PADDING)
            .map(|p| p.value.len().min(MAX_PADDING));

        let mut b = start(out, Class::SuccessResponse, Method::BINDING);
        if legacy {
            // RFC 3489 §11.2: MAPPED-ADDRESS, SOURCE-ADDRESS and CHANGED-ADDRESS.
            b.add_mapped_address(from)
                .add_address(AttrType::SOURCE_ADDRESS, source);
            if let Some(other) = self.other_address(local) {
                b.add_address(AttrType::CHANGED_ADDRESS, other);
            }
        } else {
            b.add_xor_mapped_address(from)
                .add_mapped_address(from)
                .add_response_origin(source);
            if let Some(other) = self.other_address(local) {
                b.add_other_address(other);
            }
        }
        if let Some(sw) = &self.config.software {
            b.add_software(sw);
        }
        if let Some(len) = padding {
            b.add_padding(len);
        }
        if with_fingerprint {
            b.add_fingerprint();
        }
        let len = b.finish().ok()?;
        Some((
            Reply {
                from: source,
                to,
                len,
            },
            true,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::TransactionId;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn rfc5780_server() -> Server {
        Server::new(ServerConfig {
            primary: addr("198.51.100.10:3478"),
            alternate_ip: Some("198.51.100.11".parse().unwrap()),
            alternate_port: Some(3479),
            software: Some("pbxguard".into()),
            limits: None,
        })
    }

    /// Hands `req` from `from` to the server's socket `local`: the reply, and its bytes.
    fn answer(s: &mut Server, local: SocketAddr, from: SocketAddr, req: &[u8]) -> (Reply, Vec<u8>) {
        let mut out = Vec::new();
        let r = s
            .handle(Instant::now(), local, from, req, &mut out)
            .unwrap();
        out.truncate(r.len);
        (r, out)
    }

    fn request(f: impl FnOnce(&mut MessageBuilder<'_>)) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(
            &mut buf,
            Class::Request,
            Method::BINDING,
            TransactionId([7; 12]),
        );
        f(&mut b);
        b.finish().unwrap();
        buf
    }

    #[test]
    fn binds_all_four_rfc5780_sockets() {
        assert_eq!(
            rfc5780_server().local_addresses(),
            vec![
                addr("198.51.100.10:3478"),
                addr("198.51.100.10:3479"),
                addr("198.51.100.11:3478"),
                addr("198.51.100.11:3479"),
            ]
        );
    }

    #[test]
    fn plain_binding_reports_source_origin_and_other_address() {
        let mut s = rfc5780_server();
        let client = addr("192.0.2.1:40000");
        let req = request(|b| {
            b.add_fingerprint();
        });
        let (r, out) = answer(&mut s, addr("198.51.100.10:3478"), client, &req);
        assert_eq!(r.from, addr("198.51.100.10:3478"));
        assert_eq!(r.to, client);
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.class(), Class::SuccessResponse);
        assert_eq!(m.transaction_id(), TransactionId([7; 12]));
        assert_eq!(m.xor_mapped_address(), Ok(Some(client)));
        assert_eq!(m.mapped_address(), Ok(Some(client)));
        assert_eq!(m.response_origin(), Ok(Some(r.from)));
        assert_eq!(m.other_address(), Ok(Some(addr("198.51.100.11:3479"))));
        assert_eq!(m.fingerprint(), Fingerprint::Valid);
        assert_eq!(s.stats().answered, 1);
    }

    #[test]
    fn change_request_selects_the_source_socket() {
        let cases = [
            (false, false, "198.51.100.10:3478"),
            (false, true, "198.51.100.10:3479"),
            (true, false, "198.51.100.11:3478"),
            (true, true, "198.51.100.11:3479"),
        ];
        for (ip, port, expect) in cases {
            let mut s = rfc5780_server();
            let req = request(|b| {
                b.add_change_request(ChangeRequest {
                    change_ip: ip,
                    change_port: port,
                });
            });
            let (r, out) = answer(
                &mut s,
                addr("198.51.100.10:3478"),
                addr("192.0.2.1:1"),
                &req,
            );
            assert_eq!(r.from, addr(expect), "change ip={ip} port={port}");
            let m = Message::parse(&out).unwrap();
            assert_eq!(m.response_origin(), Ok(Some(addr(expect))));
        }
    }

    #[test]
    fn change_request_from_the_alternate_socket_goes_back_to_the_primary() {
        let mut s = rfc5780_server();
        let req = request(|b| {
            b.add_change_request(ChangeRequest {
                change_ip: true,
                change_port: true,
            });
        });
        let (r, out) = answer(
            &mut s,
            addr("198.51.100.11:3479"),
            addr("192.0.2.1:1"),
            &req,
        );
        assert_eq!(r.from, addr("198.51.100.10:3478"));
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.other_address(), Ok(Some(addr("198.51.100.10:3478"))));
    }

    #[test]
    fn rfc5780_6_1_change_request_without_alternate_gets_420() {
        let mut s = Server::new(ServerConfig::single(addr("198.51.100.10:3478")));
        let req = request(|b| {
            b.add_change_request(ChangeRequest {
                change_ip: true,
                change_port: false,
            });
        });
        let (_, out) = answer(
            &mut s,
            addr("198.51.100.10:3478"),
            addr("192.0.2.1:1"),
            &req,
        );
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.class(), Class::ErrorResponse);
        assert_eq!(m.error_code().unwrap().unwrap().code, 420);
        assert_eq!(
            m.unknown_attributes(),
            Ok(Some(vec![AttrType::CHANGE_REQUEST]))
        );
        assert_eq!(m.other_address(), Ok(None));
    }

    #[test]
    fn response_port_changes_the_port_but_never_the_host() {
        let mut s = rfc5780_server();
        let req = request(|b| {
            b.add_response_port(5060);
        });
        let (r, out) = answer(
            &mut s,
            addr("198.51.100.10:3478"),
            addr("192.0.2.1:40000"),
            &req,
        );
        assert_eq!(r.to, addr("192.0.2.1:5060"));
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.xor_mapped_address(), Ok(Some(addr("192.0.2.1:40000"))));
    }

    #[test]
    fn unknown_comprehension_required_attribute_gets_420_with_its_type() {
        let mut s = rfc5780_server();
        let req = request(|b| {
            b.add_raw(AttrType(0x7001), b"x")
                .add_raw(AttrType(0xC001), b"y");
        });
        let (_, out) = answer(
            &mut s,
            addr("198.51.100.10:3478"),
            addr("192.0.2.1:1"),
            &req,
        );
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.error_code().unwrap().unwrap().code, 420);
        assert_eq!(m.unknown_attributes(), Ok(Some(vec![AttrType(0x7001)])));
    }

    #[test]
    fn responses_indications_garbage_and_bad_fingerprints_are_dropped() {
        let mut s = rfc5780_server();
        let mut out = Vec::new();
        let local = addr("198.51.100.10:3478");
        let from = addr("192.0.2.1:1");
        let mut response = Vec::new();
        MessageBuilder::new(
            &mut response,
            Class::SuccessResponse,
            Method::BINDING,
            TransactionId([1; 12]),
        )
        .finish()
        .unwrap();
        let mut bad_fp = request(|b| {
            b.add_fingerprint();
        });
        let last = bad_fp.len() - 1;
        bad_fp[last] ^= 1;
        for d in [&response[..], b"OPTIONS sip:x SIP/2.0\r\n", &bad_fp, &[]] {
            assert_eq!(s.handle(Instant::now(), local, from, d, &mut out), None);
        }
        assert_eq!(s.stats().dropped, 4);
    }

    #[test]
    fn padding_is_echoed_up_to_a_bound() {
        let mut s = rfc5780_server();
        let req = request(|b| {
            b.add_padding(500);
        });
        let (r, out) = answer(
            &mut s,
            addr("198.51.100.10:3478"),
            addr("192.0.2.1:1"),
            &req,
        );
        assert!(r.len >= req.len());
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.get(AttrType::PADDING).unwrap().value.len(), 500);
    }

    /// An RFC 3489 Binding request: no magic cookie, a 128-bit transaction ID.
    fn rfc3489_request(attrs: &[u8]) -> Vec<u8> {
        let mut v = vec![0x00, 0x01, 0x00, u8::try_from(attrs.len()).unwrap()];
        v.extend_from_slice(&[0xA5; 16]);
        v.extend_from_slice(attrs);
        v
    }

    #[test]
    fn rfc3489_request_gets_a_classic_answer_with_its_own_transaction_id() {
        let mut s = rfc5780_server();
        // CHANGE-REQUEST with "change port".
        let req = rfc3489_request(&[0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0x02]);
        let client = addr("192.0.2.1:40000");
        let (r, out) = answer(&mut s, addr("198.51.100.10:3478"), client, &req);
        assert_eq!(r.from, addr("198.51.100.10:3479"));
        let bytes = &out;
        assert_eq!(&bytes[4..20], &[0xA5; 16]);
        let m = Message::parse_rfc3489(bytes).unwrap();
        assert!(m.is_rfc3489());
        assert_eq!(m.class(), Class::SuccessResponse);
        assert_eq!(m.mapped_address(), Ok(Some(client)));
        assert_eq!(m.xor_mapped_address(), Ok(None));
        let source = m.get(AttrType::SOURCE_ADDRESS).unwrap();
        assert_eq!(
            crate::attr::decode_address(AttrType::SOURCE_ADDRESS, source.value),
            Ok(addr("198.51.100.10:3479"))
        );
        // OTHER-ADDRESS falls back to CHANGED-ADDRESS.
        assert_eq!(m.other_address(), Ok(Some(addr("198.51.100.11:3479"))));
    }

    #[test]
    fn rfc3489_response_address_is_never_honoured() {
        let mut s = rfc5780_server();
        // RESPONSE-ADDRESS pointing at a third party.
        let req = rfc3489_request(&[0x00, 0x02, 0x00, 0x08, 0, 1, 0x13, 0xC4, 203, 0, 113, 9]);
        let (r, out) = answer(
            &mut s,
            addr("198.51.100.10:3478"),
            addr("192.0.2.1:1"),
            &req,
        );
        assert_eq!(r.to, addr("192.0.2.1:1"));
        let m = Message::parse_rfc3489(&out).unwrap();
        assert_eq!(m.error_code().unwrap().unwrap().code, 420);
        assert_eq!(
            m.unknown_attributes(),
            Ok(Some(vec![AttrType::RESPONSE_ADDRESS]))
        );
    }

    #[test]
    fn responses_are_rate_limited_per_source_and_the_source_table_is_bounded() {
        let mut s = Server::new(ServerConfig {
            limits: Some(Limits {
                per_source_burst: 3.0,
                per_source_rate: 1.0,
                global_rate: 1000.0,
                max_sources: 2,
            }),
            ..ServerConfig::single(addr("198.51.100.10:3478"))
        });
        let mut out = Vec::new();
        let local = addr("198.51.100.10:3478");
        let req = request(|_| {});
        let t0 = Instant::now();
        let mut answered = |s: &mut Server, from: &str, at: Instant| {
            s.handle(at, local, addr(from), &req, &mut out).is_some()
        };
        let burst: Vec<bool> = (0..5)
            .map(|_| answered(&mut s, "192.0.2.1:1", t0))
            .collect();
        assert_eq!(burst, [true, true, true, false, false]);
        // One more per second.
        let t1 = t0 + std::time::Duration::from_secs(1);
        assert!(answered(&mut s, "192.0.2.1:1", t1));
        assert!(!answered(&mut s, "192.0.2.1:1", t1));
        // A second source has its own budget; a third finds the table full of busy sources.
        assert!(answered(&mut s, "192.0.2.2:1", t1));
        assert!(!answered(&mut s, "192.0.2.3:1", t1));
        // Once the first two go idle, the third is served.
        let t9 = t0 + std::time::Duration::from_secs(9);
        assert!(answered(&mut s, "192.0.2.3:1", t9));
        assert_eq!(s.stats().rate_limited, 4);
    }
}
