//! Password and PIN strength, following PortSIP's password rules: 8–32 characters, at least one letter,
//! one digit, one upper-case letter or special character, no sequences ("1234", "7890", "Abcd"), no
//! repeats ("222", "Aaa"), nothing from the account (extension number, user name); plus values shipped as
//! defaults by the PBXs themselves.

use std::fmt;

/// Why a password or PIN is weak.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Weakness {
    /// Empty value.
    Empty,
    /// A value shipped as a default or found at the top of every password list.
    WellKnown,
    /// Fewer characters (or digits) than the minimum.
    TooShort {
        /// Length of the value.
        len: usize,
        /// Minimum.
        min: usize,
    },
    /// More than 32 characters (PortSIP's limit; phones truncate).
    TooLong,
    /// No Latin letter.
    NoLetter,
    /// No digit.
    NoDigit,
    /// Neither an upper-case letter nor a special character.
    NoUpperOrSpecial,
    /// Four or more consecutive characters in sequence, as written.
    Sequence(String),
    /// Three or more identical characters in a row, as written.
    Repeat(String),
    /// Contains the extension number or user name.
    ContainsAccount(String),
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weakness::Empty => f.write_str("empty"),
            Weakness::WellKnown => f.write_str("a well-known default"),
            Weakness::TooShort { len, min } => write!(f, "{len} characters, fewer than {min}"),
            Weakness::TooLong => f.write_str("longer than 32 characters"),
            Weakness::NoLetter => f.write_str("no letter"),
            Weakness::NoDigit => f.write_str("no digit"),
            Weakness::NoUpperOrSpecial => f.write_str("no upper-case letter or special character"),
            Weakness::Sequence(s) => write!(f, "sequence \"{s}\""),
            Weakness::Repeat(s) => write!(f, "repeated \"{s}\""),
            Weakness::ContainsAccount(a) => write!(f, "contains the account name \"{a}\""),
        }
    }
}

/// Values shipped as defaults by Asterisk, FreePBX, FreeSWITCH, PortSIP and phone vendors, or at the top
/// of every leaked-password list.
const WELL_KNOWN: &[&str] = &[
    "1234",
    "12345",
    "123456",
    "1234567",
    "12345678",
    "123456789",
    "0000",
    "1111",
    "password",
    "passw0rd",
    "secret",
    "admin",
    "changeme",
    "clucon",
    "cluecon",
    "asterisk",
    "freeswitch",
    "amp111",
    "amp109",
    "welcome",
    "default",
    "pbx",
    "sip",
    "voip",
    "test",
    "guest",
    "qwerty",
];

/// Weaknesses of a password under PortSIP's rules; empty when strong. `account` lists the names that must
/// not appear in it (extension number, user name); names shorter than 3 characters are ignored.
pub fn password(pw: &str, account: &[&str]) -> Vec<Weakness> {
    let mut out = Vec::new();
    if pw.is_empty() {
        out.push(Weakness::Empty);
        return out;
    }
    if WELL_KNOWN.iter().any(|w| w.eq_ignore_ascii_case(pw)) {
        out.push(Weakness::WellKnown);
    }
    let len = pw.chars().count();
    if len < 8 {
        out.push(Weakness::TooShort { len, min: 8 });
    } else if len > 32 {
        out.push(Weakness::TooLong);
    }
    if !pw.chars().any(|c| c.is_ascii_alphabetic()) {
        out.push(Weakness::NoLetter);
    }
    if !pw.chars().any(|c| c.is_ascii_digit()) {
        out.push(Weakness::NoDigit);
    }
    if !pw
        .chars()
        .any(|c| c.is_ascii_uppercase() || !c.is_ascii_alphanumeric())
    {
        out.push(Weakness::NoUpperOrSpecial);
    }
    common(pw, account, &mut out);
    out
}

/// Weaknesses of a numeric PIN (voicemail, DISA): at least 6 digits, no sequence, no repeat, not the
/// mailbox number, not a well-known default.
pub fn pin(value: &str, account: &[&str]) -> Vec<Weakness> {
    let mut out = Vec::new();
    if value.is_empty() {
        out.push(Weakness::Empty);
        return out;
    }
    if WELL_KNOWN.iter().any(|w| w.eq_ignore_ascii_case(value)) {
        out.push(Weakness::WellKnown);
    }
    let len = value.chars().count();
    if len < 6 {
        out.push(Weakness::TooShort { len, min: 6 });
    }
    common(value, account, &mut out);
    out
}

