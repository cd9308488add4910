//! Audits a generated directory of 1,000 configuration files (100 sites × 10 files: Asterisk, FreeSWITCH,
//! Kamailio, iptables/nft rulesets, with includes) and reports medians over repeated runs.
//!
//! Peers measured in the same run: reading the files from disk alone (the floor any audit pays), the
//! audit of the in-memory files alone, and the whole command path (walk + read + audit + table output).
//! Target: the whole path under one second.
//!
//! `cargo bench -p pbxguard-audit --bench audit_dir` (set `AUDIT_BENCH_RUNS` to change the run count).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pbxguard_audit::fs::{DiskResolver, collect};
use pbxguard_audit::{Options, Severity, audit, output};

const SITES: usize = 100;

fn sip_conf(site: usize) -> String {
    let mut s = String::from(
        "; generated site\n[general]\ncontext=public\nalwaysauthreject=yes\nudpbindaddr=0.0.0.0\n#tryinclude sip_custom.conf\n\n\
         [office-phone](!)\ntype=friend\nhost=dynamic\ncontext=from-office\ndisallow=all\nallow=ulaw\n\n\
         [carrier]\ntype=peer\nhost=sip.carrier.example\ninsecure=port,invite\ncontext=from-pstn\nsecret=Rt6!pWq9zK\n\n",
    );
    for p in 0..60 {
        let ext = 2000 + p;
        let secret = if p % 7 == 0 {
            format!("{ext}")
        } else {
            format!("Kq{p}!x{site}Zm9w")
        };
        let _ = write!(
            s,
            "[{ext}](office-phone)\nsecret={secret}\ncallerid=\"Phone {ext}\" <{ext}>\n"
        );
        if p % 3 != 0 {
            s.push_str("deny=0.0.0.0/0.0.0.0\npermit=10.0.0.0/255.0.0.0\n");
        }
        s.push('\n');
    }
    s
}

fn extensions_conf() -> String {
    let mut s = String::from(
        "[general]\nstatic=yes\n\n[globals]\nTRUNK=SIP/carrier\n\n[public]\ninclude => demo\n\n[from-pstn]\nexten => _X.,1,Goto(from-office,${EXTEN},1)\n\n[from-office]\ninclude => outbound\n",
    );
    for c in 0..40 {
        let _ = write!(
            s,
            "\n[ivr-{c}]\nexten => s,1,Answer()\n same => n,Background(ivr-{c})\n same => n,WaitExten(5)\nexten => _2XX,1,Dial(SIP/${{EXTEN}},20)\n same => n,VoiceMail(${{EXTEN}}@default,u)\nexten => i,1,Playback(invalid)\n"
        );
    }
    s.push_str("\n[outbound]\nexten => _9NXXNXXXXXX,1,Dial(${TRUNK}/${EXTEN:1})\nexten => _9011.,1,Dial(${TRUNK}/${EXTEN:1})\n\n[demo]\nexten => s,1,Playback(demo-congrats)\n");
    s
}

fn voicemail_conf() -> String {
    let mut s = String::from(
        "[general]\nformat=wav49|gsm|wav\nattach=yes\n\n[zonemessages]\neastern=America/New_York|'vm-received' Q 'digits/at' IMp\n\n[default]\n",
    );
    for m in 0..80 {
        let box_ = 2000 + m;
        let pin = if m % 5 == 0 {
            "1234".to_owned()
        } else {
            format!("{}", 739_104 + m * 7)
        };
        let _ = writeln!(
            s,
            "{box_} => {pin},User {box_},u{box_}@example.com,,attach=yes"
        );
    }
    s
}

fn directory_xml(site: usize) -> String {
    let mut s = String::from(
        "<include>\n  <domain name=\"$${domain}\">\n    <groups><group name=\"default\"><users>\n",
    );
    for u in 0..40 {
        let id = 1000 + u;
        let _ = write!(
            s,
            "      <user id=\"{id}\">\n        <params>\n          <param name=\"password\" value=\"Hq{u}!v{site}Z2mWs\"/>\n          <param name=\"vm-password\" value=\"{id}\"/>\n        </params>\n        <variables>\n          <variable name=\"toll_allow\" value=\"domestic,international,local\"/>\n          <variable name=\"user_context\" value=\"default\"/>\n        </variables>\n      </user>\n"
        );
    }
    s.push_str("    </users></group></groups>\n  </domain>\n</include>\n");
    s
}

