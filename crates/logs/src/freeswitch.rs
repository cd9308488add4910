//! FreeSWITCH log lines: sofia's registration and authentication messages (1.6 to 1.10).
//!
//! 1.10 added the idle-CPU percentage after the timestamp and logs a session's UUID first; neither
//! matters here, because the parser looks only at the message after the source file (`sofia_reg.c:1850 `).
//!
//! # Successful registrations
//!
//! mod_sofia writes no one-line "registered" message. The only trace of a successful REGISTER in its log
//! is the debug entry of `sofia_reg_handle_register_token` (`sofia_reg.c`), written when the profile's
//! `debug` parameter is at least 1, and only on the branch that stores a binding (non-zero expiry, after
//! authentication passed):
//!
//! ```text
//! switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_DEBUG,
//!     "Register:\nFrom:    [%s@%s]\nContact: [%s]\nExpires: [%ld]\n", to_user, reg_host, contact_str, exptime);
//! ```
//!
//! One entry, four lines: in `freeswitch.log` only the first carries the timestamp and `sofia_reg.c:LINE`;
//! through rsyslog the newlines arrive escaped as `#012` on one line, and journald keeps them inside one
//! `MESSAGE`. All three are read.
//!
//! The entry names no network address, except inside the Contact FreeSWITCH rewrote for a client behind NAT:
//! the same function appends `;fs_nat=yes;fs_path=` and the URL-encoded `sip:USER@NETWORK_IP:NETWORK_PORT`
//! (`switch_url_encode`, which escapes `:`, `@`, `[`, `]` and `;`) as the last parameter of the Contact
//! URI. That address is where the REGISTER came from, so it is the peer. A registration FreeSWITCH did not
//! treat as NATed has only the address the phone wrote in its Contact, which proves nothing about where the
//! request came from: such an entry reports nothing. A client that sends a `Path` header gets that path
//! encoded instead (its URI without `<>`, normally a proxy's `sip:HOST;lr`, which has no user part and
//! reports nothing). A Path written as `sip:USER@IP:PORT` would be read as the source: only a client that
//! has just passed authentication (or a proxy in front of FreeSWITCH) can put it there.
//!
//! The `sofia::register` event carries `network-ip` and `network-port`, but it goes to the event system
//! (event socket), not to the log. The only `SIP auth OK` line (`… due to user-agent-filter`) is written
//! before the password is checked, names no address, and is not a success.

use std::cell::Cell;
use std::net::IpAddr;

use memchr::memmem;

use crate::scan::{address_run, find, ip, rfind, until};
use crate::time::parse_prefix_time;
use crate::{LogEvent, Timestamp};

type Found<'a> = (IpAddr, LogEvent<'a>);

/// Longest user name kept between the lines of a `Register:` entry; a longer one is not compared, and the
/// success is reported without a user.
const MAX_USER: usize = 64;
/// Longest decoded `fs_path` read (`sip:` + user + `@[IPv6]:port` + encoded Contact parameters).
const MAX_PATH: usize = 256;

/// The user of an entry's `From:` line, copied, since it is read one line before the Contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct User {
    bytes: [u8; MAX_USER],
    len: u8,
}

impl User {
    fn copy(b: &[u8]) -> Option<User> {
        let mut bytes = [0; MAX_USER];
        bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(User {
            bytes,
            len: u8::try_from(b.len()).ok()?,
        })
    }

    fn get(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

/// Where the parser stands inside a multi-line `Register:` entry of `freeswitch.log`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Entry {
    /// Not inside one.
    #[default]
    Outside,
    /// The last line was `… sofia_reg.c:LINE Register:`, written at that time.
    Header(Option<Timestamp>),
    /// The last two lines were the header and `From:    [USER@HOST]` (the user, unless too long).
    From(Option<User>, Option<Timestamp>),
}

/// Parses FreeSWITCH lines, with its source-file searcher built once.
#[derive(Debug, Clone)]
pub struct Screen {
    source: memmem::Finder<'static>,
    entry: Cell<Entry>,
}

impl Screen {
    pub fn new() -> Self {
        Self {
            source: memmem::Finder::new(b".c:"),
            entry: Cell::new(Entry::Outside),
        }
    }

    /// What `line` reports, and when, if that is not the line's own timestamp: a success reported on an
    /// entry's `Contact:` line happened when the entry's first line says. `year` completes timestamps
    /// without one.
    pub fn parse<'a>(&self, line: &'a [u8], year: i32) -> Option<(Found<'a>, Option<Timestamp>)> {
        // The continuation lines of a `Register:` entry have no prefix: they count only right after the
        // lines FreeSWITCH writes before them, and only starting in the first column (a SIP trace indents
        // every line it dumps, and a folded header value starts with white space).
        match self.entry.replace(Entry::Outside) {
            Entry::Header(time) => {
                if let Some(user) = from_line(line) {
                    self.entry.set(Entry::From(User::copy(user), time));
                    return None;
                }
            }
            Entry::From(user, time) => {
                if line.starts_with(b"Contact: [") {
                    let mut buf = [0; MAX_PATH];
                    let (peer, path_user) = contact_line(line, &mut buf)?;
                    // The event borrows from this line: any bytes equal to the user will do.
                    let user = user.filter(|u| u.get() == path_user).and_then(|u| {
                        find(line, u.get()).and_then(|at| line.get(at..at + u.get().len()))
                    });
                    return Some(((peer, LogEvent::AuthSucceeded { user }), time));
                }
            }
            Entry::Outside => {}
        }
        Some((self.single(line, year)?, None))
    }

