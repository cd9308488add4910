//! Real-looking log lines of each PBX, several versions each: what counts, and what must not.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::net::IpAddr;

use pbxguard_logs::{EXAMPLE_PATTERNS, Format, LineParser, LogEvent, Pattern};

/// What a line should give, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
struct Want {
    peer: IpAddr,
    kind: &'static str,
    who: Option<String>,
}

fn want(peer: &str, kind: &'static str, who: Option<&str>) -> Option<Want> {
    Some(Want {
        peer: peer.parse().unwrap(),
        kind,
        who: who.map(str::to_owned),
    })
}

fn got(parser: &LineParser, line: &str) -> Option<Want> {
    let p = parser.parse(line.as_bytes())?;
    let s = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
    let (kind, who) = match p.event {
        LogEvent::AuthFailed { user } => ("auth_failed", s(user)),
        LogEvent::UnknownUser { user } => ("unknown_user", s(user)),
        LogEvent::AuthSucceeded { user } => ("auth_succeeded", s(user)),
        LogEvent::Rejected { user } => ("rejected", s(user)),
        LogEvent::Scanner { user_agent } => ("scanner", s(user_agent)),
        _ => ("other", None),
    };
    Some(Want {
        peer: p.peer,
        kind,
        who,
    })
}

fn check(format: Format, cases: &[(&str, Option<Want>)]) {
    let patterns = EXAMPLE_PATTERNS
        .iter()
        .map(|p| Pattern::parse(p).unwrap())
        .collect();
    let parser = LineParser::new(format, patterns, 2026);
    for (line, expected) in cases {
        assert_eq!(&got(&parser, line), expected, "{format}: {line}");
    }
}

#[test]
fn asterisk_chan_sip_registration_failures() {
    check(
        Format::Asterisk,
        &[
            // Asterisk 1.8/11/13, legacy timestamp.
            (
                "[Nov 22 20:44:38] NOTICE[2213] chan_sip.c: Registration from '\"100\" <sip:100@192.0.2.10>' failed for '203.0.113.5:5060' - Wrong password",
                want("203.0.113.5", "auth_failed", Some("100")),
            ),
            // Asterisk 13/16 with dateformat=%F %T and the call-id tag.
            (
                "[2026-11-22 20:44:38] NOTICE[2213][C-0000001a] chan_sip.c: Registration from '<sip:2001@192.0.2.10>' failed for '203.0.113.6:5070' - No matching peer found",
                want("203.0.113.6", "unknown_user", Some("2001")),
            ),
            (
                "[2026-11-22 20:44:38.123] NOTICE[2213] chan_sip.c: Registration from '<sip:2001@192.0.2.10>' failed for '203.0.113.7' - Username/auth name mismatch",
                want("203.0.113.7", "auth_failed", Some("2001")),
            ),
            (
                "[Nov 22 20:44:38] NOTICE[2213] chan_sip.c: Registration from '<sip:300@192.0.2.10>' failed for '198.51.100.9:5060' - Device does not match ACL",
                want("198.51.100.9", "rejected", Some("300")),
            ),
            (
                "[Nov 22 20:44:38] NOTICE[2213] chan_sip.c: Registration from '<sip:300@192.0.2.10>' failed for '198.51.100.9:5060' - Peer is not supposed to register",
                want("198.51.100.9", "rejected", Some("300")),
            ),
            // Syslog, with line number and function (main/logger.c's syslog style).
            (
                "Nov 22 20:44:38 pbx asterisk[2213]: NOTICE[2213]: chan_sip.c:28080 in handle_request_register: Registration from '<sip:100@192.0.2.10>' failed for '203.0.113.5:5060' - Wrong password",
                want("203.0.113.5", "auth_failed", Some("100")),
            ),
            // IPv6 peer, bracketed with port.
            (
                "[2026-11-22 20:44:38] NOTICE[2213] chan_sip.c: Registration from '<sip:100@[2001:db8::10]>' failed for '[2001:db8:bad::7]:5060' - Wrong password",
                want("2001:db8:bad::7", "auth_failed", Some("100")),
            ),
            // The sipvicious default display name.
            (
                "[2026-11-22 20:44:38] NOTICE[2213] chan_sip.c: Registration from '\"friendly-scanner\" <sip:100@192.0.2.10>' failed for '203.0.113.8:5060' - No matching peer found",
                want("203.0.113.8", "scanner", Some("friendly-scanner")),
            ),
        ],
    );
}

