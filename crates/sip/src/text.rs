//! Lexical helpers shared by the header parsers: character classes (RFC 3261 §25.1), a cursor
//! that treats folded line ends as whitespace, parameter lists and percent-decoding.

use crate::Anomaly;

const fn token_class(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~')
}

/// Lookup table for [`is_token`]: the header-name scan runs once per header byte.
const TOKEN_BIT: u8 = 1;
const USER_BIT: u8 = 2;
const PARAM_BIT: u8 = 4;
const HEADER_BIT: u8 = 8;
const HOST_BIT: u8 = 16;
const WS_BIT: u8 = 32;
/// Ends an unquoted header-parameter value: whitespace and `; , " < > ?`.
const HVAL_END_BIT: u8 = 64;
/// A character of a Call-ID `word` (RFC 3261 §25.1).
const WORD_BIT: u8 = 128;

/// One byte of character-class bits per octet: every class test in the header parsers is a
/// single table load.
// `i < 256` bounds the const-evaluated index; an out-of-bounds one would fail compilation.
#[allow(clippy::indexing_slicing)]
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if token_class(b) {
            c |= TOKEN_BIT;
        }
        if user_class(b) {
            c |= USER_BIT;
        }
        if param_class(b) {
            c |= PARAM_BIT;
        }
        if header_class(b) {
            c |= HEADER_BIT;
        }
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' {
            c |= HOST_BIT;
        }
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            c |= WS_BIT | HVAL_END_BIT;
        }
        if matches!(b, b';' | b',' | b'"' | b'<' | b'>' | b'?') {
            c |= HVAL_END_BIT;
        }
        if word_class(b) {
            c |= WORD_BIT;
        }
        t[i] = c;
        i += 1;
    }
    t
};

#[inline]
fn class(b: u8, bit: u8) -> bool {
    // A u8 always indexes a 256-entry table; the bounds check compiles away.
    CLASS.get(usize::from(b)).is_some_and(|c| c & bit != 0)
}

/// `token` characters (RFC 3261 §25.1).
#[inline]
pub(crate) fn is_token(b: u8) -> bool {
    class(b, TOKEN_BIT)
}

/// Characters of `user` / `password` in a URI.
#[inline]
pub(crate) fn is_user_char(b: u8) -> bool {
    class(b, USER_BIT)
}

/// Characters of a URI parameter name or value.
#[inline]
pub(crate) fn is_uri_param_char(b: u8) -> bool {
    class(b, PARAM_BIT)
}

/// Characters of a URI `?headers` part.
#[inline]
pub(crate) fn is_header_char(b: u8) -> bool {
    class(b, HEADER_BIT)
}

/// Characters of a host name or IPv4 address.
#[inline]
pub(crate) fn is_host_char(b: u8) -> bool {
    class(b, HOST_BIT)
}

/// Characters of a Call-ID `word`: `token` characters and `( ) < > : \ " / [ ] ? { }`.
pub(crate) const fn word_class(b: u8) -> bool {
    token_class(b)
        || matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        )
}

/// Length of the leading run of Call-ID `word` characters of `b`.
#[inline]
pub(crate) fn word_run(b: &[u8]) -> usize {
    b.iter()
        .position(|c| !class(*c, WORD_BIT))
        .unwrap_or(b.len())
}

/// Characters of `user` / `password` (RFC 3261 §25.1: unreserved, escaped, user-unreserved,
/// and `&=+$,` for password), plus `;?/:` which RFC 4475 shows in user parts.
const fn user_class(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' | b'%'
        | b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/' | b':')
}

/// Characters of the `?headers` part (hname/hvalue: unreserved, escaped, hnv-unreserved).
const fn header_class(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' | b'%'
        | b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$' | b'=' | b'&')
}

