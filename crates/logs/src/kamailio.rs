//! Kamailio (and OpenSIPS) lines, matched by configured patterns.
//!
//! Kamailio logs what its routing script tells it to (`xlog`), so there is no fixed format: each site
//! writes its own messages. A [`Pattern`] describes one: literal text with `{user}`, `{ip}`, `{port}`,
//! `{ua}` and `{any}` placeholders, and the event it reports. The shipped examples match the lab's
//! script:
//!
//! ```text
//! auth_failed: auth failed for user {user} from {ip}:{port}
//! unknown_user: unknown user {user} from {ip}:{port}
//! ```
//!
//! Placeholders, not regular expressions: a pattern is found by substring search, so matching costs about
//! as much as one `memmem` per pattern and line, and a configuration cannot make it slow.

use std::fmt;
use std::net::IpAddr;

use crate::LogEvent;
use crate::scan::{address_run, find, ip};

/// The shipped example patterns (the lab Kamailio's `xlog` messages).
pub const EXAMPLE_PATTERNS: [&str; 2] = [
    "auth_failed: auth failed for user {user} from {ip}:{port}",
    "unknown_user: unknown user {user} from {ip}:{port}",
];

/// Longest pattern accepted, in bytes.
const MAX_PATTERN: usize = 512;
/// Most placeholders in one pattern.
const MAX_FIELDS: usize = 8;
/// Most occurrences of a pattern's first literal tried per line.
const MAX_STARTS: usize = 8;

/// What a matching line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternEvent {
    /// `auth_failed`: wrong credentials.
    AuthFailed,
    /// `unknown_user`: no such user.
    UnknownUser,
    /// `auth_succeeded`: a successful authentication.
    AuthSucceeded,
    /// `rejected`: rejected by policy or ACL.
    Rejected,
    /// `scanner`: a known attack tool (`{ua}` captures its User-Agent).
    Scanner,
}

impl PatternEvent {
    const ALL: [(&'static str, PatternEvent); 5] = [
        ("auth_failed", PatternEvent::AuthFailed),
        ("unknown_user", PatternEvent::UnknownUser),
        ("auth_succeeded", PatternEvent::AuthSucceeded),
        ("rejected", PatternEvent::Rejected),
        ("scanner", PatternEvent::Scanner),
    ];

    /// The name used in patterns.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, e)| *e == self)
            .map_or("", |(n, _)| n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    User,
    Ip,
    Port,
    Ua,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(Vec<u8>),
    Field(Field),
}

/// Why a pattern was refused. Each names the fact about the pattern text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternError {
    /// There is no `EVENT:` before the template.
    EventMissing,
    /// The event is not one of `auth_failed`, `unknown_user`, `auth_succeeded`, `rejected`, `scanner`.
    EventUnknown(String),
    /// A `{…}` placeholder is not one of `{user}`, `{ip}`, `{port}`, `{ua}`, `{any}`.
    PlaceholderUnknown(String),
    /// A `{` is never closed.
    BraceUnclosed,
    /// The template has no `{ip}`, or more than one.
    IpPlaceholderCount(usize),
    /// Two placeholders follow each other with no text between them, so where one ends is unknowable.
    PlaceholdersAdjacent,
    /// The template starts with a placeholder; it must start with literal text to be found.
    StartsWithPlaceholder,
    /// The pattern is longer than 512 bytes or has more than 8 placeholders.
    TooLong,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::EventMissing => f.write_str(
                "missing \"EVENT:\" before the template (e.g. \"auth_failed: auth failed for user {user} from {ip}\")",
            ),
            PatternError::EventUnknown(e) => write!(
                f,
                "unknown event {e:?} (expected auth_failed, unknown_user, auth_succeeded, rejected or scanner)"
            ),
            PatternError::PlaceholderUnknown(p) => write!(
                f,
                "unknown placeholder {{{p}}} (expected {{user}}, {{ip}}, {{port}}, {{ua}} or {{any}})"
            ),
            PatternError::BraceUnclosed => f.write_str("a '{' is never closed"),
            PatternError::IpPlaceholderCount(n) => {
                write!(f, "the template needs exactly one {{ip}}, it has {n}")
            }
            PatternError::PlaceholdersAdjacent => {
                f.write_str("two placeholders need literal text between them")
            }
            PatternError::StartsWithPlaceholder => {
                f.write_str("the template must start with literal text, not a placeholder")
            }
            PatternError::TooLong => {
                f.write_str("the pattern is longer than 512 bytes or has more than 8 placeholders")
            }
        }
    }
}

impl std::error::Error for PatternError {}

/// One configured Kamailio line pattern. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    event: PatternEvent,
    pieces: Vec<Piece>,
}

