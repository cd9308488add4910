//! Root tier: the three-namespace NAT lab (lan — rtr — wan). Our STUN client must classify the
//! lab's NATs as coturn's `turnutils_natdiscovery` does against coturn, coturn's client and the
//! classic RFC 3489 `stun` client must get the same answers from our server as from coturn, and the
//! binding lifetime must match the router's conntrack timeouts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pbxguard_testlab::{Daemon, NatLab, Netns, root_or_skip, tools_or_skip, wait_until};

const PROBE: &str = env!("CARGO_BIN_EXE_pbxguard-natprobe");

/// The lab tests start servers on the same addresses in different namespaces, which is fine, but
/// they also share two CPU cores with the rest of the test suite: run them one at a time so that
/// retransmission timers are not stretched by load.
static LAB: Mutex<()> = Mutex::new(());

fn wait_for(ok: impl FnMut() -> bool) {
    assert!(
        wait_until(Duration::from_secs(10), ok),
        "lab did not come up"
    );
}

fn coturn(ns: &Netns) -> Daemon {
    let pid = std::env::temp_dir().join(format!("{}-turn.pid", ns.name()));
    let child = ns
        .command("turnserver")
        .args([
            "-L",
            "198.51.100.10",
            "-L",
            "198.51.100.11",
            "--stun-only",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "-n",
            "-p",
            "3478",
            "--log-file",
            "stdout",
            "--pidfile",
        ])
        .arg(pid)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let d = Daemon(child);
    wait_for(|| {
        ns.exec("ss", ["-Hlun", "sport = :3479"]).is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .matches("198.51.100.1")
                .count()
                >= 2
        })
    });
    d
}

fn our_server(ns: &Netns) -> Daemon {
    let child = ns
        .command(PROBE)
        .args([
            "serve",
            "198.51.100.10:3478",
            "--alt-ip",
            "198.51.100.11",
            "--alt-port",
            "3479",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let d = Daemon(child);
    wait_for(|| {
        ns.exec("ss", ["-Hlun", "sport = :3479"]).is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .matches("198.51.100.1")
                .count()
                >= 2
        })
    });
    d
}

/// "Endpoint Independent" / "endpoint-independent" → "endpoint independent".
fn norm(s: &str) -> String {
    s.trim().to_lowercase().replace('-', " ")
}

/// Mapping and filtering as coturn's client reports them.
fn coturn_client(lan: &Netns) -> (String, String) {
    let out = lan
        .exec("turnutils_natdiscovery", ["-m", "-f", "198.51.100.10"])
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let find = |what: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix("NAT with ")
                    .and_then(|r| r.strip_suffix(&format!(" {what}!")))
            })
            .map(norm)
            .unwrap_or_else(|| panic!("no {what} verdict in coturn output:\n{text}"))
    };
    (find("Mapping"), find("Filtering"))
}

/// Our client's `key: value` report.
fn our_client(lan: &Netns, args: &[&str]) -> BTreeMap<String, String> {
    let out = lan.exec(PROBE, args).unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn discover(lan: &Netns) -> BTreeMap<String, String> {
    our_client(lan, &["discover", "198.51.100.10:3478", "--quick"])
}

/// The verdict line of the classic RFC 3489 client from the stun-client package.
fn classic_client(lan: &Netns) -> String {
    // It exits with a bit mask of its findings, not 0: read its output whatever the status.
    let out = lan.command("stun").arg("198.51.100.10").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Primary: "))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no verdict from the classic stun client:\n{text}"))
}

/// Linux has no cone NAT built in: these emulate one with a set of ports (full cone) or of
/// destination address and port pairs (restricted cone) learned from outbound packets, and an
/// inbound DNAT for whatever the set allows.
const FULL_CONE: &str = "table ip nat {
  set eif {
    type inet_service
    flags timeout
    timeout 60s
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname \"WAN\" masquerade
  }
  chain learn {
    type filter hook postrouting priority srcnat + 10; policy accept;
    oifname \"WAN\" update @eif { udp sport }
  }
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    iifname \"WAN\" udp dport @eif dnat to 192.0.2.10
  }
}
";

const RESTRICTED_CONE: &str = "table ip nat {
  set eif {
    type ipv4_addr . inet_service
    flags timeout
    timeout 60s
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname \"WAN\" masquerade
  }
  chain learn {
    type filter hook postrouting priority srcnat + 10; policy accept;
    oifname \"WAN\" update @eif { ip daddr . udp sport }
  }
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    iifname \"WAN\" ip saddr . udp dport @eif dnat to 192.0.2.10
  }
}
";

struct Expect {
    /// For messages.
    name: &'static str,
    /// A masquerade statement, or a whole ruleset (multi-line).
    nat: &'static str,
    /// The classic client's verdict.
    classic: &'static str,
    mapping: &'static str,
    filtering: &'static str,
    port_preserved: &'static str,
}