/// Characters allowed in a URI parameter name or value: unreserved, escaped and
/// `param-unreserved` (RFC 3261 §25.1), plus `%` for escapes.
const fn param_class(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' | b'%'
        | b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `s` from `at` as a little-endian word, zero-padded past the end.
#[inline]
pub(crate) fn word_at(s: &[u8], at: usize) -> u64 {
    let rest = s.get(at..).unwrap_or(&[]);
    match rest.first_chunk::<8>() {
        Some(c) => u64::from_le_bytes(*c),
        None => {
            let mut v = 0u64;
            for (i, b) in rest.iter().enumerate() {
                v |= u64::from(*b) << (8 * i);
            }
            v
        }
    }
}

/// Marks the bytes of `w` that equal `needle` with their high bit. The lowest mark is exact
/// (and there is one iff such a byte exists); a borrow can add false marks above it.
#[inline]
pub(crate) fn eq_mask(w: u64, needle: u8) -> u64 {
    let x = w ^ (LO * u64::from(needle));
    x.wrapping_sub(LO) & !x & HI
}

/// Position of the first `needle` in `hay`, eight bytes at a time; for the short spans
/// (header names) where a call into `memchr` costs more than the search.
#[inline]
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    let rep = LO * u64::from(needle);
    let mut rest = hay;
    let mut i = 0;
    while let Some((chunk, r)) = rest.split_first_chunk::<8>() {
        let x = u64::from_le_bytes(*chunk) ^ rep;
        // The lowest set bit marks the first zero byte exactly.
        let zero = x.wrapping_sub(LO) & !x & HI;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        rest = r;
        i += 8;
    }
    rest.iter().position(|b| *b == needle).map(|p| i + p)
}

/// Whitespace inside a header value. CR and LF can only appear there as part of a fold
/// (CRLF followed by SP/HT), which RFC 3261 §7.3.1 says is equivalent to a single SP.
#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    class(b, WS_BIT)
}

/// Trims whitespace (including folds) from both ends.
#[inline]
pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    while let [b, rest @ ..] = s {
        if !is_ws(*b) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., b] = s {
        if !is_ws(*b) {
            break;
        }
        s = rest;
    }
    s
}

/// Trims whitespace (including folds) from both ends of a `str`.
#[inline]
pub(crate) fn trim_str(s: &str) -> &str {
    let b = s.as_bytes();
    let t = trim(b);
    let lead = b.iter().take_while(|c| is_ws(**c)).count();
    s.get(lead..lead + t.len()).unwrap_or("")
}

/// `part` as text, if it lies inside `whole` (checked by address, no re-validation);
/// otherwise validates `part` itself.
#[inline]
pub(crate) fn sub_str<'b>(whole: &'b str, part: &'b [u8]) -> Option<&'b str> {
    let base = whole.as_ptr() as usize;
    let start = part.as_ptr() as usize;
    let inside = start
        .checked_sub(base)
        .and_then(|off| Some((off, off.checked_add(part.len())?)))
        .filter(|(_, end)| *end <= whole.len());
    match inside {
        Some((off, end)) => whole
            .get(off..end)
            .or_else(|| core::str::from_utf8(part).ok()),
        None => core::str::from_utf8(part).ok(),
    }
}

/// Splits at the first `c` (an ASCII byte), like `str::split_once` without the char searcher.
#[inline]
pub(crate) fn split_at_byte(s: &str, c: u8) -> Option<(&str, &str)> {
    let i = s.as_bytes().iter().position(|b| *b == c)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// A decimal number made only of digits; `max` is the largest value the grammar allows.
pub(crate) fn parse_number(s: &[u8], max: u64) -> Result<u64, Anomaly> {
    if s.is_empty() {
        return Err(Anomaly::BadNumber);
    }
    let mut n: u64 = 0;
    let mut overflow = false;
    for &b in s {
        if !b.is_ascii_digit() {
            return Err(Anomaly::BadNumber);
        }
        match n
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
        {
            Some(v) if v <= max => n = v,
            _ => overflow = true,
        }
    }
    if overflow {
        Err(Anomaly::ValueOutOfRange)
    } else {
        Ok(n)
    }
}

/// A byte cursor over a header value.
#[derive(Clone)]
pub(crate) struct Cursor<'b> {
    s: &'b str,
    pos: usize,
}

