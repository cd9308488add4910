//! What the plan decides, stated as the guides' rules.
#![allow(clippy::unwrap_used, clippy::panic)]

use pbxguard_firewall::catalog::Role;
use pbxguard_firewall::net::Protocol;
use pbxguard_firewall::{Access, Catalog, Format, Plan, Site, WarningCode, render};

fn plan(text: &str) -> Plan {
    let catalog = Catalog::builtin().unwrap();
    let site = Site::parse(text, &catalog).unwrap_or_else(|e| panic!("{e}"));
    Plan::build(&site, &catalog).unwrap()
}

fn access(p: &Plan, service: &str, proto: Protocol) -> Access {
    p.rules
        .iter()
        .find(|r| r.service == service && r.protocol == proto)
        .unwrap_or_else(|| panic!("{service} missing"))
        .access
}

fn codes(p: &Plan) -> Vec<WarningCode> {
    p.warnings.iter().map(|w| w.code).collect()
}

const BASE: &str = "[pbx]\nproduct = \"freeswitch\"\nlan_address = \"192.168.0.10/24\"\n";

#[test]
fn sip_is_trusted_only_unless_the_site_opens_it_to_the_world() {
    let p = plan(&format!(
        "{BASE}features = [\"remote-phones\"]\n[[trusted]]\naddress = \"203.0.113.5\"\n"
    ));
    assert_eq!(access(&p, "sip-internal", Protocol::Udp), Access::Trusted);
    assert_eq!(access(&p, "rtp", Protocol::Udp), Access::World);
    let nft = render(&p, Format::Nft);
    assert!(nft.contains("ip saddr @trusted4 udp dport 5060 accept"));
    assert!(
        nft.contains("udp dport 5060 counter drop comment \"signalling from untrusted sources\"")
    );

    let p = plan(&format!(
        "{BASE}features = [\"remote-phones\"]\n[sip]\nopen_to_world = true\n"
    ));
    assert_eq!(access(&p, "sip-internal", Protocol::Udp), Access::World);
    assert!(codes(&p).contains(&WarningCode::SipOpenToWorld));
    assert!(!render(&p, Format::Nft).contains("signalling from untrusted sources"));
}

#[test]
fn ports_no_feature_needs_stay_closed_with_the_reason() {
    let p = plan(&format!("{BASE}features = [\"sip-trunks\"]\n"));
    assert_eq!(access(&p, "sip-internal", Protocol::Udp), Access::LanOnly);
    let r = p.rules.iter().find(|r| r.service == "verto").unwrap();
    assert!(r.reason.contains("only needed for verto"), "{}", r.reason);
    let esl = p.rules.iter().find(|r| r.service == "esl").unwrap();
    assert_eq!(esl.access, Access::LanOnly);
    assert!(render(&p, Format::Explain).contains("tcp 8021 esl"));
    // No trusted sources: the carrier profile opens to nobody, and the plan says so.
    assert!(codes(&p).contains(&WarningCode::NoTrustedSources));
}

#[test]
fn risky_choices_each_raise_their_warning() {
    let p = plan(
        "[pbx]\nproduct = \"freeswitch\"\nlan_address = \"192.168.0.10/24\"\nexpose = [\"esl\"]\n\
         [deployment]\ndmz = true\n[admin]\nssh_open_to_world = true\nnetworks = [\"198.51.100.0/24\"]\n",
    );
    let c = codes(&p);
    for want in [
        WarningCode::ControlReachable,
        WarningCode::Dmz,
        WarningCode::SshOpenToWorld,
        WarningCode::SshDefaultPort,
    ] {
        assert!(c.contains(&want), "{want:?} missing from {c:?}");
    }
    assert_eq!(access(&p, "esl", Protocol::Tcp), Access::Admin);
    assert_eq!(access(&p, "ssh", Protocol::Tcp), Access::World);

    let p = plan(
        "[pbx]\nproduct = \"asterisk\"\nlan_address = \"192.168.0.10/24\"\nexpose = [\"tftp\"]\n",
    );
    assert!(codes(&p).contains(&WarningCode::ProvisioningExposed));

    let p = plan(&format!(
        "{BASE}features = [\"remote-phones\"]\nrtp_range = \"20000-20100\"\n"
    ));
    assert!(codes(&p).contains(&WarningCode::RtpRangeDiffers));
    assert!(render(&p, Format::Nft).contains("udp dport 20000-20100 accept"));
}

