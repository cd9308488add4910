//! A small JSON reader that keeps the line and column of every value (for `nft -j list ruleset`), and a
//! string escaper for the JSON and SARIF writers.

/// A JSON value with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Json {
    /// The value.
    pub v: Value,
    /// 1-based line of its first character.
    pub line: u32,
    /// 1-based column (in characters) of its first character.
    pub col: u32,
}

/// JSON value kinds. Numbers keep their text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as written.
    Num(String),
    /// A string, unescaped.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// Member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match &self.v {
            Value::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if a string.
    pub fn str(&self) -> Option<&str> {
        match &self.v {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Elements, if an array.
    pub fn arr(&self) -> &[Json] {
        match &self.v {
            Value::Arr(a) => a,
            _ => &[],
        }
    }

    /// A number or numeric string as u64.
    pub fn u64(&self) -> Option<u64> {
        match &self.v {
            Value::Num(n) | Value::Str(n) => n.parse().ok(),
            _ => None,
        }
    }
}

/// Why JSON could not be read, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Line of the problem.
    pub line: u32,
    /// Column of the problem.
    pub col: u32,
    /// What is wrong.
    pub what: &'static str,
}

const MAX_DEPTH: usize = 128;

/// Parses a whole JSON text.
///
/// # Errors
///
/// The first syntax error, with its line and column, or nesting deeper than 128.
pub fn parse(text: &str) -> Result<Json, JsonError> {
    let mut p = P {
        s: text.as_bytes(),
        i: 0,
        line: 1,
        col: 1,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i < p.s.len() {
        return Err(p.err("text after the JSON value"));
    }
    Ok(v)
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
    line: u32,
    col: u32,
}

impl P<'_> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError {
            line: self.line,
            col: self.col,
            what,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        if b == b'\n' {
            self.line += 1;
            self.col = 1;
        } else if b & 0xC0 != 0x80 {
            self.col += 1;
        }
        Some(b)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    fn lit(&mut self, word: &[u8], v: Value, line: u32, col: u32) -> Result<Json, JsonError> {
        if self.s.get(self.i..self.i + word.len()) == Some(word) {
            for _ in 0..word.len() {
                self.bump();
            }
            Ok(Json { v, line, col })
        } else {
            Err(self.err("unknown literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        let (line, col) = (self.line, self.col);
        match self.peek() {
            Some(b'{') => {
                self.bump();
                let mut members = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.bump();
                    return Ok(Json {
                        v: Value::Obj(members),
                        line,
                        col,
                    });
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.err("expected a member name"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.bump() != Some(b':') {
                        return Err(self.err("expected `:`"));
                    }
                    self.ws();
                    let v = self.value(depth + 1)?;
                    members.push((k, v));
                    self.ws();
                    match self.bump() {
                        Some(b',') => continue,
                        Some(b'}') => {
                            return Ok(Json {
                                v: Value::Obj(members),
                                line,
                                col,
                            });
                        }
                        _ => return Err(self.err("expected `,` or `}`")),
                    }
                }
            }
            Some(b'[') => {
                self.bump();
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.bump();
                    return Ok(Json {
                        v: Value::Arr(items),
                        line,
                        col,
                    });
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.bump() {
                        Some(b',') => continue,
                        Some(b']') => {
                            return Ok(Json {
                                v: Value::Arr(items),
                                line,
                                col,
                            });
                        }
                        _ => return Err(self.err("expected `,` or `]`")),
                    }
                }
            }
            Some(b'"') => Ok(Json {
                v: Value::Str(self.string()?),
                line,
                col,
            }),
            Some(b't') => self.lit(b"true", Value::Bool(true), line, col),
            Some(b'f') => self.lit(b"false", Value::Bool(false), line, col),
            Some(b'n') => self.lit(b"null", Value::Null, line, col),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.bump();
                }
                let text =
                    String::from_utf8_lossy(self.s.get(start..self.i).unwrap_or(&[])).into_owned();
                Ok(Json {
                    v: Value::Num(text),
                    line,
                    col,
                })
            }
            None => Err(self.err("unexpected end of text")),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.bump(); // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            match self.bump() {
                None => return Err(self.err("string is not closed")),
                Some(b'"') => break,
                Some(b'\\') => {
                    let e = self
                        .bump()
                        .ok_or_else(|| self.err("string is not closed"))?;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = self
                                .s
                                .get(self.i..self.i + 4)
                                .ok_or_else(|| self.err("short \\u escape"))?;
                            let code = std::str::from_utf8(hex)
                                .ok()
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or_else(|| self.err("bad \\u escape"))?;
                            for _ in 0..4 {
                                self.bump();
                            }
                            char::from_u32(code).unwrap_or('\u{fffd}')
                        }
                        _ => return Err(self.err("bad escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(b) => out.push(b),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Writes `s` as a JSON string literal (with quotes) onto `out`.
pub fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_line_and_column() {
        let j = parse("{\"a\": [1, \"x\\n\"],\n  \"b\": {\"c\": null}}").unwrap();
        let a = j.get("a").unwrap();
        assert_eq!((a.line, a.col), (1, 7));
        assert_eq!(a.arr()[1].str(), Some("x\n"));
        let b = j.get("b").unwrap();
        assert_eq!((b.line, b.col), (2, 8));
    }

    #[test]
    fn errors_have_positions_and_deep_nesting_is_refused() {
        assert_eq!(parse("{\"a\" 1}").unwrap_err().what, "expected `:`");
        let deep = "[".repeat(1000);
        assert_eq!(parse(&deep).unwrap_err().what, "nested too deeply");
        let mut s = String::new();
        escape_into(&mut s, "a\"b\u{1}");
        assert_eq!(s, "\"a\\\"b\\u0001\"");
    }
}
