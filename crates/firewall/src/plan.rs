//! The plan: for every port of the product, who may reach it and why, plus the warnings the site's
//! choices deserve. Renderers only translate a plan; every decision is made here.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use crate::catalog::{Audience, Catalog, Direction, Role, Service};
use crate::net::{Cidr, PortRange, Protocol};
use crate::site::{Deployment, Site, TrustedSource};

/// Who may reach a port from outside the LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Every source.
    World,
    /// The site's trusted sources.
    Trusted,
    /// The site's admin networks.
    Admin,
    /// Nobody outside the LAN (closed to the internet).
    LanOnly,
}

impl Access {
    /// Whether the port is reachable from outside the LAN.
    pub fn is_open(self) -> bool {
        self != Self::LanOnly
    }
}

/// One protocol on one port range, and the decision about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortRule {
    /// Catalog service id (or `ssh`).
    pub service: String,
    /// Human name.
    pub name: String,
    /// The protocol.
    pub protocol: Protocol,
    /// The port or range.
    pub ports: PortRange,
    /// Who may reach it.
    pub access: Access,
    /// What kind of service it is.
    pub role: Role,
    /// Why it is open or closed, in words.
    pub reason: String,
    /// What can go wrong when it is reachable.
    pub risk: Option<String>,
    /// Where the fact comes from.
    pub source: String,
    /// Whether the guides say never to expose it (as opposed to "not needed by this site").
    pub forbidden: bool,
}

/// A connection the PBX makes itself, to allow in an outbound-filtering firewall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboundRule {
    /// Catalog service id.
    pub service: String,
    /// Human name.
    pub name: String,
    /// The protocol.
    pub protocol: Protocol,
    /// The destination port or range.
    pub ports: PortRange,
    /// Why the PBX needs it.
    pub reason: String,
    /// Where the fact comes from.
    pub source: String,
}

/// The kind of a risky choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum WarningCode {
    /// SSH is open to every source.
    SshOpenToWorld,
    /// SSH listens on 22 and is reachable from outside the LAN.
    SshDefaultPort,
    /// A control interface (ESL, AMI, XML-RPC, management API) is reachable.
    ControlReachable,
    /// TFTP, FTP or HTTP provisioning is reachable.
    ProvisioningExposed,
    /// A service the guides say never to expose is exposed.
    ExposedAgainstAdvice,
    /// The PBX sits in a router's DMZ.
    Dmz,
    /// The configured RTP range differs from the product default.
    RtpRangeDiffers,
    /// SIP is open to every source.
    SipOpenToWorld,
    /// Signalling is needed but no source outside the LAN may reach it.
    NoTrustedSources,
    /// A trusted range is so wide that it trusts a large part of the internet.
    TrustedRangeBroad,
}

/// A warning about a risky choice in the site description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// What kind of risk.
    pub code: WarningCode,
    /// The explanation and what to do.
    pub message: String,
}

/// The firewall plan for one site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Catalog product id.
    pub product: String,
    /// Product name.
    pub product_name: String,
    /// The PBX version from the site file.
    pub version: Option<String>,
    /// Where the PBX runs.
    pub deployment: Deployment,
    /// Whether the PBX is in a DMZ.
    pub dmz: bool,
    /// The PBX's LAN address (the port-forward target).
    pub lan_address: IpAddr,
    /// The LAN or VPC subnet, trusted for everything.
    pub lan_network: Cidr,
    /// Trusted sources.
    pub trusted: Vec<TrustedSource>,
    /// Admin networks.
    pub admin_networks: Vec<Cidr>,
    /// Whether signalling is open to every source.
    pub sip_open_to_world: bool,
    /// Per-source signalling packet rate above which packets are dropped.
    pub sip_rate_limit: u32,
    /// The RTP range in use, if the product has one.
    pub rtp_range: Option<PortRange>,
    /// Every inbound port the product knows of, open or closed, with the reason.
    pub rules: Vec<PortRule>,
    /// Outbound connections to allow.
    pub outbound: Vec<OutboundRule>,
    /// Risky choices.
    pub warnings: Vec<Warning>,
}

