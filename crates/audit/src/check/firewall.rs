//! Firewall ruleset checks on the input path: each base input chain is followed through its jumps in
//! order, the way a packet walks it.

use std::borrow::Cow;
use std::collections::HashMap;

use super::Sink;
use crate::read::firewall::{Chain, FwRule, Hook, Ruleset, Verdict};
use crate::read::firewalld::Firewalld;
use crate::read::ufw::Ufw;
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

/// Chains by (table, name).
type Chains<'a> = HashMap<(&'a str, &'a str), &'a Chain>;

/// The rules a packet meets on the way through `chain`, jumps expanded (a jump rule itself is kept too,
/// before the rules of its target).
///
/// A rule reached through a jump only sees the packets the jump rule matched, so it is narrowed by that
/// rule's matches (`-p tcp --dport 22 -j ufw-user-limit-accept` followed by `-j ACCEPT` in the target
/// accepts TCP port 22, not everything). After a conditional `RETURN` in a jumped-to chain, later rules
/// see only the packets that did not return: a drop or a catch-all there neither closes a port for every
/// source nor ends the path, so it is marked as having other matches (a `RETURN` of trusted sources
/// does not count: every other source still meets what follows).
fn flatten<'a>(
    chains: &Chains<'a>,
    chain: &'a Chain,
    via: Option<&FwRule>,
    out: &mut Vec<Cow<'a, FwRule>>,
    stack: &mut Vec<&'a str>,
) {
    if stack.len() > MAX_JUMP_DEPTH || stack.contains(&chain.name.as_str()) {
        return;
    }
    stack.push(&chain.name);
    let mut after_return = false;
    for r in &chain.rules {
        // Chains that jump many times into chains that jump many times multiply; a real ruleset is far
        // below this bound, a hostile one stops here.
        if out.len() >= MAX_FLAT_RULES {
            break;
        }
        let mut rule = match via {
            Some(j) => Cow::Owned(narrow(r, j)),
            None => Cow::Borrowed(r),
        };
        if after_return
            && (rule.catch_all() || matches!(rule.verdict, Verdict::Drop | Verdict::Reject))
        {
            rule.to_mut().other_match = true;
        }
        // Whether a RETURN is unconditional or partial is a matter of its own matches, not of the jump's.
        if r.verdict == Verdict::Return && stack.len() > 1 {
            if r.catch_all() {
                break;
            }
            // Returning trusted sources or interfaces leaves every attacker's packet on the path, so what
            // follows still holds for the world; returning by destination type, port or protocol
            // (ufw's `--dst-type LOCAL -j RETURN`) leaves only some of them.
            if r.other_match
                || !r.protos.is_empty()
                || r.dports.as_ref().is_none_or(|d| !d.is_empty())
                || r.ct_other
                || r.rate_limited
            {
                after_return = true;
            }
        }
        // Looked up through `r`, which lives as long as the chains, not through the narrowed copy.
        let target: Option<&'a Chain> = match &r.verdict {
            Verdict::Jump(t) | Verdict::Goto(t) => {
                chains.get(&(chain.table.as_str(), t.as_str())).copied()
            }
            _ => None,
        };
        match target {
            Some(target) => {
                let jump = rule.clone().into_owned();
                out.push(rule);
                let narrowing = (!jump.catch_all()).then_some(&jump);
                flatten(chains, target, narrowing.or(via), out, stack);
            }
            None => out.push(rule),
        }
    }
    stack.pop();
}

