//! What is known about a destination: country, number type and fraud risk.

use std::fmt;

use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberType};

use crate::Country;
use crate::dial::{DialPlan, Dialled, E164};
use crate::risk::{RiskEntry, RiskLevel, RiskTable};

/// The type of a number range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum NumberType {
    /// Geographic fixed line.
    FixedLine,
    /// Mobile.
    Mobile,
    /// Fixed or mobile: the plan does not tell them apart (the NANP).
    FixedLineOrMobile,
    /// Free to the caller.
    TollFree,
    /// Premium rate: the called party earns from the call.
    PremiumRate,
    /// Shared cost.
    SharedCost,
    /// Non-geographic VoIP.
    Voip,
    /// Personal numbering (follow-me numbers such as UK 070, often abused).
    PersonalNumber,
    /// Pager.
    Pager,
    /// Universal access numbers (company numbers).
    Uan,
    /// Voicemail access.
    Voicemail,
    /// Satellite networks (+870 Inmarsat, +881 GMSS).
    Satellite,
    /// International networks without a country (+882, +883, +888).
    InternationalNetwork,
    /// Not in any known range.
    Unknown,
}

impl NumberType {
    /// All types, for configuration help and tests.
    pub const ALL: &'static [Self] = &[
        Self::FixedLine,
        Self::Mobile,
        Self::FixedLineOrMobile,
        Self::TollFree,
        Self::PremiumRate,
        Self::SharedCost,
        Self::Voip,
        Self::PersonalNumber,
        Self::Pager,
        Self::Uan,
        Self::Voicemail,
        Self::Satellite,
        Self::InternationalNetwork,
        Self::Unknown,
    ];

    /// The kebab-case name used in configuration and reports.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FixedLine => "fixed-line",
            Self::Mobile => "mobile",
            Self::FixedLineOrMobile => "fixed-line-or-mobile",
            Self::TollFree => "toll-free",
            Self::PremiumRate => "premium-rate",
            Self::SharedCost => "shared-cost",
            Self::Voip => "voip",
            Self::PersonalNumber => "personal-number",
            Self::Pager => "pager",
            Self::Uan => "uan",
            Self::Voicemail => "voicemail",
            Self::Satellite => "satellite",
            Self::InternationalNetwork => "international-network",
            Self::Unknown => "unknown",
        }
    }

    /// Parses the name produced by [`NumberType::as_str`].
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.as_str().eq_ignore_ascii_case(text))
    }

    /// The risk this type carries on its own, whatever the destination.
    #[must_use]
    pub const fn inherent_risk(self) -> RiskLevel {
        match self {
            Self::PremiumRate | Self::Satellite | Self::InternationalNetwork => RiskLevel::High,
            Self::SharedCost | Self::PersonalNumber | Self::Pager | Self::Unknown => {
                RiskLevel::Medium
            }
            _ => RiskLevel::Low,
        }
    }

    fn from_metadata(t: PhoneNumberType) -> Self {
        match t {
            PhoneNumberType::FixedLine => Self::FixedLine,
            PhoneNumberType::Mobile => Self::Mobile,
            PhoneNumberType::FixedLineOrMobile => Self::FixedLineOrMobile,
            PhoneNumberType::TollFree => Self::TollFree,
            PhoneNumberType::PremiumRate => Self::PremiumRate,
            PhoneNumberType::SharedCost => Self::SharedCost,
            PhoneNumberType::VoIP => Self::Voip,
            PhoneNumberType::PersonalNumber => Self::PersonalNumber,
            PhoneNumberType::Pager => Self::Pager,
            PhoneNumberType::UAN => Self::Uan,
            PhoneNumberType::VoiceMail => Self::Voicemail,
            PhoneNumberType::Unknown => Self::Unknown,
        }
    }
}

impl fmt::Display for NumberType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a destination got its risk level.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RiskReason {
    /// Nothing raised it.
    Ordinary,
    /// A risk table entry.
    Table {
        /// The entry's prefix (digits).
        prefix: String,
        /// The entry's note.
        note: String,
    },
    /// A short-code entry of the risk table.
    ShortCode {
        /// The country of the dial plan.
        country: Country,
        /// The entry's leading digits.
        prefix: String,
        /// The entry's note.
        note: String,
    },
    /// The number type alone.
    NumberType(NumberType),
    /// The number is not valid in any known range of its country.
    InvalidNumber,
}

impl fmt::Display for RiskReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ordinary => f.write_str("ordinary destination"),
            Self::Table { prefix, note } => write!(f, "risk table +{prefix}: {note}"),
            Self::ShortCode {
                country,
                prefix,
                note,
            } => write!(f, "risk table {country}:{prefix}: {note}"),
            Self::NumberType(t) => write!(f, "number type {t}"),
            Self::InvalidNumber => f.write_str("not a valid number of its country"),
        }
    }
}

/// An external destination, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The number.
    pub number: E164,
    /// Its country, `None` for non-geographic codes (satellite, international networks, +800).
    pub country: Option<Country>,
    /// Its type.
    pub number_type: NumberType,
    /// Whether libphonenumber knows the range as valid.
    pub valid: bool,
    /// Whether the call leaves the dial plan's country (non-geographic numbers always do).
    pub international: bool,
    /// The fraud risk.
    pub risk: RiskLevel,
    /// Why that risk.
    pub risk_reason: RiskReason,
}

