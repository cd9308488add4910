//! Following a PBX log file: new lines only, across rotation and restarts, with bounded memory.
//!
//! A [`LogTail`] holds the file open and reads what was appended since the last [`LogTail::poll`]. It
//! follows the two ways logs are rotated:
//!
//! - **rename and recreate** (logrotate's default, Asterisk's `logger rotate`): the old file is read to its
//!   end through the handle still open, then the new file at the path is opened and read from its start;
//! - **truncate** (logrotate's `copytruncate`): the file shrinks below the read position, so reading
//!   restarts at its start.
//!
//! A restart never re-reads old lines: a new tail starts at the end of the file, or where a saved
//! [`Position`] says it stopped when the file is still the same one (same device and inode, not shorter
//! than the position). Lines longer than the bound are cut: the first `max_line` bytes are delivered and
//! the rest skipped, so a runaway line cannot grow the buffer.
//!
//! One poll reads at most `max_bytes` so that a burst of millions of lines is consumed in slices the caller
//! can interleave with packet work. The caller decides when to poll (the daemon on a short timer).
//!
//! A [`LogSensor`] pairs a tail with a `pbxguard-logs` parser and hands engine observations to a
//! callback; [`LogSensor::from_config`] builds one per `[logs] files` entry.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use pbxguard_config::Config;
use pbxguard_engine::{Event, Observation, Timestamp};
use pbxguard_logs::{Format, LineParser, Pattern, PatternError};

/// Longest line delivered by default; longer lines are cut to it.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024;
/// Bytes read per [`LogTail::poll`] by default.
pub const DEFAULT_MAX_BYTES: usize = 8 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// Where a tail stopped, to resume after a restart without re-reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub ino: u64,
    /// Bytes consumed (only whole lines; a pending partial line is read again).
    pub offset: u64,
}

impl fmt::Display for Position {
    /// `DEV:INO:OFFSET`, the form the state store keeps.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.dev, self.ino, self.offset)
    }
}

impl std::str::FromStr for Position {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let mut parts = s.split(':').map(str::parse::<u64>);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(dev)), Some(Ok(ino)), Some(Ok(offset)), None) => Ok(Self { dev, ino, offset }),
            _ => Err(()),
        }
    }
}

/// Where a new tail starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At the current end of the file (new lines only): the default for a daemon starting up.
    End,
    /// At the beginning (for tests and one-shot reading).
    Beginning,
    /// Where a previous run stopped, if the file is still that file; else at its beginning (the file was
    /// rotated while nobody read it, so everything in it is new).
    Resume(Position),
}

/// What the tail has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TailStats {
    /// Lines delivered.
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Lines longer than the bound, delivered cut.
    pub cut: u64,
    /// Rename-and-recreate rotations followed.
    pub rotations: u64,
    /// Truncations followed.
    pub truncations: u64,
}

/// Follows one log file. See the module documentation.
#[derive(Debug)]
pub struct LogTail {
    path: PathBuf,
    file: Option<File>,
    dev: u64,
    ino: u64,
    /// Bytes of the current file consumed up to the end of the last whole line.
    offset: u64,
    /// Bytes read from the current file (offset + pending).
    read_to: u64,
    pending: Vec<u8>,
    /// Skipping the rest of an over-long line.
    skipping: bool,
    max_line: usize,
    max_bytes: usize,
    chunk: Vec<u8>,
    stats: TailStats,
}

