//! Helpers shared by the integration tests: load a fixture directory into memory with paths relative
//! to it, resolve includes within that set, and print findings as `path:line rule`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    dead_code
)]

use std::path::{Path, PathBuf};

use pbxguard_audit::{Options, Report, SourceFile, audit};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every file under `dir`, with paths relative to `dir` (`/`-separated), sorted.
pub fn load(dir: &Path) -> Vec<SourceFile> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(SourceFile::new(rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Resolves `target` relative to the directory of `from` (then to the set's root), within `set`; `*` in
/// the last component is a wildcard.
pub fn resolve_in(set: &[SourceFile], from: &str, target: &str) -> Vec<SourceFile> {
    let dir = from.rsplit_once('/').map_or("", |(d, _)| d);
    let candidates = [
        if dir.is_empty() {
            target.to_owned()
        } else {
            format!("{dir}/{target}")
        },
        target.to_owned(),
    ];
    for c in candidates {
        let c = normalize(&c);
        let hits: Vec<SourceFile> = set.iter().filter(|f| glob(&c, &f.path)).cloned().collect();
        if !hits.is_empty() {
            return hits;
        }
    }
    Vec::new()
}

/// Removes `.` and `dir/..` segments.
pub fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

fn glob(pattern: &str, path: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == path,
        Some((pre, post)) => {
            path.len() >= pre.len() + post.len()
                && path.starts_with(pre)
                && path.ends_with(post)
                && !path[pre.len()..].contains('/')
        }
    }
}

/// Audits a directory of fixtures as one set.
pub fn audit_dir(dir: &Path, options: &Options) -> Report {
    let set = load(dir);
    let roots = set.clone();
    let mut resolver = |from: &str, target: &str| resolve_in(&set, from, target);
    audit(roots, &mut resolver, options)
}

/// `path:line rule` for each unsuppressed finding.
pub fn lines(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.suppressed.is_none())
        .map(|f| format!("{} {}", report.where_(f), f.rule.id))
        .collect()
}

pub fn dump(report: &Report) -> String {
    let mut s = String::new();
    for f in &report.findings {
        s.push_str(&format!(
            "{} {} [{}] {}\n",
            report.where_(f),
            f.rule.id,
            f.severity,
            f.message
        ));
    }
    for u in &report.unread {
        s.push_str(&format!(
            "UNREAD {}:{} {}\n",
            report.path(u.loc.file),
            u.loc.line,
            u.reason
        ));
    }
    s
}
