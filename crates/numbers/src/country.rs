//! ISO 3166-1 alpha-2 country codes.

use std::fmt;
use std::str::FromStr;

/// An ISO 3166-1 alpha-2 country (or territory) code such as `US` or `GB`, always upper case.
///
/// The special code `001` used by libphonenumber for non-geographic numbering (satellite and
/// international networks) is not a country; such numbers carry no [`Country`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

/// A string that is not a two-letter country code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CountryParseError {
    /// The text is not exactly two ASCII letters.
    NotTwoLetters {
        /// The text that was given.
        text: String,
    },
}

impl fmt::Display for CountryParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotTwoLetters { text } => {
                write!(f, "{text:?} is not a two-letter ISO 3166 country code")
            }
        }
    }
}

impl std::error::Error for CountryParseError {}

impl Country {
    /// Builds a country code from two ASCII letters (either case).
    ///
    /// # Errors
    /// [`CountryParseError::NotTwoLetters`] unless `text` is exactly two ASCII letters.
    pub fn new(text: &str) -> Result<Self, CountryParseError> {
        match text.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Ok(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => Err(CountryParseError::NotTwoLetters {
                text: text.to_owned(),
            }),
        }
    }

    /// A country from two upper-case ASCII letters known at compile time (`*b"GB"`); anything
    /// else gives `ZZ`, the user-assigned "unknown" code.
    #[must_use]
    pub const fn from_upper(code: [u8; 2]) -> Self {
        let [a, b] = code;
        if a.is_ascii_uppercase() && b.is_ascii_uppercase() {
            Self(code)
        } else {
            Self(*b"ZZ")
        }
    }

    /// The code as an upper-case `&str`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// Whether the country belongs to the North American Numbering Plan (country code +1), where the
    /// international access code is `011` and "national" dialling can reach other countries.
    #[must_use]
    pub fn is_nanp(&self) -> bool {
        NANP.contains(&self.as_str())
    }
}

/// Members of the North American Numbering Plan (ITU-T E.164 country code 1).
const NANP: &[&str] = &[
    "US", "CA", "AG", "AI", "AS", "BB", "BM", "BS", "DM", "DO", "GD", "GU", "JM", "KN", "KY", "LC",
    "MP", "MS", "PR", "SX", "TC", "TT", "VC", "VG", "VI", "UM",
];

impl FromStr for Country {
    type Err = CountryParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_either_case_and_rejects_other_lengths() {
        assert_eq!(Country::new("gb").unwrap().as_str(), "GB");
        assert!(Country::new("GBR").is_err());
        assert!(Country::new("1A").is_err());
        assert!(Country::new("").is_err());
    }

    #[test]
    fn nanp_members_include_caribbean() {
        assert!(Country::new("JM").unwrap().is_nanp());
        assert!(!Country::new("GB").unwrap().is_nanp());
    }
}