#[test]
fn asterisk_pjsip_request_failures() {
    check(
        Format::Asterisk,
        &[
            // Asterisk 13 (no method).
            (
                "[2026-11-22 20:44:38] NOTICE[2240] res_pjsip/pjsip_distributor.c: Request from '\"100\" <sip:100@192.0.2.10>' failed for '203.0.113.5:5060' (callid: 1234567890) - No matching endpoint found",
                want("203.0.113.5", "unknown_user", Some("100")),
            ),
            // Asterisk 16.
            (
                "[2026-11-22 20:44:38] NOTICE[2240] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:100@192.0.2.10>' failed for '203.0.113.5:5060' (callid: a84b4c76e66710) - Failed to authenticate",
                want("203.0.113.5", "auth_failed", Some("100")),
            ),
            // Asterisk 18/20/21: "after N tries in X ms".
            (
                "[2026-11-22 20:44:38.414] NOTICE[2240] res_pjsip/pjsip_distributor.c: Request 'INVITE' from '\"9001\" <sip:9001@192.0.2.10>' failed for '198.51.100.2:5071' (callid: 9f1c-77) - No matching endpoint found after 5 tries in 0.812 ms",
                want("198.51.100.2", "unknown_user", Some("9001")),
            ),
            (
                "[2026-11-22 20:44:38] NOTICE[2240] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:100@192.0.2.10>' failed for '[2001:db8:bad::9]:5060' (callid: x) - Error to authenticate",
                want("2001:db8:bad::9", "auth_failed", Some("100")),
            ),
            (
                "[2026-11-22 20:44:38] NOTICE[2240] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:100@192.0.2.10>' failed for '203.0.113.5:5060' (callid: x) - Not match Endpoint ACL",
                want("203.0.113.5", "rejected", Some("100")),
            ),
        ],
    );
}

#[test]
fn asterisk_security_events() {
    let base = "[2026-11-22 20:44:38] SECURITY[2240] res_security_log.c: ";
    let line = |ev: &str, acct: &str, remote: &str| {
        format!(
            "{base}SecurityEvent=\"{ev}\",EventTV=\"2026-11-22T20:44:38.123+0000\",Severity=\"Error\",Service=\"PJSIP\",EventVersion=\"1\",AccountID=\"{acct}\",SessionID=\"0x7f2c\",LocalAddress=\"IPV4/UDP/192.0.2.10/5060\",RemoteAddress=\"{remote}\""
        )
    };
    let cases = [
        (
            line("InvalidAccountID", "100", "IPV4/UDP/203.0.113.5/5060"),
            want("203.0.113.5", "unknown_user", Some("100")),
        ),
        (
            line(
                "ChallengeResponseFailed",
                "100",
                "IPV4/UDP/203.0.113.5/5060",
            ),
            want("203.0.113.5", "auth_failed", Some("100")),
        ),
        (
            line("InvalidPassword", "200", "IPV6/UDP/2001:db8:bad::1/5060"),
            want("2001:db8:bad::1", "auth_failed", Some("200")),
        ),
        (
            line("SuccessfulAuth", "100", "IPV4/TCP/198.51.100.20/40122"),
            want("198.51.100.20", "auth_succeeded", Some("100")),
        ),
        (
            line("FailedACL", "", "IPV4/UDP/203.0.113.5/5060"),
            want("203.0.113.5", "rejected", None),
        ),
        // Not failures.
        (
            line("ChallengeSent", "100", "IPV4/UDP/203.0.113.5/5060"),
            None,
        ),
        (line("SuccessfulAuth", "100", "IPV4/UDP/notanip/5060"), None),
        // A peer planting a second RemoteAddress in its account name is not guessed at.
        (
            line(
                "InvalidAccountID",
                "x\",RemoteAddress=\"IPV4/UDP/8.8.8.8/5060",
                "IPV4/UDP/203.0.113.5/5060",
            ),
            None,
        ),
    ];
    let refs: Vec<(&str, Option<Want>)> = cases.into_iter().map(|(l, w)| (&*l.leak(), w)).collect();
    check(Format::Asterisk, &refs);
}

