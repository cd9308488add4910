//! NAT behaviour discovery (RFC 5780 §4.3–4.5): mapping, filtering and hairpinning, as a sans-IO
//! client against a server with an alternate address and port.
//!
//! The tests run on separate local sockets so that one cannot disturb another: mapping tests I–III
//! on socket 0, filtering tests I–III on socket 1 (a fresh mapping that has only ever talked to the
//! primary address, so no earlier packet has opened the filter for the alternate address), and the
//! hairpinning request from socket 2 to socket 0's mapped address.

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use crate::attr::{ChangeRequest, ErrorCode};
use crate::message::{Class, Message, TransactionId};
use crate::transaction::{LocalSocket, Outcome, Probe, RetransmitConfig, Transactions, Transmit};

/// Socket used for the mapping tests (and as the hairpinning target).
pub const MAPPING_SOCKET: LocalSocket = LocalSocket(0);
/// Socket used for the filtering tests.
pub const FILTERING_SOCKET: LocalSocket = LocalSocket(1);
/// Socket that sends the hairpinning request.
pub const HAIRPIN_SOCKET: LocalSocket = LocalSocket(2);

/// How the NAT assigns external addresses (RFC 4787 §4.1, tested per RFC 5780 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingBehavior {
    /// No NAT between client and server: the mapped address is the local address.
    NoNat,
    /// One mapping per internal address and port, whatever the destination ("cone").
    EndpointIndependent,
    /// A new mapping per destination IP address.
    AddressDependent,
    /// A new mapping per destination IP address and port ("symmetric").
    AddressAndPortDependent,
}

impl fmt::Display for MappingBehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MappingBehavior::NoNat => "no NAT",
            MappingBehavior::EndpointIndependent => "endpoint-independent",
            MappingBehavior::AddressDependent => "address-dependent",
            MappingBehavior::AddressAndPortDependent => "address and port-dependent",
        })
    }
}

/// Which inbound packets the NAT lets through a mapping (RFC 4787 §5, tested per RFC 5780 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilteringBehavior {
    /// Anyone may send to the mapping ("full cone").
    EndpointIndependent,
    /// Only IP addresses the client has sent to ("restricted cone").
    AddressDependent,
    /// Only IP address and port pairs the client has sent to ("port-restricted").
    AddressAndPortDependent,
}

impl fmt::Display for FilteringBehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FilteringBehavior::EndpointIndependent => "endpoint-independent",
            FilteringBehavior::AddressDependent => "address-dependent",
            FilteringBehavior::AddressAndPortDependent => "address and port-dependent",
        })
    }
}

/// Why a behaviour could not be determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Undetermined {
    /// The server sent no OTHER-ADDRESS, so it has no alternate address for the RFC 5780 tests.
    ServerLacksOtherAddress,
    /// No answer from the server's alternate address (test II or III of the mapping test).
    NoResponseFromAlternate,
    /// The server answered a CHANGE-REQUEST from the wrong address: it ignores the attribute.
    ServerIgnoredChangeRequest,
    /// The server refused CHANGE-REQUEST with an error response.
    ServerRefusedChangeRequest,
    /// A response lacked XOR-MAPPED-ADDRESS or carried a malformed one.
    MalformedResponse,
    /// Test I on this test's own socket got no answer.
    NoResponse,
}

impl fmt::Display for Undetermined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Undetermined::ServerLacksOtherAddress => {
                "the server has no alternate address (no OTHER-ADDRESS)"
            }
            Undetermined::NoResponseFromAlternate => {
                "no answer from the server's alternate address"
            }
            Undetermined::ServerIgnoredChangeRequest => "the server ignores CHANGE-REQUEST",
            Undetermined::ServerRefusedChangeRequest => "the server refuses CHANGE-REQUEST",
            Undetermined::MalformedResponse => "the server's response was malformed",
            Undetermined::NoResponse => "no answer from the server",
        })
    }
}

/// The result of one behaviour test: determined, undetermined (with the reason), or not asked for.
pub type Finding<T> = Option<Result<T, Undetermined>>;

/// Which tests to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tests {
    /// Mapping behaviour (RFC 5780 §4.3).
    pub mapping: bool,
    /// Filtering behaviour (RFC 5780 §4.4).
    pub filtering: bool,
    /// Hairpinning (RFC 5780 §4.5).
    pub hairpinning: bool,
}

