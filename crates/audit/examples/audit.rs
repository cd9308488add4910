//! Audits the paths given on the command line and prints the table (or `--json` / `--sarif`).
//!
//! `cargo run -p pbxguard-audit --example audit -- [--json|--sarif] PATH...`

use std::path::PathBuf;

use pbxguard_audit::fs::{DiskResolver, collect};
use pbxguard_audit::{Options, Severity, audit, output};

fn main() {
    let mut format = "table";
    let mut paths = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--json" => format = "json",
            "--sarif" => format = "sarif",
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let (files, errors) = collect(&paths);
    for e in &errors {
        eprintln!("cannot read {e}");
    }
    let mut resolver = DiskResolver::default();
    let report = audit(files, &mut resolver, &Options::default());
    let text = match format {
        "json" => output::json(&report, Severity::Info),
        "sarif" => output::sarif(&report, Severity::Info),
        _ => output::table(&report, Severity::Info),
    };
    print!("{text}");
}