impl<'b> Cursor<'b> {
    pub(crate) fn new(s: &'b str) -> Self {
        Cursor { s, pos: 0 }
    }

    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    #[inline]
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.s.len());
    }

    /// Skips whitespace; returns whether any was skipped.
    #[inline]
    pub(crate) fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
        self.pos != start
    }

    #[inline]
    pub(crate) fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The text between two positions (always on ASCII delimiters, so on char boundaries).
    #[inline]
    pub(crate) fn slice(&self, from: usize, to: usize) -> &'b str {
        self.s.get(from..to).unwrap_or("")
    }

    #[inline]
    pub(crate) fn rest(&self) -> &'b str {
        self.s.get(self.pos..).unwrap_or("")
    }

    /// Consumes bytes while `f` holds.
    #[inline]
    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'b str {
        let start = self.pos;
        let rest = self.s.as_bytes().get(start..).unwrap_or_default();
        let n = rest.iter().position(|b| !f(*b)).unwrap_or(rest.len());
        self.pos = start + n;
        self.slice(start, self.pos)
    }

    /// A non-empty token.
    #[inline]
    pub(crate) fn token(&mut self) -> Option<&'b str> {
        let t = self.take_while(is_token);
        (!t.is_empty()).then_some(t)
    }

    /// A quoted-string starting at the cursor (which must be on `"`); returns the content
    /// between the quotes with quoted-pairs left escaped.
    pub(crate) fn quoted(&mut self) -> Result<&'b str, Anomaly> {
        if !self.eat(b'"') {
            return Err(Anomaly::UnbalancedQuotes);
        }
        let start = self.pos;
        loop {
            // Only `"` and `\` matter inside a quoted-string, and both are ASCII, so a byte search
            // lands on character boundaries and skips whole runs of text at once.
            let rest = self.s.as_bytes().get(self.pos..).unwrap_or_default();
            let Some(i) = memchr::memchr2(b'"', b'\\', rest) else {
                return Err(Anomaly::UnbalancedQuotes);
            };
            self.pos += i;
            if rest.get(i) == Some(&b'"') {
                let inner = self.slice(start, self.pos);
                self.pos += 1;
                return Ok(inner);
            }
            self.pos += 1;
            // A quoted-pair may escape any octet except CR and LF (§25.1); if the string ends
            // here the quote is unbalanced.
            match self.peek() {
                None | Some(b'\r' | b'\n') => return Err(Anomaly::UnbalancedQuotes),
                Some(_) => self.skip_char(),
            }
        }
    }

    /// Advances over one UTF-8 character.
    fn skip_char(&mut self) {
        let n = self.rest().chars().next().map_or(1, char::len_utf8);
        self.pos += n;
    }
}

/// Splits a header value on commas that are outside quoted-strings and `<…>`, as RFC 3261
/// §7.3.1 allows for headers whose grammar is a comma-separated list.
pub(crate) fn next_list_item(s: &[u8]) -> (&[u8], &[u8]) {
    // Most values hold a single element: without any comma there is nothing to split.
    if memchr::memchr(b',', s).is_none() {
        return (s, &[]);
    }
    let mut in_quote = false;
    let mut angle = false;
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'\\' if in_quote => i += 1,
            b'"' => in_quote = !in_quote,
            b'<' if !in_quote => angle = true,
            b'>' if !in_quote => angle = false,
            b',' if !in_quote && !angle => {
                return (s.get(..i).unwrap_or(&[]), s.get(i + 1..).unwrap_or(&[]));
            }
            _ => {}
        }
        i += 1;
    }
    (s, &[])
}

/// A `;`-separated parameter list, kept as borrowed text and read lazily.
///
/// The typed parsers check the syntax once; lookups walk the (short) list again rather than
/// storing it, so no storage is needed. Names compare case-insensitively (RFC 3261 §7.3.1);
/// values are returned without surrounding quotes, escapes untouched.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Params<'b>(&'b str);