impl Default for Tests {
    fn default() -> Self {
        Tests {
            mapping: true,
            filtering: true,
            hairpinning: true,
        }
    }
}

/// Configuration of a [`NatDiscovery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// The server's primary address (A1:P1).
    pub server: SocketAddr,
    /// Which tests to run.
    pub tests: Tests,
    /// Retransmission timers. A filtering test that is blocked takes one full timeout.
    pub retransmit: RetransmitConfig,
    /// Seed for transaction IDs; the driver should pass random bytes.
    pub seed: [u8; 12],
}

/// What the discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatReport {
    /// Mapped (server-reflexive) address of the mapping socket, from test I.
    pub mapped: SocketAddr,
    /// The mapping socket's local address, when the driver reported it.
    pub local: Option<SocketAddr>,
    /// The server's alternate address, from OTHER-ADDRESS.
    pub other_address: Option<SocketAddr>,
    /// Mapping behaviour.
    pub mapping: Finding<MappingBehavior>,
    /// Filtering behaviour.
    pub filtering: Finding<FilteringBehavior>,
    /// Whether the NAT hairpins (delivers a packet sent to a mapped address from inside).
    pub hairpinning: Option<bool>,
}

impl NatReport {
    /// Whether the NAT kept the local port as the external port (known only when the local address
    /// was reported).
    pub fn port_preserved(&self) -> Option<bool> {
        self.local.map(|l| l.port() == self.mapped.port())
    }
}

/// Why discovery produced no report at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The server's primary address never answered test I.
    ServerUnreachable,
    /// The server answered test I with an error response.
    ServerRejectedBinding {
        /// The error code.
        code: u16,
    },
    /// The server's answer to test I had no usable mapped address.
    MalformedResponse,
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::ServerUnreachable => write!(f, "the STUN server did not answer"),
            DiscoveryError::ServerRejectedBinding { code } => {
                write!(f, "the STUN server answered with error {code}")
            }
            DiscoveryError::MalformedResponse => {
                write!(f, "the STUN server's response had no usable mapped address")
            }
        }
    }
}

impl std::error::Error for DiscoveryError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Mapping1,
    Mapping2,
    Mapping3,
    Filtering1,
    /// Change IP and port.
    Filtering2,
    /// Change port only.
    Filtering3,
    Hairpin,
}

/// A decoded response.
struct Answer {
    from: SocketAddr,
    class: Class,
    code: Option<u16>,
    mapped: Option<SocketAddr>,
    other: Option<SocketAddr>,
}

fn decode(from: SocketAddr, bytes: &[u8]) -> Option<Answer> {
    let m = Message::parse(bytes).ok()?;
    Some(Answer {
        from,
        class: m.class(),
        code: m.error_code().ok().flatten().map(|e| e.code),
        mapped: m.reflexive_address().ok().flatten(),
        other: m.other_address().ok().flatten(),
    })
}

/// The RFC 5780 mapping, filtering and hairpinning tests as one sans-IO machine; see the module
/// documentation for the sockets it uses.
#[derive(Debug)]
pub struct NatDiscovery {
    config: DiscoveryConfig,
    txns: Transactions<Key>,
    local: Option<SocketAddr>,
    mapped: Option<SocketAddr>,
    other: Option<SocketAddr>,
    mapped2: Option<SocketAddr>,
    mapping: Finding<MappingBehavior>,
    filtering: Finding<FilteringBehavior>,
    /// Result of filtering test II (None while pending).
    filtering2: Option<Result<bool, Undetermined>>,
    /// Result of filtering test III.
    filtering3: Option<Result<bool, Undetermined>>,
    hairpin_tid: Option<TransactionId>,
    hairpinning: Option<bool>,
    fatal: Option<DiscoveryError>,
    delivered: bool,
}

impl NatDiscovery {
    /// Starts discovery at `now`; the first requests are ready from [`Probe::poll_transmit`].
    pub fn new(now: Instant, config: DiscoveryConfig) -> NatDiscovery {
        let mut txns = Transactions::new(config.retransmit, config.seed);
        let server = config.server;
        txns.start(now, Key::Mapping1, MAPPING_SOCKET, server, |_| {});
        if config.tests.filtering {
            txns.start(now, Key::Filtering1, FILTERING_SOCKET, server, |_| {});
        }
        NatDiscovery {
            mapping: None,
            filtering: None,
            filtering2: None,
            filtering3: None,
            config,
            txns,
            local: None,
            mapped: None,
            other: None,
            mapped2: None,
            hairpin_tid: None,
            hairpinning: None,
            fatal: None,
            delivered: false,
        }
    }

