//! The check agent's side of the control protocol: build an authenticated request, and accept only
//! the authenticated answer to that very request.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::wire::{
    Body, DecodeError, EncodeError, Envelope, NONCE_LEN, ProbeResult, ProbeSpec, RefusalCode,
    decode, encode,
};

/// An agent's credentials for one reflector.
#[derive(Clone)]
pub struct Credentials {
    /// The key id the reflector knows the secret by.
    pub key_id: String,
    /// The shared secret.
    pub secret: Vec<u8>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A request in flight: its bytes and what a valid answer must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    /// The encoded request, to send.
    pub bytes: Vec<u8>,
    /// Its nonce, which the answer must echo.
    pub nonce: [u8; NONCE_LEN],
    /// The probes asked for.
    pub probes: Vec<ProbeSpec>,
}

/// Builds a request to probe `target` (the agent's public address as it believes it to be).
/// `nonce` must be fresh random bytes for every request, retransmissions included.
///
/// # Errors
///
/// [`EncodeError`] for bad credentials or too many probes.
pub fn request(
    creds: &Credentials,
    unix_ms: u64,
    nonce: [u8; NONCE_LEN],
    target: IpAddr,
    probes: Vec<ProbeSpec>,
) -> Result<PendingRequest, EncodeError> {
    let bytes = encode(
        &creds.secret,
        &Envelope {
            key_id: creds.key_id.clone(),
            unix_ms,
            nonce,
            body: Body::Request {
                target,
                probes: probes.clone(),
            },
        },
    )?;
    Ok(PendingRequest {
        bytes,
        nonce,
        probes,
    })
}

/// The reflector's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Results, one per probe asked for.
    Results(Vec<ProbeResult>),
    /// The reflector refused; `observed` is the agent's address as the reflector saw it.
    Refused {
        /// Why.
        code: RefusalCode,
        /// The agent's public address as seen by the reflector.
        observed: IpAddr,
    },
}

/// Why an answer was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerError {
    /// Malformed or not authenticated with our key.
    Invalid(DecodeError),
    /// Authenticated, but for another request (a replayed or delayed answer).
    WrongNonce,
    /// The reflector's clock is further from ours than allowed: it may be a replay.
    Stale {
        /// Answer time minus our time, in milliseconds.
        skew_ms: i64,
    },
    /// An answer whose results do not match the probes asked for.
    ResultsMismatch,
    /// A request where an answer was expected.
    NotAnAnswer,
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::Invalid(e) => write!(f, "invalid answer: {e}"),
            AnswerError::WrongNonce => write!(f, "answer to a different request"),
            AnswerError::Stale { skew_ms } => write!(f, "answer clock skew of {skew_ms} ms"),
            AnswerError::ResultsMismatch => write!(f, "results do not match the probes asked for"),
            AnswerError::NotAnAnswer => write!(f, "not an answer"),
        }
    }
}

impl std::error::Error for AnswerError {}

/// Accepts `bytes` as the answer to `pending` if it is authenticated with our key, echoes our
/// nonce, is fresh within `max_skew`, and (for results) covers exactly the probes asked for.
///
/// # Errors
///
/// [`AnswerError`] otherwise.
pub fn accept(
    creds: &Credentials,
    pending: &PendingRequest,
    unix_ms: u64,
    max_skew: Duration,
    bytes: &[u8],
) -> Result<Answer, AnswerError> {
    let env = decode(bytes, |id| {
        (id == creds.key_id).then_some(creds.secret.as_slice())
    })
    .map_err(AnswerError::Invalid)?;
    if env.nonce != pending.nonce {
        return Err(AnswerError::WrongNonce);
    }
    let skew_ms = i64::try_from(i128::from(env.unix_ms) - i128::from(unix_ms)).unwrap_or(i64::MAX);
    if u128::from(skew_ms.unsigned_abs()) > max_skew.as_millis() {
        return Err(AnswerError::Stale { skew_ms });
    }
    match env.body {
        Body::Results(results) => {
            let same = results.len() == pending.probes.len()
                && results
                    .iter()
                    .zip(&pending.probes)
                    .all(|(r, p)| r.spec == *p);
            if same {
                Ok(Answer::Results(results))
            } else {
                Err(AnswerError::ResultsMismatch)
            }
        }
        Body::Refusal { code, observed } => Ok(Answer::Refused { code, observed }),
        Body::Request { .. } => Err(AnswerError::NotAnAnswer),
    }
}

/// Builds the reflector's authenticated results for an admitted request.
///
/// # Errors
///
/// [`EncodeError`] when the key is unusable or the evidence too large.
pub fn results(
    secret: &[u8],
    key_id: &str,
    nonce: [u8; NONCE_LEN],
    unix_ms: u64,
    results: Vec<ProbeResult>,
) -> Result<Vec<u8>, EncodeError> {
    encode(
        secret,
        &Envelope {
            key_id: key_id.to_owned(),
            unix_ms,
            nonce,
            body: Body::Results(results),
        },
    )
}
