//! pbxguard-audit: linters for PBX configurations and firewall rulesets.
//!
//! Text in, findings out. The core does no I/O: [`audit`] takes the files' contents and a [`Resolver`]
//! that answers include directives (`#include`, `#tryinclude`, `X-PRE-PROCESS cmd="include"`,
//! `include_file`). The optional [`fs`] module (feature `fs`, on by default) is the thin layer that walks
//! directories and reads files for the command line.
//!
//! Readers ([`read`]) understand Asterisk's `.conf` format, FreeSWITCH XML, `kamailio.cfg` with its
//! preprocessor, `iptables-save` / `nft list ruleset` / `nft -j list ruleset` output, and firewalld's
//! permanent configuration (`zones/*.xml`, `services/*.xml`, `policies/*.xml` and `firewalld.conf` of one directory such as
//! `/etc/firewalld`, read together; see [`read::firewalld`]) and ufw's (`/etc/ufw/*.rules`, `ufw.conf`
//! and `/etc/default/ufw`, read together; see [`read::ufw`]). They are tolerant:
//! what they cannot read is reported in [`Report::unread`] and the rest is still audited. Every finding
//! carries the file and line where the fix goes; the [`rules`] catalog says why each rule matters and how
//! to fix it. Findings can be suppressed with a reason, inline
//! (`; pbxguard-audit: ignore sip-allowguest lab box, no trunk`) or from a list in the configuration
//! ([`Suppression`]). [`output`] renders a human table grouped by file, JSON and SARIF 2.1.0.
//!
//! Asterisk and FreeSWITCH files are checked per installation (a directory such as `/etc/asterisk`, or
//! the FreeSWITCH configuration directory above `autoload_configs/`), because whether a dial plan is
//! dangerous depends on who reaches it: guests (`allowguest`, PJSIP `anonymous`, IAX2 `[guest]`,
//! `auth-calls=false`) and trunks (peers with a fixed `host=`, PJSIP `identify`, the FreeSWITCH `public`
//! context).
//!
//! Work is bounded whatever the input: include depth (16) and included files per root (2000), XML
//! nesting (256), JSON nesting (128), rules followed through firewall jumps (200,000), firewalld services
//! pulled in through `<include>` (64 per service). The fuzz target in
//! `fuzz/` (`cargo +nightly fuzz run audit_text`) reads any bytes as every format.

pub mod check;
#[cfg(feature = "fs")]
pub mod fs;
pub mod model;
pub mod output;
pub mod read;
pub mod rules;
pub mod secret;
mod sources;
mod suppress;

pub use model::{FileId, Finding, Loc, Report, Severity, SourceFile, SuppressedBy, Unread};
pub use rules::Rule;
pub use sources::{NoIncludes, Resolver};
pub use suppress::Suppression;

use std::collections::{BTreeMap, HashMap};

use check::Sink;
use read::conf::Conf;
use read::firewall::Ruleset;
use read::firewalld::Firewalld;
use read::kamailio::KamCfg;
use read::ufw::Ufw;
use read::xml::XmlDoc;
use sources::Sources;

/// What an audit should do besides reading the files.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Suppressions from the configuration, each with its reason.
    pub suppressions: Vec<Suppression>,
    /// Kamailio defines given on its command line (`-A WITH_AUTH`), which the file does not show.
    pub kamailio_defines: Vec<String>,
}

/// Which Asterisk configuration a `.conf` file is, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AsteriskKind {
    /// `sip.conf` and `sip_*.conf` (chan_sip).
    Sip,
    /// `pjsip.conf` and `pjsip*.conf` (res_pjsip).
    Pjsip,
    /// `iax.conf` (chan_iax2).
    Iax,
    /// `extensions.conf` (dial plan).
    Extensions,
    /// `voicemail.conf`.
    Voicemail,
    /// `manager.conf` (AMI).
    Manager,
}

/// The format of a file, from its name and its first lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// An Asterisk configuration of the given kind.
    Asterisk(AsteriskKind),
    /// FreeSWITCH XML.
    FreeSwitchXml,
    /// `kamailio.cfg`.
    Kamailio,
    /// `iptables-save` / `ip6tables-save` output.
    Iptables,
    /// `nft list ruleset` output.
    Nft,
    /// `nft -j list ruleset` output.
    NftJson,
    /// A firewalld zone (`zones/NAME.xml`, document element `<zone>`).
    FirewalldZone,
    /// A firewalld service definition (`services/NAME.xml`, document element `<service>`).
    FirewalldService,
    /// `firewalld.conf` (the default zone).
    FirewalldConf,
    /// A firewalld policy (`policies/NAME.xml`, document element `<policy>`).
    FirewalldPolicy,
    /// One of ufw's `iptables-restore` files (`user.rules`, `before.rules`, `after.rules`, `*6.rules`).
    UfwRules,
    /// `/etc/default/ufw` (the default input policy).
    UfwDefault,
    /// `/etc/ufw/ufw.conf` (whether ufw is enabled).
    UfwConf,
}

