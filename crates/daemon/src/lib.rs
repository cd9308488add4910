//! pbxguard's guard daemon.
//!
//! Sensors turn packets into engine observations ([`pipeline`]), the engine decides, and the enforcers
//! apply its decisions: the kernel's nftables sets (through `pbxguard-sys`), the state store ([`store`]),
//! and the control API ([`api`]). [`daemon`] wires them together for `pbxguard run`.

pub mod api;
pub mod daemon;
pub mod inline;
pub mod journal;
pub mod logtail;
pub mod observe;
pub mod pipeline;
pub mod store;
