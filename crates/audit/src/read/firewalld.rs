//! firewalld's permanent configuration (`/etc/firewalld`): zone files (`zones/NAME.xml`), service
//! definitions (`services/NAME.xml`), policies (`policies/NAME.xml`) and `firewalld.conf`, turned into
//! the input path firewalld builds
//! from them, as a [`Ruleset`] the firewall checks walk like any other.
//!
//! The model follows firewalld's nftables backend (firewalld 1.x, `core/nftables.py`):
//!
//! - `filter_INPUT` accepts established/related traffic and loopback before any zone is consulted; that
//!   part is not in the files and is not modelled as a rule, but it is why a ban ipset in a zone only stops
//!   new flows ([`Firewalld::bans`]).
//! - Packets are dispatched to one zone: zones bound to sources first, then zones bound to interfaces,
//!   then the default zone (`DefaultZone=` in `firewalld.conf`, `public` without it), which takes every
//!   interface no zone names. The default zone therefore faces the world; a zone bound to sources is
//!   read as source-restricted (like `-s`), one bound to interfaces as interface-restricted (like `-i`).
//! - A zone that is not the default and names no interface or source filters nothing as far as the files
//!   show (NetworkManager or ifcfg `ZONE=` may bind an interface to it; such a binding names an interface
//!   and would be interface-restricted anyway), so it is not on the modelled path.
//! - Inside a zone the order is firewalld's: rich rules with a negative priority (lowest first), rich
//!   rules that drop or reject, then what the zone allows (services, ports, protocols, forward ports,
//!   accepting rich rules), rich rules with a positive priority, and last the zone's target: `default`,
//!   `REJECT`/`%%REJECT%%` reject, `DROP` drops, `ACCEPT` accepts everything left.
//! - A `<limit>` inside a rich rule's action rate-limits it; one inside `<log>` only limits logging.
//!   A rich rule's `<source invert="True">` matches every other source, so it is not a restriction.
//!   `<forward-port>` exposes the port it forwards (to this host or to `to-addr`), so it counts as an
//!   accept of the port the packet is delivered to.
//!
//! - Policies (`policies/*.xml`) whose egress zone is `HOST` filter traffic to this host: those with a
//!   negative priority before any zone, the others inside the zone just before its target. Their rules
//!   apply to what their ingress zones receive (`ANY` and the default zone: the world; a zone bound to
//!   sources or interfaces: restricted like it; an unbound zone: nothing); target `CONTINUE` (the default)
//!   lets the rest go on, `ACCEPT`, `DROP` and `REJECT` end the path for it.
//!
//! Services are looked up in the tree's `services/` first (a file there overrides or extends firewalld's
//! own), then in the definitions firewalld ships ([`super::firewalld_services`]). When the default zone
//! has no file in the tree, firewalld's built-in zone of that name is used and located at the
//! `DefaultZone=` line.

use std::collections::{BTreeMap, HashMap};

use super::firewall::{Chain, FwRule, Hook, Ruleset, Verdict, ban_name, parse_range};
use super::firewalld_services::BUILTIN_SERVICES;
use super::xml::{self, Element};
use crate::model::{FileId, Loc};
use crate::sources::Sources;

/// The zones firewalld ships (`/usr/lib/firewalld/zones`): name, target, services.
const BUILTIN_ZONES: &[(&str, &str, &[&str])] = &[
    ("block", "%%REJECT%%", &[]),
    ("dmz", "default", &["ssh"]),
    ("drop", "DROP", &[]),
    ("external", "default", &["ssh"]),
    (
        "home",
        "default",
        &["ssh", "mdns", "samba-client", "dhcpv6-client"],
    ),
    (
        "internal",
        "default",
        &["ssh", "mdns", "samba-client", "dhcpv6-client"],
    ),
    ("public", "default", &["ssh", "dhcpv6-client"]),
    ("trusted", "ACCEPT", &[]),
    ("work", "default", &["ssh", "dhcpv6-client"]),
];

/// How many services one `<service>` may pull in through `<include>`s, itself included (each of firewalld's
/// own reaches a dozen at most); the bound only stops hostile definitions.
const MAX_SERVICE_INCLUDES: usize = 64;

/// The files of one firewalld configuration directory.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tree {
    /// `zones/*.xml`.
    pub(crate) zones: Vec<FileId>,
    /// `services/*.xml`.
    pub(crate) services: Vec<FileId>,
    /// `policies/*.xml`.
    pub(crate) policies: Vec<FileId>,
    /// `firewalld.conf`.
    pub(crate) conf: Option<FileId>,
}

/// A source ipset that drops or rejects banned addresses inside a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// The `<source ipset=…>` element.
    pub loc: Loc,
    /// The ipset's name.
    pub set: String,
    /// The zone it is in.
    pub zone: String,
}

