//! Firewall rulesets as the checks see them, and readers for `iptables-save` and `nft list ruleset`
//! output (the JSON form is in [`super::nftjson`]).
//!
//! Only what the checks need is kept per rule: protocol, destination ports, whether the source is
//! restricted, the input interface, conntrack state, rate limiting, ban-set matches and the verdict.
//! Matches the reader does not know are kept as "other" so a rule is never mistaken for a catch-all.

use std::collections::HashMap;

use crate::model::{FileId, Loc};
use crate::sources::Sources;

/// Where a chain is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// Local input: what the checks look at.
    Input,
    /// Any other hook, or a chain reached only by jumps.
    Other,
}

/// What a rule does with a matching packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accept.
    Accept,
    /// Drop.
    Drop,
    /// Reject (counts as drop for the checks).
    Reject,
    /// Jump to a chain and come back.
    Jump(String),
    /// Go to a chain and not come back.
    Goto(String),
    /// Return to the calling chain.
    Return,
    /// Hand to a user-space queue (an inline inspector decides).
    Queue,
    /// No verdict (counter, log, set update…).
    None,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwRule {
    /// Where the rule is written.
    pub loc: Loc,
    /// Protocols matched (`tcp`, `udp`); empty means any.
    pub protos: Vec<String>,
    /// Destination port ranges matched; empty means any. `None` when ports come from a named set.
    pub dports: Option<Vec<(u16, u16)>>,
    /// The source address is restricted (a prefix, an address, an allow-list set).
    pub src_restricted: bool,
    /// The input interface is restricted (`-i lo`, `iifname "lan0"`).
    pub iif_restricted: bool,
    /// Matches only established/related packets.
    pub ct_established: bool,
    /// Matches some conntrack state other than established/related (new, invalid).
    pub ct_other: bool,
    /// Carries a rate limit (limit, hashlimit, recent, meter).
    pub rate_limited: bool,
    /// Matches the source against a set of banned addresses (name of the set or chain).
    pub ban: Option<String>,
    /// Has other matches the reader does not model.
    pub other_match: bool,
    /// The verdict.
    pub verdict: Verdict,
}

impl FwRule {
    pub(crate) fn new(loc: Loc) -> Self {
        Self {
            loc,
            protos: Vec::new(),
            dports: Some(Vec::new()),
            src_restricted: false,
            iif_restricted: false,
            ct_established: false,
            ct_other: false,
            rate_limited: false,
            ban: None,
            other_match: false,
            verdict: Verdict::None,
        }
    }

    /// Whether the rule matches every packet (no match at all).
    pub fn catch_all(&self) -> bool {
        self.protos.is_empty()
            && self.dports.as_ref().is_some_and(Vec::is_empty)
            && !self.src_restricted
            && !self.iif_restricted
            && !self.ct_established
            && !self.ct_other
            && !self.rate_limited
            && self.ban.is_none()
            && !self.other_match
    }

    /// Whether the rule's destination ports include `port` (any port when it matches none).
    pub fn covers(&self, port: u16) -> bool {
        match &self.dports {
            Some(p) if p.is_empty() => true,
            Some(p) => p.iter().any(|(a, b)| (*a..=*b).contains(&port)),
            None => false,
        }
    }
}

/// A chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Table it belongs to (`filter`, `inet filter`).
    pub table: String,
    /// Chain name.
    pub name: String,
    /// Hook.
    pub hook: Hook,
    /// Policy of a base chain: `Some(true)` accept, `Some(false)` drop; `None` when not a base chain.
    pub policy_accept: Option<bool>,
    /// Where the chain (or its policy) is declared.
    pub loc: Loc,
    /// Rules in order.
    pub rules: Vec<FwRule>,
}

/// A whole ruleset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Chains in order.
    pub chains: Vec<Chain>,
    /// The file it came from.
    pub files: Vec<FileId>,
}

