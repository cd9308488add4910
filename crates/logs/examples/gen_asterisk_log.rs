//! Writes a synthetic Asterisk `full` log with a realistic mix, for benchmarking the log sensor against
//! fail2ban: `cargo run --release -p pbxguard-logs --example gen_asterisk_log -- LINES SEED > full.log`.
//!
//! The same seed always gives the same file. About three lines in four are the ordinary noise of a busy
//! PBX (dialplan, qualify, registrations, security-log challenges and successes of its phones); the rest
//! come from attack campaigns, several at a time, each from its own address: password brute force through
//! chan_sip, PJSIP and the security log, extension enumeration, `friendly-scanner`, IAX2 and manager
//! interface guessing, toll-fraud dial probes, and low-and-slow guessers that stay under every threshold.
//! Offices behind one NAT address register phones all day, and now and then one phone with a stale
//! password fails a few times in a row.

#![allow(
    clippy::indexing_slicing,
    reason = "indexes are taken modulo the lengths; a generator, not a parser"
)]

use std::io::{self, BufWriter, Write};

/// SplitMix64: small, seedable, and good enough for a workload mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    SipBrute,
    PjsipBrute,
    SecurityBrute,
    SipEnum,
    PjsipEnum,
    SecurityEnum,
    Scanner,
    Iax,
    Ami,
    DialProbe,
    LowAndSlow,
    ScannerBlip,
}

struct Campaign {
    kind: Kind,
    addr: String,
    user: u64,
    left: u64,
}

const PBX: &str = "192.0.2.10";

fn attacker_addr(rng: &mut Rng) -> String {
    if rng.chance(4) {
        format!(
            "2001:db8:{:x}:{:x}::{:x}",
            rng.below(0xffff),
            rng.below(0xffff),
            rng.range(1, 0xffff)
        )
    } else {
        // Public-looking IPv4 space, away from the office and PBX documentation ranges.
        format!(
            "{}.{}.{}.{}",
            [45, 77, 91, 103, 141, 185, 193, 212][rng.below(8) as usize],
            rng.below(256),
            rng.below(256),
            rng.range(1, 254)
        )
    }
}

fn new_campaign(rng: &mut Rng) -> Campaign {
    let kinds = [
        (Kind::SipBrute, 12),
        (Kind::PjsipBrute, 12),
        (Kind::SecurityBrute, 8),
        (Kind::SipEnum, 12),
        (Kind::PjsipEnum, 12),
        (Kind::SecurityEnum, 6),
        (Kind::Scanner, 8),
        (Kind::Iax, 4),
        (Kind::Ami, 4),
        (Kind::DialProbe, 6),
        (Kind::LowAndSlow, 10),
        (Kind::ScannerBlip, 6),
    ];
    let total: u64 = kinds.iter().map(|(_, w)| w).sum();
    let mut pick = rng.below(total);
    let mut kind = Kind::SipBrute;
    for (k, w) in kinds {
        if pick < w {
            kind = k;
            break;
        }
        pick -= w;
    }
    let left = match kind {
        Kind::LowAndSlow => rng.range(1, 4),
        Kind::ScannerBlip => rng.range(1, 3),
        Kind::Iax | Kind::Ami => rng.range(10, 120),
        _ => rng.range(15, 600),
    };
    Campaign {
        kind,
        addr: attacker_addr(rng),
        user: rng.range(100, 999),
        left,
    }
}

fn bracket(addr: &str) -> String {
    if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_owned()
    }
}

fn family(addr: &str) -> &'static str {
    if addr.contains(':') { "IPV6" } else { "IPV4" }
}

fn security(ts: &str, pid: u64, event: &str, acct: &str, addr: &str, port: u64) -> String {
    format!(
        "[{ts}] SECURITY[{pid}] res_security_log.c: SecurityEvent=\"{event}\",EventTV=\"{ts}.000+0000\",Severity=\"Error\",Service=\"PJSIP\",EventVersion=\"1\",AccountID=\"{acct}\",SessionID=\"0x7f3a{pid:x}\",LocalAddress=\"IPV4/UDP/{PBX}/5060\",RemoteAddress=\"{}/UDP/{addr}/{port}\"",
        family(addr)
    )
}

