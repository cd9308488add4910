//! Asterisk (and FreePBX) log lines: chan_sip, PJSIP, the security log, IAX2 and the manager interface.
//!
//! The phrases come from Asterisk's sources and have been stable since 1.8 (chan_sip), 12 (PJSIP) and 11
//! (security events); what changed between versions is the prefix (`NOTICE[pid]`, `NOTICE[pid][C-id]`,
//! syslog's `asterisk[pid]:`), the timestamp style, and PJSIP's method and `after N tries` additions, which
//! the parser does not depend on.

use std::net::IpAddr;

use memchr::memmem;

use crate::LogEvent;
use crate::scan::{address_run, after, contains_ignore_case, find, ip, rfind, sip_user, until};

type Found<'a> = (IpAddr, LogEvent<'a>);

/// The log levels failures are logged at.
const LEVELS: [&[u8]; 3] = [b"NOTICE", b"WARNING", b"SECURITY"];

/// Parses Asterisk lines, with its substring searchers built once (building one costs more than a search
/// over a short line).
#[derive(Debug, Clone)]
pub struct Screen {
    source: memmem::Finder<'static>,
    levels: [memmem::Finder<'static>; 3],
    failed_for: memmem::FinderRev<'static>,
}

impl Screen {
    pub fn new() -> Self {
        Self {
            source: memmem::Finder::new(b".c:"),
            levels: LEVELS.map(memmem::Finder::new),
            failed_for: memmem::FinderRev::new(b"' failed for '"),
        }
    }

    pub fn parse<'a>(&self, line: &'a [u8]) -> Option<Found<'a>> {
        let (prefix, msg) = message(line, &self.source)?;
        if let Some(rest) = msg.strip_prefix(b"Registered SIP '") {
            // Registered SIP '100' at 203.0.113.5:5060 (a verbose line)
            let at = rfind(rest, b"' at ")?;
            let user = rest.get(..at);
            let peer = ip(address_run(rest.get(at + 5..)?))?;
            return Some((peer, LogEvent::AuthSucceeded { user }));
        }
        // Failures are logged at these levels; a verbose line may echo anyone's text (the Verbose() and
        // NoOp() dialplan applications), so it never reports a failure.
        if !self.levels.iter().any(|l| l.find(prefix).is_some()) {
            return None;
        }
        if let Some(rest) = msg.strip_prefix(b"Registration from '") {
            return failed_for(msg, rest, &self.failed_for);
        }
        if let Some(rest) = msg.strip_prefix(b"Request ") {
            return failed_for(msg, rest, &self.failed_for);
        }
        if let Some(rest) = msg.strip_prefix(b"SecurityEvent=\"") {
            // Most security-log lines are ChallengeSent and the like: decide on the event name before
            // reading the other fields.
            const KINDS: [&[u8]; 5] = [
                b"InvalidAccountID\"",
                b"ChallengeResponseFailed\"",
                b"InvalidPassword\"",
                b"FailedACL\"",
                b"SuccessfulAuth\"",
            ];
            if !KINDS.iter().any(|k| rest.starts_with(k)) {
                return None;
            }
            return security(msg);
        }
        if let Some(rest) = msg.strip_prefix(b"Host ") {
            // IAX2: Host 203.0.113.5 failed MD5 authentication for '100' (a != b)
            let addr = address_run(rest);
            let peer = ip(addr)?;
            let tail = rest.get(addr.len()..)?;
            let detail = tail
                .strip_prefix(b" failed MD5 authentication for '")
                .or_else(|| tail.strip_prefix(b" failed to authenticate as '"))?;
            let user = until(detail, b'\'');
            return Some((peer, LogEvent::AuthFailed { user }));
        }
        if let Some(rest) = msg.strip_prefix(b"No registration for peer '") {
            // No registration for peer '100' (from 203.0.113.5)
            let at = rfind(rest, b"' (from ")?;
            let user = rest.get(..at);
            let peer = ip(address_run(rest.get(at + 8..)?))?;
            return Some((peer, LogEvent::UnknownUser { user }));
        }
        if msg.starts_with(b"Call from '") {
            return call_rejected(msg);
        }
        if let Some(rest) = msg.strip_prefix(b"hacking attempt detected '") {
            let peer = ip(until(rest, b'\'')?)?;
            return Some((peer, LogEvent::Rejected { user: None }));
        }
        if let Some(rest) = msg.strip_prefix(b"Rejecting unknown SIP connection from ") {
            let peer = ip(address_run(rest))?;
            return Some((peer, LogEvent::Rejected { user: None }));
        }
        if let Some(rest) = msg.strip_prefix(b"Friendly Scanner from ") {
            let peer = ip(address_run(rest))?;
            return Some((
                peer,
                LogEvent::Scanner {
                    user_agent: Some(b"friendly-scanner"),
                },
            ));
        }
        // The manager interface: "203.0.113.5 failed to authenticate as 'admin'",
        // "203.0.113.5 tried to authenticate with nonexistent user 'admin'".
        let addr = address_run(msg);
        let peer = ip(addr)?;
        let tail = msg.get(addr.len()..)?;
        if let Some(r) = tail.strip_prefix(b" failed to authenticate as '") {
            return Some((
                peer,
                LogEvent::AuthFailed {
                    user: until(r, b'\''),
                },
            ));
        }
        if let Some(r) = tail.strip_prefix(b" tried to authenticate with nonexistent user '") {
            return Some((
                peer,
                LogEvent::UnknownUser {
                    user: until(r, b'\''),
                },
            ));
        }
        None
    }
}