/// `r` as reached through the jump rule `j`: it matches only what both match.
fn narrow(r: &FwRule, j: &FwRule) -> FwRule {
    let mut n = r.clone();
    // A bare verdict in a shared chain (ufw's `-A ufw-user-limit-accept -j ACCEPT`) says nothing of its
    // own: what it accepts, and where to change that, is the jump.
    if r.catch_all() {
        n.loc = j.loc;
    }
    if n.protos.is_empty() {
        n.protos.clone_from(&j.protos);
    }
    n.dports = match (&r.dports, &j.dports) {
        (None, _) | (_, None) => None,
        (Some(a), Some(b)) if b.is_empty() => Some(a.clone()),
        (Some(a), Some(b)) if a.is_empty() => Some(b.clone()),
        (Some(a), Some(b)) => {
            let both: Vec<(u16, u16)> = a
                .iter()
                .flat_map(|(lo, hi)| {
                    b.iter()
                        .map(move |(c, d)| ((*lo).max(*c), (*hi).min(*d)))
                        .filter(|(x, y)| x <= y)
                })
                .collect();
            if both.is_empty() {
                // Nothing reaches this rule; a port no check looks at keeps it out of every finding.
                n.other_match = true;
            }
            Some(both)
        }
    };
    n.src_restricted |= j.src_restricted;
    n.iif_restricted |= j.iif_restricted;
    n.ct_established |= j.ct_established;
    n.ct_other |= j.ct_other;
    n.rate_limited |= j.rate_limited;
    n.other_match |= j.other_match;
    if n.ban.is_none() {
        n.ban.clone_from(&j.ban);
    }
    n
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
        flatten(&chains, chain, None, &mut rules, &mut Vec::new());
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

/// A ufw installation: its input paths like any ruleset, in ufw's words where it has its own settings.
pub(crate) fn run_ufw(ufw: &Ufw, sink: &mut Sink) {
    if let Some(loc) = ufw.disabled {
        sink.push(
            &FW_NO_DEFAULT_DROP,
            loc,
            "ufw is disabled (ENABLED=no in ufw.conf): none of its rules are loaded at boot, so input is accepted unless another firewall filters it",
        );
    }
    let mut found = Sink::default();
    run(&ufw.ruleset, &mut found);
    for mut f in found.findings {
        if f.rule.id == FW_NO_DEFAULT_DROP.id
            && let Some((loc, policy)) = &ufw.policy
            && f.loc == *loc
        {
            f.message = format!(
                "ufw's DEFAULT_INPUT_POLICY is {policy}: every port no rule denies is accepted from any source (set it to DROP in /etc/default/ufw, or run `ufw default deny incoming`)"
            );
        }
        sink.findings.push(f);
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

#[cfg(test)]
mod tests {
    use crate::{NoIncludes, Options, SourceFile, audit};

    fn found(rules: &str) -> Vec<(String, u32)> {
        let text = format!("*filter\n{rules}COMMIT\n");
        let r = audit(
            vec![SourceFile::new("rules.v4", text)],
            &mut NoIncludes,
            &Options::default(),
        );
        assert!(r.unread.is_empty(), "{:?}", r.unread);
        r.findings
            .iter()
            .map(|f| (f.rule.id.to_owned(), f.loc.line))
            .collect()
    }

    #[test]
    fn a_chain_reached_by_a_restricted_jump_is_restricted_too() {
        // The trusted chain's bare ACCEPT takes only 10/8, not everything.
        let got = found(
            ":INPUT DROP [0:0]\n:trusted - [0:0]\n-A INPUT -s 10.0.0.0/8 -j trusted\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A trusted -j ACCEPT\n",
        );
        assert_eq!(got, vec![("fw-exposed-service".to_owned(), 5)]);
    }

    #[test]
    fn a_bare_accept_behind_a_port_jump_is_reported_at_the_jump() {
        let got = found(
            ":INPUT DROP [0:0]\n:acc - [0:0]\n-A INPUT -p tcp --dport 8021 -j acc\n-A acc -j ACCEPT\n",
        );
        assert_eq!(got, vec![("fw-exposed-service".to_owned(), 4)]);
    }

    #[test]
    fn a_drop_after_a_partial_return_does_not_end_the_path() {
        // Like ufw-not-local: only non-local packets are dropped, so the SSH accept after it matters.
        let got = found(
            ":INPUT ACCEPT [0:0]\n:not-local - [0:0]\n-A INPUT -j not-local\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A not-local -m addrtype --dst-type LOCAL -j RETURN\n-A not-local -j DROP\n",
        );
        assert_eq!(
            got,
            vec![
                ("fw-no-default-drop".to_owned(), 2),
                ("fw-exposed-service".to_owned(), 5)
            ]
        );
        // Reached through a port jump, a RETURN of trusted sources still leaves the drop closing that port.
        let got = found(
            ":INPUT ACCEPT [0:0]\n:ssh - [0:0]\n-A INPUT -p tcp --dport 22 -j ssh\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -j DROP\n-A ssh -s 10.0.0.0/8 -j RETURN\n-A ssh -j DROP\n",
        );
        assert_eq!(got, Vec::<(String, u32)>::new());
        // Returning trusted sources and dropping the rest is a default drop for everyone else.
        let got = found(
            ":INPUT ACCEPT [0:0]\n:allow - [0:0]\n-A INPUT -j allow\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A allow -s 10.0.0.0/8 -j RETURN\n-A allow -j DROP\n",
        );
        assert_eq!(got, Vec::<(String, u32)>::new());
    }
}
