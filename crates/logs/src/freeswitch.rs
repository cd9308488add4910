//! FreeSWITCH log lines: sofia's registration and authentication messages (1.6 to 1.10).
//!
//! 1.10 added the idle-CPU percentage after the timestamp and logs a session's UUID first; neither
//! matters here, because the parser looks only at the message after the source file (`sofia_reg.c:1850 `).

use std::net::IpAddr;

use memchr::memmem;

use crate::LogEvent;
use crate::scan::{address_run, find, ip, rfind, until};

type Found<'a> = (IpAddr, LogEvent<'a>);

/// Parses FreeSWITCH lines, with its source-file searcher built once.
#[derive(Debug, Clone)]
pub struct Screen {
    source: memmem::Finder<'static>,
}

impl Screen {
    pub fn new() -> Self {
        Self {
            source: memmem::Finder::new(b".c:"),
        }
    }

    pub fn parse<'a>(&self, line: &'a [u8]) -> Option<Found<'a>> {
        let msg = message(line, &self.source)?;
        if let Some(rest) = msg.strip_prefix(b"SIP auth failure (") {
            // SIP auth failure (REGISTER) on sofia profile 'internal' for [100@192.0.2.1] from ip 203.0.113.5
            // The bracket holds the peer's user and realm; the last "] from ip " is FreeSWITCH's.
            let (user, peer) = bracket_then(rest, b"] from ip ")?;
            return Some((peer, LogEvent::AuthFailed { user }));
        }
        if let Some(rest) = msg.strip_prefix(b"Can't find user [") {
            // Can't find user [100@192.0.2.1] from 203.0.113.5
            let at = rfind(rest, b"] from ")?;
            let user = user_part(rest.get(..at)?);
            let peer = ip(address_run(rest.get(at + 7..)?))?;
            return Some((peer, LogEvent::UnknownUser { user }));
        }
        if let Some(rest) = msg.strip_prefix(b"IP ") {
            // IP 203.0.113.5 Rejected by acl "domains"   (a plain rejection)
            // IP 203.0.113.5 Rejected by acl "domains". Falling back to Digest auth.   (not a failure)
            let addr = address_run(rest);
            let peer = ip(addr)?;
            let tail = rest.get(addr.len()..)?;
            if !tail.starts_with(b" Rejected by acl") || find(tail, b"Falling back").is_some() {
                return None;
            }
            return Some((peer, LogEvent::Rejected { user: None }));
        }
        // "SIP auth challenge (REGISTER) …" is the normal handshake's first step and never counts.
        None
    }
}

/// `… for [user@realm]<sep>ADDR`: the user part and the address after the last `sep`.
fn bracket_then<'a>(rest: &'a [u8], sep: &[u8]) -> Option<(Option<&'a [u8]>, IpAddr)> {
    let at = rfind(rest, sep)?;
    let head = rest.get(..at)?;
    let open = find(head, b" for [")?;
    let user = user_part(head.get(open + 6..)?);
    let peer = ip(address_run(rest.get(at + sep.len()..)?))?;
    Some((user, peer))
}

/// `100@192.0.2.1` gives `100`; an empty user gives `None`.
fn user_part(b: &[u8]) -> Option<&[u8]> {
    let user = until(b, b'@').unwrap_or(b);
    (!user.is_empty()).then_some(user)
}

/// The message of a FreeSWITCH line: what follows `file.c:LINE `.
fn message<'a>(line: &'a [u8], source: &memmem::Finder<'_>) -> Option<&'a [u8]> {
    let at = source.find(line)?;
    let rest = line.get(at + 3..)?;
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let rest = rest.get(digits..)?;
    Some(rest.trim_ascii_start())
}
