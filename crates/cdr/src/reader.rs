//! Reading CDR rows: one record per line, malformed rows reported with their line number.

use std::borrow::Cow;
use std::fmt;

use chrono::TimeZone;
use chrono_tz::Tz;
use pbxguard_numbers::Timestamp;
use serde::Serialize;

use crate::csv::{RawField, SplitError, split_line};
use crate::format::{Field, Format};

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Disposition {
    /// Answered.
    Answered,
    /// Not answered (including caller hang-up while ringing).
    NoAnswer,
    /// Busy.
    Busy,
    /// Failed, congestion, rejected, or anything else.
    Failed,
}

impl Disposition {
    /// Reads an Asterisk disposition or a FreeSWITCH hangup cause; `billsec > 0` means answered
    /// whatever the text (FreeSWITCH writes `NORMAL_CLEARING` for answered and unanswered calls).
    #[must_use]
    pub fn parse(text: &str, billsec: u32) -> Self {
        if billsec > 0 {
            return Self::Answered;
        }
        let t = text.trim();
        let is = |names: &[&str]| names.iter().any(|n| t.eq_ignore_ascii_case(n));
        if is(&["ANSWERED", "ANSWER"]) {
            Self::Answered
        } else if t.is_empty()
            || is(&[
                "NO ANSWER",
                "NO_ANSWER",
                "NOANSWER",
                "ORIGINATOR_CANCEL",
                "NO_USER_RESPONSE",
                "NORMAL_CLEARING",
            ])
        {
            Self::NoAnswer
        } else if is(&["BUSY", "USER_BUSY"]) {
            Self::Busy
        } else {
            Self::Failed
        }
    }
}

/// One call record. Text fields borrow from the input where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdrRecord<'a> {
    /// Line number in the input (1-based).
    pub line: u64,
    /// Account code.
    pub account_code: Cow<'a, str>,
    /// Caller.
    pub src: Cow<'a, str>,
    /// Dialled number.
    pub dst: Cow<'a, str>,
    /// Dial-plan context.
    pub context: Cow<'a, str>,
    /// Calling channel.
    pub channel: Cow<'a, str>,
    /// Called channel.
    pub dst_channel: Cow<'a, str>,
    /// Call start.
    pub start: Timestamp,
    /// Answer time.
    pub answer: Option<Timestamp>,
    /// End time.
    pub end: Option<Timestamp>,
    /// Seconds from start to end.
    pub duration: u32,
    /// Seconds from answer to end.
    pub billsec: u32,
    /// How the call ended.
    pub disposition: Disposition,
    /// Unique id.
    pub unique_id: Cow<'a, str>,
}

impl CdrRecord<'_> {
    /// The trunk (or peer) name from the called channel: `SIP/carrier-00000a1` → `carrier`,
    /// `PJSIP/carrier/sip:...` → `carrier`, `sofia/gateway/carrier/...` → `carrier`.
    #[must_use]
    pub fn trunk(&self) -> Option<&str> {
        channel_peer(&self.dst_channel)
    }

    /// The calling peer from the calling channel (`SIP/100-0000001` → `100`).
    #[must_use]
    pub fn caller_peer(&self) -> Option<&str> {
        channel_peer(&self.channel)
    }
}

fn channel_peer(channel: &str) -> Option<&str> {
    let mut parts = channel.split('/');
    let tech = parts.next()?;
    let mut peer = parts.next()?;
    if tech.eq_ignore_ascii_case("sofia") {
        // sofia/gateway/NAME/number or sofia/internal/user@host
        peer = if peer == "gateway" {
            parts.next()?
        } else {
            parts.next()?.split('@').next()?
        };
    }
    let peer = match peer.rfind('-') {
        Some(i)
            if peer
                .get(i + 1..)
                .is_some_and(|s| s.bytes().all(|b| b.is_ascii_hexdigit())) =>
        {
            peer.get(..i)?
        }
        _ => peer,
    };
    (!peer.is_empty()).then_some(peer)
}

