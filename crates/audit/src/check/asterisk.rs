//! Asterisk checks: chan_sip, res_pjsip, chan_iax2, dial plan, voicemail and AMI.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::{Sink, describe, is_reference};
use crate::model::Loc;
use crate::read::conf::{Conf, Entry, Section, has, last, truthy};
use crate::rules::*;
use crate::{AsteriskKind, Doc, secret};

/// Contexts that callers reach without a password, and how.
#[derive(Debug, Default)]
struct Entries {
    /// Lower-cased context name → who reaches it ("guests via allowguest", "trunk `provider`").
    by: BTreeMap<String, String>,
}

impl Entries {
    fn add(&mut self, ctx: &str, who: String) {
        self.by
            .entry(ctx.trim().to_ascii_lowercase())
            .or_insert(who);
    }
}

/// Context names that, by convention, receive calls from guests or carriers; used when no channel
/// configuration is part of the audit.
const CONVENTIONAL_ENTRIES: &[&str] = &[
    "default",
    "public",
    "from-trunk",
    "from-pstn",
    "from-external",
    "from-sip-external",
    "from-did",
    "incoming",
    "inbound",
    "anonymous",
    "guest",
];

pub(crate) fn run(docs: &[&Doc], sink: &mut Sink) {
    let mut entries = Entries::default();
    let mut saw_channels = false;
    for d in docs {
        let Doc::Asterisk(kind, conf) = d else {
            continue;
        };
        match kind {
            AsteriskKind::Sip => {
                saw_channels = true;
                sip(conf, sink, &mut entries);
            }
            AsteriskKind::Pjsip => {
                saw_channels = true;
                pjsip(conf, sink, &mut entries);
            }
            AsteriskKind::Iax => {
                saw_channels = true;
                iax(conf, sink, &mut entries);
            }
            AsteriskKind::Voicemail => voicemail(conf, sink),
            AsteriskKind::Manager => manager(conf, sink),
            AsteriskKind::Extensions => {}
        }
    }
    if !saw_channels {
        for c in CONVENTIONAL_ENTRIES {
            entries.add(
                c,
                format!(
                    "callers from outside (`{c}` is conventionally an inbound or guest context)"
                ),
            );
        }
    }
    let plans: Vec<&Conf> = docs
        .iter()
        .filter_map(|d| match d {
            Doc::Asterisk(AsteriskKind::Extensions, c) => Some(c),
            _ => None,
        })
        .collect();
    if !plans.is_empty() {
        dialplan(&plans, &entries, sink);
    }
}

fn general(conf: &Conf) -> Vec<&Entry> {
    conf.named("general")
        .flat_map(|s| s.entries.iter())
        .collect()
}

fn general_loc(conf: &Conf) -> Loc {
    conf.named("general")
        .next()
        .map(|s| s.loc)
        .or_else(|| conf.files.first().map(|f| Loc::line(*f, 1)))
        .unwrap_or_default()
}

/// Real objects: not templates, not `[general]` / `[authentication]`.
fn objects(conf: &Conf) -> impl Iterator<Item = &Section> {
    conf.sections.iter().filter(|s| {
        !s.template
            && !s.name.eq_ignore_ascii_case("general")
            && !s.name.eq_ignore_ascii_case("authentication")
    })
}

/// `type=friend|peer|user`: a chan_sip or chan_iax2 device section.
fn is_peer_type(eff: &[&Entry]) -> bool {
    last(eff, "type").is_some_and(|t| {
        matches!(
            t.value.to_ascii_lowercase().as_str(),
            "friend" | "peer" | "user"
        )
    })
}

/// Whether the device is limited to some networks: a named ACL, or a `permit` narrower than the whole
/// internet (FreePBX writes `deny=0.0.0.0/0.0.0.0` + `permit=0.0.0.0/0.0.0.0`, which limits nothing).
fn has_acl(eff: &[&Entry]) -> bool {
    let named = ["acl", "contactacl", "contact_acl"]
        .iter()
        .any(|k| has(eff, k));
    let narrow_permit = eff.iter().any(|e| {
        matches!(
            e.key.as_str(),
            "permit" | "contactpermit" | "contact_permit"
        ) && e.value.split(',').any(|v| !is_any_network(v))
    });
    named || narrow_permit
}

