//! Two-step parsing: TOML syntax first, then meaning, with every mistake reported at once.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::keys::{self, Key};
use crate::model::Config;
use crate::value::{Kind, Value, parse_duration, parse_network};

/// What is wrong with one place in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The file is not valid TOML.
    Syntax {
        /// The TOML parser's message.
        message: String,
    },
    /// A key that no table defines.
    UnknownKey {
        /// The dotted table the key was found in (empty for the top level).
        table: String,
        /// The key as written.
        key: String,
        /// The closest known key, when one is close.
        suggestion: Option<String>,
    },
    /// A table that does not exist.
    UnknownTable {
        /// The table as written.
        table: String,
        /// The closest known table, when one is close.
        suggestion: Option<String>,
    },
    /// A known key whose value has the wrong type or is out of range.
    InvalidValue {
        /// `table.key`.
        key: String,
        /// What the key accepts.
        expected: String,
        /// What is wrong with the value given.
        found: String,
    },
    /// Values that are each valid but contradict each other.
    Inconsistent {
        /// `table.key` of the value that has to change.
        key: String,
        /// Why the combination is wrong.
        message: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Syntax { message } => write!(f, "invalid TOML: {message}"),
            Problem::UnknownKey {
                table,
                key,
                suggestion,
            } => {
                if table.is_empty() {
                    write!(f, "unknown key `{key}` at the top level")?;
                } else {
                    write!(f, "unknown key `{key}` in [{table}]")?;
                }
                if let Some(s) = suggestion {
                    write!(f, ", did you mean `{s}`?")?;
                }
                Ok(())
            }
            Problem::UnknownTable { table, suggestion } => {
                write!(f, "unknown table [{table}]")?;
                if let Some(s) = suggestion {
                    write!(f, ", did you mean [{s}]?")?;
                }
                Ok(())
            }
            Problem::InvalidValue {
                key,
                expected,
                found,
            } => {
                write!(f, "`{key}` must be {expected}; {found}")
            }
            Problem::Inconsistent { key, message } => write!(f, "`{key}`: {message}"),
        }
    }
}

/// One mistake, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or `<built-in>`) the mistake is in.
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.origin, self.line, self.column, self.problem
        )
    }
}

/// A configuration that could not be accepted, with every mistake found in it, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The mistakes; never empty.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

struct Parser<'a> {
    text: &'a str,
    origin: &'a str,
    diagnostics: Vec<Diagnostic>,
    /// Where each key that was set appears, for checks that involve several keys.
    seen: Vec<(&'static Key, Range<usize>)>,
}

