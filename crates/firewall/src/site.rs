//! The site description: which PBX, which features, which sources are trusted, how it is deployed.
//!
//! Parsed in two steps. First syntax: the TOML is read with byte spans ([`toml::de::DeTable`]), and every
//! syntax error is reported. Then meaning: every key is checked against the schema and the catalog, and
//! every mistake (unknown key, unknown product or feature with a "did you mean", a port outside 1-65535,
//! overlapping ranges, a trusted range covering the whole internet…) is collected with its line and key,
//! so one run shows them all.
//!
//! ```toml
//! [pbx]
//! product = "freeswitch"
//! version = "1.10.11"
//! features = ["remote-phones", "sip-trunks"]
//! lan_address = "192.168.1.10/24"
//! rtp_range = "16384-32768"
//!
//! [deployment]
//! kind = "on-prem-nat"          # or "cloud"
//!
//! [sip]
//! open_to_world = false
//!
//! [[trusted]]
//! name = "carrier signalling"
//! address = "203.0.113.0/28"
//! kind = "carrier"
//!
//! [admin]
//! ssh_port = 6245
//! networks = ["198.51.100.7/32"]
//! ```

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;

use serde::Serialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::catalog::{Catalog, Direction, Product, Role};
use crate::net::{Cidr, PortRange, Protocol};

/// Where the PBX runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deployment {
    /// On the premises, behind a NAT router that needs port forwards.
    OnPremNat,
    /// In a cloud VPC with a public address and a security group.
    Cloud,
}

/// What a trusted source is, for the explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustedKind {
    /// A carrier's signalling servers.
    Carrier,
    /// A remote office with a fixed address.
    RemoteOffice,
    /// An ISP's address range used by dynamic-IP users.
    IspRange,
    /// A VPN endpoint.
    Vpn,
    /// Anything else.
    Other,
}

const TRUSTED_KINDS: &[(&str, TrustedKind)] = &[
    ("carrier", TrustedKind::Carrier),
    ("remote-office", TrustedKind::RemoteOffice),
    ("isp-range", TrustedKind::IspRange),
    ("vpn", TrustedKind::Vpn),
    ("other", TrustedKind::Other),
];

/// One trusted source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustedSource {
    /// A label for rule comments.
    pub name: String,
    /// The address range.
    pub address: Cidr,
    /// What it is.
    pub kind: TrustedKind,
}

/// A validated site description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    /// Catalog product id.
    pub product: String,
    /// The PBX version, as the operator wrote it.
    pub version: Option<String>,
    /// Enabled features, validated against the product.
    pub features: Vec<String>,
    /// Services the operator insists on exposing although the plan would keep them closed.
    pub expose: Vec<String>,
    /// The PBX's address on the LAN.
    pub lan_address: IpAddr,
    /// The LAN (or VPC subnet) around it.
    pub lan_network: Cidr,
    /// The RTP range actually configured on the PBX (the product default when not given).
    pub rtp_range: Option<PortRange>,
    /// Whether `rtp_range` was written in the site file.
    pub rtp_range_given: bool,
    /// Where the PBX runs.
    pub deployment: Deployment,
    /// Whether the PBX sits in a router's DMZ (exposed host).
    pub dmz: bool,
    /// Whether SIP is open to every source (not only the trusted ones).
    pub sip_open_to_world: bool,
    /// Per-source packet rate above which signalling is dropped in the kernel (packets per second).
    pub sip_rate_limit: u32,
    /// Trusted sources.
    pub trusted: Vec<TrustedSource>,
    /// The SSH port.
    pub ssh_port: u16,
    /// Networks allowed to reach SSH and admin services.
    pub admin_networks: Vec<Cidr>,
    /// Whether SSH is open to every source.
    pub ssh_open_to_world: bool,
}

