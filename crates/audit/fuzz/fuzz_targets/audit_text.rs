//! Any text, read as every format the audit knows (and included from itself), must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxguard_audit::{Options, Severity, SourceFile, audit, output};

const NAMES: &[&str] = &[
    "sip.conf",
    "pjsip.conf",
    "iax.conf",
    "extensions.conf",
    "voicemail.conf",
    "manager.conf",
    "conf/autoload_configs/x.xml",
    "kamailio.cfg",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut files: Vec<SourceFile> = NAMES.iter().map(|n| SourceFile::new(*n, text.clone())).collect();
    // Firewall formats are recognised by content.
    files.push(SourceFile::new("rules.v4", format!("*filter\n{text}")));
    files.push(SourceFile::new("ruleset.nft", format!("table inet f {{\n{text}")));
    files.push(SourceFile::new("ruleset.json", format!("{{\"nftables\": {text}")));
    // firewalld is read per directory: a zone, a service definition and firewalld.conf together.
    files.push(SourceFile::new("firewalld/zones/public.xml", format!("<zone>{text}")));
    files.push(SourceFile::new("firewalld/services/sip.xml", format!("<service>{text}")));
    files.push(SourceFile::new("firewalld/firewalld.conf", text.clone()));
    files.push(SourceFile::new("firewalld/policies/p.xml", format!("<policy><egress-zone name=\"HOST\"/>{text}")));
    // ufw is read per installation: rules files, /etc/default/ufw and ufw.conf together.
    files.push(SourceFile::new("etc/ufw/user.rules", format!("*filter\n{text}")));
    files.push(SourceFile::new("etc/ufw/ufw.conf", format!("ENABLED={text}")));
    files.push(SourceFile::new("etc/default/ufw", format!("DEFAULT_INPUT_POLICY={text}")));
    let mut n = 0u32;
    // Every include resolves to the same text under a new name: exercises depth limits.
    let mut resolver = |_: &str, target: &str| {
        n += 1;
        vec![SourceFile::new(format!("{target}.{n}"), text.clone())]
    };
    let report = audit(files, &mut resolver, &Options::default());
    let _ = output::table(&report, Severity::Info);
    let _ = output::json(&report, Severity::Info);
    let _ = output::sarif(&report, Severity::Info);
});
