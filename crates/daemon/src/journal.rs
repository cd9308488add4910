//! Following a PBX that logs to journald: `journalctl --follow --output=json` for one systemd unit, its
//! entries' `MESSAGE` fields read by the same `pbxguard-logs` parsers as log files.
//!
//! `journalctl` runs as a child process (no library binding to libsystemd): a reader thread turns its JSON
//! lines into entries on a bounded channel, so a burst waits in the journal rather than in memory, and
//! [`JournalSensor::poll`] hands the engine what arrived. Every entry carries its journal cursor; the
//! daemon keeps the last one delivered in the state store, so a restart resumes right after it
//! (`--after-cursor`) and nothing is read twice or missed. Without a cursor only new entries are read.
//! If `journalctl` exits, it is started again from the last cursor, with a growing pause.

use std::io::{self, BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pbxguard_engine::{Observation, Timestamp};
use pbxguard_logs::{Format, LineParser, Pattern};

use pbxguard_config::Config;

use crate::logtail::{LogConfigError, SensorStats, observe_line};

/// Entries buffered between the reader thread and the engine; beyond it `journalctl` waits.
const QUEUE: usize = 8192;
/// Entries handed to the engine per poll, so that log bursts interleave with packet work.
const PER_POLL: usize = 4096;
/// Longest JSON line read from `journalctl`; longer ones are skipped (journald caps messages at 48 KiB).
const MAX_JSON_LINE: usize = 256 * 1024;
/// Longest pause before starting `journalctl` again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One journal entry: its message and cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The `MESSAGE` field (bytes: journald allows binary messages).
    pub message: Vec<u8>,
    /// The `__CURSOR` field: where to resume after this entry.
    pub cursor: String,
}

/// Reads one line of `journalctl --output=json`. `None` when it is not an entry with a message and a
/// cursor.
pub fn parse_entry(line: &[u8]) -> Option<Entry> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let cursor = v.get("__CURSOR")?.as_str()?.to_owned();
    let message = match v.get("MESSAGE")? {
        serde_json::Value::String(s) => s.clone().into_bytes(),
        // Non-UTF-8 messages come as an array of byte values.
        serde_json::Value::Array(bytes) => bytes
            .iter()
            .map(|b| b.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect::<Option<Vec<u8>>>()?,
        _ => return None,
    };
    Some(Entry { message, cursor })
}

/// A running `journalctl` and the thread reading it.
struct Follower {
    child: Child,
    reader: Option<JoinHandle<()>>,
    entries: Receiver<Entry>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// Follows one unit's journal and turns its lines into engine observations.
pub struct JournalSensor {
    format: Format,
    unit: String,
    directory: Option<String>,
    parser: LineParser,
    follower: Option<Follower>,
    cursor: Option<String>,
    stats: SensorStats,
    restarts: u32,
    restart_at: Option<Instant>,
}

impl std::fmt::Debug for JournalSensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalSensor")
            .field("format", &self.format)
            .field("unit", &self.unit)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl JournalSensor {
    /// Starts following `unit` (in `directory` instead of the system journal when given), after `cursor`
    /// when one was saved, else from now on.
    ///
    /// # Errors
    ///
    /// The error of starting `journalctl` (for example, it is not installed).
    pub fn start(
        format: Format,
        unit: &str,
        directory: Option<&str>,
        patterns: Vec<Pattern>,
        cursor: Option<String>,
    ) -> io::Result<Self> {
        let mut sensor = Self {
            format,
            unit: unit.to_owned(),
            directory: directory.map(str::to_owned),
            parser: LineParser::new(format, patterns, 1970),
            follower: None,
            cursor,
            stats: SensorStats::default(),
            restarts: 0,
            restart_at: None,
        };
        sensor.follower = Some(sensor.spawn()?);
        Ok(sensor)
    }

    /// One sensor per `[logs] journal` entry, each resuming after the cursor `resume` knows for its
    /// [`JournalSensor::source`], else reading new entries only. `patterns` are the `[logs]
    /// kamailio_patterns`, parsed once by the caller ([`crate::logtail::kamailio_patterns`]) for the
    /// file sensors too, so that a bad one is reported once.
    ///
    /// # Errors
    ///
    /// Every entry that is invalid, and units for which `journalctl` cannot be started.
    pub fn from_config(
        config: &Config,
        patterns: &[Pattern],
        resume: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<JournalSensor>, Vec<LogConfigError>> {
        if config.logs.journal.is_empty() {
            return Ok(Vec::new());
        }
        let mut errors = Vec::new();
        let directory = Some(config.logs.journal_directory.as_str()).filter(|d| !d.is_empty());
        let mut sensors = Vec::new();
        for entry in &config.logs.journal {
            let parsed = entry
                .split_once(':')
                .and_then(|(f, unit)| Some((Format::from_name(f)?, unit)))
                .filter(|(_, unit)| !unit.is_empty() && !unit.starts_with('-'));
            let Some((format, unit)) = parsed else {
                errors.push(LogConfigError::JournalEntryInvalid {
                    entry: entry.clone(),
                });
                continue;
            };
            let cursor = resume(&source_of(unit));
            match Self::start(format, unit, directory, patterns.to_vec(), cursor) {
                Ok(s) => sensors.push(s),
                Err(error) => errors.push(LogConfigError::JournalUnavailable {
                    unit: unit.to_owned(),
                    error,
                }),
            }
        }
        if errors.is_empty() {
            Ok(sensors)
        } else {
            Err(errors)
        }
    }

    /// The unit followed.
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// The key under which the cursor is saved: `journal:UNIT`.
    pub fn source(&self) -> String {
        source_of(&self.unit)
    }

    /// The cursor of the last entry handed to the engine.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// Counters.
    pub fn stats(&self) -> SensorStats {
        self.stats
    }

    /// How often `journalctl` had to be started again.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    fn command(&self) -> Command {
        let mut c = Command::new("journalctl");
        c.args([
            "--follow",
            "--merge",
            "--output=json",
            "--no-pager",
            "--quiet",
        ])
        .arg(format!("--unit={}", self.unit));
        if let Some(d) = &self.directory {
            c.arg(format!("--directory={d}"));
        }
        match &self.cursor {
            Some(cursor) => c.arg(format!("--after-cursor={cursor}")),
            None => c.arg("--lines=0"),
        };
        c
    }

    fn spawn(&self) -> io::Result<Follower> {
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("journalctl has no stdout"))?;
        let (tx, rx) = sync_channel(QUEUE);
        let reader = std::thread::Builder::new()
            .name("pbxguard-journal".into())
            .spawn(move || read_entries(stdout, &tx))?;
        Ok(Follower {
            child,
            reader: Some(reader),
            entries: rx,
        })
    }

