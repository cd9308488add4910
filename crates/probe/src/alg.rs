//! SIP ALG detection (outbound): the agent sends a SIP OPTIONS that names its private address in
//! Via, From, Contact and an SDP body; the reflector answers with what it received, base64-encoded
//! in the body of an authenticated 200 OK. A router's SIP ALG rewrites addresses in SIP it can read,
//! and un-rewrites a plain echo on the way back, but it cannot read base64: comparing what was sent
//! with what arrived shows every rewritten field.
//!
//! The request carries `X-Pbxguard-Auth: KEY-ID UNIX-MS NONCE MAC`, an HMAC-SHA256 over the key id,
//! time and nonce (not over the addresses, which the ALG may rewrite). The reflector answers only
//! authenticated, fresh, never-seen requests within a per-source rate, so the echo cannot be used to
//! reflect traffic at third parties; the answer's `X-Pbxguard-Echo-Mac` binds it to the request's
//! nonce and the echoed bytes.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::admission::{Keyring, Rate};

const AUTH_HEADER: &str = "X-Pbxguard-Auth";
const ECHO_MAC_HEADER: &str = "X-Pbxguard-Echo-Mac";
/// Largest request the reflector echoes (the answer is about 4/3 of it, so it stays one datagram).
pub const MAX_ECHOED: usize = 4096;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                out.push(char::from(B64.get(idx).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64, ignoring whitespace; `None` on any other invalid character.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        let v = u32::try_from(B64.iter().position(|&x| x == c)?).ok()?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xFF).ok()?);
        }
    }
    Some(out)
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    for p in parts {
        m.update(&u64::try_from(p.len()).unwrap_or(u64::MAX).to_be_bytes());
        m.update(p);
    }
    Some(m)
}

/// The header lines of a SIP message (before the blank line), and the body.
fn split(msg: &[u8]) -> (Vec<&str>, &[u8]) {
    let text_end = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(msg.len());
    let head = std::str::from_utf8(msg.get(..text_end).unwrap_or_default()).unwrap_or("");
    let body = msg.get(text_end + 4..).unwrap_or_default();
    (head.split("\r\n").collect(), body)
}

fn header<'a>(lines: &[&'a str], name: &str) -> Option<&'a str> {
    lines.iter().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The probe request the agent sends from `local` (its private address) to the reflector's SIP
/// port.
pub fn probe_request(
    key_id: &str,
    secret: &[u8],
    unix_ms: u64,
    nonce: [u8; 16],
    local: SocketAddr,
    reflector: SocketAddr,
) -> Vec<u8> {
    let tag = hex(nonce.get(..6).unwrap_or_default());
    let tag_mac = mac(
        secret,
        &[
            b"alg-request",
            key_id.as_bytes(),
            &unix_ms.to_be_bytes(),
            &nonce,
        ],
    )
    .map(|m| hex(&m.finalize().into_bytes()))
    .unwrap_or_default();
    let (lip, rip) = (host(local.ip()), host(reflector.ip()));
    let family = if local.is_ipv4() { "IP4" } else { "IP6" };
    let sdp = format!(
        "v=0\r\no=pbxguard 1 1 IN {family} {lip}\r\ns=-\r\nc=IN {family} {lip}\r\nt=0 0\r\n\
         m=audio {rtp} RTP/AVP 0\r\n",
        rtp = 10_000
    );
    format!(
        "OPTIONS sip:alg-check@{rip}:{rport} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {lip}:{lport};branch=z9hG4bK{tag};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alg-check@{lip}:{lport}>;tag={tag}\r\n\
         To: <sip:alg-check@{rip}:{rport}>\r\n\
         Call-ID: {tag}@{lip}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:alg-check@{lip}:{lport}>\r\n\
         {AUTH_HEADER}: {key_id} {unix_ms} {nonce} {tag_mac}\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{sdp}",
        rport = reflector.port(),
        lport = local.port(),
        nonce = hex(&nonce),
        len = sdp.len(),
    )
    .into_bytes()
}

fn host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// Why the reflector does not echo a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EchoRefusal {
    /// Too many requests from this source or overall.
    RateLimited,
    /// No or malformed authentication header, unknown key, or bad MAC.
    Unauthenticated,
    /// Too old or from the future.
    Stale,
    /// The nonce was seen before.
    Replayed,
    /// Larger than [`MAX_ECHOED`].
    TooLarge,
}

