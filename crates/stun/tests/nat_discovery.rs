//! RFC 5780 §4.3–4.5 behaviour discovery against NAT models in a simulated network, with virtual
//! time and loss: every model must be classified as what it is.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod sim;

use std::time::{Duration, Instant};

use pbxguard_stun::RetransmitConfig;
use pbxguard_stun::discovery::{
    DiscoveryConfig, DiscoveryError, FilteringBehavior as F, MAPPING_SOCKET, MappingBehavior as M,
    NatDiscovery, NatReport, Tests, Undetermined,
};
use pbxguard_stun::server::{Server, ServerConfig};
use sim::{Dependence as D, NatModel, Sim, addr, client_addr};

fn discover(sim: &mut Sim, tests: Tests) -> Result<NatReport, DiscoveryError> {
    let mut probe = NatDiscovery::new(
        sim.now,
        DiscoveryConfig {
            server: addr(sim::SERVER_PRIMARY),
            tests,
            retransmit: RetransmitConfig::default(),
            seed: [0x5a; 12],
        },
    );
    probe.set_local_address(client_addr(MAPPING_SOCKET));
    sim.run(&mut probe, Duration::from_secs(300))
}

struct Case {
    name: &'static str,
    model: NatModel,
    mapping: M,
    filtering: F,
    port_preserved: bool,
    hairpinning: bool,
}

fn cases() -> Vec<Case> {
    let model = |m, f, preserve, hairpin| NatModel {
        port_preserving: preserve,
        hairpin,
        ..NatModel::new(m, f)
    };
    vec![
        Case {
            name: "full cone",
            model: model(D::Endpoint, D::Endpoint, true, false),
            mapping: M::EndpointIndependent,
            filtering: F::EndpointIndependent,
            port_preserved: true,
            hairpinning: false,
        },
        Case {
            name: "restricted cone",
            model: model(D::Endpoint, D::Address, true, false),
            mapping: M::EndpointIndependent,
            filtering: F::AddressDependent,
            port_preserved: true,
            hairpinning: false,
        },
        Case {
            name: "port-restricted cone (Linux masquerade)",
            model: model(D::Endpoint, D::AddressAndPort, true, false),
            mapping: M::EndpointIndependent,
            filtering: F::AddressAndPortDependent,
            port_preserved: true,
            hairpinning: false,
        },
        Case {
            name: "port-restricted cone with hairpinning",
            model: model(D::Endpoint, D::AddressAndPort, true, true),
            mapping: M::EndpointIndependent,
            filtering: F::AddressAndPortDependent,
            port_preserved: true,
            hairpinning: true,
        },
        Case {
            name: "symmetric (masquerade random)",
            model: model(D::AddressAndPort, D::AddressAndPort, false, false),
            mapping: M::AddressAndPortDependent,
            filtering: F::AddressAndPortDependent,
            port_preserved: false,
            hairpinning: false,
        },
        Case {
            name: "address-dependent mapping and filtering",
            model: model(D::Address, D::Address, true, false),
            mapping: M::AddressDependent,
            filtering: F::AddressDependent,
            port_preserved: true,
            hairpinning: false,
        },
        Case {
            name: "cone without port preservation",
            model: model(D::Endpoint, D::AddressAndPort, false, false),
            mapping: M::EndpointIndependent,
            filtering: F::AddressAndPortDependent,
            port_preserved: false,
            hairpinning: false,
        },
        Case {
            name: "full cone with hairpinning and 2 s binding timeouts",
            model: NatModel {
                oneshot_timeout: Duration::from_secs(2),
                stream_timeout: Duration::from_secs(2),
                ..model(D::Endpoint, D::Endpoint, true, true)
            },
            mapping: M::EndpointIndependent,
            filtering: F::EndpointIndependent,
            port_preserved: true,
            hairpinning: true,
        },
    ]
}

