//! Every supported CDR layout, and malformed rows reported by line without losing the others.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use pbxguard_cdr::reader::{Disposition, RowErrorKind};
use pbxguard_cdr::{CdrReader, Format};
use pbxguard_numbers::Timestamp;

/// 2026-04-01 10:00:00 UTC.
const T0: i64 = 1_775_037_600;

fn read(
    data: &str,
    format: Format,
) -> (Vec<pbxguard_cdr::CdrRecord<'_>>, Vec<(u64, RowErrorKind)>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for row in CdrReader::new(data.as_bytes(), format, chrono_tz::UTC) {
        match row {
            Ok(r) => ok.push(r),
            Err(e) => bad.push((e.line, e.kind)),
        }
    }
    (ok, bad)
}

const MASTER_16: &str = r#""","201","901214960123","from-internal","""Alice"" <201>","SIP/201-00000001","SIP/carrier-00000002","Dial","SIP/carrier/01214960123,300","2026-04-01 10:00:00","2026-04-01 10:00:05","2026-04-01 10:02:05",125,120,"ANSWERED","DOCUMENTATION""#;
const MASTER_18: &str = r#""acct","202","900331234567","from-internal","""Bob"" <202>","SIP/202-00000003","SIP/carrier-00000004","Dial","SIP/carrier/00331234567,300","2026-04-01 10:00:10","","2026-04-01 10:00:40",30,0,"NO ANSWER","DOCUMENTATION","1775037610.3","""#;
const MASTER_21: &str = r#""","203","907400123456","from-internal","""Carol"" <203>","PJSIP/203-00000005","PJSIP/carrier-00000006","Dial","PJSIP/07400123456@carrier,300","2026-04-01 10:01:00","","2026-04-01 10:01:09",9,0,"BUSY","DOCUMENTATION","1775037660.5","","","1775037660.5","7""#;

#[test]
fn asterisk_master_16_18_21_columns() {
    let data = format!("{MASTER_16}\n{MASTER_18}\r\n\n{MASTER_21}\n");
    let (ok, bad) = read(&data, Format::AsteriskMaster);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(ok.len(), 3);
    let a = &ok[0];
    assert_eq!((a.line, &*a.src, &*a.dst), (1, "201", "901214960123"));
    assert_eq!(a.start, Timestamp::from_unix_secs(T0));
    assert_eq!(a.answer, Some(Timestamp::from_unix_secs(T0 + 5)));
    assert_eq!(
        (a.duration, a.billsec, a.disposition),
        (125, 120, Disposition::Answered)
    );
    assert_eq!(a.trunk(), Some("carrier"));
    assert_eq!(a.caller_peer(), Some("201"));
    let b = &ok[1];
    assert_eq!(
        (b.line, &*b.account_code, &*b.unique_id),
        (2, "acct", "1775037610.3")
    );
    assert_eq!((b.answer, b.disposition), (None, Disposition::NoAnswer));
    let c = &ok[2];
    assert_eq!(
        (c.line, c.disposition, &*c.unique_id),
        (4, Disposition::Busy, "1775037660.5")
    );
    assert_eq!(c.trunk(), Some("carrier"));
}

#[test]
fn asterisk_times_are_read_in_the_given_zone() {
    let rows: Vec<_> = CdrReader::new(
        MASTER_16.as_bytes(),
        Format::AsteriskMaster,
        chrono_tz::Europe::Berlin,
    )
    .collect();
    // 10:00 in Berlin (CEST, UTC+2) is 08:00 UTC.
    assert_eq!(
        rows[0].as_ref().unwrap().start,
        Timestamp::from_unix_secs(T0 - 7200)
    );
}

#[test]
fn asterisk_custom_from_mapping_line() {
    let mapping = r#"${CSV_QUOTE(${CDR(clid)})},${CSV_QUOTE(${CDR(src)})},${CSV_QUOTE(${CDR(dst)})},${CSV_QUOTE(${CDR(start)})},${CDR(billsec)},${CSV_QUOTE(${CDR(disposition)})},${CSV_QUOTE(${CDR(uniqueid)})}"#;
    let format = Format::asterisk_custom(mapping).unwrap();
    let data = "\"\"\"A\"\" <201>\",\"201\",\"9004930123456\",\"2026-04-01 10:00:00\",61,\"ANSWERED\",\"x.1\"\n";
    let (ok, bad) = read(data, format);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(
        (&*ok[0].dst, ok[0].billsec, ok[0].duration),
        ("9004930123456", 61, 61)
    );
    // A plain column list works too, and a list without dst is refused.
    assert!(Format::asterisk_custom("src,dst,start,billsec").is_ok());
    assert!(Format::asterisk_custom("src,start").is_err());
}

