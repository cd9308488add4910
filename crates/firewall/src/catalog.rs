//! The PBX port catalog: one data file per product under `catalog/`, embedded at build time.
//!
//! Each file lists the product's services (protocol, ports, direction, who may reach them, which site
//! features need them, risk notes and the guide each fact comes from). [`Catalog::builtin`] parses and
//! cross-checks all of them; the crate's tests make sure every shipped file passes.
//!
//! A catalog file:
//!
//! ```toml
//! id = "freeswitch"                  # what a site file's pbx.product names
//! name = "FreeSWITCH"
//! aliases = ["fs"]
//! sources = ["002_898baff124e62fb2.txt"]
//!
//! [rtp]                              # absent when the product uses no fixed RTP range
//! default = "16384-32768"
//! configurable = true                # false: a site range that differs is an error
//! setting = "switch.conf.xml: rtp-start-port / rtp-end-port"
//!
//! [[feature]]                        # what a site may enable
//! name = "remote-phones"
//! description = "Phones outside the LAN register on the internal profile (5060)."
//!
//! [[service]]
//! id = "sip-internal"
//! name = "SIP internal profile"
//! protocol = "tcp+udp"               # tcp, udp or tcp+udp
//! ports = "5060"                     # a port or first-last
//! direction = "inbound"              # inbound, outbound or never
//! audience = "trusted"               # inbound only: world, trusted or admin
//! role = "sip"                       # sip, signalling, rtp, media, admin, provisioning, control, other
//! features = ["remote-phones"]       # inbound only: any one of them opens it
//! why = "..."                        # why it is opened (or, for never, why not)
//! risk = "..."                       # optional
//! source = "002_898baff124e62fb2.txt: Typical Ports, ..."
//! ```

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::net::{PortRange, Protocol};

/// The catalog files shipped with pbxguard: (file name, contents).
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("3cx.toml", include_str!("../catalog/3cx.toml")),
    ("asterisk.toml", include_str!("../catalog/asterisk.toml")),
    (
        "fonality-pbxtra.toml",
        include_str!("../catalog/fonality-pbxtra.toml"),
    ),
    (
        "freeswitch.toml",
        include_str!("../catalog/freeswitch.toml"),
    ),
    (
        "innovaphone.toml",
        include_str!("../catalog/innovaphone.toml"),
    ),
    ("kamailio.toml", include_str!("../catalog/kamailio.toml")),
    ("opensips.toml", include_str!("../catalog/opensips.toml")),
    (
        "portsip-pbx.toml",
        include_str!("../catalog/portsip-pbx.toml"),
    ),
    (
        "portsip-sbc.toml",
        include_str!("../catalog/portsip-sbc.toml"),
    ),
];

/// Which way a service's traffic is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Opened (and, behind NAT, forwarded) inbound to the PBX when a site feature needs it.
    Inbound,
    /// Connections the PBX makes itself; allowed outbound, never forwarded.
    Outbound,
    /// Must never be reachable from the internet; open on the LAN only.
    Never,
}

/// Who may reach an inbound service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// Anyone (media ranges whose peers are not known in advance).
    World,
    /// The site's trusted sources (carriers, remote offices, ISP ranges); signalling opens to everyone
    /// only when the site says "open to the world".
    Trusted,
    /// The site's admin networks only.
    Admin,
}

/// What a service is, which decides how renderers treat it (rate limits, scanner drops, DSCP) and
/// which warnings apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// SIP signalling (over UDP, TCP, TLS or WebSocket): scanners target it, the kernel SIP helper
    /// parses it.
    Sip,
    /// Other call signalling (IAX2, H.323, Verto, vendor tunnels): rate-limited and trusted-only like
    /// SIP, but not SIP on the wire.
    Signalling,
    /// The PBX's configurable RTP range.
    Rtp,
    /// Other media (fixed vendor ranges, MSRP).
    Media,
    /// Web administration or user portals.
    Admin,
    /// Phone provisioning (TFTP, FTP, HTTP).
    Provisioning,
    /// Remote control interfaces (ESL, AMI, XML-RPC, management interfaces).
    Control,
    /// Anything else.
    Other,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductFile {
    id: String,
    name: String,
    aliases: Vec<String>,
    sources: Vec<String>,
    rtp: Option<RtpFile>,
    #[serde(default)]
    feature: Vec<Feature>,
    service: Vec<ServiceFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RtpFile {
    default: String,
    configurable: bool,
    setting: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    id: String,
    name: String,
    protocol: String,
    ports: String,
    direction: Direction,
    audience: Option<Audience>,
    role: Role,
    #[serde(default)]
    features: Vec<String>,
    why: String,
    risk: Option<String>,
    source: String,
}

/// A site feature a product offers ("remote-phones", "linked-servers"…).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    /// The name a site file uses.
    pub name: String,
    /// What enabling it means.
    pub description: String,
}

