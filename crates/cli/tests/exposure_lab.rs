//! Root tier: `pbxguard check` against `pbxguard reflector` across the three-namespace NAT lab. For
//! each router setup, the check must report exactly what the setup has, no more and no less.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};
use serde_json::Value;

const PBXGUARD: &str = env!("CARGO_BIN_EXE_pbxguard");

/// A process inside a namespace, killed by its own PID on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Fields drop in order: the daemons stop before their namespaces go.
struct Lab {
    _pbx: Daemon,
    _reflector: Daemon,
    lan: Netns,
    rtr: Netns,
    /// Kept for its lifetime: the reflector runs inside it.
    _wan: Netns,
    rtr_wan: String,
    secret: std::path::PathBuf,
}

/// A stand-in PBX: answers SIP OPTIONS on udp/5060 with 200 OK.
const FAKE_PBX: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.0.2.10", 5060))
while True:
    data, addr = s.recvfrom(4096)
    if data.startswith(b"OPTIONS"):
        s.sendto(b"SIP/2.0 200 OK\r\nServer: lab-pbx\r\nContent-Length: 0\r\n\r\n", addr)
"#;

fn wait_for(mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < end, "lab did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Lab {
    fn new() -> Lab {
        let lan = Netns::new("xl").unwrap();
        let rtr = Netns::new("xr").unwrap();
        let wan = Netns::new("xw").unwrap();
        lan.link(&rtr, "192.0.2.10/24", "192.0.2.1/24").unwrap();
        let (rtr_wan, wan_if) = rtr
            .link(&wan, "198.51.100.1/24", "198.51.100.10/24")
            .unwrap();
        wan.exec("ip", ["addr", "add", "198.51.100.11/24", "dev", &wan_if])
            .unwrap();
        lan.exec("ip", ["route", "add", "default", "via", "192.0.2.1"])
            .unwrap();
        rtr.exec("sysctl", ["-qw", "net.ipv4.ip_forward=1"])
            .unwrap();
        wait_for(|| {
            lan.exec("ping", ["-c", "1", "-W", "1", "192.0.2.1"])
                .is_ok()
                && wan
                    .exec("ping", ["-c", "1", "-W", "1", "198.51.100.1"])
                    .is_ok()
        });
        let secret = std::env::temp_dir().join(format!("{}.secret", lan.name()));
        std::fs::write(&secret, "lab shared secret of enough length\n").unwrap();
        let pbx = Daemon(
            lan.command("python3")
                .args(["-c", FAKE_PBX])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let key = format!("lab:{}", secret.display());
        let reflector = Daemon(
            wan.command(PBXGUARD)
                .args([
                    "reflector",
                    "--listen",
                    "198.51.100.10",
                    "--alt-ip",
                    "198.51.100.11",
                    "--key",
                    &key,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for(|| {
            wan.exec("ss", ["-Hlun", "sport = :3490"])
                .is_ok_and(|o| !o.stdout.is_empty())
                && lan
                    .exec("ss", ["-Hlun", "sport = :5060"])
                    .is_ok_and(|o| !o.stdout.is_empty())
        });
        Lab {
            lan,
            rtr,
            _wan: wan,
            rtr_wan,
            secret,
            _pbx: pbx,
            _reflector: reflector,
        }
    }

    /// Loads the router's rules: `masquerade` (or a variant) outbound, the given forwards inbound,
    /// and a router that drops everything addressed to itself.
    fn router(&self, masquerade: &str, forwards: &[&str]) {
        self.router_with(masquerade, forwards, false);
    }

    /// As [`Lab::router`], with the kernel's SIP ALG (nf_nat_sip) on udp/5060 when `sip_alg`.
    fn router_with(&self, masquerade: &str, forwards: &[&str], sip_alg: bool) {
        let w = &self.rtr_wan;
        let alg = if sip_alg {
            "  ct helper sip-5060 {\n    type \"sip\" protocol udp;\n    l3proto ip;\n  }\n  \
             chain helpers {\n    type filter hook prerouting priority filter; policy accept;\n    \
             udp dport { 5060, 5070 } ct helper set \"sip-5060\"\n  }\n"
        } else {
            ""
        };
        let fwd: String = forwards
            .iter()
            .map(|f| format!("    iifname \"{w}\" {f} dnat to 192.0.2.10\n"))
            .collect();
        let rules = format!(
            "table ip nat {{\n  chain pre {{\n    type nat hook prerouting priority dstnat; policy accept;\n{fwd}  }}\n  \
             chain post {{\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname \"{w}\" {masquerade}\n  }}\n}}\n\
             table ip filter {{\n{alg}  chain input {{\n    type filter hook input priority filter; policy drop;\n    \
             ct state established,related accept\n    iifname \"lo\" accept\n    iifname != \"{w}\" accept\n  }}\n}}\n"
        );
        let path = std::env::temp_dir().join(format!("{}.nft", self.rtr.name()));
        std::fs::write(&path, rules).unwrap();
        self.rtr.exec("nft", ["flush", "ruleset"]).unwrap();
        self.rtr
            .exec("nft", ["-f", path.to_str().unwrap()])
            .unwrap();
        let _ = std::fs::remove_file(path);
        let _ = self.rtr.exec("conntrack", ["-F"]);
    }

    /// Runs `pbxguard check --json` in the lan with `extra` arguments; returns the report and the
    /// exit code.
    fn check(&self, extra: &[&str]) -> (Value, i32) {
        let secret = self.secret.to_str().unwrap();
        let out = self
            .lan
            .command(PBXGUARD)
            .args([
                "--json",
                "check",
                "--reflector",
                "198.51.100.10",
                "--key-id",
                "lab",
                "--secret-file",
                secret,
            ])
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "{e}: {text}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (v, out.status.code().unwrap_or(-1))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.secret);
    }
}

/// The probes that failed, as "udp/69"-style names.
fn failures(report: &Value) -> Vec<String> {
    report["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["pass"] == false)
        .map(|p| p["probe"].as_str().unwrap().to_owned())
        .collect()
}

const SITE: &[&str] = &[
    "--sip-udp",
    "5060",
    "--rtp",
    "10000-10010",
    "--rtp-samples",
    "2",
];

#[test]
fn check_reports_exactly_what_each_router_setup_has() {
    if !root_or_skip("check_reports_exactly_what_each_router_setup_has")
        || !tools_or_skip(
            "check_reports_exactly_what_each_router_setup_has",
            &["nft", "conntrack", "ss", "python3"],
        )
    {
        return;
    }
    let lab = Lab::new();

    // Correct forwards: everything passes.
    lab.router("masquerade", &["udp dport { 5060, 10000-10010 }"]);
    let (r, code) = lab.check(SITE);
    assert_eq!(failures(&r), Vec::<String>::new(), "{r:#}");
    assert_eq!(code, 0);
    assert_eq!(r["ports"].as_array().unwrap().len(), 1 + 4 + 6);
    let sip = &r["ports"][0];
    assert_eq!(sip["probe"], "sip udp/5060");
    assert!(
        sip["observed"].as_str().unwrap().contains("SIP/2.0 200 OK"),
        "{sip}"
    );
    assert_eq!(
        r["nat"]["public_address"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("198.51.100.1")
    );

    // Forwards plus mistakes: tcp 22 and udp 69 forwarded to the PBX host, where nothing listens.
    lab.router(
        "masquerade",
        &[
            "udp dport { 5060, 10000-10010 }",
            "tcp dport 22",
            "udp dport 69",
        ],
    );
    let (r, code) = lab.check(SITE);
    assert_eq!(failures(&r), vec!["tcp/22", "udp/69"], "{r:#}");
    assert_eq!(code, 1);
    for p in r["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["pass"] == false)
    {
        assert!(
            p["observed"]
                .as_str()
                .unwrap()
                .starts_with("forwarded, nothing listening"),
            "{p}"
        );
        assert!(
            p["fix"]
                .as_str()
                .unwrap()
                .contains("remove the router's forward"),
            "{p}"
        );
    }

    // A missing RTP forward: the RTP samples fail, nothing else.
    lab.router("masquerade", &["udp dport 5060"]);
    let (r, code) = lab.check(SITE);
    assert_eq!(
        failures(&r),
        vec!["udp/10000", "udp/10003", "udp/10006", "udp/10010"],
        "{r:#}"
    );
    assert_eq!(code, 1);
    assert!(
        r["ports"][1]["fix"]
            .as_str()
            .unwrap()
            .starts_with("forward UDP port 10000")
    );

    // A symmetric NAT, without port preservation.
    lab.router("masquerade random", &["udp dport { 5060, 10000-10010 }"]);
    let (r, code) = lab.check(&[SITE, &["--nat"]].concat());
    assert_eq!(failures(&r), Vec::<String>::new(), "{r:#}");
    assert_eq!(code, 0);
    assert_eq!(r["nat"]["mapping"], "address and port-dependent", "{r:#}");
    assert_eq!(r["nat"]["filtering"], "address and port-dependent", "{r:#}");
    assert_eq!(r["nat"]["port_preserved"], false, "{r:#}");

    // A cone NAT that preserves ports.
    lab.router("masquerade", &["udp dport { 5060, 10000-10010 }"]);
    let (r, _) = lab.check(&[SITE, &["--nat"]].concat());
    assert_eq!(r["nat"]["mapping"], "endpoint-independent", "{r:#}");
    assert_eq!(r["nat"]["port_preserved"], true, "{r:#}");
    assert_eq!(r["nat"]["hairpinning"], false, "{r:#}");
}

#[test]
fn a_normal_check_of_ten_service_ports_and_an_rtp_range_takes_under_ten_seconds() {
    if !root_or_skip("a_normal_check_of_ten_service_ports_and_an_rtp_range_takes_under_ten_seconds")
        || !tools_or_skip(
            "a_normal_check_of_ten_service_ports_and_an_rtp_range_takes_under_ten_seconds",
            &["nft", "conntrack", "ss", "python3"],
        )
    {
        return;
    }
    let lab = Lab::new();
    lab.router(
        "masquerade",
        &[
            "udp dport { 5060, 4569, 5080, 5090, 10000-20000 }",
            "tcp dport { 5222, 5038, 8088, 8089, 443, 5061 }",
        ],
    );
    let started = Instant::now();
    let (r, code) = lab.check(&[
        "--sip-udp",
        "5060",
        "--udp",
        "4569,5080,5090",
        "--tcp",
        "5222,5038,8088,8089,443,5061",
        "--rtp",
        "10000-20000",
    ]);
    let took = started.elapsed();
    assert_eq!(failures(&r), Vec::<String>::new(), "{r:#}");
    assert_eq!(code, 0);
    // 10 service ports, 8 RTP samples, 6 ports that must stay closed.
    assert_eq!(r["ports"].as_array().unwrap().len(), 24);
    eprintln!(
        "check of 24 ports took {took:?} (reported {} ms)",
        r["elapsed_ms"]
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn short_router_udp_timeouts_are_measured_for_one_shot_and_kept_alive_flows() {
    if !root_or_skip("short_router_udp_timeouts_are_measured_for_one_shot_and_kept_alive_flows")
        || !tools_or_skip(
            "short_router_udp_timeouts_are_measured_for_one_shot_and_kept_alive_flows",
            &["nft", "conntrack", "ss", "python3"],
        )
    {
        return;
    }
    let lab = Lab::new();
    lab.router("masquerade", &["udp dport 5060"]);
    // One-shot bindings live 4 s, streams 10 s (Linux defaults: 30 s and 120 s).
    lab.rtr
        .exec(
            "sysctl",
            [
                "-qw",
                "net.netfilter.nf_conntrack_udp_timeout=4",
                "net.netfilter.nf_conntrack_udp_timeout_stream=10",
            ],
        )
        .unwrap();
    let (r, code) = lab.check(&[
        "--sip-udp",
        "5060",
        "--closed-tcp",
        "",
        "--closed-udp",
        "",
        "--timeouts",
        "--timeout-intervals",
        "2,6,14",
    ]);
    assert_eq!(code, 0, "{r:#}");
    let life = &r["binding_lifetime"];
    assert_eq!(life["one_shot"]["longest_alive_s"], 2, "{r:#}");
    assert_eq!(life["one_shot"]["shortest_expired_s"], 6, "{r:#}");
    assert_eq!(life["kept_alive"]["longest_alive_s"], 6, "{r:#}");
    assert_eq!(life["kept_alive"]["shortest_expired_s"], 14, "{r:#}");
    assert!(
        life["advice"]
            .as_str()
            .unwrap()
            .contains("more often than every 2s"),
        "{r:#}"
    );
}

#[test]
fn a_routers_sip_alg_is_detected_and_its_rewrites_shown() {
    if !root_or_skip("a_routers_sip_alg_is_detected_and_its_rewrites_shown")
        || !tools_or_skip(
            "a_routers_sip_alg_is_detected_and_its_rewrites_shown",
            &["nft", "conntrack", "ss", "python3"],
        )
    {
        return;
    }
    let lab = Lab::new();
    // The stand-in PBX owns 5060, so the inbound test uses 5070 (the helper is attached to both).
    let only_alg = [
        "--closed-tcp",
        "",
        "--closed-udp",
        "",
        "--alg",
        "--alg-port",
        "5070",
    ];

    lab.router_with("masquerade", &["udp dport { 5060, 5070 }"], true);
    let (r, code) = lab.check(&only_alg);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["sip_alg"]["detected"], true, "{r:#}");
    let rewrites = r["sip_alg"]["rewrites"].as_array().unwrap();
    let fields: Vec<&str> = rewrites
        .iter()
        .map(|w| w["field"].as_str().unwrap())
        .collect();
    for f in ["Via", "Contact"] {
        assert!(fields.contains(&f), "{f} not reported: {r:#}");
    }
    for w in rewrites {
        assert!(w["sent"].as_str().unwrap().contains("192.0.2.10"), "{w}");
        assert!(
            w["received"].as_str().unwrap().contains("198.51.100.1"),
            "{w}"
        );
    }

    lab.router_with("masquerade", &["udp dport 5060"], false);
    let (r, code) = lab.check(&only_alg);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["sip_alg"]["detected"], false, "{r:#}");
}
