//! The call policy file (`--policy FILE`, TOML) shared by `classify` and `cdr`.
//!
//! The policy has maps (extension roles, groups, trunk caps) and lists of routes, which the flat key
//! registry of the main configuration does not express, so it lives in its own file. Every mistake is
//! reported at once, each with its key.
//!
//! ```toml
//! country = "GB"                 # the site's dial plan
//! outside_line = "9"
//! extension_digits = [3, 4]
//! timezone = "Europe/London"     # CDR local times, business hours, daily summary
//! default_role = "national"      # internal-only | national | international
//! allowed_countries = ["GB", "FR", "DE"]
//! denied_prefixes = ["+881", "+882", "118"]
//! denied_types = ["premium-rate", "satellite", "international-network"]
//! max_risk = "medium"            # low | medium | high
//! default_trunk_cap = 2
//! extension_cap = 2
//! call_timeout_secs = 14400
//!
//! [roles]                        # per extension
//! "200" = "international"
//!
//! [groups.sales]
//! role = "international"
//! members = ["201", "202"]
//! allowed_countries = ["US", "CA"]
//!
//! [trunk_caps]                   # caps by trunk name (also the trunk names of CDRs)
//! carrier = 2
//!
//! [trunks.carrier]               # pbxguard run: which calls use the trunk
//! addresses = ["203.0.113.10", "203.0.113.64/28"]
//! cap = 2                        # same as trunk_caps.carrier
//!
//! # outbound_trunk = "carrier"   # (top level) extensions' outside calls leave by it: counted
//! #                              # from the extension's INVITE, refused 503 when it is full
//!
//! [velocity]
//! intl_per_minute = 5
//! site_intl_per_minute = 20
//! distinct_per_hour = 30
//! same_number = 10
//! same_number_window_secs = 600
//!
//! [[routes]]
//! name = "international"
//! scope = "international"        # all | national | international | +PREFIX
//! timezone = "Europe/London"
//! hours = ["mon-fri 08:00-18:00"]
//!
//! [audit]                        # pbxguard cdr only
//! business_hours = ["mon-fri 08:00-19:00"]
//! after_hours_burst = 5
//! short_call_secs = 6
//! short_calls_per_hour = 10
//! spike_factor = 3.0
//! spike_min_extra = 10
//! baseline_days = 7
//! wangiri_ring_secs = 10
//! wangiri_window_secs = 86400
//! ```

use std::collections::BTreeSet;

use chrono_tz::Tz;
use pbxguard_cdr::AuditConfig;
use pbxguard_numbers::classify::NumberType;
use pbxguard_numbers::policy::{
    Group, HoursWindow, PolicyConfig, Role, Route, RouteScope, Trunk, VelocityLimits,
};
use pbxguard_numbers::{Country, DialPlan, RiskLevel};
use toml::{Table, Value};

/// Everything a policy file sets.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    /// The dial plan.
    pub plan: DialPlan,
    /// The time zone of the site.
    pub tz: Tz,
    /// The call policy.
    pub policy: PolicyConfig,
    /// The CDR audit settings (plan, policy and time zone included).
    pub audit: AuditConfig,
}

impl PolicyFile {
    /// Defaults for `country` with no policy file: the built-in policy, UTC.
    pub fn defaults(country: Country) -> Self {
        let plan = DialPlan::new(country);
        let audit = AuditConfig::new(plan.clone(), chrono_tz::UTC);
        Self {
            plan,
            tz: chrono_tz::UTC,
            policy: audit.policy.clone(),
            audit,
        }
    }
}

/// Collects mistakes, each as "`key`: problem".
struct Errors(Vec<String>);

impl Errors {
    fn push(&mut self, key: &str, problem: impl std::fmt::Display) {
        self.0.push(format!("`{key}`: {problem}"));
    }
}

fn text<'a>(v: &'a Value, key: &str, e: &mut Errors) -> Option<&'a str> {
    let s = v.as_str();
    if s.is_none() {
        e.push(key, "expected a string");
    }
    s
}

fn count(v: &Value, key: &str, e: &mut Errors) -> Option<u32> {
    match v.as_integer().and_then(|n| u32::try_from(n).ok()) {
        Some(n) => Some(n),
        None => {
            e.push(key, "expected a whole number from 0 to 4294967295");
            None
        }
    }
}