/// A firewalld configuration as the checks see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Firewalld {
    /// The input path: one base input chain holding the active zones' rules in dispatch order.
    pub ruleset: Ruleset,
    /// Ban ipsets in active zones: firewalld accepts established traffic before any of them.
    pub bans: Vec<Ban>,
    /// The default zone's name.
    pub default_zone: String,
}

/// The name of the document element (after the XML declaration, comments and DOCTYPE), if any.
pub(crate) fn root_element(text: &str) -> Option<&str> {
    let mut rest = text.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<?") {
            rest = r.split_once("?>")?.1;
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.split_once("-->")?.1;
        } else if let Some(r) = rest.strip_prefix("<!") {
            rest = r.split_once('>')?.1;
        } else {
            let r = rest.strip_prefix('<')?;
            let end = r
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(r.len());
            return r.get(..end).filter(|n| !n.is_empty());
        }
    }
}

/// The configuration directory a firewalld file belongs to: the parent of its `zones/` or `services/`
/// directory, else its own directory.
pub(crate) fn directory(path: &str) -> String {
    let p = path.replace('\\', "/");
    let dir = p.rsplit_once('/').map_or("", |(d, _)| d);
    let (parent, last) = dir.rsplit_once('/').unwrap_or(("", dir));
    if last == "zones" || last == "services" || last == "policies" {
        parent.to_owned()
    } else {
        dir.to_owned()
    }
}

/// A file's name without directory and `.xml`: firewalld names zones and services after their files.
fn stem(path: &str) -> String {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    name.strip_suffix(".xml").unwrap_or(name).to_owned()
}

/// One entry of a service: a port range of a protocol, or a whole protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Port(String, (u16, u16)),
    Protocol(String),
}

/// A service definition from the tree, kept as elements until it is used.
struct TreeService {
    ports: Vec<Entry>,
    includes: Vec<String>,
}

/// Where in a zone's chain a rule goes (firewalld's `pre`, `deny`, `allow`, `post` sub-chains).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Pre(i64),
    Deny,
    Allow,
    Post(i64),
}

struct Zone {
    name: String,
    target: String,
    target_loc: Loc,
    by_interface: bool,
    by_source: bool,
    rules: Vec<(Stage, FwRule)>,
    bans: Vec<Ban>,
    /// A `<source ipset=…>` binding whose set looks like a ban list.
    ban_sources: Vec<(Loc, String)>,
    /// A policy's `<ingress-zone>` names (empty for a zone).
    ingress: Vec<String>,
    /// A policy's `<egress-zone>` names (empty for a zone).
    egress: Vec<String>,
}

struct Ctx<'a, 's> {
    sources: &'a mut Sources<'s>,
    services: HashMap<String, TreeService>,
}

impl Ctx<'_, '_> {
    /// The ports of service `name` as rules located at `loc` (several protocols give several rules).
    fn service_rules(&mut self, name: &str, loc: Loc) -> Option<Vec<FwRule>> {
        let mut entries = Vec::new();
        if !self.expand(name, loc, &mut entries, &mut Vec::new()) {
            return None;
        }
        Some(entry_rules(&entries, loc))
    }

    fn expand(
        &mut self,
        name: &str,
        loc: Loc,
        out: &mut Vec<Entry>,
        seen: &mut Vec<String>,
    ) -> bool {
        if seen.iter().any(|s| s == name) {
            return true;
        }
        if seen.len() >= MAX_SERVICE_INCLUDES {
            self.sources.unread(
                loc,
                format!(
                    "more than {MAX_SERVICE_INCLUDES} services through <include>; `{}` not followed",
                    super::conf::shorten(name)
                ),
            );
            return true;
        }
        seen.push(name.to_owned());
        let includes = if let Some(s) = self.services.get(name) {
            out.extend(s.ports.iter().cloned());
            s.includes.clone()
        } else if let Some((_, spec)) = BUILTIN_SERVICES.iter().find(|(n, _)| *n == name) {
            let mut inc = Vec::new();
            for item in spec.split_whitespace() {
                if let Some(i) = item.strip_prefix('+') {
                    inc.push(i.to_owned());
                } else if let Some(e) = builtin_entry(item) {
                    out.push(e);
                }
            }
            inc
        } else {
            self.sources.unread(
                loc,
                format!(
                    "service `{}` is neither one firewalld ships nor defined in services/ of the audited tree",
                    super::conf::shorten(name)
                ),
            );
            return seen.len() > 1;
        };
        for i in includes {
            self.expand(&i, loc, out, seen);
        }
        true
    }
}

/// `tcp/5060`, `udp/10000-20000`, `gre/`.
fn builtin_entry(item: &str) -> Option<Entry> {
    let (proto, port) = item.split_once('/')?;
    if port.is_empty() {
        return Some(Entry::Protocol(proto.to_owned()));
    }
    Some(Entry::Port(proto.to_owned(), parse_range(port)?))
}