fn nft_json() -> String {
    let mut s = String::from(
        "{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.9\", \"json_schema_version\": 1}}, {\"table\": {\"family\": \"inet\", \"name\": \"filter\", \"handle\": 1}}, {\"chain\": {\"family\": \"inet\", \"table\": \"filter\", \"name\": \"input\", \"handle\": 1, \"type\": \"filter\", \"hook\": \"input\", \"prio\": 0, \"policy\": \"drop\"}}",
    );
    for port in [22u16, 80, 443, 5060, 5061, 8021] {
        let _ = write!(
            s,
            ", {{\"rule\": {{\"family\": \"inet\", \"table\": \"filter\", \"chain\": \"input\", \"handle\": {port}, \"expr\": [{{\"match\": {{\"op\": \"==\", \"left\": {{\"payload\": {{\"protocol\": \"tcp\", \"field\": \"dport\"}}}}, \"right\": {port}}}}}, {{\"accept\": null}}]}}}}"
        );
    }
    s.push_str("]}\n");
    s
}

fn write_tree(root: &Path) -> usize {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/samples");
    let read = |p: &str| std::fs::read_to_string(fixtures.join(p)).unwrap();
    let pjsip = read("asterisk/pjsip.conf");
    let iax = read("asterisk/iax.conf");
    let manager = read("asterisk/manager.conf");
    let kamailio = read("kamailio/kamailio.cfg");
    let iptables = read("firewall/rules.v4");
    let nft = read("firewall/pbxguard.nft");
    let json = nft_json();
    let ext = extensions_conf();
    let vm = voicemail_conf();
    let mut n = 0;
    for site in 0..SITES {
        let dir = root.join(format!("site{site:03}"));
        std::fs::create_dir_all(dir.join("asterisk")).unwrap();
        std::fs::create_dir_all(dir.join("freeswitch/directory")).unwrap();
        let firewall = match site % 3 {
            0 => ("rules.v4", iptables.as_str()),
            1 => ("ruleset.nft", nft.as_str()),
            _ => ("ruleset.json", json.as_str()),
        };
        let files: [(&str, String); 10] = [
            ("asterisk/sip.conf", sip_conf(site)),
            (
                "asterisk/sip_custom.conf",
                "[2999](office-phone)\nsecret=hunter2\n".to_owned(),
            ),
            ("asterisk/pjsip.conf", pjsip.clone()),
            ("asterisk/iax.conf", iax.clone()),
            ("asterisk/extensions.conf", ext.clone()),
            ("asterisk/voicemail.conf", vm.clone()),
            ("asterisk/manager.conf", manager.clone()),
            ("freeswitch/directory/default.xml", directory_xml(site)),
            ("kamailio.cfg", kamailio.clone()),
            (firewall.0, firewall.1.to_owned()),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
            n += 1;
        }
    }
    n
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --benches` one run is a smoke test.
    let default_runs = if std::env::args().any(|a| a == "--bench") {
        11
    } else {
        1
    };
    let runs: usize = std::env::var("AUDIT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_runs);
    let root: PathBuf =
        std::env::temp_dir().join(format!("pbxguard-audit-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let files = write_tree(&root);
    let bytes: u64 = collect(std::slice::from_ref(&root))
        .0
        .iter()
        .map(|f| f.text.len() as u64)
        .sum();
    println!(
        "generated {files} files ({} KiB) under {}",
        bytes / 1024,
        root.display()
    );

    let (mut read, mut core, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    let mut findings = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let (set, errors) = collect(std::slice::from_ref(&root));
        read.push(t.elapsed());
        assert!(errors.is_empty());
        assert_eq!(set.len(), files);

        let mut resolver = DiskResolver::default();
        let t = Instant::now();
        let report = audit(set, &mut resolver, &Options::default());
        core.push(t.elapsed());
        findings = report.findings.len();

        let t = Instant::now();
        let (set, _) = collect(std::slice::from_ref(&root));
        let mut resolver = DiskResolver::default();
        let report = audit(set, &mut resolver, &Options::default());
        let text = output::table(&report, Severity::Low);
        std::hint::black_box(text);
        whole.push(t.elapsed());
    }
    let _ = std::fs::remove_dir_all(&root);
    let (r, c, w) = (median(read), median(core), median(whole));
    println!("runs: {runs}; findings per run: {findings}");
    println!(
        "read files only (walk + read):      median {:8.2} ms",
        ms(r)
    );
    println!(
        "audit core (parse + check + sort):  median {:8.2} ms  ({:.2}x the read)",
        ms(c),
        c.as_secs_f64() / r.as_secs_f64()
    );
    println!(
        "whole path (walk, read, audit, table): median {:8.2} ms  ({:.0} files/s)",
        ms(w),
        files as f64 / w.as_secs_f64()
    );
    println!(
        "target: whole path under 1000 ms: {}",
        if w < Duration::from_secs(1) {
            "met"
        } else {
            "MISSED"
        }
    );
}
