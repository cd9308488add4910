//! The registry: every configuration key, defined once.
//!
//! A key's table, name, documentation and accepted values are written here and only here; the parser, the
//! printed default configuration and the reference documentation are all generated from this list.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::model::{Config, GuardMode};
use crate::value::{Kind, Value};

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The TOML table the key lives in, e.g. `rules.auth`.
    pub table: &'static str,
    /// The key's name within its table.
    pub name: &'static str,
    /// What the key does, for `config default` and the documentation.
    pub doc: &'static str,
    /// What the key accepts.
    pub kind: Kind,
    get: fn(&Config) -> Value,
    set: fn(&mut Config, Value),
}

impl Key {
    /// The key's current value in `config`.
    pub fn get(&self, config: &Config) -> Value {
        (self.get)(config)
    }

    /// Stores an already validated value. Values are validated against [`Key::kind`] before they get here.
    pub(crate) fn set(&self, config: &mut Config, value: Value) {
        (self.set)(config, value);
    }

    /// `table.name`, how errors and docs refer to the key.
    pub fn path(&self) -> String {
        format!("{}.{}", self.table, self.name)
    }
}

/// A configuration table with its documentation.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// The table's dotted name.
    pub name: &'static str,
    /// What the table configures.
    pub doc: &'static str,
}

/// Conversion between a model field and a [`Value`]. Validation has already happened when `from_value`
/// runs, so a mismatch there keeps the old value rather than guessing.
pub(crate) trait Field: Sized {
    fn to_value(&self) -> Value;
    fn from_value(v: Value) -> Option<Self>;
}

impl Field for bool {
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
}

impl Field for u32 {
    fn to_value(&self) -> Value {
        Value::Count(u64::from(*self))
    }
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Count(n) => u32::try_from(n).ok(),
            _ => None,
        }
    }
}

impl Field for u8 {
    fn to_value(&self) -> Value {
        Value::Count(u64::from(*self))
    }
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Count(n) => u8::try_from(n).ok(),
            _ => None,
        }
    }
}

impl Field for Duration {
    fn to_value(&self) -> Value {
        Value::Duration(*self)
    }
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Duration(d) => Some(d),
            _ => None,
        }
    }
}

impl Field for Vec<String> {
    fn to_value(&self) -> Value {
        Value::TextList(self.clone())
    }
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::TextList(l) => Some(l),
            _ => None,
        }
    }
}

impl Field for Vec<IpNet> {
    fn to_value(&self) -> Value {
        Value::Networks(self.clone())
    }
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Networks(l) => Some(l),
            _ => None,
        }
    }
}

impl Field for Vec<u16> {
    fn to_value(&self) -> Value {
        Value::Ports(self.clone())
    }
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Ports(l) => Some(l),
            _ => None,
        }
    }
}

impl Field for Vec<SocketAddr> {
    fn to_value(&self) -> Value {
        Value::Endpoints(self.clone())
    }
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Endpoints(l) => Some(l),
            _ => None,
        }
    }
}

impl Field for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
}

impl Field for u16 {
    fn to_value(&self) -> Value {
        Value::Count(u64::from(*self))
    }
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Count(n) => u16::try_from(n).ok(),
            _ => None,
        }
    }
}

impl Field for GuardMode {
    fn to_value(&self) -> Value {
        Value::Text(self.as_str().to_owned())
    }
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Text(t) if t == "capture" => Some(GuardMode::Capture),
            Value::Text(t) if t == "inline" => Some(GuardMode::Inline),
            _ => None,
        }
    }
}

macro_rules! key {
    ($table:literal, $name:literal, $kind:expr, $($field:ident).+, $doc:literal) => {
        Key {
            table: $table,
            name: $name,
            doc: $doc,
            kind: $kind,
            get: |c| Field::to_value(&c.$($field).+),
            set: |c, v| {
                if let Some(x) = Field::from_value(v) {
                    c.$($field).+ = x;
                }
            },
        }
    };
}

const fn count(min: u64, max: u64) -> Kind {
    Kind::Count { min, max }
}