/// `0.0.0.0/0`, `0.0.0.0/0.0.0.0`, `::/0`: every address.
fn is_any_network(v: &str) -> bool {
    let v = v.trim();
    v.is_empty()
        || matches!(
            v,
            "0.0.0.0/0" | "0.0.0.0/0.0.0.0" | "::/0" | "0/0" | "0.0.0.0"
        )
}

fn is_dynamic_host(eff: &[&Entry]) -> bool {
    last(eff, "host").is_none_or(|h| h.value.eq_ignore_ascii_case("dynamic"))
}

fn secret_check(sink: &mut Sink, entry: Option<&Entry>, account: &[&str], what: &str) {
    let Some(e) = entry else { return };
    if is_reference(&e.value) {
        return;
    }
    let w = secret::password(&e.value, account);
    if !w.is_empty() {
        sink.push(&WEAK_SECRET, e.loc, format!("{what}: {}", describe(&w)));
    }
}

fn sip(conf: &Conf, sink: &mut Sink, entries: &mut Entries) {
    let g = general(conf);
    let guest_ctx = last(&g, "context").map_or("default".to_owned(), |e| e.value.clone());
    match last(&g, "allowguest") {
        Some(e) if truthy(&e.value) => {
            sink.push(
                &SIP_ALLOWGUEST,
                e.loc,
                format!(
                    "allowguest={}: unauthenticated calls land in context `{guest_ctx}`",
                    e.value
                ),
            );
            entries.add(&guest_ctx, "guests (chan_sip allowguest)".into());
        }
        Some(_) => {}
        // Files without [general] are fragments (sip_additional.conf) that sip.conf includes.
        None if conf.named("general").next().is_none() => {}
        None => {
            sink.push(
                &SIP_ALLOWGUEST,
                general_loc(conf),
                format!("allowguest is not set and defaults to yes: unauthenticated calls land in context `{guest_ctx}`"),
            );
            entries.add(
                &guest_ctx,
                "guests (chan_sip allowguest defaults to yes)".into(),
            );
        }
    }
    if let Some(e) = last(&g, "alwaysauthreject").filter(|e| !truthy(&e.value)) {
        sink.push(
            &SIP_ALWAYSAUTHREJECT,
            e.loc,
            format!(
                "alwaysauthreject={}: unknown users get a distinct answer",
                e.value
            ),
        );
    }
    if let Some(e) = last(&g, "autocreatepeer")
        .filter(|e| truthy(&e.value) || e.value.eq_ignore_ascii_case("persist"))
    {
        sink.push(
            &SIP_AUTOCREATEPEER,
            e.loc,
            format!(
                "autocreatepeer={}: any device that registers becomes a peer",
                e.value
            ),
        );
        entries.add(&guest_ctx, "auto-created peers (autocreatepeer)".into());
    }
    for s in objects(conf) {
        let eff = conf.effective(s);
        // chan_sip ignores a section without a peer type; so does the audit.
        if !is_peer_type(&eff) {
            continue;
        }
        let trunk = !is_dynamic_host(&eff);
        let ctx = last(&eff, "context").map_or_else(|| guest_ctx.clone(), |e| e.value.clone());
        if let Some(e) = last(&eff, "insecure") {
            let v = e.value.to_ascii_lowercase();
            let invite = v.split(',').any(|p| p.trim() == "invite") || v == "very";
            if invite {
                if trunk {
                    entries.add(&ctx, format!("trunk `{}` (insecure=invite)", s.name));
                } else {
                    sink.push(
                        &SIP_INSECURE_INVITE,
                        e.loc,
                        format!("peer [{}] has insecure={} but no fixed host=: INVITEs claiming to be it are not authenticated", s.name, e.value),
                    );
                    entries.add(
                        &ctx,
                        format!("anyone claiming to be peer `{}` (insecure=invite)", s.name),
                    );
                }
            }
        }
        if trunk {
            entries.add(&ctx, format!("trunk `{}`", s.name));
        } else if !has_acl(&eff) {
            sink.push(
                &ENDPOINT_NO_ACL,
                s.loc,
                format!(
                    "peer [{}] has no permit= narrower than 0.0.0.0/0 and no acl=",
                    s.name
                ),
            );
        }
        let mut account = vec![s.name.as_str()];
        account.extend(
            ["username", "defaultuser", "fromuser"]
                .iter()
                .filter_map(|k| last(&eff, k))
                .map(|e| e.value.as_str()),
        );
        secret_check(
            sink,
            last(&eff, "secret"),
            &account,
            &format!("secret of peer [{}]", s.name),
        );
    }
}

