//! The destination risk table: E.164 prefixes with a fraud risk level and a note, and national
//! short codes per country (`GB:118`: directory enquiries at premium rates).
//!
//! Number types alone miss most International Revenue Share Fraud: IRSF terminates on ordinary
//! fixed and mobile ranges of high-cost destinations. Short codes have no E.164 form and no type
//! in the number metadata, yet some are billed at premium rates (directory enquiries above all),
//! which makes them a way to earn from a hijacked PBX without leaving the country. The table
//! ships as `data/destination-risk.txt` (with its sources) and a site can load its own copy.

use std::collections::HashMap;
use std::fmt;

use crate::Country;

/// How likely a destination is to be used for toll fraud. Ordered: `Low < Medium < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RiskLevel {
    /// Ordinary destination.
    Low,
    /// Elevated termination cost or some fraud history.
    Medium,
    /// A known IRSF target or a premium/satellite range.
    High,
}

impl RiskLevel {
    /// The lower-case name used in the table file and in reports.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// Parses `low`, `medium` or `high` (any case).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            _ => None,
        }
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskEntry {
    /// For a short-code entry, the country whose dial plan it belongs to; `None` for an E.164
    /// prefix.
    pub country: Option<Country>,
    /// The E.164 prefix, or the short code's leading digits; digits only (no `+`).
    pub prefix: String,
    /// Its risk level.
    pub level: RiskLevel,
    /// Why it is listed, with its source.
    pub note: String,
}

/// A mistake in a risk table file. Line numbers start at 1.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RiskTableError {
    /// The line has a prefix but no level.
    LevelMissing {
        /// Line number.
        line: usize,
    },
    /// The prefix is not `+` followed by 1 to 15 digits.
    PrefixNotE164 {
        /// Line number.
        line: usize,
        /// The text found.
        prefix: String,
    },
    /// A short-code entry is not `CC:DIGITS` (a two-letter country, then 1 to 6 digits).
    ShortCodeMalformed {
        /// Line number.
        line: usize,
        /// The text found.
        text: String,
    },
    /// The level is not `low`, `medium` or `high`.
    LevelUnknown {
        /// Line number.
        line: usize,
        /// The text found.
        level: String,
    },
    /// The prefix was already listed on an earlier line.
    PrefixDuplicated {
        /// Line number of the repeat.
        line: usize,
        /// Line number of the first entry.
        first_line: usize,
        /// The prefix as written (`+44`, `GB:118`).
        prefix: String,
    },
}

impl fmt::Display for RiskTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LevelMissing { line } => write!(f, "line {line}: risk level missing"),
            Self::PrefixNotE164 { line, prefix } => {
                write!(
                    f,
                    "line {line}: {prefix:?} is not '+' followed by 1-15 digits"
                )
            }
            Self::ShortCodeMalformed { line, text } => write!(
                f,
                "line {line}: {text:?} is not a short code COUNTRY:DIGITS such as GB:118"
            ),
            Self::LevelUnknown { line, level } => {
                write!(
                    f,
                    "line {line}: risk level {level:?} is not low, medium or high"
                )
            }
            Self::PrefixDuplicated {
                line,
                first_line,
                prefix,
            } => {
                write!(
                    f,
                    "line {line}: prefix {prefix} already listed on line {first_line}"
                )
            }
        }
    }
}

impl std::error::Error for RiskTableError {}

/// The shipped table's text.
pub const BUILTIN_TABLE: &str = include_str!("../data/destination-risk.txt");

/// A longest-prefix lookup table of destination risks.
#[derive(Debug, Clone, Default)]
pub struct RiskTable {
    entries: Vec<RiskEntry>,
    by_prefix: HashMap<String, usize>,
    max_len: usize,
    short_codes: HashMap<(Country, String), usize>,
    short_max_len: usize,
}

/// The longest short code the table accepts, as the dial plan's short codes.
const SHORT_CODE_DIGITS_MAX: usize = 6;

impl RiskTable {
    /// The table shipped with pbxguard (`data/destination-risk.txt`).
    #[must_use]
    pub fn builtin() -> Self {
        // The shipped file is checked by a unit test; an empty table is the fallback that
        // can never be reached in a released build.
        Self::parse(BUILTIN_TABLE).unwrap_or_default()
    }