/// Well-known service names `nft` and `iptables-save` print instead of numbers.
pub(crate) fn service_port(name: &str) -> Option<u16> {
    Some(match name.to_ascii_lowercase().as_str() {
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "domain" => 53,
        "tftp" => 69,
        "http" | "www" | "www-http" => 80,
        "https" => 443,
        "sip" => 5060,
        "sip-tls" | "sips" => 5061,
        "http-alt" | "webcache" => 8080,
        _ => return None,
    })
}

fn parse_port(s: &str) -> Option<u16> {
    let s = s.trim().trim_matches('"');
    s.parse().ok().or_else(|| service_port(s))
}

/// Parses `22`, `1000:2000`, `1000-2000`, `ssh`.
pub(crate) fn parse_range(s: &str) -> Option<(u16, u16)> {
    let s = s.trim();
    if let Some(p) = parse_port(s) {
        return Some((p, p));
    }
    let (a, b) = s.split_once(':').or_else(|| s.split_once('-'))?;
    let a = if a.is_empty() { 0 } else { parse_port(a)? };
    let b = if b.is_empty() {
        u16::MAX
    } else {
        parse_port(b)?
    };
    Some((a, b))
}

/// Whether a set or chain name looks like a ban list (fail2ban chains, `banned`, `blacklist`, …).
pub(crate) fn ban_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    // ufw's `ufw-logging-deny` only logs what its callers drop.
    if n.ends_with("-logging-deny") {
        return false;
    }
    n.starts_with("f2b-")
        || n.starts_with("fail2ban")
        || ["ban", "black", "block", "deny", "attack", "drop"]
            .iter()
            .any(|w| n.contains(w))
}

fn is_any_address(s: &str) -> bool {
    matches!(s.trim(), "0.0.0.0/0" | "0/0" | "::/0" | "0.0.0.0/0.0.0.0")
}

/// Whether the text looks like `iptables-save` / `ip6tables-save` output.
pub(crate) fn sniff_iptables(text: &str) -> bool {
    text.lines().take(30).any(|l| {
        let l = l.trim_start();
        l.starts_with("*filter")
            || l.starts_with("*nat")
            || l.starts_with("*raw")
            || l.starts_with("*mangle")
            || l.starts_with("-A ")
            || l.starts_with(":INPUT")
            || command_rest(l)
                .is_some_and(|(_, r)| r.contains("-A ") || r.contains("-I ") || r.contains("-P "))
    })
}

/// For a shell command line `[sudo] iptables [-t TABLE] …`, the arguments after the program and the table
/// named by `-t`.
fn command_rest(line: &str) -> Option<(Option<&str>, &str)> {
    let l = line.trim_start();
    let l = l.strip_prefix("sudo ").unwrap_or(l).trim_start();
    let (prog, rest) = l.split_once(char::is_whitespace)?;
    let prog = prog.rsplit('/').next().unwrap_or(prog);
    if !matches!(
        prog,
        "iptables"
            | "ip6tables"
            | "iptables-legacy"
            | "iptables-nft"
            | "ip6tables-legacy"
            | "ip6tables-nft"
    ) {
        return None;
    }
    let rest = rest.trim_start();
    for flag in ["-t ", "--table "] {
        if let Some(after) = rest.strip_prefix(flag) {
            let (table, rest) = after
                .trim_start()
                .split_once(char::is_whitespace)
                .unwrap_or((after.trim(), ""));
            return Some((Some(table), rest.trim_start()));
        }
    }
    Some((None, rest))
}

/// Whether the text looks like `nft list ruleset` output.
pub(crate) fn sniff_nft(text: &str) -> bool {
    text.lines()
        .take(30)
        .any(|l| l.trim_start().starts_with("table ") && l.trim_end().ends_with('{'))
}