    /// Tells the machine the local address of the mapping socket, so it can recognise "no NAT" and
    /// report port preservation. Call before the first response arrives.
    pub fn set_local_address(&mut self, local: SocketAddr) {
        self.local = Some(local);
    }

    fn finished(&self) -> bool {
        if self.fatal.is_some() {
            return true;
        }
        let t = self.config.tests;
        self.mapped.is_some()
            && (!t.mapping || self.mapping.is_some())
            && (!t.filtering || self.filtering.is_some())
            && (!t.hairpinning || self.hairpinning.is_some())
    }

    fn on_outcome(&mut self, now: Instant, key: Key, outcome: Outcome) {
        let answer = match outcome {
            Outcome::Response { from, bytes, .. } => decode(from, &bytes),
            Outcome::TimedOut => None,
        };
        match key {
            Key::Mapping1 => self.on_mapping1(now, answer),
            Key::Mapping2 => self.on_mapping2(now, answer),
            Key::Mapping3 => {
                let Some(a) = answer else {
                    self.mapping = Some(Err(Undetermined::NoResponseFromAlternate));
                    return;
                };
                self.mapping = Some(match (a.mapped, self.mapped2) {
                    (Some(x3), Some(x2)) if x3 == x2 => Ok(MappingBehavior::AddressDependent),
                    (Some(_), Some(_)) => Ok(MappingBehavior::AddressAndPortDependent),
                    _ => Err(Undetermined::MalformedResponse),
                });
            }
            Key::Filtering1 => self.on_filtering1(now, answer),
            Key::Filtering2 => {
                let expected = self.other;
                self.filtering2 = Some(self.change_result(answer, expected));
                self.decide_filtering();
            }
            Key::Filtering3 => {
                let expected = self
                    .other
                    .map(|o| SocketAddr::new(self.config.server.ip(), o.port()));
                self.filtering3 = Some(self.change_result(answer, expected));
                self.decide_filtering();
            }
            Key::Hairpin => {
                // The request never gets a response of its own; running out of retransmissions
                // without seeing it arrive on the mapping socket means no hairpinning.
                if self.hairpinning.is_none() {
                    self.hairpinning = Some(false);
                }
            }
        }
    }

    fn on_mapping1(&mut self, now: Instant, answer: Option<Answer>) {
        let Some(a) = answer else {
            self.fatal = Some(DiscoveryError::ServerUnreachable);
            return;
        };
        if a.class == Class::ErrorResponse {
            self.fatal = Some(DiscoveryError::ServerRejectedBinding {
                code: a.code.unwrap_or(0),
            });
            return;
        }
        let Some(x1) = a.mapped else {
            self.fatal = Some(DiscoveryError::MalformedResponse);
            return;
        };
        self.mapped = Some(x1);
        if self.other.is_none() {
            self.other = a.other;
        }
        if self.config.tests.mapping {
            if self.local == Some(x1) {
                self.mapping = Some(Ok(MappingBehavior::NoNat));
            } else if let Some(other) = self.other {
                let dest = SocketAddr::new(other.ip(), self.config.server.port());
                self.txns
                    .start(now, Key::Mapping2, MAPPING_SOCKET, dest, |_| {});
            } else {
                self.mapping = Some(Err(Undetermined::ServerLacksOtherAddress));
            }
        }
        if self.config.tests.hairpinning {
            let tid = self
                .txns
                .start(now, Key::Hairpin, HAIRPIN_SOCKET, x1, |_| {});
            self.hairpin_tid = Some(tid);
        }
    }

    fn on_mapping2(&mut self, now: Instant, answer: Option<Answer>) {
        let Some(a) = answer else {
            self.mapping = Some(Err(Undetermined::NoResponseFromAlternate));
            return;
        };
        let (Some(x2), Some(x1)) = (a.mapped, self.mapped) else {
            self.mapping = Some(Err(Undetermined::MalformedResponse));
            return;
        };
        if x2 == x1 {
            self.mapping = Some(Ok(MappingBehavior::EndpointIndependent));
        } else if let Some(other) = self.other {
            self.mapped2 = Some(x2);
            self.txns
                .start(now, Key::Mapping3, MAPPING_SOCKET, other, |_| {});
        }
    }

