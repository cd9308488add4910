//! Renderers: a [`Plan`] in, configuration text out.
//!
//! Every renderer states in its header which product and site it was made for, and that
//! `pbxguard plan --explain` gives the reasons. Text that came from the site file (names of trusted
//! sources) is reduced to a safe character set before it lands in a comment, so a site file cannot
//! inject rules.

mod aws;
mod explain;
mod firewalld;
mod forwards;
mod iptables;
mod nft;
mod ufw;

use std::fmt;
use std::str::FromStr;

use crate::net::{Cidr, PortRange, Protocol};
use crate::plan::{Access, Plan, PortRule};

pub use explain::conntrack_advice;

/// User-Agent fragments of SIP scanners dropped by the iptables renderer's string match: the FreeSWITCH
/// guide's three (002_898baff124e62fb2.txt, "SIP scanner iptables block") plus the two more that
/// Kamailio's sample configuration drops.
pub const SCANNER_USER_AGENTS: &[&str] = &[
    "friendly-scanner",
    "sipcli",
    "VaxSIPUserAgent",
    "sipvicious",
    "pplsip",
];

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// A complete nftables ruleset for `nft -f`.
    Nft,
    /// An IPv4 ruleset for `iptables-restore`.
    Iptables,
    /// An IPv6 ruleset for `ip6tables-restore`.
    Ip6tables,
    /// A firewalld zone file.
    Firewalld,
    /// A ufw command script.
    Ufw,
    /// AWS security-group ingress permissions (JSON for `--ip-permissions`).
    Aws,
    /// The router port-forward table as plain text.
    Forwards,
    /// The router port-forward table as Markdown.
    ForwardsMd,
    /// conntrack SIP helper guidance and UDP timeout advice.
    Conntrack,
    /// Why every port is open or closed, the warnings, and the conntrack advice.
    Explain,
}

impl Format {
    /// Every format with its command-line name.
    pub const ALL: &'static [(&'static str, Format)] = &[
        ("nft", Format::Nft),
        ("iptables", Format::Iptables),
        ("ip6tables", Format::Ip6tables),
        ("firewalld", Format::Firewalld),
        ("ufw", Format::Ufw),
        ("aws", Format::Aws),
        ("forwards", Format::Forwards),
        ("forwards-md", Format::ForwardsMd),
        ("conntrack", Format::Conntrack),
        ("explain", Format::Explain),
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("nft", |(n, _)| n)
    }
}

/// A format name that is not one of [`Format::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatUnknown(pub String);

impl fmt::Display for FormatUnknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Format::ALL.iter().map(|(n, _)| *n).collect();
        write!(
            f,
            "unknown format `{}` (expected one of: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for FormatUnknown {}

impl FromStr for Format {
    type Err = FormatUnknown;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, f)| *f)
            .ok_or_else(|| FormatUnknown(s.to_owned()))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Renders `plan` in `format`.
pub fn render(plan: &Plan, format: Format) -> String {
    match format {
        Format::Nft => nft::render(plan),
        Format::Iptables => iptables::render(plan, false),
        Format::Ip6tables => iptables::render(plan, true),
        Format::Firewalld => firewalld::render(plan),
        Format::Ufw => ufw::render(plan),
        Format::Aws => aws::render(plan),
        Format::Forwards => forwards::render(plan, false),
        Format::ForwardsMd => forwards::render(plan, true),
        Format::Conntrack => conntrack_advice(plan),
        Format::Explain => explain::render(plan),
    }
}

/// Keeps letters, digits and a few punctuation marks, so site-provided text is inert in any ruleset
/// comment or shell quote.
pub(crate) fn safe_comment(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " -_.:/,()+".contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    let collapsed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(60).collect()
}

/// A one-line header naming the plan's product and site.
pub(crate) fn title(plan: &Plan) -> String {
    let version = plan
        .version
        .as_deref()
        .map(|v| format!(" {}", safe_comment(v)))
        .unwrap_or_default();
    let deployment = match plan.deployment {
        crate::site::Deployment::OnPremNat => "on-premise behind NAT",
        crate::site::Deployment::Cloud => "cloud",
    };
    format!(
        "pbxguard plan for {}{version} ({deployment}), PBX at {}",
        plan.product_name, plan.lan_address
    )
}

/// Open rules grouped for rendering: consecutive rules with the same access and protocol stay in
/// catalog order; the result pairs each rule with its sources split by family.
pub(crate) struct Sources {
    pub v4: Vec<Cidr>,
    pub v6: Vec<Cidr>,
}

pub(crate) fn sources(plan: &Plan, access: Access) -> Sources {
    let all = plan.sources(access);
    Sources {
        v4: all.iter().copied().filter(|c| c.is_ipv4()).collect(),
        v6: all.iter().copied().filter(|c| !c.is_ipv4()).collect(),
    }
}

/// The distinct (protocol, ports) pairs open to `access`, with the service ids that need each.
pub(crate) fn merged(plan: &Plan, access: Access) -> Vec<(Protocol, PortRange, Vec<&PortRule>)> {
    let mut out: Vec<(Protocol, PortRange, Vec<&PortRule>)> = Vec::new();
    for r in plan.rules.iter().filter(|r| r.access == access) {
        match out
            .iter_mut()
            .find(|(p, ports, _)| *p == r.protocol && *ports == r.ports)
        {
            Some((_, _, v)) => v.push(r),
            None => out.push((r.protocol, r.ports, vec![r])),
        }
    }
    out
}

pub(crate) fn ids(rules: &[&PortRule]) -> String {
    let mut v: Vec<&str> = rules.iter().map(|r| r.service.as_str()).collect();
    v.dedup();
    v.join(", ")
}

pub(crate) fn access_words(plan: &Plan, access: Access) -> String {
    let cidrs = |v: Vec<Cidr>| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match access {
        Access::World => "any source".into(),
        Access::Trusted if plan.trusted.is_empty() => "trusted sources (none listed)".into(),
        Access::Trusted => format!("trusted: {}", cidrs(plan.sources(access))),
        Access::Admin if plan.admin_networks.is_empty() => "admin networks (none listed)".into(),
        Access::Admin => format!("admin: {}", cidrs(plan.sources(access))),
        Access::LanOnly => "LAN only".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_text_in_comments_cannot_break_out() {
        let evil = "x\" accept; flush ruleset; #\n'$(rm -rf /)'<a>";
        let s = safe_comment(evil);
        assert!(!s.contains('"') && !s.contains(';') && !s.contains('\n') && !s.contains('\''));
        assert!(!s.contains('$') && !s.contains('<'));
    }

    #[test]
    fn format_names_round_trip() {
        for (name, f) in Format::ALL {
            assert_eq!(name.parse::<Format>().unwrap(), *f);
            assert_eq!(f.name(), *name);
        }
        assert!("pf".parse::<Format>().is_err());
    }
}