    /// An empty table: only number types raise the risk.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses a table in the format of `data/destination-risk.txt`: `#` starts a comment line,
    /// blank lines are skipped, other lines are `+PREFIX LEVEL NOTE...` (an E.164 prefix) or
    /// `CC:DIGITS LEVEL NOTE...` (a national short code of country `CC` and the codes it starts).
    ///
    /// # Errors
    /// Every mistake found, each with its line number.
    pub fn parse(text: &str) -> Result<Self, Vec<RiskTableError>> {
        let mut table = Self::default();
        let mut errors = Vec::new();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        for (idx, raw) in text.lines().enumerate() {
            let line = idx + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (prefix_text, rest) = split_word(trimmed);
            let (level_text, note) = split_word(rest);
            let note = note.to_owned();
            let (country, digits) = match prefix_text.split_once(':') {
                Some((cc, digits)) => match Country::new(cc) {
                    Ok(c)
                        if (1..=SHORT_CODE_DIGITS_MAX).contains(&digits.len())
                            && digits.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        (Some(c), digits)
                    }
                    _ => {
                        errors.push(RiskTableError::ShortCodeMalformed {
                            line,
                            text: prefix_text.to_owned(),
                        });
                        continue;
                    }
                },
                None => (None, prefix_text.strip_prefix('+').unwrap_or("")),
            };
            if country.is_none()
                && (digits.is_empty()
                    || digits.len() > 15
                    || !digits.bytes().all(|b| b.is_ascii_digit()))
            {
                errors.push(RiskTableError::PrefixNotE164 {
                    line,
                    prefix: prefix_text.to_owned(),
                });
                continue;
            }
            if level_text.is_empty() {
                errors.push(RiskTableError::LevelMissing { line });
                continue;
            }
            let Some(level) = RiskLevel::parse(level_text) else {
                errors.push(RiskTableError::LevelUnknown {
                    line,
                    level: level_text.to_owned(),
                });
                continue;
            };
            let written = match country {
                Some(c) => format!("{c}:{digits}"),
                None => format!("+{digits}"),
            };
            if let Some(&first) = first_line.get(&written) {
                errors.push(RiskTableError::PrefixDuplicated {
                    line,
                    first_line: first,
                    prefix: written,
                });
                continue;
            }
            first_line.insert(written, line);
            table.insert(RiskEntry {
                country,
                prefix: digits.to_owned(),
                level,
                note,
            });
        }
        if errors.is_empty() {
            Ok(table)
        } else {
            Err(errors)
        }
    }

    /// Adds or replaces an entry.
    pub fn insert(&mut self, entry: RiskEntry) {
        let existing = match entry.country {
            Some(c) => {
                self.short_max_len = self.short_max_len.max(entry.prefix.len());
                self.short_codes.get(&(c, entry.prefix.clone())).copied()
            }
            None => {
                self.max_len = self.max_len.max(entry.prefix.len());
                self.by_prefix.get(&entry.prefix).copied()
            }
        };
        if let Some(i) = existing {
            if let Some(slot) = self.entries.get_mut(i) {
                *slot = entry;
            }
            return;
        }
        let index = self.entries.len();
        match entry.country {
            Some(c) => self.short_codes.insert((c, entry.prefix.clone()), index),
            None => self.by_prefix.insert(entry.prefix.clone(), index),
        };
        self.entries.push(entry);
    }

    /// The short-code entry of `country` with the longest prefix of `digits` (a short code as
    /// dialled, outside-line prefix removed).
    #[must_use]
    pub fn lookup_short_code(&self, country: Country, digits: &str) -> Option<&RiskEntry> {
        let longest = digits.len().min(self.short_max_len);
        (1..=longest).rev().find_map(|len| {
            let prefix = digits.get(..len)?;
            self.short_codes
                .get(&(country, prefix.to_owned()))
                .and_then(|&i| self.entries.get(i))
        })
    }

    /// The entry with the longest prefix of `e164_digits` (an E.164 number without `+`).
    #[must_use]
    pub fn lookup(&self, e164_digits: &str) -> Option<&RiskEntry> {
        let digits = e164_digits.strip_prefix('+').unwrap_or(e164_digits);
        let longest = digits.len().min(self.max_len);
        (1..=longest).rev().find_map(|len| {
            let prefix = digits.get(..len)?;
            self.by_prefix
                .get(prefix)
                .and_then(|&i| self.entries.get(i))
        })
    }

    /// All entries, in file order.
    #[must_use]
    pub fn entries(&self) -> &[RiskEntry] {
        &self.entries
    }
}