fn pjsip(conf: &Conf, sink: &mut Sink, entries: &mut Entries) {
    let typed: Vec<(&Section, Vec<&Entry>, String)> = conf
        .sections
        .iter()
        .filter(|s| !s.template)
        .map(|s| {
            let eff = conf.effective(s);
            let ty = last(&eff, "type")
                .map(|e| e.value.to_ascii_lowercase())
                .unwrap_or_default();
            (s, eff, ty)
        })
        .collect();
    let global_acl = typed.iter().any(|(_, eff, t)| t == "acl" && has_acl(eff));
    let identified: HashSet<String> = typed
        .iter()
        .filter(|(_, _, t)| t == "identify")
        .filter_map(|(_, eff, _)| last(eff, "endpoint").map(|e| e.value.to_ascii_lowercase()))
        .collect();
    for (s, eff, ty) in &typed {
        match ty.as_str() {
            "endpoint" => {
                let ctx = last(eff, "context").map_or("default".to_owned(), |e| e.value.clone());
                if s.name.eq_ignore_ascii_case("anonymous") {
                    sink.push(
                        &PJSIP_ANONYMOUS,
                        s.loc,
                        format!(
                            "endpoint [anonymous] accepts unidentified calls into context `{ctx}`"
                        ),
                    );
                    entries.add(
                        &ctx,
                        "anonymous callers (PJSIP [anonymous] endpoint)".into(),
                    );
                    continue;
                }
                let by_ip = identified.contains(&s.name.to_ascii_lowercase());
                if by_ip {
                    entries.add(&ctx, format!("trunk `{}` (identified by address)", s.name));
                } else if !global_acl && !has_acl(eff) {
                    sink.push(
                        &ENDPOINT_NO_ACL,
                        s.loc,
                        format!(
                            "endpoint [{}] has no acl= or narrow permit=, and pjsip.conf has no type=acl that narrows",
                            s.name
                        ),
                    );
                }
                if !by_ip && last(eff, "auth").is_none() {
                    sink.push(
                        &PJSIP_NO_AUTH,
                        s.loc,
                        format!("endpoint [{}] has no auth= and no identify: calls claiming to be it land in `{ctx}` unchallenged", s.name),
                    );
                    entries.add(&ctx, format!("endpoint `{}` (no auth=)", s.name));
                }
            }
            "auth" => {
                let auth_type = last(eff, "auth_type").map(|e| e.value.to_ascii_lowercase());
                if auth_type.as_deref().is_none_or(|t| t == "userpass") {
                    let mut account = vec![s.name.as_str()];
                    if let Some(u) = last(eff, "username") {
                        account.push(u.value.as_str());
                    }
                    secret_check(
                        sink,
                        last(eff, "password"),
                        &account,
                        &format!("password of auth [{}]", s.name),
                    );
                }
            }
            _ => {}
        }
    }
}

