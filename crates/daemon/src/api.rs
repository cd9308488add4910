//! The control API: HTTP/1.1 with JSON bodies on a local Unix socket (one request per connection), and
//! the client the CLI uses to talk to it.
//!
//! Endpoints: `GET /status`, `GET /bans`, `POST /bans` (`{"target", "duration_secs", "reason"}`),
//! `DELETE /bans/ADDRESS`, `GET /allow`, `POST /allow` (`{"net", "note"}`), `DELETE /allow/NET`,
//! `GET /metrics` (Prometheus text; no source addresses as labels).

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;
/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// A parsed API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// `GET`, `POST`, `DELETE`.
    pub method: String,
    /// The path, percent-decoding not applied (addresses and CIDRs need none but `/`, written as `%2F`).
    pub path: String,
    /// The body, parsed as JSON when present.
    pub body: Option<serde_json::Value>,
    /// The token of an `Authorization: Bearer TOKEN` header (required on the TCP API).
    pub bearer: Option<String>,
}

/// An API response: a status and a body (JSON or text).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Body,
}

/// A response body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// JSON.
    Json(serde_json::Value),
    /// Plain text (metrics).
    Text(String),
}

impl ApiResponse {
    /// A JSON response.
    pub fn json(status: u16, value: serde_json::Value) -> Self {
        Self {
            status,
            body: Body::Json(value),
        }
    }

    /// An error response `{"error": message}`.
    pub fn error(status: u16, message: impl fmt::Display) -> Self {
        Self::json(status, serde_json::json!({ "error": message.to_string() }))
    }
}

/// Why talking to the API failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// The daemon's socket is missing or refuses connections: the daemon is not running.
    NotRunning {
        /// The socket path.
        socket: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// The connection failed mid-way.
    Io(std::io::Error),
    /// The peer sent something that is not a valid request or response.
    Malformed(String),
    /// The daemon answered with an error status.
    Refused {
        /// HTTP status.
        status: u16,
        /// The daemon's message.
        message: String,
    },
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::NotRunning { socket, source } => {
                write!(
                    f,
                    "cannot reach the guard at {socket} ({source}); is `pbxguard run` running?"
                )
            }
            ApiError::Io(e) => write!(f, "API connection failed: {e}"),
            ApiError::Malformed(m) => write!(f, "malformed API message: {m}"),
            ApiError::Refused { status, message } => {
                write!(f, "the guard refused ({status}): {message}")
            }
        }
    }
}

impl std::error::Error for ApiError {}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::Io(e)
    }
}

/// Reads the head (up to the blank line) and a Content-Length body.
/// A message's first line, lower-cased header names with values, and body.
type RawMessage = (String, Vec<(String, String)>, Vec<u8>);

fn read_message(stream: &mut impl BufRead) -> Result<RawMessage, ApiError> {
    let mut first = String::new();
    let mut head_len = stream.take(MAX_HEAD as u64).read_line(&mut first)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        let n = stream.take(MAX_HEAD as u64).read_line(&mut line)?;
        head_len += n;
        if n == 0 || head_len > MAX_HEAD {
            return Err(ApiError::Malformed("head too long or truncated".into()));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| {
            v.parse::<usize>()
                .map_err(|_| ApiError::Malformed("bad Content-Length".into()))
        })
        .transpose()?
        .unwrap_or(0);
    if len > MAX_BODY {
        return Err(ApiError::Malformed(format!(
            "body of {len} bytes exceeds {MAX_BODY}"
        )));
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body)?;
    Ok((first.trim_end().to_owned(), headers, body))
}

/// Reads one request from a connection.
///
/// # Errors
///
/// [`ApiError::Malformed`] for anything that is not a small HTTP/1.1 request with an optional JSON body.
pub fn read_request(stream: &mut impl BufRead) -> Result<ApiRequest, ApiError> {
    let (first, headers, body) = read_message(stream)?;
    let mut parts = first.split(' ');
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(ApiError::Malformed(format!("bad request line {first:?}")));
    };
    let body = if body.is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::Malformed(format!("body is not JSON: {e}")))?,
        )
    };
    let bearer = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .and_then(|(_, v)| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    Ok(ApiRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        body,
        bearer,
    })
}