impl Role {
    /// Whether the role is call signalling of any kind (SIP or other).
    pub fn is_signalling(self) -> bool {
        matches!(self, Self::Sip | Self::Signalling)
    }
}

/// A product's RTP port range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RtpSpec {
    /// The range the product uses out of the box.
    pub default: PortRange,
    /// Whether the operator can change it (if not, a site range that differs is an error).
    pub configurable: bool,
    /// Where the range is set, for advice text.
    pub setting: Option<String>,
}

/// One service of a product: a protocol set on a port range, with the rules for opening it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// Identifier, unique within the product.
    pub id: String,
    /// Human name.
    pub name: String,
    /// TCP, UDP or both.
    pub protocols: Vec<Protocol>,
    /// The port or range.
    pub ports: PortRange,
    /// Inbound, outbound or never exposed.
    pub direction: Direction,
    /// Who may reach it when inbound.
    pub audience: Audience,
    /// What kind of service it is.
    pub role: Role,
    /// Site features of which any one makes the service needed (empty for outbound/never).
    pub features: Vec<String>,
    /// Why it is opened (or, for `never`, why it stays closed).
    pub why: String,
    /// What can go wrong when it is reachable.
    pub risk: Option<String>,
    /// The guide (seed file and passage, or vendor document) the fact comes from.
    pub source: String,
}

/// One PBX product from the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    /// Identifier used in site files.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Other names a site file may use.
    pub aliases: Vec<String>,
    /// The guides this entry is built from.
    pub sources: Vec<String>,
    /// The RTP range, when the product uses a fixed one.
    pub rtp: Option<RtpSpec>,
    /// The features a site may enable.
    pub features: Vec<Feature>,
    /// The services, in file order.
    pub services: Vec<Service>,
}

impl Product {
    /// The feature named `name`, if the product offers it.
    pub fn feature(&self, name: &str) -> Option<&Feature> {
        self.features.iter().find(|f| f.name == name)
    }

    /// The service with identifier `id`.
    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }
}

/// A catalog file that does not parse or contradicts itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CatalogError {
    /// The file is not valid TOML or does not match the catalog schema.
    FileInvalid {
        /// Catalog file name.
        file: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A field holds a value outside its vocabulary (a port range, a protocol).
    ValueInvalid {
        /// Catalog file name.
        file: String,
        /// Service id (or `rtp`).
        service: String,
        /// What is wrong.
        message: String,
    },
    /// Two products, aliases, features or services share a name.
    NameDuplicated {
        /// Catalog file name.
        file: String,
        /// The name used twice.
        name: String,
    },
    /// A service refers to a feature the product does not declare.
    FeatureUndeclared {
        /// Catalog file name.
        file: String,
        /// Service id.
        service: String,
        /// The undeclared feature.
        feature: String,
    },
    /// The entry breaks a structural rule (an inbound service without audience or features, a
    /// service without source, an RTP service without an `[rtp]` section…).
    RuleBroken {
        /// Catalog file name.
        file: String,
        /// Service id (or the product id).
        service: String,
        /// The rule.
        rule: &'static str,
    },
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FileInvalid { file, message } => write!(f, "catalog/{file}: {message}"),
            Self::ValueInvalid {
                file,
                service,
                message,
            } => write!(f, "catalog/{file}: service {service}: {message}"),
            Self::NameDuplicated { file, name } => {
                write!(f, "catalog/{file}: name `{name}` is used twice")
            }
            Self::FeatureUndeclared {
                file,
                service,
                feature,
            } => write!(
                f,
                "catalog/{file}: service {service} needs feature `{feature}`, which the product does not declare"
            ),
            Self::RuleBroken {
                file,
                service,
                rule,
            } => write!(f, "catalog/{file}: {service}: {rule}"),
        }
    }
}

impl std::error::Error for CatalogError {}

/// All products.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    products: Vec<Product>,
}

fn parse_protocols(s: &str) -> Option<Vec<Protocol>> {
    match s {
        "tcp" => Some(vec![Protocol::Tcp]),
        "udp" => Some(vec![Protocol::Udp]),
        "tcp+udp" => Some(vec![Protocol::Tcp, Protocol::Udp]),
        _ => None,
    }
}