    /// What `line` reports on its own (or the start of a `Register:` entry, remembered).
    fn single<'a>(&self, line: &'a [u8], year: i32) -> Option<Found<'a>> {
        let (file, msg) = message(line, &self.source)?;
        if let Some(rest) = msg.strip_prefix(b"Register:") {
            // sofia_reg_handle_register_token's debug entry (see the module documentation).
            if file != b"sofia_reg" {
                return None;
            }
            if rest.trim_ascii_end().is_empty() {
                self.entry.set(Entry::Header(parse_prefix_time(line, year)));
                return None;
            }
            return register_one_line(rest);
        }
        if let Some(rest) = msg.strip_prefix(b"SIP auth failure (") {
            // sofia_reg_handle_register_token, with the profile's log-auth-failures on:
            // SIP auth failure (REGISTER) on sofia profile 'internal' for [100@192.0.2.1] from ip 203.0.113.5
            // The bracket holds the peer's user and realm; the last "] from ip " is FreeSWITCH's.
            let (user, peer) = bracket_then(rest, b"] from ip ")?;
            return Some((peer, LogEvent::AuthFailed { user }));
        }
        if let Some(rest) = msg.strip_prefix(b"Can't find user [") {
            // sofia_reg_parse_auth: Can't find user [100@192.0.2.1] from 203.0.113.5
            let at = rfind(rest, b"] from ")?;
            let user = user_part(rest.get(..at)?);
            let peer = ip(address_run(rest.get(at + 7..)?))?;
            return Some((peer, LogEvent::UnknownUser { user }));
        }
        if let Some(rest) = msg.strip_prefix(b"IP ") {
            // IP 203.0.113.5 Rejected by acl "domains"   (a plain rejection)
            // IP 203.0.113.5 Rejected by acl "domains". Falling back to Digest auth.   (not a failure)
            // IP 203.0.113.5 Rejected by register acl "domains"   (sofia_reg_handle_sip_i_register, 403)
            // "IP %s Rejected by user acl %s" is not read: sofia_reg_parse_auth fills it from the
            // X-AUTH-IP header a proxy (or anyone) sends, not from the network.
            let addr = address_run(rest);
            let peer = ip(addr)?;
            let tail = rest.get(addr.len()..)?;
            let acl =
                tail.starts_with(b" Rejected by acl") && find(tail, b"Falling back").is_none();
            if !acl && !tail.starts_with(b" Rejected by register acl \"") {
                return None;
            }
            return Some((peer, LogEvent::Rejected { user: None }));
        }
        // "SIP auth challenge (REGISTER) …" is the normal handshake's first step and never counts.
        None
    }
}

/// The whole `Register:` entry on one line, after `Register:`: its newlines escaped as `#012` (rsyslog) or
/// kept (one journald `MESSAGE`).
fn register_one_line(rest: &[u8]) -> Option<Found<'_>> {
    let sep: &[u8] = if rest.starts_with(b"#012") {
        b"#012"
    } else if rest.starts_with(b"\n") {
        b"\n"
    } else {
        return None;
    };
    let mut parts = Split { rest, sep };
    if !parts.next()?.is_empty() {
        return None;
    }
    let user = from_line(parts.next()?)?;
    let contact = parts.next()?;
    let mut buf = [0; MAX_PATH];
    let (peer, path_user) = contact_line(contact, &mut buf)?;
    let user = (user == path_user).then_some(user);
    Some((peer, LogEvent::AuthSucceeded { user }))
}

/// Pieces of `rest` between occurrences of `sep`.
struct Split<'a> {
    rest: &'a [u8],
    sep: &'a [u8],
}

impl<'a> Split<'a> {
    fn next(&mut self) -> Option<&'a [u8]> {
        match find(self.rest, self.sep) {
            Some(at) => {
                let piece = self.rest.get(..at)?;
                self.rest = self.rest.get(at + self.sep.len()..)?;
                Some(piece)
            }
            None => Some(std::mem::take(&mut self.rest)),
        }
    }
}

/// `From:    [USER@HOST]`: the user (empty gives `None`).
fn from_line(line: &[u8]) -> Option<&[u8]> {
    let inside = line
        .trim_ascii_end()
        .strip_prefix(b"From:    [")?
        .strip_suffix(b"]")?;
    let user = until(inside, b'@')?;
    (!user.is_empty()).then_some(user)
}

