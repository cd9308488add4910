//! The call policy: may this extension place this call, now?
//!
//! Sans-IO: the caller passes the time with every call and feeds call events in
//! ([`CallPolicy::handle_attempt`], [`CallPolicy::handle_call_end`],
//! [`CallPolicy::handle_timeout`]); the policy keeps only counters. The same policy serves the
//! inline guard (an INVITE is answered 403 on [`Verdict::Deny`]) and CDR audits.
//!
//! The rules follow the seed guides (roles, allowed countries, denied prefixes, office hours on
//! outbound routes, per-trunk caps of 1-2 concurrent calls) and OpenSIPS' `fraud_detection` model
//! (calls per minute, distinct destinations, repeated numbers), with two changes: the windows roll
//! (no counter reset at the top of the interval for an attacker to time), and limits apply per
//! site as well as per extension (an attacker spreading calls over stolen accounts is still seen).
//!
//! Emergency calls are allowed before any rule is consulted, and are not counted.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;

use chrono::{Datelike, Timelike, Weekday};
use chrono_tz::Tz;
use ipnet::IpNet;

use crate::classify::{Classification, NumberType};
use crate::dial::{Dialled, Unrecognised};
use crate::{Country, RiskLevel, Timestamp};

/// What an extension may call. Ordered: each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Extensions, feature codes and emergency numbers only.
    InternalOnly,
    /// Also numbers in the site's country and national short codes.
    National,
    /// Also numbers abroad.
    International,
}

impl Role {
    /// The kebab-case name used in configuration.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InternalOnly => "internal-only",
            Self::National => "national",
            Self::International => "international",
        }
    }

    /// Parses [`Role::as_str`] names (also `internal`).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "internal-only" | "internal" => Some(Self::InternalOnly),
            "national" => Some(Self::National),
            "international" => Some(Self::International),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A time window on given weekdays, in the route's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoursWindow {
    /// Weekdays, bit 0 = Monday ... bit 6 = Sunday.
    pub days: u8,
    /// Start, minutes after local midnight (inclusive).
    pub start_minute: u16,
    /// End, minutes after local midnight (exclusive). `end <= start` wraps past midnight (the part
    /// after midnight belongs to the day the window started).
    pub end_minute: u16,
}

impl HoursWindow {
    /// Monday to Friday.
    pub const WEEKDAYS: u8 = 0b001_1111;
    /// Every day.
    pub const EVERY_DAY: u8 = 0b111_1111;

    /// A window from `start` to `end` (`(hour, minute)`) on `days`.
    #[must_use]
    pub fn new(days: u8, start: (u16, u16), end: (u16, u16)) -> Self {
        Self {
            days,
            start_minute: start.0 * 60 + start.1,
            end_minute: end.0 * 60 + end.1,
        }
    }

    fn day_bit(day: Weekday) -> u8 {
        1 << day.num_days_from_monday()
    }

    fn contains(&self, day: Weekday, minute: u16) -> bool {
        if self.start_minute < self.end_minute {
            self.days & Self::day_bit(day) != 0
                && (self.start_minute..self.end_minute).contains(&minute)
        } else {
            (self.days & Self::day_bit(day) != 0 && minute >= self.start_minute)
                || (self.days & Self::day_bit(day.pred()) != 0 && minute < self.end_minute)
        }
    }
}

/// Which calls a route carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteScope {
    /// Every external call.
    AllExternal,
    /// Calls within the site's country.
    National,
    /// Calls abroad.
    International,
    /// Calls whose E.164 number starts with these digits (no `+`).
    Prefix(String),
}

impl RouteScope {
    fn matches(&self, c: &Classification) -> bool {
        let Some(dest) = &c.destination else {
            return false;
        };
        match self {
            Self::AllExternal => true,
            Self::National => !dest.international,
            Self::International => dest.international,
            Self::Prefix(p) => dest.number.digits().starts_with(p.as_str()),
        }
    }
}

/// An outbound route with office hours: calls in its scope are refused outside the hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Name used in verdicts.
    pub name: String,
    /// Which calls it carries.
    pub scope: RouteScope,
    /// Time zone of the hours.
    pub tz: Tz,
    /// Open windows; outside all of them the route is closed.
    pub open: Vec<HoursWindow>,
}

impl Route {
    /// Whether the route is open at `now`.
    #[must_use]
    pub fn is_open(&self, now: Timestamp) -> bool {
        let Some(utc) = now.to_utc() else {
            return false;
        };
        let local = utc.with_timezone(&self.tz);
        let minute = u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(0);
        self.open
            .iter()
            .any(|w| w.contains(local.weekday(), minute))
    }
}

/// A group of extensions sharing a role and, optionally, its own allowed countries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// What its members may call.
    pub role: Role,
    /// Members' extension numbers (or SIP user names).
    pub members: Vec<String>,
    /// Countries its members may call abroad; `None` uses the site-wide list.
    pub allowed_countries: Option<BTreeSet<Country>>,
}

/// Rolling-window limits. `None` disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VelocityLimits {
    /// International calls per extension in any 60 s.
    pub intl_per_minute: Option<u32>,
    /// International calls for the whole site in any 60 s.
    pub site_intl_per_minute: Option<u32>,
    /// Distinct external numbers per extension in any hour.
    pub distinct_per_hour: Option<u32>,
    /// Calls to one external number (from any extension) in any `same_number_window_secs`.
    pub same_number: Option<u32>,
    /// Window of `same_number`, seconds.
    pub same_number_window_secs: u32,
}