fn convert(file: &str, text: &str) -> Result<Product, CatalogError> {
    let raw: ProductFile = toml::from_str(text).map_err(|e| CatalogError::FileInvalid {
        file: file.to_owned(),
        message: e.to_string(),
    })?;
    let err_rule = |service: &str, rule| CatalogError::RuleBroken {
        file: file.to_owned(),
        service: service.to_owned(),
        rule,
    };
    let mut names = BTreeSet::new();
    for f in &raw.feature {
        if !names.insert(f.name.clone()) {
            return Err(CatalogError::NameDuplicated {
                file: file.to_owned(),
                name: f.name.clone(),
            });
        }
    }
    if raw.sources.is_empty() {
        return Err(err_rule(&raw.id, "a product needs at least one source"));
    }
    let rtp = match raw.rtp {
        Some(r) => Some(RtpSpec {
            default: r.default.parse().map_err(|e: crate::net::PortRangeError| {
                CatalogError::ValueInvalid {
                    file: file.to_owned(),
                    service: "rtp".to_owned(),
                    message: e.to_string(),
                }
            })?,
            configurable: r.configurable,
            setting: r.setting,
        }),
        None => None,
    };
    let mut ids = BTreeSet::new();
    let mut services = Vec::with_capacity(raw.service.len());
    for s in raw.service {
        if !ids.insert(s.id.clone()) {
            return Err(CatalogError::NameDuplicated {
                file: file.to_owned(),
                name: s.id,
            });
        }
        let invalid = |message: String| CatalogError::ValueInvalid {
            file: file.to_owned(),
            service: s.id.clone(),
            message,
        };
        let protocols = parse_protocols(&s.protocol).ok_or_else(|| {
            invalid(format!(
                "protocol `{}` is not tcp, udp or tcp+udp",
                s.protocol
            ))
        })?;
        let ports: PortRange = s
            .ports
            .parse()
            .map_err(|e: crate::net::PortRangeError| invalid(e.to_string()))?;
        if s.source.trim().is_empty() || s.why.trim().is_empty() {
            return Err(err_rule(&s.id, "every service needs `why` and `source`"));
        }
        for feat in &s.features {
            if !names.contains(feat) {
                return Err(CatalogError::FeatureUndeclared {
                    file: file.to_owned(),
                    service: s.id.clone(),
                    feature: feat.clone(),
                });
            }
        }
        let audience = match (s.direction, s.audience) {
            (Direction::Inbound, None) => {
                return Err(err_rule(&s.id, "an inbound service needs an `audience`"));
            }
            (Direction::Inbound, Some(_)) if s.features.is_empty() => {
                return Err(err_rule(
                    &s.id,
                    "an inbound service needs the features that justify opening it",
                ));
            }
            (Direction::Inbound, Some(a)) => a,
            (_, Some(_)) => {
                return Err(err_rule(&s.id, "only inbound services have an `audience`"));
            }
            (_, None) if !s.features.is_empty() => {
                return Err(err_rule(&s.id, "only inbound services depend on features"));
            }
            (_, None) => Audience::Admin,
        };
        if s.role == Role::Rtp {
            match &rtp {
                None => return Err(err_rule(&s.id, "an rtp service needs an [rtp] section")),
                Some(r) if r.default != ports => {
                    return Err(err_rule(
                        &s.id,
                        "the rtp service's ports differ from [rtp] default",
                    ));
                }
                Some(_) => {}
            }
        }
        services.push(Service {
            id: s.id,
            name: s.name,
            protocols,
            ports,
            direction: s.direction,
            audience,
            role: s.role,
            features: s.features,
            why: s.why,
            risk: s.risk,
            source: s.source,
        });
    }
    if rtp.is_some() && !services.iter().any(|s| s.role == Role::Rtp) {
        return Err(err_rule(
            &raw.id,
            "an [rtp] section needs a service with role rtp",
        ));
    }
    for f in &raw.feature {
        if !services.iter().any(|s| s.features.contains(&f.name)) {
            return Err(err_rule(
                &raw.id,
                "every declared feature must open some service",
            ));
        }
    }
    Ok(Product {
        id: raw.id,
        name: raw.name,
        aliases: raw.aliases,
        sources: raw.sources,
        rtp,
        features: raw.feature,
        services,
    })
}