/// `Contact: [… <sip:USER@HOST…;fs_nat=yes;fs_path=ENCODED>]`: the address in the `fs_path` FreeSWITCH
/// appended, and the user written in it (decoded into `buf`).
///
/// FreeSWITCH puts its `fs_path` last, after everything the client wrote, so only a value that runs to the
/// end of the Contact is read.
fn contact_line<'b>(line: &[u8], buf: &'b mut [u8; MAX_PATH]) -> Option<(IpAddr, &'b [u8])> {
    let inside = line
        .trim_ascii_end()
        .strip_prefix(b"Contact: [")?
        .strip_suffix(b"]")?;
    let inside = inside.strip_suffix(b">").unwrap_or(inside);
    let at = rfind(inside, b";fs_nat=yes;fs_path=")?;
    let encoded = inside.get(at + 20..)?;
    if encoded
        .iter()
        .any(|c| matches!(c, b';' | b'>' | b'<' | b' '))
    {
        return None;
    }
    let path = percent_decode(encoded, buf)?;
    // sip:USER@NETWORK_IP:PORT[;CONTACT PARAMETERS], written by FreeSWITCH with `%s:%s@%s:%d`.
    let uri = path
        .strip_prefix(b"sip:")
        .or_else(|| path.strip_prefix(b"sips:"))?;
    let uri = until(uri, b';').unwrap_or(uri);
    let at = memchr::memrchr(b'@', uri)?;
    let user = uri.get(..at)?;
    let addr = uri.get(at + 1..)?;
    // FreeSWITCH always writes the port; an address without one is not its.
    let port_at = memchr::memrchr(b':', addr)?;
    let port = addr.get(port_at + 1..)?;
    let v6_closed = !addr.starts_with(b"[") || addr.get(..port_at)?.ends_with(b"]");
    if !v6_closed || port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let peer = ip(addr)?;
    Some((peer, user))
}

/// `%XX` sequences decoded into `buf`; `None` for a malformed escape or a value longer than `buf`.
fn percent_decode<'b>(s: &[u8], buf: &'b mut [u8; MAX_PATH]) -> Option<&'b [u8]> {
    let mut n = 0;
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        let byte = if c == b'%' {
            let hi = hex(*s.get(i + 1)?)?;
            let lo = hex(*s.get(i + 2)?)?;
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            c
        };
        *buf.get_mut(n)? = byte;
        n += 1;
    }
    buf.get(..n)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
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

/// The source file (without `.c`) and the message of a FreeSWITCH line: what surrounds `file.c:LINE `.
fn message<'a>(line: &'a [u8], source: &memmem::Finder<'_>) -> Option<(&'a [u8], &'a [u8])> {
    let at = source.find(line)?;
    let head = line.get(..at)?;
    let file = head
        .iter()
        .rposition(|c| c.is_ascii_whitespace() || *c == b']')
        .map_or(head, |s| head.get(s + 1..).unwrap_or_default());
    let rest = line.get(at + 3..)?;
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let rest = rest.get(digits..)?;
    Some((file, rest.trim_ascii_start()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_is_bounded_and_strict() {
        let mut buf = [0; MAX_PATH];
        assert_eq!(
            percent_decode(b"sip%3A1000%40203.0.113.5%3A5060", &mut buf),
            Some(&b"sip:1000@203.0.113.5:5060"[..])
        );
        assert_eq!(percent_decode(b"%5b%5D", &mut buf), Some(&b"[]"[..]));
        for bad in [&b"%"[..], b"%4", b"%G0", b"abc%"] {
            assert_eq!(percent_decode(bad, &mut buf), None, "{bad:?}");
        }
        assert_eq!(percent_decode(&[b'a'; MAX_PATH + 1], &mut buf), None);
        assert_eq!(
            percent_decode(&[b'a'; MAX_PATH], &mut buf).map(<[u8]>::len),
            Some(MAX_PATH)
        );
    }

    #[test]
    fn user_copies_keep_short_names_only() {
        assert_eq!(
            User::copy(b"1000").map(|u| u.get().to_vec()),
            Some(b"1000".to_vec())
        );
        assert_eq!(
            User::copy(&[b'x'; MAX_USER]).map(|u| u.get().len()),
            Some(MAX_USER)
        );
        assert_eq!(User::copy(&[b'x'; MAX_USER + 1]), None);
    }

    #[test]
    fn the_source_file_is_the_word_before_dot_c() {
        let f = memmem::Finder::new(b".c:");
        for (line, file) in [
            (
                &b"2026-11-22 20:44:38.123456 [DEBUG] sofia_reg.c:1921 Register:"[..],
                &b"sofia_reg"[..],
            ),
            (
                b"Nov 22 20:44:38 pbx freeswitch[880]: [DEBUG]sofia_reg.c:1 x",
                b"sofia_reg",
            ),
            (b"sofia.c:10395 IP", b"sofia"),
        ] {
            assert_eq!(message(line, &f).map(|(f, _)| f), Some(file), "{line:?}");
        }
    }
}