impl Default for VelocityLimits {
    /// Defaults in the spirit of OpenSIPS' fraud_detection sample profile: 5 international calls a
    /// minute per extension, 20 for the site, 30 distinct numbers an hour, 10 calls to one number
    /// in 10 minutes.
    fn default() -> Self {
        Self {
            intl_per_minute: Some(5),
            site_intl_per_minute: Some(20),
            distinct_per_hour: Some(30),
            same_number: Some(10),
            same_number_window_secs: 600,
        }
    }
}

/// The policy's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    /// Role of extensions not listed anywhere.
    pub default_role: Role,
    /// Roles of single extensions (override groups).
    pub extension_roles: HashMap<String, Role>,
    /// Groups of extensions.
    pub groups: HashMap<String, Group>,
    /// Countries that may be called abroad; `None` allows all (subject to the other rules).
    pub allowed_countries: Option<BTreeSet<Country>>,
    /// Refused prefixes: `+DIGITS` matches the E.164 number, plain `DIGITS` what was dialled.
    pub denied_prefixes: Vec<String>,
    /// Refused number types.
    pub denied_types: BTreeSet<NumberType>,
    /// Highest destination risk allowed; `None` allows any.
    pub max_risk: Option<RiskLevel>,
    /// Outbound routes with office hours.
    pub routes: Vec<Route>,
    /// Concurrent-call caps per trunk name.
    pub trunk_caps: HashMap<String, u32>,
    /// Carrier trunks recognised by their signalling addresses: a call offered from one of a
    /// trunk's networks, or placed by the PBX to one, counts against that trunk's cap.
    pub trunks: Vec<Trunk>,
    /// The trunk the PBX sends extensions' outside calls to. Such a call then counts against
    /// the trunk from the extension's INVITE on, so a full trunk refuses it before the PBX sees
    /// it; the PBX's own INVITE to the carrier is the same call, not another one.
    pub outbound_trunk: Option<String>,
    /// Cap for trunks not in `trunk_caps`.
    pub default_trunk_cap: Option<u32>,
    /// Concurrent external calls per extension.
    pub extension_cap: Option<u32>,
    /// A call with no end event for this long is forgotten (lost BYE), seconds.
    pub call_timeout_secs: u32,
    /// Rolling-window limits.
    pub velocity: VelocityLimits,
}

impl Default for PolicyConfig {
    /// Everyone international, everything allowed except premium rate, satellite and
    /// international-network numbers; default velocity limits; calls forgotten after 4 h.
    fn default() -> Self {
        Self {
            default_role: Role::International,
            extension_roles: HashMap::new(),
            groups: HashMap::new(),
            allowed_countries: None,
            denied_prefixes: Vec::new(),
            denied_types: [
                NumberType::PremiumRate,
                NumberType::Satellite,
                NumberType::InternationalNetwork,
            ]
            .into_iter()
            .collect(),
            max_risk: None,
            routes: Vec::new(),
            trunk_caps: HashMap::new(),
            trunks: Vec::new(),
            outbound_trunk: None,
            default_trunk_cap: None,
            extension_cap: None,
            call_timeout_secs: 4 * 3600,
            velocity: VelocityLimits::default(),
        }
    }
}

/// A carrier trunk, named as in [`PolicyConfig::trunk_caps`], with the networks its signalling
/// comes from and goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// The name the caps, alerts and CDRs use.
    pub name: String,
    /// The carrier's signalling addresses (its SIP proxies or SBCs).
    pub networks: Vec<IpNet>,
}

impl PolicyConfig {
    /// The trunk whose networks hold `addr` (the first in configuration order when several do).
    /// An IPv4-mapped IPv6 address matches as IPv4.
    #[must_use]
    pub fn trunk_at(&self, addr: IpAddr) -> Option<&str> {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            IpAddr::V4(_) => addr,
        };
        self.trunks
            .iter()
            .find(|t| t.networks.iter().any(|n| n.contains(&addr)))
            .map(|t| t.name.as_str())
    }

    /// The role of `extension` (explicit, then group, then default).
    #[must_use]
    pub fn role_of(&self, extension: Option<&str>) -> Role {
        let Some(ext) = extension else {
            return self.default_role;
        };
        if let Some(role) = self.extension_roles.get(ext) {
            return *role;
        }
        self.group_of(ext).map_or(self.default_role, |g| g.role)
    }

    fn group_of(&self, ext: &str) -> Option<&Group> {
        // Deterministic when an extension is in several groups: the most permissive role wins.
        self.groups
            .values()
            .filter(|g| g.members.iter().any(|m| m == ext))
            .max_by_key(|g| g.role)
    }

    /// The concurrent-call cap of `trunk`, if it has one: its own, else the default.
    #[must_use]
    pub fn trunk_cap(&self, trunk: &str) -> Option<u32> {
        self.trunk_caps
            .get(trunk)
            .copied()
            .or(self.default_trunk_cap)
    }

    /// Whether `trunk` is named here: in [`PolicyConfig::trunks`], [`PolicyConfig::trunk_caps`] or
    /// as the [`PolicyConfig::outbound_trunk`]. Trunks are only ever matched by name.
    #[must_use]
    pub fn names_trunk(&self, trunk: &str) -> bool {
        self.trunk_caps.contains_key(trunk)
            || self.outbound_trunk.as_deref() == Some(trunk)
            || self.trunks.iter().any(|t| t.name == trunk)
    }

    fn allowed_countries_of(&self, extension: Option<&str>) -> Option<&BTreeSet<Country>> {
        extension
            .and_then(|e| self.group_of(e))
            .and_then(|g| g.allowed_countries.as_ref())
            .or(self.allowed_countries.as_ref())
    }
}

