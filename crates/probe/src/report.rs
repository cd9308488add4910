//! Turns probe results into findings: pass or fail for each port against what the site expects,
//! with the fix in plain words.

use std::collections::BTreeSet;
use std::fmt;

use crate::wire::{ProbeKind, ProbeResult, ProbeSpec, Verdict};

/// What the site expects of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expect {
    /// It must be reachable from the internet (a forwarded service port).
    Reachable,
    /// It must not be reachable.
    Closed,
}

/// One checked port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The probe.
    pub spec: ProbeSpec,
    /// What the site expects.
    pub expect: Expect,
    /// What the reflector found.
    pub verdict: Verdict,
    /// Whether the agent's own listener received the probe.
    pub heard: bool,
    /// Whether the port passes.
    pub pass: bool,
    /// What was observed, in words.
    pub observed: String,
    /// How to fix a failure.
    pub fix: Option<String>,
}

/// The transport and service of a probe, for messages.
pub fn describe(spec: ProbeSpec) -> String {
    match spec.kind {
        ProbeKind::UDP => format!("udp/{}", spec.port),
        ProbeKind::TCP => format!("tcp/{}", spec.port),
        ProbeKind::SIP_UDP => format!("sip udp/{}", spec.port),
        ProbeKind::SIP_TCP => format!("sip tcp/{}", spec.port),
        ProbeKind::SIP_ALG_IN => format!("sip alg udp/{}", spec.port),
        ProbeKind(k) => format!("probe {k} port {}", spec.port),
    }
}

fn proto(spec: ProbeSpec) -> &'static str {
    match spec.kind {
        ProbeKind::TCP | ProbeKind::SIP_TCP => "TCP",
        _ => "UDP",
    }
}

fn first_line(evidence: &[u8]) -> String {
    let line = evidence
        .split(|b| *b == b'\r' || *b == b'\n')
        .next()
        .unwrap_or_default();
    String::from_utf8_lossy(line).chars().take(80).collect()
}

