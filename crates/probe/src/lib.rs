//! The exposure check's control protocol between the `check` agent and the `reflector`, and the
//! reflector's admission policy. No I/O: bytes and time in, decisions out.
//!
//! - [`wire`]: the message frame, authenticated with HMAC-SHA256 under a shared secret.
//! - [`agent`]: build a request; accept only the authenticated, fresh answer to that request.
//! - [`admission`]: the reflector's gate. It acts only on authenticated, fresh, never-seen requests
//!   that ask to probe the very address they came from, within per-source and global rate budgets.
//! - [`pacer`]: releases admitted probes at a bounded rate.
//! - [`alg`]: SIP ALG detection through an authenticated, base64-encoded echo.
//! - [`report`]: pass/fail findings with fixes.

pub mod admission;
pub mod agent;
pub mod alg;
pub mod pacer;
pub mod report;
pub mod wire;
