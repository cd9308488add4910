//! What the engine decides: bans, unbans, alerts and inline verdicts.

use std::fmt;
use std::time::Duration;

use ipnet::IpNet;

use crate::observation::Timestamp;

/// The detector (or operator) behind a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Detector {
    /// Rejected credentials from one source.
    AuthFailures,
    /// Rejected credentials for one user from one source (alerts only).
    UserAuthFailures,
    /// Challenges never answered with credentials.
    UnansweredChallenges,
    /// Many distinct users probed.
    Enumeration,
    /// Packet rate above level 1.
    RateLevel1,
    /// Packet rate above level 2.
    RateLevel2,
    /// Too many packets from a source that never authenticated.
    UnknownSource,
    /// A known scanner's signature.
    Scanner,
    /// Too many malformed messages.
    Malformed,
    /// A ban added by an operator.
    Manual,
    /// A call the call policy refuses (toll-fraud defence).
    CallPolicy,
}

impl Detector {
    /// A stable lowercase name for logs, the API and the store.
    pub fn name(self) -> &'static str {
        match self {
            Detector::AuthFailures => "auth-failures",
            Detector::UserAuthFailures => "user-auth-failures",
            Detector::UnansweredChallenges => "unanswered-challenges",
            Detector::Enumeration => "enumeration",
            Detector::RateLevel1 => "rate-level1",
            Detector::RateLevel2 => "rate-level2",
            Detector::UnknownSource => "unknown-source",
            Detector::Scanner => "scanner",
            Detector::Malformed => "malformed",
            Detector::Manual => "manual",
            Detector::CallPolicy => "call-policy",
        }
    }

    /// Parses a name produced by [`Detector::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|d| d.name() == name)
    }

    /// Every detector, in a fixed order.
    pub const ALL: [Detector; 11] = [
        Detector::AuthFailures,
        Detector::UserAuthFailures,
        Detector::UnansweredChallenges,
        Detector::Enumeration,
        Detector::RateLevel1,
        Detector::RateLevel2,
        Detector::UnknownSource,
        Detector::Scanner,
        Detector::Malformed,
        Detector::Manual,
        Detector::CallPolicy,
    ];
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a detector fired: the numbers and samples an operator needs to judge the ban.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Evidence {
    /// The count that crossed the threshold (an estimate for windowed counts).
    pub count: u32,
    /// The threshold it crossed.
    pub threshold: u32,
    /// The window the count covers.
    pub window: Duration,
    /// A user the source targeted, when known.
    pub sample_user: Option<String>,
    /// A User-Agent the source sent, when known.
    pub sample_user_agent: Option<String>,
    /// What else explains the decision (for the call policy: the rule and the destination).
    pub detail: Option<String>,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ≥ {} in {}s",
            self.count,
            self.threshold,
            self.window.as_secs()
        )?;
        if let Some(u) = &self.sample_user {
            write!(f, ", user {u:?}")?;
        }
        if let Some(ua) = &self.sample_user_agent {
            write!(f, ", user-agent {ua:?}")?;
        }
        if let Some(d) = &self.detail {
            write!(f, ", {d}")?;
        }
        Ok(())
    }
}

/// A ban of one source (an address, or an IPv6 prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// What is banned.
    pub target: IpNet,
    /// When it was decided.
    pub at: Timestamp,
    /// When it ends.
    pub until: Timestamp,
    /// The detector that fired.
    pub detector: Detector,
    /// The numbers behind it.
    pub evidence: Evidence,
    /// 1 for a first offence, 2 for the second within the recidive window, and so on.
    pub offence: u32,
}

/// Why a ban ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnbanReason {
    /// Its time ran out.
    Expired,
    /// An operator lifted it.
    Manual,
}

/// Something for an operator to know that is not a ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The source concerned.
    pub source: IpNet,
    /// When.
    pub at: Timestamp,
    /// The detector.
    pub detector: Detector,
    /// Why this is an alert and not a ban.
    pub kind: AlertKind,
    /// The numbers behind it.
    pub evidence: Evidence,
}

/// Why an alert was raised instead of a ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertKind {
    /// One user keeps failing from a source: a phone with a wrong password, or a targeted guess.
    UserFailing,
    /// A detector fired for a trunk, which is never banned.
    TrunkMisbehaving,
    /// The call policy refused a call (inline mode answered it with 403, or 503 when a carrier offered it
    /// on a trunk at its concurrent-call cap).
    CallRefused,
    /// The PBX placed a call on a trunk already at its concurrent-call cap. The guard cannot hold back
    /// the PBX's own requests, so it reports; the call is counted, and calls offered on the trunk are
    /// refused until it is below its cap again.
    TrunkOverCap,
}

/// A decision for the enforcers, pulled with [`crate::Engine::poll_decision`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Drop everything from the target until the ban ends.
    Ban(Ban),
    /// Lift a ban.
    Unban {
        /// What was banned.
        target: IpNet,
        /// When.
        at: Timestamp,
        /// Why.
        reason: UnbanReason,
    },
    /// Tell the operator.
    Alert(Alert),
}

/// What to do with the packet in hand (used by the inline sensor; capture mode ignores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Let it through.
    Accept,
    /// Drop it silently: a banned or blocked source, a scanner, or the packet that crossed a threshold.
    Drop,
    /// Answer it with this final status code instead of passing it on.
    Reject(u16),
}
