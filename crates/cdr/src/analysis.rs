//! The audit: the call policy replayed over the records in time order, plus rules that need
//! hindsight (bursts, spikes against the usual baseline, short-call floods, Wangiri callbacks).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::rc::Rc;

use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;
use pbxguard_numbers::dial::Dialled;
use pbxguard_numbers::policy::{
    CallAttempt, CallPolicy, HoursWindow, PolicyConfig, Route, RouteScope, Rule, Verdict,
};
use pbxguard_numbers::{Classification, Classifier, DialPlan, Timestamp};
use serde::{Serialize, Serializer};

use crate::reader::{CdrRecord, Disposition, RowError};

/// Audit settings.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The site's dial plan (how `dst` and `src` are read).
    pub plan: DialPlan,
    /// The call policy replayed over outbound calls.
    pub policy: PolicyConfig,
    /// Time zone of business hours and of the daily summary.
    pub tz: Tz,
    /// Business hours; outbound calls outside them count towards after-hours bursts.
    pub business_hours: Vec<HoursWindow>,
    /// External calls outside business hours within one hour that make a burst.
    pub after_hours_burst: u32,
    /// A call lasting at most this many seconds (start to end) is short.
    pub short_call_secs: u32,
    /// Short outbound calls from one extension within one hour that make a flood.
    pub short_calls_per_hour: u32,
    /// A day is a spike when its international calls exceed `baseline * spike_factor +
    /// spike_min_extra`.
    pub spike_factor: f64,
    /// See `spike_factor`.
    pub spike_min_extra: u32,
    /// Days with traffic before a day needed to judge it (and the most used for the baseline:
    /// twice this).
    pub baseline_days: usize,
    /// An unanswered inbound call from abroad lasting at most this long is a one-ring call.
    pub wangiri_ring_secs: u32,
    /// A call back to a one-ring number within this many seconds is a Wangiri callback.
    pub wangiri_window_secs: u32,
}

impl AuditConfig {
    /// Defaults for a site in `plan.country`: the default policy, business hours Monday to Friday
    /// 08:00-19:00, bursts of 5 after-hours calls an hour, floods of 10 calls of at most 6 s an
    /// hour, spikes above 3x the baseline plus 10, a week of baseline, one-ring calls up to 10 s
    /// and callbacks within a day.
    #[must_use]
    pub fn new(plan: DialPlan, tz: Tz) -> Self {
        Self {
            plan,
            policy: PolicyConfig::default(),
            tz,
            business_hours: vec![HoursWindow::new(HoursWindow::WEEKDAYS, (8, 0), (19, 0))],
            after_hours_burst: 5,
            short_call_secs: 6,
            short_calls_per_hour: 10,
            spike_factor: 3.0,
            spike_min_extra: 10,
            baseline_days: 7,
            wangiri_ring_secs: 10,
            wangiri_window_secs: 86_400,
        }
    }
}

/// The rule behind a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AuditRule {
    /// A call policy rule.
    Policy(Rule),
    /// Many external calls outside business hours.
    AfterHoursBurst,
    /// Far more international calls in a day than usual.
    IntlSpike,
    /// Many very short calls from one extension.
    ShortCalls,
    /// A call back to a number that rang once from abroad.
    WangiriCallback,
}

impl AuditRule {
    /// A stable kebab-case identifier.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Policy(r) => r.as_str(),
            Self::AfterHoursBurst => "after-hours-burst",
            Self::IntlSpike => "intl-spike",
            Self::ShortCalls => "short-calls",
            Self::WangiriCallback => "wangiri-callback",
        }
    }
}

impl fmt::Display for AuditRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AuditRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

fn ser_ts<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_string())
}

/// A suspicious call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Index of the input file (in the order given).
    pub file: usize,
    /// Line in that file.
    pub line: u64,
    /// Call start (UTC).
    #[serde(serialize_with = "ser_ts")]
    pub start: Timestamp,
    /// Calling extension, if known.
    pub extension: Option<String>,
    /// The number as dialled.
    pub dialled: String,
    /// The destination in E.164, if external.
    pub e164: Option<String>,
    /// The rule that fired.
    pub rule: AuditRule,
    /// What exactly.
    pub detail: String,
}

/// One day of traffic (in the audit's time zone).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DaySummary {
    /// The date, `YYYY-MM-DD`.
    pub date: String,
    /// All records.
    pub calls: u32,
    /// Calls to external numbers.
    pub outbound: u32,
    /// Of those, international.
    pub international: u32,
    /// Billed minutes of international calls.
    pub international_minutes: u32,
    /// Calls with at least one finding.
    pub suspicious: u32,
}

