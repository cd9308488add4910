//! PBX log lines in, engine log events out.
//!
//! A [`LineParser`] reads one line of an Asterisk, FreeSWITCH or Kamailio log and returns what it says about
//! a remote peer: failed or successful authentication, an unknown user or endpoint, an ACL rejection, a
//! known scanner. Lines that say nothing of the kind return `None`; they are counted by the caller, never
//! guessed at. The crate does no I/O: tailing files and feeding the engine belong to the daemon and
//! `pbxguard replay`.
//!
//! # What counts and what does not
//!
//! - A challenge (FreeSWITCH's `SIP auth challenge`, Asterisk's `ChallengeSent`) is the normal SIP
//!   handshake, never a failure: fail2ban's FreeSWITCH filter counts them and bans remote workers.
//! - Only the address the PBX says the request came from counts. Addresses inside SIP URIs (`sip:100@IP`)
//!   are whatever the sender wrote, often the PBX's own address, and are never used as the peer.
//! - IPv4 and IPv6 peers are both recognised, with or without a port, with or without brackets.
//! - A success counts only with an address the PBX itself observed. FreeSWITCH logs a successful
//!   registration as a multi-line debug entry that names the source address only for clients it treats
//!   as NATed (see the FreeSWITCH notes on [`LineParser::parse`]); other FreeSWITCH successes report
//!   nothing rather than trust the address a phone wrote in its Contact.
//!
//! # Timestamps
//!
//! Lines carry their time in several styles: Asterisk's `[Nov 22 20:44:38]` and `[2026-11-22 20:44:38.123]`,
//! FreeSWITCH's `2026-11-22 20:44:38.123456`, syslog's `Nov 22 20:44:38 host prog[pid]:` and RFC 5424's
//! `2026-11-22T20:44:38.123456+01:00`. Times without a zone are read as UTC (PBXs log local time; a
//! constant offset changes no window), and times without a year take the parser's year.

mod asterisk;
mod freeswitch;
mod kamailio;
mod scan;
mod time;

use std::fmt;
use std::net::IpAddr;

pub use kamailio::{EXAMPLE_PATTERNS, Pattern, PatternError, PatternEvent};
pub use pbxguard_engine::{LogEvent, Timestamp};
pub use time::{days_from_civil, parse_prefix_time};

/// The PBX whose log a line comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Asterisk (and FreePBX): the `full`/`messages` log, the security log, or syslog.
    Asterisk,
    /// FreeSWITCH's `freeswitch.log` or syslog.
    FreeSwitch,
    /// Kamailio (or OpenSIPS): lines matched by configured [`Pattern`]s.
    Kamailio,
}

impl Format {
    /// Every format with its configuration name.
    pub const ALL: [(&'static str, Format); 3] = [
        ("asterisk", Format::Asterisk),
        ("freeswitch", Format::FreeSwitch),
        ("kamailio", Format::Kamailio),
    ];

    /// The configuration name (`asterisk`, `freeswitch`, `kamailio`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Asterisk => "asterisk",
            Format::FreeSwitch => "freeswitch",
            Format::Kamailio => "kamailio",
        }
    }

    /// The format named `name`, case-insensitively.
    pub fn from_name(name: &str) -> Option<Format> {
        Self::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, f)| *f)
    }

    /// Guesses the format from one line, by the marks each PBX leaves on every line (Asterisk's
    /// `NOTICE[pid]`-style level tags and source files such as `chan_sip.c:`, FreeSWITCH's `[WARNING]` level
    /// and `sofia` sources, Kamailio's process name). `None` when the line carries no mark.
    pub fn detect(line: &[u8]) -> Option<Format> {
        scan::detect(line)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one log line says about one peer.
#[derive(Debug, Clone, Copy)]
pub struct Parsed<'a> {
    /// When the line says it happened, if it carries a timestamp the parser understands. For a success
    /// FreeSWITCH logs over several lines, the time on the entry's first line.
    pub time: Option<Timestamp>,
    /// The remote peer the line is about.
    pub peer: IpAddr,
    /// What happened; borrowed user names point into the line.
    pub event: LogEvent<'a>,
}

/// Parses lines of one format. Cheap to call: lines are first screened with one multi-pattern scan, and
/// only the few that carry a known phrase are looked at further.
///
/// A parser follows one file (or journal) line by line: it remembers where it stands inside FreeSWITCH's
/// multi-line registration entry (see [`LineParser::parse`]), so it is `Send` but not `Sync`, and a
/// clone carries that position with it.
#[derive(Debug, Clone)]
pub struct LineParser {
    format: Format,
    patterns: Vec<Pattern>,
    year: i32,
    asterisk: asterisk::Screen,
    freeswitch: freeswitch::Screen,
}

impl LineParser {
    /// A parser for `format`. `patterns` are used for [`Format::Kamailio`] (the other formats ignore
    /// them); `year` completes timestamps that have none (syslog's and old Asterisk's `Nov 22 20:44:38`).
    pub fn new(format: Format, patterns: Vec<Pattern>, year: i32) -> Self {
        Self {
            format,
            patterns,
            year,
            asterisk: asterisk::Screen::new(),
            freeswitch: freeswitch::Screen::new(),
        }
    }

    /// The format this parser reads.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Changes the year used for timestamps without one (at a year boundary, or for an old file).
    pub fn set_year(&mut self, year: i32) {
        self.year = year;
    }

    /// What `line` (without its line ending) says about a peer, or `None` when it says nothing the engine
    /// uses. Never panics, whatever the bytes.
    ///
    /// Give the lines of one file in order, one parser per file: FreeSWITCH writes a successful
    /// registration as one entry over four lines (`sofia_reg.c:LINE Register:`, `From:    [USER@HOST]`,
    /// `Contact: [CONTACT]`, `Expires: [SECONDS]`, written when the sofia profile's `debug` parameter is
    /// 1 or more), and the parser remembers where it is inside one. The success is reported on the
    /// `Contact:` line, with the address from the `fs_path` FreeSWITCH adds to a NATed client's Contact,
    /// and the user when the Contact's user is the `From:` user. The same entry on one line, as rsyslog
    /// (`#012`) or journald (a `MESSAGE` with newlines) passes it on, needs no memory.
    pub fn parse<'a>(&self, line: &'a [u8]) -> Option<Parsed<'a>> {
        let ((peer, event), time) = match self.format {
            Format::Asterisk => (self.asterisk.parse(line)?, None),
            Format::FreeSwitch => self.freeswitch.parse(line, self.year)?,
            Format::Kamailio => (self.patterns.iter().find_map(|p| p.apply(line))?, None),
        };
        Some(Parsed {
            time: time.or_else(|| time::parse_prefix_time(line, self.year)),
            peer,
            event,
        })
    }
}