impl Catalog {
    /// Parses and cross-checks catalog files given as (file name, contents).
    ///
    /// # Errors
    ///
    /// The first [`CatalogError`] found.
    pub fn from_files(files: &[(&str, &str)]) -> Result<Self, CatalogError> {
        let mut products: Vec<Product> = Vec::with_capacity(files.len());
        let mut names = BTreeSet::new();
        for (file, text) in files {
            let p = convert(file, text)?;
            for n in std::iter::once(&p.id).chain(&p.aliases) {
                if !names.insert(n.to_ascii_lowercase()) {
                    return Err(CatalogError::NameDuplicated {
                        file: (*file).to_owned(),
                        name: n.clone(),
                    });
                }
            }
            products.push(p);
        }
        Ok(Self { products })
    }

    /// The catalog shipped with pbxguard.
    ///
    /// # Errors
    ///
    /// A [`CatalogError`] only if a shipped file is broken, which the crate's tests rule out.
    pub fn builtin() -> Result<Self, CatalogError> {
        Self::from_files(BUILTIN_FILES)
    }

    /// All products, in file order.
    pub fn products(&self) -> &[Product] {
        &self.products
    }

    /// The product whose id or alias is `name` (case-insensitive).
    pub fn product(&self, name: &str) -> Option<&Product> {
        self.products.iter().find(|p| {
            p.id.eq_ignore_ascii_case(name)
                || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// Every id and alias, for "did you mean" suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.products.iter().flat_map(|p| {
            std::iter::once(p.id.as_str()).chain(p.aliases.iter().map(String::as_str))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_catalog_file_parses_and_cross_checks() {
        let c = Catalog::builtin().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.products().len(), BUILTIN_FILES.len());
    }

    #[test]
    fn every_seed_guide_product_and_the_extra_products_are_present() {
        let c = Catalog::builtin().unwrap();
        for id in [
            "fonality-pbxtra",
            "asterisk",
            "freeswitch",
            "innovaphone",
            "portsip-pbx",
            "portsip-sbc",
            "kamailio",
            "opensips",
            "3cx",
        ] {
            assert!(c.product(id).is_some(), "{id} missing");
        }
        assert_eq!(c.product("FreePBX").unwrap().id, "asterisk");
    }

    #[test]
    fn seed_products_cite_existing_seed_files() {
        let seeds = [
            "000_015e8008060435a0.txt",
            "001_0201392f78ee242f.txt",
            "002_898baff124e62fb2.txt",
            "003_0cd141b48ef92a1f.txt",
            "004_8088a14a8f7dbf48.txt",
        ];
        let c = Catalog::builtin().unwrap();
        for seed in seeds {
            let cited = c
                .products()
                .iter()
                .flat_map(|p| &p.services)
                .any(|s| s.source.starts_with(seed));
            assert!(cited, "no service cites {seed}");
        }
        for p in c.products() {
            for s in &p.services {
                if s.source.ends_with(".txt") || s.source.contains(".txt:") {
                    let file = s.source.split(':').next().unwrap();
                    assert!(
                        seeds.contains(&file),
                        "{}/{} cites unknown {file}",
                        p.id,
                        s.id
                    );
                }
            }
        }
    }

    #[test]
    fn guides_port_facts_are_encoded() {
        let c = Catalog::builtin().unwrap();
        let port = |p: &str, s: &str| c.product(p).unwrap().service(s).unwrap().ports.to_string();
        assert_eq!(port("freeswitch", "esl"), "8021");
        assert_eq!(port("freeswitch", "rtp"), "16384-32768");
        assert_eq!(port("fonality-pbxtra", "hudmobile-audio"), "4000-4031");
        assert_eq!(port("portsip-pbx", "rtp"), "45000-64999");
        assert_eq!(port("portsip-sbc", "rtp"), "25000-34999");
        assert_eq!(port("innovaphone", "h323-tls"), "1300");
        let esl = c.product("freeswitch").unwrap().service("esl").unwrap();
        assert_eq!(esl.direction, Direction::Never);
    }

    #[test]
    fn a_service_needing_an_undeclared_feature_is_rejected() {
        let text = r#"
id = "x"
name = "X"
aliases = []
sources = ["s"]
[[feature]]
name = "a"
description = "d"
[[service]]
id = "sip"
name = "SIP"
protocol = "udp"
ports = "5060"
direction = "inbound"
audience = "trusted"
role = "sip"
features = ["a", "b"]
why = "w"
source = "s"
"#;
        assert!(matches!(
            Catalog::from_files(&[("x.toml", text)]),
            Err(CatalogError::FeatureUndeclared { feature, .. }) if feature == "b"
        ));
        let bad_port = text.replace("\"5060\"", "\"70000\"");
        assert!(matches!(
            Catalog::from_files(&[("x.toml", &bad_port)]),
            Err(CatalogError::ValueInvalid { .. })
        ));
    }
}