/// The rule behind a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    /// The extension's role does not reach the destination.
    Role,
    /// The destination country is not allowed.
    Country,
    /// The number matches a denied prefix.
    DeniedPrefix,
    /// The number type is denied.
    NumberType,
    /// The destination risk exceeds the maximum.
    Risk,
    /// The route is outside its office hours.
    OfficeHours,
    /// The trunk's concurrent-call cap is reached.
    TrunkConcurrency,
    /// The extension's concurrent-call cap is reached.
    ExtensionConcurrency,
    /// Too many international calls from the extension in the last minute.
    IntlPerMinute,
    /// Too many international calls from the site in the last minute.
    SiteIntlPerMinute,
    /// Too many distinct numbers from the extension in the last hour.
    DistinctPerHour,
    /// The same number was called too often.
    SameNumber,
}

impl Rule {
    /// A stable kebab-case identifier for reports and metrics.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Role => "role",
            Self::Country => "country",
            Self::DeniedPrefix => "denied-prefix",
            Self::NumberType => "number-type",
            Self::Risk => "risk",
            Self::OfficeHours => "office-hours",
            Self::TrunkConcurrency => "trunk-concurrency",
            Self::ExtensionConcurrency => "extension-concurrency",
            Self::IntlPerMinute => "intl-per-minute",
            Self::SiteIntlPerMinute => "site-intl-per-minute",
            Self::DistinctPerHour => "distinct-per-hour",
            Self::SameNumber => "same-number",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: the rule that fired and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// What exactly (role and destination, route name, counts ...).
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.detail)
    }
}

/// The policy's answer for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Place the call.
    Allow,
    /// An emergency call: placed whatever the policy says.
    AllowEmergency,
    /// Refuse (inline: answer 403).
    Deny(Violation),
}

impl Verdict {
    /// Whether the call may go ahead.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        !matches!(self, Self::Deny(_))
    }

    /// The violation, if refused.
    #[must_use]
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            Self::Deny(v) => Some(v),
            _ => None,
        }
    }
}

/// One call attempt (an INVITE, or a CDR row).
#[derive(Debug, Clone, Copy)]
pub struct CallAttempt<'a> {
    /// Identifies the call for later end events (SIP Call-ID, CDR unique id).
    pub call_id: &'a str,
    /// The calling extension (authenticated user), if known.
    pub extension: Option<&'a str>,
    /// The outbound trunk, if known.
    pub trunk: Option<&'a str>,
    /// The dialled destination, classified with the site's dial plan.
    pub destination: &'a Classification,
}

#[derive(Debug, Clone)]
struct ActiveCall {
    extension: Option<String>,
    /// Usually one; two when the PBX relays a call from one trunk to another (call forwarding
    /// to an outside number), which occupies a channel on each.
    trunks: Vec<String>,
    expires: Timestamp,
    /// A 2xx answered the INVITE: later failure responses belong to in-dialog requests.
    answered: bool,
    /// The INVITE's CSeq number, when the caller told it: responses with another number answer
    /// other requests (PRACK, UPDATE, re-INVITE).
    invite_cseq: Option<u32>,
    /// When the call was counted.
    started: Timestamp,
    /// An extension's call counted against the outbound trunk whose INVITE to the carrier has not
    /// been seen yet.
    awaiting_leg: Option<String>,
    /// The Call-ID of the PBX's INVITE to the carrier, when a back-to-back PBX gave it its own.
    leg: Option<String>,
}

/// What [`CallPolicy::reconfigure`] kept of the running state, for the log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Reconfigured {
    /// Calls in progress, all kept (those that no longer count against a trunk included).
    pub calls: usize,
    /// The trunks with calls in progress that the new configuration counts, by name.
    pub trunks: Vec<KeptTrunk>,
    /// Trunks the new configuration no longer counts calls against (no longer named, or no longer
    /// capped), by name, with the calls in progress that stopped counting against them.
    pub dropped: Vec<(String, u32)>,
}

/// A trunk whose calls in progress a reconfigured policy still counts ([`Reconfigured::trunks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptTrunk {
    /// The trunk's name.
    pub name: String,
    /// Its calls in progress, still counted.
    pub calls: u32,
    /// Its cap under the new configuration.
    pub cap: u32,
}

impl KeptTrunk {
    /// Whether the trunk has more calls in progress than its new cap allows (a lowered cap): it
    /// refuses calls until enough of them end.
    #[must_use]
    pub fn over_cap(&self) -> bool {
        self.calls > self.cap
    }
}

/// How long after an extension's INVITE the PBX's INVITE to the carrier with a Call-ID of its own
/// is taken for the same call: SIP's Timer B, 64*T1 (RFC 3261 §17.1.1.2).
pub(crate) const LEG_WINDOW_MS: i64 = 32_000;

/// Event times within a rolling window.
#[derive(Debug, Clone, Default)]
struct Window {
    times: VecDeque<Timestamp>,
}

