//! A small, borrowing CSV row splitter (RFC 4180 quoting, one record per line).
//!
//! CDR writers (Asterisk cdr_csv/cdr_custom, FreeSWITCH cdr_csv) put one record on one line and
//! quote fields with `"`, doubling embedded quotes. Unquoted fields and fields without embedded
//! quotes are borrowed from the input; only fields with `""` are copied.

use std::borrow::Cow;

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
pub fn split_line<'a>(line: &'a str, out: &mut Vec<Cow<'a, str>>) -> Result<(), SplitError> {
    out.clear();
    let bytes = line.as_bytes();
    let mut pos = 0;
    loop {
        if bytes.get(pos) == Some(&b'"') {
            let start = pos + 1;
            let mut i = start;
            let mut escaped = false;
            loop {
                match memchr::memchr(b'"', bytes.get(i..).unwrap_or_default()) {
                    None => return Err(SplitError::UnterminatedQuote),
                    Some(off) => {
                        let q = i + off;
                        if bytes.get(q + 1) == Some(&b'"') {
                            escaped = true;
                            i = q + 2;
                        } else {
                            let raw = line.get(start..q).unwrap_or_default();
                            out.push(if escaped {
                                Cow::Owned(raw.replace("\"\"", "\""))
                            } else {
                                Cow::Borrowed(raw)
                            });
                            pos = q + 1;
                            break;
                        }
                    }
                }
            }
            match bytes.get(pos) {
                None => return Ok(()),
                Some(b',') => pos += 1,
                Some(_) => return Err(SplitError::TextAfterQuote),
            }
        } else {
            let rest = bytes.get(pos..).unwrap_or_default();
            match memchr::memchr(b',', rest) {
                Some(off) => {
                    out.push(Cow::Borrowed(line.get(pos..pos + off).unwrap_or_default()));
                    pos += off + 1;
                }
                None => {
                    out.push(Cow::Borrowed(line.get(pos..).unwrap_or_default()));
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Result<Vec<String>, SplitError> {
        let mut v = Vec::new();
        split_line(line, &mut v).map(|()| v.into_iter().map(Cow::into_owned).collect())
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
