//! Attacker-controlled CDR content never panics the reader or the audit: seeded random bytes,
//! random mutations of real rows, and hostile field values.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use pbxguard_cdr::generate::{GeneratorConfig, Rng, generate, site_audit_config};
use pbxguard_cdr::{Auditor, CdrReader, Format};

fn formats() -> Vec<Format> {
    vec![
        Format::AsteriskMaster,
        Format::Freeswitch,
        Format::FreeswitchAsterisk,
        Format::asterisk_custom("src,dst,start,answer,end,duration,billsec,disposition").unwrap(),
        Format::generic("src=a,dst=b,start=c,billsec=d").unwrap(),
    ]
}

fn audit_all(data: &[u8]) {
    for format in formats() {
        let mut auditor = Auditor::new(site_audit_config());
        for row in CdrReader::new(data, format, chrono_tz::Europe::London) {
            match row {
                Ok(rec) => auditor.add(0, &rec),
                Err(e) => {
                    let _ = e.to_string();
                    auditor.add_error(0, e);
                }
            }
        }
        let _ = auditor.finish();
    }
}

#[test]
fn random_bytes() {
    let mut rng = Rng::new(0xdead_beef);
    let alphabet = b"\",\n\r0123456789-: .+*#abcXYZ\xff\xc3";
    for _ in 0..120 {
        let len = rng.range(0, 600) as usize;
        let data: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.range(0, alphabet.len() as u32 - 1) as usize])
            .collect();
        audit_all(&data);
    }
}

#[test]
fn mutated_real_rows() {
    let g = generate(&GeneratorConfig {
        days: 2,
        extensions: 3,
        ..GeneratorConfig::default()
    });
    let base = g.csv.into_bytes();
    let mut rng = Rng::new(42);
    for _ in 0..50 {
        let mut data = base.clone();
        for _ in 0..rng.range(1, 20) {
            let i = rng.range(0, data.len() as u32 - 1) as usize;
            match rng.range(0, 3) {
                0 => data[i] = b'"',
                1 => data[i] = b',',
                2 => data[i] = rng.next_u64() as u8,
                _ => {
                    data.truncate(i);
                    break;
                }
            }
        }
        audit_all(&data);
    }
}

#[test]
fn hostile_values() {
    let rows = [
        r#""","201","99999999999999999999999999999999","c","","SIP/201-1","SIP/x-2","","","9999-99-99 99:99:99","","",99999999999,1,"ANSWERED","""#,
        r#""","201","+","c","","/","/-","","","0000-01-01 00:00:00","","",0,0,"","""#,
        r#""","","","","","","","","","1969-12-31 23:59:59","","",,,"","""#,
        r#""","201","9001","c","","sofia/gateway","sofia","","","18446744073709551616","","",4294967296,0,"","""#,
    ];
    audit_all(rows.join("\n").as_bytes());
}
