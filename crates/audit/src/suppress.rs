//! Suppressions: inline comments in the audited files and a list from the configuration. A suppression
//! without a reason is not applied (and is reported), so every silenced finding says why.

use std::rc::Rc;

use crate::model::{FileId, Finding, Loc, SuppressedBy, Unread};
use crate::rules;

/// The marker that starts an inline suppression, in any comment syntax:
/// `; pbxguard-audit: ignore RULE[,RULE…] reason` (this line and the next),
/// `# pbxguard-audit: ignore-file RULE reason` (the whole file).
pub const MARKER: &str = "pbxguard-audit:";

/// A suppression from the configuration (`[audit] suppress`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// Rule id, or `*` for every rule.
    pub rule: String,
    /// Path the suppression applies to: exact, a suffix after `/`, or a pattern with `*`; `None` for all.
    pub path: Option<String>,
    /// Line it applies to; `None` for the whole file.
    pub line: Option<u32>,
    /// Why the finding is accepted (required).
    pub reason: String,
}

impl Suppression {
    /// Parses the compact form `RULE[@PATH[:LINE]] REASON…`, e.g.
    /// `sip-allowguest@/etc/asterisk/sip.conf:12 lab box, no trunk`.
    ///
    /// # Errors
    ///
    /// A message naming what is missing: the rule id, a known rule, or the reason.
    pub fn parse(s: &str) -> Result<Suppression, String> {
        let s = s.trim();
        let (target, reason) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        let reason = reason.trim();
        let (rule, place) = target
            .split_once('@')
            .map_or((target, None), |(r, p)| (r, Some(p)));
        if rule.is_empty() {
            return Err("suppression without a rule id".into());
        }
        if rule != "*" && rules::by_id(rule).is_none() {
            return Err(format!("unknown rule `{rule}`"));
        }
        if reason.is_empty() {
            return Err(format!("suppression of `{rule}` has no reason"));
        }
        let (path, line) = match place {
            None => (None, None),
            Some(p) => match p
                .rsplit_once(':')
                .and_then(|(a, l)| l.parse::<u32>().ok().map(|l| (a, l)))
            {
                Some((a, l)) => (Some(a.to_owned()), Some(l)),
                None => (Some(p.to_owned()), None),
            },
        };
        Ok(Suppression {
            rule: rule.to_owned(),
            path,
            line,
            reason: reason.to_owned(),
        })
    }

    fn matches(&self, f: &Finding, path: &str) -> bool {
        (self.rule == "*" || self.rule.eq_ignore_ascii_case(f.rule.id))
            && self.line.is_none_or(|l| l == f.loc.line)
            && self.path.as_deref().is_none_or(|p| path_matches(p, path))
    }
}

/// `pattern` matches `path` exactly, as a `/`-separated suffix, or with `*` wildcards.
fn path_matches(pattern: &str, path: &str) -> bool {
    if pattern == path || path.ends_with(&format!("/{pattern}")) {
        return true;
    }
    if !pattern.contains('*') {
        return false;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = path;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(p) => rest = rest.get(p + part.len()..).unwrap_or(""),
                None => return false,
            }
        }
    }
    true
}

struct Inline {
    rules: Vec<String>,
    file: FileId,
    /// `None` for `ignore-file`.
    lines: Option<(u32, u32)>,
    reason: String,
    at: Loc,
}

fn scan(id: FileId, text: &str, unread: &mut Vec<Unread>) -> Vec<Inline> {
    let mut out = Vec::new();
    if !text.contains(MARKER) {
        return out;
    }
    for (n, line) in text.lines().enumerate() {
        let Some(pos) = line.find(MARKER) else {
            continue;
        };
        let lineno = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let at = Loc::line(id, lineno);
        let rest = line.get(pos + MARKER.len()..).unwrap_or("").trim();
        // Strip a trailing XML comment close.
        let rest = rest.strip_suffix("-->").unwrap_or(rest).trim();
        let (verb, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let whole_file = match verb {
            "ignore" => false,
            "ignore-file" => true,
            _ => {
                unread.push(Unread {
                    loc: at,
                    reason: format!(
                        "unknown suppression verb `{verb}` (use ignore or ignore-file)"
                    ),
                });
                continue;
            }
        };
        let (ids, reason) = rest
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((rest.trim(), ""));
        let reason = reason.trim();
        let rule_ids: Vec<String> = ids
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if rule_ids.is_empty() {
            unread.push(Unread {
                loc: at,
                reason: "suppression without a rule id".into(),
            });
            continue;
        }
        if let Some(bad) = rule_ids
            .iter()
            .find(|r| *r != "*" && rules::by_id(r).is_none())
        {
            unread.push(Unread {
                loc: at,
                reason: format!("suppression names unknown rule `{bad}`"),
            });
            continue;
        }
        if reason.is_empty() {
            unread.push(Unread {
                loc: at,
                reason: format!("suppression of `{ids}` has no reason; not applied"),
            });
            continue;
        }
        out.push(Inline {
            rules: rule_ids,
            file: id,
            lines: (!whole_file).then_some((lineno, lineno.saturating_add(1))),
            reason: reason.to_owned(),
            at,
        });
    }
    out
}

/// Marks findings covered by an inline or configured suppression.
pub(crate) fn apply(
    findings: &mut [Finding],
    paths: &[String],
    texts: &[Rc<str>],
    config: &[Suppression],
    unread: &mut Vec<Unread>,
) {
    let mut inline = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let id = FileId(u32::try_from(i).unwrap_or(u32::MAX));
        inline.extend(scan(id, text, unread));
    }
    for f in findings.iter_mut() {
        let hit = inline.iter().find(|s| {
            s.file == f.loc.file
                && s.lines
                    .is_none_or(|(a, b)| f.loc.line == a || f.loc.line == b)
                && s.rules
                    .iter()
                    .any(|r| r == "*" || r.eq_ignore_ascii_case(f.rule.id))
        });
        if let Some(s) = hit {
            f.suppressed = Some(SuppressedBy::Inline {
                at: s.at,
                reason: s.reason.clone(),
            });
            continue;
        }
        let path = paths.get(f.loc.file.index()).map_or("", String::as_str);
        if let Some((index, s)) = config.iter().enumerate().find(|(_, s)| s.matches(f, path)) {
            f.suppressed = Some(SuppressedBy::Config {
                index,
                reason: s.reason.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_form() {
        let s = Suppression::parse("sip-allowguest@etc/sip.conf:12 lab box, no trunk").unwrap();
        assert_eq!(s.path.as_deref(), Some("etc/sip.conf"));
        assert_eq!(s.line, Some(12));
        assert_eq!(s.reason, "lab box, no trunk");
        assert!(
            Suppression::parse("sip-allowguest")
                .unwrap_err()
                .contains("no reason")
        );
        assert!(
            Suppression::parse("nope why")
                .unwrap_err()
                .contains("unknown rule")
        );
        assert!(path_matches("*.conf", "/etc/asterisk/sip.conf"));
        assert!(path_matches("sip.conf", "/etc/asterisk/sip.conf"));
        assert!(!path_matches("ip.conf", "/etc/asterisk/sip.conf"));
        assert!(path_matches(
            "/etc/*/sip*.conf",
            "/etc/asterisk/sip_custom.conf"
        ));
    }
}
