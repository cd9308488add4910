//! The real tools accept every rendering: `nft -c -f` for nftables, `iptables-restore --test` for
//! iptables (both inside a fresh network namespace, so nothing on the host is touched even if a
//! check were to commit), and firewalld's own loader for the zone (`firewall-offline-cmd` on a
//! configuration directory of the test's own, never /etc/firewalld).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use pbxguard_firewall::{Format, render};
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

fn check_all(format: Format, program: &str, args: &[&str]) {
    let ns = Netns::new("fwchk").unwrap();
    let dir = std::env::temp_dir().join(format!("pbxguard-fw-{}-{}", format, std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (id, plan) in common::plans() {
        let path = dir.join(format!("{id}.{format}"));
        std::fs::write(&path, render(&plan, format)).unwrap();
        let mut full: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        full.push(path.display().to_string());
        if let Err(e) = ns.exec(program, &full) {
            failures.push(format!("{id}: {e}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_nftables_rendering_passes_nft_check() {
    if !root_or_skip("every_nftables_rendering_passes_nft_check")
        || !tools_or_skip("every_nftables_rendering_passes_nft_check", &["nft", "ip"])
    {
        return;
    }
    check_all(Format::Nft, "nft", &["-c", "-f"]);
}

#[test]
fn every_iptables_rendering_passes_iptables_restore_test() {
    if !root_or_skip("every_iptables_rendering_passes_iptables_restore_test")
        || !tools_or_skip(
            "every_iptables_rendering_passes_iptables_restore_test",
            &["iptables-restore", "ip"],
        )
    {
        return;
    }
    restore_test_all(Format::Iptables, "iptables-restore");
}

#[test]
fn every_ip6tables_rendering_passes_ip6tables_restore_test() {
    let name = "every_ip6tables_rendering_passes_ip6tables_restore_test";
    if !root_or_skip(name) || !tools_or_skip(name, &["ip6tables-restore", "ip"]) {
        return;
    }
    restore_test_all(Format::Ip6tables, "ip6tables-restore");
}

fn restore_test_all(format: Format, program: &str) {
    // The restore tools read the ruleset from stdin; `sh -c` keeps the namespace exec simple.
    let ns = Netns::new("fwipt").unwrap();
    let dir = std::env::temp_dir().join(format!("pbxguard-fw-{format}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (id, plan) in common::plans() {
        let path = dir.join(format!("{id}.rules"));
        std::fs::write(&path, render(&plan, format)).unwrap();
        let cmd = format!("{program} --test < '{}'", path.display());
        if let Err(e) = ns.exec("sh", ["-c", &cmd]) {
            failures.push(format!("{id}: {e}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_ufw_rendering_passes_ufw_dry_run() {
    let name = "every_ufw_rendering_passes_ufw_dry_run";
    if !root_or_skip(name) || !tools_or_skip(name, &["ufw", "ip"]) {
        return;
    }
    // Every command runs with --dry-run (ufw then changes nothing); `enable` is left out.
    let ns = Netns::new("fwufw").unwrap();
    let dir = std::env::temp_dir().join(format!("pbxguard-fw-ufw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (id, plan) in common::plans() {
        let script: String = render(&plan, Format::Ufw)
            .lines()
            .filter(|l| !l.contains("--force enable"))
            .map(|l| match l.strip_prefix("ufw ") {
                Some(rest) => format!("ufw --dry-run {rest}\n"),
                None => format!("{l}\n"),
            })
            .collect();
        assert!(script.contains("ufw --dry-run default deny incoming"));
        let path = dir.join(format!("{id}.sh"));
        std::fs::write(&path, script).unwrap();
        if let Err(e) = ns.exec("sh", [path.to_str().unwrap()]) {
            failures.push(format!("{id}: {e}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// firewalld reads zone files with Python's XML parser; the same parser must accept every rendering,
/// and the zone must have the shape firewalld expects.
const ZONE_CHECK: &str = r#"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "zone" and root.get("target") == "DROP", root.tag
for rule in root.findall("rule"):
    assert rule.get("family") in ("ipv4", "ipv6"), rule.attrib
    assert len(rule.findall("accept")) == 1, "one action per rich rule"
    for port in rule.findall("port"):
        assert port.get("protocol") in ("tcp", "udp")
for port in root.findall("port"):
    assert port.get("protocol") in ("tcp", "udp")
    lo, _, hi = port.get("port").partition("-")
    assert 1 <= int(lo) <= int(hi or lo) <= 65535
"#;

#[test]
fn every_firewalld_rendering_is_a_well_formed_zone() {
    let name = "every_firewalld_rendering_is_a_well_formed_zone";
    if !tools_or_skip(name, &["python3"]) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pbxguard-fw-zone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (id, plan) in common::plans() {
        let path = dir.join(format!("{id}.xml"));
        std::fs::write(&path, render(&plan, Format::Firewalld)).unwrap();
        if let Err(e) = pbxguard_testlab::run("python3", ["-c", ZONE_CHECK, path.to_str().unwrap()])
        {
            failures.push(format!("{id}: {e}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// How firewalld reads a rendered zone: `firewall-offline-cmd --check-config` on a system
/// configuration directory holding only that zone, then `--list-all` for what it understood.
/// firewalld reports invalid rules as warnings and drops them, exit status 0 all the same, so
/// any warning fails the check, and every rich rule and port must survive the loading.
fn firewalld_loads(dir: &std::path::Path, zone_xml: &str) -> Result<(), String> {
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    std::fs::write(zones.join("pbxguard.xml"), zone_xml).unwrap();
    // The daemon settings the tool expects beside the zones (the package's defaults).
    std::fs::copy("/etc/firewalld/firewalld.conf", dir.join("firewalld.conf")).unwrap();
    let config = dir.to_str().unwrap();
    let check = pbxguard_testlab::run(
        "firewall-offline-cmd",
        ["--system-config", config, "--check-config"],
    )
    .map_err(|e| e.to_string())?;
    let complaints = String::from_utf8_lossy(&check.stdout).into_owned()
        + &String::from_utf8_lossy(&check.stderr);
    if complaints.contains("WARNING") || complaints.contains("ERROR") {
        return Err(format!("--check-config: {}", complaints.trim()));
    }
    let listed = pbxguard_testlab::run(
        "firewall-offline-cmd",
        ["--system-config", config, "--zone=pbxguard", "--list-all"],
    )
    .map_err(|e| e.to_string())?;
    let listed = String::from_utf8_lossy(&listed.stdout);
    let rich = listed
        .lines()
        .filter(|l| l.trim_start().starts_with("rule "))
        .count();
    let want_rich = zone_xml.matches("<rule ").count();
    if rich != want_rich {
        return Err(format!(
            "{rich} of {want_rich} rich rules loaded:\n{listed}"
        ));
    }
    let ports = listed
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("ports:"))
        .map_or(0, |p| p.split_whitespace().count());
    let want_ports = zone_xml.matches("\n  <port ").count();
    if ports != want_ports {
        return Err(format!("{ports} of {want_ports} ports loaded:\n{listed}"));
    }
    if !listed.contains("target: DROP") {
        return Err(format!("target is not DROP:\n{listed}"));
    }
    Ok(())
}

#[test]
fn every_firewalld_rendering_loads_in_firewalld() {
    let name = "every_firewalld_rendering_loads_in_firewalld";
    if !tools_or_skip(name, &["firewall-offline-cmd"]) {
        return;
    }
    let base = std::env::temp_dir().join(format!("pbxguard-firewalld-{}", std::process::id()));
    let mut failures = Vec::new();
    let plans = common::plans();
    for (id, plan) in &plans {
        let dir = base.join(id);
        if let Err(e) = firewalld_loads(&dir, &render(plan, Format::Firewalld)) {
            failures.push(format!("{id}: {e}"));
        }
    }
    // The check itself catches what firewalld drops.
    let (_, plan) = &plans[0];
    let broken =
        render(plan, Format::Firewalld).replacen("protocol=\"udp\"", "protocol=\"udpx\"", 1);
    assert!(
        firewalld_loads(&base.join("broken"), &broken).is_err(),
        "an invalid protocol went unnoticed"
    );
    let _ = std::fs::remove_dir_all(&base);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
