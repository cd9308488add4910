//! pbxguard's exposure check, the I/O side: drivers that run the sans-IO STUN machines of
//! [`pbxguard_stun`] over real UDP sockets.
//!
//! [`udp::run_probe`] drives a client probe (NAT discovery, binding lifetime) with blocking
//! `std::net::UdpSocket`s, one reader thread per local socket feeding a channel, and the probe's own
//! deadlines as the channel's receive timeout. [`udp::StunServer`] serves Binding requests on the
//! sockets a [`pbxguard_stun::server::Server`] asks for, as the reflector's STUN mode.

pub mod udp;