#[test]
fn freeswitch_example_template_its_extensions_and_the_asterisk_template() {
    let default = r#""Alice","1000","0033123456789","default","2026-04-01 10:00:00","2026-04-01 10:00:04","2026-04-01 10:01:04","64","60","NORMAL_CLEARING","a6b1c6b2-1111-4a4a-9c9c-000000000001","","1000","PCMU","PCMU""#;
    let (ok, bad) = read(default, Format::Freeswitch);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(
        (&*ok[0].src, &*ok[0].dst, ok[0].disposition),
        ("1000", "0033123456789", Disposition::Answered)
    );
    let unanswered = r#""Bob","1001","0033123456780","default","2026-04-01 10:00:00","","2026-04-01 10:00:20","20","0","NORMAL_CLEARING","a6b1c6b2-1111-4a4a-9c9c-000000000002","","1001""#;
    let (ok, _) = read(unanswered, Format::Freeswitch);
    assert_eq!(ok[0].disposition, Disposition::NoAnswer);
    // The snom template: the same 15 columns, then user agent, client code, RTP stats, recording.
    let snom = format!(r#"{default},"snom-PA1-SIP/8.7.5.35","","in","out","rec.wav""#);
    let (ok, bad) = read(&snom, Format::Freeswitch);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!((&*ok[0].dst, ok[0].billsec), ("0033123456789", 60));
    let asterisk = r#""1000","1000","0033123456789","default","""Alice"" <1000>","sofia/internal/1000@10.0.0.2","sofia/gateway/carrier/0033123456789","bridge","sofia/gateway/carrier/0033123456789","2026-04-01 10:00:00","2026-04-01 10:00:04","2026-04-01 10:01:04","64","60","NORMAL_CLEARING","default","a6b1c6b2-1111-4a4a-9c9c-000000000003","""#;
    let (ok, bad) = read(asterisk, Format::FreeswitchAsterisk);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(
        (ok[0].trunk(), ok[0].caller_peer()),
        (Some("carrier"), Some("1000"))
    );
    assert_eq!(ok[0].start, Timestamp::from_unix_secs(T0));
}

#[test]
fn generic_csv_with_header_and_column_map() {
    let format =
        Format::generic("src=Caller, dst=Called Number, start=When, billsec=Seconds").unwrap();
    let data = "When,Caller,Called Number,Seconds,Cost\n1775037600,201,00441214960123,42,0.10\n2026-04-01 10:05:00,202,0033123456789,0,0\n";
    let (ok, bad) = read(data, format);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(ok.len(), 2);
    assert_eq!(
        (ok[0].line, ok[0].start, ok[0].billsec),
        (2, Timestamp::from_unix_secs(T0), 42)
    );
    assert_eq!(ok[1].start, Timestamp::from_unix_secs(T0 + 300));
    // Numbers address columns by position.
    let by_index = Format::generic("dst=2,start=1").unwrap();
    let (ok, _) = read("h1,h2\n1775037600,0033123456789\n", by_index);
    assert_eq!(&*ok[0].dst, "0033123456789");
    // A header without a mapped column stops the file with one error.
    let (ok, bad) = read("a,b\n1,2\n", Format::generic("dst=x,start=a").unwrap());
    assert!(ok.is_empty());
    assert_eq!(
        bad,
        vec![(1, RowErrorKind::HeaderColumnMissing { column: "x".into() })]
    );
}

#[test]
fn malformed_rows_are_reported_by_line_and_skipped() {
    let data = [
        MASTER_16,                                              // 1 ok
        r#""","201","broken"#,                                  // 2 unterminated quote
        r#""","201","9","ctx""#,                                // 3 too few columns
        &MASTER_16.replace("2026-04-01 10:00:00", "yesterday"), // 4 bad start
        &MASTER_16.replace(",125,", ",-5,"),                    // 5 bad duration
        MASTER_18,                                              // 6 ok
    ]
    .join("\n");
    let mut bytes = data.into_bytes();
    bytes.extend_from_slice(b"\n\"\",\"\xff\xfe\"\n"); // 7 not UTF-8
    bytes.extend_from_slice(MASTER_21.as_bytes()); // 8 ok, no final newline
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for row in CdrReader::new(&bytes, Format::AsteriskMaster, chrono_tz::UTC) {
        match row {
            Ok(r) => ok.push(r.line),
            Err(e) => bad.push((e.line, e.kind)),
        }
    }
    assert_eq!(ok, vec![1, 6, 8]);
    assert_eq!(
        bad.iter().map(|b| b.0).collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 7]
    );
    assert_eq!(bad[0].1, RowErrorKind::UnterminatedQuote);
    assert_eq!(
        bad[1].1,
        RowErrorKind::ColumnCountWrong {
            found: 4,
            expected: "16, 17, 18 or 21"
        }
    );
    assert!(matches!(
        bad[2].1,
        RowErrorKind::TimeInvalid { field: "start", .. }
    ));
    assert!(matches!(
        bad[3].1,
        RowErrorKind::NumberInvalid {
            field: "duration",
            ..
        }
    ));
    assert_eq!(bad[4].1, RowErrorKind::NotUtf8);
}