fn attack_line(rng: &mut Rng, c: &mut Campaign, ts: &str) -> String {
    let port = rng.range(5060, 5099);
    let a = bracket(&c.addr);
    let cid = rng.next() & 0xffff_ffff;
    c.left -= 1;
    match c.kind {
        Kind::SipBrute | Kind::LowAndSlow => format!(
            "[{ts}] NOTICE[2213] chan_sip.c: Registration from '\"{u}\" <sip:{u}@{PBX}>' failed for '{a}:{port}' - Wrong password",
            u = c.user
        ),
        Kind::PjsipBrute => format!(
            "[{ts}] NOTICE[2240] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:{u}@{PBX}>' failed for '{a}:{port}' (callid: {cid:08x}) - Failed to authenticate",
            u = c.user
        ),
        Kind::SecurityBrute => security(
            ts,
            2240,
            if rng.chance(50) {
                "ChallengeResponseFailed"
            } else {
                "InvalidPassword"
            },
            &c.user.to_string(),
            &c.addr,
            port,
        ),
        Kind::SipEnum => {
            c.user += 1;
            format!(
                "[{ts}] NOTICE[2213] chan_sip.c: Registration from '\"{u}\" <sip:{u}@{PBX}>' failed for '{a}:{port}' - No matching peer found",
                u = c.user
            )
        }
        Kind::PjsipEnum => {
            c.user += 1;
            format!(
                "[{ts}] NOTICE[2240] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '\"{u}\" <sip:{u}@{PBX}>' failed for '{a}:{port}' (callid: {cid:08x}) - No matching endpoint found after 5 tries in 0.{:03} ms",
                rng.below(1000),
                u = c.user
            )
        }
        Kind::SecurityEnum => {
            c.user += 1;
            security(
                ts,
                2240,
                "InvalidAccountID",
                &c.user.to_string(),
                &c.addr,
                port,
            )
        }
        Kind::Scanner | Kind::ScannerBlip => {
            c.user += 1;
            format!(
                "[{ts}] NOTICE[2213] chan_sip.c: Registration from '\"friendly-scanner\" <sip:{u}@{PBX}>' failed for '{a}:{port}' - No matching peer found",
                u = c.user
            )
        }
        Kind::Iax => format!(
            "[{ts}] NOTICE[2301] chan_iax2.c: Host {} failed MD5 authentication for '{}' ({:08x} != {:08x})",
            c.addr,
            c.user,
            rng.next() & 0xffff_ffff,
            rng.next() & 0xffff_ffff
        ),
        Kind::Ami => {
            if rng.chance(50) {
                format!(
                    "[{ts}] NOTICE[3001] manager.c: {} failed to authenticate as 'admin'",
                    c.addr
                )
            } else {
                format!(
                    "[{ts}] NOTICE[3001] manager.c: {} tried to authenticate with nonexistent user 'manager{}'",
                    c.addr,
                    rng.below(50)
                )
            }
        }
        Kind::DialProbe => format!(
            "[{ts}] NOTICE[2213][C-{:08x}] chan_sip.c: Call from '' ({a}:{port}) to extension '00972{}' rejected because extension not found in context 'public'.",
            cid,
            rng.range(500_000_000, 599_999_999)
        ),
    }
}