/// Splits a command line into words, honouring double and single quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Reads `iptables-save` output.
pub(crate) fn read_iptables(sources: &mut Sources<'_>, id: FileId) -> Ruleset {
    let text = sources.text(id);
    let mut rs = Ruleset {
        chains: Vec::new(),
        files: vec![id],
    };
    let mut table = String::new();
    let mut index = ChainIndex::new();
    // A shell script of `iptables …` commands rather than `iptables-save` output: other shell lines
    // (`modprobe`, `echo`) are not firewall rules and are passed over.
    let script = text.lines().any(|l| command_rest(l).is_some());
    for (n, raw) in text.lines().enumerate() {
        let loc = Loc::line(id, u32::try_from(n + 1).unwrap_or(u32::MAX));
        let mut line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line == "COMMIT" {
            continue;
        }
        if script {
            match command_rest(line) {
                Some((t, rest)) => {
                    table = t.unwrap_or("filter").to_owned();
                    line = rest;
                }
                None => continue,
            }
        }
        if line.starts_with("-F") || line.starts_with("--flush") {
            let name = line.split_whitespace().nth(1);
            for c in rs
                .chains
                .iter_mut()
                .filter(|c| c.table == table && name.is_none_or(|n| n == c.name))
            {
                c.rules.clear();
            }
            continue;
        }
        if line.starts_with("-X")
            || line.starts_with("-Z")
            || line.starts_with("--delete-chain")
            || line.starts_with("--zero")
        {
            continue;
        }
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim().to_owned();
        } else if let Some(decl) = line.strip_prefix(':') {
            let mut it = decl.split_whitespace();
            let name = it.next().unwrap_or("").to_owned();
            let policy = it.next().unwrap_or("-");
            let base = policy != "-";
            let hook = if table == "filter" && name == "INPUT" {
                Hook::Input
            } else {
                Hook::Other
            };
            let policy_accept = base.then(|| policy.eq_ignore_ascii_case("ACCEPT"));
            if let Some(c) = chain_mut(&mut rs, &mut index, &table, &name, loc) {
                c.hook = hook;
                c.policy_accept = policy_accept;
                c.loc = loc;
            }
        } else if line.starts_with("-A ")
            || line.starts_with("-I ")
            || line.starts_with("--append ")
        {
            let w = words(line);
            let chain = w.get(1).cloned().unwrap_or_default();
            let rule = iptables_rule(&w, loc, sources);
            let insert = line.starts_with("-I ");
            if let Some(c) = chain_mut(&mut rs, &mut index, &table, &chain, loc) {
                if insert {
                    c.rules.insert(0, rule);
                } else {
                    c.rules.push(rule);
                }
            }
        } else if line.starts_with("-P ") || line.starts_with("-N ") {
            // Command form (`iptables -P INPUT DROP` scripts without the `iptables`).
            let w = words(line);
            let name = w.get(1).cloned().unwrap_or_default();
            let hook = if name == "INPUT" {
                Hook::Input
            } else {
                Hook::Other
            };
            let table = if table.is_empty() { "filter" } else { &table };
            if let Some(c) = chain_mut(&mut rs, &mut index, table, &name, loc) {
                c.hook = hook;
                if line.starts_with("-P ") {
                    c.policy_accept =
                        Some(w.get(2).is_some_and(|p| p.eq_ignore_ascii_case("ACCEPT")));
                    c.loc = loc;
                }
            }
        } else {
            sources.unread(
                loc,
                format!("cannot read iptables line `{}`", super::conf::shorten(line)),
            );
        }
    }
    rs
}

/// Chain index by (table, name), so each rule line finds its chain in constant time.
type ChainIndex = HashMap<(String, String), usize>;

fn chain_mut<'a>(
    rs: &'a mut Ruleset,
    index: &mut ChainIndex,
    table: &str,
    name: &str,
    loc: Loc,
) -> Option<&'a mut Chain> {
    let pos = match index.get(&(table.to_owned(), name.to_owned())) {
        Some(p) => *p,
        None => {
            let hook = if table == "filter" && name == "INPUT" {
                Hook::Input
            } else {
                Hook::Other
            };
            let policy_accept = (hook == Hook::Input).then_some(true);
            rs.chains.push(Chain {
                table: table.to_owned(),
                name: name.to_owned(),
                hook,
                policy_accept,
                loc,
                rules: Vec::new(),
            });
            index.insert((table.to_owned(), name.to_owned()), rs.chains.len() - 1);
            rs.chains.len() - 1
        }
    };
    rs.chains.get_mut(pos)
}