#[test]
fn asterisk_iax_ami_dialplan_and_freepbx() {
    check(
        Format::Asterisk,
        &[
            (
                "[Nov 22 20:44:38] NOTICE[2213] chan_iax2.c: Host 203.0.113.5 failed MD5 authentication for '100' (9f6d != 1b2c)",
                want("203.0.113.5", "auth_failed", Some("100")),
            ),
            (
                "[Nov 22 20:44:38] NOTICE[2213] chan_iax2.c: No registration for peer '4000' (from 203.0.113.5)",
                want("203.0.113.5", "unknown_user", Some("4000")),
            ),
            (
                "[2026-11-22 20:44:38] NOTICE[3001] manager.c: 203.0.113.5 tried to authenticate with nonexistent user 'admin'",
                want("203.0.113.5", "unknown_user", Some("admin")),
            ),
            (
                "[2026-11-22 20:44:38] NOTICE[3001] manager.c: 203.0.113.5 failed to authenticate as 'admin'",
                want("203.0.113.5", "auth_failed", Some("admin")),
            ),
            (
                "[2026-11-22 20:44:38] NOTICE[2213][C-00000003] chan_sip.c: Call from '' (203.0.113.5:5091) to extension '0046812345678' rejected because extension not found in context 'public'.",
                want("203.0.113.5", "rejected", Some("0046812345678")),
            ),
            (
                "[2026-11-22 20:44:38] NOTICE[2213] chan_sip.c: Call from '100' (UDP:203.0.113.5:5060) to extension '900' rejected because extension not found in context 'default'.",
                want("203.0.113.5", "rejected", Some("900")),
            ),
            (
                "[2026-11-22 20:44:38] WARNING[2213]: Friendly Scanner from 203.0.113.77",
                want("203.0.113.77", "scanner", Some("friendly-scanner")),
            ),
            (
                "[2026-11-22 20:44:38] VERBOSE[2213] chan_sip.c: -- Registered SIP '100' at 198.51.100.20:5060",
                want("198.51.100.20", "auth_succeeded", Some("100")),
            ),
            (
                "[Nov 22 20:44:38] VERBOSE[2213] chan_sip.c:     -- Registered SIP '101' at [2001:db8::20]:5060",
                want("2001:db8::20", "auth_succeeded", Some("101")),
            ),
        ],
    );
}

#[test]
fn asterisk_lines_that_must_not_count() {
    check(
        Format::Asterisk,
        &[
            // Ordinary activity.
            (
                "[2026-11-22 20:44:38] VERBOSE[2213] pbx.c: -- Executing [100@from-internal:1] Dial(\"SIP/101-00000001\", \"SIP/100,20\") in new stack",
                None,
            ),
            (
                "[2026-11-22 20:44:38] VERBOSE[2240] res_pjsip_registrar.c: -- Added contact 'sip:100@198.51.100.20:5060' to AOR '100' with expiration of 3600 seconds",
                None,
            ),
            (
                "[2026-11-22 20:44:38] NOTICE[2213] chan_sip.c: Peer '100' is now Reachable. (12ms / 2000ms)",
                None,
            ),
            (
                "[2026-11-22 20:44:38] WARNING[2213] chan_sip.c: Retransmission timeout reached on transmission 5d1f for seqno 102 (Critical Request)",
                None,
            ),
            // An unknown reason is counted by the caller, not guessed at.
            (
                "[2026-11-22 20:44:38] NOTICE[2213] chan_sip.c: Registration from '<sip:100@192.0.2.10>' failed for '203.0.113.5:5060' - Some future reason",
                None,
            ),
            // The From header plants a phrase and an address: only Asterisk's own address counts.
            (
                "[2026-11-22 20:44:38] NOTICE[2213] chan_sip.c: Registration from '\"x' failed for '8.8.8.8:5060' - Wrong password\" <sip:100@192.0.2.10>' failed for '203.0.113.5:5060' - Wrong password",
                want("203.0.113.5", "auth_failed", Some("100")),
            ),
            // The PBX's own address inside the URI is never taken for the peer.
            (
                "[2026-11-22 20:44:38] NOTICE[2213] chan_sip.c: Registration from '<sip:100@192.0.2.10>' failed for 'pbx.example.com:5060' - Wrong password",
                None,
            ),
            // A phrase not at the start of the message is someone's text, not Asterisk's.
            (
                "[2026-11-22 20:44:38] VERBOSE[2213] pbx.c: -- Executing NoOp(\"SIP/x\", \"Host 8.8.8.8 failed MD5 authentication for 'x'\")",
                None,
            ),
            (
                "[2026-11-22 20:44:38] VERBOSE[2213] app_verbose.c: SecurityEvent=\"InvalidPassword\",RemoteAddress=\"IPV4/UDP/8.8.8.8/1\" planted",
                None,
            ),
            ("", None),
            ("\u{0}\u{ff}garbage", None),
        ],
    );
}