impl Window {
    fn prune(&mut self, now: Timestamp, window_ms: i64) {
        while self
            .times
            .front()
            .is_some_and(|t| now.millis_since(*t) >= window_ms)
        {
            self.times.pop_front();
        }
    }
    fn count(&mut self, now: Timestamp, window_ms: i64) -> usize {
        self.prune(now, window_ms);
        self.times.len()
    }
}

/// Distinct destinations within a rolling window.
#[derive(Debug, Clone, Default)]
struct DistinctWindow {
    events: VecDeque<(Timestamp, String)>,
    counts: HashMap<String, u32>,
}

impl DistinctWindow {
    fn prune(&mut self, now: Timestamp, window_ms: i64) {
        while let Some((t, _)) = self.events.front() {
            if now.millis_since(*t) < window_ms {
                break;
            }
            if let Some((_, number)) = self.events.pop_front()
                && let Some(c) = self.counts.get_mut(&number)
            {
                *c = c.saturating_sub(1);
                if *c == 0 {
                    self.counts.remove(&number);
                }
            }
        }
    }
    fn push(&mut self, now: Timestamp, number: &str) {
        *self.counts.entry(number.to_owned()).or_insert(0) += 1;
        self.events.push_back((now, number.to_owned()));
    }
}

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// The stateful call policy.
#[derive(Debug, Clone)]
pub struct CallPolicy {
    config: PolicyConfig,
    active: HashMap<String, ActiveCall>,
    per_trunk: HashMap<String, u32>,
    per_extension: HashMap<String, u32>,
    intl_by_extension: HashMap<String, Window>,
    intl_site: Window,
    distinct_by_extension: HashMap<String, DistinctWindow>,
    by_number: HashMap<String, Window>,
    /// Recently refused calls: a retransmitted INVITE gets the same answer and is not counted
    /// again (kept for SIP's Timer B, 64*T1 = 32 s, RFC 3261 §17.1.1.2).
    refused: HashMap<String, (Timestamp, Violation)>,
    /// Call-IDs of the PBX's own legs to the carrier, to the extension's call they belong to.
    aliases: HashMap<String, String>,
}

/// How long a refused Call-ID is remembered, ms.
const REFUSED_MEMORY_MS: i64 = 32_000;
/// At most this many refused Call-IDs are remembered (a flood of distinct ones is not).
const REFUSED_MEMORY_MAX: usize = 100_000;