fn texts<'a>(v: &'a Value, key: &str, e: &mut Errors) -> Vec<&'a str> {
    match v.as_array() {
        Some(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| text(item, &format!("{key}[{i}]"), e))
            .collect(),
        None => {
            e.push(key, "expected a list of strings");
            Vec::new()
        }
    }
}

fn country(s: &str, key: &str, e: &mut Errors) -> Option<Country> {
    Country::new(s).map_err(|err| e.push(key, err)).ok()
}

fn countries(v: &Value, key: &str, e: &mut Errors) -> BTreeSet<Country> {
    texts(v, key, e)
        .into_iter()
        .filter_map(|s| country(s, key, e))
        .collect()
}

fn timezone(s: &str, key: &str, e: &mut Errors) -> Option<Tz> {
    s.parse::<Tz>()
        .map_err(|_| {
            e.push(
                key,
                format!("{s:?} is not an IANA time zone such as Europe/London"),
            )
        })
        .ok()
}

/// Parses `mon-fri 08:00-18:00`, `sat,sun 10:00-14:00`, `daily 22:00-06:00`.
pub fn hours_window(s: &str) -> Result<HoursWindow, String> {
    let bad = || format!("{s:?} is not DAYS HH:MM-HH:MM (e.g. \"mon-fri 08:00-18:00\")");
    let (days_text, time_text) = s.trim().split_once(' ').ok_or_else(bad)?;
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let day_index = |d: &str| NAMES.iter().position(|n| d.eq_ignore_ascii_case(n));
    let mut days = 0u8;
    for part in days_text.split(',') {
        if part.eq_ignore_ascii_case("daily") {
            days |= HoursWindow::EVERY_DAY;
        } else if let Some((a, b)) = part.split_once('-') {
            let (a, b) = (day_index(a).ok_or_else(bad)?, day_index(b).ok_or_else(bad)?);
            let mut i = a;
            loop {
                days |= 1 << i;
                if i == b {
                    break;
                }
                i = (i + 1) % 7;
            }
        } else {
            days |= 1 << day_index(part).ok_or_else(bad)?;
        }
    }
    let (from, to) = time_text.trim().split_once('-').ok_or_else(bad)?;
    let hm = |t: &str| -> Option<(u16, u16)> {
        let (h, m) = t.split_once(':')?;
        let (h, m) = (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?);
        (h <= 24 && m < 60 && (h < 24 || m == 0)).then_some((h, m))
    };
    let (from, to) = (hm(from).ok_or_else(bad)?, hm(to).ok_or_else(bad)?);
    Ok(HoursWindow::new(days, from, to))
}

fn windows(v: &Value, key: &str, e: &mut Errors) -> Vec<HoursWindow> {
    texts(v, key, e)
        .into_iter()
        .filter_map(|s| hours_window(s).map_err(|m| e.push(key, m)).ok())
        .collect()
}

fn role(v: &Value, key: &str, e: &mut Errors) -> Option<Role> {
    let s = text(v, key, e)?;
    let r = Role::parse(s);
    if r.is_none() {
        e.push(
            key,
            format!("{s:?} is not internal-only, national or international"),
        );
    }
    r
}

fn table<'a>(v: &'a Value, key: &str, e: &mut Errors) -> Option<&'a Table> {
    let t = v.as_table();
    if t.is_none() {
        e.push(key, "expected a table");
    }
    t
}

