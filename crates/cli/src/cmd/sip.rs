//! `pbxguard sip`: look at SIP messages the way the guard does.

use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use pbxguard_sip::{Frame, Header, Message, Status, StatusCode, StreamParser, response, sdp};
use serde_json::{Value, json};

use crate::context::{self, Context, Exit, Failure, Outcome};

/// Header storage per message; more headers are counted as `too_many_headers`.
const MAX_HEADERS: usize = 128;

/// `pbxguard sip …`
#[derive(Debug, Subcommand)]
pub enum SipCommand {
    /// Parse SIP messages from files and print what the guard reads from them.
    ///
    /// Each FILE holds one message as received in a UDP datagram (or, with --stream, the bytes
    /// of a TCP/TLS stream, which may hold several messages and keep-alives). Prints the start
    /// line, Via, From, To, Call-ID, CSeq, User-Agent, credentials, SDP media and every anomaly
    /// (malformation) found. `-` reads standard input. Exits 1 when any message has an anomaly.
    Inspect {
        /// Files with raw SIP bytes (`-` for standard input).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Treat each file as a byte stream: Content-Length framing, several messages.
        #[arg(long)]
        stream: bool,
    },
    /// Print the final response the guard would send to reject a request (RFC 3261 §8.2.6).
    Reply {
        /// File with the raw request (`-` for standard input).
        file: PathBuf,
        /// Status code, 300 to 699.
        #[arg(long, default_value_t = 403, value_parser = clap::value_parser!(u16).range(300..=699))]
        status: u16,
        /// Reason phrase; defaults to the RFC 3261 phrase of the status code.
        #[arg(long)]
        reason: Option<String>,
        /// To tag added when the request's To has none.
        #[arg(long, default_value = "pbxguard")]
        tag: String,
    },
}