/// A mistake in a site file, with the line (1-based) and the dotted key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SiteError {
    /// The file is not valid TOML.
    SyntaxInvalid {
        /// Line of the error.
        line: usize,
        /// Column of the error (1-based).
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A key the schema does not know.
    KeyUnknown {
        /// Line.
        line: usize,
        /// Dotted key.
        key: String,
        /// The closest known key.
        suggestion: Option<String>,
    },
    /// A required key is absent.
    KeyMissing {
        /// Line of the table it belongs in (1 when the table is missing too).
        line: usize,
        /// Dotted key.
        key: String,
    },
    /// A value has the wrong TOML type.
    TypeWrong {
        /// Line.
        line: usize,
        /// Dotted key.
        key: String,
        /// The type the schema wants.
        expected: &'static str,
    },
    /// The product is not in the catalog.
    ProductUnknown {
        /// Line.
        line: usize,
        /// Dotted key.
        key: String,
        /// What was written.
        name: String,
        /// The closest catalog name.
        suggestion: Option<String>,
    },
    /// The product does not offer this feature.
    FeatureUnknown {
        /// Line.
        line: usize,
        /// Dotted key.
        key: String,
        /// What was written.
        feature: String,
        /// The product.
        product: String,
        /// The closest feature of the product.
        suggestion: Option<String>,
    },
    /// `expose` names a service the product does not have, or one that is outbound only.
    ServiceUnknown {
        /// Line.
        line: usize,
        /// Dotted key.
        key: String,
        /// What was written.
        service: String,
        /// The closest inbound-capable service id.
        suggestion: Option<String>,
    },
    /// A value is not one of the allowed words.
    ValueUnknown {
        /// Line.
        line: usize,
        /// Dotted key.
        key: String,
        /// What was written.
        value: String,
        /// The allowed words.
        allowed: &'static str,
    },
    /// A port is outside 1-65535, or a range is malformed.
    PortOutOfRange {
        /// Line.
        line: usize,
        /// Dotted key.
        key: String,
        /// The parser's explanation.
        detail: String,
    },
    /// An address or prefix does not parse.
    AddressInvalid {
        /// Line.
        line: usize,
        /// Dotted key.
        key: String,
        /// What was written.
        value: String,
    },
    /// A trusted or admin range is `0.0.0.0/0` or `::/0`.
    TrustedCoversInternet {
        /// Line.
        line: usize,
        /// Dotted key.
        key: String,
        /// The switch that says this on purpose.
        instead: &'static str,
    },
    /// Two ranges that must be disjoint share addresses or ports.
    RangesOverlap {
        /// Line.
        line: usize,
        /// Dotted key.
        key: String,
        /// What it collides with.
        other: String,
    },
    /// A value is repeated in a list.
    EntryDuplicated {
        /// Line.
        line: usize,
        /// Dotted key.
        key: String,
        /// The repeated value.
        value: String,
    },
    /// The RTP range cannot be what the site says for this product.
    RtpRangeNotTheProducts {
        /// Line.
        line: usize,
        /// Dotted key.
        key: String,
        /// Why.
        detail: String,
    },
    /// A number is outside its allowed bounds.
    NumberOutOfRange {
        /// Line.
        line: usize,
        /// Dotted key.
        key: String,
        /// The bounds.
        bounds: &'static str,
    },
}