impl<'b> Params<'b> {
    pub(crate) fn new(raw: &'b str) -> Self {
        Params(raw)
    }

    /// The parameter text as received, starting with `;` (empty if there are none).
    #[must_use]
    pub fn as_str(&self) -> &'b str {
        self.0
    }

    /// Whether the list is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The value of parameter `name`: `Some("")` for a flag such as `;lr`, `None` if absent.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&'b str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.unwrap_or(""))
    }

    /// Whether parameter `name` is present, with or without a value.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// Iterates `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'b str, Option<&'b str>)> + 'b {
        ParamIter(self.0)
    }
}

impl core::fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

struct ParamIter<'b>(&'b str);

impl<'b> Iterator for ParamIter<'b> {
    type Item = (&'b str, Option<&'b str>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.0.is_empty() {
                return None;
            }
            let bytes = self.0.as_bytes();
            let mut in_quote = false;
            let mut i = 0;
            let mut end = bytes.len();
            while let Some(&b) = bytes.get(i) {
                match b {
                    b'\\' if in_quote => i += 1,
                    b'"' => in_quote = !in_quote,
                    b';' if !in_quote && i > 0 => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
            let seg = self.0.get(..end).unwrap_or("");
            self.0 = self.0.get(end..).unwrap_or("");
            let seg = trim_str(seg.strip_prefix(';').unwrap_or(seg));
            if seg.is_empty() {
                continue;
            }
            return Some(match split_at_byte(seg, b'=') {
                None => (seg, None),
                Some((n, v)) => {
                    let v = trim_str(v);
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or(v);
                    (trim_str(n), Some(v))
                }
            });
        }
    }
}

/// Which characters end a parameter value in a given context.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamCtx {
    /// Header parameters (`;tag=…` after a name-addr, Via params): LWS allowed around `;`/`=`.
    Header,
    /// URI parameters: no whitespace, end at `?`, `>` or whitespace.
    Uri,
}

/// Parses `*( SEMI param )` at the cursor and returns the raw list. Stops at the first byte
/// that cannot continue the list (the caller decides whether that is an error).
pub(crate) fn parse_params<'b>(cur: &mut Cursor<'b>, ctx: ParamCtx) -> Result<Params<'b>, Anomaly> {
    let start = cur.pos;
    let b = cur.s.as_bytes().get(start..).unwrap_or_default();
    let header = ctx == ParamCtx::Header;
    // Most URIs and many headers have no parameters: a byte that can neither be nor lead to
    // a `;` ends the list before it starts.
    match b.first() {
        Some(b';') => {}
        Some(c) if header && is_ws(*c) => {}
        _ => return Ok(Params::new(cur.slice(start, start))),
    }
    // Whitespace is skipped only between the parts of a header parameter.
    let ws = |i: usize| {
        if header {
            i + b
                .get(i..)
                .map_or(0, |r| r.iter().take_while(|c| is_ws(**c)).count())
        } else {
            i
        }
    };
    // One table lookup per byte: a token, or in a URI also a URI parameter character.
    let name_bits = match ctx {
        ParamCtx::Header => TOKEN_BIT,
        ParamCtx::Uri => TOKEN_BIT | PARAM_BIT,
    };
    let run = |i: usize, f: &dyn Fn(u8) -> bool| {
        b.get(i..)
            .map_or(0, |r| r.iter().position(|c| !f(*c)).unwrap_or(r.len()))
    };
    // `end` is where the last complete parameter ends, relative to `start`.
    let mut end = 0;
    loop {
        let mut i = ws(end);
        if b.get(i) != Some(&b';') {
            break;
        }
        i = ws(i + 1);
        let name = run(i, &|c| class(c, name_bits));
        if name == 0 {
            return Err(Anomaly::EmptyParameter);
        }
        i += name;
        let eq = ws(i);
        if b.get(eq) == Some(&b'=') {
            i = ws(eq + 1);
            match b.get(i) {
                Some(b'"') => {
                    let mut q = Cursor {
                        s: cur.s,
                        pos: start + i,
                    };
                    q.quoted()?;
                    i = q.pos - start;
                }
                Some(b'[') => {
                    i += run(i, &|c| c != b']' && !is_ws(c) && c != b';' && c != b',');
                    if b.get(i) != Some(&b']') {
                        return Err(Anomaly::EmptyParameter);
                    }
                    i += 1;
                }
                _ => {
                    let v = match ctx {
                        ParamCtx::Header => run(i, &|c| !class(c, HVAL_END_BIT)),
                        ParamCtx::Uri => run(i, &is_uri_param_char),
                    };
                    if v == 0 {
                        return Err(Anomaly::EmptyParameter);
                    }
                    i += v;
                }
            }
        }
        end = i;
    }
    cur.pos = start + end;
    Ok(Params::new(cur.slice(start, start + end)))
}