    /// Hands the engine what arrived since the last poll (at most a few thousand entries), timed `now`;
    /// starts `journalctl` again if it ended. Returns the entries read.
    pub fn poll(&mut self, now: Timestamp, mut handle: impl FnMut(&Observation<'_>)) -> usize {
        let mut read = 0;
        let mut ended = false;
        if let Some(f) = &self.follower {
            while read < PER_POLL {
                match f.entries.try_recv() {
                    Ok(entry) => {
                        read += 1;
                        observe_line(
                            &self.parser,
                            &mut self.stats,
                            now,
                            &entry.message,
                            &mut handle,
                        );
                        self.cursor = Some(entry.cursor);
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        ended = true;
                        break;
                    }
                }
            }
        }
        if ended && let Some(mut f) = self.follower.take() {
            let status = f.child.wait();
            let mut err = String::new();
            if let Some(mut e) = f.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let pause = Duration::from_secs(1u64 << self.restarts.min(5)).min(MAX_BACKOFF);
            tracing::warn!(
                "journalctl for {} ended ({}{}); starting it again in {pause:?}",
                self.unit,
                status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                if err.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", err.trim())
                }
            );
            self.restart_at = Some(Instant::now() + pause);
        }
        if self.follower.is_none() && self.restart_at.is_some_and(|t| Instant::now() >= t) {
            self.restart_at = None;
            self.restarts += 1;
            match self.spawn() {
                Ok(f) => self.follower = Some(f),
                Err(e) => {
                    tracing::warn!("cannot start journalctl for {}: {e}", self.unit);
                    self.restart_at = Some(Instant::now() + MAX_BACKOFF);
                }
            }
        }
        read
    }
}

fn source_of(unit: &str) -> String {
    format!("journal:{unit}")
}

/// The reader thread: JSON lines to entries, until `journalctl` ends or the sensor is gone.
fn read_entries(stdout: impl Read, tx: &SyncSender<Entry>) {
    let mut r = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = match (&mut r)
            .take(MAX_JSON_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if n > MAX_JSON_LINE {
            // Skip the rest of an over-long line.
            let mut rest = Vec::new();
            if r.read_until(b'\n', &mut rest).is_err() {
                return;
            }
            continue;
        }
        if let Some(entry) = parse_entry(&line)
            && tx.send(entry).is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_from_json_lines_with_text_or_byte_messages() {
        let line = br#"{"__CURSOR":"s=1;i=2","MESSAGE":"auth failed for user 1001 from 10.9.9.9:5060","_SYSTEMD_UNIT":"kamailio.service"}"#;
        assert_eq!(
            parse_entry(line),
            Some(Entry {
                message: b"auth failed for user 1001 from 10.9.9.9:5060".to_vec(),
                cursor: "s=1;i=2".into()
            })
        );
        let binary = br#"{"__CURSOR":"c","MESSAGE":[104,105,255]}"#;
        assert_eq!(parse_entry(binary).unwrap().message, vec![104, 105, 255]);
        assert_eq!(parse_entry(br#"{"MESSAGE":"no cursor"}"#), None);
        assert_eq!(parse_entry(br#"{"__CURSOR":"c","MESSAGE":[300]}"#), None);
        assert_eq!(parse_entry(br#"{"__CURSOR":"c","MESSAGE":null}"#), None);
        assert_eq!(parse_entry(b"not json"), None);
    }

    #[test]
    fn the_reader_skips_over_long_lines_and_keeps_going() {
        let mut input = Vec::new();
        input.extend_from_slice(br#"{"__CURSOR":"a","MESSAGE":""#);
        input.extend(std::iter::repeat_n(b'x', MAX_JSON_LINE));
        input.extend_from_slice(b"\"}\n");
        input.extend_from_slice(b"{\"__CURSOR\":\"b\",\"MESSAGE\":\"short\"}\n");
        let (tx, rx) = sync_channel(4);
        read_entries(&input[..], &tx);
        drop(tx);
        let got: Vec<Entry> = rx.iter().collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].cursor, "b");
    }
}