const fn dur(min_ms: u64, max_secs: u64) -> Kind {
    Kind::Duration {
        min: Duration::from_millis(min_ms),
        max: Duration::from_secs(max_secs),
    }
}

const YEAR: u64 = 365 * 24 * 3600;

/// Every table, in the order the default configuration prints them.
pub static TABLES: &[Table] = &[
    Table {
        name: "guard",
        doc: "The guard daemon (`pbxguard run`): what it watches and where it keeps its state.",
    },
    Table {
        name: "rules",
        doc: "Detectors. Each bans a source when its threshold is crossed.",
    },
    Table {
        name: "rules.auth",
        doc: "Rejected credentials: a 401/407/403 answering a request that carried Authorization, or a PBX \
              log line saying authentication failed. A 401/407 challenge answered correctly is the normal SIP \
              handshake and never counts.",
    },
    Table {
        name: "rules.challenge",
        doc: "Challenges (401/407) that never come back with credentials: how extension scanners and \
              password sprayers look from the PBX's side.",
    },
    Table {
        name: "rules.enumeration",
        doc: "Extension enumeration: many distinct users probed from one source and answered 404/403 or \
              reported unknown by the PBX.",
    },
    Table {
        name: "rules.rate",
        doc: "Packet rate per source, at two levels. A trusted source is never banned at level 1. Sources \
              that never authenticated also get a long window.",
    },
    Table {
        name: "rules.scanner",
        doc: "Known attack tools, recognised by their User-Agent or From header, are banned at the first \
              packet.",
    },
    Table {
        name: "rules.malformed",
        doc: "Malformed SIP: a rate of parser anomalies from one source.",
    },
    Table {
        name: "trust",
        doc: "A source that authenticates successfully is trusted for a while: its thresholds are raised, and \
              repeated failures of one user behind it are reported instead of banning the whole address. \
              This is how an office of phones behind one NAT address stays safe from one misconfigured phone.",
    },
    Table {
        name: "bans",
        doc: "How long bans last and what they cover.",
    },
    Table {
        name: "lists",
        doc: "Address lists, in CIDR notation or as single addresses, IPv4 and IPv6.",
    },
    Table {
        name: "logs",
        doc: "PBX logs the guard follows, for what packets cannot show (SIP over TLS or WebSocket): failed and \
              successful authentication, unknown users, ACL rejections. Files are followed across rotation, \
              journald units through `journalctl`; `pbxguard replay` reads the same formats offline.",
    },
    Table {
        name: "limits",
        doc: "Resource bounds that keep memory fixed under a flood of spoofed sources.",
    },
    Table {
        name: "audit",
        doc: "`pbxguard audit`: linting PBX configurations and firewall rulesets.",
    },
];