fn iax(conf: &Conf, sink: &mut Sink, entries: &mut Entries) {
    for s in objects(conf) {
        let eff = conf.effective(s);
        let ctx = last(&eff, "context").map_or("default".to_owned(), |e| e.value.clone());
        if s.name.eq_ignore_ascii_case("guest") {
            sink.push(
                &IAX_GUEST,
                s.loc,
                format!("[guest] lets any IAX2 peer call into context `{ctx}` without a secret"),
            );
            entries.add(&ctx, "IAX2 guests ([guest] in iax.conf)".into());
            continue;
        }
        if !is_peer_type(&eff) {
            continue;
        }
        let ty = last(&eff, "type")
            .map(|e| e.value.to_ascii_lowercase())
            .unwrap_or_default();
        let trunk = !is_dynamic_host(&eff);
        if trunk {
            entries.add(&ctx, format!("IAX2 trunk `{}`", s.name));
        } else if (ty == "friend" || ty == "user") && !has_acl(&eff) {
            sink.push(
                &ENDPOINT_NO_ACL,
                s.loc,
                format!(
                    "IAX2 {ty} [{}] has no permit= narrower than 0.0.0.0/0 and no acl=",
                    s.name
                ),
            );
        }
        let mut account = vec![s.name.as_str()];
        if let Some(u) = last(&eff, "username") {
            account.push(u.value.as_str());
        }
        secret_check(
            sink,
            last(&eff, "secret"),
            &account,
            &format!("secret of IAX2 [{}]", s.name),
        );
    }
}

fn voicemail(conf: &Conf, sink: &mut Sink) {
    for s in &conf.sections {
        let is_general = s.name.eq_ignore_ascii_case("general");
        if s.name.eq_ignore_ascii_case("zonemessages") {
            continue;
        }
        for e in &s.entries {
            if e.key == "dialout" || e.key == "callback" {
                sink.push(
                    &VOICEMAIL_CALLOUT,
                    e.loc,
                    format!(
                        "{}={} in [{}]: callers with a mailbox PIN can place calls",
                        e.key, e.value, s.name
                    ),
                );
                continue;
            }
            if is_general || !e.key.chars().all(|c| c.is_ascii_digit()) || e.key.is_empty() {
                continue;
            }
            // `101 => 4242,Name,email,pager,opt=val|opt=val`
            let mut fields = e.value.split(',');
            let pin = fields
                .next()
                .unwrap_or("")
                .trim()
                .trim_start_matches(['-', '*']);
            let options = e.value.splitn(5, ',').nth(4).unwrap_or("");
            for opt in options.split('|') {
                let key = opt
                    .split('=')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                if key == "dialout" || key == "callback" {
                    sink.push(
                        &VOICEMAIL_CALLOUT,
                        e.loc,
                        format!(
                            "mailbox {} has {}: callers with its PIN can place calls",
                            e.key,
                            opt.trim()
                        ),
                    );
                }
            }
            if is_reference(pin) {
                continue;
            }
            let w = secret::pin(pin, &[e.key.as_str()]);
            if !w.is_empty() {
                sink.push(
                    &WEAK_PIN,
                    e.loc,
                    format!("PIN of mailbox {}: {}", e.key, describe(&w)),
                );
            }
        }
    }
}

fn manager(conf: &Conf, sink: &mut Sink) {
    let g = general(conf);
    if !last(&g, "enabled").is_some_and(|e| truthy(&e.value)) {
        return;
    }
    let bind = last(&g, "bindaddr");
    let bind_value = bind.map_or("0.0.0.0", |e| e.value.as_str());
    let loopback = is_loopback(bind_value);
    for s in objects(conf) {
        let eff = conf.effective(s);
        secret_check(
            sink,
            last(&eff, "secret"),
            &[s.name.as_str()],
            &format!("secret of AMI user [{}]", s.name),
        );
        if loopback {
            continue;
        }
        let Some(w) = last(&eff, "write") else {
            continue;
        };
        let rights: Vec<String> = w
            .value
            .split(',')
            .map(|r| r.trim().to_ascii_lowercase())
            .collect();
        let dangerous: Vec<&str> = ["originate", "all", "system", "command"]
            .into_iter()
            .filter(|r| rights.iter().any(|x| x == r))
            .collect();
        let restricted = has_acl(&eff);
        if !dangerous.is_empty() && !restricted {
            let at = bind.map_or_else(
                || "not set (all addresses)".to_owned(),
                |b| format!("{} (line {})", b.value, b.loc.line),
            );
            sink.push(
                &AMI_EXPOSED_ORIGINATE,
                w.loc,
                format!(
                    "AMI user [{}] has write={} while bindaddr is {at}, and no permit=",
                    s.name,
                    dangerous.join(",")
                ),
            );
        }
    }
}

