//! Root tier: the firewall readers against what the real tools print. Each ruleset fixture is loaded
//! into a private network namespace (`nft -f`, `iptables-restore`), dumped back with `nft list ruleset`,
//! `nft -j list ruleset` and `iptables-save`, and the dumps must produce the same findings as the
//! fixture, each pointing at a rule that really is the culprit. firewalld fixtures must be accepted by
//! firewalld's own loader (`firewall-offline-cmd --check-config`), and ufw fixtures, loaded the way
//! `ufw-init` loads them, must give the findings the ufw reader gives.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::process::Stdio;

use pbxguard_audit::{NoIncludes, Options, Report, SourceFile, audit};
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

fn run_audit(name: &str, text: &str) -> Report {
    audit(
        vec![SourceFile::new(name, text)],
        &mut NoIncludes,
        &Options::default(),
    )
}

fn rule_ids(r: &Report) -> Vec<&'static str> {
    let mut v: Vec<&str> = r.findings.iter().map(|f| f.rule.id).collect();
    v.sort_unstable();
    v
}

/// The text of the line (or, for one-line JSON, the `{"rule": …}` object) a finding points at.
fn culprit(text: &str, f: &pbxguard_audit::Finding) -> String {
    let line = text.lines().nth(f.loc.line as usize - 1).unwrap_or("");
    match f.loc.column {
        Some(c) => {
            let rest: String = line.chars().skip(c as usize - 1).collect();
            // The object ends at the next top-level rule or chain.
            rest.split("}}, {\"").next().unwrap_or("").to_owned()
        }
        None => line.to_owned(),
    }
}

fn nft_dumps(fixture: &str, json_input: bool) -> (String, String) {
    let ns = Netns::new("aud").unwrap();
    let path = common::fixtures().join(fixture);
    let path = path.to_str().unwrap();
    if json_input {
        ns.exec("nft", ["-j", "-f", path]).unwrap();
    } else {
        ns.exec("nft", ["-f", path]).unwrap();
    }
    let text = String::from_utf8(ns.exec("nft", ["list", "ruleset"]).unwrap().stdout).unwrap();
    let json =
        String::from_utf8(ns.exec("nft", ["-j", "list", "ruleset"]).unwrap().stdout).unwrap();
    (text, json)
}

fn iptables_dump(fixture: &str) -> String {
    let ns = Netns::new("aui").unwrap();
    let file = std::fs::File::open(common::fixtures().join(fixture)).unwrap();
    let status = ns
        .command("iptables-restore")
        .stdin(Stdio::from(file))
        .status()
        .unwrap();
    assert!(status.success(), "iptables-restore {fixture} failed");
    String::from_utf8(ns.exec("iptables-save", Vec::<&str>::new()).unwrap().stdout).unwrap()
}

/// Audits the fixture and the tool's dumps; all must give `expected` rule ids, and each dump finding's
/// culprit must contain one of `tokens`.
fn same_findings(
    name: &str,
    fixture_text: &str,
    dumps: &[(&str, String)],
    expected: &[&str],
    tokens: &[&str],
) {
    let original = run_audit(name, fixture_text);
    assert_eq!(
        rule_ids(&original),
        expected,
        "fixture {name}:\n{}",
        common::dump(&original)
    );
    for (dump_name, dump) in dumps {
        let r = run_audit(dump_name, dump);
        assert!(
            r.unread.is_empty(),
            "{dump_name} of {name} has unread parts:\n{}\n{dump}",
            common::dump(&r)
        );
        assert_eq!(
            rule_ids(&r),
            expected,
            "{dump_name} of {name}:\n{}\n{dump}",
            common::dump(&r)
        );
        for f in &r.findings {
            let c = culprit(dump, f);
            assert!(
                tokens.iter().any(|t| c.contains(t)),
                "{dump_name}: {} points at `{c}`",
                f.rule.id
            );
        }
    }
}