fn common(pw: &str, account: &[&str], out: &mut Vec<Weakness>) {
    let chars: Vec<char> = pw.chars().collect();
    if let Some(s) = run(&chars, 4, |a, b| step(a, b) == Some(1))
        .or_else(|| run(&chars, 4, |a, b| step(b, a) == Some(1)))
    {
        out.push(Weakness::Sequence(s));
    }
    if let Some(s) = run(&chars, 3, |a, b| a.eq_ignore_ascii_case(&b)) {
        out.push(Weakness::Repeat(s));
    }
    let lower = pw.to_ascii_lowercase();
    for a in account
        .iter()
        .map(|a| a.trim())
        .filter(|a| a.chars().count() >= 3)
    {
        if lower.contains(&a.to_ascii_lowercase()) {
            out.push(Weakness::ContainsAccount(a.to_owned()));
            break;
        }
    }
}

/// `b` follows `a` by how many places (digits wrap 9→0, letters case-insensitive).
fn step(a: char, b: char) -> Option<i32> {
    if let (Some(x), Some(y)) = (a.to_digit(10), b.to_digit(10)) {
        return Some((i32::try_from(y).ok()? - i32::try_from(x).ok()?).rem_euclid(10));
    }
    if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() {
        let x = i32::from(u8::try_from(a.to_ascii_lowercase()).ok()?);
        let y = i32::from(u8::try_from(b.to_ascii_lowercase()).ok()?);
        return Some(y - x);
    }
    None
}

/// The first run of at least `min` characters where each pair satisfies `link`.
fn run(chars: &[char], min: usize, link: impl Fn(char, char) -> bool) -> Option<String> {
    let mut start = 0;
    for i in 1..=chars.len() {
        let linked = match (chars.get(i - 1), chars.get(i)) {
            (Some(&a), Some(&b)) => link(a, b),
            _ => false,
        };
        if !linked {
            if i - start >= min {
                return chars.get(start..i).map(|s| s.iter().collect());
            }
            start = i;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portsip_examples_from_the_rules() {
        assert!(password("1234", &[]).contains(&Weakness::WellKnown));
        assert!(password("x7890Qrt!", &[]).contains(&Weakness::Sequence("7890".into())));
        assert!(password("Abcd!93kq", &[]).contains(&Weakness::Sequence("Abcd".into())));
        assert!(password("kq222!Zp9", &[]).contains(&Weakness::Repeat("222".into())));
        assert!(password("Aaa!93kqZ", &[]).contains(&Weakness::Repeat("Aaa".into())));
        assert!(password("z###9kqZp", &[]).contains(&Weakness::Repeat("###".into())));
        assert!(
            password("Hq7!101xyz", &["101"]).contains(&Weakness::ContainsAccount("101".into()))
        );
        assert!(
            password("Hq7!10xyzw", &["10"]).is_empty(),
            "names under 3 characters are ignored"
        );
        assert!(
            password("Hq7!1015zt", &["1015"]).contains(&Weakness::ContainsAccount("1015".into()))
        );
        assert!(password("dcba9!Qz", &[]).contains(&Weakness::Sequence("dcba".into())));
        assert_eq!(password("Tr0ub4dor&3x", &["1001"]), vec![]);
        assert!(password("short1A", &[]).contains(&Weakness::TooShort { len: 7, min: 8 }));
        assert!(password("alllowercase9x", &[]).contains(&Weakness::Repeat("lll".into())));
        assert!(password("nouppercase9x", &[]).contains(&Weakness::NoUpperOrSpecial));
    }

    #[test]
    fn pins() {
        assert!(pin("1234", &["101"]).contains(&Weakness::TooShort { len: 4, min: 6 }));
        assert!(pin("101101", &["101"]).contains(&Weakness::ContainsAccount("101".into())));
        assert!(pin("975310", &["101"]).is_empty());
        assert!(pin("555831", &[]).contains(&Weakness::Repeat("555".into())));
    }
}