pub(crate) fn is_loopback(addr: &str) -> bool {
    let a = addr.trim().trim_matches(['[', ']']);
    a.starts_with("127.") || a == "::1" || a.eq_ignore_ascii_case("localhost")
}

/// One dial-plan line of an extension.
#[derive(Debug)]
struct Step<'a> {
    /// Lower-cased application name.
    app: String,
    /// Application name as written.
    app_name: &'a str,
    args: &'a str,
    loc: Loc,
}

/// An extension: pattern and its steps, in a context.
#[derive(Debug)]
struct Ext<'a> {
    pattern: String,
    loc: Loc,
    steps: Vec<Step<'a>>,
}

#[derive(Debug, Default)]
struct Ctx<'a> {
    name: String,
    exts: Vec<Ext<'a>>,
    /// Pattern → index in `exts`.
    by_pattern: HashMap<String, usize>,
    /// The extension the last `exten =>` line named, which `same =>` continues.
    last: Option<usize>,
    includes: Vec<String>,
    /// Contexts reached by Goto/Gosub/Local channels, with the line.
    jumps: Vec<String>,
}

fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth <= 0 => {
                out.push(s.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s.get(start..).unwrap_or(""));
    out
}

/// Application name (as written) and its arguments.
fn app_and_args(s: &str) -> (&str, &str) {
    let s = s.trim();
    match s.find('(') {
        Some(open) => {
            let name = s.get(..open).unwrap_or("").trim();
            let close = s.rfind(')').filter(|&c| c > open).unwrap_or(s.len());
            (name, s.get(open + 1..close).unwrap_or(""))
        }
        // An application without parentheses (`Hangup`) has no arguments.
        None => (s, ""),
    }
}

fn contexts<'a>(plans: &[&'a Conf]) -> HashMap<String, Ctx<'a>> {
    let mut map: HashMap<String, Ctx<'a>> = HashMap::new();
    for conf in plans {
        for s in &conf.sections {
            let key = s.name.to_ascii_lowercase();
            if key == "general" || key == "globals" {
                continue;
            }
            let ctx = map.entry(key).or_insert_with(|| Ctx {
                name: s.name.clone(),
                ..Ctx::default()
            });
            for e in conf.effective(s) {
                match e.key.as_str() {
                    "include" => {
                        let target = e
                            .value
                            .split(',')
                            .next()
                            .unwrap_or("")
                            .trim()
                            .to_ascii_lowercase();
                        ctx.includes.push(target);
                    }
                    "exten" | "same" => {
                        let parts = split_top(&e.value);
                        let (pattern, app) = if e.key == "exten" {
                            let pattern = parts
                                .first()
                                .map(|p| p.split('/').next().unwrap_or("").trim())
                                .unwrap_or("");
                            let rest_start =
                                parts.iter().take(2).map(|p| p.len() + 1).sum::<usize>();
                            (
                                Some(pattern.to_owned()),
                                e.value.get(rest_start.min(e.value.len())..).unwrap_or(""),
                            )
                        } else {
                            let rest_start = parts.first().map_or(0, |p| p.len() + 1);
                            (
                                None,
                                e.value.get(rest_start.min(e.value.len())..).unwrap_or(""),
                            )
                        };
                        let (app_name, args) = app_and_args(app);
                        let app = app_name.to_ascii_lowercase();
                        for j in jump_targets(&app, args) {
                            ctx.jumps.push(j);
                        }
                        let step = Step {
                            app,
                            app_name,
                            args,
                            loc: e.loc,
                        };
                        let at = match pattern {
                            Some(p) => match ctx.by_pattern.get(&p) {
                                Some(i) => Some(*i),
                                None => {
                                    ctx.by_pattern.insert(p.clone(), ctx.exts.len());
                                    ctx.exts.push(Ext {
                                        pattern: p,
                                        loc: e.loc,
                                        steps: Vec::new(),
                                    });
                                    Some(ctx.exts.len() - 1)
                                }
                            },
                            None => ctx.last,
                        };
                        if let Some(x) = at.and_then(|i| ctx.exts.get_mut(i)) {
                            x.steps.push(step);
                        }
                        ctx.last = at;
                    }
                    _ => {}
                }
            }
        }
    }
    map
}