/// Splits off the first whitespace-separated word; the rest is trimmed.
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (text, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_parses_cleanly() {
        let table = RiskTable::parse(BUILTIN_TABLE).unwrap();
        assert!(table.entries().len() > 50);
        assert!(table.entries().iter().all(|e| !e.note.is_empty()));
    }

    #[test]
    fn longest_prefix_wins() {
        let table = RiskTable::parse("+1 low North America\n+1876 high Jamaica\n").unwrap();
        assert_eq!(table.lookup("18765550100").unwrap().level, RiskLevel::High);
        assert_eq!(table.lookup("+12125550100").unwrap().level, RiskLevel::Low);
        assert!(table.lookup("442071234567").is_none());
    }

    #[test]
    fn satellite_is_high_in_shipped_table() {
        let table = RiskTable::builtin();
        assert_eq!(table.lookup("881631234567").unwrap().level, RiskLevel::High);
        assert_eq!(table.lookup("8823212345").unwrap().level, RiskLevel::High);
    }

    #[test]
    fn short_codes_are_per_country_and_longest_prefix_wins() {
        let table = RiskTable::parse(
            "+44 low UK\nGB:118 high directory\nGB:118500 low a free one\nDE:118 high Auskunft\n",
        )
        .unwrap();
        let gb = Country::new("GB").unwrap();
        let de = Country::new("DE").unwrap();
        let fr = Country::new("FR").unwrap();
        assert_eq!(
            table.lookup_short_code(gb, "118118").unwrap().level,
            RiskLevel::High
        );
        assert_eq!(
            table.lookup_short_code(gb, "118500").unwrap().level,
            RiskLevel::Low
        );
        assert_eq!(
            table.lookup_short_code(de, "11880").unwrap().note,
            "Auskunft"
        );
        assert!(table.lookup_short_code(fr, "118218").is_none());
        assert!(table.lookup_short_code(gb, "11").is_none());
        // Short codes are not E.164 prefixes, nor the other way round.
        assert!(table.lookup("118118").is_none());
        assert!(table.lookup_short_code(gb, "44").is_none());
    }

    #[test]
    fn shipped_short_codes_cover_directory_enquiries_across_europe_and_north_america() {
        let table = RiskTable::builtin();
        for (cc, code) in [
            ("GB", "118118"),
            ("DE", "11880"),
            ("FR", "118712"),
            ("IE", "11811"),
            ("ES", "11822"),
            ("AT", "118877"),
            ("IT", "1254"),
            ("NL", "1888"),
        ] {
            let e = table
                .lookup_short_code(Country::new(cc).unwrap(), code)
                .unwrap_or_else(|| panic!("{cc} {code}"));
            assert_eq!(e.level, RiskLevel::High, "{cc} {code}");
        }
        assert_eq!(
            table
                .lookup_short_code(Country::new("US").unwrap(), "411")
                .unwrap()
                .level,
            RiskLevel::Medium
        );
    }

    #[test]
    fn malformed_short_codes_are_reported() {
        let errs = RiskTable::parse(
            "GBR:118 high x\nGB:11a high x\nGB:1181181 high x\nGB:118 high x\nGB:118 low again\n",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(matches!(
            errs[0],
            RiskTableError::ShortCodeMalformed { line: 1, .. }
        ));
        assert!(matches!(
            errs[2],
            RiskTableError::ShortCodeMalformed { line: 3, .. }
        ));
        assert_eq!(
            errs[3].to_string(),
            "line 5: prefix GB:118 already listed on line 4"
        );
    }

    #[test]
    fn every_mistake_is_reported_with_its_line() {
        let errs =
            RiskTable::parse("# c\n+44 low ok\n44 low x\n+33\n+49 extreme x\n+44 high again\n")
                .unwrap_err();
        assert_eq!(
            errs,
            vec![
                RiskTableError::PrefixNotE164 {
                    line: 3,
                    prefix: "44".into()
                },
                RiskTableError::LevelMissing { line: 4 },
                RiskTableError::LevelUnknown {
                    line: 5,
                    level: "extreme".into()
                },
                RiskTableError::PrefixDuplicated {
                    line: 6,
                    first_line: 2,
                    prefix: "+44".into()
                },
            ]
        );
    }
}