/// Why a plan could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanError {
    /// The site names a product this catalog does not have (the site was validated against another).
    ProductMissing(String),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ProductMissing(p) => write!(f, "product `{p}` is not in the catalog"),
        }
    }
}

impl std::error::Error for PlanError {}

const SSH_SOURCE: &str = "000_015e8008060435a0.txt: 'Don't forward port 22 SSH ... restrict it to only certain specific remote IP addresses'; 002_898baff124e62fb2.txt: example ruleset allows SSH on the port set in sshd_config (6245); 004_8088a14a8f7dbf48.txt: 'changing the default SSH port 22 to another port'";

fn list(v: &[String]) -> String {
    v.join(", ")
}

impl Plan {
    /// Decides every port for `site` using the product from `catalog`.
    ///
    /// # Errors
    ///
    /// [`PlanError::ProductMissing`] when the catalog lacks the site's product.
    #[allow(clippy::too_many_lines)] // the decision table reads best in one place
    pub fn build(site: &Site, catalog: &Catalog) -> Result<Self, PlanError> {
        let product = catalog
            .product(&site.product)
            .ok_or_else(|| PlanError::ProductMissing(site.product.clone()))?;
        let mut rules = Vec::new();
        let mut outbound = Vec::new();
        let mut warnings = Vec::new();

        // SSH first: it is the port that is attacked most.
        let (ssh_access, ssh_reason) = if site.ssh_open_to_world {
            (
                Access::World,
                "SSH is open to every source because the site sets admin.ssh_open_to_world."
                    .to_owned(),
            )
        } else if site.admin_networks.is_empty() {
            (
                Access::LanOnly,
                "No admin networks are listed, so SSH is reachable from the LAN only.".to_owned(),
            )
        } else {
            (
                Access::Admin,
                "SSH is open to the admin networks only, as the guides advise.".to_owned(),
            )
        };
        rules.push(PortRule {
            service: "ssh".into(),
            name: "SSH".into(),
            protocol: Protocol::Tcp,
            ports: PortRange::single(site.ssh_port).unwrap_or(PortRange::SSH_DEFAULT),
            access: ssh_access,
            role: Role::Admin,
            reason: ssh_reason,
            risk: Some(
                "Exposed SSH receives thousands of brute-force login attempts per second.".into(),
            ),
            source: SSH_SOURCE.into(),
            forbidden: false,
        });
        if site.ssh_open_to_world {
            warnings.push(Warning {
                code: WarningCode::SshOpenToWorld,
                message: format!(
                    "SSH (tcp {}) is open to the whole internet. The Fonality guide: 'it will be subjected to thousands of brute-force username/password combination attacks per second'. List admin networks instead, or reach the PBX over a VPN.",
                    site.ssh_port
                ),
            });
        }
        if site.ssh_port == 22 && ssh_access != Access::LanOnly {
            warnings.push(Warning {
                code: WarningCode::SshDefaultPort,
                message: "SSH listens on the default port 22 and is reachable from outside the LAN; the PortSIP guide strongly suggests another port (e.g. 10210) to shed untargeted scans. Source restrictions matter more than the port.".into(),
            });
        }

        for s in &product.services {
            match s.direction {
                Direction::Outbound => {
                    for &protocol in &s.protocols {
                        outbound.push(OutboundRule {
                            service: s.id.clone(),
                            name: s.name.clone(),
                            protocol,
                            ports: s.ports,
                            reason: s.why.clone(),
                            source: s.source.clone(),
                        });
                    }
                }
                Direction::Inbound | Direction::Never => {
                    let (access, reason) = decide(site, s, &mut warnings);
                    let ports = if s.role == Role::Rtp {
                        site.rtp_range.unwrap_or(s.ports)
                    } else {
                        s.ports
                    };
                    for &protocol in &s.protocols {
                        rules.push(PortRule {
                            service: s.id.clone(),
                            name: s.name.clone(),
                            protocol,
                            ports,
                            access,
                            role: s.role,
                            reason: reason.clone(),
                            risk: s.risk.clone(),
                            source: s.source.clone(),
                            forbidden: s.direction == Direction::Never,
                        });
                    }
                }
            }
        }

        let signalling_open = rules
            .iter()
            .any(|r| r.role.is_signalling() && r.access.is_open());
        let signalling_trusted = rules.iter().any(|r| r.access == Access::Trusted);
        if site.sip_open_to_world && signalling_open {
            warnings.push(Warning {
                code: WarningCode::SipOpenToWorld,
                message: "Signalling is open to every source. Scanners (friendly-scanner, sipvicious, sipcli) arrive within minutes; one report counts 77,464 registration attempts in 21 minutes. Only do this with long random SIP passwords, deny/permit on extensions, 1-2 simultaneous calls per trunk, no international dialling, fail2ban or the pbxguard guard, and daily call-log checks (Incredible PBX's Baker's Dozen).".into(),
            });
        }
        if !site.sip_open_to_world && signalling_trusted && site.trusted.is_empty() {
            warnings.push(Warning {
                code: WarningCode::NoTrustedSources,
                message: "Services for remote users are enabled but no [[trusted]] sources are listed, so nothing outside the LAN can reach them. Add your carriers' signalling addresses, remote offices, or the ISP ranges of dynamic users (the Fonality guide: 'consider whitelisting their ISP').".into(),
            });
        }
        for t in &site.trusted {
            let broad = if t.address.is_ipv4() {
                t.address.prefix() < 8
            } else {
                t.address.prefix() < 16
            };
            if broad {
                warnings.push(Warning {
                    code: WarningCode::TrustedRangeBroad,
                    message: format!(
                        "Trusted source `{}` ({}) spans a large part of the internet; an ISP's range is usually /12 or narrower.",
                        t.name, t.address
                    ),
                });
            }
        }
        if site.dmz {
            warnings.push(Warning {
                code: WarningCode::Dmz,
                message: "The PBX is in the router's DMZ: every service on it, including SSH, the web admin and provisioning, is exposed whatever this plan says. The Fonality guide: 'should not be used in a production environment'. Use the port forwards below instead.".into(),
            });
        }
        if let (true, Some(spec), Some(range)) =
            (site.rtp_range_given, &product.rtp, site.rtp_range)
            && spec.default != range
        {
            warnings.push(Warning {
                    code: WarningCode::RtpRangeDiffers,
                    message: format!(
                        "The site's RTP range {range} differs from {}'s default {}. The firewall opens {range}; make sure the PBX really uses it ({}), or calls will have one-way or no audio.",
                        product.name,
                        spec.default,
                        spec.setting.as_deref().unwrap_or("the PBX's RTP setting")
                    ),
                });
        }

        Ok(Self {
            product: product.id.clone(),
            product_name: product.name.clone(),
            version: site.version.clone(),
            deployment: site.deployment,
            dmz: site.dmz,
            lan_address: site.lan_address,
            lan_network: site.lan_network,
            trusted: site.trusted.clone(),
            admin_networks: site.admin_networks.clone(),
            sip_open_to_world: site.sip_open_to_world,
            sip_rate_limit: site.sip_rate_limit,
            rtp_range: site.rtp_range,
            rules,
            outbound,
            warnings,
        })
    }