impl Parser<'_> {
    fn report(&mut self, span: Range<usize>, problem: Problem) {
        let (line, column) = line_col(self.text, span.start);
        self.diagnostics.push(Diagnostic {
            origin: self.origin.to_owned(),
            line,
            column,
            problem,
        });
    }

    fn walk_table(&mut self, path: &str, table: &DeTable<'_>, config: &mut Config) {
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let key_span = key.span();
            match value.get_ref() {
                DeValue::Table(inner) => {
                    let child = if path.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{path}.{name}")
                    };
                    if keys::is_table(&child) {
                        self.walk_table(&child, inner, config);
                    } else {
                        let suggestion =
                            closest(&child, keys::TABLES.iter().map(|t| t.name)).map(str::to_owned);
                        self.report(
                            key_span,
                            Problem::UnknownTable {
                                table: child,
                                suggestion,
                            },
                        );
                    }
                }
                other => match keys::find(path, name) {
                    Some(k) => match convert(k.kind, other) {
                        Ok(v) => {
                            k.set(config, v);
                            self.seen.push((k, value.span()));
                        }
                        Err(found) => self.report(
                            value.span(),
                            Problem::InvalidValue {
                                key: k.path(),
                                expected: k.kind.describe(),
                                found,
                            },
                        ),
                    },
                    None => {
                        let in_table = keys::KEYS
                            .iter()
                            .filter(|k| k.table == path)
                            .map(|k| k.name);
                        let suggestion = closest(name, in_table).map(str::to_owned).or_else(|| {
                            // A key written in the wrong table: name the table where it lives.
                            let elsewhere: Vec<_> =
                                keys::KEYS.iter().filter(|k| k.name == name).collect();
                            match elsewhere.as_slice() {
                                [only] => Some(format!("[{}] {}", only.table, only.name)),
                                _ => None,
                            }
                        });
                        self.report(
                            key_span,
                            Problem::UnknownKey {
                                table: path.to_owned(),
                                key: name.to_owned(),
                                suggestion,
                            },
                        );
                    }
                },
            }
        }
    }

    fn span_of(&self, table: &str, name: &str) -> Range<usize> {
        self.seen
            .iter()
            .rev()
            .find(|(k, _)| k.table == table && k.name == name)
            .map_or(0..0, |(_, s)| s.clone())
    }

    /// Each `[logs] KEY` entry must be `FORMAT:REST` with a known format and `rest_ok(REST)`.
    fn check_log_entries(
        &mut self,
        key: &str,
        entries: &[String],
        rest_ok: impl Fn(&str) -> bool,
        expected: &str,
    ) {
        for entry in entries {
            let ok = entry.split_once(':').is_some_and(|(format, rest)| {
                crate::model::LOG_FORMATS.contains(&format) && rest_ok(rest)
            });
            if !ok {
                let span = self.span_of("logs", key);
                self.report(
                    span,
                    Problem::Inconsistent {
                        key: format!("logs.{key}"),
                        message: format!("`{entry}` is not {expected}"),
                    },
                );
            }
        }
    }

    /// Checks that involve several keys; reported at the key that has to change.
    fn check_consistency(&mut self, c: &Config) {
        if c.guard.sip_ports.is_empty() {
            let span = self.span_of("guard", "sip_ports");
            self.report(
                span,
                Problem::Inconsistent {
                    key: "guard.sip_ports".to_owned(),
                    message: "needs at least one port, or the guard watches nothing".to_owned(),
                },
            );
        }
        let r = &c.rules.rate;
        if r.enabled && r.level2_rate <= r.level1_rate {
            let span = self.span_of("rules.rate", "level2_rate");
            self.report(
                span,
                Problem::Inconsistent {
                    key: "rules.rate.level2_rate".to_owned(),
                    message: format!(
                        "level 2 ({}/s) must be above level 1 ({}/s): level 2 is the one trusted sources \
                         are held to",
                        r.level2_rate, r.level1_rate
                    ),
                },
            );
        }
        let a = &c.rules.auth;
        if a.enabled
            && a.max_failures_per_user > a.max_failures.saturating_mul(c.trust.threshold_factor)
        {
            let span = self.span_of("rules.auth", "max_failures_per_user");
            self.report(
                span,
                Problem::Inconsistent {
                    key: "rules.auth.max_failures_per_user".to_owned(),
                    message: "the per-user alert would never fire before the source is banned; make it at \
                              most max_failures × [trust] threshold_factor"
                        .to_owned(),
                },
            );
        }
        let bans = [
            ("rules.auth", "ban_time", a.ban_time),
            ("rules.challenge", "ban_time", c.rules.challenge.ban_time),
            (
                "rules.enumeration",
                "ban_time",
                c.rules.enumeration.ban_time,
            ),
            ("rules.rate", "level1_ban_time", r.level1_ban_time),
            ("rules.rate", "level2_ban_time", r.level2_ban_time),
            ("rules.rate", "unknown_ban_time", r.unknown_ban_time),
            ("rules.scanner", "ban_time", c.rules.scanner.ban_time),
            ("rules.malformed", "ban_time", c.rules.malformed.ban_time),
        ];
        for (table, name, time) in bans {
            if time > c.bans.max_ban_time {
                let span = self.span_of(table, name);
                self.report(
                    span,
                    Problem::Inconsistent {
                        key: format!("{table}.{name}"),
                        message: format!(
                            "is longer than [bans] max_ban_time ({})",
                            crate::value::format_duration(c.bans.max_ban_time)
                        ),
                    },
                );
            }
        }
        let formats = crate::model::LOG_FORMATS.join(", ");
        self.check_log_entries(
            "files",
            &c.logs.files,
            |path| path.starts_with('/'),
            &format!("FORMAT:/absolute/path with FORMAT one of {formats}"),
        );
        self.check_log_entries(
            "journal",
            &c.logs.journal,
            |unit| {
                !unit.is_empty() && !unit.starts_with('-') && !unit.contains(char::is_whitespace)
            },
            &format!(
                "FORMAT:UNIT (e.g. \"asterisk:asterisk.service\") with FORMAT one of {formats}"
            ),
        );
        for pattern in &c.logs.kamailio_patterns {
            let event_ok = pattern
                .split_once(':')
                .is_some_and(|(event, _)| crate::model::LOG_PATTERN_EVENTS.contains(&event.trim()));
            if !event_ok || pattern.matches("{ip}").count() != 1 {
                let span = self.span_of("logs", "kamailio_patterns");
                self.report(
                    span,
                    Problem::Inconsistent {
                        key: "logs.kamailio_patterns".to_owned(),
                        message: format!(
                            "`{pattern}` is not \"EVENT: TEMPLATE\" with EVENT one of {} and exactly one {{ip}}",
                            crate::model::LOG_PATTERN_EVENTS.join(", ")
                        ),
                    },
                );
            }
        }
        for net in &c.lists.allow {
            if net.prefix_len() == 0 {
                let span = self.span_of("lists", "allow");
                self.report(
                    span,
                    Problem::Inconsistent {
                        key: "lists.allow".to_owned(),
                        message: format!(
                            "`{net}` allows the whole internet, which disables every ban"
                        ),
                    },
                );
            }
        }
    }
}