impl CallPolicy {
    /// A policy with `config` and no calls in progress.
    #[must_use]
    pub fn new(config: PolicyConfig) -> Self {
        Self {
            config,
            active: HashMap::new(),
            per_trunk: HashMap::new(),
            per_extension: HashMap::new(),
            intl_by_extension: HashMap::new(),
            intl_site: Window::default(),
            distinct_by_extension: HashMap::new(),
            by_number: HashMap::new(),
            refused: HashMap::new(),
            aliases: HashMap::new(),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The static rules only (role, country, prefix, type, risk, office hours): no counters are
    /// read or changed. Useful for `classify` and to explain a verdict.
    pub fn check_static(&self, now: Timestamp, attempt: &CallAttempt<'_>) -> Verdict {
        let c = attempt.destination;
        if c.is_emergency() {
            return Verdict::AllowEmergency;
        }
        let role = self.config.role_of(attempt.extension);
        let needed = needed_role(c);
        if needed > role {
            return deny(
                Rule::Role,
                format!("{role} extension may not call a {needed} destination"),
            );
        }
        if let Some(v) = self.denied_prefix(c) {
            return Verdict::Deny(v);
        }
        let Some(dest) = &c.destination else {
            return self.check_short_code(c);
        };
        if dest.international
            && let Some(allowed) = self.config.allowed_countries_of(attempt.extension)
            && !dest.country.is_some_and(|cc| allowed.contains(&cc))
        {
            let name = dest
                .country
                .map_or("non-geographic".to_owned(), |cc| cc.to_string());
            return deny(
                Rule::Country,
                format!("{name} ({}) is not an allowed country", dest.number),
            );
        }
        if self.config.denied_types.contains(&dest.number_type) {
            return deny(
                Rule::NumberType,
                format!("{} is a {} number", dest.number, dest.number_type),
            );
        }
        if let Some(max) = self.config.max_risk
            && dest.risk > max
        {
            return deny(
                Rule::Risk,
                format!(
                    "{} is {} risk ({}), above {max}",
                    dest.number, dest.risk, dest.risk_reason
                ),
            );
        }
        if let Some(route) = self
            .config
            .routes
            .iter()
            .find(|r| r.scope.matches(c) && !r.is_open(now))
        {
            return deny(
                Rule::OfficeHours,
                format!("route {} is closed at {now}", route.name),
            );
        }
        Verdict::Allow
    }

    /// A short code the risk table lists: one listed high is billed at premium rates, so a
    /// policy that refuses premium-rate numbers refuses it too; any level above `max_risk` is
    /// refused.
    fn check_short_code(&self, c: &Classification) -> Verdict {
        let (Some((level, reason)), Dialled::ShortCode { number }) =
            (&c.short_code_risk, &c.dialled)
        else {
            return Verdict::Allow;
        };
        if *level == RiskLevel::High && self.config.denied_types.contains(&NumberType::PremiumRate)
        {
            return deny(
                Rule::NumberType,
                format!("short code {number} is billed at premium rates ({reason})"),
            );
        }
        match self.config.max_risk {
            Some(max) if *level > max => deny(
                Rule::Risk,
                format!("short code {number} is {level} risk ({reason}), above {max}"),
            ),
            _ => Verdict::Allow,
        }
    }

    fn denied_prefix(&self, c: &Classification) -> Option<Violation> {
        let dialled = match &c.dialled {
            Dialled::Extension { number } | Dialled::ShortCode { number } => Some(number.as_str()),
            Dialled::External { .. } | Dialled::Emergency { .. } | Dialled::Unrecognised { .. } => {
                None
            }
        };
        let e164 = c.dialled.e164().map(|n| n.digits());
        self.config.denied_prefixes.iter().find_map(|p| {
            let hit = match p.strip_prefix('+') {
                Some(digits) => e164.is_some_and(|n| n.starts_with(digits)),
                None => dialled.is_some_and(|d| d.starts_with(p.as_str())),
            };
            hit.then(|| Violation {
                rule: Rule::DeniedPrefix,
                detail: format!("{} matches denied prefix {p}", describe(c)),
            })
        })
    }

    /// Full check of one call attempt, then bookkeeping: the attempt is counted in the velocity
    /// windows (refused attempts too: an attacker's retries are part of the pattern), and an
    /// allowed external call is counted as in progress until [`CallPolicy::handle_call_end`] or
    /// its timeout.
    pub fn handle_attempt(&mut self, now: Timestamp, attempt: &CallAttempt<'_>) -> Verdict {
        let verdict = self.check_static(now, attempt);
        if verdict == Verdict::AllowEmergency {
            return verdict;
        }
        // A retransmitted INVITE of an admitted call is neither a new call nor a new attempt.
        if self.active.contains_key(attempt.call_id) {
            self.handle_call_refresh(now, attempt.call_id);
            return Verdict::Allow;
        }
        if let Some((until, v)) = self.refused.get(attempt.call_id)
            && now < *until
        {
            // The same request again: the attempt was counted already. Only a full trunk or
            // extension can have changed since.
            if !matches!(v.rule, Rule::TrunkConcurrency | Rule::ExtensionConcurrency) {
                return Verdict::Deny(v.clone());
            }
            if let Some(v) = self.concurrency(now, attempt) {
                return Verdict::Deny(v);
            }
            self.refused.remove(attempt.call_id);
            self.start_call(now, attempt);
            return Verdict::Allow;
        }
        let verdict = self.decide(now, attempt, verdict);
        if let Verdict::Deny(v) = &verdict {
            if self.refused.len() >= REFUSED_MEMORY_MAX {
                self.refused.retain(|_, (until, _)| now < *until);
            }
            if self.refused.len() < REFUSED_MEMORY_MAX {
                let until = now.plus_millis(REFUSED_MEMORY_MS);
                self.refused
                    .insert(attempt.call_id.to_owned(), (until, v.clone()));
            }
        }
        verdict
    }

    /// Velocity and concurrency on top of the static verdict; records the attempt.
    fn decide(&mut self, now: Timestamp, attempt: &CallAttempt<'_>, verdict: Verdict) -> Verdict {
        let Some(dest) = attempt.destination.destination.as_ref() else {
            return verdict;
        };
        let velocity = self.check_and_record_velocity(
            now,
            attempt.extension,
            dest.number.digits(),
            dest.international,
        );
        let verdict = match (verdict, velocity) {
            (Verdict::Allow, Some(v)) => Verdict::Deny(v),
            (v, _) => v,
        };
        if verdict != Verdict::Allow {
            return verdict;
        }
        if let Some(v) = self.concurrency(now, attempt) {
            return Verdict::Deny(v);
        }
        self.start_call(now, attempt);
        Verdict::Allow
    }

    fn check_and_record_velocity(
        &mut self,
        now: Timestamp,
        extension: Option<&str>,
        number: &str,
        international: bool,
    ) -> Option<Violation> {
        let limits = self.config.velocity;
        let mut fired = None;
        let ext_key = extension.unwrap_or("").to_owned();
        if international {
            let w = self.intl_by_extension.entry(ext_key.clone()).or_default();
            let n = w.count(now, MINUTE_MS);
            w.times.push_back(now);
            if let Some(limit) = limits.intl_per_minute.filter(|l| n >= *l as usize) {
                fired.get_or_insert(Violation {
                    rule: Rule::IntlPerMinute,
                    detail: format!(
                        "{} international calls from {} in the last minute (limit {limit})",
                        n + 1,
                        show_ext(extension)
                    ),
                });
            }
            let n = self.intl_site.count(now, MINUTE_MS);
            self.intl_site.times.push_back(now);
            if let Some(limit) = limits.site_intl_per_minute.filter(|l| n >= *l as usize) {
                fired.get_or_insert(Violation {
                    rule: Rule::SiteIntlPerMinute,
                    detail: format!(
                        "{} international calls from the site in the last minute (limit {limit})",
                        n + 1
                    ),
                });
            }
        }
        let d = self.distinct_by_extension.entry(ext_key).or_default();
        d.prune(now, HOUR_MS);
        let new_number = !d.counts.contains_key(number);
        let distinct = d.counts.len() + usize::from(new_number);
        d.push(now, number);
        if let Some(limit) = limits
            .distinct_per_hour
            .filter(|l| new_number && distinct > *l as usize)
        {
            fired.get_or_insert(Violation {
                rule: Rule::DistinctPerHour,
                detail: format!(
                    "{distinct} distinct numbers from {} in the last hour (limit {limit})",
                    show_ext(extension)
                ),
            });
        }
        let window_ms = i64::from(limits.same_number_window_secs) * 1000;
        let w = self.by_number.entry(number.to_owned()).or_default();
        let n = w.count(now, window_ms);
        w.times.push_back(now);
        if let Some(limit) = limits.same_number.filter(|l| n >= *l as usize) {
            fired.get_or_insert(Violation {
                rule: Rule::SameNumber,
                detail: format!(
                    "+{number} called {} times in {} s (limit {limit})",
                    n + 1,
                    limits.same_number_window_secs
                ),
            });
        }
        fired
    }

    fn concurrency(&mut self, now: Timestamp, attempt: &CallAttempt<'_>) -> Option<Violation> {
        self.handle_timeout(now);
        if let Some(v) = attempt.trunk.and_then(|t| self.trunk_full(t)) {
            return Some(v);
        }
        if let (Some(ext), Some(cap)) = (attempt.extension, self.config.extension_cap) {
            let active = self.per_extension.get(ext).copied().unwrap_or(0);
            if active >= cap {
                return Some(Violation {
                    rule: Rule::ExtensionConcurrency,
                    detail: format!("extension {ext} has {active} calls in progress (cap {cap})"),
                });
            }
        }
        None
    }

    fn start_call(&mut self, now: Timestamp, attempt: &CallAttempt<'_>) {
        self.start(now, attempt.call_id, attempt.extension, attempt.trunk);
        let outbound = self.config.outbound_trunk.as_deref();
        if attempt.trunk.is_some()
            && attempt.trunk == outbound
            && let Some(call) = self.active.get_mut(attempt.call_id)
        {
            call.awaiting_leg = attempt.trunk.map(str::to_owned);
        }
    }

    fn start(
        &mut self,
        now: Timestamp,
        call_id: &str,
        extension: Option<&str>,
        trunk: Option<&str>,
    ) {
        let call = ActiveCall {
            extension: extension.map(str::to_owned),
            trunks: trunk.map(str::to_owned).into_iter().collect(),
            expires: now.plus_millis(i64::from(self.config.call_timeout_secs) * 1000),
            answered: false,
            invite_cseq: None,
            started: now,
            awaiting_leg: None,
            leg: None,
        };
        for t in &call.trunks {
            *self.per_trunk.entry(t.clone()).or_insert(0) += 1;
        }
        if let Some(e) = &call.extension {
            *self.per_extension.entry(e.clone()).or_insert(0) += 1;
        }
        self.active.insert(call_id.to_owned(), call);
    }

    /// The concurrent-call cap of `trunk`, if it has one ([`PolicyConfig::trunk_cap`]).
    #[must_use]
    pub fn trunk_cap(&self, trunk: &str) -> Option<u32> {
        self.config.trunk_cap(trunk)
    }

    /// Puts `config` in force in place of the running configuration (a policy file read again),
    /// keeping what the policy has seen, so that the new rules apply to the site as it is:
    ///
    /// - Calls in progress stay counted, each against its trunks by name (a trunk whose addresses
    ///   changed is the same trunk). A cap lowered below a trunk's calls in progress refuses its
    ///   next calls until enough of them end; no call is cut.
    /// - A trunk the new configuration no longer counts calls against (no longer named, or no
    ///   longer capped) drops out of its calls: they stay tracked until they end (their end events
    ///   still find them, they still count for their extension) but count against no trunk. A
    ///   later configuration naming the trunk again does not count them again.
    /// - Per-extension counts of calls in progress are kept whatever the roles say now: they are
    ///   calls, not rules, and [`PolicyConfig::extension_cap`] applies to every extension.
    /// - Velocity windows (per extension, site-wide, per number) are kept: they record what callers
    ///   did, and the new limits are read against them. A window made longer sees only the events
    ///   the shorter one still held.
    /// - A call's lost-BYE timeout keeps its last sign of life and takes the new
    ///   [`PolicyConfig::call_timeout_secs`].
    /// - A recently refused Call-ID is remembered for the rest of SIP's Timer B: its retransmission
    ///   is the same request, not a new call, and gets the same answer (one refused for a full trunk
    ///   or extension is looked at again, as without a reconfigure).
    pub fn reconfigure(&mut self, config: PolicyConfig) -> Reconfigured {
        let old = std::mem::replace(&mut self.config, config);
        let new = &self.config;
        let dropped_names: BTreeSet<String> = self
            .per_trunk
            .keys()
            .filter(|t| {
                (old.names_trunk(t) && !new.names_trunk(t))
                    || (old.trunk_cap(t).is_some() && new.trunk_cap(t).is_none())
            })
            .cloned()
            .collect();
        let longer_ms =
            (i64::from(new.call_timeout_secs) - i64::from(old.call_timeout_secs)) * 1000;
        for call in self.active.values_mut() {
            call.trunks.retain(|t| !dropped_names.contains(t));
            if call
                .awaiting_leg
                .as_ref()
                .is_some_and(|t| dropped_names.contains(t))
            {
                call.awaiting_leg = None;
            }
            call.expires = call.expires.plus_millis(longer_ms);
        }
        let dropped = dropped_names
            .into_iter()
            .filter_map(|t| self.per_trunk.remove(&t).map(|n| (t, n)))
            .collect();
        let mut kept: Vec<KeptTrunk> = self
            .per_trunk
            .iter()
            .filter_map(|(name, calls)| {
                Some(KeptTrunk {
                    name: name.clone(),
                    calls: *calls,
                    cap: new.trunk_cap(name)?,
                })
            })
            .collect();
        kept.sort_by(|a, b| a.name.cmp(&b.name));
        Reconfigured {
            calls: self.active.len(),
            trunks: kept,
            dropped,
        }
    }

    /// The violation when `trunk`'s cap is reached (the caller forgets timed-out calls first).
    fn trunk_full(&self, trunk: &str) -> Option<Violation> {
        let cap = self.trunk_cap(trunk)?;
        let active = self.per_trunk.get(trunk).copied().unwrap_or(0);
        (active >= cap).then(|| Violation {
            rule: Rule::TrunkConcurrency,
            detail: format!("trunk {trunk} has {active} calls in progress (cap {cap})"),
        })
    }

    /// A call a carrier offers to the site on `trunk` (an initial INVITE from the trunk's
    /// address). Only the trunk's concurrent-call cap applies: the number rules are for calls
    /// placed by extensions. An admitted call counts against the trunk until
    /// [`CallPolicy::handle_call_end`] or its timeout; a retransmission of an admitted INVITE is
    /// admitted again without being counted twice. A refused offer is not counted, so its
    /// retransmission is decided afresh (a call may have ended since). A trunk without a cap is
    /// not tracked at all, so spoofed offers in its name cannot fill memory.
    pub fn handle_trunk_offer(&mut self, now: Timestamp, call_id: &str, trunk: &str) -> Verdict {
        if self.active.contains_key(call_id) {
            self.handle_call_refresh(now, call_id);
            return Verdict::Allow;
        }
        if self.trunk_cap(trunk).is_none() {
            return Verdict::Allow;
        }
        self.handle_timeout(now);
        if let Some(v) = self.trunk_full(trunk) {
            return Verdict::Deny(v);
        }
        self.start(now, call_id, None, Some(trunk));
        Verdict::Allow
    }

    /// A call the PBX places on `trunk` (its initial INVITE to the trunk's address). The PBX's
    /// own requests cannot be held back, so the call is always counted (the count stays true);
    /// the return value says whether the trunk was already at its cap, for an alert. The same
    /// Call-ID as a call already counted (a proxy relays the extension's INVITE unchanged) adds
    /// the trunk to that call; a retransmission changes nothing. A new Call-ID on the outbound
    /// trunk while an extension's call counted against it awaits its leg (a back-to-back PBX
    /// places its own call) is that call's leg, the oldest first: counted once, ended by the end
    /// of either. A trunk without a cap is not tracked.
    pub fn handle_trunk_leg(
        &mut self,
        now: Timestamp,
        call_id: &str,
        trunk: &str,
    ) -> Option<Violation> {
        self.trunk_cap(trunk)?;
        let call_id = self.canonical(call_id);
        if let Some(call) = self
            .active
            .get_mut(&call_id)
            .filter(|c| c.trunks.iter().any(|t| t == trunk))
        {
            call.awaiting_leg = None;
            self.handle_call_refresh(now, &call_id);
            return None;
        }
        if !self.active.contains_key(&call_id)
            && let Some(owner) = self
                .active
                .iter()
                .filter(|(_, c)| {
                    c.awaiting_leg.as_deref() == Some(trunk)
                        && now.millis_since(c.started) < LEG_WINDOW_MS
                })
                .min_by_key(|(id, c)| (c.started, id.as_str()))
                .map(|(id, _)| id.clone())
        {
            if let Some(call) = self.active.get_mut(&owner) {
                call.awaiting_leg = None;
                call.leg = Some(call_id.clone());
            }
            self.aliases.insert(call_id, owner.clone());
            self.handle_call_refresh(now, &owner);
            return None;
        }
        let call_id = call_id.as_str();
        self.handle_timeout(now);
        let over = self.trunk_full(trunk);
        let timeout = i64::from(self.config.call_timeout_secs) * 1000;
        match self.active.get_mut(call_id) {
            Some(call) => {
                call.trunks.push(trunk.to_owned());
                call.expires = now.plus_millis(timeout);
                *self.per_trunk.entry(trunk.to_owned()).or_insert(0) += 1;
            }
            None => self.start(now, call_id, None, Some(trunk)),
        }
        over
    }

    /// A call ended (BYE, CANCEL, or a final non-2xx response to its INVITE). Unknown ids are
    /// ignored.
    pub fn handle_call_end(&mut self, _now: Timestamp, call_id: &str) {
        let call_id = self.canonical(call_id);
        if let Some(call) = self.active.remove(&call_id) {
            self.release(&call);
        }
    }

    /// The call a Call-ID belongs to: itself, or the extension's call whose leg it is.
    fn canonical(&self, call_id: &str) -> String {
        self.aliases
            .get(call_id)
            .cloned()
            .unwrap_or_else(|| call_id.to_owned())
    }

    /// Tells the CSeq number of the INVITE of call `call_id` (the first one told is kept), so
    /// that [`CallPolicy::handle_final_response`] can tell the INVITE's answer from answers to
    /// other requests in the call.
    pub fn note_invite_cseq(&mut self, call_id: &str, cseq: u32) {
        if self.aliases.contains_key(call_id) {
            // A leg numbers its own requests; the call keeps the extension's INVITE.
            return;
        }
        if let Some(call) = self.active.get_mut(call_id) {
            call.invite_cseq.get_or_insert(cseq);
        }
    }

    /// A final response in call `call_id`, with its CSeq number if known. The INVITE's 2xx means
    /// the call is up; its 3xx-6xx before that, that the call never started. A 2xx to any request
    /// shows the call alive (its lost-BYE timeout restarts). A failure answering another request
    /// (PRACK, UPDATE, a re-INVITE refused with 491), or arriving after the call was answered,
    /// leaves the call as it is. Without a CSeq number (or before [`CallPolicy::note_invite_cseq`])
    /// every response counts as the INVITE's.
    pub fn handle_final_response(
        &mut self,
        now: Timestamp,
        call_id: &str,
        cseq: Option<u32>,
        status: u16,
    ) {
        let timeout = i64::from(self.config.call_timeout_secs) * 1000;
        let leg = self.aliases.contains_key(call_id);
        let call_id = self.canonical(call_id);
        let Some(call) = self.active.get_mut(&call_id) else {
            return;
        };
        // A leg's failure ends nothing by itself: the PBX relays it to the extension.
        let to_invite = !leg
            && match (cseq, call.invite_cseq) {
                (Some(n), Some(invite)) => n == invite,
                _ => true,
            };
        if (200..300).contains(&status) {
            call.expires = now.plus_millis(timeout);
            call.answered |= to_invite;
        } else if status >= 300 && to_invite && !call.answered {
            self.handle_call_end(now, &call_id);
        }
    }

    /// In-dialog traffic (re-INVITE, UPDATE, session refresh) shows the call is alive: its
    /// lost-BYE timeout starts again.
    pub fn handle_call_refresh(&mut self, now: Timestamp, call_id: &str) {
        let timeout = i64::from(self.config.call_timeout_secs) * 1000;
        let call_id = self.canonical(call_id);
        if let Some(call) = self.active.get_mut(&call_id) {
            call.expires = now.plus_millis(timeout);
        }
    }

    /// The earliest time at which [`CallPolicy::handle_timeout`] has something to do.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.active.values().map(|c| c.expires).min()
    }

    /// Forgets calls whose end was never seen, and velocity entries that have left their windows.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let expired: Vec<String> = self
            .active
            .iter()
            .filter(|(_, c)| c.expires <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(call) = self.active.remove(&id) {
                self.release(&call);
            }
        }
        let same_ms = i64::from(self.config.velocity.same_number_window_secs) * 1000;
        self.by_number.retain(|_, w| w.count(now, same_ms) > 0);
        self.refused.retain(|_, (until, _)| now < *until);
        self.intl_by_extension
            .retain(|_, w| w.count(now, MINUTE_MS) > 0);
        self.distinct_by_extension.retain(|_, d| {
            d.prune(now, HOUR_MS);
            !d.events.is_empty()
        });
    }