/// One rule per protocol: its port ranges, or every port for a whole protocol.
fn entry_rules(entries: &[Entry], loc: Loc) -> Vec<FwRule> {
    let mut by_proto: BTreeMap<&str, Vec<(u16, u16)>> = BTreeMap::new();
    let mut whole: Vec<&str> = Vec::new();
    for e in entries {
        match e {
            Entry::Port(p, r) => by_proto.entry(p.as_str()).or_default().push(*r),
            Entry::Protocol(p) => whole.push(p.as_str()),
        }
    }
    let mut out = Vec::new();
    for (p, ranges) in by_proto {
        if whole.contains(&p) {
            continue;
        }
        let mut r = FwRule::new(loc);
        r.protos.push(p.to_ascii_lowercase());
        r.dports = Some(ranges);
        out.push(r);
    }
    for p in whole {
        let mut r = FwRule::new(loc);
        r.protos.push(p.to_ascii_lowercase());
        out.push(r);
    }
    out
}

/// A `<port port=… protocol=…>` (or `<forward-port>`) element's entry; unreadable ones are reported.
fn port_entry(sources: &mut Sources<'_>, el: &Element, port_attr: &str) -> Option<Entry> {
    let proto = el
        .attr("protocol")
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let port = el.attr(port_attr).unwrap_or("").trim();
    // `<port protocol="esp" port=""/>` (firewalld's ipsec service) is the whole protocol.
    if port.is_empty() && !proto.is_empty() {
        return Some(Entry::Protocol(proto));
    }
    match parse_range(port) {
        Some(r) if !proto.is_empty() => Some(Entry::Port(proto, r)),
        _ => {
            sources.unread(
                el.loc,
                format!(
                    "cannot read <{}> `{}`/`{}`",
                    el.name,
                    super::conf::shorten(port),
                    super::conf::shorten(&proto)
                ),
            );
            None
        }
    }
}