/// What is wrong with a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RowErrorKind {
    /// The line is not UTF-8.
    NotUtf8,
    /// A quoted field is not closed.
    UnterminatedQuote,
    /// Text follows a closing quote.
    TextAfterQuote,
    /// The number of columns fits no layout of the format.
    ColumnCountWrong {
        /// Columns found.
        found: usize,
        /// What the format accepts.
        expected: &'static str,
    },
    /// A time field is not `YYYY-MM-DD HH:MM:SS` or Unix seconds.
    TimeInvalid {
        /// The field.
        field: &'static str,
        /// Its text.
        text: String,
    },
    /// A number field is not a non-negative integer.
    NumberInvalid {
        /// The field.
        field: &'static str,
        /// Its text.
        text: String,
    },
    /// The generic format's header lacks a mapped column.
    HeaderColumnMissing {
        /// The column name.
        column: String,
    },
}

/// A malformed row, skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Line number (1-based).
    pub line: u64,
    /// What is wrong.
    #[serde(flatten)]
    pub kind: RowErrorKind,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match &self.kind {
            RowErrorKind::NotUtf8 => f.write_str("not UTF-8"),
            RowErrorKind::UnterminatedQuote => f.write_str("quoted field not closed"),
            RowErrorKind::TextAfterQuote => f.write_str("text after a closing quote"),
            RowErrorKind::ColumnCountWrong { found, expected } => {
                write!(f, "{found} columns, expected {expected}")
            }
            RowErrorKind::TimeInvalid { field, text } => write!(f, "{field} time {text:?} invalid"),
            RowErrorKind::NumberInvalid { field, text } => {
                write!(f, "{field} {text:?} is not a number")
            }
            RowErrorKind::HeaderColumnMissing { column } => {
                write!(f, "header has no column {column:?}")
            }
        }
    }
}

impl std::error::Error for RowError {}

/// Converts local wall-clock times of the CDR file to UTC, caching the offset per local hour.
#[derive(Debug, Clone)]
struct LocalTime {
    tz: Tz,
    /// Direct-mapped by local hour: (hour, offset seconds). Start, answer and end of a row, and
    /// rows written out of start order, fall into a few hours that stay cached.
    cache: [(i64, i64); 64],
}

impl LocalTime {
    fn new(tz: Tz) -> Self {
        Self {
            tz,
            cache: [(i64::MIN, 0); 64],
        }
    }

    /// `local` is seconds since the epoch as if the local time were UTC.
    fn utc_secs(&mut self, local: i64) -> i64 {
        if self.tz == chrono_tz::UTC {
            return local;
        }
        let hour = local.div_euclid(3600);
        let slot = usize::try_from(hour.rem_euclid(64)).unwrap_or(0);
        if let Some(&(h, offset)) = self.cache.get(slot)
            && h == hour
        {
            return local - offset;
        }
        let naive = chrono::DateTime::from_timestamp(hour * 3600, 0).map(|d| d.naive_utc());
        let offset = naive
            .and_then(|n| self.tz.from_local_datetime(&n).earliest())
            .map_or(0, |d| d.naive_local().and_utc().timestamp() - d.timestamp());
        if let Some(entry) = self.cache.get_mut(slot) {
            *entry = (hour, offset);
        }
        local - offset
    }
}

fn two(b: &[u8], i: usize) -> Option<u32> {
    let hi = b.get(i)?.checked_sub(b'0').filter(|d| *d < 10)?;
    let lo = b.get(i + 1)?.checked_sub(b'0').filter(|d| *d < 10)?;
    Some(u32::from(hi) * 10 + u32::from(lo))
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian), or `None` when the
/// date does not exist.
fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    const DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let max = match month {
        2 if !leap => 28,
        1..=12 => *DAYS.get(usize::try_from(month - 1).ok()?)?,
        _ => return None,
    };
    if day == 0 || day > max {
        return None;
    }
    // H. Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Parses `YYYY-MM-DD HH:MM:SS` (optionally `T` and fractional seconds) as naive seconds, or
/// Unix seconds (optionally fractional) as UTC. Returns (seconds, is_local).
fn parse_time(text: &str) -> Option<(i64, bool)> {
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() >= 19 && b.get(4) == Some(&b'-') {
        let year = i64::from(two(b, 0)? * 100 + two(b, 2)?);
        let days = days_from_civil(year, two(b, 5)?, two(b, 8)?)?;
        let (h, m, s) = (two(b, 11)?, two(b, 14)?, two(b, 17)?);
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        return Some((days * 86_400 + i64::from(h * 3600 + m * 60 + s), true));
    }
    let whole = t.split('.').next()?;
    if whole.is_empty() || !whole.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    whole.parse::<i64>().ok().map(|s| (s, false))
}

