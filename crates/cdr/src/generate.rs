//! Synthetic CDRs for tests and benchmarks: a month of ordinary office traffic at a UK site, with
//! fraud patterns injected on request. Deterministic for a given seed.
//!
//! The site: country GB, outside line `9`, extensions 200.., one trunk `carrier`, Asterisk
//! Master.csv with `loguniqueid` and `loguserfield` (18 columns), local times in Europe/London.

use std::fmt::Write as _;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};
use chrono_tz::Europe::London;
use pbxguard_numbers::policy::Rule;
use pbxguard_numbers::{Country, DialPlan};

use crate::analysis::{AuditConfig, AuditRule};

/// SplitMix64: small, fast, good enough for synthetic traffic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        let span = u64::from(hi.saturating_sub(lo)) + 1;
        lo + u32::try_from(self.next_u64() % span).unwrap_or(0)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.range(0, 99) < percent
    }
}

/// A fraud pattern the generator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// A call to a UK premium-rate number.
    PremiumRate,
    /// A call to an Iridium satellite number.
    Satellite,
    /// A compromised extension calling high-risk destinations at night (IRSF).
    NightIrsf,
    /// A day with many times the usual international calls, in office hours.
    IntlSpike,
    /// One extension making many calls of a few seconds (route testing).
    ShortCalls,
    /// A one-ring call from abroad, called back.
    Wangiri,
    /// One number called again and again from several extensions.
    SameNumber,
    /// One extension calling dozens of different numbers in an hour.
    DistinctNumbers,
}

impl Pattern {
    /// All patterns.
    pub const ALL: [Self; 8] = [
        Self::PremiumRate,
        Self::Satellite,
        Self::NightIrsf,
        Self::IntlSpike,
        Self::ShortCalls,
        Self::Wangiri,
        Self::SameNumber,
        Self::DistinctNumbers,
    ];

    /// The audit rule expected to catch it.
    #[must_use]
    pub const fn expected_rule(self) -> AuditRule {
        match self {
            Self::PremiumRate | Self::Satellite => AuditRule::Policy(Rule::NumberType),
            Self::NightIrsf => AuditRule::AfterHoursBurst,
            Self::IntlSpike => AuditRule::IntlSpike,
            Self::ShortCalls => AuditRule::ShortCalls,
            Self::Wangiri => AuditRule::WangiriCallback,
            Self::SameNumber => AuditRule::Policy(Rule::SameNumber),
            Self::DistinctNumbers => AuditRule::Policy(Rule::DistinctPerHour),
        }
    }