/// Document elements of firewalld's other configuration files (ipsets, helpers, ICMP types,
/// the lockdown whitelist, direct rules): recognised so they are not read as FreeSWITCH XML.
const FIREWALLD_OTHER_ROOTS: &[&str] = &[
    "ipset",
    "policy",
    "helper",
    "icmptype",
    "whitelist",
    "direct",
];

/// Recognises a file's format; `None` for files the audit does not read (other `.conf` files, …).
pub fn detect(path: &str, text: &str) -> Option<Format> {
    let name = path
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase();
    // A dump someone named user.rules is still plain iptables-save output unless it has ufw's chains.
    if read::ufw::rules_file(&name).is_some()
        && read::firewall::sniff_iptables(text)
        && text.contains(":ufw")
    {
        return Some(Format::UfwRules);
    }
    if name == "ufw" && text.contains("DEFAULT_INPUT_POLICY") {
        return Some(Format::UfwDefault);
    }
    if name == "ufw.conf" && text.contains("ENABLED") {
        return Some(Format::UfwConf);
    }
    if let Some(stem) = name.strip_suffix(".conf") {
        // Same prefixes, other formats: NOTIFY templates, the PJSIP wizard, IAX provisioning.
        let other = ["sip_notify", "pjsip_notify", "pjsip_wizard", "iaxprov"]
            .iter()
            .any(|p| stem.starts_with(p));
        let kind = if other {
            None
        } else if stem.starts_with("pjsip") {
            Some(AsteriskKind::Pjsip)
        } else if stem.starts_with("sip") {
            Some(AsteriskKind::Sip)
        } else if stem.starts_with("iax") {
            Some(AsteriskKind::Iax)
        } else if stem.starts_with("extensions") {
            Some(AsteriskKind::Extensions)
        } else if stem.starts_with("voicemail") {
            Some(AsteriskKind::Voicemail)
        } else if stem.starts_with("manager") {
            Some(AsteriskKind::Manager)
        } else {
            None
        };
        if let Some(k) = kind {
            return Some(Format::Asterisk(k));
        }
    }
    if name == "firewalld.conf" {
        return Some(Format::FirewalldConf);
    }
    if name.ends_with(".xml") {
        let parent = path
            .replace('\\', "/")
            .rsplit('/')
            .nth(1)
            .unwrap_or("")
            .to_ascii_lowercase();
        return match read::firewalld::root_element(text) {
            Some("zone") => Some(Format::FirewalldZone),
            Some("service") if parent == "services" => Some(Format::FirewalldService),
            Some("policy") if parent == "policies" => Some(Format::FirewalldPolicy),
            Some(r) if FIREWALLD_OTHER_ROOTS.contains(&r) => None,
            _ => Some(Format::FreeSwitchXml),
        };
    }
    if name.starts_with("kamailio") && name.ends_with(".cfg") {
        return Some(Format::Kamailio);
    }
    if read::nftjson::sniff(text) {
        return Some(Format::NftJson);
    }
    if read::firewall::sniff_nft(text) {
        return Some(Format::Nft);
    }
    if read::firewall::sniff_iptables(text) {
        return Some(Format::Iptables);
    }
    if name.ends_with(".cfg") && read::kamailio::sniff(text) {
        return Some(Format::Kamailio);
    }
    None
}

/// The installation a file belongs to: the FreeSWITCH configuration directory above
/// `autoload_configs/`, `sip_profiles/`, `directory/` or `dialplan/`, else the file's directory (Asterisk
/// keeps one installation per directory, such as `/etc/asterisk`).
fn installation(path: &str) -> String {
    let p = format!("/{}", path.replace('\\', "/"));
    for marker in [
        "/autoload_configs/",
        "/sip_profiles/",
        "/directory/",
        "/dialplan/",
    ] {
        if let Some(i) = p.find(marker) {
            return p.get(..i).unwrap_or("").to_owned();
        }
    }
    p.rsplit_once('/')
        .map_or(String::new(), |(dir, _)| dir.to_owned())
}

/// A parsed root file.
pub(crate) enum Doc {
    Asterisk(AsteriskKind, Conf),
    Xml(XmlDoc),
    Kamailio(KamCfg),
    Firewall(Ruleset),
    Firewalld(Firewalld),
    Ufw(Ufw),
}

impl Doc {
    fn files(&self) -> &[FileId] {
        match self {
            Doc::Asterisk(_, c) => &c.files,
            Doc::Xml(d) => &d.files,
            Doc::Kamailio(k) => &k.files,
            Doc::Firewall(r) => &r.files,
            Doc::Firewalld(f) => &f.ruleset.files,
            Doc::Ufw(u) => &u.ruleset.files,
        }
    }
}