/// The audit's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Records read.
    pub records: u64,
    /// Findings, in call order.
    pub findings: Vec<Finding>,
    /// Per-day summary.
    pub days: Vec<DaySummary>,
    /// Malformed rows (file index, error), skipped.
    pub malformed: Vec<(usize, RowError)>,
}

impl Report {
    /// Distinct calls with at least one finding.
    #[must_use]
    pub fn suspicious_calls(&self) -> usize {
        self.findings
            .iter()
            .map(|f| (f.file, f.line))
            .collect::<BTreeSet<_>>()
            .len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Outbound,
    Inbound,
    Internal,
}

#[derive(Debug, Clone)]
struct Call {
    file: usize,
    line: u64,
    start: Timestamp,
    duration: u32,
    billsec: u32,
    disposition: Disposition,
    direction: Direction,
    extension: Option<Rc<str>>,
    trunk: Option<Rc<str>>,
    dialled: Rc<str>,
    dst: Rc<Classification>,
    /// The caller, read only for possible one-ring calls.
    src: Option<Rc<Classification>>,
}

/// Collects records, then audits them all at once ([`Auditor::finish`]).
#[derive(Debug)]
pub struct Auditor {
    config: AuditConfig,
    classifier: Classifier,
    cache: HashMap<String, Rc<Classification>>,
    names: HashMap<String, Rc<str>>,
    calls: Vec<Call>,
    malformed: Vec<(usize, RowError)>,
    business: Route,
}

impl Auditor {
    /// An auditor with `config` and the shipped destination risk table.
    #[must_use]
    pub fn new(config: AuditConfig) -> Self {
        Self::with_classifier(config, Classifier::default())
    }

    /// An auditor with its own classifier (risk table).
    #[must_use]
    pub fn with_classifier(config: AuditConfig, classifier: Classifier) -> Self {
        let business = Route {
            name: "business hours".to_owned(),
            scope: RouteScope::AllExternal,
            tz: config.tz,
            open: config.business_hours.clone(),
        };
        Self {
            business,
            config,
            classifier,
            cache: HashMap::new(),
            names: HashMap::new(),
            calls: Vec::new(),
            malformed: Vec::new(),
        }
    }

    fn classify(&mut self, text: &str) -> Rc<Classification> {
        if let Some(c) = self.cache.get(text) {
            return Rc::clone(c);
        }
        let c = Rc::new(self.classifier.classify(&self.config.plan, text));
        if self.cache.len() < 1_000_000 {
            self.cache.insert(text.to_owned(), Rc::clone(&c));
        }
        c
    }

    fn name(&mut self, text: &str) -> Rc<str> {
        if let Some(n) = self.names.get(text) {
            return Rc::clone(n);
        }
        let n: Rc<str> = Rc::from(text);
        if self.names.len() < 1_000_000 {
            self.names.insert(text.to_owned(), Rc::clone(&n));
        }
        n
    }

    /// Adds one record of input file number `file`.
    pub fn add(&mut self, file: usize, rec: &CdrRecord<'_>) {
        let dst = self.classify(&rec.dst);
        let src_internal = self.config.plan.is_extension(&rec.src);
        let direction = match &dst.dialled {
            Dialled::External { .. } | Dialled::Emergency { .. } | Dialled::ShortCode { .. } => {
                Direction::Outbound
            }
            _ if src_internal || rec.src.is_empty() => Direction::Internal,
            _ => Direction::Inbound,
        };
        // Reading a caller number costs a full parse; only one-ring candidates need it.
        let src = (direction == Direction::Inbound
            && rec.disposition != Disposition::Answered
            && rec.duration <= self.config.wangiri_ring_secs)
            .then(|| self.classify(&rec.src));
        let extension = if src_internal {
            Some(rec.src.to_string())
        } else {
            rec.caller_peer()
                .map(str::to_owned)
                .or_else(|| (!rec.account_code.is_empty()).then(|| rec.account_code.to_string()))
        };
        let extension = extension.map(|e| self.name(&e));
        let trunk = rec.trunk().map(str::to_owned).map(|t| self.name(&t));
        let dialled = self.name(&rec.dst);
        self.calls.push(Call {
            file,
            line: rec.line,
            start: rec.start,
            duration: rec.duration,
            billsec: rec.billsec,
            disposition: rec.disposition,
            direction,
            extension,
            trunk,
            dialled,
            dst,
            src,
        });
    }

    /// Records a malformed row of input file `file`.
    pub fn add_error(&mut self, file: usize, error: RowError) {
        self.malformed.push((file, error));
    }