impl LogTail {
    /// Starts following `path`. A file that does not exist yet is waited for (and read from its start when
    /// it appears).
    ///
    /// # Errors
    ///
    /// The I/O error of opening or seeking an existing file (a missing file is not an error).
    pub fn open(path: impl Into<PathBuf>, start: Start) -> io::Result<Self> {
        let mut tail = Self {
            path: path.into(),
            file: None,
            dev: 0,
            ino: 0,
            offset: 0,
            read_to: 0,
            pending: Vec::new(),
            skipping: false,
            max_line: DEFAULT_MAX_LINE,
            max_bytes: DEFAULT_MAX_BYTES,
            chunk: vec![0; CHUNK],
            stats: TailStats::default(),
        };
        let mut file = match File::open(&tail.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(tail),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let at = match start {
            Start::End => meta.len(),
            Start::Beginning => 0,
            Start::Resume(p)
                if p.dev == meta.dev() && p.ino == meta.ino() && p.offset <= meta.len() =>
            {
                p.offset
            }
            Start::Resume(_) => 0,
        };
        file.seek(SeekFrom::Start(at))?;
        tail.dev = meta.dev();
        tail.ino = meta.ino();
        tail.offset = at;
        tail.read_to = at;
        tail.file = Some(file);
        Ok(tail)
    }

    /// Sets the longest line delivered (at least 64 bytes).
    pub fn with_max_line(mut self, max_line: usize) -> Self {
        self.max_line = max_line.max(64);
        self
    }

    /// Sets the most bytes read per poll (at least one chunk).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes.max(CHUNK);
        self
    }

    /// The file followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where to resume after a restart: save it, and pass it back in [`Start::Resume`].
    pub fn position(&self) -> Position {
        Position {
            dev: self.dev,
            ino: self.ino,
            offset: self.offset,
        }
    }

    /// Counters.
    pub fn stats(&self) -> TailStats {
        self.stats
    }