impl Pattern {
    /// Parses `EVENT: TEMPLATE`.
    ///
    /// # Errors
    ///
    /// [`PatternError`] naming what is wrong with the text.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text.len() > MAX_PATTERN {
            return Err(PatternError::TooLong);
        }
        let (event, template) = text.split_once(':').ok_or(PatternError::EventMissing)?;
        let event = event.trim();
        let event = PatternEvent::ALL
            .iter()
            .find(|(n, _)| *n == event)
            .map(|(_, e)| *e)
            .ok_or_else(|| PatternError::EventUnknown(event.to_owned()))?;
        let template = template.trim_start();
        let mut pieces = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let close = rest.find('}').ok_or(PatternError::BraceUnclosed)?;
                    let name = rest.get(1..close).unwrap_or_default();
                    let field = match name {
                        "user" => Field::User,
                        "ip" => Field::Ip,
                        "port" => Field::Port,
                        "ua" => Field::Ua,
                        "any" => Field::Any,
                        other => return Err(PatternError::PlaceholderUnknown(other.to_owned())),
                    };
                    if matches!(pieces.last(), Some(Piece::Field(_))) {
                        return Err(PatternError::PlaceholdersAdjacent);
                    }
                    pieces.push(Piece::Field(field));
                    rest = rest.get(close + 1..).unwrap_or_default();
                }
                Some(open) => {
                    pieces.push(Piece::Lit(
                        rest.get(..open).unwrap_or_default().as_bytes().to_vec(),
                    ));
                    rest = rest.get(open..).unwrap_or_default();
                }
                None => {
                    pieces.push(Piece::Lit(rest.as_bytes().to_vec()));
                    rest = "";
                }
            }
        }
        let ips = pieces
            .iter()
            .filter(|p| **p == Piece::Field(Field::Ip))
            .count();
        if ips != 1 {
            return Err(PatternError::IpPlaceholderCount(ips));
        }
        if pieces
            .iter()
            .filter(|p| matches!(p, Piece::Field(_)))
            .count()
            > MAX_FIELDS
        {
            return Err(PatternError::TooLong);
        }
        if !matches!(pieces.first(), Some(Piece::Lit(_))) {
            return Err(PatternError::StartsWithPlaceholder);
        }
        Ok(Pattern { event, pieces })
    }

    /// The event a matching line reports.
    pub fn event(&self) -> PatternEvent {
        self.event
    }

    /// Matches `line`: the peer and the event, or `None`.
    pub fn apply<'a>(&self, line: &'a [u8]) -> Option<(IpAddr, LogEvent<'a>)> {
        let Some(Piece::Lit(first)) = self.pieces.first() else {
            return None;
        };
        let tail = self.pieces.get(1..).unwrap_or_default();
        let mut from = 0;
        for _ in 0..MAX_STARTS {
            let at = from + find(line.get(from..)?, first)?;
            let after = line.get(at + first.len()..)?;
            if let Some(found) = self.match_at(after, tail) {
                return Some(found);
            }
            from = at + 1;
        }
        None
    }

    fn match_at<'a>(&self, mut rest: &'a [u8], pieces: &[Piece]) -> Option<(IpAddr, LogEvent<'a>)> {
        let mut peer = None;
        let mut user = None;
        let mut ua = None;
        let mut i = 0;
        while let Some(piece) = pieces.get(i) {
            match piece {
                Piece::Lit(l) => rest = rest.strip_prefix(l.as_slice())?,
                Piece::Field(field) => {
                    let next = match pieces.get(i + 1) {
                        Some(Piece::Lit(l)) => Some(l.as_slice()),
                        _ => None,
                    };
                    let value = capture(*field, rest, next)?;
                    match field {
                        Field::Ip => peer = Some(ip(value)?),
                        Field::Port => {
                            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                                return None;
                            }
                        }
                        Field::User => user = Some(value).filter(|v| !v.is_empty()),
                        Field::Ua => ua = Some(value).filter(|v| !v.is_empty()),
                        Field::Any => {}
                    }
                    rest = rest.get(value.len()..)?;
                }
            }
            i += 1;
        }
        let event = match self.event {
            PatternEvent::AuthFailed => LogEvent::AuthFailed { user },
            PatternEvent::UnknownUser => LogEvent::UnknownUser { user },
            PatternEvent::AuthSucceeded => LogEvent::AuthSucceeded { user },
            PatternEvent::Rejected => LogEvent::Rejected { user },
            PatternEvent::Scanner => LogEvent::Scanner { user_agent: ua },
        };
        Some((peer?, event))
    }
}

/// The bytes a placeholder takes from the start of `rest`, given the literal after it (`None` at the end).
fn capture<'a>(field: Field, rest: &'a [u8], next: Option<&[u8]>) -> Option<&'a [u8]> {
    if field == Field::Ip {
        // The longest prefix of the address-like run that is an address and is followed by `next`:
        // "203.0.113.5:5060" before ":{port}" gives 203.0.113.5, "2001:db8::1:5060" gives 2001:db8::1.
        let run = address_run(rest);
        return (1..=run.len()).rev().find_map(|k| {
            let candidate = run.get(..k)?;
            let after = rest.get(k..)?;
            let follows = next.is_none_or(|l| after.starts_with(l));
            (follows && ip(candidate).is_some()).then_some(candidate)
        });
    }
    match next {
        Some(l) => rest.get(..find(rest, l)?),
        None => {
            let end = rest
                .iter()
                .position(u8::is_ascii_whitespace)
                .unwrap_or(rest.len());
            rest.get(..end)
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.event.name())?;
        for p in &self.pieces {
            match p {
                Piece::Lit(l) => f.write_str(&String::from_utf8_lossy(l))?,
                Piece::Field(field) => f.write_str(match field {
                    Field::User => "{user}",
                    Field::Ip => "{ip}",
                    Field::Port => "{port}",
                    Field::Ua => "{ua}",
                    Field::Any => "{any}",
                })?,
            }
        }
        Ok(())
    }
}