#[test]
fn freeswitch_sofia_lines() {
    check(
        Format::FreeSwitch,
        &[
            // 1.6
            (
                "2026-11-22 20:44:38.123456 [WARNING] sofia_reg.c:1603 SIP auth failure (REGISTER) on sofia profile 'internal' for [1000@192.0.2.10] from ip 203.0.113.5",
                want("203.0.113.5", "auth_failed", Some("1000")),
            ),
            // 1.10 with idle CPU and a session UUID.
            (
                "4b0d3c2e-5f7a-4c1b-9d3e-2a1b0c9d8e7f 2026-11-22 20:44:38.123456 97.53% [WARNING] sofia_reg.c:1850 SIP auth failure (INVITE) on sofia profile 'external' for [0046812345678@192.0.2.10] from ip 198.51.100.3",
                want("198.51.100.3", "auth_failed", Some("0046812345678")),
            ),
            (
                "2026-11-22 20:44:38.123456 99.00% [WARNING] sofia_reg.c:3215 Can't find user [1001@192.0.2.10] from 203.0.113.5",
                want("203.0.113.5", "unknown_user", Some("1001")),
            ),
            (
                "2026-11-22 20:44:38.123456 [WARNING] sofia_reg.c:1850 SIP auth failure (REGISTER) on sofia profile 'internal' for [1000@192.0.2.10] from ip 2001:db8:bad::5",
                want("2001:db8:bad::5", "auth_failed", Some("1000")),
            ),
            (
                "Nov 22 20:44:38 pbx freeswitch[880]: [WARNING] sofia_reg.c:1850 SIP auth failure (REGISTER) on sofia profile 'internal' for [1000@192.0.2.10] from ip 203.0.113.5",
                want("203.0.113.5", "auth_failed", Some("1000")),
            ),
            (
                "2026-11-22 20:44:38.123456 [DEBUG] sofia.c:10395 IP 203.0.113.5 Rejected by acl \"domains\"",
                want("203.0.113.5", "rejected", None),
            ),
            (
                "2026-11-22 20:44:38.123456 [WARNING] sofia_reg.c:2960 IP 203.0.113.5 Rejected by register acl \"domains\"",
                want("203.0.113.5", "rejected", None),
            ),
            // The address a proxy's (or anyone's) X-AUTH-IP header names, not the network's.
            (
                "2026-11-22 20:44:38.123456 [WARNING] sofia_reg.c:1532 IP 192.0.2.66 Rejected by user acl domains",
                None,
            ),
            // Must not count: challenges are the normal handshake.
            (
                "2026-11-22 20:44:38.123456 [WARNING] sofia_reg.c:1855 SIP auth challenge (REGISTER) on sofia profile 'internal' for [1000@192.0.2.10] from ip 198.51.100.20",
                None,
            ),
            (
                "2026-11-22 20:44:38.123456 97.00% [WARNING] sofia_reg.c:1855 SIP auth challenge (INVITE) on sofia profile 'internal' for [1000@192.0.2.10] from ip 198.51.100.20",
                None,
            ),
            (
                "2026-11-22 20:44:38.123456 [DEBUG] sofia.c:10395 IP 198.51.100.20 Rejected by acl \"domains\". Falling back to Digest auth.",
                None,
            ),
            (
                "2026-11-22 20:44:38.123456 [NOTICE] sofia.c:1063 Hangup sofia/internal/1000@192.0.2.10 [CS_EXECUTE] [NORMAL_CLEARING]",
                None,
            ),
            (
                "2026-11-22 20:44:38.123456 [INFO] sofia_reg.c:2044 Registration for 1000@192.0.2.10 from 198.51.100.20",
                None,
            ),
            // The user part plants a second "from ip": FreeSWITCH's own comes last.
            (
                "2026-11-22 20:44:38.123456 [WARNING] sofia_reg.c:1850 SIP auth failure (REGISTER) on sofia profile 'internal' for [x] from ip 8.8.8.8@192.0.2.10] from ip 203.0.113.5",
                want("203.0.113.5", "auth_failed", Some("x] from ip 8.8.8.8")),
            ),
        ],
    );
}

