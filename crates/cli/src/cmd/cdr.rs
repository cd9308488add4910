//! `pbxguard cdr FILE…`: audit call detail records for toll fraud.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use chrono_tz::Tz;
use pbxguard_cdr::{Auditor, CdrReader, Format, Report};
use serde_json::json;

use super::policy_file::SiteArgs;
use crate::context::{self, Context, Exit, Failure, Outcome};

/// Audit call detail records for toll fraud.
///
/// Replays the call policy over the outbound calls in time order (roles, allowed countries,
/// denied prefixes and number types, risk, office hours, concurrent-call caps, velocity limits)
/// and looks for after-hours bursts, international spikes against the usual daily baseline, floods
/// of very short calls and Wangiri callbacks. Prints each suspicious call with the rule that fired
/// and a daily summary. Malformed rows are reported on stderr with their line and skipped.
///
/// Exits 0 when nothing is suspicious, 1 when suspicious calls were found.
#[derive(Debug, clap::Args)]
pub struct CdrArgs {
    /// CDR files, audited together (e.g. several months of Master.csv).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    /// File format: asterisk (Master.csv, 16/17/18/21 columns), asterisk-custom (needs --columns),
    /// freeswitch (cdr_csv's shipped `example` template, and its linksys/snom extensions),
    /// freeswitch-asterisk (cdr_csv's `asterisk` template), generic (CSV with a header, needs
    /// --map).
    #[arg(long, value_name = "FORMAT", default_value = "asterisk")]
    format: String,

    /// Column list of asterisk-custom: `src,dst,start,billsec,...`, or the right-hand side of the
    /// cdr_custom.conf mapping (`${CSV_QUOTE(${CDR(clid)})},...`).
    #[arg(long, value_name = "LIST")]
    columns: Option<String>,

    /// Column map of generic: `src=Caller,dst=Called,start=Date,billsec=Seconds` (header names or
    /// 1-based column numbers).
    #[arg(long, value_name = "MAP")]
    map: Option<String>,

    /// Time zone of the times in the files (IANA name) [default: the policy file's `timezone`, else
    /// UTC]. Epoch-second times are always UTC.
    #[arg(long, value_name = "TZ")]
    timezone: Option<String>,

    /// Print only the daily summary, not every suspicious call.
    #[arg(long)]
    summary_only: bool,

    #[command(flatten)]
    site: SiteArgs,
}

fn format_of(args: &CdrArgs) -> Result<Format, Failure> {
    let usage =
        |e: pbxguard_cdr::FormatError| Failure::Usage(format!("--format {}: {e}", args.format));
    match args.format.as_str() {
        "asterisk-custom" => {
            let cols = args
                .columns
                .as_deref()
                .ok_or_else(|| Failure::Usage("--format asterisk-custom needs --columns".into()))?;
            Format::asterisk_custom(cols).map_err(usage)
        }
        "generic" => {
            let map = args
                .map
                .as_deref()
                .ok_or_else(|| Failure::Usage("--format generic needs --map".into()))?;
            Format::generic(map).map_err(usage)
        }
        other => Format::from_name(other).map_err(usage),
    }
}

/// Inputs this large get a progress line on a terminal.
const PROGRESS_MIN_BYTES: usize = 32 << 20;

/// Runs `pbxguard cdr`.
pub fn run(args: CdrArgs, ctx: &Context) -> Outcome {
    let format = format_of(&args)?;
    let mut site = args.site.load()?;
    if let Some(tz) = &args.timezone {
        let tz: Tz = tz
            .parse()
            .map_err(|_| Failure::Usage(format!("--timezone {tz:?} is not an IANA time zone")))?;
        site.audit.tz = tz;
        site.tz = tz;
    }
    let file_tz = site.tz;
    let mut auditor = Auditor::new(site.audit.clone());
    let progress = std::io::stderr().is_terminal();
    for (index, path) in args.files.iter().enumerate() {
        let data = std::fs::read(path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
        let show = progress && data.len() >= PROGRESS_MIN_BYTES;
        let mut reader = CdrReader::new(&data, format.clone(), file_tz);
        let mut next_report = data.len() / 20;
        while let Some(row) = reader.next() {
            match row {
                Ok(rec) => auditor.add(index, &rec),
                Err(e) => auditor.add_error(index, e),
            }
            if show && reader.position() >= next_report {
                let pct = reader.position() * 100 / data.len().max(1);
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{}: {pct:3}%", path.display());
                let _ = err.flush();
                next_report += data.len() / 20;
            }
        }
        if show {
            eprintln!("\r{}: done", path.display());
        }
    }
    let report = auditor.finish();
    for (file, err) in &report.malformed {
        let name = args
            .files
            .get(*file)
            .map_or_else(String::new, |p| p.display().to_string());
        tracing::warn!("{name}:{err} (row skipped)");
    }
    if ctx.json {
        print_json(&args, &report)?;
    } else {
        print_text(&args, &report)?;
    }
    Ok(if report.findings.is_empty() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}

fn file_name(args: &CdrArgs, i: usize) -> String {
    args.files
        .get(i)
        .map_or_else(String::new, |p| p.display().to_string())
}

fn print_json(args: &CdrArgs, report: &Report) -> Result<(), Failure> {
    let findings: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            json!({
                "file": file_name(args, f.file),
                "line": f.line,
                "start": f.start.to_string(),
                "extension": f.extension,
                "dialled": f.dialled,
                "e164": f.e164,
                "rule": f.rule.as_str(),
                "detail": f.detail,
            })
        })
        .collect();
    let malformed: Vec<_> = report
        .malformed
        .iter()
        .map(|(file, e)| json!({ "file": file_name(args, *file), "line": e.line, "problem": e.to_string() }))
        .collect();
    context::print_json(&json!({
        "records": report.records,
        "suspicious_calls": report.suspicious_calls(),
        "findings": if args.summary_only { json!([]) } else { json!(findings) },
        "days": serde_json::to_value(&report.days)?,
        "malformed": malformed,
    }))
}

fn print_text(args: &CdrArgs, report: &Report) -> Result<(), Failure> {
    let mut out = String::new();
    if !args.summary_only && !report.findings.is_empty() {
        out.push_str("Suspicious calls\n");
        out.push_str(&format!(
            "{:<24} {:<20} {:<8} {:<18} {:<22} {}\n",
            "start (UTC)", "file:line", "ext", "e164/dialled", "rule", "detail"
        ));
        for f in &report.findings {
            let place = format!("{}:{}", short(&file_name(args, f.file)), f.line);
            out.push_str(&format!(
                "{:<24} {:<20} {:<8} {:<18} {:<22} {}\n",
                f.start.to_string(),
                place,
                f.extension.as_deref().unwrap_or("-"),
                f.e164.as_deref().unwrap_or(&f.dialled),
                f.rule.as_str(),
                f.detail
            ));
        }
        out.push('\n');
    }
    out.push_str("Daily summary\n");
    out.push_str(&format!(
        "{:<12} {:>7} {:>9} {:>8} {:>10} {:>11}\n",
        "date", "calls", "outbound", "intl", "intl min", "suspicious"
    ));
    for d in &report.days {
        out.push_str(&format!(
            "{:<12} {:>7} {:>9} {:>8} {:>10} {:>11}\n",
            d.date, d.calls, d.outbound, d.international, d.international_minutes, d.suspicious
        ));
    }
    out.push_str(&format!(
        "\n{} records, {} suspicious calls, {} malformed rows skipped\n",
        report.records,
        report.suspicious_calls(),
        report.malformed.len()
    ));
    context::print(&out)
}

/// The file name without its directories, for the table.
fn short(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
