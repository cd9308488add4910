//! The I/O edge: directory walking and include resolution on disk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use pbxguard_audit::fs::{DiskResolver, collect, normalize};
use pbxguard_audit::{Options, audit};

#[test]
fn absolute_includes_resolve_inside_an_audited_copy_first() {
    let dir = std::env::temp_dir().join(format!("pbxguard-audit-disk-{}", std::process::id()));
    let ast = dir.join("backup/etc/asterisk");
    std::fs::create_dir_all(&ast).unwrap();
    std::fs::write(
        ast.join("sip.conf"),
        "[general]\nallowguest=no\n#include /etc/asterisk/sip_additional.conf\n",
    )
    .unwrap();
    std::fs::write(
        ast.join("sip_additional.conf"),
        "[7001]\ntype=friend\nhost=dynamic\nsecret=7001\n",
    )
    .unwrap();
    std::fs::write(ast.join(".hidden.conf"), "[x]\n").unwrap();
    let (files, errors) = collect(std::slice::from_ref(&dir));
    assert!(errors.is_empty());
    assert_eq!(files.len(), 2, "hidden files are not read");
    let report = audit(files, &mut DiskResolver::default(), &Options::default());
    let lines: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{} {}", report.where_(f), f.rule.id))
        .collect();
    let add = ast.join("sip_additional.conf").display().to_string();
    assert_eq!(
        lines,
        vec![
            format!("{add}:1 endpoint-no-acl"),
            format!("{add}:4 weak-secret")
        ]
    );
    assert!(report.unread.is_empty(), "{:?}", report.unread);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn paths_are_normalised_lexically() {
    assert_eq!(
        normalize("a/b/../c/./d.xml".as_ref()),
        std::path::PathBuf::from("a/c/d.xml")
    );
    assert_eq!(normalize("/../x".as_ref()), std::path::PathBuf::from("/x"));
    assert_eq!(normalize("../x".as_ref()), std::path::PathBuf::from("../x"));
}