/// Evaluates each expected port against the reflector's results and what the agent heard.
/// A port without a result (the reflector did not report it) fails as untested.
pub fn evaluate(
    expected: &[(ProbeSpec, Expect)],
    results: &[ProbeResult],
    heard: &BTreeSet<ProbeSpec>,
) -> Vec<Finding> {
    expected
        .iter()
        .map(|&(spec, expect)| {
            let result = results.iter().find(|r| r.spec == spec);
            let verdict = result.map_or(Verdict::SKIPPED, |r| r.verdict);
            let evidence = result.map_or(&[][..], |r| r.evidence.as_slice());
            let was_heard = heard.contains(&spec);
            let (p, port) = (proto(spec), spec.port);
            let (pass, observed, fix) = match (expect, verdict) {
                (_, Verdict::SKIPPED) => (
                    false,
                    "not tested".to_owned(),
                    Some("run the check again; the reflector skipped this probe".to_owned()),
                ),
                (Expect::Reachable, Verdict::ANSWERED) => {
                    let how = if was_heard {
                        "reached the agent's listener".to_owned()
                    } else if matches!(spec.kind, ProbeKind::SIP_UDP | ProbeKind::SIP_TCP) {
                        format!("the PBX answered OPTIONS: {}", first_line(evidence))
                    } else {
                        "answered".to_owned()
                    };
                    (true, how, None)
                }
                (Expect::Reachable, Verdict::REFUSED) => (
                    false,
                    "refused (reset or port unreachable)".to_owned(),
                    Some(format!(
                        "the router forwards {p} {port} to a host where nothing listens on it: point the \
                         forward at the PBX's address, and check that the PBX service listens on {port}"
                    )),
                ),
                (Expect::Reachable, _) => (
                    false,
                    "nothing arrived".to_owned(),
                    Some(format!(
                        "forward {p} port {port} on the router to the PBX, and allow it in the PBX's \
                         own firewall"
                    )),
                ),
                (Expect::Closed, Verdict::SILENT | Verdict::REFUSED) if was_heard => (
                    false,
                    "forwarded to this host (the probe arrived; nothing answers there now)"
                        .to_owned(),
                    Some(format!(
                        "remove the router's forward of {p} port {port}: it exposes this host even \
                         though nothing listens there now"
                    )),
                ),
                (Expect::Closed, Verdict::SILENT) => (true, "no answer".to_owned(), None),
                (Expect::Closed, Verdict::REFUSED) => (
                    false,
                    "forwarded, nothing listening (reset or port unreachable from inside)".to_owned(),
                    Some(format!(
                        "remove the router's forward of {p} port {port}: it exposes the inside host even \
                         though nothing listens there now"
                    )),
                ),
                (Expect::Closed, _) => (
                    false,
                    format!("reachable from the internet: {}", first_line(evidence)),
                    Some(format!(
                        "remove the router's forward of {p} port {port} and block it in the firewall; \
                         this service must not be reachable from the internet"
                    )),
                ),
            };
            Finding {
                spec,
                expect,
                verdict,
                heard: was_heard,
                pass,
                observed,
                fix,
            }
        })
        .collect()
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let want = match self.expect {
            Expect::Reachable => "open",
            Expect::Closed => "closed",
        };
        write!(
            f,
            "{} {:<16} must be {want:<6} {}",
            if self.pass { "PASS" } else { "FAIL" },
            describe(self.spec),
            self.observed
        )?;
        if let Some(fix) = &self.fix {
            write!(f, "\n     fix: {fix}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ProbeKind, port: u16) -> ProbeSpec {
        ProbeSpec { kind, port }
    }

    fn res(spec: ProbeSpec, verdict: Verdict, evidence: &[u8]) -> ProbeResult {
        ProbeResult {
            spec,
            verdict,
            evidence: evidence.to_vec(),
        }
    }

    #[test]
    fn each_verdict_against_each_expectation() {
        let cases = [
            (Expect::Reachable, Verdict::ANSWERED, true),
            (Expect::Reachable, Verdict::SILENT, false),
            (Expect::Reachable, Verdict::REFUSED, false),
            (Expect::Reachable, Verdict::SKIPPED, false),
            (Expect::Closed, Verdict::SILENT, true),
            (Expect::Closed, Verdict::ANSWERED, false),
            (Expect::Closed, Verdict::REFUSED, false),
            (Expect::Closed, Verdict::SKIPPED, false),
        ];
        for (expect, verdict, pass) in cases {
            let s = spec(ProbeKind::TCP, 22);
            let f = evaluate(&[(s, expect)], &[res(s, verdict, b"")], &BTreeSet::new());
            assert_eq!(f[0].pass, pass, "{expect:?} {verdict:?}");
            assert_eq!(f[0].fix.is_some(), !pass, "{expect:?} {verdict:?}");
        }
    }

    #[test]
    fn a_closed_port_whose_probe_reached_the_agent_fails_even_without_an_answer() {
        let s = spec(ProbeKind::UDP, 5070);
        let heard: BTreeSet<ProbeSpec> = [s].into_iter().collect();
        for verdict in [Verdict::SILENT, Verdict::REFUSED] {
            let f = evaluate(&[(s, Expect::Closed)], &[res(s, verdict, b"")], &heard);
            assert!(!f[0].pass, "{verdict:?}");
            assert!(f[0].observed.starts_with("forwarded to this host"), "{f:?}");
        }
        let f = evaluate(
            &[(s, Expect::Closed)],
            &[res(s, Verdict::SILENT, b"")],
            &BTreeSet::new(),
        );
        assert!(f[0].pass);
    }

    #[test]
    fn sip_answer_is_quoted_and_missing_results_fail_as_untested() {
        let sip = spec(ProbeKind::SIP_UDP, 5060);
        let rtp = spec(ProbeKind::UDP, 10_000);
        let f = evaluate(
            &[(sip, Expect::Reachable), (rtp, Expect::Reachable)],
            &[res(sip, Verdict::ANSWERED, b"SIP/2.0 200 OK\r\nVia: x\r\n")],
            &BTreeSet::new(),
        );
        assert!(f[0].pass);
        assert!(
            f[0].observed.ends_with("SIP/2.0 200 OK"),
            "{}",
            f[0].observed
        );
        assert!(!f[1].pass);
        assert_eq!(f[1].observed, "not tested");
    }
}

/// Why a port list is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortListError {
    /// An item is not a port number or `LOW-HIGH` range of port numbers.
    NotAPort {
        /// The item.
        item: String,
    },
    /// A range whose low end exceeds its high end, or that includes port 0.
    BadRange {
        /// The item.
        item: String,
    },
}

impl fmt::Display for PortListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortListError::NotAPort { item } => {
                write!(f, "{item:?} is not a port or LOW-HIGH range")
            }
            PortListError::BadRange { item } => write!(f, "{item:?} is not a valid port range"),
        }
    }
}

