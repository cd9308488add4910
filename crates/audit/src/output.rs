//! Output formats: a human table grouped by file, JSON, and SARIF 2.1.0.
//!
//! All three take the report and the minimum severity; findings below it are left out. Suppressed
//! findings are shown in JSON and SARIF (SARIF `suppressions`, with the reason as justification) and
//! counted in the table's summary.

use std::fmt::Write as _;

use crate::model::{Finding, Report, Severity, SuppressedBy};
use crate::read::json::escape_into;
use crate::rules::{self, Rule};

/// SARIF `level` for a severity.
fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning's `security-severity` (0.0–10.0) for a severity.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.5",
    }
}

fn shown(report: &Report, min: Severity) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.severity >= min)
        .collect()
}

/// Findings grouped by file, in report order (files in file-table order).
fn by_file<'a>(report: &'a Report, findings: &[&'a Finding]) -> Vec<(&'a str, Vec<&'a Finding>)> {
    let mut out: Vec<(&str, Vec<&Finding>)> = Vec::new();
    for f in findings {
        let path = report.path(f.loc.file);
        match out.last_mut() {
            Some((p, list)) if *p == path => list.push(f),
            _ => out.push((path, vec![f])),
        }
    }
    out
}

/// The human table: one block per file, one row per finding with its fix, then what could not be read
/// and a summary line.
pub fn table(report: &Report, min: Severity) -> String {
    let mut out = String::new();
    let findings: Vec<&Finding> = shown(report, min)
        .into_iter()
        .filter(|f| f.suppressed.is_none())
        .collect();
    for (path, list) in by_file(report, &findings) {
        let _ = writeln!(out, "{path}");
        for f in list {
            let line = match f.loc.column {
                Some(c) => format!("{}:{c}", f.loc.line),
                None => f.loc.line.to_string(),
            };
            let _ = writeln!(
                out,
                "  {line:>7}  {:<8}  {:<26}  {}",
                f.severity.as_str(),
                f.rule.id,
                f.message
            );
            let _ = writeln!(
                out,
                "  {:>7}  {:<8}  {:<26}  fix: {}",
                "", "", "", f.rule.fix
            );
        }
        out.push('\n');
    }
    if !report.unread.is_empty() {
        let _ = writeln!(out, "not read");
        for u in &report.unread {
            let _ = writeln!(
                out,
                "  {}:{}  {}",
                report.path(u.loc.file),
                u.loc.line,
                u.reason
            );
        }
        out.push('\n');
    }
    let suppressed = shown(report, min)
        .iter()
        .filter(|f| f.suppressed.is_some())
        .count();
    let mut counts = Vec::new();
    for s in Severity::ALL.iter().rev() {
        let n = findings.iter().filter(|f| f.severity == *s).count();
        if n > 0 {
            counts.push(format!("{n} {s}"));
        }
    }
    let files = by_file(report, &findings).len();
    let _ = writeln!(
        out,
        "{} finding(s) in {files} file(s){}{}; {suppressed} suppressed; {} file(s) read, {} skipped",
        findings.len(),
        if counts.is_empty() { "" } else { ": " },
        counts.join(", "),
        report.files.len(),
        report.skipped.len(),
    );
    out
}

fn str_field(out: &mut String, key: &str, value: &str) {
    escape_into(out, key);
    out.push(':');
    escape_into(out, value);
}

/// JSON: `{"files": [{"path", "findings": [...]}], "unread": [...], "skipped": [...], "summary": {...}}`.
pub fn json(report: &Report, min: Severity) -> String {
    let findings = shown(report, min);
    let mut out = String::from("{\"version\":1,\"files\":[");
    for (i, (path, list)) in by_file(report, &findings).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        str_field(&mut out, "path", path);
        out.push_str(",\"findings\":[");
        for (j, f) in list.into_iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push('{');
            str_field(&mut out, "rule", f.rule.id);
            out.push(',');
            str_field(&mut out, "severity", f.severity.as_str());
            let _ = write!(out, ",\"line\":{}", f.loc.line);
            if let Some(c) = f.loc.column {
                let _ = write!(out, ",\"column\":{c}");
            }
            out.push(',');
            str_field(&mut out, "message", &f.message);
            out.push(',');
            str_field(&mut out, "title", f.rule.title);
            out.push(',');
            str_field(&mut out, "why", f.rule.why);
            out.push(',');
            str_field(&mut out, "fix", f.rule.fix);
            if let Some(s) = &f.suppressed {
                out.push_str(",\"suppressed\":{");
                let kind = match s {
                    SuppressedBy::Inline { at, .. } => {
                        let _ = write!(out, "\"line\":{},", at.line);
                        "inline"
                    }
                    SuppressedBy::Config { index, .. } => {
                        let _ = write!(out, "\"index\":{index},");
                        "config"
                    }
                };
                str_field(&mut out, "kind", kind);
                out.push(',');
                str_field(&mut out, "reason", s.reason());
                out.push('}');
            }
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push_str("],\"unread\":[");
    for (i, u) in report.unread.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        str_field(&mut out, "path", report.path(u.loc.file));
        let _ = write!(out, ",\"line\":{},", u.loc.line);
        str_field(&mut out, "reason", &u.reason);
        out.push('}');
    }
    out.push_str("],\"skipped\":[");
    for (i, s) in report.skipped.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        escape_into(&mut out, s);
    }
    let active = findings.iter().filter(|f| f.suppressed.is_none()).count();
    let _ = write!(
        out,
        "],\"summary\":{{\"findings\":{active},\"suppressed\":{},\"files_read\":{},\"min_severity\":\"{}\"}}}}",
        findings.len() - active,
        report.files.len(),
        min.as_str()
    );
    out.push('\n');
    out
}

