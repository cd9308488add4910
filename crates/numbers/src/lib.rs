//! Dialled-number handling for pbxguard's toll-fraud defence. No I/O.
//!
//! - [`dial`] turns what a phone dialled (through a site's dial plan: an outside-line prefix such as
//!   `9`, national and international access codes, `+`) into a [`dial::Dialled`]: an emergency call,
//!   an internal extension, a short/feature code, or an E.164 number.
//! - [`classify`] attaches what is known about an E.164 destination: country, number type (fixed,
//!   mobile, premium rate, satellite, ...) and a fraud risk level from the editable destination risk
//!   table in [`risk`].
//! - [`policy`] decides whether a call may be placed: roles, allowed countries, denied prefixes and
//!   number types, office hours, concurrent-call caps and velocity limits. Emergency calls are never
//!   refused.
//!
//! Number metadata (which ranges are valid, mobile, premium, ...) comes from Google's libphonenumber
//! data through the `rlibphonenumber` crate; this crate wraps it in its own types so that callers
//! never depend on it directly.
//!
//! Why `rlibphonenumber`: it is a maintained port of libphonenumber 9.x whose metadata is refreshed
//! from upstream automatically (2.2.15 carries metadata 9.0.42), it parses with each country's
//! international and national prefixes, types numbers (fixed, mobile, premium rate, shared cost,
//! VoIP, personal, UAN, ...) and knows the non-geographic codes, all without I/O and without a
//! system `protoc` (its default `protox` feature compiles the schema in Rust). The older
//! `phonenumber` crate carries older metadata. What libphonenumber does not know is fraud
//! experience, hence the risk table; nor does it carry short-number metadata, hence the emergency
//! lists in [`emergency`].

pub mod classify;
pub mod country;
pub mod dial;
pub mod emergency;
pub mod guard;
pub mod policy;
pub mod risk;
pub mod time;

pub use classify::{Classification, Classifier, NumberType};
pub use country::Country;
pub use dial::{DialPlan, Dialled, E164};
pub use risk::{RiskLevel, RiskTable};
pub use time::Timestamp;
