//! `pbxguard classify NUMBER…`: what a dialled number is, how risky it is, and what the policy says.

use pbxguard_numbers::Classifier;
use pbxguard_numbers::Timestamp;
use pbxguard_numbers::classify::Classification;
use pbxguard_numbers::dial::{DialStyle, Dialled};
use pbxguard_numbers::policy::{CallAttempt, CallPolicy, Verdict};
use serde_json::{Value, json};

use super::policy_file::SiteArgs;
use crate::context::{self, Context, Exit, Outcome};

/// Classify dialled numbers: emergency, extension, short code or external; for external numbers
/// the E.164 form, country, number type (fixed, mobile, premium rate, satellite …) and fraud risk
/// from the destination risk table; and the call policy's verdict.
///
/// Numbers are read as dialled at the site: with its outside-line prefix, national trunk prefix
/// and international access code (011 in North America, 00 in most countries, …) or `+`.
/// Exits 0.
#[derive(Debug, clap::Args)]
pub struct ClassifyArgs {
    /// The dialled numbers (quote numbers that contain spaces).
    #[arg(required = true, value_name = "NUMBER")]
    numbers: Vec<String>,

    #[command(flatten)]
    site: SiteArgs,

    /// Judge the calls as placed by this extension (its role and group); without it the policy's
    /// default role applies.
    #[arg(long, value_name = "EXT")]
    extension: Option<String>,
}

/// Runs `pbxguard classify`.
pub fn run(args: ClassifyArgs, ctx: &Context) -> Outcome {
    let site = args.site.load()?;
    let classifier = Classifier::default();
    let policy = CallPolicy::new(site.policy.clone());
    let now = Timestamp::from_unix_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    );
    let mut rows = Vec::new();
    for n in &args.numbers {
        let c = classifier.classify(&site.plan, n);
        let attempt = CallAttempt {
            call_id: "classify",
            extension: args.extension.as_deref(),
            trunk: None,
            destination: &c,
        };
        let verdict = policy.check_static(now, &attempt);
        rows.push((n.as_str(), c, verdict));
    }
    if ctx.json {
        let items: Vec<Value> = rows.iter().map(|(n, c, v)| to_json(n, c, v)).collect();
        context::print_json(&json!(items))?;
    } else {
        let mut out = String::new();
        for (n, c, v) in &rows {
            out.push_str(&to_text(n, c, v));
        }
        context::print(&out)?;
    }
    Ok(Exit::Ok)
}

fn style(s: DialStyle) -> &'static str {
    match s {
        DialStyle::Plus => "plus",
        DialStyle::InternationalAccess => "international-access-code",
        DialStyle::National => "national",
    }
}

fn verdict_json(v: &Verdict) -> Value {
    match v {
        Verdict::Allow => json!({ "allowed": true }),
        Verdict::AllowEmergency => json!({ "allowed": true, "emergency": true }),
        Verdict::Deny(violation) => {
            json!({ "allowed": false, "rule": violation.rule.as_str(), "detail": violation.detail })
        }
    }
}

fn to_json(input: &str, c: &Classification, v: &Verdict) -> Value {
    let mut obj = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        obj.insert(k.to_owned(), v);
    };
    put("input", json!(input));
    put("kind", json!(c.dialled.kind()));
    put("risk", json!(c.risk().as_str()));
    put("policy", verdict_json(v));
    match &c.dialled {
        Dialled::Emergency { number }
        | Dialled::Extension { number }
        | Dialled::ShortCode { number } => put("number", json!(number)),
        Dialled::Unrecognised { reason, .. } => put("reason", json!(reason.to_string())),
        Dialled::External { style: s, .. } => put("dialled_as", json!(style(*s))),
    }
    if let Some(d) = &c.destination {
        put("e164", json!(d.number.as_str()));
        put("calling_code", json!(d.number.calling_code()));
        put("country", json!(d.country.map(|c| c.to_string())));
        put("type", json!(d.number_type.as_str()));
        put("valid", json!(d.valid));
        put("international", json!(d.international));
        put("risk_reason", json!(d.risk_reason.to_string()));
    }
    Value::Object(obj)
}

fn to_text(input: &str, c: &Classification, v: &Verdict) -> String {
    let what = match (&c.dialled, &c.destination) {
        (_, Some(d)) => format!(
            "{} {} {}{}{}",
            d.number,
            d.country
                .map_or_else(|| "non-geographic".to_owned(), |c| c.to_string()),
            d.number_type,
            if d.international {
                ", international"
            } else {
                ""
            },
            if d.valid { "" } else { ", not a valid range" },
        ),
        (Dialled::Emergency { number }, None) => format!("emergency number {number}"),
        (Dialled::Extension { number }, None) => format!("extension {number}"),
        (Dialled::ShortCode { number }, None) => format!("short code {number}"),
        (Dialled::Unrecognised { reason, .. }, None) => format!("unrecognised: {reason}"),
        (Dialled::External { number, .. }, None) => number.to_string(),
    };
    let risk = match &c.destination {
        Some(d) => format!("risk {} ({})", d.risk, d.risk_reason),
        None => format!("risk {}", c.risk()),
    };
    let verdict = match v {
        Verdict::Allow => "allowed".to_owned(),
        Verdict::AllowEmergency => "allowed (emergency calls are never refused)".to_owned(),
        Verdict::Deny(violation) => format!("REFUSED by {}: {}", violation.rule, violation.detail),
    };
    format!("{input}\n  {what}\n  {risk}\n  policy: {verdict}\n")
}