/// Reads one firewalld configuration directory.
pub(crate) fn read(sources: &mut Sources<'_>, tree: &Tree) -> Firewalld {
    let mut files: Vec<FileId> = Vec::new();
    files.extend(tree.conf);
    files.extend(&tree.zones);
    files.extend(&tree.services);
    files.extend(&tree.policies);

    // firewalld.conf: DefaultZone=.
    let mut default_zone = ("public".to_owned(), None::<Loc>);
    if let Some(conf) = tree.conf {
        let text = sources.text(conf);
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("DefaultZone=") {
                let loc = Loc::line(conf, u32::try_from(n + 1).unwrap_or(u32::MAX));
                default_zone = (v.trim().trim_matches('"').to_owned(), Some(loc));
            }
        }
    }

    let mut services = HashMap::new();
    for id in &tree.services {
        let doc = xml::read(sources, *id);
        let Some(root) = doc.root.kids("service").next() else {
            continue;
        };
        let mut s = TreeService {
            ports: Vec::new(),
            includes: Vec::new(),
        };
        for el in &root.children {
            match el.name.as_str() {
                "port" => s.ports.extend(port_entry(sources, el, "port")),
                "protocol" => {
                    if let Some(v) = el.attr("value") {
                        s.ports.push(Entry::Protocol(v.trim().to_ascii_lowercase()));
                    }
                }
                "include" => s.includes.extend(el.attr("service").map(str::to_owned)),
                _ => {}
            }
        }
        services.insert(stem(sources.path(*id)), s);
    }
    let mut ctx = Ctx { sources, services };

    let mut zones: Vec<Zone> = Vec::new();
    for id in &tree.zones {
        let doc = xml::read(ctx.sources, *id);
        let name = stem(ctx.sources.path(*id));
        if let Some(root) = doc.root.kids("zone").next() {
            zones.push(read_zone(&mut ctx, root, name));
        }
    }

    // Policies that filter traffic to this host (egress zone HOST), with their priority.
    let mut policies: Vec<(i64, Zone)> = Vec::new();
    for id in &tree.policies {
        let doc = xml::read(ctx.sources, *id);
        let name = stem(ctx.sources.path(*id));
        let Some(root) = doc.root.kids("policy").next() else {
            continue;
        };
        let priority = match root.attr("priority").map(str::trim) {
            None => -1,
            Some(p) => p.parse::<i64>().unwrap_or_else(|_| {
                ctx.sources.unread(
                    root.loc,
                    format!(
                        "policy priority `{}` is not a number (read as -1)",
                        super::conf::shorten(p)
                    ),
                );
                -1
            }),
        };
        let p = read_zone(&mut ctx, root, name);
        if p.egress.iter().any(|e| e == "HOST") {
            policies.push((priority, p));
        }
    }
    policies.sort_by_key(|(prio, _)| *prio);

    let (dz_name, dz_loc) = default_zone;
    if !zones.iter().any(|z| z.name == dz_name) {
        match (
            BUILTIN_ZONES.iter().find(|(n, _, _)| *n == dz_name),
            dz_loc,
        ) {
            (Some((name, target, svcs)), Some(loc)) => {
                let mut z = Zone {
                    name: (*name).to_owned(),
                    target: (*target).to_owned(),
                    target_loc: loc,
                    by_interface: false,
                    by_source: false,
                    rules: Vec::new(),
                    bans: Vec::new(),
                    ban_sources: Vec::new(),
                    ingress: Vec::new(),
                    egress: Vec::new(),
                };
                for s in *svcs {
                    if let Some(rs) = ctx.service_rules(s, loc) {
                        z.rules.extend(rs.into_iter().map(|mut r| {
                            r.verdict = Verdict::Accept;
                            (Stage::Allow, r)
                        }));
                    }
                }
                zones.push(z);
            }
            (_, Some(loc)) => ctx.sources.unread(
                loc,
                format!(
                    "default zone `{}` has no file in zones/ of the audited tree and is not one firewalld ships",
                    super::conf::shorten(&dz_name)
                ),
            ),
            (_, None) => {
                if let Some(first) = tree.zones.first() {
                    ctx.sources.unread(
                        Loc::line(*first, 1),
                        format!(
                            "firewalld.conf is not in the audited tree and zones/ has no `{dz_name}.xml`: the default zone is not audited"
                        ),
                    );
                }
            }
        }
    }

    // Dispatch order: zones bound to sources, then to interfaces, then the default zone.
    let rank = |z: &Zone| {
        if z.name == dz_name {
            2
        } else if z.by_source {
            0
        } else {
            1
        }
    };
    let mut active: Vec<Zone> = zones
        .into_iter()
        .filter(|z| z.name == dz_name || z.by_source || z.by_interface)
        .collect();
    active.sort_by_key(|z| rank(z));

    let mut chain = Chain {
        table: "inet firewalld".to_owned(),
        name: format!("filter_IN_{dz_name}"),
        hook: Hook::Input,
        // firewalld's filter_INPUT ends with a reject after the zone dispatch.
        policy_accept: Some(false),
        loc: dz_loc
            .or(files.first().map(|f| Loc::line(*f, 1)))
            .unwrap_or_default(),
        rules: Vec::new(),
    };
    let mut bans = Vec::new();
    // How a policy's ingress zone restricts its rules: ANY and the default zone face the world; a zone
    // bound to sources or interfaces restricts like that binding; an unbound zone is not on the path.
    let bindings: Vec<(String, Option<bool>)> = active
        .iter()
        .map(|z| {
            let binding = if z.name == dz_name {
                None
            } else {
                Some(z.by_source)
            };
            (z.name.clone(), binding)
        })
        .collect();
    let policy_rules = |p: &mut Zone, out: &mut Vec<FwRule>, bans: &mut Vec<Ban>| {
        let mut restrictions: Vec<Option<bool>> = Vec::new();
        for ingress in &p.ingress {
            if ingress == "ANY" {
                restrictions.push(None);
            } else if let Some((_, b)) = bindings.iter().find(|(n, _)| n == ingress) {
                restrictions.push(*b);
            }
        }
        restrictions.dedup();
        p.rules.sort_by_key(|(s, _)| *s);
        let target = p.target.to_ascii_uppercase();
        for restriction in restrictions {
            let restrict = |r: &mut FwRule| match restriction {
                Some(true) => r.src_restricted = true,
                Some(false) => r.iif_restricted = true,
                None => {}
            };
            for (_, r) in &p.rules {
                let mut r = r.clone();
                restrict(&mut r);
                out.push(r);
            }
            if target != "CONTINUE" {
                let mut t = FwRule::new(p.target_loc);
                t.verdict = match target.as_str() {
                    "ACCEPT" => Verdict::Accept,
                    "DROP" => Verdict::Drop,
                    _ => Verdict::Reject,
                };
                restrict(&mut t);
                out.push(t);
            }
            bans.extend(p.bans.iter().cloned().map(|mut b| {
                b.zone = format!("policy {}", p.name);
                b
            }));
        }
    };
    let (mut pre, mut post): (Vec<_>, Vec<_>) =
        policies.into_iter().partition(|(prio, _)| *prio < 0);
    for (_, p) in &mut pre {
        policy_rules(p, &mut chain.rules, &mut bans);
    }
    for mut z in active {
        let default = z.name == dz_name;
        if default {
            chain.loc = z.target_loc;
        }
        let by_source = z.by_source;
        let restrict = |r: &mut FwRule| {
            if !default {
                if by_source {
                    r.src_restricted = true;
                } else {
                    r.iif_restricted = true;
                }
            }
        };
        z.rules.sort_by_key(|(s, _)| *s);
        for (_, mut r) in std::mem::take(&mut z.rules) {
            restrict(&mut r);
            chain.rules.push(r);
        }
        // Zones are terminal: policies with a positive priority are consulted just before the target.
        if default {
            for (_, p) in &mut post {
                policy_rules(p, &mut chain.rules, &mut bans);
            }
        }
        let target = z.target.to_ascii_uppercase();
        let mut t = FwRule::new(z.target_loc);
        t.verdict = match target.as_str() {
            "ACCEPT" => Verdict::Accept,
            "DROP" => Verdict::Drop,
            _ => Verdict::Reject,
        };
        restrict(&mut t);
        chain.rules.push(t);
        if target != "ACCEPT" {
            bans.extend(z.ban_sources.iter().map(|(loc, set)| Ban {
                loc: *loc,
                set: set.clone(),
                zone: z.name.clone(),
            }));
        }
        bans.append(&mut z.bans);
    }
    bans.sort_by_key(|b| b.loc);
    Firewalld {
        ruleset: Ruleset {
            chains: vec![chain],
            files,
        },
        bans,
        default_zone: dz_name,
    }
}

