//! The router port-forward table for a PBX behind NAT, as text or Markdown.

use std::fmt::Write as _;

use super::{access_words, ids, merged, title};
use crate::plan::{Access, Plan};
use crate::site::Deployment;

fn md(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Renders the forward table (`markdown` picks the syntax).
pub(super) fn render(plan: &Plan, markdown: bool) -> String {
    let mut o = String::new();
    if markdown {
        let _ = writeln!(o, "# Port forwards: {}\n", md(&title(plan)));
    } else {
        let _ = writeln!(o, "Port forwards: {}\n", title(plan));
    }
    if plan.deployment == Deployment::Cloud {
        let _ = writeln!(
            o,
            "No router port forwards: the PBX runs in the cloud with its own public address. Apply the\nsecurity group instead (`pbxguard plan --format aws`).\n"
        );
    } else {
        let header = [
            "Protocol",
            "External port",
            "Forward to",
            "Allowed sources",
            "Services",
        ];
        let mut rows: Vec<[String; 5]> = Vec::new();
        for access in [Access::Trusted, Access::World, Access::Admin] {
            if access == Access::Admin
                && !plan
                    .admin_networks
                    .iter()
                    .any(|n| !plan.lan_network.overlaps(*n))
            {
                continue;
            }
            for (protocol, ports, rules) in merged(plan, access) {
                rows.push([
                    protocol.as_str().to_owned(),
                    ports.to_string(),
                    format!("{}:{}", plan.lan_address, ports),
                    access_words(plan, access),
                    ids(&rules),
                ]);
            }
        }
        if rows.is_empty() {
            let _ = writeln!(
                o,
                "Nothing needs forwarding: no enabled feature needs inbound access.\n"
            );
        } else if markdown {
            let _ = writeln!(o, "| {} |", header.join(" | "));
            let _ = writeln!(o, "|{}", "---|".repeat(header.len()));
            for r in &rows {
                let cells: Vec<String> = r.iter().map(|c| md(c)).collect();
                let _ = writeln!(o, "| {} |", cells.join(" | "));
            }
            let _ = writeln!(o);
        } else {
            let mut widths = header.map(str::len);
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.len());
                }
            }
            let line = |cells: Vec<&str>| {
                let mut l = String::new();
                for (c, w) in cells.iter().zip(widths) {
                    let _ = write!(l, "{c:<w$}  ");
                }
                l.trim_end().to_owned()
            };
            let _ = writeln!(o, "{}", line(header.to_vec()));
            let _ = writeln!(
                o,
                "{}",
                line(
                    widths
                        .iter()
                        .map(|w| "-".repeat(*w))
                        .collect::<Vec<_>>()
                        .iter()
                        .map(String::as_str)
                        .collect()
                )
            );
            for r in &rows {
                let _ = writeln!(o, "{}", line(r.iter().map(String::as_str).collect()));
            }
            let _ = writeln!(o);
        }
        let _ = writeln!(
            o,
            "Where the router can filter by source, restrict each forward to its allowed sources; the\nPBX's own firewall enforces them either way.\n"
        );
    }
    for (heading, forbidden) in [
        ("Never forward (the guides forbid exposing these)", true),
        ("Not forwarded (no enabled feature needs these)", false),
    ] {
        let closed: Vec<_> = plan
            .closed_rules()
            .filter(|r| r.forbidden == forbidden)
            .collect();
        if closed.is_empty() {
            continue;
        }
        if markdown {
            let _ = writeln!(o, "## {heading}\n");
        } else {
            let _ = writeln!(o, "{heading}:");
        }
        for r in closed {
            let (service, name) = if markdown {
                (md(&r.service), md(&r.name))
            } else {
                (r.service.clone(), r.name.clone())
            };
            let _ = writeln!(
                o,
                "{}{} {} ({service}, {name})",
                if markdown { "- " } else { "  " },
                r.protocol,
                r.ports,
            );
        }
        let _ = writeln!(o);
    }
    if markdown {
        let _ = writeln!(o, "## Router settings\n");
    } else {
        let _ = writeln!(o, "Router settings:");
    }
    let b = if markdown { "- " } else { "  - " };
    let _ = writeln!(
        o,
        "{b}Turn off \"SIP ALG\", \"SIP Session Helper\", \"SIP Fixup\" and \"SIP NAT Traversal\": they rewrite SIP and break the PBX's own NAT handling."
    );
    let _ = writeln!(
        o,
        "{b}Raise the UDP timeout to at least 90 s; at 30 s remote phones briefly become unreachable."
    );
    let _ = writeln!(
        o,
        "{b}Do not put the PBX (or a phone) in the DMZ: it exposes every service on it."
    );
    let _ = writeln!(
        o,
        "{b}Forward nothing to the phones themselves; at a minimum block inbound TCP 80 to them."
    );
    o
}
