//! Attacker-controlled configuration never panics the audit: every fixture, mutated many times
//! (byte flips, truncation, duplicated spans, structural characters), is read as every format.
//! The fuzz target in `fuzz/` does the same without bounds; this is its deterministic, always-run part.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use pbxguard_audit::{Options, Severity, SourceFile, audit, output};

/// xorshift64*: a fixed sequence, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }
}

const SPECIAL: &[&[u8]] = &[
    b"[",
    b"]",
    b"(!)",
    b"=>",
    b";--",
    b"--;",
    b"#include x\n",
    b"<",
    b">",
    b"/>",
    b"<!--",
    b"\"",
    b"{",
    b"}",
    b"#!ifdef A\n",
    b"#!endif\n",
    b"\\",
    b"\n",
    b"\xff",
    b"&#x110000;",
    b"${EXTEN",
    b"FILTER(",
    b"_X.",
    b"-A INPUT ",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(8) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.truncate(rng.below(v.len() + 1)),
            2 if !v.is_empty() => {
                let a = rng.below(v.len());
                let b = (a + rng.below(64)).min(v.len());
                let span = v[a..b].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, span);
            }
            _ => {
                let s = SPECIAL[rng.below(SPECIAL.len())];
                let at = rng.below(v.len() + 1);
                v.splice(at..at, s.iter().copied());
            }
        }
    }
    v
}

#[test]
fn mutated_fixtures_never_panic_in_any_format() {
    let mut seeds = common::load(&common::fixtures());
    seeds.retain(|f| f.text.len() < 8192);
    let names = [
        "sip.conf",
        "pjsip.conf",
        "extensions.conf",
        "voicemail.conf",
        "manager.conf",
        "iax.conf",
        "x.xml",
        "kamailio.cfg",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut runs = 0;
    for seed in &seeds {
        for _ in 0..12 {
            let text =
                String::from_utf8_lossy(&mutate(&mut rng, seed.text.as_bytes())).into_owned();
            let mut files: Vec<SourceFile> = names
                .iter()
                .map(|n| SourceFile::new(*n, text.clone()))
                .collect();
            files.push(SourceFile::new("fw", format!("*filter\n{text}")));
            files.push(SourceFile::new("nft", format!("table inet t {{\n{text}")));
            files.push(SourceFile::new("json", format!("{{\"nftables\":{text}")));
            // firewalld: a zone, a service it may name, and the default-zone setting, as one tree.
            files.push(SourceFile::new(
                "fwd/zones/public.xml",
                format!("<zone>{text}"),
            ));
            files.push(SourceFile::new("fwd/zones/m.xml", text.clone()));
            files.push(SourceFile::new(
                "fwd/services/sip.xml",
                format!("<service>{text}"),
            ));
            files.push(SourceFile::new("fwd/firewalld.conf", text.clone()));
            files.push(SourceFile::new(
                "fwd/policies/p.xml",
                format!("<policy><egress-zone name=\"HOST\"/>{text}"),
            ));
            // ufw: its rules files, the default policy and ufw.conf, as one installation.
            files.push(SourceFile::new(
                "etc/ufw/user.rules",
                format!("*filter\n{text}"),
            ));
            files.push(SourceFile::new(
                "etc/ufw/before6.rules",
                format!("*filter\n{text}"),
            ));
            files.push(SourceFile::new(
                "etc/ufw/ufw.conf",
                format!("ENABLED={text}"),
            ));
            files.push(SourceFile::new(
                "etc/default/ufw",
                format!("DEFAULT_INPUT_POLICY={text}"),
            ));
            let mut n = 0;
            let mut resolver = |_: &str, t: &str| {
                n += 1;
                if n > 50 {
                    Vec::new()
                } else {
                    vec![SourceFile::new(format!("{t}#{n}"), text.clone())]
                }
            };
            let report = audit(files, &mut resolver, &Options::default());
            for f in &report.findings {
                assert!(f.loc.line >= 1, "line numbers are 1-based: {f:?}");
                assert!(f.loc.file.index() < report.files.len());
            }
            let _ = output::sarif(&report, Severity::Info);
            runs += 1;
        }
    }
    assert!(runs > 500, "only {runs} mutated inputs");
}

#[test]
fn include_bombs_are_cut_off() {
    // Each file includes two others: without a budget this is 2^16 files.
    let mut n = 0u32;
    let mut resolver = |_: &str, _: &str| {
        n += 1;
        vec![SourceFile::new(
            format!("f{n}.conf"),
            "[a]\n#include a\n#include b\n",
        )]
    };
    let report = audit(
        vec![SourceFile::new(
            "sip.conf",
            "[general]\n#include a\n#include b\n",
        )],
        &mut resolver,
        &Options::default(),
    );
    assert!(
        report.files.len() <= 2001,
        "{} files read",
        report.files.len()
    );
    assert!(
        report
            .unread
            .iter()
            .any(|u| u.reason.contains("included files"))
    );
}

#[test]
fn deep_nesting_and_jump_fanout_stay_bounded() {
    // 200,000 nested elements: kept flat past depth 256, so reading and dropping the tree is safe.
    let xml = "<a>".repeat(200_000);
    let report = audit(
        vec![SourceFile::new("x.xml", xml)],
        &mut pbxguard_audit::NoIncludes,
        &Options::default(),
    );
    assert!(
        report
            .unread
            .iter()
            .any(|u| u.reason.contains("nested deeper"))
    );
    // Eight chains, each jumping 50 times into the next: 50^8 paths without a bound.
    let mut rules = String::from("*filter\n:INPUT DROP [0:0]\n");
    for c in 0..8 {
        rules.push_str(&format!(":c{c} - [0:0]\n"));
    }
    for _ in 0..50 {
        rules.push_str("-A INPUT -j c0\n");
        for c in 0..7 {
            rules.push_str(&format!("-A c{c} -j c{}\n", c + 1));
        }
    }
    rules.push_str("-A c7 -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
    let report = audit(
        vec![SourceFile::new("rules.v4", rules)],
        &mut pbxguard_audit::NoIncludes,
        &Options::default(),
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule.id == "fw-exposed-service")
    );
}
