//! Firewall ruleset checks on the input path: each base input chain is followed through its jumps in
//! order, the way a packet walks it.

use std::collections::HashMap;

use super::Sink;
use crate::read::firewall::{Chain, FwRule, Hook, Ruleset, Verdict};
use crate::read::firewalld::Firewalld;
use crate::rules::{
    FW_ESTABLISHED_BEFORE_BAN, FW_EXPOSED_SERVICE, FW_NO_DEFAULT_DROP, FW_SIP_UNLIMITED,
};

/// Services that must never be open to the world, by port.
const CONTROL_PORTS: &[(u16, &str)] = &[
    (21, "FTP"),
    (22, "SSH"),
    (23, "Telnet"),
    (69, "TFTP"),
    (80, "HTTP"),
    (5038, "Asterisk AMI"),
    (8021, "FreeSWITCH ESL"),
    (8080, "HTTP"),
    (8088, "Asterisk HTTP/ARI"),
];

/// SIP signalling ports (5080 is FreeSWITCH's external profile).
const SIP_PORTS: &[u16] = &[5060, 5061, 5080, 5081];

const MAX_JUMP_DEPTH: usize = 8;

/// Most rules followed on one input path, jumps expanded.
const MAX_FLAT_RULES: usize = 200_000;

/// The rules a packet meets on the way through `chain`, jumps expanded (a jump rule itself is kept too,
/// before the rules of its target).
/// Chains by (table, name).
type Chains<'a> = HashMap<(&'a str, &'a str), &'a Chain>;

fn flatten<'a>(
    chains: &Chains<'a>,
    chain: &'a Chain,
    out: &mut Vec<&'a FwRule>,
    stack: &mut Vec<&'a str>,
) {
    if stack.len() > MAX_JUMP_DEPTH || stack.contains(&chain.name.as_str()) {
        return;
    }
    stack.push(&chain.name);
    for r in &chain.rules {
        // Chains that jump many times into chains that jump many times multiply; a real ruleset is far
        // below this bound, a hostile one stops here.
        if out.len() >= MAX_FLAT_RULES {
            break;
        }
        out.push(r);
        if let Verdict::Jump(t) | Verdict::Goto(t) = &r.verdict
            && let Some(target) = chains.get(&(chain.table.as_str(), t.as_str()))
        {
            flatten(chains, target, out, stack);
        }
    }
    stack.pop();
}

fn is_drop(v: &Verdict) -> bool {
    matches!(v, Verdict::Drop | Verdict::Reject)
}

fn world(r: &FwRule) -> bool {
    !r.src_restricted && !r.iif_restricted && r.ban.is_none() && !r.ct_established
}

