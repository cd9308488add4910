//! pbxguard's exposure check, the I/O side: drivers that run the sans-IO STUN machines of
//! [`pbxguard_stun`] over real UDP sockets.
//!
//! [`udp::run_probe`] drives a client probe (NAT discovery, binding lifetime) with blocking
//! `std::net::UdpSocket`s, one reader thread per local socket feeding a channel, and the probe's own
//! deadlines as the channel's receive timeout. [`udp::StunServer`] serves Binding requests on the
//! sockets a [`pbxguard_stun::server::Server`] asks for, as the reflector's STUN mode.
//!
//! [`reflector::Reflector`] is the reflector's control service: it admits requests through
//! [`pbxguard_probe::admission::Gatekeeper`] and runs [`probes`] against the requester's own
//! address. [`agent::run_check`] is the check agent's half: it listens on free ports, sends the
//! authenticated request and verifies the answer.

pub mod agent;
pub mod alg;
pub mod probes;
pub mod reflector;
pub mod udp;
