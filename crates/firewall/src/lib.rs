//! pbxguard's firewall planner: the PBX port catalog, the site description, the plan, and renderers.
//!
//! No I/O: a site description comes in as text, rulesets and explanations go out as text.
//!
//! ```
//! use pbxguard_firewall::{Catalog, Format, Plan, Site, render};
//!
//! let catalog = Catalog::builtin().unwrap();
//! let site = Site::parse(pbxguard_firewall::EXAMPLE_SITE, &catalog).unwrap();
//! let plan = Plan::build(&site, &catalog).unwrap();
//! let nft = render(&plan, Format::Nft);
//! assert!(nft.contains("policy drop"));
//! ```

pub mod catalog;
pub mod exposure;
pub mod net;
pub mod plan;
pub mod render;
pub mod site;

pub use catalog::{Catalog, CatalogError, Product};
pub use exposure::{ExposedPorts, Exposure, exposure};
pub use plan::{Access, Plan, PlanError, PortRule, Warning, WarningCode};
pub use render::{Format, render};
pub use site::{Site, SiteError, SiteErrors};

/// A complete example site description (FreeSWITCH behind a NAT router, one carrier, one remote office,
/// an ISP range for dynamic users, SSH from one admin network), used when no site file is given.
pub const EXAMPLE_SITE: &str = include_str!("../examples/site.toml");
