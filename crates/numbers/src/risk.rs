//! The destination risk table: E.164 prefixes with a fraud risk level and a note.
//!
//! Number types alone miss most International Revenue Share Fraud: IRSF terminates on ordinary
//! fixed and mobile ranges of high-cost destinations. The table ships as
//! `data/destination-risk.txt` (with its sources) and a site can load its own copy.

use std::collections::HashMap;
use std::fmt;

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
    /// The E.164 prefix, digits only (no `+`).
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
        /// The prefix (digits).
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
                    "line {line}: prefix +{prefix} already listed on line {first_line}"
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
}

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
    /// blank lines are skipped, other lines are `+PREFIX LEVEL NOTE...`.
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
            let digits = prefix_text.strip_prefix('+').unwrap_or("");
            if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit())
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
            if let Some(&first) = first_line.get(digits) {
                errors.push(RiskTableError::PrefixDuplicated {
                    line,
                    first_line: first,
                    prefix: digits.to_owned(),
                });
                continue;
            }
            first_line.insert(digits.to_owned(), line);
            table.insert(RiskEntry {
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
        self.max_len = self.max_len.max(entry.prefix.len());
        if let Some(&i) = self.by_prefix.get(&entry.prefix) {
            if let Some(slot) = self.entries.get_mut(i) {
                *slot = entry;
            }
            return;
        }
        self.by_prefix
            .insert(entry.prefix.clone(), self.entries.len());
        self.entries.push(entry);
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
                    prefix: "44".into()
                },
            ]
        );
    }
}