const LAB_NATS: &[Expect] = &[
    Expect {
        name: "full cone",
        nat: FULL_CONE,
        classic: "Independent Mapping, Independent Filter, preserves ports, no hairpin",
        mapping: "endpoint independent",
        filtering: "endpoint independent",
        port_preserved: "yes",
    },
    Expect {
        name: "restricted cone",
        nat: RESTRICTED_CONE,
        classic: "Independent Mapping, Address Dependent Filter, preserves ports, no hairpin",
        mapping: "endpoint independent",
        filtering: "address dependent",
        port_preserved: "yes",
    },
    Expect {
        name: "port-restricted cone (masquerade)",
        nat: "masquerade",
        classic: "Independent Mapping, Port Dependent Filter, preserves ports, no hairpin",
        mapping: "endpoint independent",
        filtering: "address and port dependent",
        port_preserved: "yes",
    },
    Expect {
        name: "symmetric (masquerade random)",
        nat: "masquerade random",
        classic: "Dependent Mapping, random port, no hairpin",
        mapping: "address and port dependent",
        filtering: "address and port dependent",
        port_preserved: "no",
    },
];

#[test]
fn lab_nats_are_classified_like_coturn_classifies_them() {
    if !root_or_skip("lab_nats_are_classified_like_coturn_classifies_them")
        || !tools_or_skip(
            "lab_nats_are_classified_like_coturn_classifies_them",
            &[
                "nft",
                "conntrack",
                "turnserver",
                "turnutils_natdiscovery",
                "ss",
            ],
        )
    {
        return;
    }
    let _serial = LAB.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NatLab::new("st").unwrap();
    for e in LAB_NATS {
        if e.nat.contains('\n') {
            lab.rules(e.nat).unwrap();
        } else {
            lab.nat(e.nat).unwrap();
        }

        // Both clients against coturn.
        let server = coturn(&lab.wan);
        let (c_map, c_filt) = coturn_client(&lab.lan);
        let ours = discover(&lab.lan);
        let classic = classic_client(&lab.lan);
        drop(server);
        assert_eq!(
            classic, e.classic,
            "NAT `{}`: classic client against coturn",
            e.name
        );
        let ctx = format!(
            "NAT `{}`: coturn says {c_map} / {c_filt}, we say {ours:?}",
            e.name
        );
        assert_eq!(c_map, e.mapping, "{ctx}");
        assert_eq!(c_filt, e.filtering, "{ctx}");
        assert_eq!(norm(&ours["mapping"]), c_map, "{ctx}");
        assert_eq!(norm(&ours["filtering"]), c_filt, "{ctx}");
        assert_eq!(ours["port-preserved"], e.port_preserved, "{ctx}");
        assert_eq!(ours["hairpinning"], "no", "{ctx}");
        assert_eq!(ours["other-address"], "198.51.100.11:3479", "{ctx}");

        // Both clients against our server.
        let _server = our_server(&lab.wan);
        let (c_map2, c_filt2) = coturn_client(&lab.lan);
        let ours2 = discover(&lab.lan);
        // The classic client speaks RFC 3489 (no magic cookie): our server answers it too.
        let classic2 = classic_client(&lab.lan);
        assert_eq!(
            classic2, e.classic,
            "NAT `{}`: classic client against our server",
            e.name
        );
        let ctx = format!(
            "NAT `{}` with our server: coturn client says {c_map2} / {c_filt2}",
            e.name
        );
        assert_eq!(
            (c_map2.as_str(), c_filt2.as_str()),
            (e.mapping, e.filtering),
            "{ctx}"
        );
        assert_eq!(norm(&ours2["mapping"]), e.mapping, "{ctx}: {ours2:?}");
        assert_eq!(norm(&ours2["filtering"]), e.filtering, "{ctx}: {ours2:?}");
    }
}

#[test]
fn lab_binding_lifetimes_follow_the_routers_udp_timeouts() {
    if !root_or_skip("lab_binding_lifetimes_follow_the_routers_udp_timeouts")
        || !tools_or_skip(
            "lab_binding_lifetimes_follow_the_routers_udp_timeouts",
            &["nft", "conntrack", "ss"],
        )
    {
        return;
    }
    let _serial = LAB.lock().unwrap_or_else(|p| p.into_inner());
    let lab = NatLab::new("st").unwrap();
    lab.nat("masquerade").unwrap();
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
    let _server = our_server(&lab.wan);
    let started = Instant::now();
    let (one_shot, kept_alive) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            our_client(
                &lab.lan,
                &[
                    "lifetime",
                    "198.51.100.10:3478",
                    "--quick",
                    "--intervals",
                    "2,6,9",
                ],
            )
        });
        let b = s.spawn(|| {
            our_client(
                &lab.lan,
                &[
                    "lifetime",
                    "198.51.100.10:3478",
                    "--quick",
                    "--kept-alive",
                    "--intervals",
                    "6,14",
                ],
            )
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(one_shot["longest-alive-s"], "2", "{one_shot:?}");
    assert_eq!(one_shot["shortest-expired-s"], "6", "{one_shot:?}");
    assert_eq!(one_shot["interval 9s"], "Skipped", "{one_shot:?}");
    assert_eq!(kept_alive["longest-alive-s"], "6", "{kept_alive:?}");
    assert_eq!(kept_alive["shortest-expired-s"], "14", "{kept_alive:?}");
    eprintln!("lifetime lab run took {:?}", started.elapsed());
}