/// Parses a policy file; `country_override` (from `--country`) wins over the file's `country`.
///
/// # Errors
/// Every mistake found, one line each.
pub fn parse(text_in: &str, country_override: Option<Country>) -> Result<PolicyFile, Vec<String>> {
    let root: Table = text_in
        .parse()
        .map_err(|err: toml::de::Error| vec![err.to_string()])?;
    let mut e = Errors(Vec::new());
    let mut site_country = country_override;
    let mut plan_parts: (Option<String>, Option<(usize, usize)>) = (None, None);
    let mut tz = chrono_tz::UTC;
    let mut policy = PolicyConfig::default();
    let mut audit_table = None;
    for (key, v) in &root {
        let k = key.as_str();
        match k {
            "country" => {
                if let Some(c) = text(v, k, &mut e).and_then(|s| country(s, k, &mut e)) {
                    site_country.get_or_insert(c);
                }
            }
            "outside_line" => plan_parts.0 = text(v, k, &mut e).map(str::to_owned),
            "extension_digits" => {
                let pair = v.as_array().and_then(|a| match a.as_slice() {
                    [lo, hi] => Some((lo.as_integer()?, hi.as_integer()?)),
                    _ => None,
                });
                match pair {
                    Some((lo, hi)) if 1 <= lo && lo <= hi && hi <= 15 => {
                        plan_parts.1 = Some((lo as usize, hi as usize));
                    }
                    _ => e.push(k, "expected [MIN, MAX] with 1 <= MIN <= MAX <= 15"),
                }
            }
            "timezone" => {
                if let Some(t) = text(v, k, &mut e).and_then(|s| timezone(s, k, &mut e)) {
                    tz = t;
                }
            }
            "default_role" => {
                if let Some(r) = role(v, k, &mut e) {
                    policy.default_role = r;
                }
            }
            "allowed_countries" => policy.allowed_countries = Some(countries(v, k, &mut e)),
            "denied_prefixes" => {
                policy.denied_prefixes = texts(v, k, &mut e)
                    .into_iter()
                    .filter(|p| {
                        let digits = p.strip_prefix('+').unwrap_or(p);
                        let ok = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
                        if !ok {
                            e.push(k, format!("{p:?} is not digits (optionally after '+')"));
                        }
                        ok
                    })
                    .map(str::to_owned)
                    .collect();
            }
            "denied_types" => {
                policy.denied_types = texts(v, k, &mut e)
                    .into_iter()
                    .filter_map(|t| {
                        let nt = NumberType::parse(t);
                        if nt.is_none() {
                            let all: Vec<_> = NumberType::ALL.iter().map(|t| t.as_str()).collect();
                            e.push(k, format!("{t:?} is not one of {}", all.join(", ")));
                        }
                        nt
                    })
                    .collect();
            }
            "max_risk" => {
                if let Some(s) = text(v, k, &mut e) {
                    match RiskLevel::parse(s) {
                        Some(r) => policy.max_risk = Some(r),
                        None => e.push(k, format!("{s:?} is not low, medium or high")),
                    }
                }
            }
            "default_trunk_cap" => policy.default_trunk_cap = count(v, k, &mut e),
            "outbound_trunk" => policy.outbound_trunk = text(v, k, &mut e).map(str::to_owned),
            "extension_cap" => policy.extension_cap = count(v, k, &mut e),
            "call_timeout_secs" => {
                if let Some(n) = count(v, k, &mut e) {
                    policy.call_timeout_secs = n;
                }
            }
            "roles" => {
                for (ext, r) in table(v, k, &mut e).into_iter().flatten() {
                    if let Some(r) = role(r, &format!("roles.{ext}"), &mut e) {
                        policy.extension_roles.insert(ext.clone(), r);
                    }
                }
            }
            "groups" => {
                for (name, g) in table(v, k, &mut e).into_iter().flatten() {
                    let base = format!("groups.{name}");
                    let Some(g) = table(g, &base, &mut e) else {
                        continue;
                    };
                    let mut group = Group {
                        role: Role::InternalOnly,
                        members: Vec::new(),
                        allowed_countries: None,
                    };
                    let mut has_role = false;
                    for (gk, gv) in g {
                        let path = format!("{base}.{gk}");
                        match gk.as_str() {
                            "role" => {
                                if let Some(r) = role(gv, &path, &mut e) {
                                    group.role = r;
                                    has_role = true;
                                }
                            }
                            "members" => {
                                group.members = texts(gv, &path, &mut e)
                                    .into_iter()
                                    .map(str::to_owned)
                                    .collect()
                            }
                            "allowed_countries" => {
                                group.allowed_countries = Some(countries(gv, &path, &mut e))
                            }
                            _ => e.push(&path, "unknown key (role, members, allowed_countries)"),
                        }
                    }
                    if !has_role {
                        e.push(&base, "missing `role`");
                    }
                    policy.groups.insert(name.clone(), group);
                }
            }
            "trunk_caps" => {
                for (trunk, cap) in table(v, k, &mut e).into_iter().flatten() {
                    if let Some(n) = count(cap, &format!("trunk_caps.{trunk}"), &mut e) {
                        policy.trunk_caps.insert(trunk.clone(), n);
                    }
                }
            }
            "trunks" => {
                for (name, t) in table(v, k, &mut e).into_iter().flatten() {
                    let base = format!("trunks.{name}");
                    let Some(t) = table(t, &base, &mut e) else {
                        continue;
                    };
                    let mut trunk = Trunk {
                        name: name.clone(),
                        networks: Vec::new(),
                    };
                    for (tk, tv) in t {
                        let path = format!("{base}.{tk}");
                        match tk.as_str() {
                            "addresses" => {
                                trunk.networks = texts(tv, &path, &mut e)
                                    .into_iter()
                                    .filter_map(|a| {
                                        pbxguard_config::value::parse_network(a)
                                            .map_err(|m| e.push(&path, m))
                                            .ok()
                                    })
                                    .collect();
                            }
                            "cap" => {
                                if let Some(n) = count(tv, &path, &mut e) {
                                    policy.trunk_caps.insert(name.clone(), n);
                                }
                            }
                            _ => e.push(&path, "unknown key (addresses, cap)"),
                        }
                    }
                    if trunk.networks.is_empty() && !t.contains_key("addresses") {
                        e.push(&base, "missing `addresses`");
                    }
                    policy.trunks.push(trunk);
                }
            }
            "velocity" => {
                let mut limits = VelocityLimits::default();
                for (vk, vv) in table(v, k, &mut e).into_iter().flatten() {
                    let path = format!("velocity.{vk}");
                    // 0 disables a limit.
                    let n = count(vv, &path, &mut e).map(|n| (n > 0).then_some(n));
                    let Some(n) = n else { continue };
                    match vk.as_str() {
                        "intl_per_minute" => limits.intl_per_minute = n,
                        "site_intl_per_minute" => limits.site_intl_per_minute = n,
                        "distinct_per_hour" => limits.distinct_per_hour = n,
                        "same_number" => limits.same_number = n,
                        "same_number_window_secs" => limits.same_number_window_secs = n.unwrap_or(600),
                        _ => e.push(&path, "unknown key (intl_per_minute, site_intl_per_minute, distinct_per_hour, same_number, same_number_window_secs)"),
                    }
                }
                policy.velocity = limits;
            }
            "routes" => {
                let Some(items) = v.as_array() else {
                    e.push(k, "expected [[routes]] tables");
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    let base = format!("routes[{i}]");
                    let Some(t) = table(item, &base, &mut e) else {
                        continue;
                    };
                    let mut route = Route {
                        name: format!("route {i}"),
                        scope: RouteScope::AllExternal,
                        tz,
                        open: Vec::new(),
                    };
                    let mut route_tz = None;
                    for (rk, rv) in t {
                        let path = format!("{base}.{rk}");
                        match rk.as_str() {
                            "name" => {
                                route.name = text(rv, &path, &mut e).unwrap_or_default().to_owned()
                            }
                            "scope" => {
                                route.scope = match text(rv, &path, &mut e) {
                                    Some("all") | None => RouteScope::AllExternal,
                                    Some("national") => RouteScope::National,
                                    Some("international") => RouteScope::International,
                                    Some(p)
                                        if p.starts_with('+')
                                            && p.len() > 1
                                            && p[1..].bytes().all(|b| b.is_ascii_digit()) =>
                                    {
                                        RouteScope::Prefix(p[1..].to_owned())
                                    }
                                    Some(other) => {
                                        e.push(&path, format!("{other:?} is not all, national, international or +PREFIX"));
                                        RouteScope::AllExternal
                                    }
                                }
                            }
                            "timezone" => {
                                route_tz =
                                    text(rv, &path, &mut e).and_then(|s| timezone(s, &path, &mut e))
                            }
                            "hours" => route.open = windows(rv, &path, &mut e),
                            _ => e.push(&path, "unknown key (name, scope, timezone, hours)"),
                        }
                    }
                    if let Some(t) = route_tz {
                        route.tz = t;
                    }
                    policy.routes.push(route);
                }
            }
            "audit" => audit_table = table(v, k, &mut e),
            _ => e.push(k, "unknown key"),
        }
    }
    if let Some(t) = &policy.outbound_trunk
        && !policy.trunks.iter().any(|n| &n.name == t)
    {
        e.push(
            "outbound_trunk",
            format!("{t:?} is not a trunk named in a [trunks.NAME] table"),
        );
    }
    // Routes without their own zone use the site's, which may be set after them in the file.
    if let Some(Value::Array(items)) = root.get("routes") {
        for (route, item) in policy.routes.iter_mut().zip(items) {
            if item.get("timezone").is_none() {
                route.tz = tz;
            }
        }
    }
    let Some(site_country) = site_country else {
        if !root.contains_key("country") {
            e.push(
                "country",
                "missing: set it in the policy file or with --country",
            );
        }
        return Err(e.0);
    };
    let mut plan = DialPlan::new(site_country);
    if let Some(o) = plan_parts.0 {
        plan = plan.with_outside_line(&o);
    }
    if let Some((lo, hi)) = plan_parts.1 {
        plan = plan.with_extension_lengths(lo, hi);
    }
    let mut audit = AuditConfig::new(plan.clone(), tz);
    audit.policy = policy.clone();
    for (ak, av) in audit_table.into_iter().flatten() {
        let path = format!("audit.{ak}");
        match ak.as_str() {
            "business_hours" => audit.business_hours = windows(av, &path, &mut e),
            "spike_factor" => match av.as_float().or_else(|| av.as_integer().map(|n| n as f64)) {
                Some(f) if f >= 1.0 => audit.spike_factor = f,
                _ => e.push(&path, "expected a number of at least 1"),
            },
            "baseline_days" => {
                if let Some(n) = count(av, &path, &mut e) {
                    audit.baseline_days = n.max(1) as usize;
                }
            }
            name => {
                let Some(n) = count(av, &path, &mut e) else {
                    continue;
                };
                match name {
                    "after_hours_burst" => audit.after_hours_burst = n,
                    "short_call_secs" => audit.short_call_secs = n,
                    "short_calls_per_hour" => audit.short_calls_per_hour = n,
                    "spike_min_extra" => audit.spike_min_extra = n,
                    "wangiri_ring_secs" => audit.wangiri_ring_secs = n,
                    "wangiri_window_secs" => audit.wangiri_window_secs = n,
                    _ => e.push(&path, "unknown key"),
                }
            }
        }
    }
    if e.0.is_empty() {
        Ok(PolicyFile {
            plan,
            tz,
            policy,
            audit,
        })
    } else {
        Err(e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_windows() {
        assert_eq!(
            hours_window("mon-fri 08:00-18:00").unwrap(),
            HoursWindow::new(HoursWindow::WEEKDAYS, (8, 0), (18, 0))
        );
        assert_eq!(
            hours_window("daily 00:00-24:00").unwrap().days,
            HoursWindow::EVERY_DAY
        );
        assert_eq!(
            hours_window("fri-mon 20:00-06:00").unwrap().days,
            0b111_0001
        );
        assert_eq!(
            hours_window("sat,sun 10:00-14:00").unwrap().days,
            0b110_0000
        );
        assert!(hours_window("weekdays 8-18").is_err());
        assert!(hours_window("mon 25:00-26:00").is_err());
    }

    #[test]
    fn full_file_parses() {
        let text = include_str!("../../tests/data/policy.toml");
        let p = parse(text, None).unwrap();
        assert_eq!(p.plan.country.as_str(), "GB");
        assert_eq!(p.policy.trunk_caps.get("carrier"), Some(&2));
        assert_eq!(p.policy.routes.len(), 1);
        assert_eq!(p.policy.routes[0].tz, chrono_tz::Europe::London);
        assert_eq!(p.policy.role_of(Some("201")), Role::International);
        assert_eq!(p.policy.velocity.same_number, Some(10));
        assert_eq!(p.audit.after_hours_burst, 5);
        assert_eq!(p.policy.trunks.len(), 1);
        assert_eq!(
            p.policy.trunk_at("203.0.113.70".parse().unwrap()),
            Some("carrier")
        );
    }

    #[test]
    fn trunk_addresses_and_caps() {
        let text = "country = \"GB\"\n[trunks.a]\naddresses = [\"192.0.2.1\", \"2001:db8::/64\"]\ncap = 1\n\
                    [trunks.b]\naddresses = [\"198.51.100.0/24\"]\n";
        let p = parse(text, None).unwrap();
        assert_eq!(p.policy.trunk_caps.get("a"), Some(&1));
        assert_eq!(p.policy.trunk_caps.get("b"), None);
        assert_eq!(p.policy.trunk_at("192.0.2.1".parse().unwrap()), Some("a"));
        assert_eq!(p.policy.trunk_at("2001:db8::9".parse().unwrap()), Some("a"));
        assert_eq!(
            p.policy.trunk_at("198.51.100.9".parse().unwrap()),
            Some("b")
        );
        assert_eq!(p.policy.trunk_at("192.0.2.2".parse().unwrap()), None);
        let p = parse(&format!("outbound_trunk = \"a\"\n{text}"), None).unwrap();
        assert_eq!(p.policy.outbound_trunk.as_deref(), Some("a"));
        let errors = parse(&format!("outbound_trunk = \"c\"\n{text}"), None).unwrap_err();
        assert_eq!(
            errors,
            ["`outbound_trunk`: \"c\" is not a trunk named in a [trunks.NAME] table"]
        );
        let bad = "country = \"GB\"\n[trunks.a]\naddresses = [\"192.0.2.1/24\", \"carrier\"]\ncap = -1\nport = 5060\n[trunks.b]\ncap = 1\n";
        let errors = parse(bad, None).unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(
            errors
                .iter()
                .any(|m| m.starts_with("`trunks.a.addresses`: `192.0.2.1/24` has host bits"))
        );
        assert!(errors.iter().any(|m| m.starts_with("`trunks.a.cap`")));
        assert!(errors.iter().any(|m| m.starts_with("`trunks.a.port`")));
        assert!(
            errors
                .iter()
                .any(|m| m.starts_with("`trunks.b`: missing `addresses`"))
        );
    }

    #[test]
    fn every_mistake_is_reported() {
        let text = "country = \"GBR\"\nmax_risk = \"extreme\"\nbogus = 1\n[roles]\n\"200\" = \"boss\"\n[[routes]]\nhours = [\"weekdays\"]\n";
        let errors = parse(text, None).unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors.iter().any(|m| m.starts_with("`bogus`")));
        assert!(errors.iter().any(|m| m.starts_with("`roles.200`")));
        assert!(errors.iter().any(|m| m.starts_with("`routes[0].hours`")));
    }
}

/// Site options shared by `classify` and `cdr`.
#[derive(Debug, Clone, clap::Args)]
pub struct SiteArgs {
    /// The site's country (ISO 3166 code such as US, GB, DE): how national numbers and access codes
    /// are read [default: the policy file's `country`, else US].
    #[arg(long, value_name = "CC")]
    pub country: Option<String>,

    /// Digits dialled for an outside line (such as 9), stripped before the number is read
    /// [default: the policy file's `outside_line`, else none].
    #[arg(long, value_name = "DIGITS")]
    pub outside_line: Option<String>,

    /// Call policy file (TOML): roles, allowed countries, denied prefixes and number types, office
    /// hours, caps, velocity limits and audit thresholds. Without it the built-in policy applies
    /// (premium-rate, satellite and international-network numbers refused; velocity limits on).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<std::path::PathBuf>,
}

impl SiteArgs {
    /// Loads the policy file (if any) and applies the command-line overrides.
    ///
    /// # Errors
    /// A usage failure naming the file and every mistake in it.
    pub fn load(&self) -> Result<PolicyFile, crate::context::Failure> {
        use crate::context::Failure;
        let country = match &self.country {
            Some(c) => {
                Some(Country::new(c).map_err(|e| Failure::Usage(format!("--country: {e}")))?)
            }
            None => None,
        };
        let mut site = match &self.policy {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Failure::Usage(format!("cannot read policy file {}: {e}", path.display()))
                })?;
                let with_default = country
                    .or_else(|| (!text.contains("country")).then_some(Country::from_upper(*b"US")));
                parse(&text, with_default).map_err(|errors| {
                    let n = errors.len();
                    let list: Vec<String> = errors
                        .iter()
                        .map(|m| format!("{}: {m}", path.display()))
                        .collect();
                    Failure::Usage(format!(
                        "{}\nthe policy file has {n} mistake{}",
                        list.join("\n"),
                        if n == 1 { "" } else { "s" }
                    ))
                })?
            }
            None => PolicyFile::defaults(country.unwrap_or(Country::from_upper(*b"US"))),
        };
        if let Some(o) = &self.outside_line {
            if o.is_empty() || !o.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Failure::Usage(format!(
                    "--outside-line {o:?}: expected digits"
                )));
            }
            site.plan = site.plan.clone().with_outside_line(o);
            site.audit.plan = site.plan.clone();
        }
        Ok(site)
    }
}