impl SiteError {
    /// The 1-based line the mistake is on.
    pub fn line(&self) -> usize {
        match self {
            Self::SyntaxInvalid { line, .. }
            | Self::KeyUnknown { line, .. }
            | Self::KeyMissing { line, .. }
            | Self::TypeWrong { line, .. }
            | Self::ProductUnknown { line, .. }
            | Self::FeatureUnknown { line, .. }
            | Self::ServiceUnknown { line, .. }
            | Self::ValueUnknown { line, .. }
            | Self::PortOutOfRange { line, .. }
            | Self::AddressInvalid { line, .. }
            | Self::TrustedCoversInternet { line, .. }
            | Self::RangesOverlap { line, .. }
            | Self::EntryDuplicated { line, .. }
            | Self::RtpRangeNotTheProducts { line, .. }
            | Self::NumberOutOfRange { line, .. } => *line,
        }
    }
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

/// The mistake without its location, so callers can prefix `file:line:` in their own style.
struct Message<'a>(&'a SiteError);

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SiteError::SyntaxInvalid { message, .. } => write!(f, "{message}"),
            SiteError::KeyUnknown {
                key, suggestion, ..
            } => write!(f, "unknown key `{key}`{}", did_you_mean(suggestion)),
            SiteError::KeyMissing { key, .. } => write!(f, "`{key}` is required"),
            SiteError::TypeWrong { key, expected, .. } => write!(f, "`{key}` must be {expected}"),
            SiteError::ProductUnknown {
                key,
                name,
                suggestion,
                ..
            } => write!(
                f,
                "`{key}`: unknown product `{name}`{}",
                did_you_mean(suggestion)
            ),
            SiteError::FeatureUnknown {
                key,
                feature,
                product,
                suggestion,
                ..
            } => write!(
                f,
                "`{key}`: {product} has no feature `{feature}`{}",
                did_you_mean(suggestion)
            ),
            SiteError::ServiceUnknown {
                key,
                service,
                suggestion,
                ..
            } => write!(
                f,
                "`{key}`: no inbound-capable service `{service}`{}",
                did_you_mean(suggestion)
            ),
            SiteError::ValueUnknown {
                key,
                value,
                allowed,
                ..
            } => write!(f, "`{key}`: `{value}` is not one of {allowed}"),
            SiteError::PortOutOfRange { key, detail, .. } => {
                write!(f, "`{key}`: {detail}")
            }
            SiteError::AddressInvalid { key, value, .. } => write!(
                f,
                "`{key}`: `{value}` is not an address or prefix (e.g. 203.0.113.0/24)"
            ),
            SiteError::TrustedCoversInternet { key, instead, .. } => write!(
                f,
                "`{key}` covers the whole internet; trusting everyone is not a trusted \
                 range (if you mean it, set `{instead}` instead)"
            ),
            SiteError::RangesOverlap { key, other, .. } => {
                write!(f, "`{key}` overlaps {other}")
            }
            SiteError::EntryDuplicated { key, value, .. } => {
                write!(f, "`{key}`: `{value}` is listed twice")
            }
            SiteError::RtpRangeNotTheProducts { key, detail, .. } => {
                write!(f, "`{key}`: {detail}")
            }
            SiteError::NumberOutOfRange { key, bounds, .. } => {
                write!(f, "`{key}` must be {bounds}")
            }
        }
    }
}

impl SiteError {
    /// The column (1-based), for syntax errors.
    pub fn column(&self) -> Option<usize> {
        match self {
            Self::SyntaxInvalid { column, .. } => Some(*column),
            _ => None,
        }
    }

    /// The mistake without its location.
    pub fn message(&self) -> String {
        Message(self).to_string()
    }
}

impl fmt::Display for SiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column() {
            Some(c) => write!(f, "line {}, column {c}: {}", self.line(), Message(self)),
            None => write!(f, "line {}: {}", self.line(), Message(self)),
        }
    }
}

impl std::error::Error for SiteError {}

/// Every mistake found in a site file, in line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteErrors(pub Vec<SiteError>);

impl fmt::Display for SiteErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} mistake{} in the site description:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SiteErrors {}

/// Line and column (both 1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Edit distance with adjacent transpositions (optimal string alignment), for suggestions: "els" is
/// one edit from "esl".
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    let at = |i: usize, j: usize| i * w + j;
    for i in 0..=a.len() {
        if let Some(c) = d.get_mut(at(i, 0)) {
            *c = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(c) = d.get_mut(at(0, j)) {
            *c = j;
        }
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let (ca, cb) = (a.get(i - 1), b.get(j - 1));
            let cost = usize::from(ca != cb);
            let get = |i, j| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
            let mut v = (get(i - 1, j) + 1)
                .min(get(i, j - 1) + 1)
                .min(get(i - 1, j - 1) + cost);
            if i > 1 && j > 1 && ca == b.get(j - 2) && a.get(i - 2) == cb {
                v = v.min(get(i - 2, j - 2) + 1);
            }
            if let Some(c) = d.get_mut(at(i, j)) {
                *c = v;
            }
        }
    }
    d.last().copied().unwrap_or(0)
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let w = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let lc = c.to_ascii_lowercase();
            let d = if lc.contains(&w) || w.contains(&lc) {
                1
            } else {
                distance(&w, &lc)
            };
            (d, c)
        })
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_owned())
}