fn iptables_rule(w: &[String], loc: Loc, sources: &mut Sources<'_>) -> FwRule {
    let mut r = FwRule::new(loc);
    let mut i = 2;
    let mut negate = false;
    let mut module = String::new();
    let mut set_name: Option<String> = None;
    let mut ports = Vec::new();
    while let Some(opt) = w.get(i) {
        let arg = w.get(i + 1).map(String::as_str).unwrap_or("");
        let mut used = 2;
        match opt.as_str() {
            "!" => {
                negate = true;
                i += 1;
                continue;
            }
            "-s" | "--source" | "--src-range" => {
                if !negate && !is_any_address(arg) {
                    r.src_restricted = true;
                }
            }
            "-d" | "--destination" => r.other_match = true,
            "-p" | "--protocol" => {
                if negate || arg == "all" {
                    r.other_match |= negate;
                } else {
                    r.protos.push(arg.to_ascii_lowercase());
                }
            }
            "-i" | "--in-interface" => {
                if !negate {
                    r.iif_restricted = true;
                }
            }
            "-o" | "--out-interface" => r.other_match = true,
            "-m" | "--match" => {
                module = arg.to_owned();
                if matches!(arg, "limit" | "hashlimit" | "recent" | "connlimit") {
                    r.rate_limited = true;
                }
            }
            "--dport" | "--destination-port" | "--dports" | "--destination-ports" => {
                if negate {
                    r.other_match = true;
                } else {
                    for p in arg.split(',') {
                        match parse_range(p) {
                            Some(rg) => ports.push(rg),
                            None => sources.unread(loc, format!("cannot read port `{p}`")),
                        }
                    }
                }
            }
            "--state" | "--ctstate" => {
                let states: Vec<String> = arg.split(',').map(|s| s.to_ascii_uppercase()).collect();
                if states.iter().all(|s| s == "ESTABLISHED" || s == "RELATED") && !negate {
                    r.ct_established = true;
                } else {
                    r.ct_other = true;
                }
            }
            "--match-set" => {
                let name = arg.to_owned();
                let dir = w.get(i + 2).map(String::as_str).unwrap_or("");
                used = 3;
                if dir.starts_with("src") && !negate {
                    set_name = Some(name);
                } else {
                    r.other_match = true;
                }
            }
            "-j" | "--jump" => {
                r.verdict = match arg {
                    "ACCEPT" => Verdict::Accept,
                    "DROP" => Verdict::Drop,
                    "REJECT" | "TARPIT" => Verdict::Reject,
                    "RETURN" => Verdict::Return,
                    "NFQUEUE" | "QUEUE" => Verdict::Queue,
                    "LOG" | "NFLOG" | "MARK" | "CONNMARK" | "DSCP" | "CT" | "NOTRACK" | "SET"
                    | "TOS" | "ULOG" => Verdict::None,
                    other => Verdict::Jump(other.to_owned()),
                };
            }
            "-g" | "--goto" => r.verdict = Verdict::Goto(arg.to_owned()),
            "--comment" | "-c" | "--set-counters" => {}
            "--log-prefix"
            | "--log-level"
            | "--reject-with"
            | "--queue-num"
            | "--queue-balance"
            | "--set-dscp"
            | "--set-dscp-class"
            | "--limit"
            | "--limit-burst"
            | "--hashlimit"
            | "--hashlimit-upto"
            | "--hashlimit-above"
            | "--hashlimit-burst"
            | "--hashlimit-mode"
            | "--hashlimit-name"
            | "--hashlimit-htable-expire"
            | "--seconds"
            | "--hitcount"
            | "--name"
            | "--mask"
            | "--connlimit-above"
            | "--sport"
            | "--source-port"
            | "--sports"
            | "--icmp-type"
            | "--tcp-flags"
            | "--uid-owner" => {
                if matches!(
                    opt.as_str(),
                    "--sport" | "--source-port" | "--sports" | "--icmp-type" | "--tcp-flags"
                ) {
                    r.other_match = true;
                }
                if opt == "--tcp-flags" {
                    used = 3;
                }
            }
            "--syn" | "--update" | "--rcheck" | "--set" | "--remove" | "--rsource" | "--rttl"
            | "--queue-bypass" | "--log-uid" | "--reap" => used = 1,
            "--string" | "--algo" | "--to" | "--from" | "--hex-string" => {
                r.other_match = true;
            }
            other if other.starts_with('-') => {
                if !module.is_empty()
                    && !matches!(
                        module.as_str(),
                        "tcp" | "udp" | "multiport" | "comment" | "state" | "conntrack"
                    )
                {
                    r.other_match = true;
                }
            }
            _ => used = 1,
        }
        negate = false;
        i += used;
    }
    if !ports.is_empty() {
        r.dports = Some(ports);
    }
    if let Some(set) = set_name {
        if matches!(r.verdict, Verdict::Drop | Verdict::Reject) || ban_name(&set) {
            r.ban = Some(set);
        } else {
            r.src_restricted = true;
        }
    }
    if let Verdict::Jump(t) | Verdict::Goto(t) = &r.verdict
        && ban_name(t)
        && r.ban.is_none()
    {
        r.ban = Some(t.clone());
    }
    r
}

