//! Whole sample configurations, written the way Asterisk, FreeSWITCH and Kamailio ship them (plus the
//! additions most installations make), with every finding they must produce, at its exact line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use pbxguard_audit::Options;

fn check(dir: &str, expected: &[&str]) {
    let report = common::audit_dir(
        &common::fixtures().join("samples").join(dir),
        &Options::default(),
    );
    assert!(
        report.unread.is_empty(),
        "{dir}: unreadable parts:\n{}",
        common::dump(&report)
    );
    let got = common::lines(&report);
    let want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        got,
        want,
        "{dir}: all findings were:\n{}",
        common::dump(&report)
    );
}

#[test]
fn asterisk_sample_configuration() {
    check(
        "asterisk",
        &[
            "extensions.conf:34 dialplan-open-pattern",
            "extensions.conf:42 disa-no-password",
            "extensions.conf:46 dialplan-open-pattern",
            "extensions.conf:46 dialplan-unfiltered-exten",
            "iax.conf:17 iax-guest",
            "iax.conf:25 endpoint-no-acl",
            "iax.conf:28 weak-secret",
            "manager.conf:11 weak-secret",
            "manager.conf:18 weak-secret",
            "manager.conf:20 ami-exposed-originate",
            "pjsip.conf:24 endpoint-no-acl",
            "pjsip.conf:29 weak-secret",
            "pjsip.conf:36 pjsip-anonymous",
            "sip.conf:11 sip-allowguest",
            "sip.conf:55 endpoint-no-acl",
            "sip.conf:56 weak-secret",
            "sip_custom.conf:2 endpoint-no-acl",
            "sip_custom.conf:3 weak-secret",
            "voicemail.conf:21 weak-pin",
            "voicemail.conf:22 voicemail-callout",
            "voicemail.conf:22 weak-pin",
        ],
    );
}

#[test]
fn freeswitch_sample_configuration_through_freeswitch_xml_includes() {
    check(
        "freeswitch",
        &[
            "autoload_configs/acl.conf.xml:12 fs-acl-default-allow",
            "autoload_configs/event_socket.conf.xml:4 fs-esl-no-acl",
            "autoload_configs/event_socket.conf.xml:6 fs-esl-default-password",
            "dialplan/public.xml:29 dialplan-open-pattern",
            "directory/default/1000.xml:5 weak-pin",
            "directory/default/1000.xml:8 fs-toll-allow-international",
            "directory/default/1001.xml:5 weak-pin",
            "directory/default/1001.xml:8 fs-toll-allow-international",
            "directory/default/brian.xml:4 weak-secret",
            "sip_profiles/external.xml:26 fs-auth-calls-off",
            "vars.xml:9 fs-default-password",
        ],
    );
}

#[test]
fn kamailio_default_configuration() {
    check(
        "kamailio",
        &[
            "kamailio.cfg:87 kamailio-no-auth",
            "kamailio.cfg:92 kamailio-no-antiflood",
        ],
    );
}

#[test]
fn kamailio_defines_from_the_command_line_count() {
    let options = Options {
        kamailio_defines: vec!["WITH_AUTH".into(), "WITH_ANTIFLOOD".into()],
        ..Options::default()
    };
    let report = common::audit_dir(&common::fixtures().join("samples/kamailio"), &options);
    assert_eq!(common::lines(&report), Vec::<String>::new());
}

#[test]
fn firewall_rulesets() {
    check(
        "firewall",
        &[
            "iptables.fs.rules:30 fw-sip-unlimited",
            "iptables.fs.rules:32 fw-sip-unlimited",
            "iptables.fs.rules:34 fw-sip-unlimited",
            "pbxguard.nft:19 fw-exposed-service",
            "rules.v4:3 fw-no-default-drop",
            "rules.v4:8 fw-established-before-ban",
            "rules.v4:12 fw-exposed-service",
            "rules.v4:13 fw-exposed-service",
            "rules.v4:14 fw-sip-unlimited",
        ],
    );
}

#[test]
fn firewalld_on_an_asterisk_host() {
    // Debian's firewalld.conf; the public zone after `firewall-cmd --permanent --add-service=sip` and
    // friends (the shipped ssh and dhcpv6-client kept), a service of the tree's own for ARI, the office in
    // the trusted zone, and a hand-kept ban list bound to the drop zone.
    check(
        "firewalld",
        &[
            "etc/firewalld/zones/drop.xml:5 fw-established-before-ban",
            "etc/firewalld/zones/public.xml:5 fw-exposed-service",
            "etc/firewalld/zones/public.xml:7 fw-sip-unlimited",
            "etc/firewalld/zones/public.xml:8 fw-sip-unlimited",
            "etc/firewalld/zones/public.xml:9 fw-exposed-service",
            "etc/firewalld/zones/public.xml:11 fw-exposed-service",
        ],
    );
}

#[test]
fn ufw_on_a_freeswitch_host() {
    // Ubuntu's shipped before/after rules and defaults, ufw enabled, `ufw allow OpenSSH`, SIP on 5060 and
    // 5080 and the RTP range for everyone, ESL for one network (IPv4 only).
    check(
        "ufw",
        &[
            "etc/ufw/user.rules:21 fw-exposed-service",
            "etc/ufw/user.rules:24 fw-sip-unlimited",
            "etc/ufw/user.rules:27 fw-sip-unlimited",
            "etc/ufw/user6.rules:21 fw-exposed-service",
            "etc/ufw/user6.rules:24 fw-sip-unlimited",
            "etc/ufw/user6.rules:27 fw-sip-unlimited",
        ],
    );
}