pub(crate) fn run(rs: &Ruleset, sink: &mut Sink) {
    let inputs: Vec<&Chain> = rs.chains.iter().filter(|c| c.hook == Hook::Input).collect();
    if inputs.is_empty() {
        if let Some(f) = rs.files.first() {
            sink.push(
                &FW_NO_DEFAULT_DROP,
                crate::Loc::line(*f, 1),
                "the ruleset has no input filter chain: nothing is filtered",
            );
        }
        return;
    }
    let chains: Chains<'_> = rs
        .chains
        .iter()
        .map(|c| ((c.table.as_str(), c.name.as_str()), c))
        .rev()
        .collect();
    let mut any_default_drop = false;
    let mut open_chain = None;
    for chain in &inputs {
        let mut rules = Vec::new();
        flatten(&chains, chain, &mut rules, &mut Vec::new());
        let mut established: Option<&FwRule> = None;
        let mut ban_reported = false;
        let mut closed_ports: Vec<u16> = Vec::new();
        let mut limited_ports: Vec<u16> = Vec::new();
        let mut catch_all: Option<&FwRule> = None;
        for r in &rules {
            if catch_all.is_some() {
                break;
            }
            if r.catch_all()
                && matches!(r.verdict, Verdict::Accept | Verdict::Drop | Verdict::Reject)
            {
                catch_all = Some(r);
                continue;
            }
            if r.ct_established && r.verdict == Verdict::Accept && established.is_none() {
                established = Some(r);
            }
            if let Some(set) = &r.ban {
                if let (Some(e), false) = (established, ban_reported)
                    && (is_drop(&r.verdict)
                        || matches!(r.verdict, Verdict::Jump(_) | Verdict::Goto(_)))
                {
                    sink.push(
                            &FW_ESTABLISHED_BEFORE_BAN,
                            e.loc,
                            format!(
                                "established/related traffic is accepted before the ban `{set}` ({}) is checked",
                                at(r.loc)
                            ),
                        );
                    ban_reported = true;
                }
                continue;
            }
            // Rate limits and inline inspection for SIP ports, whatever their verdict.
            if (r.rate_limited && is_drop(&r.verdict)) || r.verdict == Verdict::Queue {
                limited_ports.extend(SIP_PORTS.iter().copied().filter(|p| r.covers(*p)));
            }
            if !world(r) || (r.ct_other && r.verdict != Verdict::Accept) {
                continue;
            }
            match r.verdict {
                Verdict::Drop | Verdict::Reject if !r.rate_limited && !r.other_match => {
                    closed_ports.extend(
                        CONTROL_PORTS
                            .iter()
                            .map(|(p, _)| *p)
                            .chain(SIP_PORTS.iter().copied())
                            .filter(|p| r.covers(*p)),
                    );
                }
                Verdict::Accept if !r.other_match => {
                    let exposed: Vec<String> = CONTROL_PORTS
                        .iter()
                        .filter(|(p, _)| {
                            r.covers(*p) && !closed_ports.contains(p) && proto_ok(r, *p)
                        })
                        .map(|(p, n)| format!("{n} ({p})"))
                        .collect();
                    if !exposed.is_empty() {
                        let what = if r.dports.as_ref().is_some_and(Vec::is_empty) {
                            format!("every {} port, including {}", protos(r), exposed.join(", "))
                        } else {
                            exposed.join(", ")
                        };
                        sink.push(
                            &FW_EXPOSED_SERVICE,
                            r.loc,
                            format!("{what} accepted from any source"),
                        );
                    }
                    let sip: Vec<u16> = SIP_PORTS
                        .iter()
                        .copied()
                        .filter(|p| {
                            r.covers(*p) && !closed_ports.contains(p) && !limited_ports.contains(p)
                        })
                        .collect();
                    let explicit = r.dports.as_ref().is_some_and(|d| !d.is_empty());
                    if !sip.is_empty() && explicit && !r.rate_limited {
                        let list = sip
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ");
                        sink.push(
                            &FW_SIP_UNLIMITED,
                            r.loc,
                            format!(
                                "SIP port(s) {list} accepted from any source with no rate limit"
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        let drops = match catch_all {
            Some(r) if is_drop(&r.verdict) => true,
            Some(r) => {
                if open_chain.is_none() {
                    open_chain = Some((
                        r.loc,
                        format!("chain `{}` accepts everything at this rule", chain.name),
                    ));
                }
                false
            }
            None => chain.policy_accept == Some(false),
        };
        if drops {
            any_default_drop = true;
        } else if open_chain.is_none() {
            open_chain = Some((
                chain.loc,
                format!(
                    "chain `{}` ({}) has policy accept and no final drop",
                    chain.name, chain.table
                ),
            ));
        }
    }
    if !any_default_drop && let Some((loc, msg)) = open_chain {
        sink.push(&FW_NO_DEFAULT_DROP, loc, msg);
    }
}

/// A firewalld configuration: its input path like any ruleset, and its ban ipsets, which firewalld
/// always consults after it has accepted established/related traffic (`filter_INPUT` does that before
/// dispatching to any zone), so none of them can cut a flow that is already established.
pub(crate) fn run_firewalld(fw: &Firewalld, sink: &mut Sink) {
    let mut found = Sink::default();
    run(&fw.ruleset, &mut found);
    for mut f in found.findings {
        // The input path ends with the default zone's target: say it in firewalld's words.
        if f.rule.id == FW_NO_DEFAULT_DROP.id {
            f.message = format!(
                "the default zone `{}` has target ACCEPT: every port not allowed above is accepted from any source (set the zone's target to default, DROP or REJECT, or choose another DefaultZone)",
                fw.default_zone
            );
        }
        sink.findings.push(f);
    }
    for b in &fw.bans {
        sink.push(
            &FW_ESTABLISHED_BEFORE_BAN,
            b.loc,
            format!(
                "firewalld accepts established/related traffic before any zone: the ban ipset `{}` in zone `{}` stops new flows only, and a banned source keeps sending on the SIP flow it has; drop the set before conntrack (a raw-priority nftables table or `pbxguard run`)",
                b.set, b.zone
            ),
        );
    }
}

/// `line N` or `line N, column C`.
fn at(loc: crate::Loc) -> String {
    match loc.column {
        Some(c) => format!("line {}, column {c}", loc.line),
        None => format!("line {}", loc.line),
    }
}

/// Protocol fits the service (TFTP is UDP, the rest TCP); a rule for any protocol fits all.
fn proto_ok(r: &FwRule, port: u16) -> bool {
    if r.protos.is_empty() {
        return true;
    }
    let want = if port == 69 { "udp" } else { "tcp" };
    r.protos.iter().any(|p| p == want)
}

fn protos(r: &FwRule) -> String {
    if r.protos.is_empty() {
        "protocol's".to_owned()
    } else {
        r.protos.join("/")
    }
}