/// Converts a TOML value to the key's kind, or says what is wrong with it.
fn convert(kind: Kind, value: &DeValue<'_>) -> Result<Value, String> {
    fn type_name(v: &DeValue<'_>) -> &'static str {
        match v {
            DeValue::String(_) => "a string",
            DeValue::Integer(_) => "an integer",
            DeValue::Float(_) => "a float",
            DeValue::Boolean(_) => "a boolean",
            DeValue::Datetime(_) => "a date-time",
            DeValue::Array(_) => "an array",
            DeValue::Table(_) => "a table",
        }
    }
    let wrong = || format!("found {}", type_name(value));
    fn strings<'v>(value: &'v DeValue<'_>) -> Result<Vec<&'v str>, String> {
        let DeValue::Array(items) = value else {
            return Err("found a single value; write a list such as [\"…\"]".to_owned());
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item.get_ref() {
                DeValue::String(s) => Ok(s.as_ref()),
                _ => Err(format!("item {} is not a string", i + 1)),
            })
            .collect()
    }
    match kind {
        Kind::Bool => match value {
            DeValue::Boolean(b) => Ok(Value::Bool(*b)),
            _ => Err(wrong()),
        },
        Kind::Count { min, max } => {
            let DeValue::Integer(i) = value else {
                return Err(wrong());
            };
            let digits: String = i.as_str().chars().filter(|c| *c != '_').collect();
            let n = i64::from_str_radix(
                digits
                    .trim_start_matches("0x")
                    .trim_start_matches("0o")
                    .trim_start_matches("0b"),
                i.radix(),
            )
            .map_err(|_| format!("found `{}`, which is out of range", i.as_str()))?;
            match u64::try_from(n) {
                Ok(n) if (min..=max).contains(&n) => Ok(Value::Count(n)),
                _ => Err(format!("found {n}")),
            }
        }
        Kind::Duration { min, max } => {
            let DeValue::String(s) = value else {
                return Err(match value {
                    DeValue::Integer(i) => {
                        format!(
                            "found the bare number {}; write it with a unit, e.g. \"{}s\"",
                            i.as_str(),
                            i.as_str()
                        )
                    }
                    _ => wrong(),
                });
            };
            let d = parse_duration(s)?;
            if d < min || d > max {
                return Err(format!("found \"{s}\""));
            }
            Ok(Value::Duration(d))
        }
        Kind::Choice(words) => match value {
            DeValue::String(s) if words.contains(&s.as_ref()) => Ok(Value::Text(s.to_string())),
            DeValue::String(s) => Err(match closest(s, words.iter().copied()) {
                Some(w) => format!("found \"{s}\"; did you mean \"{w}\"?"),
                None => format!("found \"{s}\""),
            }),
            _ => Err(wrong()),
        },
        Kind::Path => match value {
            DeValue::String(s) if !s.is_empty() => Ok(Value::Text(s.to_string())),
            DeValue::String(_) => Err("found an empty string".to_owned()),
            _ => Err(wrong()),
        },
        Kind::OptionalPath => match value {
            DeValue::String(s) => Ok(Value::Text(s.to_string())),
            _ => Err(wrong()),
        },
        Kind::LoopbackEndpoints => {
            let items = strings(value)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let addr: std::net::SocketAddr = item.trim().parse().map_err(|_| {
                    format!(
                        "item {} `{item}` is not an address:port such as \"127.0.0.1:9060\"",
                        i + 1
                    )
                })?;
                if !addr.ip().is_loopback() {
                    return Err(format!(
                        "item {} `{item}` is not on loopback: the TCP API is for this host only (reach it \
                         from elsewhere through an SSH tunnel or a reverse proxy with TLS)",
                        i + 1
                    ));
                }
                if addr.port() == 0 {
                    return Err(format!("item {} `{item}` needs a port", i + 1));
                }
                out.push(addr);
            }
            Ok(Value::Endpoints(out))
        }
        Kind::TextList => {
            let items = strings(value)?;
            if let Some(i) = items.iter().position(|s| s.trim().is_empty()) {
                return Err(format!("item {} is empty", i + 1));
            }
            Ok(Value::TextList(
                items.into_iter().map(str::to_owned).collect(),
            ))
        }
        Kind::Networks => {
            let items = strings(value)?;
            let nets = items
                .iter()
                .enumerate()
                .map(|(i, s)| parse_network(s).map_err(|e| format!("item {}: {e}", i + 1)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Networks(nets))
        }
        Kind::Ports => {
            let DeValue::Array(items) = value else {
                return Err(wrong());
            };
            let ports = items
                .iter()
                .enumerate()
                .map(|(i, item)| match item.get_ref() {
                    DeValue::Integer(n) => n
                        .as_str()
                        .replace('_', "")
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| {
                            format!(
                                "item {} (`{}`) is not a port from 1 to 65535",
                                i + 1,
                                n.as_str()
                            )
                        }),
                    _ => Err(format!("item {} is not an integer", i + 1)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Ports(ports))
        }
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The candidate closest to `word` by edit distance, when it is close enough to be a plausible typo.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl Iterator<Item = &'c str>,
) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        if let Some(first) = cur.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(usize::MAX) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(usize::MAX) + 1;
            let ins = cur.get(j).copied().unwrap_or(usize::MAX) + 1;
            if let Some(slot) = cur.get_mut(j + 1) {
                *slot = sub.min(del).min(ins);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

impl Config {
    /// Parses a configuration from TOML text. `origin` names the source (usually the file path) in
    /// diagnostics. Keys that are not given keep their defaults.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] with every mistake found: all syntax errors if the TOML does not parse; otherwise
    /// every unknown key or table, every invalid value and every inconsistent combination, in file order.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut parser = Parser {
            text,
            origin,
            diagnostics: Vec::new(),
            seen: Vec::new(),
        };
        let (root, errors): (Spanned<DeTable<'_>>, _) = DeTable::parse_recoverable(text);
        if !errors.is_empty() {
            for e in errors {
                let span = e.span().unwrap_or(0..0);
                let message = e.message().trim().to_owned();
                parser.report(span, Problem::Syntax { message });
            }
            return Err(ConfigError {
                diagnostics: parser.diagnostics,
            });
        }
        let mut config = Config::default();
        parser.walk_table("", root.get_ref(), &mut config);
        if parser.diagnostics.is_empty() {
            parser.check_consistency(&config);
        }
        if parser.diagnostics.is_empty() {
            Ok(config)
        } else {
            parser.diagnostics.sort_by_key(|d| (d.line, d.column));
            Err(ConfigError {
                diagnostics: parser.diagnostics,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("ban_tme", "ban_time"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn line_col_is_one_based() {
        assert_eq!(line_col("a\nbc\n", 3), (2, 2));
        assert_eq!(line_col("abc", 0), (1, 1));
    }
}