    /// The rules open to someone outside the LAN.
    pub fn open_rules(&self) -> impl Iterator<Item = &PortRule> {
        self.rules.iter().filter(|r| r.access.is_open())
    }

    /// The rules closed to the internet.
    pub fn closed_rules(&self) -> impl Iterator<Item = &PortRule> {
        self.rules.iter().filter(|r| !r.access.is_open())
    }

    /// The source prefixes that `access` stands for (empty for `World` and `LanOnly`).
    pub fn sources(&self, access: Access) -> Vec<Cidr> {
        match access {
            Access::Trusted => self.trusted.iter().map(|t| t.address).collect(),
            Access::Admin => self.admin_networks.clone(),
            Access::World | Access::LanOnly => Vec::new(),
        }
    }

    /// Open signalling ports of `protocol`, SIP or other (rate-limited, DSCP CS3).
    pub fn signalling(&self, protocol: Protocol) -> Vec<PortRange> {
        self.open_ports(protocol, Role::is_signalling)
    }

    /// Open SIP ports over UDP: where scanners' User-Agents are dropped and what the kernel's SIP
    /// helper could watch.
    pub fn sip_udp(&self) -> Vec<PortRange> {
        self.open_ports(Protocol::Udp, |r| r == Role::Sip)
    }

    fn open_ports(&self, protocol: Protocol, role: impl Fn(Role) -> bool) -> Vec<PortRange> {
        let mut v: Vec<PortRange> = self
            .open_rules()
            .filter(|r| role(r.role) && r.protocol == protocol)
            .map(|r| r.ports)
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

fn decide(site: &Site, s: &Service, warnings: &mut Vec<Warning>) -> (Access, String) {
    let needed_by: Vec<String> = s
        .features
        .iter()
        .filter(|f| site.features.contains(f))
        .cloned()
        .collect();
    let exposed = site.expose.contains(&s.id);
    let open_access = |s: &Service| match s.audience {
        Audience::World => Access::World,
        Audience::Trusted if s.role.is_signalling() && site.sip_open_to_world => Access::World,
        Audience::Trusted => Access::Trusted,
        Audience::Admin => Access::Admin,
    };
    match s.direction {
        Direction::Inbound if !needed_by.is_empty() => {
            let access = open_access(s);
            let who = match access {
                Access::World if s.audience == Audience::World => "open to every source".to_owned(),
                Access::World => "open to every source because sip.open_to_world is set".to_owned(),
                Access::Trusted => "open to the trusted sources only".to_owned(),
                Access::Admin => "open to the admin networks only".to_owned(),
                Access::LanOnly => "closed".to_owned(),
            };
            (
                access,
                format!("{} Needed by: {}; {who}.", s.why, list(&needed_by)),
            )
        }
        Direction::Inbound if exposed => {
            let access = open_access(s);
            (
                access,
                format!(
                    "{} No enabled feature needs it, but the site lists it in pbx.expose.",
                    s.why
                ),
            )
        }
        Direction::Inbound => (
            Access::LanOnly,
            format!(
                "Closed: only needed for {} (not enabled). {}",
                list(&s.features),
                s.why
            ),
        ),
        Direction::Never if exposed => {
            let (code, what) = match s.role {
                Role::Control => (WarningCode::ControlReachable, "control interface"),
                Role::Provisioning => (WarningCode::ProvisioningExposed, "provisioning service"),
                _ => (WarningCode::ExposedAgainstAdvice, "service"),
            };
            warnings.push(Warning {
                code,
                message: format!(
                    "The {what} {} ({} {}) is exposed to the admin networks on request (pbx.expose). {} {}",
                    s.name,
                    s.protocols
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join("+"),
                    s.ports,
                    s.why,
                    s.risk.as_deref().unwrap_or("")
                )
                .trim_end()
                .to_owned(),
            });
            let reach = if site.admin_networks.is_empty() {
                " No admin networks are listed, so in effect it stays closed."
            } else {
                ""
            };
            (
                Access::Admin,
                format!(
                    "Exposed to the admin networks because the site lists it in pbx.expose, against the guide's advice: {}{reach}",
                    s.why
                ),
            )
        }
        Direction::Never | Direction::Outbound => (
            Access::LanOnly,
            format!("Never exposed to the internet: {}", s.why),
        ),
    }
}
