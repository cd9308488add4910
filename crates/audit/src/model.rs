//! The values an audit works on and produces: source files, locations, findings, the report.

use std::fmt;

use crate::rules::Rule;

/// One configuration file handed to the audit: its path (as the caller wants it shown) and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path as it appears in findings, e.g. `etc/asterisk/sip.conf`.
    pub path: String,
    /// Full text of the file.
    pub text: String,
}

impl SourceFile {
    /// A source file from a path and its text.
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }
}

/// Index of a file in the audit's file table ([`Report::files`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub(crate) u32);

impl FileId {
    /// The index into [`Report::files`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A place in a file: 1-based line, and a 1-based column where the format has no useful lines (one-line JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    /// File the place is in.
    pub file: FileId,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, when known and useful.
    pub column: Option<u32>,
}

impl Loc {
    /// A line in a file, without column.
    pub fn line(file: FileId, line: u32) -> Self {
        Self {
            file,
            line,
            column: None,
        }
    }
}

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; not a hole by itself.
    Info,
    /// Weakens defence in depth.
    Low,
    /// A hole that needs another mistake to be exploited.
    Medium,
    /// A hole attackers use directly (break-in, enumeration, exposed control port).
    High,
    /// Direct path to toll fraud or full control of the PBX.
    Critical,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Lower-case name used in every output format and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses the lower-case name (case-insensitive).
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a suppression came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuppressedBy {
    /// A `pbxguard-audit: ignore RULE reason` comment in the audited file, at this location.
    Inline {
        /// Where the comment is.
        at: Loc,
        /// The reason written after the rule id.
        reason: String,
    },
    /// An entry of the suppression list passed in [`crate::Options::suppressions`].
    Config {
        /// Index in that list.
        index: usize,
        /// The entry's reason.
        reason: String,
    },
}

impl SuppressedBy {
    /// The reason given for the suppression.
    pub fn reason(&self) -> &str {
        match self {
            SuppressedBy::Inline { reason, .. } | SuppressedBy::Config { reason, .. } => reason,
        }
    }
}

/// One risk found in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule that fired.
    pub rule: &'static Rule,
    /// Severity (the rule's, unless the check raised or lowered it for this case).
    pub severity: Severity,
    /// Where to look and where the fix goes.
    pub loc: Loc,
    /// What was found here, with the concrete names and values.
    pub message: String,
    /// Set when a suppression matched; suppressed findings are kept so outputs can show them.
    pub suppressed: Option<SuppressedBy>,
}

/// Something the readers could not read or follow; the audit goes on without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    /// Where.
    pub loc: Loc,
    /// What could not be read, in words.
    pub reason: String,
}

/// What an audit produced.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every file read, roots and included ones, indexed by [`FileId`].
    pub files: Vec<String>,
    /// Findings, sorted by file, line, rule.
    pub findings: Vec<Finding>,
    /// What could not be read.
    pub unread: Vec<Unread>,
    /// Root files whose format the audit does not read (not audited).
    pub skipped: Vec<String>,
}

impl Report {
    /// Path of a file id (empty if unknown).
    pub fn path(&self, id: FileId) -> &str {
        self.files.get(id.index()).map_or("", String::as_str)
    }

    /// Findings that are not suppressed and at or above `min`.
    pub fn active(&self, min: Severity) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |f| f.suppressed.is_none() && f.severity >= min)
    }

    /// Whether any unsuppressed finding is at or above `min` (the CLI exits 1 then).
    pub fn fails(&self, min: Severity) -> bool {
        self.active(min).next().is_some()
    }

    /// `path:line` of a finding, the form tests and humans use.
    pub fn where_(&self, f: &Finding) -> String {
        format!("{}:{}", self.path(f.loc.file), f.loc.line)
    }
}