impl fmt::Display for EchoRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EchoRefusal::RateLimited => "rate limited",
            EchoRefusal::Unauthenticated => "unauthenticated",
            EchoRefusal::Stale => "stale",
            EchoRefusal::Replayed => "replayed",
            EchoRefusal::TooLarge => "too large",
        })
    }
}

/// The reflector's SIP echo: authentication, replay and rate checks, and the answer.
#[derive(Debug)]
pub struct EchoService {
    keys: Keyring,
    max_skew: Duration,
    per_source: Rate,
    sources: HashMap<IpAddr, (f64, Instant)>,
    max_sources: usize,
    nonces: HashMap<[u8; 16], u64>,
    max_nonces: usize,
}

impl EchoService {
    /// An echo service for the sites in `keys`: two requests per second per source, burst of five.
    pub fn new(keys: Keyring) -> Self {
        EchoService {
            keys,
            max_skew: Duration::from_secs(30),
            per_source: Rate {
                burst: 5.0,
                per_second: 2.0,
            },
            sources: HashMap::new(),
            max_sources: 4096,
            nonces: HashMap::new(),
            max_nonces: 65_536,
        }
    }

    fn rate_ok(&mut self, now: Instant, from: IpAddr) -> bool {
        let r = self.per_source;
        if !self.sources.contains_key(&from) && self.sources.len() >= self.max_sources {
            self.sources.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * r.per_second < r.burst
            });
            if self.sources.len() >= self.max_sources {
                return false;
            }
        }
        let (tokens, at) = self.sources.entry(from).or_insert((r.burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * r.per_second)
            .min(r.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Answers a request that arrived from `from`: the 200 OK to send back, or why not.
    ///
    /// # Errors
    ///
    /// [`EchoRefusal`]; the caller sends nothing then.
    pub fn answer(
        &mut self,
        now: Instant,
        unix_ms: u64,
        from: IpAddr,
        request: &[u8],
    ) -> Result<Vec<u8>, EchoRefusal> {
        if !self.rate_ok(now, from) {
            return Err(EchoRefusal::RateLimited);
        }
        if request.len() > MAX_ECHOED {
            return Err(EchoRefusal::TooLarge);
        }
        let (lines, _) = split(request);
        let auth = header(&lines, AUTH_HEADER).ok_or(EchoRefusal::Unauthenticated)?;
        let mut parts = auth.split_ascii_whitespace();
        let (Some(key_id), Some(ts), Some(nonce_hex), Some(mac_hex), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(EchoRefusal::Unauthenticated);
        };
        let ts: u64 = ts.parse().map_err(|_| EchoRefusal::Unauthenticated)?;
        let nonce: [u8; 16] = unhex(nonce_hex)
            .and_then(|n| n.try_into().ok())
            .ok_or(EchoRefusal::Unauthenticated)?;
        let tag = unhex(mac_hex).ok_or(EchoRefusal::Unauthenticated)?;
        let secret = self.keys.get(key_id).ok_or(EchoRefusal::Unauthenticated)?;
        mac(
            secret,
            &[b"alg-request", key_id.as_bytes(), &ts.to_be_bytes(), &nonce],
        )
        .ok_or(EchoRefusal::Unauthenticated)?
        .verify_slice(&tag)
        .map_err(|_| EchoRefusal::Unauthenticated)?;
        let skew = u128::from(ts.abs_diff(unix_ms));
        if skew > self.max_skew.as_millis() {
            return Err(EchoRefusal::Stale);
        }
        if self.nonces.contains_key(&nonce) {
            return Err(EchoRefusal::Replayed);
        }
        if self.nonces.len() >= self.max_nonces {
            self.nonces.retain(|_, until| *until > unix_ms);
            if self.nonces.len() >= self.max_nonces {
                return Err(EchoRefusal::RateLimited);
            }
        }
        let keep = u64::try_from(self.max_skew.as_millis()).unwrap_or(u64::MAX / 4) * 2;
        self.nonces.insert(nonce, unix_ms.saturating_add(keep));

        let body = base64_encode(request);
        let echo_mac = mac(secret, &[b"alg-echo", &nonce, body.as_bytes()])
            .map(|m| hex(&m.finalize().into_bytes()))
            .unwrap_or_default();
        let mut out = String::from("SIP/2.0 200 OK\r\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if let Some(v) = header(&lines, name) {
                out.push_str(&format!("{name}: {v}\r\n"));
            }
        }
        out.push_str(&format!(
            "{ECHO_MAC_HEADER}: {echo_mac}\r\nContent-Type: application/x-pbxguard-echo\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        Ok(out.into_bytes())
    }
}

/// A field the ALG changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The header name, or the SDP line type (`c=`, `o=`, `m=`).
    pub field: String,
    /// What the agent sent.
    pub sent: String,
    /// What reached the reflector.
    pub received: String,
}

/// Why an echo could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EchoError {
    /// Not a 200 OK with an echo body.
    NotAnEcho,
    /// The echo's MAC does not match our key and nonce.
    BadMac,
    /// The body is not base64.
    BadBody,
}