fn check(case: &Case, loss: f64, seed: u64) {
    let mut sim = Sim::new(Some(case.model), seed);
    sim.loss = loss;
    let r = discover(&mut sim, Tests::default())
        .unwrap_or_else(|e| panic!("{} (seed {seed}): {e}", case.name));
    let ctx = format!("{} (loss {loss}, seed {seed}): {r:?}", case.name);
    assert_eq!(r.mapping, Some(Ok(case.mapping)), "{ctx}");
    assert_eq!(r.filtering, Some(Ok(case.filtering)), "{ctx}");
    assert_eq!(r.hairpinning, Some(case.hairpinning), "{ctx}");
    assert_eq!(r.port_preserved(), Some(case.port_preserved), "{ctx}");
    assert_eq!(
        r.mapped.ip(),
        sim::NAT_IP.parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(r.other_address, Some(addr("198.51.100.11:3479")));
}

#[test]
fn each_nat_model_is_classified_without_loss() {
    for case in cases() {
        check(&case, 0.0, 1);
    }
}

#[test]
fn each_nat_model_is_classified_under_ten_percent_loss() {
    for case in cases() {
        for seed in 1..=12 {
            check(&case, 0.10, seed);
        }
    }
}

#[test]
fn no_nat_is_recognised_from_the_local_address() {
    let mut sim = Sim::new(None, 1);
    let r = discover(&mut sim, Tests::default()).unwrap();
    assert_eq!(r.mapping, Some(Ok(M::NoNat)));
    assert_eq!(r.filtering, Some(Ok(F::EndpointIndependent)));
    assert_eq!(r.mapped, client_addr(MAPPING_SOCKET));
}

#[test]
fn unreachable_server_fails_after_one_rfc5389_timeout() {
    let mut sim = Sim::new(Some(NatModel::new(D::Endpoint, D::Endpoint)), 1);
    sim.server = None;
    assert_eq!(
        discover(&mut sim, Tests::default()),
        Err(DiscoveryError::ServerUnreachable)
    );
    assert_eq!(sim.elapsed(), Duration::from_millis(39_500));
    // Test I on two sockets (mapping and filtering), seven sends each.
    assert_eq!(sim.sent_by_client, 14);
}

#[test]
fn server_without_alternate_address_leaves_mapping_and_filtering_undetermined() {
    let mut sim = Sim::new(Some(NatModel::new(D::Endpoint, D::Endpoint)), 1);
    sim.server = Some(Server::new(ServerConfig::single(addr(sim::SERVER_PRIMARY))));
    let r = discover(&mut sim, Tests::default()).unwrap();
    assert_eq!(r.mapping, Some(Err(Undetermined::ServerLacksOtherAddress)));
    assert_eq!(
        r.filtering,
        Some(Err(Undetermined::ServerLacksOtherAddress))
    );
    assert_eq!(r.other_address, None);
}

#[test]
fn filtering_only_run_sends_no_mapping_tests_ii_and_iii() {
    let mut sim = Sim::new(Some(NatModel::new(D::AddressAndPort, D::Endpoint)), 1);
    let r = discover(
        &mut sim,
        Tests {
            mapping: false,
            filtering: true,
            hairpinning: false,
        },
    )
    .unwrap();
    assert_eq!(r.mapping, None);
    assert_eq!(r.hairpinning, None);
    assert_eq!(r.filtering, Some(Ok(F::EndpointIndependent)));
    // Test I on both sockets plus filtering tests II and III.
    assert_eq!(sim.sent_by_client, 4);
}

#[test]
fn endpoint_independent_filtering_finishes_without_waiting_for_a_timeout() {
    let mut sim = Sim::new(Some(NatModel::new(D::Endpoint, D::Endpoint)), 1);
    let t = Instant::now();
    discover(
        &mut sim,
        Tests {
            mapping: true,
            filtering: true,
            hairpinning: false,
        },
    )
    .unwrap();
    // Three round trips of 10 ms at most; no retransmission timer had to fire.
    assert!(
        sim.elapsed() <= Duration::from_millis(30),
        "{:?}",
        sim.elapsed()
    );
    assert!(t.elapsed() < Duration::from_secs(5));
}