/// Contexts an application sends the call to (literal names only).
fn jump_targets(app: &str, args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let parts = split_top(args);
    match app {
        "goto" | "gosub" | "gotoif" | "gotoiftime" | "execif" => {
            // Goto(ctx,exten,prio); GotoIf(cond?ctx,exten,prio:...) keeps it simple: any 3-part target.
            let body = args.split_once('?').map_or(args, |(_, b)| b);
            for branch in body.split(':') {
                let p = split_top(branch);
                if p.len() >= 3
                    && let Some(c) = p.first().map(|c| c.trim())
                    && !c.is_empty()
                    && !c.contains('$')
                {
                    out.push(c.to_ascii_lowercase());
                }
            }
        }
        "dial" | "queue" => {
            // Local/${EXTEN}@ctx
            for dest in parts.first().unwrap_or(&"").split('&') {
                if let Some(rest) = dest
                    .trim()
                    .strip_prefix("Local/")
                    .or_else(|| dest.trim().strip_prefix("local/"))
                    && let Some((_, c)) = rest.rsplit_once('@')
                {
                    let c = c.split('/').next().unwrap_or("").trim();
                    if !c.is_empty() && !c.contains('$') {
                        out.push(c.to_ascii_lowercase());
                    }
                }
            }
        }
        _ => {}
    }
    out
}

/// What an open pattern reaches, or `None` when the pattern is bounded.
fn open_pattern(pattern: &str) -> Option<&'static str> {
    let body = pattern.strip_prefix('_')?;
    let wild = body.find(['.', '!'])?;
    let prefix = body.get(..wild).unwrap_or("");
    // Count pattern elements before the wildcard: a [..] class is one element.
    let mut elements = 0;
    let mut in_class = false;
    for c in prefix.chars() {
        match c {
            '[' => in_class = true,
            ']' => {
                in_class = false;
                elements += 1;
            }
            _ if in_class => {}
            '-' | ' ' => {}
            _ => elements += 1,
        }
    }
    let intl = ["00", "011", "+", "9011", "900", "0011", "9+"]
        .iter()
        .any(|p| prefix.starts_with(p));
    if intl {
        Some("international numbers")
    } else if elements <= 2 {
        Some("any number")
    } else {
        None
    }
}

/// Whether `${EXTEN` appears outside a `FILTER(...)` call in `args`.
fn unfiltered_exten(args: &str) -> bool {
    let mut from = 0;
    while let Some(p) = args.get(from..).and_then(|r| r.find("${EXTEN")) {
        let at = from + p;
        let before = args.get(..at).unwrap_or("");
        let inside_filter = before.rfind("FILTER(").is_some_and(|f| {
            let between = before.get(f..).unwrap_or("");
            between.matches('(').count() > between.matches(')').count()
        });
        if !inside_filter {
            return true;
        }
        from = at + 7;
    }
    false
}