fn parse_u32(text: &str) -> Option<u32> {
    let t = text.trim();
    if t.is_empty() {
        return Some(0);
    }
    let whole = t.split('.').next()?;
    whole.parse().ok()
}

/// Iterates over the records of one CDR file held in memory.
#[derive(Debug)]
pub struct CdrReader<'a> {
    data: &'a [u8],
    pos: usize,
    line: u64,
    format: Format,
    time: LocalTime,
    fields: Vec<RawField<'a>>,
    generic: Option<Vec<Field>>,
}

impl<'a> CdrReader<'a> {
    /// A reader of `data` in `format`, with local times of the file in `tz`.
    #[must_use]
    pub fn new(data: &'a [u8], format: Format, tz: Tz) -> Self {
        Self {
            data,
            pos: 0,
            line: 0,
            format,
            time: LocalTime::new(tz),
            fields: Vec::new(),
            generic: None,
        }
    }

    /// Bytes consumed so far (for progress reports).
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }

    fn next_line(&mut self) -> Option<&'a [u8]> {
        let rest = self.data.get(self.pos..).filter(|r| !r.is_empty())?;
        self.line += 1;
        let (line, used) = match memchr::memchr(b'\n', rest) {
            Some(i) => (rest.get(..i)?, i + 1),
            None => (rest, rest.len()),
        };
        self.pos += used;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }

    fn read_header(&mut self, text: &'a str, map: &[(Field, String)]) -> Result<(), RowError> {
        split_line(text, &mut self.fields).map_err(|e| self.split_error(e))?;
        let mut layout = vec![Field::Other; self.fields.len()];
        for (field, column) in map {
            let index = match column.parse::<usize>() {
                Ok(n) if n >= 1 => Some(n - 1),
                _ => self
                    .fields
                    .iter()
                    .position(|h| h.text().trim().eq_ignore_ascii_case(column)),
            };
            match index.and_then(|i| layout.get_mut(i)) {
                Some(slot) => *slot = *field,
                None => {
                    return Err(RowError {
                        line: self.line,
                        kind: RowErrorKind::HeaderColumnMissing {
                            column: column.clone(),
                        },
                    });
                }
            }
        }
        self.generic = Some(layout);
        Ok(())
    }

    fn split_error(&self, e: SplitError) -> RowError {
        let kind = match e {
            SplitError::UnterminatedQuote => RowErrorKind::UnterminatedQuote,
            SplitError::TextAfterQuote => RowErrorKind::TextAfterQuote,
        };
        RowError {
            line: self.line,
            kind,
        }
    }

    fn record(&mut self, text: &'a str) -> Result<CdrRecord<'a>, RowError> {
        let line = self.line;
        split_line(text, &mut self.fields).map_err(|e| self.split_error(e))?;
        let n = self.fields.len();
        let layout: &[Field] = match &self.generic {
            Some(l) if l.len() == n => l,
            Some(_) => {
                return Err(RowError {
                    line,
                    kind: RowErrorKind::ColumnCountWrong {
                        found: n,
                        expected: "as many as the header",
                    },
                });
            }
            None => self.format.layout(n).map_err(|expected| RowError {
                line,
                kind: RowErrorKind::ColumnCountWrong { found: n, expected },
            })?,
        };
        let mut rec = CdrRecord {
            line,
            account_code: Cow::Borrowed(""),
            src: Cow::Borrowed(""),
            dst: Cow::Borrowed(""),
            context: Cow::Borrowed(""),
            channel: Cow::Borrowed(""),
            dst_channel: Cow::Borrowed(""),
            start: Timestamp::default(),
            answer: None,
            end: None,
            duration: 0,
            billsec: 0,
            disposition: Disposition::NoAnswer,
            unique_id: Cow::Borrowed(""),
        };
        let mut start = None;
        let mut duration = None;
        let mut disposition: &str = "";
        let mut time = |field: &'static str,
                        text: &str,
                        required: bool|
         -> Result<Option<Timestamp>, RowError> {
            if text.trim().is_empty() && !required {
                return Ok(None);
            }
            match parse_time(text) {
                Some((secs, true)) => Ok(Some(Timestamp::from_unix_secs(self.time.utc_secs(secs)))),
                Some((secs, false)) => Ok(Some(Timestamp::from_unix_secs(secs))),
                None => Err(RowError {
                    line,
                    kind: RowErrorKind::TimeInvalid {
                        field,
                        text: text.to_owned(),
                    },
                }),
            }
        };
        for (field, raw) in layout.iter().zip(self.fields.drain(..)) {
            if *field == Field::Other {
                continue;
            }
            let value = raw.text();
            match field {
                Field::AccountCode => rec.account_code = value,
                Field::Src => rec.src = value,
                Field::Dst => rec.dst = value,
                Field::Context => rec.context = value,
                Field::Channel => rec.channel = value,
                Field::DstChannel => rec.dst_channel = value,
                Field::UniqueId => rec.unique_id = value,
                Field::Start => start = time("start", &value, true)?,
                Field::Answer => rec.answer = time("answer", &value, false)?,
                Field::End => rec.end = time("end", &value, false)?,
                Field::Duration | Field::BillSec => {
                    let name = if *field == Field::Duration {
                        "duration"
                    } else {
                        "billsec"
                    };
                    let v = parse_u32(&value).ok_or_else(|| RowError {
                        line,
                        kind: RowErrorKind::NumberInvalid {
                            field: name,
                            text: value.to_string(),
                        },
                    })?;
                    if *field == Field::Duration {
                        duration = Some(v)
                    } else {
                        rec.billsec = v
                    }
                }
                Field::Disposition => disposition = raw.raw(),
                Field::Other => {}
            }
        }
        rec.start = start.ok_or(RowError {
            line,
            kind: RowErrorKind::TimeInvalid {
                field: "start",
                text: String::new(),
            },
        })?;
        rec.duration = duration.unwrap_or_else(|| {
            rec.end.map_or(rec.billsec, |e| {
                u32::try_from(e.unix_secs() - rec.start.unix_secs()).unwrap_or(0)
            })
        });
        rec.disposition = Disposition::parse(disposition, rec.billsec);
        Ok(rec)
    }
}