/// Every key, in the order the default configuration prints them.
pub static KEYS: &[Key] = &[
    key!(
        "guard",
        "interfaces",
        Kind::TextList,
        guard.interfaces,
        "Network interfaces to capture SIP on. Empty captures on every interface."
    ),
    key!(
        "guard",
        "sip_ports",
        Kind::Ports,
        guard.sip_ports,
        "The PBX's SIP ports, UDP and TCP. Traffic to them is inspected; the PBX's answers from them too."
    ),
    key!(
        "guard",
        "state_dir",
        Kind::Path,
        guard.state_dir,
        "Directory of the state store (bans, events, runtime allow list); bans survive restarts from here."
    ),
    key!(
        "guard",
        "socket",
        Kind::Path,
        guard.socket,
        "Unix socket of the control API used by `pbxguard status`, `bans`, `ban`, `unban` and `allow`."
    ),
    key!(
        "guard",
        "api_listen",
        Kind::LoopbackEndpoints,
        guard.api_listen,
        "The control API also over TCP, on loopback only (e.g. `[\"127.0.0.1:9060\"]`), for a Prometheus \
         scraper or scripts on this host. Every request must carry `Authorization: Bearer TOKEN` with the \
         token from `api_token_file`. Empty: Unix socket only."
    ),
    key!(
        "guard",
        "api_token_file",
        Kind::Path,
        guard.api_token_file,
        "File holding the TCP API's token (one line, at least 32 characters, e.g. from \
         `openssl rand -hex 32`), readable by root only. Read at start and on SIGHUP; used only when \
         `api_listen` is set."
    ),
    key!(
        "guard",
        "mode",
        Kind::Choice(&["capture", "inline"]),
        guard.mode,
        "`capture` watches a copy of the traffic: a ban stops the packets after the one that crossed the line. \
         `inline` also steers UDP to `sip_ports` into an NFQUEUE (iptables chain `PBXGUARD_INLINE` in \
         `mangle PREROUTING`, with `--queue-bypass`), so a scanner's first request and the packet that crosses \
         a threshold never reach the PBX; if the daemon dies or falls behind, traffic flows unjudged \
         (fail-open). The PBX's answers and SIP over TCP are still watched by capture."
    ),
    key!(
        "guard",
        "queue",
        count(0, 65535),
        guard.queue,
        "The NFQUEUE number inline mode binds (`--queue-num`); pick one no other program uses."
    ),
    key!(
        "guard",
        "realtime_capture",
        Kind::Bool,
        guard.realtime_capture,
        "Run the capture thread at real-time priority (SCHED_FIFO 1) so that it picks up packets as soon as \
         the kernel hands them over, even while a flood keeps the CPUs busy (it cut the p99 time to a ban from \
         about 3 ms to 0.5 ms in the lab flood). Only that one thread, and only on hosts with two or more \
         CPUs; needs root, CAP_SYS_NICE or an RTPRIO limit (the systemd unit sets `LimitRTPRIO=1`), else the \
         guard says so and runs at normal priority."
    ),
    key!(
        "rules.auth",
        "enabled",
        Kind::Bool,
        rules.auth.enabled,
        "Whether failed authentication is detected."
    ),
    key!(
        "rules.auth",
        "max_failures",
        count(1, 1_000_000),
        rules.auth.max_failures,
        "Rejected credentials from one source within `window` that ban it. For a trusted source, the \
         failures of a user already reported under `max_failures_per_user` stop counting here, and the \
         threshold is multiplied by [trust] threshold_factor."
    ),
    key!(
        "rules.auth",
        "max_failures_per_user",
        count(1, 1_000_000),
        rules.auth.max_failures_per_user,
        "Rejected credentials for one user from one source within `window` that raise an alert (a phone \
         with a wrong password)."
    ),
    key!(
        "rules.auth",
        "window",
        dur(1000, YEAR),
        rules.auth.window,
        "The sliding window failures are counted in."
    ),
    key!(
        "rules.auth",
        "ban_time",
        dur(1000, YEAR),
        rules.auth.ban_time,
        "How long the first ban lasts."
    ),
    key!(
        "rules.challenge",
        "enabled",
        Kind::Bool,
        rules.challenge.enabled,
        "Whether unanswered challenges are detected."
    ),
    key!(
        "rules.challenge",
        "max_unanswered",
        count(1, 1_000_000),
        rules.challenge.max_unanswered,
        "Challenges to one source within `window` that were never answered with credentials before it is \
         banned."
    ),
    key!(
        "rules.challenge",
        "window",
        dur(1000, YEAR),
        rules.challenge.window,
        "The window unanswered challenges are counted in."
    ),
    key!(
        "rules.challenge",
        "ban_time",
        dur(1000, YEAR),
        rules.challenge.ban_time,
        "How long the first ban lasts."
    ),
    key!(
        "rules.enumeration",
        "enabled",
        Kind::Bool,
        rules.enumeration.enabled,
        "Whether extension enumeration is detected."
    ),
    key!(
        "rules.enumeration",
        "max_users",
        count(2, 100),
        rules.enumeration.max_users,
        "Distinct users answered 404/403 (or logged as unknown) from one source within `window` that ban it."
    ),
    key!(
        "rules.enumeration",
        "window",
        dur(1000, YEAR),
        rules.enumeration.window,
        "The window distinct users are counted in."
    ),
    key!(
        "rules.enumeration",
        "ban_time",
        dur(1000, YEAR),
        rules.enumeration.ban_time,
        "How long the first ban lasts."
    ),
    key!(
        "rules.rate",
        "enabled",
        Kind::Bool,
        rules.rate.enabled,
        "Whether packet rates are limited."
    ),
    key!(
        "rules.rate",
        "level1_rate",
        count(1, 10_000_000),
        rules.rate.level1_rate,
        "Level 1: SIP packets per second from one source, averaged over `level1_window`. Trusted sources are \
         exempt from level 1."
    ),
    key!(
        "rules.rate",
        "level1_window",
        dur(100, 3600),
        rules.rate.level1_window,
        "The window level 1 averages over."
    ),
    key!(
        "rules.rate",
        "level1_ban_time",
        dur(1000, YEAR),
        rules.rate.level1_ban_time,
        "Ban time at level 1."
    ),
    key!(
        "rules.rate",
        "level2_rate",
        count(1, 10_000_000),
        rules.rate.level2_rate,
        "Level 2: SIP packets per second from one source, averaged over `level2_window`. Applies to trusted \
         sources too."
    ),
    key!(
        "rules.rate",
        "level2_window",
        dur(100, 3600),
        rules.rate.level2_window,
        "The window level 2 averages over."
    ),
    key!(
        "rules.rate",
        "level2_ban_time",
        dur(1000, YEAR),
        rules.rate.level2_ban_time,
        "Ban time at level 2."
    ),
    key!(
        "rules.rate",
        "unknown_max_packets",
        count(0, 100_000_000),
        rules.rate.unknown_max_packets,
        "Packets from a source that never authenticated, within `unknown_window`, that ban it (FreePBX's \
         responsive firewall). Carriers that do not register belong in [lists] trunks. 0 disables."
    ),
    key!(
        "rules.rate",
        "unknown_window",
        dur(1000, YEAR),
        rules.rate.unknown_window,
        "The long window for sources that never authenticated."
    ),
    key!(
        "rules.rate",
        "unknown_ban_time",
        dur(1000, YEAR),
        rules.rate.unknown_ban_time,
        "Ban time for the long window."
    ),
    key!(
        "rules.scanner",
        "enabled",
        Kind::Bool,
        rules.scanner.enabled,
        "Whether scanner signatures are detected."
    ),
    key!(
        "rules.scanner",
        "user_agents",
        Kind::TextList,
        rules.scanner.user_agents,
        "Case-insensitive substrings of the User-Agent header (or the From display name or user) that mark \
         an attack tool."
    ),
    key!(
        "rules.scanner",
        "ban_time",
        dur(1000, YEAR),
        rules.scanner.ban_time,
        "How long the first ban lasts."
    ),
    key!(
        "rules.malformed",
        "enabled",
        Kind::Bool,
        rules.malformed.enabled,
        "Whether malformed traffic is detected."
    ),
    key!(
        "rules.malformed",
        "max_anomalies",
        count(1, 1_000_000),
        rules.malformed.max_anomalies,
        "Malformed messages from one source within `window` that ban it."
    ),
    key!(
        "rules.malformed",
        "window",
        dur(1000, YEAR),
        rules.malformed.window,
        "The window anomalies are counted in."
    ),
    key!(
        "rules.malformed",
        "ban_time",
        dur(1000, YEAR),
        rules.malformed.ban_time,
        "How long the first ban lasts."
    ),
    key!(
        "trust",
        "duration",
        dur(0, YEAR),
        trust.duration,
        "How long a successful authentication keeps a source trusted; every success renews it. \"0s\" \
         disables trust."
    ),
    key!(
        "trust",
        "threshold_factor",
        count(1, 1000),
        trust.threshold_factor,
        "Multiplier for the auth, challenge, enumeration and malformed thresholds of a trusted source."
    ),
    key!(
        "bans",
        "ipv6_prefix",
        count(32, 128),
        bans.ipv6_prefix,
        "IPv6 sources are banned as this prefix length: one host usually owns a whole /64."
    ),
    key!(
        "bans",
        "escalation_factor",
        count(1, 100),
        bans.escalation_factor,
        "Each repeat offence within `recidive_window` multiplies the ban time by this factor (1 disables \
         escalation)."
    ),
    key!(
        "bans",
        "max_ban_time",
        dur(1000, 10 * YEAR),
        bans.max_ban_time,
        "The longest ban that escalation reaches."
    ),
    key!(
        "bans",
        "recidive_window",
        dur(0, 10 * YEAR),
        bans.recidive_window,
        "How long past offences are remembered for escalation."
    ),
    key!(
        "lists",
        "allow",
        Kind::Networks,
        lists.allow,
        "Sources that are never banned or blocked, whatever they send. Put your offices and admin networks \
         here."
    ),
    key!(
        "lists",
        "block",
        Kind::Networks,
        lists.block,
        "Sources that are always blocked."
    ),
    key!(
        "lists",
        "trunks",
        Kind::Networks,
        lists.trunks,
        "Carriers' signalling addresses: never banned, because UDP sources can be spoofed; what they send \
         raises alerts only. To cap a carrier's concurrent calls, name it with its addresses in the call \
         policy file (`[trunks.NAME]`, see docs/call-policy.md); those addresses must be listed here too."
    ),
    key!(
        "limits",
        "max_sources",
        count(1000, 100_000_000),
        limits.max_sources,
        "Most sources tracked at once. Beyond it the least valuable state is evicted first (never an active \
         offender's), so a flood from spoofed addresses cannot exhaust memory."
    ),
    key!(
        "logs",
        "files",
        Kind::TextList,
        logs.files,
        "Log files to follow, each as \"FORMAT:PATH\" with FORMAT one of asterisk, freeswitch, kamailio \
         (e.g. \"asterisk:/var/log/asterisk/full\", \"freeswitch:/var/log/freeswitch/freeswitch.log\"). \
         Reading starts where the guard stopped if that was within the last hour (positions are kept in \
         the state store), else at the end of each file; rotated and truncated files are followed. \
         FreeSWITCH writes authentication failures only with log-auth-failures=true on the sofia profile, \
         and successful registrations (which earn a phone's address trust) only with the profile's \
         debug at 1 or more, for phones it handles as behind NAT."
    ),
    key!(
        "logs",
        "journal",
        Kind::TextList,
        logs.journal,
        "systemd units whose journal to follow, each as \"FORMAT:UNIT\" (e.g. \"asterisk:asterisk.service\", \
         \"kamailio:kamailio.service\"), for a PBX that logs to journald. Read through `journalctl --follow`; \
         where the guard stopped (the journal cursor) is kept in the state store and resumed within an hour."
    ),
    key!(
        "logs",
        "journal_directory",
        Kind::OptionalPath,
        logs.journal_directory,
        "A journal directory to read instead of the system journal (`journalctl --directory`), e.g. a \
         container's; empty: the system journal."
    ),
    key!(
        "logs",
        "kamailio_patterns",
        Kind::TextList,
        logs.kamailio_patterns,
        "How Kamailio lines are read, each as \"EVENT: TEMPLATE\". EVENT is auth_failed, unknown_user, \
         auth_succeeded, rejected or scanner; TEMPLATE is the line's text with {user}, {ip} (required), \
         {port}, {ua} and {any} placeholders, found anywhere in the line."
    ),
    key!(
        "audit",
        "suppress",
        Kind::TextList,
        audit.suppress,
        "Findings you accept, each \"RULE[@PATH[:LINE]] REASON\": the rule id (or *), optionally the file (exact, \
         a trailing part of the path, or a pattern with *) and line, then why. An entry without a reason is \
         an error. Inline alternative, in the audited file: `; pbxguard-audit: ignore RULE reason`."
    ),
];

/// Looks a key up by table and name.
pub fn find(table: &str, name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.table == table && k.name == name)
}

/// Whether `name` is a known table (including parents of tables, such as `rules`).
pub fn is_table(name: &str) -> bool {
    TABLES.iter().any(|t| t.name == name)
}