    fn release(&mut self, call: &ActiveCall) {
        if let Some(leg) = &call.leg {
            self.aliases.remove(leg);
        }
        for k in &call.trunks {
            decrement(&mut self.per_trunk, k);
        }
        if let Some(e) = &call.extension {
            decrement(&mut self.per_extension, e);
        }
    }

    /// Calls in progress on `trunk`.
    #[must_use]
    pub fn active_on_trunk(&self, trunk: &str) -> u32 {
        self.per_trunk.get(trunk).copied().unwrap_or(0)
    }

    /// Calls in progress from `extension`.
    #[must_use]
    pub fn active_from_extension(&self, extension: &str) -> u32 {
        self.per_extension.get(extension).copied().unwrap_or(0)
    }
}

fn decrement(map: &mut HashMap<String, u32>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

fn deny(rule: Rule, detail: String) -> Verdict {
    Verdict::Deny(Violation { rule, detail })
}

fn show_ext(ext: Option<&str>) -> String {
    ext.map_or_else(
        || "an unknown caller".to_owned(),
        |e| format!("extension {e}"),
    )
}

fn describe(c: &Classification) -> String {
    match &c.dialled {
        Dialled::External { number, .. } => number.to_string(),
        Dialled::Emergency { number }
        | Dialled::Extension { number }
        | Dialled::ShortCode { number } => number.clone(),
        Dialled::Unrecognised { text, .. } => text.clone(),
    }
}

/// The least role that may call `c`.
fn needed_role(c: &Classification) -> Role {
    match &c.dialled {
        Dialled::Emergency { .. } | Dialled::Extension { .. } => Role::InternalOnly,
        Dialled::ShortCode { number } if number.starts_with(['*', '#']) => Role::InternalOnly,
        Dialled::ShortCode { .. } => Role::National,
        // A SIP user name such as "alice" never leaves the PBX.
        Dialled::Unrecognised {
            reason: Unrecognised::NotDialDigits | Unrecognised::Empty,
            ..
        } => Role::InternalOnly,
        Dialled::Unrecognised { .. } => Role::International,
        Dialled::External { .. } => {
            if c.is_international() {
                Role::International
            } else {
                Role::National
            }
        }
    }
}