    fn on_filtering1(&mut self, now: Instant, answer: Option<Answer>) {
        let Some(a) = answer.filter(|a| a.class == Class::SuccessResponse) else {
            self.filtering = Some(Err(Undetermined::NoResponse));
            return;
        };
        if self.other.is_none() {
            self.other = a.other;
        }
        if self.other.is_none() {
            self.filtering = Some(Err(Undetermined::ServerLacksOtherAddress));
            return;
        }
        let server = self.config.server;
        self.txns
            .start(now, Key::Filtering2, FILTERING_SOCKET, server, |b| {
                b.add_change_request(ChangeRequest {
                    change_ip: true,
                    change_port: true,
                });
            });
        self.txns
            .start(now, Key::Filtering3, FILTERING_SOCKET, server, |b| {
                b.add_change_request(ChangeRequest {
                    change_ip: false,
                    change_port: true,
                });
            });
    }

    /// Whether a CHANGE-REQUEST test got through: Ok(true) for an answer from the expected address,
    /// Ok(false) for silence.
    fn change_result(
        &self,
        answer: Option<Answer>,
        expected: Option<SocketAddr>,
    ) -> Result<bool, Undetermined> {
        let Some(a) = answer else {
            return Ok(false);
        };
        if a.class == Class::ErrorResponse {
            return Err(if a.code == Some(ErrorCode::UNKNOWN_ATTRIBUTE) {
                Undetermined::ServerRefusedChangeRequest
            } else {
                Undetermined::MalformedResponse
            });
        }
        if Some(a.from) != expected {
            return Err(Undetermined::ServerIgnoredChangeRequest);
        }
        Ok(true)
    }

    /// RFC 5780 §4.4: an answer to test II (other IP and port) means endpoint-independent filtering;
    /// otherwise an answer to test III (other port) means address-dependent, and silence to both
    /// address and port-dependent.
    fn decide_filtering(&mut self) {
        if self.filtering.is_some() {
            return;
        }
        match (self.filtering2, self.filtering3) {
            (Some(Err(e)), _) | (_, Some(Err(e))) => {
                self.filtering = Some(Err(e));
            }
            (Some(Ok(true)), _) => {
                self.filtering = Some(Ok(FilteringBehavior::EndpointIndependent));
                self.txns.cancel(&Key::Filtering3);
            }
            (Some(Ok(false)), Some(Ok(true))) => {
                self.filtering = Some(Ok(FilteringBehavior::AddressDependent));
            }
            (Some(Ok(false)), Some(Ok(false))) => {
                self.filtering = Some(Ok(FilteringBehavior::AddressAndPortDependent));
            }
            _ => {}
        }
    }

    fn drain(&mut self, now: Instant) {
        while let Some((key, outcome)) = self.txns.poll_finished() {
            self.on_outcome(now, key, outcome);
        }
        if self.fatal.is_some() {
            for k in [
                Key::Filtering1,
                Key::Filtering2,
                Key::Filtering3,
                Key::Hairpin,
            ] {
                self.txns.cancel(&k);
            }
        }
    }
}

impl Probe for NatDiscovery {
    type Output = Result<NatReport, DiscoveryError>;

    fn handle_datagram(
        &mut self,
        now: Instant,
        local: LocalSocket,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        if self.txns.handle_datagram(now, local, from, bytes) {
            self.drain(now);
            return;
        }
        // Our own hairpinning request arriving on the mapping socket proves hairpinning.
        if local != MAPPING_SOCKET {
            return;
        }
        let Some(tid) = self.hairpin_tid else {
            return;
        };
        let is_ours = Message::parse(bytes)
            .is_ok_and(|m| m.class() == Class::Request && m.transaction_id() == tid);
        if is_ours {
            self.hairpinning = Some(true);
            self.txns.cancel(&Key::Hairpin);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.txns.handle_timeout(now);
        self.drain(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.finished() {
            return None;
        }
        self.txns.poll_transmit(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.finished() {
            return None;
        }
        self.txns.poll_timeout()
    }

    fn poll_result(&mut self) -> Option<Self::Output> {
        if self.delivered || !self.finished() {
            return None;
        }
        self.delivered = true;
        if let Some(e) = self.fatal {
            return Some(Err(e));
        }
        let mapped = self.mapped?;
        Some(Ok(NatReport {
            mapped,
            local: self.local,
            other_address: self.other,
            mapping: self.mapping,
            filtering: self.filtering,
            hairpinning: self.hairpinning,
        }))
    }
}
