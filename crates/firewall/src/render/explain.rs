//! The explanation: every port with why it is open or closed, the warnings, and the conntrack and NAT
//! advice.

use std::fmt::Write as _;

use super::{access_words, title};
use crate::plan::{Access, Plan};
use crate::site::Deployment;

/// conntrack SIP helper guidance and UDP timeout advice for the plan.
pub fn conntrack_advice(plan: &Plan) -> String {
    let mut o = String::new();
    let sip_udp: Vec<String> = plan
        .sip_udp()
        .iter()
        .filter(|r| r.is_single())
        .map(|r| r.first().to_string())
        .collect();
    let _ = writeln!(o, "conntrack SIP helper (nf_conntrack_sip):");
    match plan.rtp_range {
        Some(rtp) => {
            let _ = writeln!(
                o,
                "  - Not needed: this plan opens the RTP range {rtp} explicitly, so no RELATED expectations are\n    required. Since Linux 4.7 a helper acts only where a rule assigns it; leave it unassigned."
            );
        }
        None => {
            let _ = writeln!(
                o,
                "  - This product uses no fixed RTP range; its media reaches the PBX over flows it opened\n    itself (STUN/ICE), which the established/related rule accepts. Leave the helper unassigned.\n    ICE needs at least one of the two routers in a call to do full-cone or restricted NAT; a\n    symmetric NAT on both ends leaves the call without media unless a media relay is used."
            );
        }
    }
    let _ = writeln!(
        o,
        "  - The helper cannot read encrypted signalling (TLS, WSS) and only watches its `ports` (default 5060)."
    );
    if !sip_udp.is_empty() {
        let ports: Vec<String> = sip_udp.iter().take(8).cloned().collect();
        let _ = writeln!(
            o,
            "  - To rely on it instead of an open RTP range: /etc/modprobe.d/50-nf_conntrack_sip.conf with\n      options nf_conntrack_sip ports={} sip_direct_media=1\n    then assign it (nft: `ct helper set`; iptables: `-t raw -j CT --helper sip`) and accept RELATED.",
            ports.join(",")
        );
        if sip_udp.len() > 8 {
            let _ = writeln!(
                o,
                "    The module watches at most 8 ports; {} signalling ports are open here.",
                sip_udp.len()
            );
        }
    }
    let _ = writeln!(
        o,
        "  - sip_direct_media=0 is needed when media bypasses the signalling endpoints (bypass media)."
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "UDP timeouts and NAT:");
    match plan.deployment {
        Deployment::OnPremNat => {
            let _ = writeln!(
                o,
                "  - Turn off the router's SIP ALG / SIP helper / SIP fixup: it rewrites SIP and breaks the PBX's NAT handling."
            );
            let _ = writeln!(
                o,
                "  - Set the router's UDP timeout to at least 90 s (30 s makes phones briefly unreachable). On a Linux router:\n      sysctl -w net.netfilter.nf_conntrack_udp_timeout=90 net.netfilter.nf_conntrack_udp_timeout_stream=180"
            );
            let _ = writeln!(
                o,
                "  - Or keep phones' NAT keep-alive / re-registration interval below the router's timeout (e.g. 25 s)."
            );
        }
        Deployment::Cloud => {
            let _ = writeln!(
                o,
                "  - The instance's public address is mapped 1:1 by the cloud; there is no ALG to turn off. Tell the PBX\n    its public address for SDP and Contact headers."
            );
            let _ = writeln!(
                o,
                "  - Phones behind home routers still need a NAT keep-alive below their router's UDP timeout (e.g. 25 s)."
            );
        }
    }
    o
}

/// Renders the explanation.
pub(super) fn render(plan: &Plan) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}\n", title(plan));
    let _ = writeln!(
        o,
        "LAN {} may reach every service on the PBX; the rules below concern everyone else.",
        plan.lan_network
    );
    if plan.trusted.is_empty() {
        let _ = writeln!(o, "Trusted sources: none.");
    } else {
        let _ = writeln!(o, "Trusted sources:");
        for t in &plan.trusted {
            let kind = serde_json::to_value(t.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {} {} ({kind})",
                t.address,
                super::safe_comment(&t.name)
            );
        }
    }
    if plan.admin_networks.is_empty() {
        let _ = writeln!(o, "Admin networks: none.");
    } else {
        let nets: Vec<String> = plan
            .admin_networks
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = writeln!(o, "Admin networks: {}", nets.join(", "));
    }
    let _ = writeln!(
        o,
        "Signalling: {}; more than {} packets/s from one source is dropped in the kernel.",
        if plan.sip_open_to_world {
            "open to every source (sip.open_to_world)"
        } else {
            "trusted sources only"
        },
        plan.sip_rate_limit
    );
    if let Some(r) = plan.rtp_range {
        let _ = writeln!(o, "RTP range: {r}");
    }

    let section = |o: &mut String, heading: &str, rules: Vec<&crate::plan::PortRule>| {
        if rules.is_empty() {
            return;
        }
        let _ = writeln!(o, "\n{heading}");
        for r in rules {
            let _ = writeln!(
                o,
                "  {} {} {} ({}): {}",
                r.protocol,
                r.ports,
                r.service,
                r.name,
                access_words(plan, r.access)
            );
            let _ = writeln!(o, "      why: {}", r.reason);
            if let Some(risk) = &r.risk
                && (r.access != Access::LanOnly || r.role == crate::catalog::Role::Control)
            {
                let _ = writeln!(o, "      risk: {risk}");
            }
            let _ = writeln!(o, "      source: {}", r.source);
        }
    };
    section(&mut o, "OPEN", plan.open_rules().collect());
    section(
        &mut o,
        "CLOSED TO THE INTERNET (reachable from the LAN only)",
        plan.closed_rules().collect(),
    );
    if !plan.outbound.is_empty() {
        let _ = writeln!(
            o,
            "\nOUTBOUND (allow these if the firewall filters traffic leaving the PBX; never forward them)"
        );
        for r in &plan.outbound {
            let _ = writeln!(
                o,
                "  {} {} {} ({}): {}",
                r.protocol, r.ports, r.service, r.name, r.reason
            );
            let _ = writeln!(o, "      source: {}", r.source);
        }
    }
    let _ = writeln!(o, "\nWARNINGS");
    if plan.warnings.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for w in &plan.warnings {
        let code = serde_json::to_value(w.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(o, "  [{code}] {}", w.message);
    }
    let _ = writeln!(o, "\nCONNTRACK AND NAT");
    o.push_str(&conntrack_advice(plan));
    o
}