const DEFAULT_SIP_RATE_LIMIT: u32 = 100;

struct Ctx<'t> {
    text: &'t str,
    errors: Vec<SiteError>,
}

impl Ctx<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        line_col(self.text, span.start).0
    }

    /// Reports keys of `table` that are not in `known`.
    fn check_keys(&mut self, table: &DeTable<'_>, prefix: &str, known: &[&str]) {
        for (k, _) in table.iter() {
            let name: &str = k.get_ref();
            if !known.contains(&name) {
                let line = self.line(&k.span());
                self.errors.push(SiteError::KeyUnknown {
                    line,
                    key: join(prefix, name),
                    suggestion: suggest(name, known.iter().copied()),
                });
            }
        }
    }

    fn str_of<'v>(&mut self, v: &'v Spanned<DeValue<'_>>, key: &str) -> Option<&'v str> {
        let s = v.get_ref().as_str();
        if s.is_none() {
            let line = self.line(&v.span());
            self.errors.push(SiteError::TypeWrong {
                line,
                key: key.to_owned(),
                expected: "a string",
            });
        }
        s
    }

    fn bool_of(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<bool> {
        let b = v.get_ref().as_bool();
        if b.is_none() {
            let line = self.line(&v.span());
            self.errors.push(SiteError::TypeWrong {
                line,
                key: key.to_owned(),
                expected: "true or false",
            });
        }
        b
    }

    fn int_of(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<i64> {
        let n = v.get_ref().as_integer().and_then(|i| {
            let digits: String = i.as_str().chars().filter(|c| *c != '_').collect();
            let digits = digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0o"))
                .or_else(|| digits.strip_prefix("0b"))
                .unwrap_or(&digits)
                .to_owned();
            i64::from_str_radix(&digits, i.radix()).ok()
        });
        if n.is_none() {
            let line = self.line(&v.span());
            self.errors.push(SiteError::TypeWrong {
                line,
                key: key.to_owned(),
                expected: "an integer",
            });
        }
        n
    }

    /// A list of strings, each with its span.
    fn str_list<'v>(
        &mut self,
        v: &'v Spanned<DeValue<'_>>,
        key: &str,
    ) -> Vec<(&'v str, Range<usize>)> {
        let Some(arr) = v.get_ref().as_array() else {
            let line = self.line(&v.span());
            self.errors.push(SiteError::TypeWrong {
                line,
                key: key.to_owned(),
                expected: "a list of strings",
            });
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in arr.iter() {
            if let Some(s) = self.str_of(item, key) {
                out.push((s, item.span()));
            }
        }
        out
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn get<'a, 'i>(t: &'a DeTable<'i>, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
    t.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
}

fn table_of<'a, 'i>(
    ctx: &mut Ctx<'_>,
    root: &'a DeTable<'i>,
    key: &str,
) -> Option<(&'a DeTable<'i>, usize)> {
    let v = get(root, key)?;
    let line = ctx.line(&v.span());
    match v.get_ref().as_table() {
        Some(t) => Some((t, line)),
        None => {
            ctx.errors.push(SiteError::TypeWrong {
                line,
                key: key.to_owned(),
                expected: "a table",
            });
            None
        }
    }
}

impl Site {
    /// Parses and validates a site description against `catalog`.
    ///
    /// # Errors
    ///
    /// [`SiteErrors`] with every mistake found, each with its line and key.
    pub fn parse(text: &str, catalog: &Catalog) -> Result<Self, SiteErrors> {
        // Step 1: syntax.
        let (doc, syntax) = DeTable::parse_recoverable(text);
        if !syntax.is_empty() {
            let errors = syntax
                .iter()
                .map(|e| {
                    let (line, column) = line_col(text, e.span().map_or(0, |s| s.start));
                    SiteError::SyntaxInvalid {
                        line,
                        column,
                        message: e.message().trim().to_owned(),
                    }
                })
                .collect();
            return Err(SiteErrors(errors));
        }
        // Step 2: meaning.
        let mut ctx = Ctx {
            text,
            errors: Vec::new(),
        };
        let site = validate(&mut ctx, doc.get_ref(), catalog);
        ctx.errors.sort_by_key(SiteError::line);
        match site {
            Some(site) if ctx.errors.is_empty() => Ok(site),
            _ => Err(SiteErrors(ctx.errors)),
        }
    }
}

#[allow(clippy::too_many_lines)] // one pass over the schema reads best top to bottom
fn validate(ctx: &mut Ctx<'_>, root: &DeTable<'_>, catalog: &Catalog) -> Option<Site> {
    ctx.check_keys(root, "", &["pbx", "deployment", "sip", "trusted", "admin"]);

    // [pbx]
    let pbx = table_of(ctx, root, "pbx");
    if pbx.is_none() && get(root, "pbx").is_none() {
        ctx.errors.push(SiteError::KeyMissing {
            line: 1,
            key: "pbx".into(),
        });
    }
    let empty = DeTable::new();
    let (pbx, pbx_line) = pbx.unwrap_or((&empty, 1));
    ctx.check_keys(
        pbx,
        "pbx",
        &[
            "product",
            "version",
            "features",
            "lan_address",
            "rtp_range",
            "expose",
        ],
    );
    let product: Option<&Product> = match get(pbx, "product") {
        None => {
            ctx.errors.push(SiteError::KeyMissing {
                line: pbx_line,
                key: "pbx.product".into(),
            });
            None
        }
        Some(v) => ctx.str_of(v, "pbx.product").and_then(|name| {
            let p = catalog.product(name);
            if p.is_none() {
                let line = ctx.line(&v.span());
                ctx.errors.push(SiteError::ProductUnknown {
                    line,
                    key: "pbx.product".into(),
                    name: name.to_owned(),
                    suggestion: suggest(name, catalog.names()),
                });
            }
            p
        }),
    };
    let version = get(pbx, "version").and_then(|v| ctx.str_of(v, "pbx.version").map(str::to_owned));

    let mut features: Vec<String> = Vec::new();
    if let Some(v) = get(pbx, "features") {
        for (name, span) in ctx.str_list(v, "pbx.features") {
            let line = ctx.line(&span);
            if features.iter().any(|f| f == name) {
                ctx.errors.push(SiteError::EntryDuplicated {
                    line,
                    key: "pbx.features".into(),
                    value: name.to_owned(),
                });
                continue;
            }
            if let Some(p) = product
                && p.feature(name).is_none()
            {
                ctx.errors.push(SiteError::FeatureUnknown {
                    line,
                    key: "pbx.features".into(),
                    feature: name.to_owned(),
                    product: p.id.clone(),
                    suggestion: suggest(name, p.features.iter().map(|f| f.name.as_str())),
                });
                continue;
            }
            features.push(name.to_owned());
        }
    }

    let mut expose: Vec<String> = Vec::new();
    if let Some(v) = get(pbx, "expose") {
        for (name, span) in ctx.str_list(v, "pbx.expose") {
            let line = ctx.line(&span);
            if let Some(p) = product {
                let ok = p
                    .service(name)
                    .is_some_and(|s| s.direction != Direction::Outbound);
                if !ok {
                    ctx.errors.push(SiteError::ServiceUnknown {
                        line,
                        key: "pbx.expose".into(),
                        service: name.to_owned(),
                        suggestion: suggest(
                            name,
                            p.services
                                .iter()
                                .filter(|s| s.direction != Direction::Outbound)
                                .map(|s| s.id.as_str()),
                        ),
                    });
                    continue;
                }
            }
            if expose.iter().any(|e| e == name) {
                ctx.errors.push(SiteError::EntryDuplicated {
                    line,
                    key: "pbx.expose".into(),
                    value: name.to_owned(),
                });
                continue;
            }
            expose.push(name.to_owned());
        }
    }

    let lan = match get(pbx, "lan_address") {
        None => {
            ctx.errors.push(SiteError::KeyMissing {
                line: pbx_line,
                key: "pbx.lan_address".into(),
            });
            None
        }
        Some(v) => ctx.str_of(v, "pbx.lan_address").and_then(|s| {
            let parsed = Cidr::parse_with_host(s).ok();
            if parsed.is_none() {
                let line = ctx.line(&v.span());
                ctx.errors.push(SiteError::AddressInvalid {
                    line,
                    key: "pbx.lan_address".into(),
                    value: s.to_owned(),
                });
            }
            parsed
        }),
    };

    let mut rtp_line = pbx_line;
    let mut rtp_given = false;
    let mut rtp_range = product.and_then(|p| p.rtp.as_ref().map(|r| r.default));
    if let Some(v) = get(pbx, "rtp_range") {
        rtp_line = ctx.line(&v.span());
        rtp_given = true;
        if let Some(s) = ctx.str_of(v, "pbx.rtp_range") {
            match s.parse::<PortRange>() {
                Err(e) => {
                    ctx.errors.push(SiteError::PortOutOfRange {
                        line: rtp_line,
                        key: "pbx.rtp_range".into(),
                        detail: e.to_string(),
                    });
                    rtp_range = None;
                }
                Ok(r) => match product.map(|p| (p, &p.rtp)) {
                    Some((p, None)) => {
                        ctx.errors.push(SiteError::RtpRangeNotTheProducts {
                            line: rtp_line,
                            key: "pbx.rtp_range".into(),
                            detail: format!(
                                "{} uses no fixed RTP range (media paths are found with STUN/ICE); remove the key",
                                p.name
                            ),
                        });
                        rtp_range = None;
                    }
                    Some((p, Some(spec))) if !spec.configurable && spec.default != r => {
                        ctx.errors.push(SiteError::RtpRangeNotTheProducts {
                            line: rtp_line,
                            key: "pbx.rtp_range".into(),
                            detail: format!(
                                "{} always uses RTP {}; {r} cannot be configured on it",
                                p.name, spec.default
                            ),
                        });
                    }
                    _ => {
                        if r.len() < 2 {
                            ctx.errors.push(SiteError::RtpRangeNotTheProducts {
                                line: rtp_line,
                                key: "pbx.rtp_range".into(),
                                detail: "an RTP range needs at least two ports (RTP and RTCP)"
                                    .into(),
                            });
                        }
                        rtp_range = Some(r);
                    }
                },
            }
        }
    }

    // [deployment]
    let mut deployment = Deployment::OnPremNat;
    let mut dmz = false;
    if let Some((t, _)) = table_of(ctx, root, "deployment") {
        ctx.check_keys(t, "deployment", &["kind", "dmz"]);
        if let Some(v) = get(t, "kind")
            && let Some(s) = ctx.str_of(v, "deployment.kind")
        {
            match s {
                "on-prem-nat" => deployment = Deployment::OnPremNat,
                "cloud" => deployment = Deployment::Cloud,
                other => {
                    let line = ctx.line(&v.span());
                    ctx.errors.push(SiteError::ValueUnknown {
                        line,
                        key: "deployment.kind".into(),
                        value: other.to_owned(),
                        allowed: "on-prem-nat, cloud",
                    });
                }
            }
        }
        if let Some(v) = get(t, "dmz") {
            dmz = ctx.bool_of(v, "deployment.dmz").unwrap_or(false);
        }
    }

    // [sip]
    let mut sip_open_to_world = false;
    let mut sip_rate_limit = DEFAULT_SIP_RATE_LIMIT;
    if let Some((t, _)) = table_of(ctx, root, "sip") {
        ctx.check_keys(t, "sip", &["open_to_world", "rate_limit"]);
        if let Some(v) = get(t, "open_to_world") {
            sip_open_to_world = ctx.bool_of(v, "sip.open_to_world").unwrap_or(false);
        }
        if let Some(v) = get(t, "rate_limit")
            && let Some(n) = ctx.int_of(v, "sip.rate_limit")
        {
            match u32::try_from(n) {
                Ok(n) if (1..=100_000).contains(&n) => sip_rate_limit = n,
                _ => {
                    let line = ctx.line(&v.span());
                    ctx.errors.push(SiteError::NumberOutOfRange {
                        line,
                        key: "sip.rate_limit".into(),
                        bounds: "between 1 and 100000 packets per second",
                    });
                }
            }
        }
    }

    // [[trusted]]
    let mut trusted: Vec<(TrustedSource, usize)> = Vec::new();
    if let Some(v) = get(root, "trusted") {
        match v.get_ref().as_array() {
            None => {
                let line = ctx.line(&v.span());
                ctx.errors.push(SiteError::TypeWrong {
                    line,
                    key: "trusted".into(),
                    expected: "an array of tables ([[trusted]])",
                });
            }
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let prefix = format!("trusted[{i}]");
                    let Some(t) = item.get_ref().as_table() else {
                        let line = ctx.line(&item.span());
                        ctx.errors.push(SiteError::TypeWrong {
                            line,
                            key: prefix,
                            expected: "a table with name, address and kind",
                        });
                        continue;
                    };
                    let item_line = ctx.line(&item.span());
                    ctx.check_keys(t, &prefix, &["name", "address", "kind"]);
                    let name = get(t, "name")
                        .and_then(|v| ctx.str_of(v, &join(&prefix, "name")).map(str::to_owned))
                        .unwrap_or_else(|| format!("trusted source {}", i + 1));
                    let kind = match get(t, "kind") {
                        None => Some(TrustedKind::Other),
                        Some(v) => ctx.str_of(v, &join(&prefix, "kind")).and_then(|s| {
                            let k = TRUSTED_KINDS.iter().find(|(n, _)| *n == s).map(|(_, k)| *k);
                            if k.is_none() {
                                let line = ctx.line(&v.span());
                                ctx.errors.push(SiteError::ValueUnknown {
                                    line,
                                    key: join(&prefix, "kind"),
                                    value: s.to_owned(),
                                    allowed: "carrier, remote-office, isp-range, vpn, other",
                                });
                            }
                            k
                        }),
                    };
                    let key = join(&prefix, "address");
                    let Some(v) = get(t, "address") else {
                        ctx.errors.push(SiteError::KeyMissing {
                            line: item_line,
                            key,
                        });
                        continue;
                    };
                    let line = ctx.line(&v.span());
                    let Some(s) = ctx.str_of(v, &key) else {
                        continue;
                    };
                    let Ok(address) = s.parse::<Cidr>() else {
                        ctx.errors.push(SiteError::AddressInvalid {
                            line,
                            key,
                            value: s.to_owned(),
                        });
                        continue;
                    };
                    if address.is_everything() {
                        ctx.errors.push(SiteError::TrustedCoversInternet {
                            line,
                            key,
                            instead: "sip.open_to_world = true",
                        });
                        continue;
                    }
                    if let Some((other, _)) =
                        trusted.iter().find(|(o, _)| o.address.overlaps(address))
                    {
                        ctx.errors.push(SiteError::RangesOverlap {
                            line,
                            key,
                            other: format!("trusted source `{}` ({})", other.name, other.address),
                        });
                        continue;
                    }
                    if let Some(kind) = kind {
                        trusted.push((
                            TrustedSource {
                                name,
                                address,
                                kind,
                            },
                            line,
                        ));
                    }
                }
            }
        }
    }

    // [admin]
    let mut ssh_port = 22u16;
    let mut ssh_line = 1;
    let mut admin_networks: Vec<Cidr> = Vec::new();
    let mut ssh_open_to_world = false;
    if let Some((t, line)) = table_of(ctx, root, "admin") {
        ssh_line = line;
        ctx.check_keys(t, "admin", &["ssh_port", "networks", "ssh_open_to_world"]);
        if let Some(v) = get(t, "ssh_port") {
            ssh_line = ctx.line(&v.span());
            if let Some(n) = ctx.int_of(v, "admin.ssh_port") {
                match PortRange::from_i64(n) {
                    Ok(p) => ssh_port = p.first(),
                    Err(e) => ctx.errors.push(SiteError::PortOutOfRange {
                        line: ssh_line,
                        key: "admin.ssh_port".into(),
                        detail: e.to_string(),
                    }),
                }
            }
        }
        if let Some(v) = get(t, "networks") {
            for (s, span) in ctx.str_list(v, "admin.networks") {
                let line = ctx.line(&span);
                match s.parse::<Cidr>() {
                    Err(_) => ctx.errors.push(SiteError::AddressInvalid {
                        line,
                        key: "admin.networks".into(),
                        value: s.to_owned(),
                    }),
                    Ok(c) if c.is_everything() => {
                        ctx.errors.push(SiteError::TrustedCoversInternet {
                            line,
                            key: "admin.networks".into(),
                            instead: "admin.ssh_open_to_world = true",
                        });
                    }
                    Ok(c) => {
                        if let Some(o) = admin_networks.iter().find(|o| o.overlaps(c)) {
                            ctx.errors.push(SiteError::RangesOverlap {
                                line,
                                key: "admin.networks".into(),
                                other: format!("admin network {o}"),
                            });
                        } else {
                            admin_networks.push(c);
                        }
                    }
                }
            }
        }
        if let Some(v) = get(t, "ssh_open_to_world") {
            ssh_open_to_world = ctx.bool_of(v, "admin.ssh_open_to_world").unwrap_or(false);
        }
    }

    // Cross-checks: the RTP range and the SSH port must not collide with a port the plan opens.
    if let Some(p) = product {
        let enabled = |s: &&crate::catalog::Service| {
            s.direction != Direction::Outbound
                && s.role != Role::Rtp
                && (s.features.iter().any(|f| features.contains(f)) || expose.contains(&s.id))
        };
        if let Some(rtp) = rtp_range {
            for s in p.services.iter().filter(enabled) {
                if s.protocols.contains(&Protocol::Udp) && s.ports.overlaps(rtp) {
                    ctx.errors.push(SiteError::RangesOverlap {
                        line: rtp_line,
                        key: "pbx.rtp_range".into(),
                        other: format!("{} (udp {}, service {})", s.name, s.ports, s.id),
                    });
                }
            }
        }
        for s in p.services.iter().filter(enabled) {
            if s.protocols.contains(&Protocol::Tcp) && s.ports.contains(ssh_port) {
                ctx.errors.push(SiteError::RangesOverlap {
                    line: ssh_line,
                    key: "admin.ssh_port".into(),
                    other: format!("{} (tcp {}, service {})", s.name, s.ports, s.id),
                });
            }
        }
    }

    let product = product?;
    let (lan_address, lan_network) = lan?;
    Some(Site {
        product: product.id.clone(),
        version,
        features,
        expose,
        lan_address,
        lan_network,
        rtp_range,
        rtp_range_given: rtp_given,
        deployment,
        dmz,
        sip_open_to_world,
        sip_rate_limit,
        trusted: trusted.into_iter().map(|(t, _)| t).collect(),
        ssh_port,
        admin_networks,
        ssh_open_to_world,
    })
}
