//! Golden files: every product's example site rendered in every format. `UPDATE_GOLDEN=1 cargo test`
//! rewrites them; review the diff before committing.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use pbxguard_firewall::{Format, render};

fn extension(f: Format) -> &'static str {
    match f {
        Format::Nft => "nft",
        Format::Iptables => "iptables",
        Format::Ip6tables => "ip6tables",
        Format::Firewalld => "firewalld.xml",
        Format::Ufw => "ufw.sh",
        Format::Aws => "aws.json",
        Format::Forwards => "forwards.txt",
        Format::ForwardsMd => "forwards.md",
        Format::Conntrack => "conntrack.txt",
        Format::Explain => "explain.txt",
        _ => "out",
    }
}

fn check(name: &str, actual: &str, mismatches: &mut Vec<String>) {
    let path = common::dir("golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    match std::fs::read_to_string(&path) {
        Ok(expected) if expected == actual => {}
        Ok(_) => mismatches.push(format!("{name} differs (UPDATE_GOLDEN=1 to accept)")),
        Err(_) => mismatches.push(format!("{name} missing (UPDATE_GOLDEN=1 to create)")),
    }
}

#[test]
fn every_product_in_every_format_matches_its_golden_file() {
    let mut mismatches = Vec::new();
    for (id, plan) in common::plans() {
        for (_, format) in Format::ALL {
            check(
                &format!("{id}.{}", extension(*format)),
                &render(&plan, *format),
                &mut mismatches,
            );
        }
        let json = serde_json::to_string_pretty(&plan).unwrap() + "\n";
        check(&format!("{id}.plan.json"), &json, &mut mismatches);
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