/// Reads `nft list ruleset` output.
pub(crate) fn read_nft(sources: &mut Sources<'_>, id: FileId) -> Ruleset {
    let text = sources.text(id);
    let mut rs = Ruleset {
        chains: Vec::new(),
        files: vec![id],
    };
    let mut table = String::new();
    let mut chain: Option<usize> = None;
    // What each open brace belongs to.
    let mut braces: Vec<&'static str> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let loc = Loc::line(id, u32::try_from(n + 1).unwrap_or(u32::MAX));
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let inside = braces.last().copied();
        if line == "}" {
            if braces.pop() == Some("chain") {
                chain = None;
            }
            continue;
        }
        if inside.is_some_and(|b| b == "skip") {
            balance(&mut braces, &mut chain, line);
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        match (inside, w.first().copied()) {
            (None, Some("table")) => {
                table = w
                    .get(1..w.len().saturating_sub(1))
                    .map(|x| x.join(" "))
                    .unwrap_or_default();
                braces.push("table");
            }
            (Some("table"), Some("chain")) => {
                let name = w.get(1).copied().unwrap_or("").to_owned();
                rs.chains.push(Chain {
                    table: table.clone(),
                    name,
                    hook: Hook::Other,
                    policy_accept: None,
                    loc,
                    rules: Vec::new(),
                });
                chain = Some(rs.chains.len() - 1);
                braces.push("chain");
            }
            (
                Some("table"),
                Some(
                    "set" | "map" | "flowtable" | "counter" | "quota" | "ct" | "limit" | "secmark"
                    | "synproxy",
                ),
            ) => {
                braces.extend(std::iter::repeat_n("skip", open_braces(line)));
            }
            (Some("chain"), Some("type")) => {
                if let Some(c) = chain.and_then(|i| rs.chains.get_mut(i)) {
                    let hook = w
                        .iter()
                        .position(|x| *x == "hook")
                        .and_then(|p| w.get(p + 1))
                        .copied()
                        .unwrap_or("");
                    c.hook = if hook == "input" && line.contains("filter") {
                        Hook::Input
                    } else {
                        Hook::Other
                    };
                    let policy = line
                        .split("policy")
                        .nth(1)
                        .map(|p| p.trim().trim_end_matches(';').trim().to_owned());
                    c.policy_accept = Some(policy.is_none_or(|p| p != "drop"));
                    c.loc = loc;
                }
            }
            (Some("chain"), Some("policy")) => {
                if let Some(c) = chain.and_then(|i| rs.chains.get_mut(i)) {
                    c.policy_accept = Some(!line.contains("drop"));
                    c.loc = loc;
                }
            }
            (Some("chain"), Some(_)) => {
                // A rule continues on the next lines while a `{` is open or the line ends with `\`
                // (an anonymous set written over several lines); it is located at its first line.
                let mut joined = line.trim_end_matches('\\').to_owned();
                let mut depth = net_braces(line);
                let mut backslash = line.ends_with('\\');
                while depth > 0 || backslash {
                    let Some((_, more)) = lines.next() else { break };
                    let more = more.split('#').next().unwrap_or("").trim();
                    backslash = more.ends_with('\\');
                    depth += net_braces(more);
                    joined.push(' ');
                    joined.push_str(more.trim_end_matches('\\'));
                }
                let rule = nft_rule(&joined, loc);
                if let Some(c) = chain.and_then(|i| rs.chains.get_mut(i)) {
                    c.rules.push(rule);
                }
            }
            _ => {
                sources.unread(
                    loc,
                    format!("cannot read nft line `{}`", super::conf::shorten(line)),
                );
                balance(&mut braces, &mut chain, line);
            }
        }
    }
    if !braces.is_empty() {
        let last = u32::try_from(text.lines().count().max(1)).unwrap_or(u32::MAX);
        sources.unread(Loc::line(id, last), "ruleset ends inside an open `{`");
    }
    rs
}