fn dialplan(plans: &[&Conf], entries: &Entries, sink: &mut Sink) {
    let ctxs = contexts(plans);
    // Reachable contexts, each with who reaches it.
    let mut reach: BTreeMap<String, String> = BTreeMap::new();
    let mut queue: VecDeque<(String, String)> = entries
        .by
        .iter()
        .map(|(c, w)| (c.clone(), w.clone()))
        .collect();
    while let Some((c, who)) = queue.pop_front() {
        if reach.contains_key(&c) {
            continue;
        }
        if let Some(ctx) = ctxs.get(&c) {
            for next in ctx.includes.iter().chain(ctx.jumps.iter()) {
                queue.push_back((next.clone(), format!("{who}, via `{}`", ctx.name)));
            }
        }
        reach.insert(c, who);
    }
    let mut names: Vec<&String> = ctxs.keys().collect();
    names.sort();
    for key in names {
        let Some(ctx) = ctxs.get(key) else { continue };
        for ext in &ctx.exts {
            let wide = ext.pattern.starts_with('_') && ext.pattern.contains(['.', '!']);
            for step in &ext.steps {
                if step.app == "dial" && wide && unfiltered_exten(step.args) {
                    sink.push(
                        &DIALPLAN_UNFILTERED_EXTEN,
                        step.loc,
                        format!(
                            "Dial({}) in [{}] uses ${{EXTEN}} from pattern {} unfiltered",
                            step.args, ctx.name, ext.pattern
                        ),
                    );
                }
                if step.app == "disa" {
                    let pass = split_top(step.args)
                        .first()
                        .map(|p| p.trim().to_owned())
                        .unwrap_or_default();
                    if pass.is_empty() || pass.eq_ignore_ascii_case("no-password") {
                        sink.push(
                            &DISA_NO_PASSWORD,
                            step.loc,
                            format!(
                                "DISA({}) in [{}] gives a dial tone without a passcode",
                                step.args, ctx.name
                            ),
                        );
                    } else if pass.chars().all(|c| c.is_ascii_digit()) {
                        let w = secret::pin(&pass, &[]);
                        if !w.is_empty() {
                            sink.push(
                                &WEAK_PIN,
                                step.loc,
                                format!("DISA passcode in [{}]: {}", ctx.name, describe(&w)),
                            );
                        }
                    }
                }
            }
            let Some(who) = reach.get(key) else { continue };
            let Some(reaches) = open_pattern(&ext.pattern) else {
                continue;
            };
            let dials = ext.steps.iter().find(|s| {
                matches!(
                    s.app.as_str(),
                    "dial" | "goto" | "gosub" | "macro" | "queue"
                ) && s.args.contains("${EXTEN")
            });
            if let Some(d) = dials {
                sink.push(
                    &DIALPLAN_OPEN_PATTERN,
                    ext.loc,
                    format!(
                        "pattern {} in [{}] passes {reaches} to {}() at line {}; [{}] is reached by {who}",
                        ext.pattern, ctx.name, d.app_name, d.loc.line, ctx.name
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_patterns_from_the_issue() {
        for p in [
            "_X.", "_.", "_!", "_00.", "_011.", "_9011.", "_+X.", "_9X.", "_[0-9].",
        ] {
            assert!(open_pattern(p).is_some(), "{p}");
        }
        for p in ["_NXXNXXXXXX", "_1NXXNXXXXXX", "100", "_2XXX", "_0NXXXXXX."] {
            assert!(open_pattern(p).is_none(), "{p}");
        }
        assert_eq!(open_pattern("_011."), Some("international numbers"));
    }

    #[test]
    fn exten_inside_filter_is_fine() {
        assert!(unfiltered_exten("SIP/trunk/${EXTEN}"));
        assert!(!unfiltered_exten("PJSIP/${FILTER(0-9,${EXTEN})}@trunk"));
        assert!(unfiltered_exten("PJSIP/${FILTER(0-9,${X})}/${EXTEN:1}"));
        assert!(!unfiltered_exten("SIP/100"));
    }
}
