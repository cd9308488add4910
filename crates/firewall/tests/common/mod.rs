//! Shared helpers: the per-product example sites under `tests/sites/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::PathBuf;

use pbxguard_firewall::{Catalog, Plan, Site};

pub fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
}

/// (product id, plan) for every product in the catalog, from `tests/sites/<id>.toml`.
pub fn plans() -> Vec<(String, Plan)> {
    let catalog = Catalog::builtin().unwrap();
    catalog
        .products()
        .iter()
        .map(|p| {
            let path = dir("sites").join(format!("{}.toml", p.id));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("every product needs {}: {e}", path.display()));
            let site =
                Site::parse(&text, &catalog).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (p.id.clone(), Plan::build(&site, &catalog).unwrap())
        })
        .collect()
}
