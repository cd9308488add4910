//! Any text as a site description: parsing never panics, and whatever parses plans and renders in
//! every format without panicking.
//!
//! Seed the corpus with the example sites: `mkdir -p corpus/site_parse && cp ../tests/sites/*.toml
//! corpus/site_parse/`, then `RUSTC_BOOTSTRAP=1 cargo fuzz run site_parse -- -max_total_time=60`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxguard_firewall::{Catalog, Format, Plan, Site, render};

static CATALOG: std::sync::OnceLock<Option<Catalog>> = std::sync::OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(catalog) = CATALOG.get_or_init(|| Catalog::builtin().ok()) else {
        return;
    };
    if let Ok(site) = Site::parse(text, catalog) {
        if let Ok(plan) = Plan::build(&site, catalog) {
            for (_, format) in Format::ALL {
                let _ = render(&plan, *format);
            }
        }
    }
});