fn sarif_rule(out: &mut String, r: &Rule) {
    out.push('{');
    str_field(out, "id", r.id);
    out.push(',');
    str_field(out, "name", r.id);
    out.push_str(",\"shortDescription\":{");
    str_field(out, "text", r.title);
    out.push_str("},\"fullDescription\":{");
    str_field(out, "text", r.why);
    out.push_str("},\"help\":{");
    str_field(out, "text", r.fix);
    out.push_str("},\"defaultConfiguration\":{");
    str_field(out, "level", sarif_level(r.severity));
    out.push_str("},\"properties\":{");
    str_field(out, "security-severity", security_severity(r.severity));
    out.push_str(",\"tags\":[\"security\"]}}");
}

/// Relative paths stay relative (SARIF `uriBaseId` %SRCROOT%); absolute ones become `file://` URIs.
fn artifact_location(out: &mut String, path: &str) {
    let encoded: String = path
        .chars()
        .map(|c| match c {
            ' ' => "%20".to_owned(),
            '%' => "%25".to_owned(),
            '#' => "%23".to_owned(),
            '?' => "%3F".to_owned(),
            '\\' => "/".to_owned(),
            c => c.to_string(),
        })
        .collect();
    out.push('{');
    if let Some(abs) = encoded.strip_prefix('/') {
        str_field(out, "uri", &format!("file:///{abs}"));
    } else {
        str_field(out, "uri", encoded.strip_prefix("./").unwrap_or(&encoded));
        out.push(',');
        str_field(out, "uriBaseId", "%SRCROOT%");
    }
    out.push('}');
}

/// SARIF 2.1.0: one run, the full rule catalog as `tool.driver.rules`, one result per finding (suppressed
/// ones with `suppressions`), unread items as tool execution notifications.
pub fn sarif(report: &Report, min: Severity) -> String {
    let mut out = String::from(
        "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\",\"runs\":[{\"tool\":{\"driver\":{",
    );
    str_field(&mut out, "name", "pbxguard-audit");
    out.push(',');
    str_field(&mut out, "version", env!("CARGO_PKG_VERSION"));
    out.push_str(",\"rules\":[");
    for (i, r) in rules::ALL.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        sarif_rule(&mut out, r);
    }
    out.push_str("]}},\"results\":[");
    for (i, f) in shown(report, min).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        str_field(&mut out, "ruleId", f.rule.id);
        let idx = rules::ALL
            .iter()
            .position(|r| std::ptr::eq(*r, f.rule))
            .unwrap_or(0);
        let _ = write!(out, ",\"ruleIndex\":{idx},");
        str_field(&mut out, "level", sarif_level(f.severity));
        out.push_str(",\"message\":{");
        str_field(&mut out, "text", &format!("{} — {}", f.message, f.rule.fix));
        out.push_str("},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":");
        artifact_location(&mut out, report.path(f.loc.file));
        let _ = write!(out, ",\"region\":{{\"startLine\":{}", f.loc.line);
        if let Some(c) = f.loc.column {
            let _ = write!(out, ",\"startColumn\":{c}");
        }
        out.push_str("}}}]");
        let _ = write!(
            out,
            ",\"properties\":{{\"severity\":\"{}\"}}",
            f.severity.as_str()
        );
        if let Some(s) = &f.suppressed {
            let kind = match s {
                SuppressedBy::Inline { .. } => "inSource",
                SuppressedBy::Config { .. } => "external",
            };
            let _ = write!(out, ",\"suppressions\":[{{\"kind\":\"{kind}\",");
            str_field(&mut out, "justification", s.reason());
            out.push_str("}]");
        }
        out.push('}');
    }
    out.push_str(
        "],\"invocations\":[{\"executionSuccessful\":true,\"toolExecutionNotifications\":[",
    );
    for (i, u) in report.unread.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"level\":\"warning\",\"message\":{");
        str_field(&mut out, "text", &u.reason);
        out.push_str("},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":");
        artifact_location(&mut out, report.path(u.loc.file));
        let _ = write!(out, ",\"region\":{{\"startLine\":{}}}}}}}]}}", u.loc.line);
    }
    out.push_str("]}]}]}\n");
    out
}
