//! Root tier: the rendered nftables ruleset, loaded in a PBX namespace, lets through exactly what the
//! plan says. Two client namespaces (a trusted source and an untrusted one) probe every port of
//! interest; a listener in the PBX namespace answers on all of them, so a silent port is the
//! firewall's doing. Traffic stays inside the namespaces this test creates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use pbxguard_firewall::{Catalog, Format, Plan, Site, render};
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

/// Answers "pong" on every UDP and TCP port given as `udp:N` / `tcp:N` arguments.
const LISTENER: &str = r#"
import select, socket, sys
socks = []
for spec in sys.argv[1:]:
    proto, port = spec.split(":")
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port)))
    if proto == "tcp":
        s.listen(16)
    socks.append((proto, s))
print("ready", flush=True)
while True:
    ready, _, _ = select.select([s for _, s in socks], [], [], 30)
    if not ready:
        break
    for proto, s in socks:
        if s not in ready:
            continue
        if proto == "udp":
            data, peer = s.recvfrom(2048)
            s.sendto(b"pong", peer)
        else:
            c, _ = s.accept()
            c.sendall(b"pong")
            c.close()
"#;

/// Prints `proto:port open|closed` for each probe: open means the listener's "pong" came back.
/// `udp-scanner:N` sends a SIP request whose User-Agent is `friendly-scanner`.
const PROBE: &str = r#"
import socket, sys
host = sys.argv[1]
for spec in sys.argv[2:]:
    proto, port = spec.split(":")
    ok = False
    try:
        if proto in ("udp", "udp-scanner"):
            ua = b"friendly-scanner" if proto == "udp-scanner" else b"Linphone/5.2"
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.4)
            s.sendto(b"OPTIONS sip:probe SIP/2.0\r\nUser-Agent: " + ua + b"\r\n\r\n", (host, int(port)))
            ok = s.recvfrom(64)[0] == b"pong"
        else:
            s = socket.create_connection((host, int(port)), timeout=0.4)
            s.settimeout(0.4)
            ok = s.recv(64) == b"pong"
        s.close()
    except OSError:
        ok = False
    print(spec, "open" if ok else "closed", flush=True)
"#;

const PBX: &str = "10.81.1.1";
const PBX_B: &str = "10.81.2.1";

fn site(open_to_world: bool) -> String {
    format!(
        r#"[pbx]
product = "freeswitch"
features = ["remote-phones", "sip-trunks"]
lan_address = "192.168.77.10/24"
rtp_range = "16384-16484"

[sip]
open_to_world = {open_to_world}

[[trusted]]
name = "trusted lab peer"
address = "10.81.1.2"
kind = "remote-office"

[admin]
ssh_port = 6245
networks = ["10.81.1.2/32"]
"#
    )
}

struct Listener(Child);

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn probe(ns: &Netns, host: &str, specs: &[&str]) -> Vec<(String, bool)> {
    let mut args = vec!["-c", PROBE, host];
    args.extend_from_slice(specs);
    let out = ns.exec("python3", &args).unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(s, r)| (s.to_owned(), r == "open"))
        .collect()
}

fn load(pbx: &Netns, format: Format, open_to_world: bool) {
    let catalog = Catalog::builtin().unwrap();
    let site = Site::parse(&site(open_to_world), &catalog).unwrap();
    let ruleset = render(&Plan::build(&site, &catalog).unwrap(), format);
    let path = std::env::temp_dir().join(format!(
        "pbxguard-behaviour-{}-{format}-{open_to_world}.rules",
        std::process::id()
    ));
    std::fs::write(&path, ruleset).unwrap();
    let r = match format {
        Format::Nft => pbx.exec("nft", ["-f", path.to_str().unwrap()]),
        _ => pbx.exec(
            "sh",
            ["-c", &format!("iptables-restore < '{}'", path.display())],
        ),
    };
    let _ = std::fs::remove_file(&path);
    r.unwrap();
}