/// A dialled string, read and classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// What it is.
    pub dialled: Dialled,
    /// For external numbers, what is known about the destination.
    pub destination: Option<Destination>,
    /// For a national short code the risk table lists (directory enquiries and other codes
    /// billed at premium rates), its level and why.
    pub short_code_risk: Option<(RiskLevel, RiskReason)>,
}

impl Classification {
    /// Whether this is an emergency call (never refused).
    #[must_use]
    pub fn is_emergency(&self) -> bool {
        self.dialled.is_emergency()
    }

    /// Whether the call leaves the country of the dial plan.
    #[must_use]
    pub fn is_international(&self) -> bool {
        self.destination.as_ref().is_some_and(|d| d.international)
    }

    /// The fraud risk: the destination's; for a short code, the risk table's level (`Low` when
    /// it is not listed); `Low` for emergency numbers and extensions; `Medium` for digit strings
    /// no plan explains.
    #[must_use]
    pub fn risk(&self) -> RiskLevel {
        match (&self.destination, &self.dialled) {
            (Some(d), _) => d.risk,
            (None, _) if self.short_code_risk.is_some() => self
                .short_code_risk
                .as_ref()
                .map_or(RiskLevel::Low, |(level, _)| *level),
            // A SIP user name such as "alice" stays inside the PBX; digits no plan explains do not.
            (
                None,
                Dialled::Unrecognised {
                    reason: crate::dial::Unrecognised::NotANumber { .. },
                    ..
                },
            ) => RiskLevel::Medium,
            (None, _) => RiskLevel::Low,
        }
    }
}

/// Classifies numbers against number metadata and a destination risk table.
#[derive(Debug, Clone)]
pub struct Classifier {
    risk: RiskTable,
}

impl Default for Classifier {
    fn default() -> Self {
        Self::new(RiskTable::builtin())
    }
}

impl Classifier {
    /// A classifier using `risk` as its destination risk table.
    #[must_use]
    pub fn new(risk: RiskTable) -> Self {
        Self { risk }
    }

    /// The risk table in use.
    #[must_use]
    pub fn risk_table(&self) -> &RiskTable {
        &self.risk
    }

    /// Reads `dialled` through `plan` and classifies it.
    #[must_use]
    pub fn classify(&self, plan: &DialPlan, dialled: &str) -> Classification {
        let dialled = plan.normalise(dialled);
        let destination = dialled
            .e164()
            .map(|n| self.destination(n, Some(plan.country)));
        let short_code_risk = match &dialled {
            Dialled::ShortCode { number } => {
                self.risk.lookup_short_code(plan.country, number).map(|e| {
                    (
                        e.level,
                        RiskReason::ShortCode {
                            country: plan.country,
                            prefix: e.prefix.clone(),
                            note: e.note.clone(),
                        },
                    )
                })
            }
            _ => None,
        };
        Classification {
            dialled,
            destination,
            short_code_risk,
        }
    }

    /// Classifies an E.164 number; `home` is the caller's country (for
    /// [`Destination::international`]; `None` counts every number as international).
    #[must_use]
    pub fn destination(&self, number: &E164, home: Option<Country>) -> Destination {
        let parsed = number.parsed();
        let code = number.calling_code();
        let country = PHONE_NUMBER_UTIL
            .get_region_for_number(parsed)
            .and_then(|r| Country::new(&r.to_string()).ok());
        let number_type = match code {
            870 | 881 => NumberType::Satellite,
            882 | 883 | 888 => NumberType::InternationalNetwork,
            979 => NumberType::PremiumRate,
            808 => NumberType::SharedCost,
            800 => NumberType::TollFree,
            _ => NumberType::from_metadata(PHONE_NUMBER_UTIL.get_number_type(parsed)),
        };
        let valid = PHONE_NUMBER_UTIL.is_valid_number(parsed);
        let international = match (country, home) {
            (Some(c), Some(h)) => c != h,
            _ => true,
        };
        let (risk, risk_reason) = self.risk_of(number, number_type, valid, international);
        Destination {
            number: number.clone(),
            country,
            number_type,
            valid,
            international,
            risk,
            risk_reason,
        }
    }

    fn risk_of(
        &self,
        number: &E164,
        number_type: NumberType,
        valid: bool,
        international: bool,
    ) -> (RiskLevel, RiskReason) {
        let table = self.risk.lookup(number.digits());
        let type_level = number_type.inherent_risk();
        // An unknown type on an invalid number is reported as invalid rather than as "unknown type".
        let type_level = if number_type == NumberType::Unknown && !international {
            RiskLevel::Low
        } else {
            type_level
        };
        let mut best = (RiskLevel::Low, RiskReason::Ordinary);
        if let Some(RiskEntry {
            prefix,
            level,
            note,
            ..
        }) = table
        {
            best = (
                *level,
                RiskReason::Table {
                    prefix: prefix.clone(),
                    note: note.clone(),
                },
            );
        }
        if type_level > best.0 {
            best = (type_level, RiskReason::NumberType(number_type));
        }
        if !valid && international && best.0 < RiskLevel::Medium {
            best = (RiskLevel::Medium, RiskReason::InvalidNumber);
        }
        best
    }
}
