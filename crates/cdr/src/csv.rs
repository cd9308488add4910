//! A small, borrowing CSV row splitter (RFC 4180 quoting, one record per line).
//!
//! CDR writers (Asterisk cdr_csv/cdr_custom, FreeSWITCH cdr_csv) put one record on one line and
//! quote fields with `"`, doubling embedded quotes. Fields come out as borrowed [`RawField`]s;
//! only a field with `""` that is actually used is copied (by [`RawField::text`]).

use std::borrow::Cow;

/// One field as it appears in the line, quotes removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawField<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> RawField<'a> {
    /// The field's text, with doubled quotes made single.
    #[must_use]
    #[inline]
    pub fn text(self) -> Cow<'a, str> {
        if self.escaped {
            Cow::Owned(self.raw.replace("\"\"", "\""))
        } else {
            Cow::Borrowed(self.raw)
        }
    }

    /// The field's text as written (doubled quotes left as they are).
    #[must_use]
    pub fn raw(self) -> &'a str {
        self.raw
    }
}

/// Why a line could not be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    /// A quoted field is not closed before the end of the line.
    UnterminatedQuote,
    /// Text follows a closing quote before the next comma (`"a"b`).
    TextAfterQuote,
}

/// Splits `line` (without its line ending) into `out`, which is cleared first.
///
/// # Errors
/// [`SplitError`] for broken quoting; `out` then holds the fields read so far.
pub fn split_line<'a>(line: &'a str, out: &mut Vec<RawField<'a>>) -> Result<(), SplitError> {
    out.clear();
    let bytes = line.as_bytes();
    let mut pos = 0;
    // CDR fields are short: a plain scan beats a vectorised search's set-up cost per field.
    loop {
        if bytes.get(pos) == Some(&b'"') {
            let start = pos + 1;
            let mut i = start;
            let mut escaped = false;
            let end = loop {
                match bytes.get(i) {
                    None => return Err(SplitError::UnterminatedQuote),
                    Some(b'"') if bytes.get(i + 1) == Some(&b'"') => {
                        escaped = true;
                        i += 2;
                    }
                    Some(b'"') => break i,
                    Some(_) => i += 1,
                }
            };
            out.push(RawField {
                raw: line.get(start..end).unwrap_or_default(),
                escaped,
            });
            pos = end + 1;
            match bytes.get(pos) {
                None => return Ok(()),
                Some(b',') => pos += 1,
                Some(_) => return Err(SplitError::TextAfterQuote),
            }
        } else {
            let mut i = pos;
            while let Some(&b) = bytes.get(i) {
                if b == b',' {
                    break;
                }
                i += 1;
            }
            out.push(RawField {
                raw: line.get(pos..i).unwrap_or_default(),
                escaped: false,
            });
            if i >= bytes.len() {
                return Ok(());
            }
            pos = i + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Result<Vec<String>, SplitError> {
        let mut v = Vec::new();
        split_line(line, &mut v).map(|()| v.into_iter().map(|f| f.text().into_owned()).collect())
    }

    #[test]
    fn rfc4180_quoting() {
        assert_eq!(split(r#""a","b,c",d,"#).unwrap(), ["a", "b,c", "d", ""]);
        assert_eq!(
            split(r#""""Alice"" <100>",x"#).unwrap(),
            [r#""Alice" <100>"#, "x"]
        );
        assert_eq!(split("").unwrap(), [""]);
        assert_eq!(split(r#""""#).unwrap(), [""]);
        assert_eq!(split("1,,3").unwrap(), ["1", "", "3"]);
    }

    #[test]
    fn broken_quoting_is_an_error() {
        assert_eq!(split(r#""abc"#), Err(SplitError::UnterminatedQuote));
        assert_eq!(split(r#""a"b,c"#), Err(SplitError::TextAfterQuote));
    }
}