/// Audits `roots` (and what they include, found through `resolver`).
///
/// A root that another root includes is audited once, as part of the including file. Files of formats the
/// audit does not read are listed in [`Report::skipped`].
pub fn audit(roots: Vec<SourceFile>, resolver: &mut dyn Resolver, options: &Options) -> Report {
    let mut sources = Sources::new(resolver);
    let mut docs: Vec<Doc> = Vec::new();
    let mut skipped = Vec::new();
    // firewalld files are read together, per configuration directory, once all roots are known.
    let mut firewalld: BTreeMap<String, read::firewalld::Tree> = BTreeMap::new();
    // So are ufw's: its rules files, /etc/default/ufw and ufw.conf.
    let mut ufw: BTreeMap<String, read::ufw::Tree> = BTreeMap::new();
    let ids: Vec<(FileId, Option<Format>)> = roots
        .into_iter()
        .map(|f| {
            let fmt = detect(&f.path, &f.text);
            (sources.add(f), fmt)
        })
        .collect();
    for (id, fmt) in ids {
        sources.begin_root();
        let doc = match fmt {
            Some(Format::Asterisk(k)) => Doc::Asterisk(k, read::conf::read(&mut sources, id)),
            Some(Format::FreeSwitchXml) => Doc::Xml(read::xml::read(&mut sources, id)),
            Some(Format::Kamailio) => Doc::Kamailio(read::kamailio::read(
                &mut sources,
                id,
                &options.kamailio_defines,
            )),
            Some(Format::Iptables) => {
                Doc::Firewall(read::firewall::read_iptables(&mut sources, id))
            }
            Some(Format::Nft) => Doc::Firewall(read::firewall::read_nft(&mut sources, id)),
            Some(Format::NftJson) => Doc::Firewall(read::nftjson::read(&mut sources, id)),
            Some(
                f @ (Format::FirewalldZone
                | Format::FirewalldService
                | Format::FirewalldConf
                | Format::FirewalldPolicy),
            ) => {
                let tree = firewalld
                    .entry(read::firewalld::directory(sources.path(id)))
                    .or_default();
                match f {
                    Format::FirewalldZone => tree.zones.push(id),
                    Format::FirewalldService => tree.services.push(id),
                    Format::FirewalldPolicy => tree.policies.push(id),
                    _ => tree.conf = Some(id),
                }
                continue;
            }
            Some(f @ (Format::UfwRules | Format::UfwDefault | Format::UfwConf)) => {
                let path = sources.path(id);
                let name = path
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or(path)
                    .to_ascii_lowercase();
                let v6 = read::ufw::rules_file(&name);
                let tree = ufw.entry(read::ufw::installation(path)).or_default();
                match (f, v6) {
                    (Format::UfwRules, Some(v6)) => tree.rules.push((id, v6)),
                    (Format::UfwDefault, _) => tree.default = Some(id),
                    _ => tree.conf = Some(id),
                }
                continue;
            }
            None => {
                skipped.push(id);
                continue;
            }
        };
        docs.push(doc);
    }
    // Drop roots that a kept root already read through an include.
    let mut included_by: HashMap<FileId, Vec<usize>> = HashMap::new();
    for (j, d) in docs.iter().enumerate() {
        for f in d.files().iter().skip(1) {
            included_by.entry(*f).or_default().push(j);
        }
    }
    let mut keep = vec![true; docs.len()];
    for (i, d) in docs.iter().enumerate() {
        let Some(root) = d.files().first() else {
            continue;
        };
        let elsewhere = included_by.get(root).is_some_and(|js| {
            js.iter()
                .any(|&j| j != i && keep.get(j).copied().unwrap_or(false))
        });
        if elsewhere && let Some(k) = keep.get_mut(i) {
            *k = false;
        }
    }
    let mut docs: Vec<Doc> = docs
        .into_iter()
        .zip(keep)
        .filter_map(|(d, k)| k.then_some(d))
        .collect();
    for tree in firewalld.values() {
        // Service definitions alone change nothing: they matter only to zones.
        if tree.zones.is_empty() && tree.conf.is_none() {
            skipped.extend(tree.services.iter().chain(&tree.policies));
            continue;
        }
        sources.begin_root();
        docs.push(Doc::Firewalld(read::firewalld::read(&mut sources, tree)));
    }
    for tree in ufw.values() {
        // The policy or the enabled switch without any rules file: nothing to walk.
        if tree.rules.is_empty() {
            skipped.extend(tree.default.iter().chain(&tree.conf));
            continue;
        }
        sources.begin_root();
        docs.push(Doc::Ufw(read::ufw::read(&mut sources, tree)));
    }

    let groups: Vec<String> = docs
        .iter()
        .map(|d| installation(d.files().first().map_or("", |f| sources.path(*f))))
        .collect();
    let mut sink = Sink::default();
    check::run(&docs, &groups, &mut sink);
    let (paths, texts, mut unread) = sources.into_parts();
    let mut findings = sink.into_findings();
    suppress::apply(
        &mut findings,
        &paths,
        &texts,
        &options.suppressions,
        &mut unread,
    );
    findings.sort_by(|a, b| {
        (a.loc.file, a.loc.line, a.loc.column, a.rule.id).cmp(&(
            b.loc.file,
            b.loc.line,
            b.loc.column,
            b.rule.id,
        ))
    });
    findings.dedup_by(|a, b| a.rule.id == b.rule.id && a.loc == b.loc);
    unread.sort_by_key(|u| u.loc);
    let skipped = skipped
        .into_iter()
        .filter_map(|id| paths.get(id.index()).cloned())
        .collect();
    Report {
        files: paths,
        findings,
        unread,
        skipped,
    }
}