impl<'a> Iterator for CdrReader<'a> {
    type Item = Result<CdrRecord<'a>, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let raw = self.next_line()?;
            let Ok(text) = std::str::from_utf8(raw) else {
                return Some(Err(RowError {
                    line: self.line,
                    kind: RowErrorKind::NotUtf8,
                }));
            };
            if text.is_empty() || (text.starts_with(char::is_whitespace) && text.trim().is_empty())
            {
                continue;
            }
            if let Format::Generic(map) = &self.format
                && self.generic.is_none()
            {
                let map = map.clone();
                match self.read_header(text, &map) {
                    Ok(()) => continue,
                    Err(e) => {
                        // Without a usable header no row can be read: report once, stop.
                        self.pos = self.data.len();
                        return Some(Err(e));
                    }
                }
            }
            return Some(self.record(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunk_names_from_channels() {
        for (chan, peer) in [
            ("SIP/carrier-0000000a", Some("carrier")),
            ("PJSIP/my-trunk-00000b1f", Some("my-trunk")),
            ("IAX2/voipms-1234", Some("voipms")),
            ("sofia/gateway/carrier1/0044123", Some("carrier1")),
            ("sofia/internal/1000@10.0.0.1", Some("1000")),
            ("", None),
        ] {
            assert_eq!(channel_peer(chan), peer, "{chan}");
        }
    }

    #[test]
    fn times_local_and_epoch() {
        assert_eq!(parse_time("1970-01-02 00:00:01"), Some((86_401, true)));
        assert_eq!(
            parse_time("2024-02-29 23:59:59.123"),
            Some((1_709_251_199, true))
        );
        assert_eq!(parse_time("1700000000.25"), Some((1_700_000_000, false)));
        assert_eq!(parse_time("2024-02-30 00:00:00"), None);
        assert_eq!(parse_time("2023-02-29 00:00:00"), None);
        assert_eq!(parse_time("2000-02-29 00:00:00"), Some((951_782_400, true)));
        assert_eq!(parse_time("1969-12-31 23:59:59"), Some((-1, true)));
        assert_eq!(parse_time("yesterday"), None);
        let mut london = LocalTime::new(chrono_tz::Europe::London);
        // 2024-07-01 12:00 BST is 11:00 UTC.
        let (local, _) = parse_time("2024-07-01 12:00:00").unwrap();
        assert_eq!(london.utc_secs(local), 1_719_831_600);
    }
}
