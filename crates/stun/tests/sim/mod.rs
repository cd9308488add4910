//! A simulated network for the probe machines: one client host behind a NAT model, a STUN server
//! with four sockets, per-leg latency, random loss, and a virtual clock that jumps to the next event.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    dead_code
)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use pbxguard_stun::server::{Server, ServerConfig};
use pbxguard_stun::{LocalSocket, Probe, Transmit};

pub const CLIENT_IP: &str = "192.0.2.10";
pub const NAT_IP: &str = "198.51.100.1";
pub const SERVER_PRIMARY: &str = "198.51.100.10:3478";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Local address of a client socket.
pub fn client_addr(local: LocalSocket) -> SocketAddr {
    SocketAddr::new(CLIENT_IP.parse().unwrap(), 50_000 + local.0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependence {
    Endpoint,
    Address,
    AddressAndPort,
}

/// How the NAT behaves.
#[derive(Debug, Clone, Copy)]
pub struct NatModel {
    pub mapping: Dependence,
    pub filtering: Dependence,
    /// Keep the internal port as the external port when it is free.
    pub port_preserving: bool,
    pub hairpin: bool,
    /// Idle timeout of a binding that has seen a single exchange.
    pub oneshot_timeout: Duration,
    /// Idle timeout of a binding that has seen several outbound packets and an answer (Linux's
    /// "stream" state).
    pub stream_timeout: Duration,
}

impl NatModel {
    pub fn new(mapping: Dependence, filtering: Dependence) -> Self {
        NatModel {
            mapping,
            filtering,
            port_preserving: true,
            hairpin: false,
            oneshot_timeout: Duration::from_secs(30),
            stream_timeout: Duration::from_secs(120),
        }
    }
}

#[derive(Debug)]
struct Binding {
    internal: SocketAddr,
    /// The destination this mapping is specific to (per the mapping dependence).
    key: Option<SocketAddr>,
    external_port: u16,
    last: Instant,
    permits: Vec<SocketAddr>,
    outbound: u32,
    inbound: bool,
}

#[derive(Debug)]
pub struct Nat {
    model: NatModel,
    public: IpAddr,
    bindings: Vec<Binding>,
    next_port: u16,
}

impl Nat {
    pub fn new(model: NatModel) -> Self {
        Nat {
            model,
            public: NAT_IP.parse().unwrap(),
            bindings: Vec::new(),
            next_port: 40_000,
        }
    }

    fn expire(&mut self, now: Instant) {
        let m = self.model;
        self.bindings.retain(|b| {
            let t = if b.outbound >= 2 && b.inbound {
                m.stream_timeout
            } else {
                m.oneshot_timeout
            };
            now.duration_since(b.last) < t
        });
    }

    fn matches(&self, b: &Binding, dst: SocketAddr) -> bool {
        match (self.model.mapping, b.key) {
            (Dependence::Endpoint, _) => true,
            (Dependence::Address, Some(k)) => k.ip() == dst.ip(),
            (Dependence::AddressAndPort, Some(k)) => k == dst,
            _ => false,
        }
    }

    /// Translates an outbound packet's source.
    pub fn outbound(&mut self, now: Instant, src: SocketAddr, dst: SocketAddr) -> SocketAddr {
        self.expire(now);
        let found = self
            .bindings
            .iter()
            .position(|b| b.internal == src && self.matches(b, dst));
        let i = match found {
            Some(i) => i,
            None => {
                let used = |p: u16, bs: &[Binding]| bs.iter().any(|b| b.external_port == p);
                let port = if self.model.port_preserving && !used(src.port(), &self.bindings) {
                    src.port()
                } else {
                    while used(self.next_port, &self.bindings) {
                        self.next_port += 1;
                    }
                    self.next_port
                };
                self.bindings.push(Binding {
                    internal: src,
                    key: Some(dst),
                    external_port: port,
                    last: now,
                    permits: Vec::new(),
                    outbound: 0,
                    inbound: false,
                });
                self.bindings.len() - 1
            }
        };
        let b = &mut self.bindings[i];
        b.last = now;
        b.outbound += 1;
        if !b.permits.contains(&dst) {
            b.permits.push(dst);
        }
        SocketAddr::new(self.public, b.external_port)
    }

    /// Filters and translates an inbound packet's destination.
    pub fn inbound(&mut self, now: Instant, from: SocketAddr, port: u16) -> Option<SocketAddr> {
        self.expire(now);
        let filtering = self.model.filtering;
        let b = self.bindings.iter_mut().find(|b| b.external_port == port)?;
        let allowed = match filtering {
            Dependence::Endpoint => true,
            Dependence::Address => b.permits.iter().any(|p| p.ip() == from.ip()),
            Dependence::AddressAndPort => b.permits.contains(&from),
        };
        if !allowed {
            return None;
        }
        b.last = now;
        b.inbound = true;
        Some(b.internal)
    }
}

#[derive(Debug)]
enum To {
    Server(SocketAddr),
    /// Arriving at the NAT's public side, on this port.
    NatPublic(u16),
    /// Sent from inside to the NAT's own public address, on this port (hairpinning).
    Hairpin(u16),
    Client(LocalSocket),
}

#[derive(Debug)]
struct Packet {
    at: Instant,
    from: SocketAddr,
    to: To,
    bytes: Vec<u8>,
}

/// The simulated world.
pub struct Sim {
    pub now: Instant,
    pub start: Instant,
    /// `None` puts the client directly on the internet.
    pub nat: Option<Nat>,
    pub server: Option<Server>,
    pub latency: Duration,
    pub loss: f64,
    rng: u64,
    queue: Vec<Packet>,
    pub sent_by_client: usize,
    /// Make the server answer to the request's source even when RESPONSE-PORT asks otherwise.
    pub ignore_response_port: bool,
}

impl Sim {
    pub fn new(nat: Option<NatModel>, seed: u64) -> Self {
        let now = Instant::now();
        Sim {
            now,
            start: now,
            nat: nat.map(Nat::new),
            server: Some(rfc5780_server()),
            latency: Duration::from_millis(5),
            loss: 0.0,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            queue: Vec::new(),
            sent_by_client: 0,
            ignore_response_port: false,
        }
    }

    fn lost(&mut self) -> bool {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 11) as f64 / (1u64 << 53) as f64) < self.loss
    }

    fn client_send(&mut self, t: Transmit) {
        self.sent_by_client += 1;
        let src = client_addr(t.local);
        let at = self.now + self.latency;
        let nat_ip: IpAddr = NAT_IP.parse().unwrap();
        let (from, to) = match self.nat.as_mut() {
            None => {
                if t.destination.ip() == src.ip() {
                    let local = LocalSocket(t.destination.port().wrapping_sub(50_000));
                    (src, To::Client(local))
                } else {
                    (src, To::Server(t.destination))
                }
            }
            Some(nat) => {
                let ext = nat.outbound(self.now, src, t.destination);
                if t.destination.ip() == nat_ip {
                    if !nat.model.hairpin {
                        return;
                    }
                    (ext, To::Hairpin(t.destination.port()))
                } else {
                    (ext, To::Server(t.destination))
                }
            }
        };
        if self.lost() {
            return;
        }
        self.queue.push(Packet {
            at,
            from,
            to,
            bytes: t.contents,
        });
    }

    fn deliver<P: Probe>(&mut self, p: Packet, probe: &mut P) {
        match p.to {
            To::Client(local) => probe.handle_datagram(self.now, local, p.from, &p.bytes),
            To::NatPublic(port) => {
                let Some(nat) = self.nat.as_mut() else { return };
                if let Some(internal) = nat.inbound(self.now, p.from, port) {
                    let local = LocalSocket(internal.port() - 50_000);
                    probe.handle_datagram(self.now, local, p.from, &p.bytes);
                }
            }
            To::Hairpin(port) => {
                let Some(nat) = self.nat.as_mut() else { return };
                // Hairpinned packets bypass the filter: RFC 4787 REQ-9 asks NATs to treat them as if
                // they came from outside, and the NATs that hairpin at all usually let them through.
                if let Some(b) = nat.bindings.iter().find(|b| b.external_port == port) {
                    let local = LocalSocket(b.internal.port() - 50_000);
                    probe.handle_datagram(self.now, local, p.from, &p.bytes);
                }
            }
            To::Server(local) => {
                let Some(server) = self.server.as_mut() else {
                    return;
                };
                if !server.local_addresses().contains(&local) {
                    return;
                }
                let mut out = Vec::new();
                let Some(r) = server.handle(self.now, local, p.from, &p.bytes, &mut out) else {
                    return;
                };
                out.truncate(r.len);
                let mut r = r;
                if self.ignore_response_port {
                    r.to = p.from;
                }
                if self.lost() {
                    return;
                }
                let nat_ip: IpAddr = NAT_IP.parse().unwrap();
                let to = if self.nat.is_some() && r.to.ip() == nat_ip {
                    To::NatPublic(r.to.port())
                } else if self.nat.is_none() && r.to.ip() == client_addr(LocalSocket(0)).ip() {
                    To::Client(LocalSocket(r.to.port().wrapping_sub(50_000)))
                } else {
                    return;
                };
                self.queue.push(Packet {
                    at: self.now + self.latency,
                    from: r.from,
                    to,
                    bytes: out,
                });
            }
        }
    }

    /// Runs `probe` to completion; panics if it stalls or exceeds `limit` of virtual time.
    pub fn run<P: Probe>(&mut self, probe: &mut P, limit: Duration) -> P::Output {
        loop {
            if let Some(r) = probe.poll_result() {
                return r;
            }
            while let Some(t) = probe.poll_transmit(self.now) {
                self.client_send(t);
            }
            let next_packet = self.queue.iter().map(|p| p.at).min();
            let next = match (next_packet, probe.poll_timeout()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a
                    .or(b)
                    .expect("probe stalled: nothing in flight and no timer"),
            };
            self.now = self.now.max(next);
            assert!(
                self.now - self.start <= limit,
                "probe still running after {limit:?} of virtual time"
            );
            while let Some(i) = self.queue.iter().position(|p| p.at <= self.now) {
                let p = self.queue.swap_remove(i);
                self.deliver(p, probe);
            }
            probe.handle_timeout(self.now);
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }
}

pub fn rfc5780_server() -> Server {
    Server::new(ServerConfig {
        primary: addr(SERVER_PRIMARY),
        alternate_ip: Some("198.51.100.11".parse().unwrap()),
        alternate_port: Some(3479),
        software: Some("sim".into()),
        limits: None,
    })
}
