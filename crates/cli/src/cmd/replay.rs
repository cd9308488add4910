//! `pbxguard replay`: the guard's engine, offline, over PBX logs and packet captures.
//!
//! Log lines go through the same parsers as the daemon's log sensors (`pbxguard-logs`) and packets through
//! the same [`Pipeline`] as its capture sensor; the engine is the daemon's, with the global configuration.
//! Several files are merged by time: each source is read one event ahead and the earliest goes first, so
//! memory stays bounded whatever the files' sizes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Seek, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use clap::builder::PossibleValuesParser;
use pbxguard_daemon::pipeline::Pipeline;
use pbxguard_engine::{Decision, Engine, Event, LogEvent, Observation, Timestamp};
use pbxguard_logs::{Format, LineParser, Pattern, days_from_civil};
use serde_json::json;

use crate::context::{self, Context, Exit, Failure, Outcome};

/// `pbxguard replay FILE... [--format F] [--year Y]`
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Log files (Asterisk, FreeSWITCH, Kamailio) and packet captures (pcap, recognised by their magic
    /// number). Several files are merged by time.
    #[arg(required = true)]
    files: Vec<PathBuf>,

    /// The format of the log files. Without it, each file's format is recognised from its first lines.
    #[arg(long, short = 'f', value_parser = PossibleValuesParser::new(["asterisk", "freeswitch", "kamailio"]))]
    format: Option<String>,

    /// The year of timestamps that have none (syslog's and old Asterisk's `Nov 22 20:44:38`). Default: the
    /// year each file was last modified.
    #[arg(long)]
    year: Option<i32>,

    /// No progress indicator on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Longest pcap record accepted; larger ones mean a corrupt file.
const MAX_RECORD: u32 = 256 * 1024;

/// A ban the engine decided, as reported.
#[derive(Debug)]
struct Reported {
    at: Timestamp,
    until: Timestamp,
    target: String,
    detector: &'static str,
    offence: u32,
    why: String,
    count: u32,
    threshold: u32,
    window: Duration,
    user: Option<String>,
    user_agent: Option<String>,
}

/// What one log file has seen.
#[derive(Debug, Default, Clone, Copy)]
struct LogCounts {
    lines: u64,
    events: u64,
}

/// The kinds of log event, to hold one between reading it and handing it to the engine.
#[derive(Debug, Clone, Copy)]
enum Kind {
    AuthFailed,
    UnknownUser,
    AuthSucceeded,
    Rejected,
    Scanner,
}

/// Longest line kept whole; longer ones are cut (a log line is a few hundred bytes).
const MAX_LINE: usize = 64 * 1024;

/// Splits a file into lines with SIMD `memchr`, reading large blocks into one buffer that lines are
/// borrowed from (no copy per line).
struct Lines {
    reader: BufReader<File>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl Lines {
    fn new(reader: BufReader<File>) -> Self {
        Self {
            reader,
            buf: vec![0; 1 << 20],
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// The byte range of the next line in `buf` (without its newline), or `None` at the end.
    fn next(&mut self) -> io::Result<Option<(usize, usize)>> {
        loop {
            let window = self.buf.get(self.start..self.end).unwrap_or_default();
            if let Some(i) = memchr::memchr(b'\n', window) {
                let line = (self.start, self.start + i);
                self.start += i + 1;
                return Ok(Some(line));
            }
            if self.end - self.start >= MAX_LINE || (self.eof && self.start < self.end) {
                // Over-long (cut here; the rest reads as further lines) or the last line without a newline.
                let end = self.end.min(self.start + MAX_LINE);
                let line = (self.start, end);
                self.start = end;
                return Ok(Some(line));
            }
            if self.eof {
                return Ok(None);
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            let free = self.buf.get_mut(self.end..).unwrap_or_default();
            match self.reader.read(free) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

struct LogSource {
    name: String,
    lines: Lines,
    parser: LineParser,
    /// The event read ahead: peer, kind, and its user (or User-Agent), copied.
    held: Option<(IpAddr, Kind)>,
    who: Option<Vec<u8>>,
    /// The time of the event read ahead.
    next: Option<Timestamp>,
    last_time: Timestamp,
    counts: LogCounts,
}

struct PcapSource {
    name: String,
    reader: BufReader<File>,
    swapped: bool,
    nanos: bool,
    link: u32,
    record: Vec<u8>,
    next: Option<Duration>,
    packets: u64,
}

enum Source {
    Log(Box<LogSource>),
    Pcap(PcapSource),
}

impl Source {
    fn next_time(&self) -> Option<Timestamp> {
        match self {
            Source::Log(l) => l.next,
            Source::Pcap(p) => p.next.map(|d| Timestamp::from_millis(millis(d))),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl LogSource {
    /// Reads ahead to the next line that carries an event.
    fn advance(&mut self) -> Result<(), Failure> {
        loop {
            let next = self
                .lines
                .next()
                .map_err(|e| Failure::Other(anyhow::anyhow!("reading {}: {e}", self.name)))?;
            let Some((start, end)) = next else {
                self.next = None;
                return Ok(());
            };
            self.counts.lines += 1;
            let line = trim_eol(self.lines.buf.get(start..end).unwrap_or_default());
            if let Some(p) = self.parser.parse(line) {
                self.counts.events += 1;
                let (kind, who) = match p.event {
                    LogEvent::AuthFailed { user } => (Kind::AuthFailed, user),
                    LogEvent::UnknownUser { user } => (Kind::UnknownUser, user),
                    LogEvent::AuthSucceeded { user } => (Kind::AuthSucceeded, user),
                    LogEvent::Rejected { user } => (Kind::Rejected, user),
                    LogEvent::Scanner { user_agent } => (Kind::Scanner, user_agent),
                    _ => continue,
                };
                self.held = Some((p.peer, kind));
                match (who, self.who.as_mut()) {
                    (Some(w), Some(buf)) => {
                        buf.clear();
                        buf.extend_from_slice(w);
                    }
                    (Some(w), None) => self.who = Some(w.to_vec()),
                    (None, _) => self.who = None,
                }
                // A line without a timestamp happened no earlier than the last one that had one.
                let t = p.time.unwrap_or(self.last_time).max(self.last_time);
                self.last_time = t;
                self.next = Some(t);
                return Ok(());
            }
        }
    }
}

fn trim_eol(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

impl PcapSource {
    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let bytes: [u8; 4] = b
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .unwrap_or_default();
        if self.swapped {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        }
    }

    /// Reads ahead to the next packet record.
    fn advance(&mut self) -> Result<(), Failure> {
        let mut header = [0u8; 16];
        match self.reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.next = None;
                return Ok(());
            }
            Err(e) => {
                return Err(Failure::Other(anyhow::anyhow!(
                    "reading {}: {e}",
                    self.name
                )));
            }
        }
        let secs = self.u32_at(&header, 0);
        let frac = self.u32_at(&header, 4);
        let len = self.u32_at(&header, 8);
        if len > MAX_RECORD {
            return Err(Failure::Usage(format!(
                "{}: packet {} claims {len} bytes: the capture is corrupt",
                self.name,
                self.packets + 1
            )));
        }
        self.record.resize(len as usize, 0);
        self.reader.read_exact(&mut self.record).map_err(|e| {
            Failure::Usage(format!(
                "{}: packet {} is cut short ({e})",
                self.name,
                self.packets + 1
            ))
        })?;
        self.packets += 1;
        let sub = if self.nanos {
            Duration::from_nanos(u64::from(frac))
        } else {
            Duration::from_micros(u64::from(frac))
        };
        self.next = Some(Duration::from_secs(u64::from(secs)) + sub);
        Ok(())
    }

    /// The IP packet inside the record and its VLAN, by link type.
    fn ip_packet(&self) -> Option<(&[u8], Option<u16>)> {
        let r = &self.record;
        let be16 = |at: usize| -> Option<u16> {
            Some(u16::from_be_bytes(r.get(at..at + 2)?.try_into().ok()?))
        };
        match self.link {
            // Ethernet, with up to two VLAN tags.
            1 => {
                let mut at = 12;
                let mut vlan = None;
                let mut ty = be16(at)?;
                while ty == 0x8100 || ty == 0x88a8 {
                    vlan.get_or_insert(be16(at + 2)? & 0x0fff);
                    at += 4;
                    ty = be16(at)?;
                    if at > 20 {
                        return None;
                    }
                }
                matches!(ty, 0x0800 | 0x86dd).then_some((r.get(at + 2..)?, vlan))
            }
            // Raw IP.
            12 | 14 | 101 => Some((r, None)),
            // Linux cooked capture (tcpdump -i any), v1 and v2.
            113 => Some((r.get(16..)?, None)),
            276 => Some((r.get(20..)?, None)),
            // BSD loopback.
            0 => Some((r.get(4..)?, None)),
            _ => None,
        }
    }
}

/// The year a file was last modified (for timestamps without a year).
fn file_year(path: &Path) -> i32 {
    let secs = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| SystemTime::now())
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil(secs).0
}

/// (year, month, day, hour, minute, second) of seconds since the epoch (UTC).
fn civil(secs: u64) -> (i32, u32, u32, u32, u32, u32) {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Search the year from an estimate; days_from_civil is the one definition of the calendar.
    let mut year = 1970 + i32::try_from(days / 366).unwrap_or(0);
    while days_from_civil(i64::from(year) + 1, 1, 1) <= days {
        year += 1;
    }
    let mut month = 1;
    while month < 12 && days_from_civil(i64::from(year), month + 1, 1) <= days {
        month += 1;
    }
    let day = days - days_from_civil(i64::from(year), month, 1) + 1;
    let t = |x: u64| u32::try_from(x).unwrap_or(0);
    (
        year,
        month,
        u32::try_from(day).unwrap_or(1),
        t(rem / 3600),
        t(rem % 3600 / 60),
        t(rem % 60),
    )
}

fn show_time(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s) = civil(t.as_millis() / 1000);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

fn show_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 && s > 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Opens one file as a log or capture source, reading ahead to its first event.
fn open_source(path: &Path, args: &ReplayArgs, patterns: &[Pattern]) -> Result<Source, Failure> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| Failure::Usage(format!("cannot open {name}: {e}")))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let head = reader
        .fill_buf()
        .map_err(|e| Failure::Usage(format!("cannot read {name}: {e}")))?;
    let got = head.len().min(4);
    let mut magic = [0u8; 4];
    if let (Some(dst), Some(src)) = (magic.get_mut(..got), head.get(..got)) {
        dst.copy_from_slice(src);
    }
    if got == 4 && magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        return Err(Failure::Usage(format!(
            "{name} is pcapng; convert it with `editcap -F pcap {name} out.pcap` (or `tshark -F pcap`)"
        )));
    }
    let pcap = match u32::from_le_bytes(magic) {
        0xa1b2_c3d4 => Some((false, false)),
        0xd4c3_b2a1 => Some((true, false)),
        0xa1b2_3c4d => Some((false, true)),
        0x4d3c_b2a1 => Some((true, true)),
        _ => None,
    };
    if let Some((swapped, nanos)) = pcap.filter(|_| got == 4) {
        let mut header = [0u8; 24];
        reader
            .read_exact(&mut header)
            .map_err(|e| Failure::Usage(format!("{name}: pcap header cut short ({e})")))?;
        let mut src = PcapSource {
            name,
            reader,
            swapped,
            nanos,
            link: 0,
            record: Vec::new(),
            next: None,
            packets: 0,
        };
        src.link = src.u32_at(&header, 20) & 0x0fff_ffff;
        if src.ip_packet_link_supported() {
            src.advance()?;
            return Ok(Source::Pcap(src));
        }
        return Err(Failure::Usage(format!(
            "{}: link type {} is not supported (Ethernet, raw IP, Linux cooked and loopback are)",
            src.name, src.link
        )));
    }
    let format = match &args.format {
        Some(f) => {
            Format::from_name(f).ok_or_else(|| Failure::Usage(format!("unknown log format {f}")))?
        }
        None => detect(&mut reader).ok_or_else(|| {
            Failure::Usage(format!(
                "cannot tell which PBX wrote {name}: give --format asterisk|freeswitch|kamailio"
            ))
        })?,
    };
    let year = args.year.unwrap_or_else(|| file_year(path));
    let mut src = LogSource {
        name,
        lines: Lines::new(reader),
        parser: LineParser::new(format, patterns.to_vec(), year),
        held: None,
        who: None,
        next: None,
        last_time: Timestamp::default(),
        counts: LogCounts::default(),
    };
    src.advance()?;
    Ok(Source::Log(Box::new(src)))
}

impl PcapSource {
    fn ip_packet_link_supported(&self) -> bool {
        matches!(self.link, 0 | 1 | 12 | 14 | 101 | 113 | 276)
    }
}

/// Recognises the format from the first lines in the reader's buffer (nothing is consumed).
fn detect(reader: &mut BufReader<File>) -> Option<Format> {
    let buf = reader.fill_buf().ok()?;
    buf.split(|&c| c == b'\n')
        .take(200)
        .find_map(Format::detect)
}

/// Runs `pbxguard replay`.
pub fn run(args: ReplayArgs, ctx: &Context) -> Outcome {
    let config = ctx.config()?;
    let patterns = config
        .logs
        .kamailio_patterns
        .iter()
        .map(|p| {
            Pattern::parse(p)
                .map_err(|e| Failure::Usage(format!("[logs] kamailio_patterns: `{p}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let total: u64 = args
        .files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let mut sources = args
        .files
        .iter()
        .map(|p| open_source(p, &args, &patterns))
        .collect::<Result<Vec<_>, _>>()?;
    let start = sources
        .iter()
        .filter_map(Source::next_time)
        .min()
        .unwrap_or_default();
    let ports = config.guard.sip_ports.clone();
    let mut pipeline = Pipeline::new(Engine::new_reproducible(config, start), ports);

    let began = Instant::now();
    let progress = !args.quiet && io::stderr().is_terminal() && total > 16 << 20;
    let mut last_shown = Instant::now();
    let mut steps = 0u64;
    let mut bans = Vec::new();
    let mut alerts = Vec::new();
    while let Some((i, now)) = sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((i, s.next_time()?)))
        .min_by_key(|(_, t)| *t)
    {
        if pipeline.engine().poll_timeout().is_some_and(|t| t <= now) {
            pipeline.engine_mut().handle_timeout(now);
        }
        let Some(source) = sources.get_mut(i) else {
            break;
        };
        match source {
            Source::Log(l) => {
                if let Some((peer, kind)) = l.held.take() {
                    let user = l.who.as_deref();
                    let event = match kind {
                        Kind::AuthFailed => LogEvent::AuthFailed { user },
                        Kind::UnknownUser => LogEvent::UnknownUser { user },
                        Kind::AuthSucceeded => LogEvent::AuthSucceeded { user },
                        Kind::Rejected => LogEvent::Rejected { user },
                        Kind::Scanner => LogEvent::Scanner { user_agent: user },
                    };
                    let obs = Observation {
                        time: now,
                        peer,
                        event: Event::Log(event),
                    };
                    pipeline.engine_mut().handle(&obs);
                }
                l.advance()?;
            }
            Source::Pcap(p) => {
                let at = p.next.unwrap_or_default();
                if let Some((ip, vlan)) = p.ip_packet() {
                    pipeline.ip_packet(ip, vlan, false, at);
                }
                p.advance()?;
            }
        }
        while let Some(d) = pipeline.engine_mut().poll_decision() {
            match d {
                Decision::Ban(b) => bans.push(Reported {
                    at: b.at,
                    until: b.until,
                    target: b.target.to_string(),
                    detector: b.detector.name(),
                    offence: b.offence,
                    why: b.evidence.to_string(),
                    count: b.evidence.count,
                    threshold: b.evidence.threshold,
                    window: b.evidence.window,
                    user: b.evidence.sample_user,
                    user_agent: b.evidence.sample_user_agent,
                }),
                Decision::Alert(a) => alerts.push(a),
                _ => {}
            }
        }
        steps += 1;
        if progress
            && steps.is_multiple_of(4096)
            && last_shown.elapsed() >= Duration::from_millis(250)
        {
            last_shown = Instant::now();
            let done = read_position(&mut sources);
            let pct = done.saturating_mul(100) / total.max(1);
            let mut err = io::stderr().lock();
            let _ = write!(
                err,
                "\rreplay: {pct:3}% of {} MB, {} bans",
                total >> 20,
                bans.len()
            );
            let _ = err.flush();
        }
    }
    if progress {
        let _ = writeln!(io::stderr().lock(), "\r{:60}\r", "");
    }
    let elapsed = began.elapsed();
    report(&sources, &bans, &alerts, elapsed, ctx)?;
    Ok(if bans.is_empty() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}

/// Bytes consumed across sources, from their readers' positions.
fn read_position(sources: &mut [Source]) -> u64 {
    sources
        .iter_mut()
        .map(|s| match s {
            Source::Log(l) => l.lines.reader.stream_position().unwrap_or(0),
            Source::Pcap(p) => p.reader.stream_position().unwrap_or(0),
        })
        .sum()
}

fn report(
    sources: &[Source],
    bans: &[Reported],
    alerts: &[pbxguard_engine::Alert],
    elapsed: Duration,
    ctx: &Context,
) -> Result<(), Failure> {
    let mut lines = 0u64;
    let mut events = 0u64;
    let mut packets = 0u64;
    let mut files = Vec::new();
    for s in sources {
        match s {
            Source::Log(l) => {
                lines += l.counts.lines;
                events += l.counts.events;
                files.push(json!({
                    "file": l.name, "format": l.parser.format().name(),
                    "lines": l.counts.lines, "events": l.counts.events,
                }));
            }
            Source::Pcap(p) => {
                packets += p.packets;
                files.push(json!({"file": p.name, "format": "pcap", "packets": p.packets}));
            }
        }
    }
    let secs = elapsed.as_secs_f64();
    let per_sec = if secs > 0.0 { lines as f64 / secs } else { 0.0 };
    if ctx.json {
        let bans: Vec<_> = bans
            .iter()
            .map(|b| {
                json!({
                    "at": show_time(b.at), "at_ms": b.at.as_millis(),
                    "until": show_time(b.until), "until_ms": b.until.as_millis(),
                    "target": b.target, "detector": b.detector, "offence": b.offence,
                    "count": b.count, "threshold": b.threshold, "window_s": b.window.as_secs(),
                    "sample_user": b.user, "sample_user_agent": b.user_agent,
                })
            })
            .collect();
        let alerts: Vec<_> = alerts
            .iter()
            .map(|a| {
                json!({
                    "at": show_time(a.at), "at_ms": a.at.as_millis(), "source": a.source.to_string(),
                    "detector": a.detector.name(), "kind": format!("{:?}", a.kind),
                    "why": a.evidence.to_string(),
                })
            })
            .collect();
        let out = json!({
            "bans": bans, "alerts": alerts, "files": files,
            "lines": lines, "events": events, "packets": packets,
            "elapsed_s": secs, "lines_per_s": per_sec,
        });
        context::print(&serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    let mut text = String::new();
    if bans.is_empty() {
        text.push_str("nothing would have been banned\n");
    } else {
        text.push_str(&format!(
            "{:<19}  {:<24}  {:<11}  {:>5}  {:>4}  WHY\n",
            "AT (UTC)", "TARGET", "DETECTOR", "BAN", "NTH"
        ));
        for b in bans {
            text.push_str(&format!(
                "{:<19}  {:<24}  {:<11}  {:>5}  {:>4}  {}\n",
                show_time(b.at),
                b.target,
                b.detector,
                show_duration(b.until.since(b.at)),
                b.offence,
                b.why
            ));
        }
    }
    for a in alerts {
        text.push_str(&format!(
            "alert {}  {}  {} ({:?}): {}\n",
            show_time(a.at),
            a.source,
            a.detector.name(),
            a.kind,
            a.evidence
        ));
    }
    let distinct: std::collections::HashSet<&str> =
        bans.iter().map(|b| b.target.as_str()).collect();
    text.push_str(&format!(
        "{} bans of {} sources, {} alerts; {lines} log lines ({events} events, {} without one), {packets} \
         packets, in {secs:.2}s ({per_sec:.0} lines/s)\n",
        bans.len(),
        distinct.len(),
        alerts.len(),
        lines - events
    ));
    context::print(&text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips_days_from_civil() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2024, 12, 31), (2026, 11, 22)] {
            let secs = u64::try_from(days_from_civil(y, m, d)).unwrap() * 86_400 + 3661;
            assert_eq!(civil(secs), (i32::try_from(y).unwrap(), m, d, 1, 1, 1));
        }
    }

    #[test]
    fn durations_show_in_their_largest_whole_unit() {
        assert_eq!(show_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(show_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(show_duration(Duration::from_secs(90)), "90s");
    }
}
