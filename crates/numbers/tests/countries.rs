//! Normalisation and classification across countries and every dial-prefix style.
//!
//! The national numbers are the example numbers of each country's numbering plan (as published in
//! libphonenumber's metadata), dialled the way a user of a PBX in that country would.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use pbxguard_numbers::classify::NumberType as T;
use pbxguard_numbers::dial::{DialStyle, Dialled};
use pbxguard_numbers::{Classifier, Country, DialPlan};

/// (site country, number as dialled nationally, E.164, type)
const NATIONAL: &[(&str, &str, &str, T)] = &[
    ("US", "(201) 555-0123", "+12015550123", T::FixedLineOrMobile),
    ("US", "1 900 234 5678", "+19002345678", T::PremiumRate),
    ("US", "1-800-234-5678", "+18002345678", T::TollFree),
    ("CA", "506 234 5678", "+15062345678", T::FixedLineOrMobile),
    ("GB", "0121 234 5678", "+441212345678", T::FixedLine),
    ("GB", "07400 123456", "+447400123456", T::Mobile),
    ("GB", "0901 234 5678", "+449012345678", T::PremiumRate),
    ("GB", "0800 123 4567", "+448001234567", T::TollFree),
    ("DE", "030 123456", "+4930123456", T::FixedLine),
    ("DE", "01512 3456789", "+4915123456789", T::Mobile),
    ("DE", "0900 1 234567", "+499001234567", T::PremiumRate),
    ("DE", "0180 1 2345", "+4918012345", T::SharedCost),
    ("FR", "01 23 45 67 89", "+33123456789", T::FixedLine),
    ("FR", "06 12 34 56 78", "+33612345678", T::Mobile),
    ("FR", "0 891 12 34 56", "+33891123456", T::PremiumRate),
    ("IT", "02 1234 5678", "+390212345678", T::FixedLine),
    ("IT", "312 345 6789", "+393123456789", T::Mobile),
    ("IT", "899 123 456", "+39899123456", T::PremiumRate),
    ("ES", "612 34 56 78", "+34612345678", T::Mobile),
    ("ES", "803 12 34 56", "+34803123456", T::PremiumRate),
    ("NL", "010 123 4567", "+31101234567", T::FixedLine),
    ("NL", "06 12345678", "+31612345678", T::Mobile),
    ("BE", "0450 00 12 34", "+32450001234", T::Mobile),
    ("CH", "021 234 56 78", "+41212345678", T::FixedLine),
    ("CH", "0900 123 456", "+41900123456", T::PremiumRate),
    ("AT", "0664 123456", "+43664123456", T::Mobile),
    ("SE", "08-12 34 56", "+468123456", T::FixedLine),
    ("NO", "40 61 23 45", "+4740612345", T::Mobile),
    ("DK", "32 12 34 56", "+4532123456", T::FixedLineOrMobile),
    ("FI", "041 2345678", "+358412345678", T::Mobile),
    ("PL", "512 345 678", "+48512345678", T::Mobile),
    ("IE", "085 012 3456", "+353850123456", T::Mobile),
    ("PT", "912 345 678", "+351912345678", T::Mobile),
    ("GR", "21 2345 6789", "+302123456789", T::FixedLine),
    ("CZ", "900 123 456", "+420900123456", T::PremiumRate),
    ("HU", "06 20 123 4567", "+36201234567", T::Mobile),
    ("RU", "8 (912) 345-67-89", "+79123456789", T::Mobile),
    ("UA", "050 123 4567", "+380501234567", T::Mobile),
    ("TR", "0501 234 56 78", "+905012345678", T::Mobile),
    ("IL", "050-234-5678", "+972502345678", T::Mobile),
    ("AE", "050 123 4567", "+971501234567", T::Mobile),
    ("SA", "051 234 5678", "+966512345678", T::Mobile),
    ("IN", "081234 56789", "+918123456789", T::Mobile),
    ("PK", "0301 2345678", "+923012345678", T::Mobile),
    ("CN", "010 1234 5678", "+861012345678", T::FixedLine),
    ("CN", "131 2345 6789", "+8613123456789", T::Mobile),
    ("JP", "03-1234-5678", "+81312345678", T::FixedLine),
    ("JP", "090-1234-5678", "+819012345678", T::Mobile),
    ("KR", "010-2000-0000", "+821020000000", T::Mobile),
    ("AU", "(02) 1234 5678", "+61212345678", T::FixedLine),
    ("AU", "0412 345 678", "+61412345678", T::Mobile),
    ("AU", "1900 123 456", "+611900123456", T::PremiumRate),
    ("NZ", "021 123 4567", "+64211234567", T::Mobile),
    ("SG", "8123 4567", "+6581234567", T::Mobile),
    ("HK", "5123 4567", "+85251234567", T::Mobile),
    ("BR", "(11) 96123-4567", "+5511961234567", T::Mobile),
    ("MX", "222 123 4567", "+522221234567", T::FixedLineOrMobile),
    ("AR", "011 2345-6789", "+541123456789", T::FixedLine),
    ("CO", "321 1234567", "+573211234567", T::Mobile),
    ("ZA", "071 123 4567", "+27711234567", T::Mobile),
    ("NG", "0802 123 4567", "+2348021234567", T::Mobile),
    ("KE", "0712 123456", "+254712123456", T::Mobile),
    ("EG", "010 01234567", "+201001234567", T::Mobile),
    ("LV", "90 123 456", "+37190123456", T::PremiumRate),
];