#[test]
fn kamailio_shipped_patterns() {
    check(
        Format::Kamailio,
        &[
            (
                "Nov 22 20:44:38 sbc /usr/sbin/kamailio[1201]: NOTICE: <script>: auth failed for user 100 from 203.0.113.5:5060",
                want("203.0.113.5", "auth_failed", Some("100")),
            ),
            (
                "2026-11-22T20:44:38.000000+00:00 sbc kamailio[1201]: NOTICE: <script>: unknown user 4711 from 198.51.100.8:41234",
                want("198.51.100.8", "unknown_user", Some("4711")),
            ),
            (
                " 0(1201) NOTICE: <script>: auth failed for user 100 from 2001:db8:bad::3:5060",
                want("2001:db8:bad::3", "auth_failed", Some("100")),
            ),
            (
                " 0(1201) NOTICE: <script>: auth failed for user 100 from [2001:db8:bad::3]:5060",
                want("2001:db8:bad::3", "auth_failed", Some("100")),
            ),
            // Must not count.
            (
                "Nov 22 20:44:38 sbc kamailio[1201]: NOTICE: <script>: auth ok for user 100 from 198.51.100.20:5060",
                None,
            ),
            (
                "Nov 22 20:44:38 sbc kamailio[1201]: NOTICE: <script>: auth failed for user 100 from somewhere:5060",
                None,
            ),
            (
                "Nov 22 20:44:38 sbc kamailio[1201]: INFO: <core> [main.c:2870]: main(): processes (at least): 25",
                None,
            ),
        ],
    );
}

#[test]
fn kamailio_custom_pattern_with_user_agent() {
    let p = Pattern::parse("scanner: blocked scanner ua={ua} src={ip}").unwrap();
    let parser = LineParser::new(Format::Kamailio, vec![p], 2026);
    let line = b"Nov 22 20:44:38 sbc kamailio[1]: ALERT: <script>: blocked scanner ua=sipvicious src=203.0.113.9";
    let parsed = parser.parse(line).unwrap();
    assert_eq!(parsed.peer, "203.0.113.9".parse::<IpAddr>().unwrap());
    assert!(matches!(
        parsed.event,
        LogEvent::Scanner {
            user_agent: Some(b"sipvicious")
        }
    ));
    assert!(parsed.time.is_some());
}

#[test]
fn pattern_mistakes_are_named() {
    use pbxguard_logs::PatternError as E;
    for (text, err) in [
        ("auth failed for user {user}", E::EventMissing),
        ("oops: x {ip}", E::EventUnknown("oops".into())),
        (
            "auth_failed: x {host}",
            E::PlaceholderUnknown("host".into()),
        ),
        ("auth_failed: x {ip", E::BraceUnclosed),
        ("auth_failed: x {user}", E::IpPlaceholderCount(0)),
        ("auth_failed: x {ip} y {ip}", E::IpPlaceholderCount(2)),
        ("auth_failed: x {user}{ip}", E::PlaceholdersAdjacent),
        ("auth_failed: {ip} failed", E::StartsWithPlaceholder),
    ] {
        assert_eq!(Pattern::parse(text), Err(err), "{text}");
    }
    for p in EXAMPLE_PATTERNS {
        assert_eq!(Pattern::parse(p).unwrap().to_string(), p);
    }
}

#[test]
fn formats_are_detected_from_one_line() {
    for (line, want) in [
        (
            "[Nov 22 20:44:38] NOTICE[2213] chan_sip.c: x",
            Some(Format::Asterisk),
        ),
        (
            "Nov 22 20:44:38 pbx asterisk[1]: VERBOSE[1]: x",
            Some(Format::Asterisk),
        ),
        (
            "2026-11-22 20:44:38.123456 [WARNING] sofia_reg.c:1850 x",
            Some(Format::FreeSwitch),
        ),
        (
            "2026-11-22 20:44:38.123456 97.00% [NOTICE] switch_core.c:1 x",
            Some(Format::FreeSwitch),
        ),
        (
            "Nov 22 20:44:38 sbc /usr/sbin/kamailio[1201]: NOTICE: x",
            Some(Format::Kamailio),
        ),
        ("hello", None),
    ] {
        assert_eq!(Format::detect(line.as_bytes()), want, "{line}");
    }
    assert_eq!(Format::from_name("FreeSWITCH"), Some(Format::FreeSwitch));
    assert_eq!(Format::from_name("opensips"), None);
}

