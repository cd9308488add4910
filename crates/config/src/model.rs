//! The typed configuration, with the defaults and where each comes from.
//!
//! Names, documentation and accepted ranges of every key live in [`crate::keys`]; the default values live
//! here, in the `Default` impls, and nowhere else. `pbxguard config default` prints these values through
//! the key registry, so the two cannot drift apart.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// The whole pbxguard configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Config {
    /// The daemon: where it listens, captures and keeps state.
    pub guard: Guard,
    /// Detection rules.
    pub rules: Rules,
    /// Trust earned by successful authentication.
    pub trust: Trust,
    /// How bans are sized and aggregated.
    pub bans: Bans,
    /// Allow, block and trunk lists.
    pub lists: Lists,
    /// Resource bounds.
    pub limits: Limits,
    /// PBX log files to follow.
    pub logs: Logs,
    /// `pbxguard audit`.
    pub audit: Audit,
}

/// The guard daemon's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Guard {
    /// Interfaces to capture on; empty means every interface.
    pub interfaces: Vec<String>,
    /// The PBX's SIP ports (UDP and TCP).
    pub sip_ports: Vec<u16>,
    /// Where the state store lives.
    pub state_dir: String,
    /// The control API's Unix socket.
    pub socket: String,
    /// Loopback TCP addresses the control API also listens on (token required); empty: none.
    pub api_listen: Vec<SocketAddr>,
    /// The file with the TCP API's bearer token.
    pub api_token_file: String,
    /// How SIP traffic reaches the engine.
    pub mode: GuardMode,
    /// The NFQUEUE number inline mode binds.
    pub queue: u16,
    /// Run the capture thread at real-time priority (on hosts with two or more CPUs).
    pub realtime_capture: bool,
}

/// How the guard sees SIP traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum GuardMode {
    /// Packet capture beside the PBX: bans stop the packets after the one that crossed a threshold.
    #[default]
    Capture,
    /// UDP to the SIP ports waits in an NFQUEUE for the engine's verdict before the PBX sees it.
    Inline,
}

impl GuardMode {
    /// The configuration word.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardMode::Capture => "capture",
            GuardMode::Inline => "inline",
        }
    }
}

impl Default for Guard {
    fn default() -> Self {
        // 5060 is SIP's port; 5080 is FreeSWITCH's external profile.
        Self {
            interfaces: Vec::new(),
            sip_ports: vec![5060, 5080],
            state_dir: "/var/lib/pbxguard".to_owned(),
            socket: "/run/pbxguard/pbxguard.sock".to_owned(),
            api_listen: Vec::new(),
            api_token_file: "/etc/pbxguard/api.token".to_owned(),
            mode: GuardMode::Capture,
            queue: 0,
            realtime_capture: true,
        }
    }
}

/// All detectors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Rules {
    /// Rejected credentials.
    pub auth: AuthRule,
    /// Challenges that never come back with credentials.
    pub challenge: ChallengeRule,
    /// Extension enumeration.
    pub enumeration: EnumerationRule,
    /// Packet rate.
    pub rate: RateRule,
    /// Scanner signatures.
    pub scanner: ScannerRule,
    /// Malformed traffic.
    pub malformed: MalformedRule,
}

/// Failed authentication: credentials the PBX rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthRule {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Failures from one source within `window` that ban it.
    pub max_failures: u32,
    /// Failures for one user from one source within `window` that raise an alert.
    pub max_failures_per_user: u32,
    /// The sliding window failures are counted in.
    pub window: Duration,
    /// How long the first ban lasts.
    pub ban_time: Duration,
}

impl Default for AuthRule {
    fn default() -> Self {
        // fail2ban's maxretry 10 in 10 minutes; Fonality PBXtra's one-hour block.
        Self {
            enabled: true,
            max_failures: 10,
            max_failures_per_user: 5,
            window: secs(10 * MINUTE),
            ban_time: secs(HOUR),
        }
    }
}