/// (site country, international access code)
const ACCESS_CODES: &[(&str, &str)] = &[
    ("US", "011"),
    ("CA", "011"),
    ("GB", "00"),
    ("DE", "00"),
    ("FR", "00"),
    ("AU", "0011"),
    ("JP", "010"),
    ("RU", "810"),
    ("KR", "001"),
    ("BR", "0021"),
    ("IL", "00"),
    ("CN", "00"),
];

fn plan(country: &str) -> DialPlan {
    DialPlan::new(Country::new(country).unwrap())
}

fn e164_of(plan: &DialPlan, dialled: &str) -> String {
    match plan.normalise(dialled) {
        Dialled::External { number, .. } => number.to_string(),
        other => panic!("{dialled:?} via {:?}: {other:?}", plan.country),
    }
}

#[test]
fn national_dialling_at_home_gives_e164_and_type() {
    let classifier = Classifier::default();
    let countries: std::collections::BTreeSet<_> = NATIONAL.iter().map(|r| r.0).collect();
    assert!(countries.len() >= 30, "only {} countries", countries.len());
    for &(country, dialled, e164, ty) in NATIONAL {
        let c = classifier.classify(&plan(country), dialled);
        let dest = c
            .destination
            .as_ref()
            .unwrap_or_else(|| panic!("{country} {dialled}: {c:?}"));
        assert_eq!(dest.number.as_str(), e164, "{country} {dialled}");
        assert_eq!(dest.number_type, ty, "{country} {dialled}");
        assert!(dest.valid, "{country} {dialled}");
        assert_eq!(
            dest.country,
            Some(Country::new(country).unwrap()),
            "{country} {dialled}"
        );
        assert!(!dest.international, "{country} {dialled}");
        assert!(matches!(
            c.dialled,
            Dialled::External {
                style: DialStyle::National,
                ..
            }
        ));
    }
}

#[test]
fn outside_line_prefix_is_stripped_before_national_dialling() {
    for &(country, dialled, e164, _) in NATIONAL {
        for prefix in ["9", "0"] {
            // A site whose outside line is 0 still dials the national trunk 0 after it.
            let p = plan(country).with_outside_line(prefix);
            assert_eq!(
                e164_of(&p, &format!("{prefix}{dialled}")),
                e164,
                "{prefix} {dialled}"
            );
        }
    }
}

#[test]
fn plus_form_is_read_the_same_from_any_country() {
    for &(_, _, e164, ty) in NATIONAL {
        for site in ["US", "GB", "JP"] {
            let c = Classifier::default().classify(&plan(site), e164);
            let dest = c.destination.unwrap();
            assert_eq!(dest.number.as_str(), e164);
            assert_eq!(dest.number_type, ty);
            assert!(matches!(
                c.dialled,
                Dialled::External {
                    style: DialStyle::Plus,
                    ..
                }
            ));
        }
    }
}

#[test]
fn international_access_codes_of_each_country() {
    for &(site, idd) in ACCESS_CODES {
        for &(country, _, e164, _) in NATIONAL {
            if country == site {
                continue;
            }
            let digits = e164.trim_start_matches('+');
            let dialled = format!("{idd} {digits}");
            let p = plan(site);
            let got = p.normalise(&dialled);
            match got {
                Dialled::External { number, style } => {
                    assert_eq!(number.as_str(), e164, "{site} {dialled}");
                    // NANP numbers dialled from NANP are national, the rest need the access code.
                    if !(p.country.is_nanp() && e164.starts_with("+1")) {
                        assert_eq!(style, DialStyle::InternationalAccess, "{site} {dialled}");
                    }
                }
                other => panic!("{site} {dialled}: {other:?}"),
            }
            // With the outside line in front as well.
            let p9 = plan(site).with_outside_line("9");
            assert_eq!(
                e164_of(&p9, &format!("9{dialled}")),
                e164,
                "{site} 9{dialled}"
            );
        }
    }
}

