//! The UDP drivers over loopback (no privileges needed): our client against our server, with the
//! server's alternate address on 127.0.0.2, must find no NAT and every filter open.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use pbxguard_check::udp::{ClientSockets, StunServer, local_ip_towards, random_seed, run_probe};
use pbxguard_stun::RetransmitConfig;
use pbxguard_stun::discovery::{
    DiscoveryConfig, FilteringBehavior, MAPPING_SOCKET, MappingBehavior, NatDiscovery, Tests,
};
use pbxguard_stun::lifetime::{Flow, LifetimeConfig, LifetimeProbe};
use pbxguard_stun::server::{Server, ServerConfig};

/// Two free loopback ports, found by binding and releasing.
fn free_ports() -> (u16, u16) {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

fn start_server() -> (StunServer, SocketAddr) {
    let (p1, p2) = free_ports();
    let primary: SocketAddr = format!("127.0.0.1:{p1}").parse().unwrap();
    let server = StunServer::start(Server::new(ServerConfig {
        primary,
        alternate_ip: Some("127.0.0.2".parse().unwrap()),
        alternate_port: Some(p2),
        software: None,
        limits: None,
    }))
    .unwrap();
    (server, primary)
}

#[test]
fn discovery_over_loopback_finds_no_nat() {
    let (server, primary) = start_server();
    let mut sockets = ClientSockets::new(local_ip_towards(primary).unwrap());
    let local = sockets.bind(MAPPING_SOCKET).unwrap();
    let mut probe = NatDiscovery::new(
        Instant::now(),
        DiscoveryConfig {
            server: primary,
            tests: Tests::default(),
            retransmit: RetransmitConfig::quick(),
            seed: random_seed(),
        },
    );
    probe.set_local_address(local);
    let r = run_probe(&mut probe, &mut sockets, Duration::from_secs(30))
        .unwrap()
        .unwrap();
    assert_eq!(r.mapped, local);
    assert_eq!(r.mapping, Some(Ok(MappingBehavior::NoNat)));
    assert_eq!(
        r.filtering,
        Some(Ok(FilteringBehavior::EndpointIndependent))
    );
    assert_eq!(r.port_preserved(), Some(true));
    assert!(server.stats().answered >= 3, "{:?}", server.stats());
}

#[test]
fn lifetime_over_loopback_sees_every_binding_alive() {
    let (_server, primary) = start_server();
    let mut sockets = ClientSockets::new(local_ip_towards(primary).unwrap());
    let mut probe = LifetimeProbe::new(
        Instant::now(),
        LifetimeConfig {
            server: primary,
            intervals: vec![Duration::from_millis(100), Duration::from_millis(300)],
            flow: Flow::OneShot,
            retransmit: RetransmitConfig::quick(),
            seed: random_seed(),
        },
    );
    let r = run_probe(&mut probe, &mut sockets, Duration::from_secs(30))
        .unwrap()
        .unwrap();
    assert_eq!(r.longest_alive(), Some(Duration::from_millis(300)));
    assert_eq!(r.shortest_expired(), None);
}

#[test]
fn silent_server_is_reported_unreachable_within_the_retransmit_schedule() {
    // A bound socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = silent.local_addr().unwrap();
    let mut sockets = ClientSockets::new(local_ip_towards(server).unwrap());
    let retransmit = RetransmitConfig::quick();
    let mut probe = NatDiscovery::new(
        Instant::now(),
        DiscoveryConfig {
            server,
            tests: Tests::default(),
            retransmit,
            seed: random_seed(),
        },
    );
    let t = Instant::now();
    let r = run_probe(&mut probe, &mut sockets, Duration::from_secs(30)).unwrap();
    assert_eq!(
        r,
        Err(pbxguard_stun::discovery::DiscoveryError::ServerUnreachable)
    );
    assert!(t.elapsed() >= retransmit.total_timeout());
}