/// Decodes `%HH` escapes of `input` into `out` and returns the decoded bytes.
///
/// Returns `None` if `out` is too small or an escape is not two hex digits. Decoding can yield
/// any byte, NUL included (RFC 4475 §3.1.1.4 `escnull`), so the result is bytes, not text.
pub fn percent_decode<'o>(input: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]> {
    let mut i = 0;
    let mut n = 0;
    while let Some(&b) = input.get(i) {
        let byte = if b == b'%' {
            let hi = hex(*input.get(i + 1)?)?;
            let lo = hex(*input.get(i + 2)?)?;
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            b
        };
        *out.get_mut(n)? = byte;
        n += 1;
    }
    out.get(..n)
}

const fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::String;

    /// `parse_params` as it was before it walked the bytes by index: the reference it must
    /// agree with.
    fn reference_parse_params<'b>(
        cur: &mut Cursor<'b>,
        ctx: ParamCtx,
    ) -> Result<Params<'b>, Anomaly> {
        let start = cur.pos();
        let mut end = start;
        loop {
            let save = cur.clone();
            if ctx == ParamCtx::Header {
                cur.skip_ws();
            }
            if !cur.eat(b';') {
                *cur = save;
                break;
            }
            if ctx == ParamCtx::Header {
                cur.skip_ws();
            }
            // One table lookup per byte: a token, or in a URI also a URI parameter character.
            let name_bits = match ctx {
                ParamCtx::Header => TOKEN_BIT,
                ParamCtx::Uri => TOKEN_BIT | PARAM_BIT,
            };
            let name = cur.take_while(|b| class(b, name_bits));
            if name.is_empty() {
                return Err(Anomaly::EmptyParameter);
            }
            let mut after_name = cur.clone();
            if ctx == ParamCtx::Header {
                after_name.skip_ws();
            }
            if after_name.eat(b'=') {
                *cur = after_name;
                if ctx == ParamCtx::Header {
                    cur.skip_ws();
                }
                match cur.peek() {
                    Some(b'"') => {
                        cur.quoted()?;
                    }
                    Some(b'[') => {
                        cur.take_while(|b| b != b']' && !is_ws(b) && b != b';' && b != b',');
                        if !cur.eat(b']') {
                            return Err(Anomaly::EmptyParameter);
                        }
                    }
                    _ => {
                        let v = match ctx {
                            ParamCtx::Header => cur.take_while(|b| !class(b, HVAL_END_BIT)),
                            ParamCtx::Uri => cur.take_while(is_uri_param_char),
                        };
                        if v.is_empty() {
                            return Err(Anomaly::EmptyParameter);
                        }
                    }
                }
            }
            end = cur.pos();
        }
        Ok(Params::new(cur.slice(start, end)))
    }

    /// Both parsers on `s` in both contexts: same result, same position afterwards.
    fn params_agree(s: &str) {
        for ctx in [ParamCtx::Header, ParamCtx::Uri] {
            let (mut a, mut b) = (Cursor::new(s), Cursor::new(s));
            let fast = parse_params(&mut a, ctx);
            let reference = reference_parse_params(&mut b, ctx);
            assert_eq!(fast, reference, "{s:?}");
            if fast.is_ok() {
                assert_eq!(a.pos(), b.pos(), "{s:?}");
            }
        }
    }

    /// Parameter-list-like text: names, values and every byte the parser decides on.
    fn param_text() -> impl Strategy<Value = String> {
        let piece = proptest::sample::select(std::vec![
            ";",
            ";",
            "=",
            "tag",
            "branch",
            "z9hG4bK-1",
            "rport",
            "lr",
            "5060",
            " ",
            "\t",
            "\r\n ",
            "\"",
            "\"q;uo\\\"te\"",
            "\\",
            "[",
            "]",
            "[2001:db8::1]",
            ",",
            "?",
            "<",
            ">",
            "%41",
            "/",
            ":",
            "&",
            "é",
            "{",
            "}",
            "@",
        ]);
        prop_oneof![
            proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat()),
            proptest::collection::vec(any::<char>(), 0..16)
                .prop_map(|v| String::from(";") + &v.into_iter().collect::<String>()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

        #[test]
        fn params_by_index_give_what_the_cursor_walk_gives(s in param_text()) {
            params_agree(&s);
        }
    }

    #[test]
    fn params_agree_on_the_usual_and_the_odd_shapes() {
        for s in [
            "",
            ";branch=z9hG4bK-524287-1---4f3b;rport",
            ";tag=2a7d9f1b>",
            " ; tag = 98asjd8 ;x=\"a;b\";lr",
            ";received=[2001:db8::9:1];rport=1234",
            ";received=[2001:db8::9:1",
            ";;",
            ";x=",
            ";x=\"open",
            ";x= ,",
            ";transport=udp?h=v",
            ";a=b c",
            "\r\n ;expires=3600",
        ] {
            params_agree(s);
        }
    }

    #[test]
    fn quoted_strings_end_at_the_first_unescaped_quote_whatever_they_contain() {
        let q = |s: &'static str| {
            let mut c = Cursor::new(s);
            c.quoted().map(|inner| (inner, c.rest()))
        };
        assert_eq!(q("\"abc\";x"), Ok(("abc", ";x")));
        assert_eq!(q("\"\""), Ok(("", "")));
        assert_eq!(q(r#""a\"b\\" rest"#), Ok((r#"a\"b\\"#, " rest")));
        assert_eq!(q("\"Jürgen \\é ünd\"<"), Ok(("Jürgen \\é ünd", "<")));
        assert_eq!(q("\"日本\""), Ok(("日本", "")));
        assert_eq!(q("\"line\r\n fold\""), Ok(("line\r\n fold", "")));
        for bad in [
            "abc\"",
            "\"open",
            "\"ends in \\",
            "\"escaped end\\\"",
            "\"cr \\\r\"",
            "\"lf \\\n\"",
        ] {
            assert_eq!(q(bad), Err(Anomaly::UnbalancedQuotes), "{bad:?}");
        }
    }

    #[test]
    fn combined_class_bits_mean_what_the_single_classes_say() {
        for b in 0..=255u8 {
            assert_eq!(
                class(b, HVAL_END_BIT),
                is_ws(b) || matches!(b, b';' | b',' | b'"' | b'<' | b'>' | b'?'),
                "{b:#x}"
            );
            assert_eq!(
                class(b, TOKEN_BIT | PARAM_BIT),
                is_token(b) || is_uri_param_char(b),
                "{b:#x}"
            );
            assert_eq!(class(b, TOKEN_BIT), is_token(b), "{b:#x}");
        }
    }

    #[test]
    fn sub_str_finds_parts_by_address_and_falls_back() {
        let whole = "Via: a\r\nTo: b";
        let part = &whole.as_bytes()[5..6];
        assert_eq!(sub_str(whole, part), Some("a"));
        let other = b"elsewhere";
        assert_eq!(sub_str(whole, other), Some("elsewhere"));
        assert_eq!(sub_str(whole, b"\xff"), None);
    }

    #[test]
    fn percent_decode_handles_escapes_and_nul() {
        let mut out = [0u8; 16];
        assert_eq!(
            percent_decode(b"null-%00-null", &mut out),
            Some(&b"null-\0-null"[..])
        );
        let mut out = [0u8; 16];
        assert_eq!(percent_decode(b"%75se%72", &mut out), Some(&b"user"[..]));
        let mut out = [0u8; 16];
        assert_eq!(percent_decode(b"%ZK", &mut out), None);
        let mut out = [0u8; 2];
        assert_eq!(percent_decode(b"abc", &mut out), None);
    }

    #[test]
    fn list_items_respect_quotes_and_angles() {
        let (a, rest) = next_list_item(b"\"a,b\" <sip:x@y;p=1,2>, <sip:z>");
        assert_eq!(a, b"\"a,b\" <sip:x@y;p=1,2>");
        assert_eq!(trim(rest), b"<sip:z>");
    }

    #[test]
    fn params_iterate_with_lws_and_quotes() {
        let p = Params::new(";  tag = 98asjd8 ;x=\"a;b\";lr");
        assert_eq!(p.get("TAG"), Some("98asjd8"));
        assert_eq!(p.get("x"), Some("a;b"));
        assert_eq!(p.get("lr"), Some(""));
        assert_eq!(p.get("nope"), None);
    }

    #[test]
    fn class_table_matches_the_grammar_definitions() {
        for b in 0..=255u8 {
            assert_eq!(is_token(b), token_class(b), "{b}");
            assert_eq!(is_user_char(b), user_class(b), "{b}");
            assert_eq!(is_uri_param_char(b), param_class(b), "{b}");
            assert_eq!(is_header_char(b), header_class(b), "{b}");
            assert_eq!(
                is_host_char(b),
                b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
            );
            assert_eq!(is_ws(b), matches!(b, b' ' | b'\t' | b'\r' | b'\n'), "{b}");
            assert_eq!(class(b, WORD_BIT), word_class(b), "{b}");
        }
    }

    #[test]
    fn swar_helpers_match_the_bytewise_definitions() {
        for (s, at) in [
            (&b"Content-Length"[..], 0),
            (b"Content-Length", 8),
            (b"Via", 0),
            (b"", 3),
        ] {
            let mut bytes = [0u8; 8];
            for (i, b) in s.iter().skip(at).take(8).enumerate() {
                bytes[i] = *b;
            }
            assert_eq!(word_at(s, at), u64::from_le_bytes(bytes), "{s:?} {at}");
        }
        for hay in [
            &b"a:b:\x00:\xba\x3a"[..],
            b"\x3b\x3a\x01\x3a::::",
            b"\x00\x00\x00\x00\x00\x00\x00\x00",
            b"abcdefgh",
        ] {
            let w = word_at(hay, 0);
            let first = hay.iter().take(8).position(|b| *b == b':');
            let m = eq_mask(w, b':');
            assert_eq!(
                (m != 0).then(|| m.trailing_zeros() as usize / 8),
                first,
                "{hay:?}"
            );
        }
        for hay in [
            &b""[..],
            b":",
            b"abc:def",
            b"0123456789abcdef:",
            b"no colon here at all",
            b"\xff\xff\xff\xff\xff\xff\xff\xff:",
        ] {
            assert_eq!(
                find_byte(hay, b':'),
                hay.iter().position(|b| *b == b':'),
                "{hay:?}"
            );
        }
    }

    #[test]
    fn numbers_overflow_is_out_of_range() {
        assert_eq!(parse_number(b"0068", 255), Ok(68));
        assert_eq!(parse_number(b"300", 255), Err(Anomaly::ValueOutOfRange));
        assert_eq!(parse_number(b"-1", 255), Err(Anomaly::BadNumber));
        assert_eq!(parse_number(b"", 255), Err(Anomaly::BadNumber));
        assert_eq!(
            parse_number(b"36893488147419103232", u64::MAX),
            Err(Anomaly::ValueOutOfRange)
        );
    }
}