impl fmt::Display for EchoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EchoError::NotAnEcho => "not an echo answer",
            EchoError::BadMac => "echo not authenticated",
            EchoError::BadBody => "echo body is not base64",
        })
    }
}

impl std::error::Error for EchoError {}

/// Verifies the reflector's answer and lists the fields that differ between what we `sent` and
/// what the reflector received. An empty list means no ALG touched the request.
///
/// # Errors
///
/// [`EchoError`] when the answer is not an authenticated echo of our request.
pub fn compare(
    secret: &[u8],
    nonce: [u8; 16],
    sent: &[u8],
    answer: &[u8],
) -> Result<Vec<Rewrite>, EchoError> {
    let (lines, body) = split(answer);
    if !lines.first().is_some_and(|l| l.starts_with("SIP/2.0 200")) {
        return Err(EchoError::NotAnEcho);
    }
    let tag = header(&lines, ECHO_MAC_HEADER)
        .and_then(unhex)
        .ok_or(EchoError::NotAnEcho)?;
    // Some ALGs adjust Content-Length or append bytes: the MAC covers exactly the base64 text.
    let body_text = std::str::from_utf8(body)
        .map_err(|_| EchoError::BadBody)?
        .trim();
    mac(secret, &[b"alg-echo", &nonce, body_text.as_bytes()])
        .ok_or(EchoError::BadMac)?
        .verify_slice(&tag)
        .map_err(|_| EchoError::BadMac)?;
    let received = base64_decode(body_text).ok_or(EchoError::BadBody)?;
    Ok(diff(sent, &received))
}