/// journald keeps a syslog message without its header: the `MESSAGE` field starts where the program's text
/// does. These are what `[logs] journal` hands the parsers.
#[test]
fn journal_messages_without_a_syslog_header() {
    check(
        Format::Asterisk,
        &[
            (
                "NOTICE[2213]: chan_sip.c:28080 in handle_request_register: Registration from '<sip:100@192.0.2.10>' failed for '203.0.113.5:5060' - Wrong password",
                want("203.0.113.5", "auth_failed", Some("100")),
            ),
            (
                "NOTICE[2213]: res_pjsip/pjsip_distributor.c:676 in log_failed_request: Request 'REGISTER' from '<sip:2001@192.0.2.10>' failed for '203.0.113.6:5060' (callid: abc) - No matching endpoint found",
                want("203.0.113.6", "unknown_user", Some("2001")),
            ),
            (
                "VERBOSE[2213]: pbx.c:2917 in pbx_extension_helper: -- Executing [100@internal:1] Dial",
                None,
            ),
        ],
    );
    check(
        Format::Kamailio,
        &[(
            "auth failed for user 1001 from 203.0.113.9:5060",
            want("203.0.113.9", "auth_failed", Some("1001")),
        )],
    );
}

/// The body of FreeSWITCH's `Register:` debug entry (sofia_reg_handle_register_token's
/// `"Register:\nFrom:    [%s@%s]\nContact: [%s]\nExpires: [%ld]\n"`), for `user@host` with `contact`.
fn register_body(user_host: &str, contact: &str, sep: &str) -> String {
    format!("Register:{sep}From:    [{user_host}]{sep}Contact: [{contact}]{sep}Expires: [3600]")
}

/// Feeds an entry's lines to a fresh parser; what each line gives.
fn entry(prefix: &str, user_host: &str, contact: &str) -> Vec<Option<Want>> {
    let parser = LineParser::new(Format::FreeSwitch, Vec::new(), 2026);
    let text = format!("{prefix}{}", register_body(user_host, contact, "\n"));
    text.lines().map(|l| got(&parser, l)).collect()
}

/// The success an entry reports (on its `Contact:` line), checking that no other line reports anything.
fn entry_success(prefix: &str, user_host: &str, contact: &str) -> Option<Want> {
    let got = entry(prefix, user_host, contact);
    assert_eq!(got.len(), 4);
    assert_eq!(
        (&got[0], &got[1], &got[3]),
        (&None, &None, &None),
        "{contact}"
    );
    got.into_iter().nth(2).flatten()
}

// Line numbers in these prefixes differ between releases; the parser reads only `sofia_reg.c:`.
const FS_16: &str = "2026-11-22 20:44:38.123456 [DEBUG] sofia_reg.c:1581 ";
const FS_18: &str = "2026-11-22 20:44:38.123456 [DEBUG] sofia_reg.c:1754 ";
const FS_110: &str = "2026-11-22 20:44:38.123456 97.53% [DEBUG] sofia_reg.c:1921 ";

#[test]
fn freeswitch_nated_registration_is_a_success_from_the_network_address() {
    // The Contact FreeSWITCH rewrote for a NATed client (`%s <%s:%s@%s%s%s%s%s>` with `;fs_nat=yes` and
    // `;fs_path=` + switch_url_encode("sip:USER@NETWORK_IP:NETWORK_PORT")).
    let nated = "\"1000\" <sip:1000@192.168.1.20:5060;fs_nat=yes;fs_path=sip%3A1000%40198.51.100.20%3A41302>";
    for prefix in [FS_16, FS_18, FS_110] {
        assert_eq!(
            entry_success(prefix, "1000@pbx.example.com", nated),
            want("198.51.100.20", "auth_succeeded", Some("1000")),
            "{prefix}"
        );
    }
    for (contact, peer, user) in [
        // Contact parameters (`%s <%s:%s@%s%s;%s%s%s%s>`) and NDLB-received-in-nat-reg-contact's
        // `;received=IP:PORT`; the fs_path then carries the parameters too.
        (
            "\"\" <sip:1000@192.168.1.20:5062;transport=udp;received=198.51.100.20:41302;fs_nat=yes;fs_path=sip%3A1000%40198.51.100.20%3A41302%3Btransport%3Dudp>",
            "198.51.100.20",
            Some("1000"),
        ),
        // WebRTC over WSS: always NATed, the Contact host is made up by the browser.
        (
            "\"\" <sip:1001@df7jal23ls0d.invalid;transport=ws;fs_nat=yes;fs_path=sip%3A1001%40203.0.113.77%3A52344%3Btransport%3Dws>",
            "203.0.113.77",
            Some("1001"),
        ),
        // IPv6 (`[%s]` for an AF_INET6 peer) over TLS (`sips`).
        (
            "\"1000\" <sips:1000@[fd00::20]:5061;fs_nat=yes;fs_path=sips%3A1000%40%5B2001%3Adb8%3A1%3A%3A20%5D%3A5061>",
            "2001:db8:1::20",
            Some("1000"),
        ),
        // A Contact user other than the From user: the source is trusted, no user is cleared.
        (
            "\"\" <sip:a7f3c9@192.168.1.20:5060;fs_nat=yes;fs_path=sip%3Aa7f3c9%40198.51.100.20%3A5060>",
            "198.51.100.20",
            None,
        ),
        // A client that planted an fs_path of its own in its Contact parameters: FreeSWITCH's comes last.
        (
            "\"\" <sip:1000@192.168.1.20:5060;fs_path=sip%3A1000%40192.0.2.66%3A5060;fs_nat=yes;fs_path=sip%3A1000%40198.51.100.20%3A41302>",
            "198.51.100.20",
            Some("1000"),
        ),
    ] {
        let from = if contact.contains("sip:1001@") {
            "1001@pbx.example.com"
        } else {
            "1000@pbx.example.com"
        };
        assert_eq!(
            entry_success(FS_110, from, contact),
            want(peer, "auth_succeeded", user),
            "{contact}"
        );
    }
}