/// The prefix and message of an Asterisk line: what follows the source file (`chan_sip.c: `, or syslog's
/// `chan_sip.c:28080 in handle_request_register: `), without verbose's `-- ` marker.
///
/// Everything before the source file is written by Asterisk itself; the message may quote what a peer
/// sent. Matching phrases only at the start of the message is what keeps a peer from planting a phrase
/// (and someone else's address) inside a From header. Lines without a source file (FreePBX's own lines)
/// start their message after the last `]: ` or `: ` of the prefix.
fn message<'a>(line: &'a [u8], source: &memmem::Finder<'_>) -> Option<(&'a [u8], &'a [u8])> {
    let (prefix, body) = match source.find(line) {
        Some(at) => {
            let rest = line.get(at + 3..)?;
            let body = if rest.first() == Some(&b' ') {
                rest
            } else {
                // chan_sip.c:28080 in handle_request_register: message
                let colon = find(rest, b": ")?;
                rest.get(colon + 1..)?
            };
            (line.get(..at)?, body)
        }
        None => {
            // [2026-11-22 20:44:38] WARNING[1234]: Friendly Scanner from 203.0.113.5
            let at = find(line, b"]: ")?;
            (line.get(..at)?, line.get(at + 2..)?)
        }
    };
    let body = body.trim_ascii_start();
    Some((prefix, body.strip_prefix(b"-- ").unwrap_or(body)))
}

/// chan_sip's `Registration from 'FROM' failed for 'ADDR' - REASON` and PJSIP's
/// `Request ['METHOD' ]from 'FROM' failed for 'ADDR' (callid: ID) - REASON`. `rest` follows the intro.
///
/// FROM is the peer's From header and may contain anything, including `' failed for '`; what follows
/// the last `' failed for '` is Asterisk's own (a Call-ID cannot contain a space), so that one counts.
fn failed_for<'a>(
    msg: &'a [u8],
    rest: &'a [u8],
    marker: &memmem::FinderRev<'_>,
) -> Option<Found<'a>> {
    let at = marker.rfind(rest)?;
    let head = rest.get(..at)?;
    // PJSIP: `'REGISTER' from '…`; older PJSIP: `from '…`; chan_sip's intro already ended at the quote.
    let from = if msg.starts_with(b"Request ") {
        after(head, b"from '")?
    } else {
        head
    };
    let tail = rest.get(at + 14..)?;
    let addr = until(tail, b'\'')?;
    let peer = ip(addr)?;
    let reason = after(tail.get(addr.len()..)?, b" - ")?;
    let event = reason_event(reason, sip_user(from))?;
    if contains_ignore_case(from, b"friendly-scanner") {
        return Some((
            peer,
            LogEvent::Scanner {
                user_agent: Some(b"friendly-scanner"),
            },
        ));
    }
    Some((peer, event))
}