/// The fields that differ between a SIP message as `sent` and as `received`: the request line,
/// the address-bearing headers, and the SDP origin, connection and media lines.
pub fn diff(sent: &[u8], received: &[u8]) -> Vec<Rewrite> {
    let (sl, sb) = split(sent);
    let (rl, rb) = split(received);
    let mut out = Vec::new();
    if sl.first() != rl.first() {
        out.push(Rewrite {
            field: "Request-Line".into(),
            sent: sl.first().copied().unwrap_or_default().into(),
            received: rl.first().copied().unwrap_or_default().into(),
        });
    }
    for name in ["Via", "From", "To", "Call-ID", "Contact", "Content-Length"] {
        let (a, b) = (header(&sl, name), header(&rl, name));
        if a != b {
            out.push(Rewrite {
                field: name.into(),
                sent: a.unwrap_or("(absent)").into(),
                received: b.unwrap_or("(absent)").into(),
            });
        }
    }
    let sdp = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b)
            .split("\r\n")
            .map(str::to_owned)
            .collect()
    };
    let (ss, rs) = (sdp(sb), sdp(rb));
    for kind in ["o=", "c=", "m="] {
        let a = ss.iter().find(|l| l.starts_with(kind));
        let b = rs.iter().find(|l| l.starts_with(kind));
        if a != b {
            out.push(Rewrite {
                field: format!("SDP {kind}"),
                sent: a.cloned().unwrap_or_else(|| "(absent)".into()),
                received: b.cloned().unwrap_or_else(|| "(absent)".into()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"alg test secret, long enough....";

    fn keys() -> Keyring {
        let mut k = Keyring::new();
        k.insert("site", SECRET).unwrap();
        k
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn base64_round_trips_every_length() {
        for n in 0..40u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(&base64_encode(&data)), Some(data));
        }
        assert_eq!(base64_encode(b"Man"), "TWFu");
        assert_eq!(base64_encode(b"Ma"), "TWE=");
        assert_eq!(base64_decode("TW\r\nFu"), Some(b"Man".to_vec()));
        assert_eq!(base64_decode("TW*u"), None);
    }

    /// What nf_nat_sip does outbound: replace the private address with the public one.
    fn alg_rewrite(msg: &[u8]) -> Vec<u8> {
        String::from_utf8_lossy(msg)
            .replace("192.0.2.10:5060", "198.51.100.1:5060")
            .replace("IN IP4 192.0.2.10", "IN IP4 198.51.100.1")
            .into_bytes()
    }

    #[test]
    fn an_alg_rewrite_is_seen_through_the_encoded_echo() {
        let now = Instant::now();
        let nonce = [9; 16];
        let sent = probe_request(
            "site",
            SECRET,
            1000,
            nonce,
            addr("192.0.2.10:5060"),
            addr("198.51.100.10:5060"),
        );
        let mut echo = EchoService::new(keys());
        let arrived = alg_rewrite(&sent);
        let answer = echo
            .answer(now, 1000, "198.51.100.1".parse().unwrap(), &arrived)
            .unwrap();
        // The ALG un-rewrites the answer's plain headers on the way back; the body stays.
        let back = String::from_utf8_lossy(&answer).replace("198.51.100.1:5060", "192.0.2.10:5060");
        let rewrites = compare(SECRET, nonce, &sent, back.as_bytes()).unwrap();
        let fields: Vec<&str> = rewrites.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(fields, ["Via", "From", "Contact", "SDP o=", "SDP c="]);
        assert!(rewrites[0].received.contains("198.51.100.1:5060"));

        // Without an ALG: nothing differs.
        let sent2 = probe_request(
            "site",
            SECRET,
            1000,
            [10; 16],
            addr("192.0.2.10:5060"),
            addr("198.51.100.10:5060"),
        );
        let clean = echo
            .answer(now, 1000, "198.51.100.1".parse().unwrap(), &sent2)
            .unwrap();
        assert_eq!(compare(SECRET, [10; 16], &sent2, &clean), Ok(Vec::new()));
    }

    #[test]
    fn echo_refuses_unauthenticated_stale_replayed_and_floods() {
        let now = Instant::now();
        let from: IpAddr = "198.51.100.1".parse().unwrap();
        let mk = |secret: &[u8], ts: u64, n: u8| {
            probe_request(
                "site",
                secret,
                ts,
                [n; 16],
                addr("192.0.2.10:5060"),
                addr("198.51.100.10:5060"),
            )
        };
        let mut echo = EchoService::new(keys());
        assert_eq!(
            echo.answer(
                now,
                1000,
                from,
                &mk(b"wrong secret, but long enough...", 1000, 1)
            ),
            Err(EchoRefusal::Unauthenticated)
        );
        assert_eq!(
            echo.answer(now, 1000, from, b"OPTIONS sip:x SIP/2.0\r\n\r\n"),
            Err(EchoRefusal::Unauthenticated)
        );
        assert_eq!(
            echo.answer(now, 100_000, from, &mk(SECRET, 1000, 2)),
            Err(EchoRefusal::Stale)
        );
        assert!(echo.answer(now, 1000, from, &mk(SECRET, 1000, 3)).is_ok());
        assert_eq!(
            echo.answer(now, 1000, from, &mk(SECRET, 1000, 3)),
            Err(EchoRefusal::Replayed)
        );
        // The burst of five is spent; the next ones are rate limited whatever they carry.
        assert_eq!(
            echo.answer(now, 1000, from, &mk(SECRET, 1000, 4)),
            Err(EchoRefusal::RateLimited)
        );
    }

    #[test]
    fn a_forged_echo_is_rejected() {
        let nonce = [9; 16];
        let sent = b"OPTIONS sip:x SIP/2.0\r\n\r\n";
        let body = base64_encode(sent);
        let forged = format!(
            "SIP/2.0 200 OK\r\n{ECHO_MAC_HEADER}: {}\r\nContent-Length: {}\r\n\r\n{body}",
            hex(&[0u8; 32]),
            body.len()
        );
        assert_eq!(
            compare(SECRET, nonce, sent, forged.as_bytes()),
            Err(EchoError::BadMac)
        );
    }
}