impl std::error::Error for PortListError {}

/// Parses `5060,5061,10000-10010` into ranges.
///
/// # Errors
///
/// [`PortListError`] naming the first bad item.
pub fn parse_ports(list: &str) -> Result<Vec<(u16, u16)>, PortListError> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || PortListError::NotAPort {
            item: item.to_owned(),
        };
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<u16>().map_err(|_| bad())?,
                b.trim().parse::<u16>().map_err(|_| bad())?,
            ),
            None => {
                let p = item.parse::<u16>().map_err(|_| bad())?;
                (p, p)
            }
        };
        if lo == 0 || lo > hi {
            return Err(PortListError::BadRange {
                item: item.to_owned(),
            });
        }
        out.push((lo, hi));
    }
    Ok(out)
}

/// Samples a port range for probing: both ends, and `interior` ports spread evenly between them
/// (RTP ranges are thousands of ports; a forward that covers the ends and a spread of the middle
/// almost always covers all of it).
pub fn sample_range(lo: u16, hi: u16, interior: u16) -> Vec<u16> {
    let mut ports = vec![lo];
    let span = u32::from(hi.saturating_sub(lo));
    if span >= 2 {
        let n = u32::from(interior).min(span - 1);
        for i in 1..=n {
            let p = u32::from(lo) + i * span / (n + 1);
            if let Ok(p) = u16::try_from(p) {
                ports.push(p);
            }
        }
    }
    if hi != lo {
        ports.push(hi);
    }
    ports.dedup();
    ports
}

/// Up to `n` distinct ports of `lo..=hi` that are not in `taken`, drawn at random from `seed` (a
/// different seed per run covers different ports of a range over repeated checks). A range with no
/// more than `n` free ports gives all of them, in order.
pub fn random_ports(lo: u16, hi: u16, n: u16, taken: &[u16], seed: u64) -> Vec<u16> {
    let free: Vec<u16> = (lo..=hi).filter(|p| !taken.contains(p)).collect();
    if free.len() <= usize::from(n) {
        return free;
    }
    // xorshift64*: plenty for spreading probes; nothing here needs to be unpredictable.
    let mut x = seed | 1;
    let mut out: Vec<u16> = Vec::with_capacity(usize::from(n));
    let len = u64::try_from(free.len()).unwrap_or(u64::MAX);
    while out.len() < usize::from(n) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let pick = usize::try_from(r % len).unwrap_or(0);
        if let Some(&p) = free.get(pick)
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod port_tests {
    use super::*;

    #[test]
    fn port_lists_and_ranges_parse() {
        assert_eq!(
            parse_ports("5060, 10000-10010,22"),
            Ok(vec![(5060, 5060), (10000, 10010), (22, 22)])
        );
        assert!(parse_ports("5060,x").is_err());
        assert!(parse_ports("20-10").is_err());
        assert!(parse_ports("0").is_err());
        assert!(parse_ports("70000").is_err());
    }

    #[test]
    fn random_ports_are_distinct_in_range_and_avoid_the_spread() {
        let spread = sample_range(10000, 20000, 6);
        for seed in 0..50 {
            let r = random_ports(10000, 20000, 3, &spread, seed);
            assert_eq!(r.len(), 3);
            for p in &r {
                assert!((10000..=20000).contains(p), "{p}");
                assert!(!spread.contains(p), "{p}");
                assert_eq!(r.iter().filter(|q| *q == p).count(), 1, "{r:?}");
            }
        }
        assert_ne!(
            random_ports(10000, 20000, 3, &spread, 1),
            random_ports(10000, 20000, 3, &spread, 2)
        );
        // A small range gives what is left of it.
        assert_eq!(random_ports(10, 13, 5, &[10, 13], 7), vec![11, 12]);
        assert_eq!(random_ports(10, 12, 2, &[10, 11, 12], 7), Vec::<u16>::new());
    }

    #[test]
    fn range_sample_keeps_the_ends_and_spreads_the_middle() {
        assert_eq!(
            sample_range(10000, 20000, 3),
            vec![10000, 12500, 15000, 17500, 20000]
        );
        assert_eq!(sample_range(5060, 5060, 8), vec![5060]);
        assert_eq!(sample_range(10, 12, 8), vec![10, 11, 12]);
    }
}