    /// Runs every rule and builds the report.
    #[must_use]
    pub fn finish(mut self) -> Report {
        self.calls.sort_by_key(|c| (c.start, c.file, c.line));
        let mut found: BTreeMap<(usize, AuditRule), String> = BTreeMap::new();
        self.policy_pass(&mut found);
        self.after_hours(&mut found);
        self.short_calls(&mut found);
        self.intl_spikes(&mut found);
        self.wangiri(&mut found);
        self.report(found)
    }

    fn policy_pass(&self, found: &mut BTreeMap<(usize, AuditRule), String>) {
        let mut policy = CallPolicy::new(self.config.policy.clone());
        let mut ends: BinaryHeap<Reverse<(Timestamp, String)>> = BinaryHeap::new();
        for (i, call) in self.calls.iter().enumerate() {
            if call.direction != Direction::Outbound {
                continue;
            }
            while let Some(Reverse((t, _))) = ends.peek() {
                if *t > call.start {
                    break;
                }
                if let Some(Reverse((t, id))) = ends.pop() {
                    policy.handle_call_end(t, &id);
                }
            }
            let id = format!("{}:{}", call.file, call.line);
            let attempt = CallAttempt {
                call_id: &id,
                extension: call.extension.as_deref(),
                trunk: call.trunk.as_deref(),
                destination: &call.dst,
            };
            match policy.handle_attempt(call.start, &attempt) {
                Verdict::Deny(v) => {
                    found.insert((i, AuditRule::Policy(v.rule)), v.detail);
                }
                Verdict::Allow => {
                    ends.push(Reverse((
                        call.start.plus_millis(i64::from(call.duration) * 1000),
                        id,
                    )));
                }
                Verdict::AllowEmergency => {}
            }
        }
    }

    fn is_business(&self, t: Timestamp) -> bool {
        self.business.is_open(t)
    }

    fn external(call: &Call) -> bool {
        call.direction == Direction::Outbound && call.dst.destination.is_some()
    }

    /// Sliding one-hour windows over `calls` (indices in time order); flags every call of a
    /// window that reaches `limit`.
    fn bursts(
        &self,
        indices: &[usize],
        limit: u32,
        rule: AuditRule,
        what: &str,
        found: &mut BTreeMap<(usize, AuditRule), String>,
    ) {
        if limit == 0 {
            return;
        }
        let mut window: VecDeque<usize> = VecDeque::new();
        for &i in indices {
            let Some(call) = self.calls.get(i) else {
                continue;
            };
            while let Some(&first) = window.front() {
                let old = self.calls.get(first).map_or(call.start, |c| c.start);
                if call.start.millis_since(old) < 3_600_000 {
                    break;
                }
                window.pop_front();
            }
            window.push_back(i);
            if window.len() >= limit as usize {
                let detail = format!("{} {what} within an hour (limit {limit})", window.len());
                for &j in &window {
                    found.insert((j, rule), detail.clone());
                }
            }
        }
    }

    fn after_hours(&self, found: &mut BTreeMap<(usize, AuditRule), String>) {
        let idx: Vec<usize> = (0..self.calls.len())
            .filter(|&i| {
                self.calls
                    .get(i)
                    .is_some_and(|c| Self::external(c) && !self.is_business(c.start))
            })
            .collect();
        self.bursts(
            &idx,
            self.config.after_hours_burst,
            AuditRule::AfterHoursBurst,
            "external calls outside business hours",
            found,
        );
    }

    fn short_calls(&self, found: &mut BTreeMap<(usize, AuditRule), String>) {
        let mut by_ext: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, c) in self.calls.iter().enumerate() {
            if Self::external(c) && c.duration <= self.config.short_call_secs {
                by_ext
                    .entry(c.extension.as_deref().unwrap_or(""))
                    .or_default()
                    .push(i);
            }
        }
        for (ext, idx) in by_ext {
            let what = format!(
                "calls of at most {} s from {}",
                self.config.short_call_secs,
                if ext.is_empty() {
                    "an unknown caller"
                } else {
                    ext
                }
            );
            self.bursts(
                &idx,
                self.config.short_calls_per_hour,
                AuditRule::ShortCalls,
                &what,
                found,
            );
        }
    }

    fn day_of(&self, t: Timestamp) -> Option<NaiveDate> {
        t.to_utc()
            .map(|u| u.with_timezone(&self.config.tz).date_naive())
    }

