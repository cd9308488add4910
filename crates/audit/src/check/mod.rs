//! The checks: parsed configuration in, findings out. Asterisk and FreeSWITCH checks look at all files of
//! their product together, because whether a dial plan is dangerous depends on who reaches its context
//! (guests and trunks are defined in `sip.conf`/`pjsip.conf`/`iax.conf`, or in SIP profiles).

pub mod asterisk;
pub mod firewall;
pub mod freeswitch;
pub mod kamailio;

use std::collections::BTreeMap;

use crate::model::{Finding, Loc, Severity};
use crate::rules::Rule;
use crate::{Doc, secret};

/// Collects findings.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    findings: Vec<Finding>,
}

impl Sink {
    pub(crate) fn push(&mut self, rule: &'static Rule, loc: Loc, message: impl Into<String>) {
        self.push_sev(rule, rule.severity, loc, message);
    }

    pub(crate) fn push_sev(
        &mut self,
        rule: &'static Rule,
        severity: Severity,
        loc: Loc,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            rule,
            severity,
            loc,
            message: message.into(),
            suppressed: None,
        });
    }

    pub(crate) fn into_findings(self) -> Vec<Finding> {
        self.findings
    }
}

/// Runs every check. `groups[i]` names the installation `docs[i]` belongs to: Asterisk and FreeSWITCH
/// files are checked together only within one installation, so two PBXs audited in one run do not
/// see each other's guests and trunks.
pub(crate) fn run(docs: &[Doc], groups: &[String], sink: &mut Sink) {
    let mut by_group: BTreeMap<&str, Vec<&Doc>> = BTreeMap::new();
    for (d, g) in docs.iter().zip(groups) {
        if matches!(d, Doc::Asterisk(..) | Doc::Xml(_)) {
            by_group.entry(g.as_str()).or_default().push(d);
        }
    }
    for group in by_group.values() {
        asterisk::run(group, sink);
        freeswitch::run(group, sink);
    }
    for d in docs {
        match d {
            Doc::Kamailio(k) => kamailio::run(k, sink),
            Doc::Firewall(r) => firewall::run(r, sink),
            Doc::Firewalld(f) => firewall::run_firewalld(f, sink),
            Doc::Ufw(u) => firewall::run_ufw(u, sink),
            Doc::Asterisk(..) | Doc::Xml(_) => {}
        }
    }
}

/// Joins weaknesses for a message.
pub(crate) fn describe(w: &[secret::Weakness]) -> String {
    w.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a value is a variable reference the audit cannot resolve (`${X}`, `$${X}`).
pub(crate) fn is_reference(v: &str) -> bool {
    v.contains("${")
}
