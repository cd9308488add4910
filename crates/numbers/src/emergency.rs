//! Emergency numbers: recognised before anything else and never refused by any policy.
//!
//! The per-country lists follow the national numbering plans as summarised in the ITU-T
//! Operational Bulletin's list of emergency numbers (ITU-T E.161.1 for 112/911). `112` and `911`
//! are recognised in every country, as GSM handsets do (3GPP TS 22.101 §10.1.1): a PBX user who
//! dials either of them must be connected, whatever the site's country setting says.

use crate::Country;

/// Numbers treated as emergency in every country.
pub const UNIVERSAL: &[&str] = &["112", "911"];

/// Per-country emergency numbers (in addition to [`UNIVERSAL`]).
const BY_COUNTRY: &[(&str, &[&str])] = &[
    ("AE", &["999", "998", "997"]),
    ("AR", &["107", "100", "101"]),
    ("AT", &["122", "133", "144"]),
    ("AU", &["000", "106"]),
    ("BE", &["101"]),
    ("BR", &["190", "192", "193"]),
    ("CH", &["117", "118", "144"]),
    ("CL", &["131", "132", "133"]),
    ("CN", &["110", "119", "120", "122"]),
    ("CO", &["123"]),
    ("CZ", &["150", "155", "158"]),
    ("DE", &["110"]),
    ("EG", &["122", "123", "180"]),
    ("ES", &["091", "092", "061", "080", "085"]),
    ("FR", &["15", "17", "18", "114", "196"]),
    ("GB", &["999"]),
    ("GR", &["100", "166", "199"]),
    ("HK", &["999"]),
    ("HU", &["104", "105", "107"]),
    ("ID", &["110", "113", "118"]),
    ("IE", &["999"]),
    ("IL", &["100", "101", "102"]),
    ("IN", &["100", "101", "102", "108"]),
    ("IT", &["113", "115", "118"]),
    ("JP", &["110", "118", "119"]),
    ("KE", &["999"]),
    ("KR", &["119"]),
    ("MY", &["999"]),
    ("NG", &["199"]),
    ("NO", &["110", "113"]),
    ("NZ", &["111"]),
    ("PE", &["105", "116", "117"]),
    ("PH", &["117"]),
    ("PK", &["15", "115", "1122"]),
    ("PL", &["997", "998", "999"]),
    ("RU", &["101", "102", "103", "104"]),
    ("SA", &["997", "998", "999"]),
    ("SG", &["995", "999"]),
    ("TH", &["191", "199", "1669"]),
    ("TW", &["110", "119"]),
    ("UA", &["101", "102", "103", "104"]),
    ("VN", &["113", "114", "115"]),
    ("ZA", &["10111", "10177"]),
];

/// Whether `digits` (dialled digits only, no outside-line prefix) is an emergency number in
/// `country`.
#[must_use]
pub fn is_emergency(country: Country, digits: &str) -> bool {
    UNIVERSAL.contains(&digits) || numbers_for(country).contains(&digits)
}

/// The country-specific emergency numbers of `country` (without [`UNIVERSAL`]).
#[must_use]
pub fn numbers_for(country: Country) -> &'static [&'static str] {
    BY_COUNTRY
        .iter()
        .find(|(c, _)| *c == country.as_str())
        .map_or(&[], |(_, list)| list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Country {
        Country::new(s).unwrap()
    }

    #[test]
    fn universal_numbers_hold_everywhere() {
        for country in ["US", "GB", "DE", "JP", "ZZ"] {
            assert!(is_emergency(c(country), "112"), "{country}");
            assert!(is_emergency(c(country), "911"), "{country}");
        }
    }

    #[test]
    fn national_numbers_hold_only_at_home() {
        assert!(is_emergency(c("GB"), "999"));
        assert!(is_emergency(c("AU"), "000"));
        assert!(is_emergency(c("JP"), "110"));
        assert!(is_emergency(c("JP"), "119"));
        assert!(!is_emergency(c("US"), "999"));
        assert!(!is_emergency(c("US"), "000"));
    }

    #[test]
    fn table_is_sorted_and_digits_only() {
        let names: Vec<_> = BY_COUNTRY.iter().map(|(c, _)| *c).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for (_, list) in BY_COUNTRY {
            for n in *list {
                assert!(n.bytes().all(|b| b.is_ascii_digit()), "{n}");
            }
        }
    }
}
