//! pbxguard's configuration.
//!
//! One TOML file configures everything. Every key is defined once, in [`keys::KEYS`]: its table, name,
//! documentation and accepted values. Defaults live in the `Default` impls of [`model`]. From those two
//! come the parser ([`Config::from_toml`]), the printed default ([`default_toml`]) and the reference
//! documentation ([`reference_markdown`]).
//!
//! Parsing has two steps. The first is TOML syntax; if it fails, every syntax error is reported. The
//! second is meaning: unknown tables and keys (with the closest known name), values of the wrong type or
//! out of range, and contradictory combinations, all reported at once with file, line and key.
//!
//! This crate does no I/O: the caller reads the file and passes its text and name.

pub mod keys;
pub mod model;
mod parse;
mod render;
pub mod value;

pub use model::{Config, GuardMode};
pub use parse::{ConfigError, Diagnostic, Problem};
pub use render::{default_toml, reference_markdown};

/// Where pbxguard looks for its configuration when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/pbxguard/pbxguard.toml";