#[test]
fn nft_text_and_json_dumps_give_the_same_findings_root() {
    if !root_or_skip("nft_text_and_json_dumps_give_the_same_findings_root")
        || !tools_or_skip("nft dumps", &["nft", "ip"])
    {
        return;
    }
    let cases: &[(&str, bool, &[&str], &[&str])] = &[
        (
            "samples/firewall/pbxguard.nft",
            false,
            &["fw-exposed-service"],
            &["8021"],
        ),
        (
            "rules/fw-sip-unlimited/bad/ruleset.nft",
            false,
            &["fw-sip-unlimited"],
            &["5060"],
        ),
        ("rules/fw-sip-unlimited/good/ruleset.nft", false, &[], &[]),
        (
            "rules/fw-established-before-ban/bad/ruleset.json",
            true,
            &["fw-established-before-ban"],
            &["established", "\"state\""],
        ),
        (
            "rules/fw-established-before-ban/good/ruleset.json",
            true,
            &[],
            &[],
        ),
    ];
    for (fixture, json_input, expected, tokens) in cases {
        let text = std::fs::read_to_string(common::fixtures().join(fixture)).unwrap();
        let (nft_text, nft_json) = nft_dumps(fixture, *json_input);
        let name = if *json_input {
            "ruleset.json"
        } else {
            "ruleset.nft"
        };
        same_findings(
            name,
            &text,
            &[("nft-list.txt", nft_text), ("nft-list.json", nft_json)],
            expected,
            tokens,
        );
    }
}

#[test]
fn iptables_save_dumps_give_the_same_findings_root() {
    if !root_or_skip("iptables_save_dumps_give_the_same_findings_root")
        || !tools_or_skip(
            "iptables dumps",
            &["iptables-restore", "iptables-save", "ip"],
        )
    {
        return;
    }
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "samples/firewall/rules.v4",
            &[
                "fw-established-before-ban",
                "fw-exposed-service",
                "fw-exposed-service",
                "fw-no-default-drop",
                "fw-sip-unlimited",
            ],
            &[
                "ESTABLISHED",
                "--dport 22",
                "--dport 80",
                ":INPUT ACCEPT",
                "--dport 5060",
            ],
        ),
        (
            "rules/fw-exposed-service/bad/rules.v4",
            &[
                "fw-exposed-service",
                "fw-exposed-service",
                "fw-exposed-service",
                "fw-exposed-service",
            ],
            &["22", "8021", "69", "5038"],
        ),
        ("rules/fw-exposed-service/good/rules.v4", &[], &[]),
        (
            "rules/fw-no-default-drop/bad/rules.v4",
            &["fw-no-default-drop"],
            &[":INPUT ACCEPT"],
        ),
        ("rules/fw-no-default-drop/good/rules.v4", &[], &[]),
        (
            "samples/firewall/iptables.fs.rules",
            &["fw-sip-unlimited", "fw-sip-unlimited", "fw-sip-unlimited"],
            &["5060", "5061"],
        ),
    ];
    for (fixture, expected, tokens) in cases {
        let text = std::fs::read_to_string(common::fixtures().join(fixture)).unwrap();
        let dump = iptables_dump(fixture);
        same_findings(
            "rules.v4",
            &text,
            &[("iptables-save.txt", dump)],
            expected,
            tokens,
        );
    }
}

/// Every directory under `dir` (itself included) for which `is_root` holds.
fn dirs_where(
    dir: &std::path::Path,
    is_root: &dyn Fn(&std::path::Path) -> bool,
) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        if is_root(&d) {
            out.push(d.clone());
        }
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn firewalld_fixtures_are_accepted_by_firewalld_itself() {
    // firewall-offline-cmd reads a configuration directory of its own without a running daemon; the
    // fixtures must be what firewalld loads without an error or a warning, or the audit would be reading
    // configurations firewalld refuses.
    if !tools_or_skip("firewalld fixtures", &["firewall-offline-cmd"]) {
        return;
    }
    let roots = dirs_where(&common::fixtures(), &|d| {
        d.join("firewalld.conf").is_file() || d.join("zones").is_dir()
    });
    assert!(roots.len() >= 9, "{roots:?}");
    for root in roots {
        let tmp = std::env::temp_dir().join(format!(
            "pbxguard-audit-fwd-{}-{}",
            std::process::id(),
            root.to_string_lossy().replace('/', "_")
        ));
        std::fs::create_dir_all(&tmp).unwrap();
        let status = std::process::Command::new("cp")
            .args(["-r", "--"])
            .arg(root.join("."))
            .arg(&tmp)
            .status()
            .unwrap();
        assert!(status.success());
        let out = std::process::Command::new("firewall-offline-cmd")
            .arg("--system-config")
            .arg(&tmp)
            .arg("--check-config")
            .output()
            .unwrap();
        std::fs::remove_dir_all(&tmp).unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && !said.contains("WARNING") && !said.contains("ERROR"),
            "firewalld refuses {}:\n{said}",
            root.display()
        );
    }
}