    fn intl_spikes(&self, found: &mut BTreeMap<(usize, AuditRule), String>) {
        let mut per_day: BTreeMap<NaiveDate, Vec<usize>> = BTreeMap::new();
        let mut days: BTreeSet<NaiveDate> = BTreeSet::new();
        for (i, c) in self.calls.iter().enumerate() {
            let Some(day) = self.day_of(c.start) else {
                continue;
            };
            days.insert(day);
            if Self::external(c) && c.dst.is_international() {
                per_day.entry(day).or_default().push(i);
            }
        }
        // Baselines compare like with like: weekdays with weekdays, weekends with weekends.
        let weekend = |d: &NaiveDate| d.weekday().number_from_monday() >= 6;
        let days: Vec<NaiveDate> = days.into_iter().collect();
        for (pos, day) in days.iter().enumerate() {
            let history: Vec<&NaiveDate> = days
                .get(..pos)
                .unwrap_or_default()
                .iter()
                .rev()
                .filter(|d| weekend(d) == weekend(day))
                .take(self.config.baseline_days * 2)
                .collect();
            if history.len() < self.config.baseline_days {
                continue;
            }
            let total: usize = history
                .iter()
                .map(|d| per_day.get(d).map_or(0, Vec::len))
                .sum();
            #[allow(clippy::cast_precision_loss)]
            let baseline = total as f64 / history.len() as f64;
            let today = per_day.get(day).map_or(&[][..], Vec::as_slice);
            let threshold =
                baseline * self.config.spike_factor + f64::from(self.config.spike_min_extra);
            #[allow(clippy::cast_precision_loss)]
            if today.len() as f64 > threshold {
                let detail = format!(
                    "{} international calls on {day}, usual {baseline:.1} a day (threshold {threshold:.0})",
                    today.len()
                );
                for &i in today {
                    found.insert((i, AuditRule::IntlSpike), detail.clone());
                }
            }
        }
    }

    fn wangiri(&self, found: &mut BTreeMap<(usize, AuditRule), String>) {
        let mut rings: HashMap<&str, Timestamp> = HashMap::new();
        let window = i64::from(self.config.wangiri_window_secs) * 1000;
        for (i, c) in self.calls.iter().enumerate() {
            match c.direction {
                Direction::Inbound => {
                    let Some(src) = c.src.as_ref().and_then(|s| s.destination.as_ref()) else {
                        continue;
                    };
                    if src.international
                        && c.disposition != Disposition::Answered
                        && c.duration <= self.config.wangiri_ring_secs
                    {
                        rings.insert(src.number.as_str(), c.start);
                    }
                }
                Direction::Outbound => {
                    let Some(dst) = c.dst.destination.as_ref() else {
                        continue;
                    };
                    if let Some(rang) = rings.get(dst.number.as_str()) {
                        let gap = c.start.millis_since(*rang);
                        if (0..=window).contains(&gap) {
                            found.insert(
                                (i, AuditRule::WangiriCallback),
                                format!(
                                    "{} rang once from abroad {} min earlier",
                                    dst.number,
                                    gap / 60_000
                                ),
                            );
                        }
                    }
                }
                Direction::Internal => {}
            }
        }
    }

    fn report(self, found: BTreeMap<(usize, AuditRule), String>) -> Report {
        let mut days: BTreeMap<NaiveDate, DaySummary> = BTreeMap::new();
        for c in &self.calls {
            let Some(day) = self.day_of(c.start) else {
                continue;
            };
            let s = days.entry(day).or_insert_with(|| DaySummary {
                date: day.to_string(),
                ..DaySummary::default()
            });
            s.calls += 1;
            if Self::external(c) {
                s.outbound += 1;
                if c.dst.is_international() {
                    s.international += 1;
                    s.international_minutes += c.billsec.div_ceil(60);
                }
            }
        }
        let mut flagged: BTreeSet<usize> = BTreeSet::new();
        let mut findings = Vec::with_capacity(found.len());
        for ((i, rule), detail) in found {
            let Some(c) = self.calls.get(i) else { continue };
            if flagged.insert(i)
                && let Some(s) = self.day_of(c.start).and_then(|d| days.get_mut(&d))
            {
                s.suspicious += 1;
            }
            findings.push(Finding {
                file: c.file,
                line: c.line,
                start: c.start,
                extension: c.extension.as_deref().map(str::to_owned),
                dialled: c.dialled.to_string(),
                e164: c.dst.dialled.e164().map(|n| n.to_string()),
                rule,
                detail,
            });
        }
        findings.sort_by(|a, b| {
            (a.start, a.file, a.line, a.rule).cmp(&(b.start, b.file, b.line, b.rule))
        });
        Report {
            records: self.calls.len() as u64,
            findings,
            days: days.into_values().collect(),
            malformed: self.malformed,
        }
    }
}