/// Runs `pbxguard sip …`.
pub fn run(command: SipCommand, ctx: &Context) -> Outcome {
    match command {
        SipCommand::Inspect { files, stream } => inspect(&files, stream, ctx),
        SipCommand::Reply {
            file,
            status,
            reason,
            tag,
        } => reply(&file, status, reason.as_deref(), &tag),
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, Failure> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        return Ok(buf);
    }
    Ok(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
}

fn inspect(files: &[PathBuf], stream: bool, ctx: &Context) -> Outcome {
    let mut reports = Vec::new();
    let mut any_anomaly = false;
    for path in files {
        let buf = read(path)?;
        let name = path.display().to_string();
        if stream {
            let parser = StreamParser::default();
            let mut rest = &buf[..];
            let mut index = 0usize;
            while !rest.is_empty() {
                let mut headers = [Header::EMPTY; MAX_HEADERS];
                let label = format!("{name}#{index}");
                match parser.parse(rest, &mut headers) {
                    Ok(Status::Complete(Frame::Message(m))) => {
                        any_anomaly |= !m.validate().is_empty();
                        reports.push(describe(&label, &m));
                        rest = rest.get(m.len()..).unwrap_or_default();
                    }
                    Ok(Status::Complete(Frame::KeepAlive { kind, len })) => {
                        reports.push(json!({"source": label, "keepalive": format!("{kind:?}")}));
                        rest = rest.get(len..).unwrap_or_default();
                    }
                    Ok(Status::Partial) => {
                        any_anomaly = true;
                        reports.push(json!({"source": label, "error": "incomplete message at end of stream", "bytes": rest.len()}));
                        break;
                    }
                    Err(e) => {
                        any_anomaly = true;
                        reports.push(json!({"source": label, "error": e.to_string()}));
                        break;
                    }
                }
                index += 1;
            }
        } else {
            let mut headers = [Header::EMPTY; MAX_HEADERS];
            match Message::parse_datagram(&buf, &mut headers) {
                Ok(m) => {
                    any_anomaly |= !m.validate().is_empty();
                    reports.push(describe(&name, &m));
                }
                Err(e) => {
                    any_anomaly = true;
                    reports.push(json!({"source": name, "error": e.to_string()}));
                }
            }
        }
    }
    if ctx.json {
        context::print_json(&Value::Array(reports))?;
    } else {
        let mut out = String::new();
        for r in &reports {
            render_text(&mut out, r);
        }
        context::print(&out)?;
    }
    Ok(if any_anomaly {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn describe(source: &str, m: &Message<'_, '_>) -> Value {
    let mut v = serde_json::Map::new();
    v.insert("source".into(), json!(source));
    if let Some(method) = m.method() {
        v.insert("method".into(), json!(method.as_str()));
        v.insert("request_uri".into(), json!(m.request_uri()));
    }
    if let Some(code) = m.status() {
        v.insert("status".into(), json!(code.as_u16()));
        v.insert("reason".into(), json!(m.reason().map(lossy)));
    }
    if let Some(via) = m.via() {
        v.insert(
            "via".into(),
            json!({
                "transport": via.transport.as_str(),
                "host": via.host.as_str(),
                "port": via.port,
                "branch": via.branch(),
                "received": via.received(),
                "rport": via.rport().map(|r| format!("{r:?}")),
            }),
        );
    }
    for (key, na) in [("from", m.from()), ("to", m.to())] {
        if let Some(na) = na {
            v.insert(
                key.into(),
                json!({
                    "display_name": na.display_name,
                    "user": na.uri.user,
                    "host": na.uri.host.map(|h| h.as_str()),
                    "port": na.uri.port,
                    "tag": na.tag(),
                }),
            );
        }
    }
    v.insert("call_id".into(), json!(m.call_id()));
    if let Some(c) = m.cseq() {
        v.insert(
            "cseq".into(),
            json!({"seq": c.seq, "method": c.method.as_str()}),
        );
    }
    v.insert(
        "user_agent".into(),
        json!(m.user_agent().or_else(|| m.server()).map(lossy)),
    );
    if let Some(a) = m.authorization().or_else(|| m.proxy_authorization()) {
        v.insert(
            "credentials".into(),
            json!({
                "scheme": a.scheme,
                "username": a.username(),
                "realm": a.realm(),
                "uri": a.uri(),
            }),
        );
    }
    if let Some(a) = m.www_authenticate().or_else(|| m.proxy_authenticate()) {
        v.insert(
            "challenge".into(),
            json!({"scheme": a.scheme, "realm": a.realm()}),
        );
    }
    if m.content_type().is_some_and(|c| c.is_sdp()) {
        match sdp::parse(m.body()) {
            Ok(s) => {
                let media: Vec<Value> = s
                    .media()
                    .map(|x| {
                        let addr = x.connection.or_else(|| s.connection()).map(|c| c.address);
                        json!({"kind": x.kind, "port": x.port, "address": addr})
                    })
                    .collect();
                v.insert("sdp_media".into(), json!(media));
            }
            Err(e) => {
                v.insert("sdp_error".into(), json!(e.to_string()));
            }
        }
    }
    v.insert("body_bytes".into(), json!(m.body().len()));
    v.insert(
        "anomalies".into(),
        json!(m.validate().iter().map(|a| a.name()).collect::<Vec<_>>()),
    );
    Value::Object(v)
}

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

fn render_text(out: &mut String, r: &Value) {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let _ = write!(out, "{}: ", s(field(r, "source")));
    if let Some(e) = r.get("error") {
        let _ = writeln!(out, "error: {}", s(e));
        return;
    }
    if let Some(k) = r.get("keepalive") {
        let _ = writeln!(out, "keep-alive {}", s(k));
        return;
    }
    if let Some(method) = r.get("method") {
        let _ = writeln!(out, "request {} {}", s(method), s(field(r, "request_uri")));
    } else if let Some(code) = r.get("status") {
        let _ = writeln!(out, "response {} {}", s(code), s(field(r, "reason")));
    } else {
        let _ = writeln!(out, "unreadable start line");
    }
    if let Some(via) = r.get("via") {
        let _ = writeln!(
            out,
            "  via         {} {}:{} branch={} received={} rport={}",
            s(field(via, "transport")),
            s(field(via, "host")),
            s(field(via, "port")),
            s(field(via, "branch")),
            s(field(via, "received")),
            s(field(via, "rport"))
        );
    }
    for key in ["from", "to"] {
        if let Some(na) = r.get(key) {
            let _ = writeln!(
                out,
                "  {key:<11} {} <{}@{}> tag={}",
                s(field(na, "display_name")),
                s(field(na, "user")),
                s(field(na, "host")),
                s(field(na, "tag"))
            );
        }
    }
    let _ = writeln!(out, "  call-id     {}", s(field(r, "call_id")));
    if let Some(c) = r.get("cseq") {
        let _ = writeln!(
            out,
            "  cseq        {} {}",
            s(field(c, "seq")),
            s(field(c, "method"))
        );
    }
    let _ = writeln!(out, "  user-agent  {}", s(field(r, "user_agent")));
    if let Some(a) = r.get("credentials") {
        let _ = writeln!(
            out,
            "  credentials {} username={} realm={} uri={}",
            s(field(a, "scheme")),
            s(field(a, "username")),
            s(field(a, "realm")),
            s(field(a, "uri"))
        );
    }
    if let Some(a) = r.get("challenge") {
        let _ = writeln!(
            out,
            "  challenge   {} realm={}",
            s(field(a, "scheme")),
            s(field(a, "realm"))
        );
    }
    if let Some(Value::Array(media)) = r.get("sdp_media") {
        for m in media {
            let _ = writeln!(
                out,
                "  sdp         {} {}:{}",
                s(field(m, "kind")),
                s(field(m, "address")),
                s(field(m, "port"))
            );
        }
    }
    if let Some(e) = r.get("sdp_error") {
        let _ = writeln!(out, "  sdp         error: {}", s(e));
    }
    let anomalies = match r.get("anomalies") {
        Some(Value::Array(a)) if !a.is_empty() => a.iter().map(s).collect::<Vec<_>>().join(", "),
        _ => "none".to_owned(),
    };
    let _ = writeln!(out, "  anomalies   {anomalies}");
}

fn reply(file: &PathBuf, status: u16, reason: Option<&str>, tag: &str) -> Outcome {
    let buf = read(file)?;
    let status = StatusCode::new(status)
        .ok_or_else(|| Failure::Usage(format!("--status {status}: not a status code")))?;
    let reason = reason
        .or(status.canonical_reason())
        .unwrap_or("Rejected")
        .to_owned();
    let mut headers = [Header::EMPTY; MAX_HEADERS];
    let msg = Message::parse_datagram(&buf, &mut headers)
        .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
    let mut out = vec![0u8; 65_535];
    let n = response::build(&msg, status, &reason, tag, &mut out)
        .map_err(|e| Failure::Usage(format!("{}: cannot answer: {e}", file.display())))?;
    context::print(&String::from_utf8_lossy(out.get(..n).unwrap_or_default()))?;
    Ok(Exit::Ok)
}