/// Unanswered challenges: 401/407 that never come back with credentials (PortSIP's "failed challenge
/// requests"), the signature of extension scanners.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChallengeRule {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Unanswered challenges from one source within `window` that ban it.
    pub max_unanswered: u32,
    /// The window unanswered challenges are counted in.
    pub window: Duration,
    /// How long the first ban lasts.
    pub ban_time: Duration,
}

impl Default for ChallengeRule {
    fn default() -> Self {
        Self {
            enabled: true,
            max_unanswered: 20,
            window: secs(MINUTE),
            ban_time: secs(HOUR),
        }
    }
}

/// Extension enumeration: many distinct users probed from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnumerationRule {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Distinct users answered 404/403 (or reported unknown in a log) from one source within `window`.
    pub max_users: u32,
    /// The window distinct users are counted in.
    pub window: Duration,
    /// How long the first ban lasts.
    pub ban_time: Duration,
}

impl Default for EnumerationRule {
    fn default() -> Self {
        Self {
            enabled: true,
            max_users: 10,
            window: secs(5 * MINUTE),
            ban_time: secs(HOUR),
        }
    }
}

/// Packet rate per source, at two levels, plus a long window for sources that never authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateRule {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Level 1 rate, in SIP packets per second, averaged over `level1_window`.
    pub level1_rate: u32,
    /// The window level 1 is averaged over.
    pub level1_window: Duration,
    /// Ban time at level 1.
    pub level1_ban_time: Duration,
    /// Level 2 rate, in SIP packets per second, averaged over `level2_window`; applies to trusted sources too.
    pub level2_rate: u32,
    /// The window level 2 is averaged over.
    pub level2_window: Duration,
    /// Ban time at level 2.
    pub level2_ban_time: Duration,
    /// Packets from a source that never authenticated, within `unknown_window`, that ban it. 0 disables.
    pub unknown_max_packets: u32,
    /// The long window for sources that never authenticated.
    pub unknown_window: Duration,
    /// Ban time for the long window.
    pub unknown_ban_time: Duration,
}

impl Default for RateRule {
    fn default() -> Self {
        // PortSIP's two levels (500 and 2000 packets/s on a carrier-facing PBX) scaled to a per-source limit
        // an office NAT never reaches; FreePBX's responsive firewall: a source that never authenticated and
        // sends more than 100 packets in 24 h is an attacker, blocked for 24 h.
        Self {
            enabled: true,
            level1_rate: 100,
            level1_window: secs(2),
            level1_ban_time: secs(10 * MINUTE),
            level2_rate: 500,
            level2_window: secs(1),
            level2_ban_time: secs(HOUR),
            unknown_max_packets: 100,
            unknown_window: secs(DAY),
            unknown_ban_time: secs(DAY),
        }
    }
}

/// Known scanner tools, recognised by User-Agent or From header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScannerRule {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Case-insensitive substrings of User-Agent (or the From display name/user) that mark a scanner.
    pub user_agents: Vec<String>,
    /// How long the first ban lasts.
    pub ban_time: Duration,
}

impl Default for ScannerRule {
    fn default() -> Self {
        // Kamailio's sample config, the FreeSWITCH guide and FreePBX's list of scanner User-Agents.
        let agents = [
            "friendly-scanner",
            "sipvicious",
            "sipcli",
            "VaxSIPUserAgent",
            "pplsip",
            "iWar",
            "sundayddr",
            "SIPScan",
            "sipsak-scan",
            "smap",
        ];
        Self {
            enabled: true,
            user_agents: agents.iter().map(|s| (*s).to_owned()).collect(),
            ban_time: secs(DAY),
        }
    }
}

/// Malformed traffic: a rate of parser anomalies from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MalformedRule {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Malformed messages from one source within `window` that ban it.
    pub max_anomalies: u32,
    /// The window anomalies are counted in.
    pub window: Duration,
    /// How long the first ban lasts.
    pub ban_time: Duration,
}

