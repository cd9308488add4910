//! RFC 5780 §4.6 binding lifetime against NAT models with virtual time: the measured bounds must
//! bracket the model's timeout, for one-shot and kept-alive flows, with and without loss.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod sim;

use std::time::Duration;

use pbxguard_stun::RetransmitConfig;
use pbxguard_stun::lifetime::{
    Flow, IntervalOutcome, LifetimeConfig, LifetimeError, LifetimeProbe, LifetimeReport,
};
use pbxguard_stun::server::{Server, ServerConfig};
use sim::{Dependence as D, NatModel, Sim, addr};

fn secs(v: &[u64]) -> Vec<Duration> {
    v.iter().copied().map(Duration::from_secs).collect()
}

fn measure(sim: &mut Sim, flow: Flow, intervals: &[u64]) -> Result<LifetimeReport, LifetimeError> {
    let mut probe = LifetimeProbe::new(
        sim.now,
        LifetimeConfig {
            server: addr(sim::SERVER_PRIMARY),
            intervals: secs(intervals),
            flow,
            retransmit: RetransmitConfig::quick(),
            seed: [3; 12],
        },
    );
    sim.run(&mut probe, Duration::from_secs(3600))
}

/// Linux-like timeouts: 30 s for a one-shot exchange, 120 s for a stream.
fn linux_like(filtering: D) -> NatModel {
    NatModel::new(D::Endpoint, filtering)
}

const LADDER: &[u64] = &[10, 20, 25, 35, 60, 100, 110, 130, 200];

#[test]
fn one_shot_binding_lifetime_is_bracketed() {
    for filtering in [D::Endpoint, D::Address, D::AddressAndPort] {
        let mut sim = Sim::new(Some(linux_like(filtering)), 1);
        let r = measure(&mut sim, Flow::OneShot, LADDER).unwrap();
        assert_eq!(r.longest_alive(), Some(Duration::from_secs(25)), "{r:?}");
        assert_eq!(r.shortest_expired(), Some(Duration::from_secs(35)), "{r:?}");
        // Intervals after the first expiry are skipped, so the run ends soon after 35 s.
        assert!(
            r.intervals
                .iter()
                .any(|(_, o)| *o == IntervalOutcome::Skipped)
        );
        assert!(
            sim.elapsed() < Duration::from_secs(40),
            "{:?}",
            sim.elapsed()
        );
    }
}

#[test]
fn kept_alive_flow_outlives_a_one_shot_exchange() {
    let mut sim = Sim::new(Some(linux_like(D::AddressAndPort)), 1);
    let r = measure(&mut sim, Flow::kept_alive(), LADDER).unwrap();
    assert_eq!(r.longest_alive(), Some(Duration::from_secs(110)), "{r:?}");
    assert_eq!(
        r.shortest_expired(),
        Some(Duration::from_secs(130)),
        "{r:?}"
    );
    assert_eq!(r.flow, Flow::kept_alive());
}

#[test]
fn short_nat_timeouts_are_measured_under_loss() {
    let model = NatModel {
        oneshot_timeout: Duration::from_secs(8),
        stream_timeout: Duration::from_secs(8),
        ..NatModel::new(D::AddressAndPort, D::AddressAndPort)
    };
    for seed in 1..=10 {
        let mut sim = Sim::new(Some(model), seed);
        sim.loss = 0.05;
        let r = measure(&mut sim, Flow::OneShot, &[2, 4, 6, 10, 15, 20]).unwrap();
        assert_eq!(
            r.longest_alive(),
            Some(Duration::from_secs(6)),
            "seed {seed}: {r:?}"
        );
        assert_eq!(
            r.shortest_expired(),
            Some(Duration::from_secs(10)),
            "seed {seed}: {r:?}"
        );
    }
}

#[test]
fn all_intervals_alive_when_the_nat_outlasts_the_ladder() {
    let mut sim = Sim::new(Some(linux_like(D::AddressAndPort)), 1);
    let r = measure(&mut sim, Flow::OneShot, &[5, 10, 15]).unwrap();
    assert_eq!(r.longest_alive(), Some(Duration::from_secs(15)));
    assert_eq!(r.shortest_expired(), None);
}

#[test]
fn server_ignoring_response_port_is_reported() {
    let mut sim = Sim::new(Some(linux_like(D::AddressAndPort)), 1);
    sim.ignore_response_port = true;
    assert_eq!(
        measure(&mut sim, Flow::OneShot, &[1]),
        Err(LifetimeError::ResponsePortIgnored)
    );
}

#[test]
fn without_a_nat_every_interval_is_alive() {
    let mut sim = Sim::new(None, 1);
    let r = measure(&mut sim, Flow::OneShot, &[1, 400]).unwrap();
    assert_eq!(r.longest_alive(), Some(Duration::from_secs(400)));
}

#[test]
fn unreachable_server_is_an_error() {
    let mut sim = Sim::new(Some(linux_like(D::Endpoint)), 1);
    sim.server = None;
    assert_eq!(
        measure(&mut sim, Flow::OneShot, &[5]),
        Err(LifetimeError::ServerUnreachable)
    );
}

#[test]
fn single_address_server_still_measures_lifetime() {
    let mut sim = Sim::new(Some(linux_like(D::AddressAndPort)), 1);
    sim.server = Some(Server::new(ServerConfig::single(addr(sim::SERVER_PRIMARY))));
    let r = measure(&mut sim, Flow::OneShot, &[20, 40]).unwrap();
    assert_eq!(r.longest_alive(), Some(Duration::from_secs(20)));
    assert_eq!(r.shortest_expired(), Some(Duration::from_secs(40)));
}