fn expect(results: &[(String, bool)], want: &[(&str, bool)], who: &str) {
    let mut wrong = Vec::new();
    for (spec, open) in want {
        let got = results.iter().find(|(s, _)| s == spec).map(|(_, o)| *o);
        if got != Some(*open) {
            wrong.push(format!(
                "{who}: {spec} expected {}, got {got:?}",
                if *open { "open" } else { "closed" }
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

const PORTS: &[&str] = &[
    "udp:5060",
    "tcp:5060",
    "udp:5080",
    "tcp:5080",
    "udp:5070",
    "tcp:6245",
    "tcp:8021",
    "tcp:5066",
    "udp:16384",
    "udp:16484",
    "udp:16485",
];

/// A PBX namespace with a listener on every port of [`PORTS`], linked to a trusted and an untrusted
/// client namespace. Dropping it stops the listener and deletes the namespaces.
struct Lab {
    _listener: Listener,
    pbx: Netns,
    trusted: Netns,
    untrusted: Netns,
}

impl Lab {
    fn new() -> Self {
        let pbx = Netns::new("fwpbx").unwrap();
        let trusted = Netns::new("fwtru").unwrap();
        let untrusted = Netns::new("fwunt").unwrap();
        pbx.link(&trusted, &format!("{PBX}/24"), "10.81.1.2/24")
            .unwrap();
        pbx.link(&untrusted, &format!("{PBX_B}/24"), "10.81.2.2/24")
            .unwrap();
        let mut child = pbx
            .command("python3")
            .arg("-c")
            .arg(LISTENER)
            .args(PORTS)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let listener = Listener(child);
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        let lab = Self {
            _listener: listener,
            pbx,
            trusted,
            untrusted,
        };
        // Control: without a ruleset every port answers, so silence later is the firewall's doing.
        let before = probe(&lab.untrusted, PBX_B, PORTS);
        assert!(before.iter().all(|(_, open)| *open), "{before:?}");
        let scanner = probe(&lab.untrusted, PBX_B, &["udp-scanner:5060"]);
        assert!(scanner.iter().all(|(_, open)| *open), "{scanner:?}");
        lab
    }
}

/// What the trusted source must see with the lab site (SIP trusted-only).
const TRUSTED_VIEW: &[(&str, bool)] = &[
    ("udp:5060", true),
    ("tcp:5060", true),
    ("udp:5080", true),
    ("tcp:5080", true),
    ("tcp:6245", true),
    ("udp:16384", true),
    ("udp:16484", true),
    ("udp:5070", false),  // NAT profile not enabled
    ("tcp:5066", false),  // WebRTC not enabled
    ("tcp:8021", false),  // ESL never
    ("udp:16485", false), // outside the configured RTP range
];

/// What the untrusted source must see with the lab site (SIP trusted-only).
const UNTRUSTED_VIEW: &[(&str, bool)] = &[
    ("udp:5060", false),
    ("tcp:5060", false),
    ("udp:5080", false),
    ("tcp:5080", false),
    ("tcp:6245", false),
    ("tcp:8021", false),
    ("udp:16384", true),
    ("udp:16485", false),
];

#[test]
fn rendered_nftables_ruleset_opens_exactly_the_planned_ports() {
    let name = "rendered_nftables_ruleset_opens_exactly_the_planned_ports";
    if !root_or_skip(name) || !tools_or_skip(name, &["nft", "ip", "python3"]) {
        return;
    }
    let started = Instant::now();
    let lab = Lab::new();
    load(&lab.pbx, Format::Nft, false);
    expect(&probe(&lab.trusted, PBX, PORTS), TRUSTED_VIEW, "trusted");
    expect(
        &probe(&lab.untrusted, PBX_B, PORTS),
        UNTRUSTED_VIEW,
        "untrusted",
    );
    // The explicit drop counted the untrusted SIP.
    let listing = lab
        .pbx
        .exec("nft", ["list", "chain", "inet", "pbxguard", "input"])
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.contains("signalling from untrusted sources") && !l.contains("packets 0 ")),
        "{listing}"
    );

    // Open to the world: the untrusted source now reaches SIP, still not SSH or ESL.
    load(&lab.pbx, Format::Nft, true);
    expect(
        &probe(&lab.untrusted, PBX_B, PORTS),
        &[
            ("udp:5060", true),
            ("tcp:5060", true),
            ("udp:5080", true),
            ("tcp:6245", false),
            ("tcp:8021", false),
        ],
        "untrusted, open to the world",
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn rendered_iptables_ruleset_opens_the_planned_ports_and_drops_scanners() {
    let name = "rendered_iptables_ruleset_opens_the_planned_ports_and_drops_scanners";
    if !root_or_skip(name) || !tools_or_skip(name, &["iptables-restore", "ip", "python3"]) {
        return;
    }
    let started = Instant::now();
    let lab = Lab::new();
    load(&lab.pbx, Format::Iptables, false);
    expect(&probe(&lab.trusted, PBX, PORTS), TRUSTED_VIEW, "trusted");
    expect(
        &probe(&lab.untrusted, PBX_B, PORTS),
        UNTRUSTED_VIEW,
        "untrusted",
    );
    // The FreeSWITCH guide's string match: a scanner's request dies even from a trusted source,
    // while an ordinary request on the same port is answered.
    expect(
        &probe(
            &lab.trusted,
            PBX,
            &["udp-scanner:5060", "udp-scanner:5080", "udp:5060"],
        ),
        &[
            ("udp-scanner:5060", false),
            ("udp-scanner:5080", false),
            ("udp:5060", true),
        ],
        "trusted, scanner User-Agent",
    );
    load(&lab.pbx, Format::Iptables, true);
    expect(
        &probe(
            &lab.untrusted,
            PBX_B,
            &["udp:5060", "udp-scanner:5060", "tcp:6245"],
        ),
        &[
            ("udp:5060", true),
            ("udp-scanner:5060", false),
            ("tcp:6245", false),
        ],
        "untrusted, open to the world",
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}