/// Net number of `{` opened (positive) or closed (negative) on a line.
fn net_braces(line: &str) -> isize {
    let o = isize::try_from(line.matches('{').count()).unwrap_or(isize::MAX);
    let c = isize::try_from(line.matches('}').count()).unwrap_or(isize::MAX);
    o - c
}

/// Net number of `{` left open on a line (never negative).
fn open_braces(line: &str) -> usize {
    usize::try_from(net_braces(line)).unwrap_or(0)
}

/// Applies a line's braces to the stack of open blocks: new ones are skipped blocks; closing the chain
/// block ends the chain.
fn balance(braces: &mut Vec<&'static str>, chain: &mut Option<usize>, line: &str) {
    let net = net_braces(line);
    if net > 0 {
        braces.extend(std::iter::repeat_n("skip", net.unsigned_abs()));
    }
    for _ in 0..(-net).max(0) {
        if braces.pop() == Some("chain") {
            *chain = None;
        }
    }
}

/// Reads one rule line of `nft list ruleset`.
fn nft_rule(line: &str, loc: Loc) -> FwRule {
    let mut r = FwRule::new(loc);
    let toks = nft_tokens(line);
    let mut i = 0;
    let mut ports = Vec::new();
    let mut dport_unknown = false;
    let mut saw_over = false;
    while let Some(t) = toks.get(i) {
        let next = toks.get(i + 1).map(String::as_str).unwrap_or("");
        let (op_neg, value) = if next == "!=" {
            (true, toks.get(i + 2).map(String::as_str).unwrap_or(""))
        } else {
            (false, next)
        };
        let step = if next == "!=" || next == "==" { 3 } else { 2 };
        let value = if next == "==" {
            toks.get(i + 2).map(String::as_str).unwrap_or("")
        } else {
            value
        };
        match t.as_str() {
            "tcp" | "udp" | "sctp" | "th" if matches!(next, "dport" | "sport" | "flags") => {
                if t != "th" {
                    r.protos.push(t.clone());
                }
                i += 1;
                continue;
            }
            "dport" => {
                if op_neg {
                    r.other_match = true;
                } else if value.starts_with('@') {
                    dport_unknown = true;
                } else {
                    for p in set_items(value) {
                        match parse_range(&p) {
                            Some(rg) => ports.push(rg),
                            None => dport_unknown = true,
                        }
                    }
                }
                i += step;
                continue;
            }
            "sport" | "flags" | "daddr" | "oif" | "oifname" | "mark" | "type" | "length"
            | "version" => {
                r.other_match = true;
                i += step;
                continue;
            }
            "l4proto" | "protocol" | "nexthdr" => {
                if op_neg {
                    r.other_match = true;
                } else {
                    r.protos.extend(
                        set_items(value)
                            .into_iter()
                            .filter(|p| p == "tcp" || p == "udp"),
                    );
                }
                i += step;
                continue;
            }
            "saddr" => {
                if let Some(set) = value.strip_prefix('@') {
                    if !op_neg && ban_name(set) {
                        r.ban = Some(set.to_owned());
                    } else if !op_neg {
                        r.src_restricted = true;
                    } else {
                        r.other_match = true;
                    }
                } else if !op_neg && !is_any_address(value) {
                    r.src_restricted = true;
                }
                i += step;
                continue;
            }
            "iif" | "iifname" => {
                if !op_neg {
                    r.iif_restricted = true;
                }
                i += step;
                continue;
            }
            "state" if toks.get(i.wrapping_sub(1)).is_some_and(|p| p == "ct") => {
                let items = set_items(value);
                if !op_neg
                    && !items.is_empty()
                    && items.iter().all(|s| s == "established" || s == "related")
                {
                    r.ct_established = true;
                } else {
                    r.ct_other = true;
                }
                i += step;
                continue;
            }
            "limit" | "meter" => r.rate_limited = true,
            "over" => saw_over = true,
            "accept" => r.verdict = Verdict::Accept,
            "drop" => r.verdict = Verdict::Drop,
            "reject" => r.verdict = Verdict::Reject,
            "return" => r.verdict = Verdict::Return,
            "queue" => r.verdict = Verdict::Queue,
            "jump" => r.verdict = Verdict::Jump(next.to_owned()),
            "goto" => r.verdict = Verdict::Goto(next.to_owned()),
            "fib" | "socket" | "rt" | "exthdr" | "icmp" | "icmpv6" => r.other_match = true,
            _ => {}
        }
        i += 1;
    }
    let _ = saw_over;
    r.dports = if dport_unknown { None } else { Some(ports) };
    if let Verdict::Jump(t) | Verdict::Goto(t) = &r.verdict
        && ban_name(t)
        && r.ban.is_none()
    {
        r.ban = Some(t.clone());
    }
    r
}

