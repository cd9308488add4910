//! The timestamps PBX logs and syslog put at the start of a line.

use crate::Timestamp;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian), negative before it.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Howard Hinnant's algorithm: shift the year to start in March so February's length is last.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(n)?)?;
    s.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// `HH:MM:SS` at `at`, as seconds of the day.
fn clock(b: &[u8], at: usize) -> Option<u32> {
    let h = digits(b, at, 2)?;
    let m = digits(b, at + 3, 2)?;
    let s = digits(b, at + 6, 2)?;
    if b.get(at + 2) != Some(&b':') || b.get(at + 5) != Some(&b':') || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + s)
}

/// A `.fraction` at `at`: milliseconds and the bytes consumed.
fn fraction(b: &[u8], at: usize) -> (u32, usize) {
    if b.get(at) != Some(&b'.') && b.get(at) != Some(&b',') {
        return (0, 0);
    }
    let mut ms = 0u32;
    let mut n = 0usize;
    while let Some(c) = b.get(at + 1 + n).filter(|c| c.is_ascii_digit()) {
        if n < 3 {
            ms = ms * 10 + u32::from(c - b'0');
        }
        n += 1;
    }
    if n == 0 {
        return (0, 0);
    }
    for _ in n..3 {
        ms *= 10;
    }
    (ms, n + 1)
}

/// A zone suffix at `at` (`Z`, `+HH:MM`, `+HHMM`, `-HH`): its offset east of UTC in seconds.
fn zone(b: &[u8], at: usize) -> i64 {
    let sign = match b.get(at) {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return 0,
    };
    let Some(h) = digits(b, at + 1, 2) else {
        return 0;
    };
    let m = digits(b, at + 4, 2)
        .filter(|_| b.get(at + 3) == Some(&b':'))
        .or_else(|| digits(b, at + 3, 2))
        .unwrap_or(0);
    sign * (i64::from(h) * 3600 + i64::from(m) * 60)
}

fn to_timestamp(days: i64, secs: u32, ms: u32, offset: i64) -> Option<Timestamp> {
    let total = days
        .checked_mul(86_400)?
        .checked_add(i64::from(secs))?
        .checked_sub(offset)?;
    let ms_total = u64::try_from(total)
        .ok()?
        .checked_mul(1000)?
        .checked_add(u64::from(ms))?;
    Some(Timestamp::from_millis(ms_total))
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.frac][zone]` at `at`.
fn iso(b: &[u8], at: usize) -> Option<Timestamp> {
    let y = digits(b, at, 4)?;
    let mo = digits(b, at + 5, 2)?;
    let d = digits(b, at + 8, 2)?;
    if b.get(at + 4) != Some(&b'-') || b.get(at + 7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(at + 10), Some(b' ' | b'T'))
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
    {
        return None;
    }
    let secs = clock(b, at + 11)?;
    let (ms, used) = fraction(b, at + 19);
    let offset = zone(b, at + 19 + used);
    to_timestamp(days_from_civil(i64::from(y), mo, d), secs, ms, offset)
}

/// `Mon DD HH:MM:SS[.frac]` (day space-padded) at `at`.
fn legacy(b: &[u8], at: usize, year: i32) -> Option<Timestamp> {
    let mon = b.get(at..at + 3)?;
    let month = MONTHS.iter().position(|m| m.as_slice() == mon)?;
    if b.get(at + 3) != Some(&b' ') {
        return None;
    }
    let day = match b.get(at + 4) {
        Some(b' ') => digits(b, at + 5, 1)?,
        _ => digits(b, at + 4, 2)?,
    };
    if b.get(at + 6) != Some(&b' ') || !(1..=31).contains(&day) {
        return None;
    }
    let secs = clock(b, at + 7)?;
    let (ms, _) = fraction(b, at + 15);
    let month = u32::try_from(month).ok()? + 1;
    to_timestamp(days_from_civil(i64::from(year), month, day), secs, ms, 0)
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() >= 37
        && b.get(36) == Some(&b' ')
        && b.iter().take(36).enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// The timestamp at the start of `line`, in any of the styles the crate documentation lists, or `None`.
/// `year` completes timestamps that have none.
pub fn parse_prefix_time(line: &[u8], year: i32) -> Option<Timestamp> {
    let mut at = 0;
    // FreeSWITCH prefixes the call's UUID when the line belongs to a session.
    if is_uuid(line) {
        at = 37;
    }
    // Syslog's `<PRI>` and an optional RFC 5424 version.
    if line.get(at) == Some(&b'<') {
        let close = line.iter().skip(at).take(6).position(|&c| c == b'>')?;
        at += close + 1;
        if line.get(at) == Some(&b'1') && line.get(at + 1) == Some(&b' ') {
            at += 2;
        }
    }
    if line.get(at) == Some(&b'[') {
        at += 1;
    }
    match line.get(at) {
        Some(c) if c.is_ascii_digit() => iso(line, at),
        Some(_) => legacy(line, at, year),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(line: &str) -> Option<u64> {
        parse_prefix_time(line.as_bytes(), 2026).map(Timestamp::as_millis)
    }

    // 2026-11-22T20:44:38Z
    const T: u64 = 1_795_380_278_000;

    #[test]
    fn civil_dates_match_known_epochs() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            days_from_civil(2026, 11, 22) * 86_400 + 20 * 3600 + 44 * 60 + 38,
            1_795_380_278
        );
    }

    #[test]
    fn every_style_reads_the_same_instant() {
        for line in [
            "[Nov 22 20:44:38] NOTICE[1] chan_sip.c: x",
            "[2026-11-22 20:44:38] NOTICE[1] chan_sip.c: x",
            "Nov 22 20:44:38 pbx asterisk[1]: NOTICE[1] chan_sip.c: x",
            "2026-11-22T20:44:38Z pbx asterisk[1]: x",
            "2026-11-22T21:44:38+01:00 pbx asterisk[1]: x",
            "2026-11-22T19:44:38-0100 pbx asterisk[1]: x",
            "<13>1 2026-11-22T20:44:38Z pbx asterisk 1 - - x",
        ] {
            assert_eq!(ms(line), Some(T), "{line}");
        }
    }

    #[test]
    fn fractions_keep_milliseconds() {
        assert_eq!(ms("2026-11-22 20:44:38.123456 [WARNING] x"), Some(T + 123));
        assert_eq!(ms("[2026-11-22 20:44:38.5] x"), Some(T + 500));
        assert_eq!(
            ms("0b6a4b2e-9a0c-4c33-8f5e-0123456789ab 2026-11-22 20:44:38.007 [WARNING] x"),
            Some(T + 7)
        );
    }

    #[test]
    fn space_padded_days_parse() {
        assert_eq!(
            ms("Nov  2 00:00:00 pbx x"),
            Some(days_from_civil(2026, 11, 2) as u64 * 86_400_000)
        );
    }

    #[test]
    fn lines_without_a_time_have_none() {
        for line in [
            "",
            "[",
            "NOTICE: x",
            "2026-13-22 20:44:38 x",
            "Nov 22 25:00:00 x",
            "Foo 22 20:44:38",
            "[Nov 2",
        ] {
            assert_eq!(ms(line), None, "{line}");
        }
    }
}