#[test]
fn nanp_caribbean_dialled_nationally_is_international_and_high_risk() {
    let c = Classifier::default().classify(&plan("US").with_outside_line("9"), "9 1 876 523 0123");
    let dest = c.destination.unwrap();
    assert_eq!(dest.country, Some(Country::new("JM").unwrap()));
    assert!(dest.international);
    assert_eq!(dest.risk, pbxguard_numbers::RiskLevel::High);
}

#[test]
fn satellite_and_international_networks() {
    let classifier = Classifier::default();
    for (number, ty) in [
        ("+881631234567", T::Satellite),
        ("+870773110000", T::Satellite),
        ("+883140000000", T::InternationalNetwork),
        ("+8823212345", T::InternationalNetwork),
        ("+97912345678", T::PremiumRate),
        ("+80012345678", T::TollFree),
    ] {
        let c = classifier.classify(&plan("DE"), &format!("00{}", &number[1..]));
        let dest = c.destination.unwrap_or_else(|| panic!("{number}"));
        assert_eq!(dest.number_type, ty, "{number}");
        assert_eq!(dest.country, None, "{number}");
        assert!(dest.international, "{number}");
    }
}

#[test]
fn risk_table_raises_ordinary_numbers_of_irsf_destinations() {
    let classifier = Classifier::default();
    // A Cuban fixed line is an ordinary number type, yet a top IRSF destination.
    let c = classifier.classify(&plan("GB"), "00 53 7 1234567");
    let dest = c.destination.unwrap();
    assert_eq!(dest.number_type, T::FixedLine);
    assert_eq!(dest.risk, pbxguard_numbers::RiskLevel::High);
    assert!(matches!(
        dest.risk_reason,
        pbxguard_numbers::classify::RiskReason::Table { .. }
    ));
    // A German mobile from Germany is ordinary.
    let c = classifier.classify(&plan("DE"), "01512 3456789");
    assert_eq!(c.risk(), pbxguard_numbers::RiskLevel::Low);
}

#[test]
fn extensions_and_short_codes() {
    let p = plan("US")
        .with_outside_line("9")
        .with_extension_lengths(3, 4);
    assert_eq!(
        p.normalise("201"),
        Dialled::Extension {
            number: "201".into()
        }
    );
    assert_eq!(
        p.normalise("2001"),
        Dialled::Extension {
            number: "2001".into()
        }
    );
    assert_eq!(
        p.normalise("*97"),
        Dialled::ShortCode {
            number: "*97".into()
        }
    );
    assert_eq!(
        p.normalise("9411"),
        Dialled::ShortCode {
            number: "411".into()
        }
    );
    let gb = plan("GB").with_extension_lengths(3, 3);
    assert_eq!(
        gb.normalise("118118"),
        Dialled::ShortCode {
            number: "118118".into()
        }
    );
}

#[test]
fn emergency_numbers_in_every_dial_style() {
    let cases: &[(&str, Option<&str>, &str, &str)] = &[
        ("US", None, "911", "911"),
        ("US", Some("9"), "9911", "911"),
        ("US", Some("9"), "9 911", "911"),
        ("US", Some("9"), "911", "911"),
        ("US", Some("9"), "112", "112"),
        ("GB", None, "999", "999"),
        ("GB", Some("9"), "9999", "999"),
        ("GB", None, "112", "112"),
        ("AU", None, "000", "000"),
        ("AU", Some("0"), "0000", "000"),
        ("JP", None, "110", "110"),
        ("JP", None, "119", "119"),
        ("DE", Some("0"), "0112", "112"),
        ("DE", None, "110", "110"),
        ("FR", Some("0"), "015", "15"),
        ("NZ", None, "111", "111"),
        ("ZA", None, "10111", "10111"),
        ("IN", None, "112", "112"),
        ("BR", Some("0"), "0190", "190"),
    ];
    for &(country, outside, dialled, number) in cases {
        let mut p = plan(country).with_extension_lengths(3, 5);
        if let Some(o) = outside {
            p = p.with_outside_line(o);
        }
        assert_eq!(
            p.normalise(dialled),
            Dialled::Emergency {
                number: number.into()
            },
            "{country} {outside:?} {dialled}"
        );
    }
}

#[test]
fn sip_uri_forms_and_garbage() {
    let p = plan("GB");
    assert_eq!(
        e164_of(&p, "sip:+447400123456@pbx.example;user=phone"),
        "+447400123456"
    );
    assert_eq!(e164_of(&p, "tel:+44-7400-123456"), "+447400123456");
    assert!(matches!(p.normalise("alice"), Dialled::Unrecognised { .. }));
    assert!(matches!(p.normalise(""), Dialled::Unrecognised { .. }));
    assert!(matches!(p.normalise("+"), Dialled::Unrecognised { .. }));
    assert!(matches!(
        p.normalise("+999999"),
        Dialled::Unrecognised { .. }
    ));
    assert!(matches!(p.normalise("12#34"), Dialled::Unrecognised { .. }));
}