/// Reads a `<zone>`, or a `<policy>` (same elements plus ingress and egress zones; its target defaults to
/// `CONTINUE`, which lets packets go on to the zones).
fn read_zone(ctx: &mut Ctx<'_, '_>, root: &Element, name: String) -> Zone {
    let policy = root.name == "policy";
    let (target, target_loc) = match root.attr_full("target") {
        Some(a) => (a.value.trim().to_owned(), a.loc),
        None if policy => ("CONTINUE".to_owned(), root.loc),
        None => ("default".to_owned(), root.loc),
    };
    let known = if policy {
        matches!(
            target.to_ascii_uppercase().as_str(),
            "CONTINUE" | "ACCEPT" | "DROP" | "REJECT"
        )
    } else {
        matches!(
            target.to_ascii_uppercase().as_str(),
            "DEFAULT" | "ACCEPT" | "DROP" | "REJECT" | "%%REJECT%%" | ""
        )
    };
    if !known {
        ctx.sources.unread(
            target_loc,
            format!(
                "unknown {} target `{}` (read as reject)",
                root.name,
                super::conf::shorten(&target)
            ),
        );
    }
    let mut z = Zone {
        name,
        target,
        target_loc,
        by_interface: false,
        by_source: false,
        rules: Vec::new(),
        bans: Vec::new(),
        ban_sources: Vec::new(),
        ingress: Vec::new(),
        egress: Vec::new(),
    };
    for el in &root.children {
        let accept = |mut r: FwRule| {
            r.verdict = Verdict::Accept;
            (Stage::Allow, r)
        };
        match el.name.as_str() {
            "interface" => z.by_interface |= el.attr("name").is_some(),
            "ingress-zone" if policy => z.ingress.extend(el.attr("name").map(str::to_owned)),
            "egress-zone" if policy => z.egress.extend(el.attr("name").map(str::to_owned)),
            "source" => {
                if let Some(set) = el.attr("ipset") {
                    z.by_source = true;
                    if ban_name(set) {
                        z.ban_sources.push((el.loc, set.to_owned()));
                    }
                } else if el.attr("address").or(el.attr("mac")).is_some() {
                    z.by_source = true;
                }
            }
            "service" => {
                if let Some(rs) = el.attr("name").and_then(|n| ctx.service_rules(n, el.loc)) {
                    z.rules.extend(rs.into_iter().map(accept));
                }
            }
            "port" => {
                if let Some(e) = port_entry(ctx.sources, el, "port") {
                    z.rules
                        .extend(entry_rules(&[e], el.loc).into_iter().map(accept));
                }
            }
            "protocol" => {
                if let Some(v) = el.attr("value") {
                    let e = Entry::Protocol(v.trim().to_ascii_lowercase());
                    z.rules
                        .extend(entry_rules(&[e], el.loc).into_iter().map(accept));
                }
            }
            "forward-port" => {
                let attr = if el.attr("to-port").is_some_and(|p| !p.trim().is_empty()) {
                    "to-port"
                } else {
                    "port"
                };
                if let Some(e) = port_entry(ctx.sources, el, attr) {
                    z.rules
                        .extend(entry_rules(&[e], el.loc).into_iter().map(accept));
                }
            }
            "source-port" => {
                let mut r = FwRule::new(el.loc);
                r.other_match = true;
                z.rules.push(accept(r));
            }
            "rule" => rich_rule(ctx, el, &z.name, &mut z.rules, &mut z.bans),
            "short"
            | "description"
            | "forward"
            | "masquerade"
            | "icmp-block"
            | "icmp-block-inversion"
            | "tcp-mss-clamp"
            | "ingress-priority"
            | "egress-priority" => {}
            other => ctx.sources.unread(
                el.loc,
                format!(
                    "unknown {} element <{}>",
                    root.name,
                    super::conf::shorten(other)
                ),
            ),
        }
    }
    z
}