/// Whether `given` is `token`, compared in time independent of where they differ.
pub fn token_matches(given: Option<&str>, token: &str) -> bool {
    let Some(given) = given else { return false };
    if token.is_empty() || given.len() != token.len() {
        return false;
    }
    given
        .bytes()
        .zip(token.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// Writes a response.
///
/// # Errors
///
/// [`ApiError::Io`] when the client went away.
pub fn write_response(stream: &mut impl Write, resp: &ApiResponse) -> Result<(), ApiError> {
    let (ctype, body) = match &resp.body {
        Body::Json(v) => ("application/json", format!("{v}\n")),
        Body::Text(t) => ("text/plain; version=0.0.4", t.clone()),
    };
    write!(
        stream,
        "HTTP/1.1 {} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        resp.status,
        if resp.status < 400 { "OK" } else { "Error" },
        body.len()
    )?;
    stream.flush()?;
    Ok(())
}

/// Sends one request to the daemon at `socket` and returns the JSON (or text, as a JSON string) answer.
///
/// # Errors
///
/// [`ApiError::NotRunning`] when nothing listens; [`ApiError::Refused`] for an error status.
pub fn call(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<serde_json::Value, ApiError> {
    let mut stream = UnixStream::connect(socket).map_err(|source| ApiError::NotRunning {
        socket: socket.display().to_string(),
        source,
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.map(ToString::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: pbxguard\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    let mut reader = BufReader::new(stream);
    let (first, headers, body) = read_message(&mut reader)?;
    let status: u16 = first
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::Malformed(format!("bad status line {first:?}")))?;
    let is_json = headers
        .iter()
        .any(|(k, v)| k == "content-type" && v.starts_with("application/json"));
    let value = if is_json {
        serde_json::from_slice(&body).map_err(|e| ApiError::Malformed(e.to_string()))?
    } else {
        serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())
    };
    if status >= 400 {
        let message = value
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("no reason given")
            .to_owned();
        return Err(ApiError::Refused { status, message });
    }
    Ok(value)
}

/// Decodes `%2F` and friends in a path segment (CIDRs contain `/`).
pub fn decode_segment(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(v) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let raw =
            b"POST /bans HTTP/1.1\r\nContent-Length: 24\r\n\r\n{\"target\":\"192.0.2.1\"}\n\n";
        let req = read_request(&mut &raw[..]).unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/bans");
        assert_eq!(req.body.unwrap()["target"], "192.0.2.1");
    }

    #[test]
    fn oversized_bodies_are_refused() {
        let raw = b"POST /bans HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n";
        assert!(matches!(
            read_request(&mut &raw[..]),
            Err(ApiError::Malformed(_))
        ));
    }

    #[test]
    fn a_bearer_token_is_read_and_compared_exactly() {
        let raw = b"GET /metrics HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\n";
        let req = read_request(&mut &raw[..]).unwrap();
        assert_eq!(req.bearer.as_deref(), Some("s3cret-token"));
        assert!(token_matches(req.bearer.as_deref(), "s3cret-token"));
        assert!(!token_matches(req.bearer.as_deref(), "s3cret-tokex"));
        assert!(!token_matches(req.bearer.as_deref(), "s3cret-token-longer"));
        assert!(!token_matches(None, "s3cret-token"));
        assert!(!token_matches(Some(""), ""));
        let basic = b"GET / HTTP/1.1\r\nAuthorization: Basic czNjcmV0\r\n\r\n";
        assert_eq!(read_request(&mut &basic[..]).unwrap().bearer, None);
    }

    #[test]
    fn segments_are_decoded() {
        assert_eq!(decode_segment("192.0.2.0%2F24"), "192.0.2.0/24");
        assert_eq!(decode_segment("bad%zz"), "bad%zz");
    }
}