impl Default for MalformedRule {
    fn default() -> Self {
        Self {
            enabled: true,
            max_anomalies: 20,
            window: secs(MINUTE),
            ban_time: secs(HOUR),
        }
    }
}

/// Trust: a source that authenticates successfully is an office or a remote worker, not a scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Trust {
    /// How long a successful authentication keeps a source trusted (renewed by every success).
    pub duration: Duration,
    /// Multiplier applied to the failure, challenge, enumeration and malformed thresholds of a trusted source.
    pub threshold_factor: u32,
}

impl Default for Trust {
    fn default() -> Self {
        Self {
            duration: secs(DAY),
            threshold_factor: 5,
        }
    }
}

/// Ban sizing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Bans {
    /// IPv6 sources are banned as this prefix, since one host owns a whole /64.
    pub ipv6_prefix: u8,
    /// Each repeat offence multiplies the ban time by this factor.
    pub escalation_factor: u32,
    /// The longest ban escalation reaches.
    pub max_ban_time: Duration,
    /// How long an offence is remembered for escalation.
    pub recidive_window: Duration,
}

impl Default for Bans {
    fn default() -> Self {
        // fail2ban's recidive jail: repeat offenders within a day get a week.
        Self {
            ipv6_prefix: 64,
            escalation_factor: 2,
            max_ban_time: secs(7 * DAY),
            recidive_window: secs(7 * DAY),
        }
    }
}

/// Address lists.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lists {
    /// Sources that are never banned nor blocked.
    pub allow: Vec<IpNet>,
    /// Sources that are always blocked.
    pub block: Vec<IpNet>,
    /// Carrier trunks: never banned (UDP sources can be spoofed), alerts only.
    pub trunks: Vec<IpNet>,
}

impl Default for Lists {
    fn default() -> Self {
        let loopback = ["127.0.0.0/8", "::1/128"];
        Self {
            allow: loopback.iter().filter_map(|s| s.parse().ok()).collect(),
            block: Vec::new(),
            trunks: Vec::new(),
        }
    }
}

/// Resource bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Most sources tracked at once; beyond it the least valuable state is evicted first.
    pub max_sources: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sources: 100_000,
        }
    }
}

/// PBX log files the guard follows (`[logs]`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Logs {
    /// `FORMAT:PATH` entries.
    pub files: Vec<String>,
    /// `FORMAT:UNIT` entries: systemd units whose journal is followed.
    pub journal: Vec<String>,
    /// A journal directory to read instead of the system journal; empty: the system journal.
    pub journal_directory: String,
    /// `EVENT: TEMPLATE` patterns for Kamailio lines.
    pub kamailio_patterns: Vec<String>,
}

/// The log formats `[logs] files` accepts.
pub const LOG_FORMATS: [&str; 3] = ["asterisk", "freeswitch", "kamailio"];

/// The events a Kamailio pattern may report.
pub const LOG_PATTERN_EVENTS: [&str; 5] = [
    "auth_failed",
    "unknown_user",
    "auth_succeeded",
    "rejected",
    "scanner",
];

impl Default for Logs {
    fn default() -> Self {
        // No file by default: which PBX runs here is the operator's to say. The patterns match the
        // `xlog` lines of the lab's Kamailio script, as examples to adapt.
        Self {
            files: Vec::new(),
            journal: Vec::new(),
            journal_directory: String::new(),
            kamailio_patterns: vec![
                "auth_failed: auth failed for user {user} from {ip}:{port}".to_owned(),
                "unknown_user: unknown user {user} from {ip}:{port}".to_owned(),
            ],
        }
    }
}

/// `pbxguard audit` settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Audit {
    /// Accepted findings, each `RULE[@PATH[:LINE]] REASON`; no suppressions by default.
    pub suppress: Vec<String>,
}
