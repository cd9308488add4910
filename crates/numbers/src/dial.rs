//! Normalising what a phone dialled into an emergency call, an extension, a short code or E.164.
//!
//! A PBX user dials through the site's dial plan: often an outside-line prefix (`9` in North
//! America, `0` in much of Europe), then either a national number (with the country's trunk prefix,
//! `0` or `1`), or the country's international access code (`011` in the NANP, `00` in most
//! countries, `010` in Japan, `0011` in Australia, `810` in Russia, carrier-selected codes such as
//! `0021` in Brazil ...) followed by a country code, or `+`. The access codes and trunk prefixes come
//! from libphonenumber's per-country metadata; a site with an unusual plan can add its own access
//! code with [`DialPlan::international_prefix`].

use std::fmt;

use rlibphonenumber::{
    CountryCodeSource, PHONE_NUMBER_UTIL, PhoneNumber, PhoneNumberFormat, Region,
};

use crate::{Country, emergency};

/// A site's dial plan: what its phones dial to reach the outside world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialPlan {
    /// The country the PBX is in: national numbers are read as this country's.
    pub country: Country,
    /// Digits dialled first to get an outside line (`9`, `0`), if the PBX uses one.
    ///
    /// When set, a string that starts with it is read as outside-line dialling; an extension may
    /// then not start with it.
    pub outside_line: Option<String>,
    /// Lengths of internal extensions, inclusive (`(3, 4)` for 100-9999).
    pub extension_lengths: (usize, usize),
    /// An extra international access code of this site (used before libphonenumber's own).
    pub international_prefix: Option<String>,
}

impl DialPlan {
    /// A plan for `country` with no outside-line prefix and 3- to 5-digit extensions.
    #[must_use]
    pub fn new(country: Country) -> Self {
        Self {
            country,
            outside_line: None,
            extension_lengths: (3, 5),
            international_prefix: None,
        }
    }

    /// The same plan with an outside-line prefix.
    #[must_use]
    pub fn with_outside_line(mut self, prefix: &str) -> Self {
        self.outside_line = Some(prefix.to_owned());
        self
    }

    /// The same plan with other extension lengths (inclusive).
    #[must_use]
    pub fn with_extension_lengths(mut self, min: usize, max: usize) -> Self {
        self.extension_lengths = (min, max);
        self
    }