    /// Reads what was appended (up to the per-poll bound) and calls `line` for each complete line, without
    /// its line ending. Follows rotation and truncation. Returns the number of lines delivered; 0 means
    /// nothing new (poll again later), and a full slice means more may be waiting (poll again at once).
    ///
    /// # Errors
    ///
    /// The I/O error of reading or reopening the file. The tail stays usable: the next poll retries.
    pub fn poll(&mut self, mut line: impl FnMut(&[u8])) -> io::Result<usize> {
        let mut delivered = 0;
        let mut budget = self.max_bytes;
        loop {
            if self.file.is_some() {
                delivered += self.read_available(&mut line, &mut budget)?;
                if budget == 0 {
                    return Ok(delivered);
                }
            }
            // At the end of what the handle shows: has the path moved on to another file, or shrunk?
            match std::fs::metadata(&self.path) {
                Ok(meta)
                    if self.file.is_none() || meta.dev() != self.dev || meta.ino() != self.ino =>
                {
                    // Rotated (or appeared): the old file was read to its end above; a last line without
                    // its newline is complete now.
                    if self.file.is_some() {
                        self.stats.rotations += 1;
                        self.flush_pending(&mut line, &mut delivered);
                    }
                    match File::open(&self.path) {
                        Ok(f) => {
                            let meta = f.metadata()?;
                            self.file = Some(f);
                            self.dev = meta.dev();
                            self.ino = meta.ino();
                            self.offset = 0;
                            self.read_to = 0;
                            self.skipping = false;
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(delivered),
                        Err(e) => return Err(e),
                    }
                }
                Ok(meta) if meta.len() < self.read_to => {
                    // copytruncate: the content moved elsewhere and the file starts over.
                    self.stats.truncations += 1;
                    self.pending.clear();
                    self.skipping = false;
                    if let Some(f) = self.file.as_mut() {
                        f.seek(SeekFrom::Start(0))?;
                    }
                    self.offset = 0;
                    self.read_to = 0;
                }
                // Same file, nothing more: done for now. A missing path (between rename and recreate)
                // is waited for.
                Ok(_) => return Ok(delivered),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(delivered),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the open file to its end (or the budget), delivering complete lines.
    fn read_available(
        &mut self,
        line: &mut impl FnMut(&[u8]),
        budget: &mut usize,
    ) -> io::Result<usize> {
        let mut delivered = 0;
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        while *budget > 0 {
            let want = CHUNK.min(*budget);
            let buf = self.chunk.get_mut(..want).unwrap_or_default();
            let n = match file.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            *budget = budget.saturating_sub(n);
            self.read_to += n as u64;
            self.stats.bytes += n as u64;
            let data = self.chunk.get(..n).unwrap_or_default();
            let mut rest = data;
            while let Some(nl) = memchr_newline(rest) {
                let (head, tail) = rest.split_at(nl);
                rest = tail.get(1..).unwrap_or_default();
                if self.skipping {
                    self.skipping = false;
                } else if self.pending.is_empty() {
                    line(trim_cr(head));
                    self.stats.lines += 1;
                    delivered += 1;
                } else {
                    let room = self.max_line.saturating_sub(self.pending.len());
                    if head.len() > room {
                        self.stats.cut += 1;
                    }
                    self.pending
                        .extend_from_slice(head.get(..room.min(head.len())).unwrap_or_default());
                    line(trim_cr(&self.pending));
                    self.stats.lines += 1;
                    delivered += 1;
                    self.pending.clear();
                }
            }
            // Everything before `rest` ended in a newline: consumed for good.
            self.offset = self
                .read_to
                .saturating_sub(rest.len() as u64)
                .saturating_sub(self.pending.len() as u64);
            if self.skipping {
                continue;
            }
            let room = self.max_line.saturating_sub(self.pending.len());
            if rest.len() > room {
                // Over-long: deliver the first max_line bytes now and skip to the next newline.
                self.pending
                    .extend_from_slice(rest.get(..room).unwrap_or_default());
                line(trim_cr(&self.pending));
                self.stats.lines += 1;
                self.stats.cut += 1;
                delivered += 1;
                self.pending.clear();
                self.skipping = true;
            } else {
                self.pending.extend_from_slice(rest);
            }
        }
        Ok(delivered)
    }

    fn flush_pending(&mut self, line: &mut impl FnMut(&[u8]), delivered: &mut usize) {
        if !self.pending.is_empty() && !self.skipping {
            line(trim_cr(&self.pending));
            self.stats.lines += 1;
            *delivered += 1;
        }
        self.pending.clear();
        self.skipping = false;
    }
}

/// Why the `[logs]` configuration could not be turned into sensors.
#[derive(Debug)]
#[non_exhaustive]
pub enum LogConfigError {
    /// A `[logs] files` entry is not `FORMAT:/path` with a known format.
    EntryInvalid {
        /// The entry as written.
        entry: String,
    },
    /// A `[logs] kamailio_patterns` entry does not parse.
    PatternInvalid {
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        error: PatternError,
    },
    /// A `[logs] journal` entry is not `FORMAT:UNIT` with a known format.
    JournalEntryInvalid {
        /// The entry as written.
        entry: String,
    },
    /// `journalctl` could not be started for a unit.
    JournalUnavailable {
        /// The unit.
        unit: String,
        /// The system's error.
        error: io::Error,
    },
    /// A log file exists but cannot be opened.
    OpenFailed {
        /// The file.
        path: PathBuf,
        /// The system's error.
        error: io::Error,
    },
}

impl fmt::Display for LogConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogConfigError::EntryInvalid { entry } => write!(
                f,
                "[logs] files: `{entry}` is not FORMAT:/path with FORMAT asterisk, freeswitch or kamailio"
            ),
            LogConfigError::PatternInvalid { pattern, error } => {
                write!(f, "[logs] kamailio_patterns: `{pattern}`: {error}")
            }
            LogConfigError::JournalEntryInvalid { entry } => write!(
                f,
                "[logs] journal: `{entry}` is not FORMAT:UNIT with FORMAT asterisk, freeswitch or kamailio"
            ),
            LogConfigError::JournalUnavailable { unit, error } => {
                write!(f, "cannot start journalctl for {unit}: {error}")
            }
            LogConfigError::OpenFailed { path, error } => {
                write!(f, "cannot open log file {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for LogConfigError {}

/// What a log sensor has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SensorStats {
    /// Lines read.
    pub lines: u64,
    /// Lines that gave an observation.
    pub events: u64,
}

/// The `[logs] kamailio_patterns`, parsed; the ones that do not parse as errors.
pub fn kamailio_patterns(config: &Config) -> (Vec<Pattern>, Vec<LogConfigError>) {
    let mut errors = Vec::new();
    let mut patterns = Vec::new();
    for p in &config.logs.kamailio_patterns {
        match Pattern::parse(p) {
            Ok(pattern) => patterns.push(pattern),
            Err(error) => errors.push(LogConfigError::PatternInvalid {
                pattern: p.clone(),
                error,
            }),
        }
    }
    (patterns, errors)
}

/// A followed log file and its parser: lines in, engine observations out.
///
/// The daemon calls [`LogSensor::poll`] on a short timer (and again at once while it returns a full
/// slice), handing each observation to the engine. Observations carry the time of reading, not the
/// line's own timestamp: PBXs log local time, and the engine runs on the daemon's clock. Lines that say
/// nothing the engine uses are counted (`lines - events`), not guessed at.
#[derive(Debug)]
pub struct LogSensor {
    tail: LogTail,
    parser: LineParser,
    stats: SensorStats,
}

impl LogSensor {
    /// A sensor for one file.
    pub fn new(tail: LogTail, format: Format, patterns: Vec<Pattern>) -> Self {
        Self {
            tail,
            parser: LineParser::new(format, patterns, 1970),
            stats: SensorStats::default(),
        }
    }

    /// One sensor per `[logs] files` entry: where `resume` knows a position for the path (saved by an
    /// earlier run), from there if the file is still that file (else from its start: it was rotated in
    /// between, so all of it is new); otherwise at the end of the file. `patterns` are the `[logs]
    /// kamailio_patterns`, parsed once by the caller ([`kamailio_patterns`]) for the journal sensors too,
    /// so that a bad one is reported once.
    ///
    /// # Errors
    ///
    /// Every entry that is invalid, and files that exist but cannot be opened.
    pub fn from_config(
        config: &Config,
        patterns: &[Pattern],
        resume: impl Fn(&str) -> Option<Position>,
    ) -> Result<Vec<LogSensor>, Vec<LogConfigError>> {
        let mut errors = Vec::new();
        let mut sensors = Vec::new();
        for entry in &config.logs.files {
            let parsed = entry
                .split_once(':')
                .and_then(|(f, path)| Some((Format::from_name(f)?, path)))
                .filter(|(_, path)| path.starts_with('/'));
            let Some((format, path)) = parsed else {
                errors.push(LogConfigError::EntryInvalid {
                    entry: entry.clone(),
                });
                continue;
            };
            let start = resume(path).map_or(Start::End, Start::Resume);
            match LogTail::open(path, start) {
                Ok(tail) => sensors.push(LogSensor::new(tail, format, patterns.to_vec())),
                Err(error) => errors.push(LogConfigError::OpenFailed {
                    path: PathBuf::from(path),
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

    /// The tail (for its path, position and counters).
    pub fn tail(&self) -> &LogTail {
        &self.tail
    }

    /// Counters.
    pub fn stats(&self) -> SensorStats {
        self.stats
    }

    /// Reads new lines and calls `handle` with an observation for each line that reports something,
    /// timed `now`. Returns the lines read (see [`LogTail::poll`]).
    ///
    /// # Errors
    ///
    /// As [`LogTail::poll`].
    pub fn poll(
        &mut self,
        now: Timestamp,
        mut handle: impl FnMut(&Observation<'_>),
    ) -> io::Result<usize> {
        let parser = &self.parser;
        let stats = &mut self.stats;
        self.tail
            .poll(|line| observe_line(parser, stats, now, line, &mut handle))
    }
}

/// One log line through `parser`: counted, and an observation timed `now` when it reports something.
pub(crate) fn observe_line(
    parser: &LineParser,
    stats: &mut SensorStats,
    now: Timestamp,
    line: &[u8],
    handle: &mut impl FnMut(&Observation<'_>),
) {
    stats.lines += 1;
    if let Some(p) = parser.parse(line) {
        stats.events += 1;
        handle(&Observation {
            time: now,
            peer: p.peer,
            event: Event::Log(p.event),
        });
    }
}

fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

fn trim_cr(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r").unwrap_or(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;

    fn append(path: &Path, text: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn lines(tail: &mut LogTail) -> Vec<String> {
        let mut out = Vec::new();
        tail.poll(|l| out.push(String::from_utf8_lossy(l).into_owned()))
            .unwrap();
        out
    }

    #[test]
    fn a_new_tail_starts_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("full");
        append(&p, "old 1\nold 2\n");
        let mut t = LogTail::open(&p, Start::End).unwrap();
        assert!(lines(&mut t).is_empty());
        append(&p, "new 1\nnew 2\r\n");
        assert_eq!(lines(&mut t), ["new 1", "new 2"]);
        assert!(lines(&mut t).is_empty());
    }

    #[test]
    fn a_partial_line_waits_for_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("full");
        append(&p, "");
        let mut t = LogTail::open(&p, Start::End).unwrap();
        append(&p, "half");
        assert!(lines(&mut t).is_empty());
        assert_eq!(t.position().offset, 0, "a partial line is not consumed");
        append(&p, " and half\nnext");
        assert_eq!(lines(&mut t), ["half and half"]);
        assert_eq!(t.position().offset, 14);
    }

    #[test]
    fn rename_and_recreate_reads_the_old_file_to_its_end_then_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("full");
        append(&p, "");
        let mut t = LogTail::open(&p, Start::End).unwrap();
        append(&p, "a\n");
        assert_eq!(lines(&mut t), ["a"]);
        append(&p, "b\nlast without newline");
        std::fs::rename(&p, dir.path().join("full.1")).unwrap();
        // Between rename and recreate the path is missing: the old file is still followed (the PBX may
        // still be writing its last line there), nothing is lost, nothing fails.
        assert_eq!(lines(&mut t), ["b"]);
        append(&p, "c\n");
        assert_eq!(lines(&mut t), ["last without newline", "c"]);
        assert_eq!(t.stats().rotations, 1);
    }

    #[test]
    fn rename_and_recreate_between_polls() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("full");
        append(&p, "");
        let mut t = LogTail::open(&p, Start::End).unwrap();
        append(&p, "before\n");
        std::fs::rename(&p, dir.path().join("full.1")).unwrap();
        append(&p, "after\n");
        assert_eq!(lines(&mut t), ["before", "after"]);
    }

    #[test]
    fn copytruncate_starts_over_at_the_beginning() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("full");
        append(&p, "");
        let mut t = LogTail::open(&p, Start::End).unwrap();
        append(&p, "one long line before rotation\n");
        assert_eq!(lines(&mut t), ["one long line before rotation"]);
        std::fs::copy(&p, dir.path().join("full.1")).unwrap();
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        append(&p, "x\n");
        assert_eq!(lines(&mut t), ["x"]);
        assert_eq!(t.stats().truncations, 1);
    }

    #[test]
    fn a_restart_resumes_where_it_stopped_and_never_rereads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("full");
        append(&p, "seen before\n");
        let mut t = LogTail::open(&p, Start::Beginning).unwrap();
        assert_eq!(lines(&mut t), ["seen before"]);
        let saved = t.position();
        drop(t);
        append(&p, "written while down\n");
        let mut t = LogTail::open(&p, Start::Resume(saved)).unwrap();
        assert_eq!(lines(&mut t), ["written while down"]);
    }

    #[test]
    fn a_restart_after_rotation_reads_the_new_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("full");
        append(&p, "seen before\n");
        let mut t = LogTail::open(&p, Start::Beginning).unwrap();
        assert_eq!(lines(&mut t), ["seen before"]);
        let saved = t.position();
        drop(t);
        std::fs::rename(&p, dir.path().join("full.1")).unwrap();
        append(&p, "new file\n");
        let mut t = LogTail::open(&p, Start::Resume(saved)).unwrap();
        assert_eq!(lines(&mut t), ["new file"]);
    }

    #[test]
    fn a_missing_file_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("later");
        let mut t = LogTail::open(&p, Start::End).unwrap();
        assert!(lines(&mut t).is_empty());
        append(&p, "first\n");
        assert_eq!(lines(&mut t), ["first"]);
    }

    #[test]
    fn over_long_lines_are_cut_and_the_next_line_is_intact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("full");
        append(&p, "");
        let mut t = LogTail::open(&p, Start::End).unwrap().with_max_line(100);
        let long = "x".repeat(CHUNK * 3);
        append(&p, &format!("{long}\nshort\n"));
        let got = lines(&mut t);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), 100);
        assert_eq!(got[1], "short");
        assert_eq!(t.stats().cut, 1);
    }

    #[test]
    fn a_sensor_turns_appended_lines_into_observations() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("full");
        append(
            &p,
            "[2026-11-22 20:00:00] NOTICE[1] chan_sip.c: Registration from '<sip:1@x>' failed for '203.0.113.1:5060' - Wrong password\n",
        );
        let mut config = Config::default();
        config.logs.files = vec![format!("asterisk:{}", p.display())];
        let mut sensors = LogSensor::from_config(&config, &[], |_| None).unwrap();
        let s = &mut sensors[0];
        append(&p, "[2026-11-22 20:00:01] VERBOSE[1] pbx.c: -- noise\n");
        append(
            &p,
            "[2026-11-22 20:00:02] NOTICE[1] chan_sip.c: Registration from '<sip:100@x>' failed for '203.0.113.9:5060' - Wrong password\n",
        );
        let mut seen = Vec::new();
        s.poll(Timestamp::from_secs(7), |o| seen.push((o.time, o.peer)))
            .unwrap();
        assert_eq!(
            seen,
            [(Timestamp::from_secs(7), "203.0.113.9".parse().unwrap())]
        );
        assert_eq!(
            s.stats(),
            SensorStats {
                lines: 2,
                events: 1
            }
        );
    }

    #[test]
    fn a_sensor_resumes_from_a_saved_position_and_reads_what_was_written_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("full");
        let line = |ip: &str| {
            format!(
                "[2026-11-22 20:00:00] NOTICE[1] chan_sip.c: Registration from '<sip:1@x>' failed for \
                 '{ip}:5060' - Wrong password\n"
            )
        };
        append(&p, &line("203.0.113.1"));
        let mut config = Config::default();
        config.logs.files = vec![format!("asterisk:{}", p.display())];
        let saved = {
            let sensors = LogSensor::from_config(&config, &[], |_| None).unwrap();
            sensors[0].tail().position()
        };
        assert_eq!(saved.to_string().parse::<Position>(), Ok(saved));
        // Written while the guard was down: read on the next start, and only that.
        append(&p, &line("203.0.113.2"));
        let path = p.display().to_string();
        let mut sensors =
            LogSensor::from_config(&config, &[], |source| (source == path).then_some(saved))
                .unwrap();
        let mut seen = Vec::new();
        sensors[0]
            .poll(Timestamp::from_secs(1), |o| seen.push(o.peer))
            .unwrap();
        assert_eq!(seen, ["203.0.113.2".parse::<std::net::IpAddr>().unwrap()]);
        // Without a saved position a start reads nothing old.
        let mut fresh = LogSensor::from_config(&config, &[], |_| None).unwrap();
        let mut none = 0;
        fresh[0]
            .poll(Timestamp::from_secs(1), |_| none += 1)
            .unwrap();
        assert_eq!(none, 0);
        assert!("1:2".parse::<Position>().is_err() && "a:b:c".parse::<Position>().is_err());
    }

    #[test]
    fn bad_log_entries_are_all_reported() {
        let mut config = Config::default();
        config.logs.files = vec!["nginx:/var/log/x".into(), "asterisk:relative".into()];
        config.logs.kamailio_patterns = vec!["auth_failed: no address".into()];
        let errors = LogSensor::from_config(&config, &[], |_| None).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors
                .iter()
                .all(|e| e.to_string().contains("[logs] files"))
        );
        let (patterns, errors) = kamailio_patterns(&config);
        assert!(patterns.is_empty());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0]
                .to_string()
                .starts_with("[logs] kamailio_patterns: `auth_failed: no address`"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn one_poll_reads_at_most_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("full");
        append(&p, "");
        let mut t = LogTail::open(&p, Start::End).unwrap().with_max_bytes(CHUNK);
        let line = format!("{}\n", "y".repeat(99));
        append(&p, &line.repeat(2000));
        let first = lines(&mut t).len();
        assert!((CHUNK / 100 - 1..2000).contains(&first), "{first}");
        let mut total = first;
        while total < 2000 {
            let n = lines(&mut t).len();
            assert!(n > 0);
            total += n;
        }
        assert_eq!(total, 2000);
    }
}