fn reason_event<'a>(reason: &[u8], user: Option<&'a [u8]>) -> Option<LogEvent<'a>> {
    const FAILED: [&[u8]; 4] = [
        b"Wrong password",
        b"Username/auth name mismatch",
        b"Failed to authenticate",
        b"Error to authenticate",
    ];
    const UNKNOWN: [&[u8]; 2] = [b"No matching peer found", b"No matching endpoint found"];
    const REJECTED: [&[u8]; 7] = [
        b"Not a local domain",
        b"Not a local SIP domain",
        b"Device does not match ACL",
        b"Peer is not supposed to register",
        b"ACL error (permit/deny)",
        b"Not match Endpoint ACL",
        b"Not match Endpoint Contact ACL",
    ];
    if FAILED.iter().any(|p| reason.starts_with(p)) {
        Some(LogEvent::AuthFailed { user })
    } else if UNKNOWN.iter().any(|p| reason.starts_with(p)) {
        Some(LogEvent::UnknownUser { user })
    } else if REJECTED.iter().any(|p| reason.starts_with(p)) {
        Some(LogEvent::Rejected { user })
    } else {
        None
    }
}

/// `Call from 'FROM' ([TCP:|UDP:]ADDR:PORT) to extension 'EXT' rejected because extension not found …`
///
/// FROM and EXT come from the peer; EXT cannot contain a space, so the last ` to extension '` is
/// Asterisk's, and the address sits between the last `' (` before it and the `)`.
fn call_rejected(msg: &[u8]) -> Option<Found<'_>> {
    let end = rfind(msg, b"' rejected because extension not found")?;
    let head = msg.get(..end)?;
    let to = rfind(head, b" to extension '")?;
    let user = head.get(to + 15..).filter(|u| !u.is_empty());
    let before = head.get(..to)?;
    let open = rfind(before, b"' (")?;
    let inside = before.get(open + 3..)?.strip_suffix(b")")?;
    let inside = inside
        .strip_prefix(b"UDP:")
        .or_else(|| inside.strip_prefix(b"TCP:"))
        .or_else(|| inside.strip_prefix(b"TLS:"))
        .unwrap_or(inside);
    let peer = ip(inside)?;
    Some((peer, LogEvent::Rejected { user }))
}

/// `SecurityEvent="…",…,AccountID="100",…,RemoteAddress="IPV4/UDP/203.0.113.5/5060",…`
///
/// AccountID and the challenge fields quote what the peer sent. A line with more than one
/// `RemoteAddress="` or `SecurityEvent="` has a planted field and is not guessed at.
fn security(line: &[u8]) -> Option<Found<'_>> {
    // One pass over `Key="value"` fields. Asterisk separates them with commas; a value that holds a
    // quote (or a key seen twice) means a planted field, and the line is not guessed at.
    let (mut kind, mut user, mut remote) = (None, None, None);
    let mut rest = line;
    loop {
        let eq = memchr::memchr(b'=', rest)?;
        let key = rest.get(..eq)?;
        let value_and_more = rest.get(eq + 1..)?.strip_prefix(b"\"")?;
        let close = memchr::memchr(b'"', value_and_more)?;
        let value = value_and_more.get(..close)?;
        let slot = match key {
            b"SecurityEvent" => &mut kind,
            b"AccountID" => &mut user,
            b"RemoteAddress" => &mut remote,
            _ => &mut None,
        };
        if slot.replace(value).is_some() {
            return None;
        }
        let after = value_and_more.get(close + 1..)?;
        match after.first() {
            Some(b',') => rest = after.get(1..)?,
            _ if after.trim_ascii().is_empty() => break,
            _ => return None,
        }
    }
    let kind = kind?;
    let user = user.filter(|u| !u.is_empty());
    let remote = remote?;
    // IPV4/UDP/203.0.113.5/5060: the address is the third field; IPv6 addresses contain no '/'.
    let mut parts = remote.split(|&c| c == b'/');
    let family = parts.next()?;
    if !family.starts_with(b"IPV") {
        return None;
    }
    let peer = ip(parts.nth(1)?)?;
    let event = match kind {
        b"InvalidAccountID" => LogEvent::UnknownUser { user },
        b"ChallengeResponseFailed" | b"InvalidPassword" => LogEvent::AuthFailed { user },
        b"FailedACL" => LogEvent::Rejected { user },
        b"SuccessfulAuth" => LogEvent::AuthSucceeded { user },
        _ => return None,
    };
    Some((peer, event))
}