    /// Whether `text` is an internal extension of this plan, decided without number metadata
    /// (digits only, an extension length, not an emergency number, not outside-line dialling):
    /// the cheap test [`DialPlan::normalise`] starts with.
    #[must_use]
    pub fn is_extension(&self, text: &str) -> bool {
        let (min, max) = self.extension_lengths;
        (min..=max).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_digit())
            && !emergency::is_emergency(self.country, text)
            && !self
                .outside_line
                .as_deref()
                .is_some_and(|p| !p.is_empty() && text.starts_with(p))
    }

    /// Reads a dialled string. Visual separators (space, `-`, `.`, `(`, `)`, `/`) are ignored; a
    /// `tel:` or `sip:` scheme and anything from `@` or `;` on are dropped.
    ///
    /// Emergency numbers are recognised first, with and without the outside-line prefix, before any
    /// other reading: `911`, `9 911`, `112`, `999` (GB), `000` (AU) ...
    #[must_use]
    pub fn normalise(&self, dialled: &str) -> Dialled {
        let Some(cleaned) = clean(dialled) else {
            return Dialled::Unrecognised {
                text: dialled.to_owned(),
                reason: Unrecognised::NotDialDigits,
            };
        };
        let (plus, digits) = match cleaned.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, cleaned.as_str()),
        };
        if digits.is_empty() {
            return Dialled::Unrecognised {
                text: dialled.to_owned(),
                reason: Unrecognised::Empty,
            };
        }
        if digits.starts_with(['*', '#']) {
            return Dialled::ShortCode {
                number: digits.to_owned(),
            };
        }
        if digits.contains(['*', '#']) {
            return Dialled::Unrecognised {
                text: dialled.to_owned(),
                reason: Unrecognised::NotDialDigits,
            };
        }
        if plus {
            return self.external(digits, true, dialled);
        }
        if emergency::is_emergency(self.country, digits) {
            return Dialled::Emergency {
                number: digits.to_owned(),
            };
        }
        let outside = self.outside_line.as_deref().filter(|p| !p.is_empty());
        if let Some(rest) = outside.and_then(|prefix| digits.strip_prefix(prefix)) {
            if emergency::is_emergency(self.country, rest) {
                return Dialled::Emergency {
                    number: rest.to_owned(),
                };
            }
            if !rest.is_empty() {
                return self.external(rest, false, dialled);
            }
        }
        let (min, max) = self.extension_lengths;
        if (min..=max).contains(&digits.len()) {
            return Dialled::Extension {
                number: digits.to_owned(),
            };
        }
        self.external(digits, false, dialled)
    }

    /// Reads the digits after the outside line (or after `+` when `plus`).
    fn external(&self, digits: &str, plus: bool, original: &str) -> Dialled {
        let region = Region::from_code(self.country.as_str()).ok();
        let mut style = if plus {
            DialStyle::Plus
        } else {
            DialStyle::National
        };
        let mut text = if plus {
            format!("+{digits}")
        } else {
            digits.to_owned()
        };
        let site_prefix = self
            .international_prefix
            .as_deref()
            .filter(|p| !p.is_empty());
        if let Some(rest) = site_prefix
            .and_then(|p| digits.strip_prefix(p))
            .filter(|_| !plus)
        {
            text = format!("+{rest}");
            style = DialStyle::InternationalAccess;
        }
        let parsed = PHONE_NUMBER_UTIL.parse_and_keep_raw_input(&text, region);
        match parsed {
            Ok(number) => {
                if style == DialStyle::National
                    && number.country_code_source() == CountryCodeSource::FromNumberWithIdd
                {
                    style = DialStyle::InternationalAccess;
                }
                let known = PHONE_NUMBER_UTIL.is_valid_number(&number);
                if !plus && !known && digits.len() <= SHORT_CODE_MAX {
                    return Dialled::ShortCode {
                        number: digits.to_owned(),
                    };
                }
                Dialled::External {
                    number: E164::from_parsed(number),
                    style,
                }
            }
            Err(_) if !plus && digits.len() <= SHORT_CODE_MAX => Dialled::ShortCode {
                number: digits.to_owned(),
            },
            Err(err) => Dialled::Unrecognised {
                text: original.to_owned(),
                reason: Unrecognised::NotANumber {
                    detail: err.to_string(),
                },
            },
        }
    }
}

/// Longest digit string read as a national short code (directory enquiries, service numbers)
/// when it is not a possible full number.
const SHORT_CODE_MAX: usize = 6;

/// Strips scheme, host part, parameters and visual separators; `None` when other characters remain.
fn clean(dialled: &str) -> Option<String> {
    let mut s = dialled.trim();
    for scheme in ["tel:", "sip:", "sips:", "TEL:", "SIP:", "SIPS:"] {
        if let Some(rest) = s.strip_prefix(scheme) {
            s = rest;
        }
    }
    if let Some(at) = s.find(['@', ';']) {
        s = s.get(..at).unwrap_or(s);
    }
    let mut out = String::with_capacity(s.len());
    for (i, ch) in s.chars().enumerate() {
        match ch {
            '0'..='9' | '*' | '#' => out.push(ch),
            '+' if i == 0 => out.push(ch),
            ' ' | '-' | '.' | '(' | ')' | '/' | '\t' => {}
            _ => return None,
        }
    }
    Some(out)
}

/// How an external number was dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialStyle {
    /// With a leading `+`.
    Plus,
    /// With an international access code (`00`, `011`, ...).
    InternationalAccess,
    /// As a national number of the plan's country (possibly with its trunk prefix).
    National,
}