    /// Day of the month (0-based) it is injected on.
    const fn day(self) -> i64 {
        match self {
            Self::PremiumRate => 9,
            Self::Satellite => 11,
            Self::NightIrsf => 14,
            Self::IntlSpike => 20,
            Self::ShortCalls => 21,
            Self::Wangiri => 23,
            Self::SameNumber => 27,
            Self::DistinctNumbers => 28,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// RNG seed.
    pub seed: u64,
    /// First day.
    pub start: NaiveDate,
    /// Number of days.
    pub days: u32,
    /// Number of extensions (200, 201, ...).
    pub extensions: u32,
    /// Outbound calls per extension per weekday (on average).
    pub calls_per_day: u32,
    /// Patterns to inject (need `days >= 30`).
    pub inject: Vec<Pattern>,
}

impl Default for GeneratorConfig {
    /// April 2026 (no clock change), 20 extensions, 6 calls each a weekday, nothing injected.
    fn default() -> Self {
        Self {
            seed: 1,
            start: NaiveDate::from_ymd_opt(2026, 4, 1).unwrap_or_default(),
            days: 30,
            extensions: 20,
            calls_per_day: 6,
            inject: Vec::new(),
        }
    }
}

/// A generated CDR file.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Master.csv content.
    pub csv: String,
    /// Lines (1-based) of each injected pattern's records.
    pub injected: Vec<(Pattern, Vec<u64>)>,
}

/// The audit configuration of the generated site.
#[must_use]
pub fn site_audit_config() -> AuditConfig {
    let plan = DialPlan::new(Country::from_upper(*b"GB"))
        .with_outside_line("9")
        .with_extension_lengths(3, 4);
    AuditConfig::new(plan, London)
}

#[derive(Debug)]
struct Row {
    src: String,
    dst: String,
    channel: String,
    dst_channel: String,
    start: NaiveDateTime,
    ring: u32,
    billsec: u32,
    tag: Option<Pattern>,
}

fn national_fixed(k: u32) -> String {
    format!("0121234{:04}", k % 10_000)
}
fn national_mobile(k: u32) -> String {
    format!("07400{:06}", 100_000 + k % 900_000)
}
/// International numbers of ordinary destinations, dialled with 00.
fn international(k: u32) -> String {
    match k % 3 {
        0 => format!("0033123456{:03}", k % 1000),
        1 => format!("00493012345{:02}", k % 100),
        _ => format!("001201555{:04}", 100 + k % 100),
    }
}

/// Generates the CDRs described by `config`.
#[must_use]
pub fn generate(config: &GeneratorConfig) -> Generated {
    let mut rng = Rng::new(config.seed);
    let mut rows: Vec<Row> = Vec::new();
    let exts: Vec<String> = (0..config.extensions.max(1))
        .map(|i| (200 + i).to_string())
        .collect();
    let ext = |rng: &mut Rng| {
        exts.get(rng.range(0, config.extensions.max(1) - 1) as usize)
            .cloned()
            .unwrap_or_default()
    };
    for d in 0..i64::from(config.days) {
        let day = config.start + Duration::days(d);
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        let outbound = if weekend {
            config.extensions / 4
        } else {
            config.extensions * config.calls_per_day
        };
        for _ in 0..outbound {
            let e = ext(&mut rng);
            // Office hours 08:30-17:30 on weekdays, 10:00-16:00 at weekends.
            let (from, to) = if weekend { (600, 960) } else { (510, 1050) };
            let minute = rng.range(from, to);
            let start = at(day, minute, rng.range(0, 59));
            let contact = rng.range(0, 399);
            let dst = if rng.chance(3) {
                international(contact)
            } else if rng.chance(50) {
                national_fixed(contact)
            } else {
                national_mobile(contact)
            };
            let (ring, billsec) = outcome(&mut rng);
            rows.push(outbound_row(
                &e,
                &format!("9{dst}"),
                start,
                ring,
                billsec,
                None,
                &mut rng,
            ));
        }
        // Inbound calls to extensions.
        let inbound = if weekend { 2 } else { config.extensions * 3 };
        for _ in 0..inbound {
            let e = ext(&mut rng);
            let start = at(day, rng.range(480, 1080), rng.range(0, 59));
            let caller = if rng.chance(5) {
                format!("+33123456{:03}", rng.range(0, 999))
            } else {
                format!("+447400{:06}", rng.range(100_000, 999_999))
            };
            let billsec = rng.range(20, 400);
            rows.push(Row {
                src: caller,
                dst: e.clone(),
                channel: format!("SIP/carrier-{:08x}", rng.next_u64() as u32),
                dst_channel: format!("SIP/{e}-{:08x}", rng.next_u64() as u32),
                start,
                ring: rng.range(3, 15),
                billsec,
                tag: None,
            });
        }
        // Now and then someone works late.
        if !weekend && rng.chance(40) {
            let e = ext(&mut rng);
            let start = at(day, rng.range(1110, 1290), rng.range(0, 59));
            let dst = national_mobile(rng.range(0, 399));
            rows.push(outbound_row(
                &e,
                &format!("9{dst}"),
                start,
                8,
                rng.range(30, 300),
                None,
                &mut rng,
            ));
        }
    }
    for &p in &config.inject {
        inject(
            p,
            config.start + Duration::days(p.day()),
            &exts,
            &mut rng,
            &mut rows,
        );
    }
    // Asterisk writes a record when the call ends.
    rows.sort_by_key(|r| r.start + Duration::seconds(i64::from(r.ring + r.billsec)));
    let mut csv = String::with_capacity(rows.len() * 200);
    let mut injected: Vec<(Pattern, Vec<u64>)> =
        config.inject.iter().map(|p| (*p, Vec::new())).collect();
    for (i, r) in rows.iter().enumerate() {
        let line = i as u64 + 1;
        write_row(&mut csv, r, line);
        if let Some(tag) = r.tag
            && let Some((_, lines)) = injected.iter_mut().find(|(p, _)| *p == tag)
        {
            lines.push(line);
        }
    }
    Generated { csv, injected }
}

fn at(day: NaiveDate, minute: u32, second: u32) -> NaiveDateTime {
    day.and_hms_opt(minute / 60, minute % 60, second)
        .unwrap_or_default()
}

/// (ring seconds, billed seconds) of an ordinary call: mostly answered.
fn outcome(rng: &mut Rng) -> (u32, u32) {
    let r = rng.range(0, 99);
    if r < 80 {
        (rng.range(3, 20), rng.range(20, 600))
    } else if r < 95 {
        (rng.range(20, 40), 0)
    } else {
        (rng.range(8, 15), 0)
    }
}

fn outbound_row(
    ext: &str,
    dst: &str,
    start: NaiveDateTime,
    ring: u32,
    billsec: u32,
    tag: Option<Pattern>,
    rng: &mut Rng,
) -> Row {
    Row {
        src: ext.to_owned(),
        dst: dst.to_owned(),
        channel: format!("SIP/{ext}-{:08x}", rng.next_u64() as u32),
        dst_channel: format!("SIP/carrier-{:08x}", rng.next_u64() as u32),
        start,
        ring,
        billsec,
        tag,
    }
}

fn inject(p: Pattern, day: NaiveDate, exts: &[String], rng: &mut Rng, rows: &mut Vec<Row>) {
    let ext = |i: usize| exts.get(i % exts.len().max(1)).cloned().unwrap_or_default();
    let push = |rows: &mut Vec<Row>, e: &str, dst: String, start, ring, billsec, rng: &mut Rng| {
        rows.push(outbound_row(e, &dst, start, ring, billsec, Some(p), rng));
    };
    match p {
        Pattern::PremiumRate => push(
            rows,
            &ext(5),
            "909012345678".into(),
            at(day, 660, 5),
            4,
            900,
            rng,
        ),
        Pattern::Satellite => push(
            rows,
            &ext(7),
            "900881631234567".into(),
            at(day, 840, 10),
            6,
            1200,
            rng,
        ),
        Pattern::NightIrsf => {
            let targets = [
                "00535123456",
                "00232761234567",
                "0018765230123",
                "00881631234500",
            ];
            for i in 0..30u32 {
                let dst = format!(
                    "9{}",
                    targets
                        .get(i as usize % targets.len())
                        .copied()
                        .unwrap_or_default()
                );
                push(
                    rows,
                    &ext(11),
                    dst,
                    at(day, 120 + i * 80 / 60, (i * 80) % 60),
                    5,
                    rng.range(600, 1800),
                    rng,
                );
            }
        }
        Pattern::IntlSpike => {
            for i in 0..40u32 {
                let dst = format!("9{}", international(500 + i));
                push(
                    rows,
                    &ext(i as usize),
                    dst,
                    at(day, 540 + i * 13, 30),
                    8,
                    rng.range(60, 400),
                    rng,
                );
            }
        }
        Pattern::ShortCalls => {
            for i in 0..15u32 {
                let dst = format!("9{}", national_fixed(900 + i));
                push(
                    rows,
                    &ext(3),
                    dst,
                    at(day, 600 + i * 2, 0),
                    1,
                    rng.range(1, 3),
                    rng,
                );
            }
        }
        Pattern::Wangiri => {
            rows.push(Row {
                src: "+18765230123".into(),
                dst: ext(9),
                channel: "SIP/carrier-0000beef".into(),
                dst_channel: format!("SIP/{}-0000bef0", ext(9)),
                start: at(day, 545, 0),
                ring: 3,
                billsec: 0,
                tag: Some(p),
            });
            push(
                rows,
                &ext(9),
                "90018765230123".into(),
                at(day, 580, 0),
                5,
                420,
                rng,
            );
        }
        Pattern::SameNumber => {
            for i in 0..12u32 {
                push(
                    rows,
                    &ext(i as usize + 1),
                    "907400999999".into(),
                    at(day, 840 + i * 40 / 60, (i * 40) % 60),
                    5,
                    60,
                    rng,
                );
            }
        }
        Pattern::DistinctNumbers => {
            for i in 0..35u32 {
                let dst = format!("9{}", national_mobile(5000 + i * 7));
                push(
                    rows,
                    &ext(15),
                    dst,
                    at(day, 600 + i * 100 / 60, (i * 100) % 60),
                    5,
                    30,
                    rng,
                );
            }
        }
    }
}

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn write_row(out: &mut String, r: &Row, line: u64) {
    let answered = r.billsec > 0;
    let answer = if answered {
        stamp(r.start + Duration::seconds(i64::from(r.ring)))
    } else {
        String::new()
    };
    let end = r.start + Duration::seconds(i64::from(r.ring + r.billsec));
    let disposition = if answered {
        "ANSWERED"
    } else if r.ring < 16 {
        "BUSY"
    } else {
        "NO ANSWER"
    };
    let clid = format!("\"\"{}\"\" <{}>", r.src, r.src);
    let _ = writeln!(
        out,
        "\"\",\"{src}\",\"{dst}\",\"from-internal\",\"{clid}\",\"{chan}\",\"{dchan}\",\"Dial\",\"SIP/carrier/{dst},300\",\"{start}\",\"{answer}\",\"{end}\",{dur},{bill},\"{disposition}\",\"DOCUMENTATION\",\"1775000000.{line}\",\"\"",
        src = r.src,
        dst = r.dst,
        chan = r.channel,
        dchan = r.dst_channel,
        start = stamp(r.start),
        end = stamp(end),
        dur = r.ring + r.billsec,
        bill = r.billsec,
    );
}