fn rich_rule(
    ctx: &mut Ctx<'_, '_>,
    el: &Element,
    zone: &str,
    out: &mut Vec<(Stage, FwRule)>,
    bans: &mut Vec<Ban>,
) {
    let priority = match el.attr("priority").map(str::trim) {
        None => 0,
        Some(p) => p.parse::<i64>().unwrap_or_else(|_| {
            ctx.sources.unread(
                el.loc,
                format!(
                    "rich rule priority `{}` is not a number",
                    super::conf::shorten(p)
                ),
            );
            0
        }),
    };
    let mut base = FwRule::new(el.loc);
    let mut ban_set: Option<(Loc, String)> = None;
    let mut verdict: Option<Verdict> = None;
    let mut rate_limited = false;
    // The rule's match element: `None` matches every packet.
    let mut element: Option<&Element> = None;
    for c in &el.children {
        match c.name.as_str() {
            "source" => {
                let invert = c.attr("invert").is_some_and(|v| {
                    matches!(v.trim().to_ascii_lowercase().as_str(), "yes" | "true")
                });
                if invert {
                    continue;
                }
                if let Some(set) = c.attr("ipset") {
                    if ban_name(set) {
                        ban_set = Some((c.loc, set.to_owned()));
                    } else {
                        base.src_restricted = true;
                    }
                } else if c.attr("address").or(c.attr("mac")).is_some() {
                    base.src_restricted = true;
                }
            }
            "destination" => base.other_match = true,
            "accept" | "drop" | "reject" | "mark" => {
                verdict = Some(match c.name.as_str() {
                    "accept" => Verdict::Accept,
                    "drop" => Verdict::Drop,
                    "reject" => Verdict::Reject,
                    _ => Verdict::None,
                });
                rate_limited |= c.kids("limit").next().is_some();
            }
            "log" | "nflog" | "audit" => {}
            _ => element = element.or(Some(c)),
        }
    }
    base.rate_limited = rate_limited;
    let element_name = element.map(|e| e.name.as_str());
    let special = matches!(
        element_name,
        Some("forward-port" | "masquerade" | "icmp-block" | "tcp-mss-clamp")
    );
    let verdict = match (element_name, verdict) {
        (Some("forward-port"), _) => Verdict::Accept,
        (Some("masquerade" | "icmp-block" | "tcp-mss-clamp"), _) => return,
        (_, Some(v)) => v,
        // Log or audit only: no verdict, nothing to model.
        (_, None) => return,
    };
    let stage = match priority {
        0 if special || matches!(verdict, Verdict::Accept | Verdict::None) => Stage::Allow,
        0 => Stage::Deny,
        p if p < 0 => Stage::Pre(p),
        p => Stage::Post(p),
    };
    if let Some((loc, set)) = ban_set {
        if matches!(verdict, Verdict::Drop | Verdict::Reject) {
            base.ban = Some(set.clone());
            bans.push(Ban {
                loc,
                set,
                zone: zone.to_owned(),
            });
        } else {
            base.src_restricted = true;
        }
    }
    let shapes: Vec<FwRule> = match element {
        None => vec![FwRule::new(el.loc)],
        Some(e) => match e.name.as_str() {
            "service" => match e.attr("name").and_then(|n| ctx.service_rules(n, e.loc)) {
                Some(rs) => rs,
                None => return,
            },
            "port" => match port_entry(ctx.sources, e, "port") {
                Some(p) => entry_rules(&[p], el.loc),
                None => return,
            },
            "forward-port" => {
                let attr = if e.attr("to-port").is_some_and(|p| !p.trim().is_empty()) {
                    "to-port"
                } else {
                    "port"
                };
                match port_entry(ctx.sources, e, attr) {
                    Some(p) => entry_rules(&[p], el.loc),
                    None => return,
                }
            }
            "protocol" => match e.attr("value") {
                Some(v) => entry_rules(&[Entry::Protocol(v.trim().to_ascii_lowercase())], el.loc),
                None => return,
            },
            // icmp-type, source-port and what firewalld may add later: a match the checks do not model.
            _ => {
                let mut r = FwRule::new(el.loc);
                r.other_match = true;
                vec![r]
            }
        },
    };
    for shape in shapes {
        let mut r = base.clone();
        r.protos = shape.protos;
        r.dports = shape.dports;
        r.other_match |= shape.other_match;
        r.verdict = verdict.clone();
        out.push((stage, r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceFile;
    use crate::sources::NoIncludes;

    fn read_tree(files: &[(&str, &str)]) -> (Firewalld, Vec<crate::Unread>) {
        let mut r = NoIncludes;
        let mut s = Sources::new(&mut r);
        let mut tree = Tree::default();
        for (p, t) in files {
            let id = s.add(SourceFile::new(*p, *t));
            if p.ends_with("firewalld.conf") {
                tree.conf = Some(id);
            } else if p.contains("services/") {
                tree.services.push(id);
            } else if p.contains("policies/") {
                tree.policies.push(id);
            } else {
                tree.zones.push(id);
            }
        }
        let fw = read(&mut s, &tree);
        let (_, _, unread) = s.into_parts();
        (fw, unread)
    }

    #[test]
    fn root_element_skips_declaration_comments_and_doctype() {
        assert_eq!(
            root_element(
                "\u{feff}<?xml version=\"1.0\"?>\n<!-- x -->\n<!DOCTYPE z>\n<zone target=\"DROP\">"
            ),
            Some("zone")
        );
        assert_eq!(root_element("<service/>"), Some("service"));
        assert_eq!(root_element("text"), None);
        assert_eq!(root_element("<!-- open"), None);
    }

    #[test]
    fn directory_is_above_zones_and_services() {
        assert_eq!(directory("etc/firewalld/zones/public.xml"), "etc/firewalld");
        assert_eq!(directory("etc/firewalld/services/x.xml"), "etc/firewalld");
        assert_eq!(directory("etc/firewalld/firewalld.conf"), "etc/firewalld");
        assert_eq!(directory("zones/public.xml"), "");
        assert_eq!(directory("public.xml"), "");
    }

    #[test]
    fn zones_are_dispatched_sources_then_interfaces_then_default() {
        let (fw, unread) = read_tree(&[
            ("firewalld.conf", "# comment\nDefaultZone=pbx\n"),
            (
                "zones/pbx.xml",
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<zone>\n  <service name=\"sip\"/>\n  <port port=\"10000-20000\" protocol=\"udp\"/>\n</zone>\n",
            ),
            (
                "zones/trusted.xml",
                "<zone target=\"ACCEPT\">\n  <source address=\"192.0.2.0/24\"/>\n</zone>\n",
            ),
            (
                "zones/internal.xml",
                "<zone>\n  <interface name=\"eth1\"/>\n  <service name=\"ssh\"/>\n</zone>\n",
            ),
            (
                "zones/unused.xml",
                "<zone>\n  <service name=\"telnet\"/>\n</zone>\n",
            ),
        ]);
        assert!(unread.is_empty(), "{unread:?}");
        assert_eq!(fw.default_zone, "pbx");
        let c = &fw.ruleset.chains[0];
        assert_eq!(c.name, "filter_IN_pbx");
        let summary: Vec<(u32, bool, bool, Verdict)> = c
            .rules
            .iter()
            .map(|r| {
                (
                    r.loc.line,
                    r.src_restricted,
                    r.iif_restricted,
                    r.verdict.clone(),
                )
            })
            .collect();
        // trusted (source) target, internal (interface) ssh and target, pbx sip tcp+udp, rtp, target.
        assert_eq!(
            summary,
            vec![
                (1, true, false, Verdict::Accept),
                (3, false, true, Verdict::Accept),
                (1, false, true, Verdict::Reject),
                (3, false, false, Verdict::Accept),
                (3, false, false, Verdict::Accept),
                (4, false, false, Verdict::Accept),
                (2, false, false, Verdict::Reject),
            ]
        );
        assert_eq!(c.rules[3].protos, vec!["tcp".to_owned()]);
        assert_eq!(c.rules[4].dports, Some(vec![(5060, 5060)]));
        assert_eq!(c.rules[5].dports, Some(vec![(10000, 20000)]));
    }

    #[test]
    fn rich_rules_follow_firewalld_order_and_matches() {
        let zone = "<zone target=\"DROP\">\n\
            <rule family=\"ipv4\">\n  <service name=\"ssh\"/>\n  <accept/>\n</rule>\n\
            <rule family=\"ipv4\">\n  <source address=\"192.0.2.0/24\" invert=\"True\"/>\n  <service name=\"ssh\"/>\n  <reject/>\n</rule>\n\
            <rule priority=\"-5\">\n  <source ipset=\"f2b-sip\"/>\n  <drop/>\n</rule>\n\
            <rule>\n  <service name=\"sip\"/>\n  <accept>\n    <limit value=\"20/m\"/>\n  </accept>\n</rule>\n\
            <rule>\n  <service name=\"sips\"/>\n  <log prefix=\"sips\"><limit value=\"1/m\"/></log>\n  <accept/>\n</rule>\n\
            <rule>\n  <source address=\"198.51.100.7\"/>\n  <accept/>\n</rule>\n\
            <rule>\n  <service name=\"tftp\"/>\n  <log/>\n</rule>\n\
            </zone>\n";
        let (fw, unread) = read_tree(&[("zones/public.xml", zone)]);
        assert!(unread.is_empty(), "{unread:?}");
        let c = &fw.ruleset.chains[0];
        let lines: Vec<u32> = c.rules.iter().map(|r| r.loc.line).collect();
        // pre (ban), deny (inverted reject), allow (ssh, sip tcp+udp, sips tcp+udp, source), target.
        assert_eq!(lines, vec![11, 6, 2, 15, 15, 21, 21, 26, 1]);
        assert_eq!(c.rules[0].ban.as_deref(), Some("f2b-sip"));
        assert!(
            !c.rules[1].src_restricted,
            "invert matches every other source"
        );
        assert!(c.rules[3].rate_limited && c.rules[4].rate_limited);
        assert!(
            !c.rules[5].rate_limited,
            "a limit on <log> limits logging only"
        );
        assert!(c.rules[7].src_restricted && c.rules[7].protos.is_empty());
        assert_eq!(c.rules[8].verdict, Verdict::Drop);
        assert_eq!(fw.bans.len(), 1);
        assert_eq!(fw.bans[0].loc.line, 12);
    }

    #[test]
    fn tree_services_override_and_unknown_ones_are_reported() {
        let (fw, unread) = read_tree(&[
            (
                "services/sip.xml",
                "<service>\n  <port protocol=\"udp\" port=\"5080\"/>\n  <include service=\"ssh\"/>\n</service>\n",
            ),
            (
                "zones/public.xml",
                "<zone>\n  <service name=\"sip\"/>\n  <service name=\"no-such-service\"/>\n  <forward-port port=\"2222\" protocol=\"tcp\" to-port=\"22\" to-addr=\"10.0.0.2\"/>\n</zone>\n",
            ),
        ]);
        assert_eq!(unread.len(), 1, "{unread:?}");
        assert_eq!(unread[0].loc.line, 3);
        let c = &fw.ruleset.chains[0];
        let ports: Vec<_> = c
            .rules
            .iter()
            .map(|r| (r.protos.clone(), r.dports.clone()))
            .collect();
        assert_eq!(ports[0], (vec!["tcp".to_owned()], Some(vec![(22, 22)])));
        assert_eq!(ports[1], (vec!["udp".to_owned()], Some(vec![(5080, 5080)])));
        assert_eq!(ports[2], (vec!["tcp".to_owned()], Some(vec![(22, 22)])));
        assert_eq!(c.rules[2].loc.line, 4);
    }

    #[test]
    fn a_port_without_a_number_is_the_whole_protocol() {
        // As firewalld's own ipsec service writes ESP and AH.
        let (fw, unread) = read_tree(&[
            (
                "services/vpn.xml",
                "<service>\n  <port protocol=\"esp\" port=\"\"/>\n</service>\n",
            ),
            (
                "zones/public.xml",
                "<zone>\n  <service name=\"vpn\"/>\n</zone>\n",
            ),
        ]);
        assert!(unread.is_empty(), "{unread:?}");
        let r = &fw.ruleset.chains[0].rules[0];
        assert_eq!(
            (r.protos.clone(), r.dports.clone()),
            (vec!["esp".to_owned()], Some(Vec::new()))
        );
    }

    #[test]
    fn policies_to_the_host_come_before_the_zones_or_before_the_default_target() {
        let policy = |prio: &str, ingress: &str, egress: &str, port: &str| {
            format!(
                "<policy priority=\"{prio}\">\n  <ingress-zone name=\"{ingress}\"/>\n  <egress-zone name=\"{egress}\"/>\n  <port port=\"{port}\" protocol=\"tcp\"/>\n</policy>\n"
            )
        };
        let (fw, unread) = read_tree(&[
            (
                "zones/public.xml",
                "<zone>\n  <service name=\"ssh\"/>\n</zone>\n",
            ),
            (
                "zones/internal.xml",
                "<zone>\n  <interface name=\"eth1\"/>\n</zone>\n",
            ),
            ("policies/pre.xml", &policy("-5", "ANY", "HOST", "8021")),
            (
                "policies/lan.xml",
                &policy("-1", "internal", "HOST", "5038"),
            ),
            ("policies/post.xml", &policy("5", "public", "HOST", "8088")),
            ("policies/out.xml", &policy("-1", "HOST", "ANY", "21")),
            ("policies/unbound.xml", &policy("-1", "dmz", "HOST", "23")),
        ]);
        assert!(unread.is_empty(), "{unread:?}");
        let c = &fw.ruleset.chains[0];
        // Ports, interface-restricted, verdict.
        type Seen = (Option<Vec<(u16, u16)>>, bool, Verdict);
        let seen: Vec<Seen> = c
            .rules
            .iter()
            .map(|r| (r.dports.clone(), r.iif_restricted, r.verdict.clone()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (Some(vec![(8021, 8021)]), false, Verdict::Accept),
                (Some(vec![(5038, 5038)]), true, Verdict::Accept),
                (Some(Vec::new()), true, Verdict::Reject),
                (Some(vec![(22, 22)]), false, Verdict::Accept),
                (Some(vec![(8088, 8088)]), false, Verdict::Accept),
                (Some(Vec::new()), false, Verdict::Reject),
            ]
        );
    }

    #[test]
    fn missing_default_zone_uses_the_builtin_at_the_default_zone_line() {
        let (fw, unread) = read_tree(&[("firewalld.conf", "\nDefaultZone=trusted\n")]);
        assert!(unread.is_empty(), "{unread:?}");
        let c = &fw.ruleset.chains[0];
        assert_eq!(c.rules.len(), 1);
        assert_eq!(
            (c.rules[0].loc.line, c.rules[0].verdict.clone()),
            (2, Verdict::Accept)
        );
        let (_, unread) = read_tree(&[("firewalld.conf", "DefaultZone=nosuch\n")]);
        assert_eq!(unread.len(), 1);
    }
}
