//! The audit against generated traffic: a clean month raises nothing, every injected pattern is
//! found by the rule meant for it.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;

use pbxguard_cdr::generate::{GeneratorConfig, Pattern, generate, site_audit_config};
use pbxguard_cdr::{Auditor, CdrReader, Format, Report};

fn audit(csv: &str) -> Report {
    let mut auditor = Auditor::new(site_audit_config());
    for row in CdrReader::new(
        csv.as_bytes(),
        Format::AsteriskMaster,
        chrono_tz::Europe::London,
    ) {
        match row {
            Ok(rec) => auditor.add(0, &rec),
            Err(e) => panic!("generated row malformed: {e}"),
        }
    }
    auditor.finish()
}

#[test]
fn clean_month_raises_no_alarm() {
    for seed in [1, 2, 3] {
        let g = generate(&GeneratorConfig {
            seed,
            ..GeneratorConfig::default()
        });
        let report = audit(&g.csv);
        assert!(report.records > 3000, "{}", report.records);
        assert_eq!(report.days.len(), 30);
        assert!(
            report.days.iter().all(|d| d.international < 15),
            "{:?}",
            report.days
        );
        assert!(
            report.findings.is_empty(),
            "seed {seed}: {:#?}",
            &report.findings[..report.findings.len().min(10)]
        );
    }
}

#[test]
fn every_injected_pattern_is_found_by_its_rule() {
    let g = generate(&GeneratorConfig {
        seed: 7,
        inject: Pattern::ALL.to_vec(),
        ..GeneratorConfig::default()
    });
    let report = audit(&g.csv);
    let flagged: BTreeSet<u64> = report.findings.iter().map(|f| f.line).collect();
    for (pattern, lines) in &g.injected {
        assert!(!lines.is_empty(), "{pattern:?}");
        let rule = pattern.expected_rule();
        let by_rule: BTreeSet<u64> = report
            .findings
            .iter()
            .filter(|f| f.rule == rule)
            .map(|f| f.line)
            .collect();
        assert!(!by_rule.is_empty(), "{pattern:?}: no finding with {rule}");
        // Every outbound record of the pattern is flagged (the Wangiri ring itself is inbound),
        // except for velocity limits, which let the calls up to the limit through.
        let policy = site_audit_config().policy.velocity;
        let (outbound, allowed_first): (&[u64], usize) = match pattern {
            Pattern::Wangiri => (&lines[1..], 0),
            Pattern::SameNumber => (lines, policy.same_number.unwrap() as usize),
            Pattern::DistinctNumbers => (lines, policy.distinct_per_hour.unwrap() as usize),
            _ => (lines, 0),
        };
        let mut sorted = outbound.to_vec();
        sorted.sort_unstable();
        for line in &sorted[allowed_first..] {
            assert!(
                flagged.contains(line),
                "{pattern:?}: line {line} not flagged"
            );
        }
    }
    // Nothing else is flagged, except ordinary international calls on the spike day.
    let injected: BTreeSet<u64> = g
        .injected
        .iter()
        .flat_map(|(_, l)| l.iter().copied())
        .collect();
    let stray: Vec<_> = report
        .findings
        .iter()
        .filter(|f| !injected.contains(&f.line) && f.rule != Pattern::IntlSpike.expected_rule())
        .collect();
    assert!(stray.is_empty(), "{stray:#?}");
    let summary_flagged: u32 = report.days.iter().map(|d| d.suspicious).sum();
    assert_eq!(summary_flagged as usize, report.suspicious_calls());
}