#[test]
fn iptables_carries_the_freeswitch_scanner_drops_and_dscp_marks() {
    let p = plan(&format!(
        "{BASE}features = [\"remote-phones\", \"sip-trunks\"]\n[sip]\nopen_to_world = true\n"
    ));
    let ipt = render(&p, Format::Iptables);
    for port in ["5060", "5080"] {
        for ua in ["VaxSIPUserAgent", "friendly-scanner", "sipcli"] {
            assert!(
                ipt.contains(&format!(
                    "-A INPUT -p udp -m udp --dport {port} -m string --string \"{ua}\" --algo bm -j DROP"
                )),
                "{port} {ua}"
            );
        }
    }
    assert!(ipt.contains("--sport 5060 -j DSCP --set-dscp-class cs3"));
    assert!(ipt.contains("--sport 16384:32768 -j DSCP --set-dscp-class ef"));
    // Scanner drops and flood limits come before the conntrack accept.
    let accept = ipt.find("--ctstate ESTABLISHED,RELATED -j ACCEPT").unwrap();
    assert!(ipt.find("friendly-scanner").unwrap() < accept);
    assert!(ipt.find("hashlimit").unwrap() < accept);
}

#[test]
fn the_nft_flood_limit_precedes_the_established_accept() {
    let p = plan(&format!(
        "{BASE}features = [\"remote-phones\"]\n[sip]\nopen_to_world = true\n"
    ));
    let nft = render(&p, Format::Nft);
    assert!(
        nft.find("@sip_flood4").unwrap() < nft.find("ct state established,related accept").unwrap()
    );
}

#[test]
fn forwards_list_what_to_forward_and_what_never_to() {
    let p = plan(
        "[pbx]\nproduct = \"pbxtra\"\nlan_address = \"192.168.0.20/24\"\nfeatures = [\"remote-phones\", \"linked-servers\"]\n\
         [[trusted]]\naddress = \"198.51.100.40\"\n",
    );
    let t = render(&p, Format::Forwards);
    assert!(t.contains("udp       5060"), "{t}");
    assert!(t.contains("192.168.0.20:10000-20000"), "{t}");
    assert!(t.contains("udp       4569"), "{t}"); // linked servers: IAX2
    let never = t.split("Never forward").nth(1).unwrap();
    let never = never.split("Not forwarded").next().unwrap();
    assert!(never.contains("udp 69 (tftp"), "{t}");
    assert!(
        never.contains("tcp 22 (ssh") || t.contains("tcp 22 (ssh"),
        "{t}"
    );
    assert!(
        !never.contains("hudmobile-audio"),
        "not needed is not forbidden: {t}"
    );
    let md = render(&p, Format::ForwardsMd);
    assert!(
        md.contains("| udp | 5060 | 192.168.0.20:5060 | trusted: 198.51.100.40/32 | sip-udp |"),
        "{md}"
    );
    let cloud = plan(
        "[pbx]\nproduct = \"portsip\"\nlan_address = \"172.31.0.5/20\"\nfeatures = [\"remote-phones\"]\n[deployment]\nkind = \"cloud\"\n",
    );
    assert!(render(&cloud, Format::Forwards).contains("No router port forwards"));
}

#[test]
fn every_open_rule_has_a_reason_and_a_source() {
    let p = plan(pbxguard_firewall::EXAMPLE_SITE);
    for r in &p.rules {
        assert!(
            !r.reason.is_empty() && !r.source.is_empty(),
            "{}",
            r.service
        );
    }
    assert!(p.open_rules().any(|r| r.role == Role::Rtp));
}