#[test]
fn freeswitch_registration_on_one_line_through_syslog_or_journald() {
    let contact = "\"1000\" <sip:1000@192.168.1.20:5060;fs_nat=yes;fs_path=sip%3A1000%40198.51.100.20%3A41302>";
    let parser = LineParser::new(Format::FreeSwitch, Vec::new(), 2026);
    // rsyslog escapes the newlines as #012.
    let syslog = format!(
        "Nov 22 20:44:38 pbx freeswitch[880]: [DEBUG] sofia_reg.c:1921 {}",
        register_body("1000@pbx.example.com", contact, "#012")
    );
    // journald keeps them in one MESSAGE.
    let journal = format!(
        "[DEBUG] sofia_reg.c:1921 {}\n",
        register_body("1000@pbx.example.com", contact, "\n")
    );
    for line in [&syslog, &journal] {
        assert_eq!(
            got(&parser, line),
            want("198.51.100.20", "auth_succeeded", Some("1000")),
            "{line}"
        );
    }
    let other_user = syslog.replace("From:    [1000@", "From:    [1001@");
    assert_eq!(
        got(&parser, &other_user),
        want("198.51.100.20", "auth_succeeded", None)
    );
    let not_nated = format!(
        "[DEBUG] sofia_reg.c:1921 {}",
        register_body(
            "1000@pbx.example.com",
            "\"1000\" <sip:1000@198.51.100.20:5060>",
            "#012"
        )
    );
    assert_eq!(got(&parser, &not_nated), None);
}

#[test]
fn freeswitch_registrations_without_an_observed_address_report_nothing() {
    for contact in [
        // Not NATed: the Contact holds whatever the phone wrote.
        "\"1000\" <sip:1000@198.51.100.20:5060>",
        "\"1000\" <sip:1000@198.51.100.20:5060;transport=tcp>",
        // NDLB-connectile-dysfunction rewrites the host but adds no fs_path: not read (yet).
        "\"1000\" <sip:1000@198.51.100.20:41302;fs_nat=yes>",
        // A Path header is encoded instead of the network address (its URI, with or without the <>).
        "\"1000\" <sip:1000@192.168.1.20:5060;fs_nat=yes;fs_path=sip%3Aedge.example.com%3Blr>",
        "\"1000\" <sip:1000@192.168.1.20:5060;fs_nat=yes;fs_path=%3Csip%3Aedge.example.com%3Blr%3E>",
        // Parameters the client wrote after a planted fs_path: not FreeSWITCH's last word.
        "\"\" <sip:1000@198.51.100.20:5060;fs_nat=yes;fs_path=sip%3A1000%40192.0.2.66%3A5060;x=1>",
        // No port, a malformed escape, no user part, a hostname.
        "\"\" <sip:1000@192.168.1.20;fs_nat=yes;fs_path=sip%3A1000%40198.51.100.20>",
        "\"\" <sip:1000@192.168.1.20;fs_nat=yes;fs_path=sip%3A1000%40198.51.100.20%3A50%6>",
        "\"\" <sip:1000@192.168.1.20;fs_nat=yes;fs_path=sip%3A198.51.100.20%3A5060>",
        "\"\" <sip:1000@192.168.1.20;fs_nat=yes;fs_path=sip%3A1000%40pbx.example.com%3A5060>",
    ] {
        assert_eq!(
            entry(FS_110, "1000@pbx.example.com", contact),
            vec![None, None, None, None],
            "{contact}"
        );
    }
}