#[test]
fn a_file_included_by_another_is_audited_once() {
    // sip_custom.conf is a root (the walker found it) and is included by sip.conf: its findings appear
    // once, attributed to sip_custom.conf.
    let report = common::audit_dir(
        &common::fixtures().join("samples/asterisk"),
        &Options::default(),
    );
    let custom: Vec<String> = common::lines(&report)
        .into_iter()
        .filter(|l| l.starts_with("sip_custom.conf"))
        .collect();
    assert_eq!(
        custom,
        vec![
            "sip_custom.conf:2 endpoint-no-acl",
            "sip_custom.conf:3 weak-secret"
        ]
    );
    assert_eq!(report.skipped, vec!["modules.conf".to_owned()]);
}

#[test]
fn two_installations_in_one_run_do_not_share_guests_and_trunks() {
    use pbxguard_audit::{NoIncludes, SourceFile, audit};
    let open_public = "[public]\nexten => _X.,1,Dial(SIP/carrier/${FILTER(0-9,${EXTEN})})\n";
    let files = vec![
        // Site a lets guests into [public] but has no dial plan there.
        SourceFile::new("a/sip.conf", "[general]\ncontext=public\n"),
        SourceFile::new(
            "a/extensions.conf",
            "[public]\nexten => 100,1,Playback(hello)\n",
        ),
        // Site b has an open pattern in [public], but refuses guests.
        SourceFile::new("b/sip.conf", "[general]\ncontext=public\nallowguest=no\n"),
        SourceFile::new("b/extensions.conf", open_public),
    ];
    let report = audit(files, &mut NoIncludes, &Options::default());
    assert_eq!(common::lines(&report), vec!["a/sip.conf:1 sip-allowguest"]);
}

#[test]
fn lookalike_files_and_untyped_sections_are_not_peers() {
    use pbxguard_audit::{NoIncludes, SourceFile, audit};
    let files = vec![
        // NOTIFY templates share chan_sip's prefix but are not peers.
        SourceFile::new(
            "ast/sip_notify.conf",
            "[polycom-check-cfg]\nEvent=>check-sync\nContent-Length=>0\n",
        ),
        SourceFile::new(
            "ast/pjsip_wizard.conf",
            "[trunk]\ntype = wizard\nremote_hosts = sip.example\n",
        ),
        // A section without type= is ignored by chan_sip.
        SourceFile::new(
            "ast/sip.conf",
            "[general]\nallowguest=no\n\n[odd]\nfoo=bar\n",
        ),
    ];
    let report = audit(files, &mut NoIncludes, &Options::default());
    assert_eq!(
        common::lines(&report),
        Vec::<String>::new(),
        "{}",
        common::dump(&report)
    );
    assert_eq!(
        report.skipped,
        vec![
            "ast/sip_notify.conf".to_owned(),
            "ast/pjsip_wizard.conf".to_owned()
        ]
    );
}

#[test]
fn same_continues_the_extension_named_last_not_the_last_new_one() {
    use pbxguard_audit::{NoIncludes, SourceFile, audit};
    let plan = "[internal]\nexten => _9X.,1,NoOp()\nexten => 100,1,Answer()\nexten => _9X.,2,Set(x=1)\n same => n,Dial(SIP/${EXTEN:1})\n";
    let report = audit(
        vec![SourceFile::new("extensions.conf", plan)],
        &mut NoIncludes,
        &Options::default(),
    );
    assert_eq!(
        common::lines(&report),
        vec!["extensions.conf:5 dialplan-unfiltered-exten"]
    );
}

#[test]
fn firewalld_and_ufw_files_are_told_from_lookalikes() {
    use pbxguard_audit::{Format, detect};
    let zone = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<zone>\n</zone>\n";
    assert_eq!(
        detect("zones/public.xml", zone),
        Some(Format::FirewalldZone)
    );
    let service = "<service>\n  <port protocol=\"tcp\" port=\"8088\"/>\n</service>\n";
    assert_eq!(
        detect("etc/firewalld/services/ari.xml", service),
        Some(Format::FirewalldService)
    );
    assert_eq!(
        detect("other/ari.xml", service),
        Some(Format::FreeSwitchXml)
    );
    assert_eq!(
        detect("etc/firewalld/ipsets/ban.xml", "<ipset type=\"hash:ip\"/>"),
        None
    );
    let ufw = "*filter\n:ufw-user-input - [0:0]\nCOMMIT\n";
    assert_eq!(detect("etc/ufw/user.rules", ufw), Some(Format::UfwRules));
    // A dump that only happens to be called user.rules is read as what it is.
    let dump = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
    assert_eq!(detect("backup/user.rules", dump), Some(Format::Iptables));
    let report = pbxguard_audit::audit(
        vec![pbxguard_audit::SourceFile::new("backup/user.rules", dump)],
        &mut pbxguard_audit::NoIncludes,
        &Options::default(),
    );
    assert_eq!(
        common::lines(&report),
        vec![
            "backup/user.rules:2 fw-no-default-drop",
            "backup/user.rules:3 fw-exposed-service"
        ]
    );
}