#[test]
fn ufw_trees_loaded_as_ufw_init_loads_them_give_the_same_findings_root() {
    // Each ufw fixture is loaded into a private namespace the way ufw-init does it (before.rules,
    // after.rules, user.rules, the ufw-before-input -> ufw-user-input link, INPUT hooked to the before
    // and after chains, the policy from /etc/default/ufw); iptables-save of the result, audited as
    // plain iptables, must give the same findings as the ufw tree, rule for rule.
    if !root_or_skip("ufw_trees_loaded_as_ufw_init_loads_them_give_the_same_findings_root")
        || !tools_or_skip(
            "ufw trees",
            &["iptables-restore", "iptables-save", "ipset", "ip"],
        )
    {
        return;
    }
    let roots = dirs_where(&common::fixtures(), &|d| {
        d.join("etc/ufw/user.rules").is_file()
    });
    assert!(roots.len() >= 9, "{roots:?}");
    for root in roots {
        let tree = common::audit_dir(&root, &Options::default());
        // ufw.conf's ENABLED=no is the tree's alone: iptables has no such switch.
        if tree
            .findings
            .iter()
            .any(|f| tree.path(f.loc.file).ends_with("ufw.conf"))
        {
            continue;
        }
        let mut want: Vec<&str> = tree
            .findings
            .iter()
            .filter(|f| !tree.path(f.loc.file).ends_with("6.rules"))
            .map(|f| f.rule.id)
            .collect();
        want.sort_unstable();
        let default = std::fs::read_to_string(root.join("etc/default/ufw")).unwrap();
        let policy = if default.contains("DEFAULT_INPUT_POLICY=\"ACCEPT\"") {
            "ACCEPT"
        } else {
            "DROP"
        };
        let ns = Netns::new("auf").unwrap();
        ns.exec("ipset", ["create", "blacklist", "hash:ip"])
            .unwrap();
        let restore = |text: &str| {
            let mut child = ns
                .command("iptables-restore")
                .arg("-n")
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
            assert!(
                child.wait().unwrap().success(),
                "iptables-restore failed in {}:\n{text}",
                root.display()
            );
        };
        // What ufw-init (ufw-init-functions, ufw 0.36) creates before it loads the files.
        let mut base = String::from("*filter\n");
        for c in [
            "before-logging-input",
            "before-input",
            "after-input",
            "after-logging-input",
            "reject-input",
            "track-input",
            "logging-deny",
            "logging-allow",
            "skip-to-policy-input",
        ] {
            base.push_str(&format!(":ufw-{c} - [0:0]\n"));
        }
        for c in [
            "before-logging-input",
            "before-input",
            "after-input",
            "after-logging-input",
            "reject-input",
            "track-input",
        ] {
            base.push_str(&format!("-A INPUT -j ufw-{c}\n"));
        }
        base.push_str(&format!(
            "-A ufw-skip-to-policy-input -j {policy}\nCOMMIT\n"
        ));
        restore(&base);
        for f in ["before.rules", "after.rules", "user.rules"] {
            restore(&std::fs::read_to_string(root.join("etc/ufw").join(f)).unwrap());
        }
        restore(&format!(
            "*filter\n-A ufw-before-input -j ufw-user-input\n-P INPUT {policy}\nCOMMIT\n"
        ));
        let dump = String::from_utf8(ns.exec("iptables-save", Vec::<&str>::new()).unwrap().stdout)
            .unwrap();
        let got_report = run_audit("iptables-save.txt", &dump);
        let got = rule_ids(&got_report);
        assert_eq!(
            got,
            want,
            "{}: ufw tree vs loaded ruleset; dump:\n{dump}",
            root.display()
        );
    }
}