#[test]
fn freeswitch_register_entry_lines_count_only_in_their_place() {
    let parser = LineParser::new(Format::FreeSwitch, Vec::new(), 2026);
    let header = format!("{FS_110}Register:");
    let from = "From:    [1000@pbx.example.com]";
    let contact = "Contact: [\"1000\" <sip:1000@192.168.1.20:5060;fs_nat=yes;fs_path=sip%3A1000%40198.51.100.20%3A41302>]";
    let other = "2026-11-22 20:44:38.123457 [DEBUG] sofia.c:7400 Channel sofia/internal/1000@pbx.example.com entering state [received][100]";
    let cases: &[&[&str]] = &[
        // Continuation lines alone, or without the header.
        &[contact],
        &[from, contact],
        // Another line between header and From, or between From and Contact.
        &[&header, other, from, contact],
        &[&header, from, other, contact],
        // Indented, as a SIP trace dumps every line and a folded header value continues.
        &[&header, &format!("   {from}"), contact],
        &[&header, from, &format!("   {contact}")],
        // A `Register:` message from another source file, or a header that carries more text.
        &[
            "2026-11-22 20:44:38.123456 [DEBUG] sofia.c:1921 Register:",
            from,
            contact,
        ],
        &[&format!("{FS_110}Register: again"), from, contact],
    ];
    for lines in cases {
        for l in *lines {
            assert_eq!(got(&parser, l), None, "{lines:?}");
        }
    }
    // And in place, after all that, it still counts.
    assert_eq!(got(&parser, &header), None);
    assert_eq!(got(&parser, from), None);
    assert_eq!(
        got(&parser, contact),
        want("198.51.100.20", "auth_succeeded", Some("1000"))
    );
    // A second Contact line is not a second success.
    assert_eq!(got(&parser, contact), None);
}

#[test]
fn freeswitch_lookalikes_of_success_are_not_successes() {
    check(
        Format::FreeSwitch,
        &[
            // sofia_reg_parse_auth: the user-agent filter passed, the password is checked after it.
            (
                "2026-11-22 20:44:38.123456 [DEBUG] sofia_reg.c:1402 SIP auth OK (REGISTER) due to user-agent-filter.  Filter \"^Yealink\" User-Agent \"Yealink SIP-T46S 66.86.0.15\"",
                None,
            ),
            // Outbound registrations of FreeSWITCH's own gateways (sofia_reg_check_gateway).
            (
                "2026-11-22 20:44:38.123456 [NOTICE] sofia_reg.c:493 Registering carrier1",
                None,
            ),
            (
                "2026-11-22 20:44:38.123456 [WARNING] sofia_reg.c:564 carrier1 Failed Registration [401], setting retry to 30 seconds.",
                None,
            ),
            (
                "2026-11-22 20:44:38.123456 [WARNING] sofia_reg.c:531 Timeout Registering carrier1",
                None,
            ),
            // sofia_reg_handle_register_token with the profile's debug on: the challenge or refusal sent.
            (
                "2026-11-22 20:44:38.123456 [DEBUG] sofia_reg.c:1868 Send challenge for [1000@pbx.example.com]",
                None,
            ),
            (
                "2026-11-22 20:44:38.123456 [DEBUG] sofia_reg.c:1790 Send forbidden for [1000@pbx.example.com]",
                None,
            ),
            // An unregistration or an expiry is logged by no line at all; the presence status "Registered"
            // and "Unregistered" go to events, not the log. A dialplan echo of the words is not sofia_reg.c.
            (
                "2026-11-22 20:44:38.123456 [INFO] mod_dptools.c:1792 Register: From: [1000@pbx.example.com]",
                None,
            ),
        ],
    );
}

#[test]
fn freeswitch_registration_success_is_timed_by_the_entry_first_line() {
    // The Contact line carries no timestamp; replay would otherwise place the success at whatever time
    // it saw last.
    let parser = LineParser::new(Format::FreeSwitch, Vec::new(), 2026);
    let contact = "\"1000\" <sip:1000@192.168.1.20:5060;fs_nat=yes;fs_path=sip%3A1000%40198.51.100.20%3A41302>";
    let text = format!(
        "2026-11-22 20:44:38.123456 97.53% [DEBUG] sofia_reg.c:1921 {}",
        register_body("1000@pbx.example.com", contact, "\n")
    );
    let header_time = pbxguard_logs::parse_prefix_time(text.as_bytes(), 2026);
    assert!(header_time.is_some());
    let times: Vec<_> = text
        .lines()
        .filter_map(|l| parser.parse(l.as_bytes()))
        .map(|p| p.time)
        .collect();
    assert_eq!(times, vec![header_time]);
}