fn noise_line(rng: &mut Rng, ts: &str, offices: &[String]) -> String {
    let office = &offices[rng.below(offices.len() as u64) as usize];
    let ext = rng.range(200, 260);
    let chan = rng.next() & 0xffff_ffff;
    match rng.below(10) {
        0 => format!(
            "[{ts}] VERBOSE[{}][C-{chan:08x}] pbx.c:     -- Executing [{ext}@from-internal:1] Dial(\"PJSIP/{}-{chan:08x}\", \"PJSIP/{ext},20,tT\") in new stack",
            rng.range(3000, 9000),
            rng.range(200, 260)
        ),
        1 => format!(
            "[{ts}] VERBOSE[2213] chan_sip.c:     -- Registered SIP '{ext}' at {office}:{}",
            rng.range(1024, 65000)
        ),
        2 => format!(
            "[{ts}] VERBOSE[2240] res_pjsip_registrar.c:     -- Added contact 'sip:{ext}@{office}:{};ob' to AOR '{ext}' with expiration of 3600 seconds",
            rng.range(1024, 65000)
        ),
        3 => security(
            ts,
            2240,
            "SuccessfulAuth",
            &ext.to_string(),
            office,
            rng.range(1024, 65000),
        )
        .replace("Severity=\"Error\"", "Severity=\"Informational\""),
        4 => security(
            ts,
            2240,
            "ChallengeSent",
            &ext.to_string(),
            office,
            rng.range(1024, 65000),
        )
        .replace("Severity=\"Error\"", "Severity=\"Informational\""),
        5 => format!(
            "[{ts}] NOTICE[2213] chan_sip.c: Peer '{ext}' is now Reachable. ({}ms / 2000ms)",
            rng.range(5, 80)
        ),
        6 => format!(
            "[{ts}] WARNING[{}][C-{chan:08x}] chan_sip.c: Retransmission timeout reached on transmission {chan:x}@{PBX} for seqno 102 (Critical Request) -- See https://wiki.asterisk.org/wiki/display/AST/SIP+Retransmissions",
            rng.range(3000, 9000)
        ),
        7 => format!(
            "[{ts}] VERBOSE[{}][C-{chan:08x}] app_dial.c:     -- PJSIP/{ext}-{chan:08x} answered PJSIP/{}-{:08x}",
            rng.range(3000, 9000),
            rng.range(200, 260),
            rng.next() & 0xffff_ffff
        ),
        8 => format!(
            "[{ts}] VERBOSE[{}] asterisk.c: Remote UNIX connection",
            rng.range(3000, 9000)
        ),
        _ => format!(
            "[{ts}] DEBUG[{}][C-{chan:08x}] rtp_engine.c: Setting RTP format for PJSIP/{ext}-{chan:08x} to ulaw",
            rng.range(3000, 9000)
        ),
    }
}

fn stamp(secs: u64) -> String {
    // 2026-11-22 00:00:00 UTC plus `secs`, within a few days, without a calendar library.
    let base_day = 22u64;
    let day = base_day + secs / 86_400;
    let rem = secs % 86_400;
    format!(
        "2026-11-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let lines: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(42);
    let mut rng = Rng(seed);
    let offices: Vec<String> = (1..=40).map(|i| format!("198.51.100.{i}")).collect();
    // Spread the lines over about two days, however many there are.
    let span_ms = 2 * 86_400_000u64;
    let step = (span_ms / lines.max(1)).max(1);
    let mut campaigns: Vec<Campaign> = (0..6).map(|_| new_campaign(&mut rng)).collect();
    let mut broken: Option<(String, u64, u64)> = None;
    let out = io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let mut t_ms = 0u64;
    for _ in 0..lines {
        t_ms += rng.range(step / 2, step + step / 2);
        let ts = stamp(t_ms / 1000);
        let roll = rng.below(1000);
        let line = if roll < 240 {
            let i = rng.below(campaigns.len() as u64) as usize;
            let c = &mut campaigns[i];
            // Low-and-slow guessers and one-shot scanners send rarely: most of their turns pass.
            let slow = matches!(c.kind, Kind::LowAndSlow | Kind::ScannerBlip);
            if slow && !rng.chance(2) {
                noise_line(&mut rng, &ts, &offices)
            } else {
                let line = attack_line(&mut rng, c, &ts);
                if c.left == 0 {
                    *c = new_campaign(&mut rng);
                }
                line
            }
        } else if broken.is_some() && roll < 250 || broken.is_none() && rng.below(20_000) == 0 {
            // A phone in an office with a stale password: a handful of failures, then fixed.
            let (office, ext, left) = broken.get_or_insert_with(|| {
                (
                    offices[rng.below(offices.len() as u64) as usize].clone(),
                    rng.range(200, 260),
                    rng.range(5, 8),
                )
            });
            let line = format!(
                "[{ts}] NOTICE[2213] chan_sip.c: Registration from '\"{ext}\" <sip:{ext}@{PBX}>' failed for '{office}:{}' - Wrong password",
                rng.range(1024, 65000)
            );
            *left -= 1;
            if *left == 0 {
                broken = None;
            }
            line
        } else {
            noise_line(&mut rng, &ts, &offices)
        };
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