/// Tokens of an nft rule, with `{ … }` groups kept as one token.
fn nft_tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut cur = String::new();
    for c in line.chars() {
        match c {
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            c if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Items of `{ a, b }` or a single value (`a,b` too).
fn set_items(v: &str) -> Vec<String> {
    v.trim_matches(|c| c == '{' || c == '}')
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceFile;
    use crate::sources::NoIncludes;

    #[test]
    fn iptables_save_rules_and_policies() {
        let text = "*filter\n:INPUT ACCEPT [0:0]\n:f2b-sip - [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -p udp -m multiport --dports 5060,10000:20000 -j ACCEPT\n-A INPUT -s 10.0.0.0/8 -p tcp --dport 22 -j ACCEPT\n-A INPUT -m set --match-set blacklist src -j DROP\n-A INPUT -p udp --dport 5060 -j f2b-sip\nCOMMIT\n";
        let mut r = NoIncludes;
        let mut s = Sources::new(&mut r);
        let id = s.add(SourceFile::new("rules.v4", text));
        let rs = read_iptables(&mut s, id);
        let input = rs.chains.iter().find(|c| c.name == "INPUT").unwrap();
        assert_eq!(
            (input.policy_accept, input.loc.line, input.hook),
            (Some(true), 2, Hook::Input)
        );
        assert!(input.rules[0].iif_restricted);
        assert!(input.rules[1].ct_established);
        assert_eq!(
            input.rules[2].dports,
            Some(vec![(5060, 5060), (10000, 20000)])
        );
        assert!(input.rules[3].src_restricted);
        assert_eq!(input.rules[4].ban.as_deref(), Some("blacklist"));
        assert_eq!(input.rules[5].ban.as_deref(), Some("f2b-sip"));
        assert_eq!(input.rules[5].loc.line, 9);
    }

    #[test]
    fn iptables_shell_scripts_are_read_as_commands() {
        let text = "#!/bin/sh\nmodprobe nf_conntrack\niptables -F\niptables -P INPUT DROP\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\niptables -I INPUT -j DROP -p udp --dport 5060 -m string --string \"friendly-scanner\" --algo bm\n/sbin/iptables -t nat -A PREROUTING -p udp --dport 5060 -j DNAT --to-destination 10.0.0.2\n";
        assert!(sniff_iptables(text));
        let mut r = NoIncludes;
        let mut s = Sources::new(&mut r);
        let id = s.add(SourceFile::new("firewall.sh", text));
        let rs = read_iptables(&mut s, id);
        let (_, _, unread) = s.into_parts();
        assert!(unread.is_empty(), "{unread:?}");
        let input = rs
            .chains
            .iter()
            .find(|c| c.name == "INPUT" && c.table == "filter")
            .unwrap();
        assert_eq!((input.policy_accept, input.loc.line), (Some(false), 4));
        // -I put the scanner drop first.
        assert_eq!(input.rules[0].loc.line, 6);
        assert_eq!(input.rules[1].loc.line, 5);
        assert!(
            rs.chains
                .iter()
                .any(|c| c.table == "nat" && c.name == "PREROUTING")
        );
    }

    #[test]
    fn nft_rules_continued_over_lines_and_multi_line_sets() {
        let text = "table ip t {\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 192.0.2.1,\n\t\t\t     192.0.2.2 }\n\t}\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t\ttcp dport { 22,\n\t\t\t8021 } accept\n\t\tudp dport 69 \\\n\t\t\taccept\n\t}\n}\n";
        let mut r = NoIncludes;
        let mut s = Sources::new(&mut r);
        let id = s.add(SourceFile::new("t.nft", text));
        let rs = read_nft(&mut s, id);
        let (_, _, unread) = s.into_parts();
        assert!(unread.is_empty(), "{unread:?}");
        let c = &rs.chains[0];
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.rules[0].dports, Some(vec![(22, 22), (8021, 8021)]));
        assert_eq!(c.rules[0].loc.line, 9);
        assert_eq!(
            (c.rules[1].verdict.clone(), c.rules[1].loc.line),
            (Verdict::Accept, 11)
        );
    }

    #[test]
    fn nft_text_rules_and_policies() {
        let text = "table inet filter {\n\tset banned {\n\t\ttype ipv4_addr\n\t\tflags timeout\n\t}\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tct state established,related accept\n\t\tip saddr @banned drop\n\t\ttcp dport { ssh, 8021 } accept\n\t\tudp dport 5060 limit rate 10/second accept\n\t\tip saddr 192.0.2.0/24 tcp dport 5038 accept\n\t}\n}\n";
        let mut r = NoIncludes;
        let mut s = Sources::new(&mut r);
        let id = s.add(SourceFile::new("ruleset.nft", text));
        let rs = read_nft(&mut s, id);
        let (_, _, unread) = s.into_parts();
        assert!(unread.is_empty(), "{unread:?}");
        let c = &rs.chains[0];
        assert_eq!(
            (c.hook, c.policy_accept, c.loc.line),
            (Hook::Input, Some(true), 7)
        );
        assert!(c.rules[0].ct_established);
        assert_eq!(c.rules[1].ban.as_deref(), Some("banned"));
        assert_eq!(c.rules[2].dports, Some(vec![(22, 22), (8021, 8021)]));
        assert_eq!(c.rules[2].protos, vec!["tcp".to_owned()]);
        assert!(c.rules[3].rate_limited);
        assert!(c.rules[4].src_restricted);
        assert_eq!(c.rules[4].loc.line, 12);
    }
}