/// What a dialled string turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialled {
    /// An emergency number (digits as dialled, without outside-line prefix). Never refused.
    Emergency {
        /// The emergency number, e.g. `911`.
        number: String,
    },
    /// An internal extension.
    Extension {
        /// The extension digits.
        number: String,
    },
    /// A feature code (`*`, `#`) or a national short code (directory, service numbers).
    ShortCode {
        /// The digits.
        number: String,
    },
    /// A number outside the PBX, in E.164.
    External {
        /// The number.
        number: E164,
        /// How it was dialled.
        style: DialStyle,
    },
    /// Not a number this crate can read (alphanumeric SIP user, garbage).
    Unrecognised {
        /// The original text.
        text: String,
        /// Why.
        reason: Unrecognised,
    },
}

impl Dialled {
    /// Whether this is an emergency call.
    #[must_use]
    pub fn is_emergency(&self) -> bool {
        matches!(self, Self::Emergency { .. })
    }

    /// The E.164 number of an external call.
    #[must_use]
    pub fn e164(&self) -> Option<&E164> {
        match self {
            Self::External { number, .. } => Some(number),
            _ => None,
        }
    }

    /// A short name for the kind of destination: `emergency`, `extension`, `short-code`,
    /// `external`, `unrecognised`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Emergency { .. } => "emergency",
            Self::Extension { .. } => "extension",
            Self::ShortCode { .. } => "short-code",
            Self::External { .. } => "external",
            Self::Unrecognised { .. } => "unrecognised",
        }
    }
}

/// Why a dialled string could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unrecognised {
    /// Nothing was dialled.
    Empty,
    /// It contains characters that are not dial digits or separators (letters, ...).
    NotDialDigits,
    /// The number metadata rejected it.
    NotANumber {
        /// What the metadata said.
        detail: String,
    },
}

impl fmt::Display for Unrecognised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("nothing dialled"),
            Self::NotDialDigits => f.write_str("not dial digits"),
            Self::NotANumber { detail } => write!(f, "not a number: {detail}"),
        }
    }
}

/// A number in E.164 form (`+` and up to 15 digits).
#[derive(Clone)]
pub struct E164 {
    text: String,
    calling_code: u16,
    parsed: PhoneNumber,
}

impl PartialEq for E164 {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for E164 {}

impl std::hash::Hash for E164 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.text)
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl E164 {
    fn from_parsed(mut parsed: PhoneNumber) -> Self {
        parsed.extension = None;
        parsed.raw_input = None;
        let text = PHONE_NUMBER_UTIL
            .format(&parsed, PhoneNumberFormat::E164)
            .into_owned();
        let calling_code = u16::try_from(parsed.country_code).unwrap_or(0);
        Self {
            text,
            calling_code,
            parsed,
        }
    }

    /// Parses `+` followed by a country code and number (separators allowed).
    ///
    /// # Errors
    /// [`Unrecognised`] when the text is not an international number.
    pub fn parse(text: &str) -> Result<Self, Unrecognised> {
        let cleaned = clean(text).ok_or(Unrecognised::NotDialDigits)?;
        if !cleaned.starts_with('+') {
            return Err(Unrecognised::NotANumber {
                detail: "no leading '+'".into(),
            });
        }
        PHONE_NUMBER_UTIL
            .parse(&cleaned, None)
            .map(Self::from_parsed)
            .map_err(|e| Unrecognised::NotANumber {
                detail: e.to_string(),
            })
    }

    /// The number with its leading `+`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The digits without `+`.
    #[must_use]
    pub fn digits(&self) -> &str {
        self.text.strip_prefix('+').unwrap_or(&self.text)
    }

    /// The ITU-T E.164 country calling code (1, 44, 881 ...).
    #[must_use]
    pub fn calling_code(&self) -> u16 {
        self.calling_code
    }

    pub(crate) fn parsed(&self) -> &PhoneNumber {
        &self.parsed
    }
}
