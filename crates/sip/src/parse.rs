//! Framing and the line-level parse: start line, header lines, Content-Length, body.
//!
//! One forward pass over the bytes: bit sets of 64-byte blocks give the line ends (and NULs on
//! the way), each header name is read as whole words once, and nothing is revisited, so the work
//! is linear in the message size whatever the number of headers (see the `work_is_linear_in_header_count` test).
//! On streams, [`StreamParser::parse_resume`] keeps that true across calls on a growing buffer.

use core::fmt;

use crate::header::{Header, HeaderName};
use crate::message::{Message, StartLine};
use crate::method::{Method, StatusCode};
use crate::text::{eq_mask, find_byte, is_token, is_ws, word_at};
use crate::{Anomalies, Anomaly};

/// Hard limits applied while parsing. Exceeding one is recorded as an [`Anomaly`] on
/// datagrams and is an [`Error`] on streams (where framing can no longer be trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message (start line, headers and body) examined. Default 65,535 bytes, the
    /// largest UDP payload.
    pub max_message_size: usize,
    /// Most header lines stored; the caller's storage length is a limit too. Default 256.
    pub max_headers: usize,
    /// Longest line (a header with its folds) before [`Anomaly::LineTooLong`]. Default 8,192.
    pub max_line_length: usize,
}

impl Limits {
    /// The defaults listed on each field.
    pub const DEFAULT: Limits = Limits {
        max_message_size: 65_535,
        max_headers: 256,
        max_line_length: 8_192,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Why no message could be produced at all. Everything less severe is an [`Anomaly`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The input holds nothing but line ends (or nothing). On a datagram transport this is
    /// typically a keep-alive; see [`KeepAlive`].
    Empty,
    /// A stream message (headers, or headers plus the announced body) exceeds
    /// [`Limits::max_message_size`]; the connection cannot be resynchronised.
    MessageTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A stream message has no Content-Length, which RFC 3261 §18.3 requires on streams, so
    /// its end cannot be found.
    MissingContentLength,
    /// A stream message's Content-Length is not a decimal number.
    InvalidContentLength,
    /// A stream message carries Content-Length headers with different values.
    ConflictingContentLength,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty => f.write_str("no SIP message in input (only line ends)"),
            Error::MessageTooLarge { limit } => {
                write!(f, "stream message larger than the {limit}-byte limit")
            }
            Error::MissingContentLength => {
                f.write_str("stream message without Content-Length (RFC 3261 §18.3)")
            }
            Error::InvalidContentLength => {
                f.write_str("stream message with a non-numeric Content-Length")
            }
            Error::ConflictingContentLength => {
                f.write_str("stream message with conflicting Content-Length headers")
            }
        }
    }
}

impl core::error::Error for Error {}

/// The outcome of a stream parse, like `httparse::Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// A complete item was read.
    Complete(T),
    /// The buffer ends before the item does: read more bytes and call again with the longer
    /// buffer. Not an error.
    Partial,
}

/// An RFC 5626 §3.5.1 keep-alive on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// A double CRLF "ping"; a server answers with a single CRLF "pong".
    Ping,
    /// A single CRLF "pong".
    Pong,
}

/// One item read from a stream.
#[derive(Debug, Clone, Copy)]
pub enum Frame<'h, 'b> {
    /// A message; consume [`Message::len`] bytes before the next call.
    Message(Message<'h, 'b>),
    /// A keep-alive of `len` bytes; consume them before the next call.
    KeepAlive {
        /// Which keep-alive it is.
        kind: KeepAlive,
        /// Bytes to consume.
        len: usize,
    },
}

/// Frames SIP messages out of a reliable byte stream (TCP, TLS, WebSocket payloads).
///
/// Stateless apart from its limits, so one parser can serve every connection: the caller keeps
/// the bytes, calls [`StreamParser::parse_resume`] (or [`StreamParser::parse`]) on what it has,
/// and consumes the length of each complete frame.
///
/// [`StreamParser::parse`] scans a `Partial` message again from its start on the next call, so
/// a peer trickling a message one byte per segment costs `O(n²)` in its size.
/// [`StreamParser::parse_resume`] keeps a per-connection [`StreamCursor`] and continues where
/// the previous call stopped: the total work for a message is linear in its size however it
/// is split.
///
/// ```
/// use pbxguard_sip::{Frame, Header, Status, StreamCursor, StreamParser};
///
/// let parser = StreamParser::default();
/// let mut cursor = StreamCursor::new();
/// let mut buf: &[u8] = b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n";
/// let mut headers = [Header::EMPTY; 16];
/// let mut seen = 0;
/// while let Ok(Status::Complete(frame)) = parser.parse_resume(buf, &mut headers, &mut cursor) {
///     let used = match frame {
///         Frame::KeepAlive { len, .. } => len,
///         Frame::Message(msg) => msg.len(),
///     };
///     buf = &buf[used..];
///     seen += 1;
/// }
/// assert_eq!(seen, 2);
/// assert!(buf.is_empty());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamParser {
    limits: Limits,
}

/// How far [`StreamParser::parse_resume`] got with the frame at the start of one connection's
/// buffer, so that the next call, on the same bytes plus whatever arrived since, continues
/// there instead of scanning the message again.
///
/// Keep one per connection. It resets itself when it returns a complete frame or an error
/// (the caller then consumes the frame or closes the connection) and when it is handed a
/// buffer shorter than the previous one (which can only be a different buffer). Call
/// [`StreamCursor::reset`] when reusing it for another connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCursor {
    /// Bytes from the buffer's start examined without finding the end of the head.
    scanned: usize,
    /// Where the message starts, once a byte other than CR or LF was seen.
    start: Option<usize>,
    /// The whole message's length, once the head is complete and the body is awaited.
    need: Option<usize>,
    /// The buffer length of the last call.
    seen: usize,
}

impl StreamCursor {
    /// A cursor for a new connection (or a buffer starting at a frame boundary).
    #[must_use]
    pub const fn new() -> Self {
        StreamCursor {
            scanned: 0,
            start: None,
            need: None,
            seen: 0,
        }
    }

    /// Forgets the pending frame.
    pub fn reset(&mut self) {
        *self = StreamCursor::new();
    }

    /// How many bytes at the buffer's start have been examined for the pending frame. Each
    /// call examines only bytes past this point (plus a constant few), which is what makes
    /// trickled input linear.
    #[must_use]
    pub const fn scanned(&self) -> usize {
        self.scanned
    }
}

/// Where the head ends, if `data` holds all of it: a line feed at or after `from` that is
/// followed by an empty line (`LF` or `CRLF`). Otherwise where to continue once more bytes
/// arrived: the last line feed whose next line could not be judged yet, or the end.
fn find_head_end(data: &[u8], from: usize) -> Result<usize, usize> {
    let mut at = from;
    loop {
        let Some(rest) = data.get(at..) else {
            return Err(data.len());
        };
        let Some(i) = memchr::memchr(b'\n', rest) else {
            count_work(rest.len());
            return Err(data.len());
        };
        count_work(i + 1);
        let lf = at + i;
        match (data.get(lf + 1), data.get(lf + 2)) {
            (Some(b'\n'), _) | (Some(b'\r'), Some(b'\n')) => return Ok(lf),
            (None, _) | (Some(b'\r'), None) => return Err(lf),
            _ => at = lf + 1,
        }
    }
}

impl StreamParser {
    /// A parser with the given limits.
    #[must_use]
    pub const fn new(limits: Limits) -> Self {
        StreamParser { limits }
    }

    /// Reads the next frame at the start of `buf`.
    ///
    /// Leading CRLFs are keep-alives (RFC 5626 §3.5.1; RFC 3261 §7.5 says to ignore them): a
    /// `CRLFCRLF` is a [`KeepAlive::Ping`], a lone `CRLF` followed by anything else a
    /// [`KeepAlive::Pong`]. A message is complete once its headers and Content-Length bytes of
    /// body are in `buf`.
    ///
    /// Each call examines the whole pending message again; for input that may arrive in many
    /// small pieces use [`StreamParser::parse_resume`], which gives the same answers.
    ///
    /// # Errors
    ///
    /// When the stream cannot be framed any more: [`Error::MessageTooLarge`],
    /// [`Error::MissingContentLength`], [`Error::InvalidContentLength`],
    /// [`Error::ConflictingContentLength`]. The connection should be closed.
    pub fn parse<'h, 'b>(
        &self,
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<Status<Frame<'h, 'b>>, Error> {
        if let Some(frame) = keep_alive(buf) {
            return Ok(frame);
        }
        match parse(buf, headers, &self.limits, true, &mut None)? {
            Status::Complete(m) => Ok(Status::Complete(Frame::Message(m))),
            Status::Partial => Ok(Status::Partial),
        }
    }

    /// [`StreamParser::parse`] that continues where the previous call on this connection
    /// stopped, as recorded in `cursor`: bytes already examined are not examined again, so a
    /// message costs time linear in its size however finely it is split. Pass the connection's
    /// whole pending buffer each time (the same bytes, plus what arrived since).
    ///
    /// # Errors
    ///
    /// As [`StreamParser::parse`].
    pub fn parse_resume<'h, 'b>(
        &self,
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
        cursor: &mut StreamCursor,
    ) -> Result<Status<Frame<'h, 'b>>, Error> {
        if buf.len() < cursor.seen {
            cursor.reset();
        }
        cursor.seen = buf.len();
        if let Some(frame) = keep_alive(buf) {
            if matches!(frame, Status::Complete(_)) {
                cursor.reset();
            }
            return Ok(frame);
        }
        // The body is awaited: nothing to look at until all of it is there.
        if cursor.need.is_some_and(|need| buf.len() < need) {
            return Ok(Status::Partial);
        }
        if cursor.need.is_none() {
            let start = match cursor.start {
                Some(start) => start,
                None => {
                    let mut i = cursor.scanned;
                    while matches!(buf.get(i), Some(b'\r' | b'\n')) {
                        i += 1;
                    }
                    count_work(i - cursor.scanned);
                    cursor.scanned = i;
                    if i >= buf.len() {
                        return Ok(Status::Partial);
                    }
                    cursor.start = Some(i);
                    i
                }
            };
            let cap = start.saturating_add(self.limits.max_message_size);
            let data = buf.get(..cap).unwrap_or(buf);
            if let Err(stop) = find_head_end(data, cursor.scanned.max(start)) {
                let cut = buf.len() > cap;
                cursor.scanned = stop;
                if cut {
                    cursor.reset();
                }
                return need_more(cut, &self.limits);
            }
        }
        // The head is complete: one full parse, which is linear in the message.
        let mut need = None;
        let result = parse(buf, headers, &self.limits, true, &mut need);
        match result {
            Ok(Status::Partial) => cursor.need = need,
            Ok(Status::Complete(_)) | Err(_) => cursor.reset(),
        }
        Ok(match result? {
            Status::Complete(m) => Status::Complete(Frame::Message(m)),
            Status::Partial => Status::Partial,
        })
    }
}

/// A keep-alive at the start of a stream buffer, or `Partial` if the buffer is too short to
/// tell; `None` if a message starts there.
fn keep_alive<'h, 'b>(buf: &[u8]) -> Option<Status<Frame<'h, 'b>>> {
    match buf {
        [] | [b'\r'] | [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] => Some(Status::Partial),
        [b'\r', b'\n', b'\r', b'\n', ..] => Some(Status::Complete(Frame::KeepAlive {
            kind: KeepAlive::Ping,
            len: 4,
        })),
        [b'\r', b'\n', ..] => Some(Status::Complete(Frame::KeepAlive {
            kind: KeepAlive::Pong,
            len: 2,
        })),
        _ => None,
    }
}

impl<'h, 'b> Message<'h, 'b> {
    /// Parses one message from a datagram (UDP), with [`Limits::DEFAULT`].
    ///
    /// Never fails on malformed input: deviations are recorded in [`Message::anomalies`] and
    /// what could be read is exposed. Bytes after Content-Length octets of body are ignored, as
    /// RFC 3261 §18.3 prescribes for datagrams; without Content-Length the body runs to the end.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if the datagram holds nothing but line ends.
    #[inline]
    pub fn parse_datagram(buf: &'b [u8], headers: &'h mut [Header<'b>]) -> Result<Self, Error> {
        Self::parse_datagram_with(buf, headers, &Limits::DEFAULT)
    }

    /// [`Message::parse_datagram`] with explicit limits.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if the datagram holds nothing but line ends.
    pub fn parse_datagram_with(
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
        limits: &Limits,
    ) -> Result<Self, Error> {
        match parse(buf, headers, limits, false, &mut None)? {
            Status::Complete(m) => Ok(m),
            // Datagram mode never asks for more bytes; treat defensively as empty.
            Status::Partial => Err(Error::Empty),
        }
    }
}

#[cfg(test)]
std::thread_local! {
    /// Bytes examined by the parser, for the linear-work test.
    pub(crate) static WORK: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

#[inline(always)]
fn count_work(_n: usize) {
    #[cfg(test)]
    WORK.with(|w| w.set(w.get() + _n));
}

/// Finds line ends, and notes on the way whether any byte it examined is NUL, so that the
/// exact NUL check (outside a quoted-pair: RFC 4475 `intmeth` legitimately carries `\` NUL)
/// needs a second pass over the head only when one is there.
///
/// The bytes are examined 64 at a time: one pass over a block gives the bit set of its line
/// feeds and folds the block into a running byte-wise minimum (SSE2 on x86-64, where SSE2 is
/// part of the base instruction set; a portable loop elsewhere), and each line end is then one
/// bit scan.
#[derive(Clone, Copy)]
struct LineFinder {
    /// Where the current block starts.
    base: usize,
    /// Line feeds of the current block not yet returned (bit `i` = byte `base + i`). The
    /// block is the last one when it reaches the end of the data.
    bits: u64,
    /// The byte-wise minimum of every block read: a zero byte in it means a NUL was read.
    low: Low,
}

/// Bytes per block of [`LineFinder`].
const BLOCK: usize = 64;

impl LineFinder {
    /// A finder whose first block starts at `start`.
    #[inline]
    fn new(data: &[u8], start: usize) -> Self {
        let mut f = LineFinder {
            base: start,
            bits: 0,
            low: low_none(),
        };
        // Past the end, the empty last block stays.
        let _ = f.load(data, start);
        f
    }

    /// The next line feed: the first one after the previous call's, or at or after the
    /// start for the first call. Each byte up to it is examined once over the calls of one
    /// parse; each call takes the lowest bit of the current block's set and clears it.
    #[inline]
    fn next(&mut self, data: &[u8]) -> Option<usize> {
        while self.bits == 0 {
            if data.len().saturating_sub(self.base) <= BLOCK {
                return None;
            }
            self.load(data, self.base + BLOCK)?;
        }
        let p = self.base + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(p)
    }

    /// Whether a byte read so far (which may include bytes past the last line feed returned)
    /// is NUL.
    #[inline]
    fn read_nul(&self) -> bool {
        low_has_zero(self.low)
    }

    /// Reads the block starting at `at`; `None` past the end of `data`.
    #[inline]
    fn load(&mut self, data: &[u8], at: usize) -> Option<()> {
        let rest = data.get(at..).filter(|r| !r.is_empty())?;
        self.bits = match rest.first_chunk::<BLOCK>() {
            Some(block) => {
                count_work(BLOCK);
                block_mask(block, &mut self.low)
            }
            None => {
                count_work(rest.len());
                tail_mask(data, rest, &mut self.low)
            }
        };
        self.base = at;
        Some(())
    }
}

/// Whether `head` holds a NUL that is not escaped by a backslash (the bytes before a message
/// are line ends, never a backslash). Runs only when the line finder read a NUL.
#[cold]
#[inline(never)]
fn head_has_nul(head: &[u8]) -> bool {
    let mut prev = 0u8;
    for b in head {
        if *b == 0 && prev != b'\\' {
            return true;
        }
        prev = *b;
    }
    false
}

/// The line-feed mask of the last `BLOCK - 1` or fewer bytes of `data`, `rest`.
#[inline]
fn tail_mask(data: &[u8], rest: &[u8], low: &mut Low) -> u64 {
    let n = rest.len().min(BLOCK - 1);
    // The block that ends where the data does, shifted so that bit 0 is `rest`'s first byte:
    // no copy (whose narrow stores would stall the wide loads that follow). Its bytes before
    // `rest` were read already or precede the message (line ends), so the minimum is right.
    if let Some(block) = data.last_chunk::<BLOCK>() {
        return block_mask(block, low) >> (BLOCK - n);
    }
    tail_mask_short(rest, low)
}

/// The mask of data shorter than a block.
#[cold]
#[inline(never)]
fn tail_mask_short(rest: &[u8], low: &mut Low) -> u64 {
    // The padding is neither a line feed nor a NUL.
    let mut block = [b' '; BLOCK];
    let n = rest.len().min(BLOCK);
    if let (Some(dst), Some(src)) = (block.get_mut(..n), rest.get(..n)) {
        dst.copy_from_slice(src);
    }
    block_mask(&block, low)
}

/// A byte-wise running minimum: 16 lanes with SSE2.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
type Low = safe_arch::m128i;

/// The minimum before any byte was read.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn low_none() -> Low {
    safe_arch::set_splat_i8_m128i(-1)
}

/// Whether any lane of the running minimum is zero.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn low_has_zero(low: Low) -> bool {
    use safe_arch::{cmp_eq_mask_i8_m128i, move_mask_i8_m128i, zeroed_m128i};
    move_mask_i8_m128i(cmp_eq_mask_i8_m128i(low, zeroed_m128i())) != 0
}

/// Bit set of the line feeds in `block` (bit `i` = byte `i`); folds the block into `low`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn block_mask(block: &[u8; BLOCK], low: &mut Low) -> u64 {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, load_unaligned_m128i, min_u8_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let nl = set_splat_i8_m128i(b'\n' as i8);
    let mut chunk = |c: &[u8; 16]| {
        let v = load_unaligned_m128i(c);
        *low = min_u8_m128i(*low, v);
        // `move_mask` sets only the low 16 bits.
        u64::from(move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, nl)) as u16)
    };
    // Four chunks, written out so that no loop is left in the hot path.
    match block.as_chunks::<16>().0.first_chunk::<4>() {
        Some([a, b, c, d]) => chunk(a) | chunk(b) << 16 | chunk(c) << 32 | chunk(d) << 48,
        None => block_mask_portable(block, &mut 0),
    }
}

/// Bit set of the line feeds in `block`, byte by byte, folding its bytes into `low` (targets
/// without SSE2, and the reference the SSE2 version is tested against).
#[inline]
fn block_mask_portable(block: &[u8; BLOCK], low: &mut u8) -> u64 {
    let mut bits = 0u64;
    for (i, b) in block.iter().enumerate() {
        bits |= u64::from(*b == b'\n') << i;
        *low = (*low).min(*b);
    }
    bits
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
type Low = u8;

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
fn low_none() -> Low {
    u8::MAX
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
fn low_has_zero(low: Low) -> bool {
    low == 0
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn block_mask(block: &[u8; BLOCK], low: &mut Low) -> u64 {
    block_mask_portable(block, low)
}

/// The first eight bytes of `line` (which starts at `at` in `data`) as a little-endian word,
/// and where its first colon is. The word may hold bytes past a line shorter than eight; the
/// name's classification masks them off.
///
/// With SSE2 and 16 bytes of data from the line's start, one compare finds a colon among the
/// first 16 bytes (every name up to 15 bytes); otherwise eight bytes at a time.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn name_end(data: &[u8], at: usize, line: &[u8]) -> (u64, Option<usize>) {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, get_i64_from_m128i_s, load_unaligned_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let Some(chunk) = data.get(at..).and_then(<[u8]>::first_chunk::<16>) else {
        return name_end_by_words(line);
    };
    let v = load_unaligned_m128i(chunk);
    let first = get_i64_from_m128i_s(v) as u64;
    let colons = move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b':' as i8)));
    if colons != 0 {
        let c = colons.trailing_zeros() as usize;
        // A colon past the line's end means none in the line.
        return (first, (c < line.len()).then_some(c));
    }
    let colon = find_byte(line.get(16..).unwrap_or(&[]), b':').map(|c| c + 16);
    (first, colon)
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn name_end(_data: &[u8], _at: usize, line: &[u8]) -> (u64, Option<usize>) {
    name_end_by_words(line)
}

/// [`name_end`] eight bytes at a time, for the last bytes of the data and targets without
/// SSE2.
#[inline]
fn name_end_by_words(line: &[u8]) -> (u64, Option<usize>) {
    let first = word_at(line, 0);
    let colon = match eq_mask(first, b':') {
        0 => find_byte(line.get(8..).unwrap_or(&[]), b':').map(|c| c + 8),
        m => Some((m.trailing_zeros() / 8) as usize),
    };
    (first, colon)
}

/// Outcome of running off the end of the examined bytes in stream mode.
fn need_more<T>(cut: bool, limits: &Limits) -> Result<Status<T>, Error> {
    if cut {
        Err(Error::MessageTooLarge {
            limit: limits.max_message_size,
        })
    } else {
        Ok(Status::Partial)
    }
}

#[inline]
pub(crate) fn parse<'h, 'b>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
    limits: &Limits,
    stream: bool,
    body_need: &mut Option<usize>,
) -> Result<Status<Message<'h, 'b>>, Error> {
    let mut an = Anomalies::EMPTY;
    let mut start = 0;
    while matches!(buf.get(start), Some(b'\r' | b'\n')) {
        start += 1;
    }
    if start >= buf.len() {
        return if stream {
            Ok(Status::Partial)
        } else {
            Err(Error::Empty)
        };
    }
    let cap = start.saturating_add(limits.max_message_size);
    let cut = buf.len() > cap;
    let data = if cut {
        if !stream {
            an.insert(Anomaly::Oversize);
        }
        buf.get(..cap).unwrap_or(buf)
    } else {
        buf
    };

    // Start line.
    let mut lines = LineFinder::new(data, start);
    let (line_end, mut pos) = match lines.next(data) {
        Some(lf) => (lf, lf + 1),
        None if stream => return need_more(cut, limits),
        None => {
            an.insert(Anomaly::UnterminatedHeaders);
            (data.len(), data.len())
        }
    };
    let mut line = data.get(start..line_end).unwrap_or(&[]);
    if pos > line_end {
        match line.split_last() {
            Some((b'\r', l)) => line = l,
            _ => an.insert(Anomaly::BareLineFeed),
        }
    }
    if line.len() > limits.max_line_length {
        an.insert(Anomaly::LineTooLong);
    }
    let start_line = parse_start_line(line, &mut an);

    // Header lines. No line can be longer than the examined bytes.
    let check_lines = data.len() > limits.max_line_length;
    let offsets_fit = data.len() <= usize::from(u16::MAX);
    let max_headers = headers.len().min(limits.max_headers);
    let (slots, _) = headers.split_at_mut(max_headers);
    let mut free = &mut *slots;
    let mut content_length: Option<usize> = None;
    let mut cl_conflict = false;
    let body_start;
    loop {
        match data.get(pos) {
            None => {
                if stream {
                    return need_more(cut, limits);
                }
                // The start line may already have flagged this.
                if line_end < data.len() || pos > line_end {
                    an.insert(Anomaly::UnterminatedHeaders);
                }
                body_start = data.len();
                break;
            }
            Some(b'\r') => match data.get(pos + 1) {
                Some(b'\n') => {
                    body_start = pos + 2;
                    break;
                }
                None if stream => return need_more(cut, limits),
                _ => {}
            },
            Some(b'\n') => {
                an.insert(Anomaly::BareLineFeed);
                body_start = pos + 1;
                break;
            }
            _ => {}
        }
        let line_start = pos;
        let (end, next) = loop {
            match lines.next(data) {
                Some(lf) => match data.get(lf + 1) {
                    Some(b' ' | b'\t') => {}
                    None if stream => return need_more(cut, limits),
                    _ => break (lf, lf + 1),
                },
                None if stream => return need_more(cut, limits),
                None => {
                    an.insert(Anomaly::UnterminatedHeaders);
                    break (data.len(), data.len());
                }
            }
        };
        pos = next;
        let mut line = data.get(line_start..end).unwrap_or(&[]);
        if next > end {
            match line.split_last() {
                Some((b'\r', l)) => line = l,
                _ => an.insert(Anomaly::BareLineFeed),
            }
        }
        if check_lines && line.len() > limits.max_line_length {
            an.insert(Anomaly::LineTooLong);
        }
        // The name runs to the first colon (RFC 3261 §7.3.1: `field-name HCOLON field-value`).
        // The line's first word serves both the colon search and the name's classification;
        // known names are recognised by comparing whole words, and only unknown names need
        // the byte-by-byte token check.
        let (first, colon) = name_end(data, line_start, line);
        count_work(colon.map_or(line.len(), |c| c + 1));
        let Some(colon) = colon else {
            an.insert(Anomaly::MalformedHeaderLine);
            continue;
        };
        // Typically `Name: value` with the colon right after the name, one space after it and
        // nothing after the value: each end is settled by one comparison. A name that is not
        // recognised as it stands is checked byte by byte, and may have blanks before the colon.
        let mut name_len = colon;
        let mut kind = HeaderName::classify_in(first, line, name_len);
        if kind == HeaderName::Other {
            let Some((len, k)) = unrecognised_name(first, line, colon) else {
                an.insert(Anomaly::MalformedHeaderLine);
                continue;
            };
            (name_len, kind) = (len, k);
        }
        let mut value_at = colon + 1;
        match line.get(value_at..) {
            Some([b' ', next, ..]) if *next > b' ' => value_at += 1,
            _ => {
                while line.get(value_at).is_some_and(|b| is_ws(*b)) {
                    value_at += 1;
                }
            }
        }
        let mut value_end = line.len();
        if line.last().is_some_and(|b| *b <= b' ') {
            while value_end > value_at && line.get(value_end - 1).is_some_and(|b| is_ws(*b)) {
                value_end -= 1;
            }
        }
        let line = line.get(..value_end).unwrap_or(&[]);
        if kind == HeaderName::ContentLength {
            content_length_value(
                line.get(value_at..).unwrap_or(&[]),
                stream,
                &mut content_length,
                &mut cl_conflict,
                &mut an,
            );
        }
        // Offsets into data of at most 64 KiB fit the slot's fields unchecked.
        #[allow(clippy::cast_possible_truncation)]
        let h = if offsets_fit {
            Header::from_parts(line, name_len as u16, value_at as u32, kind)
        } else {
            let Some(h) = Header::new(line, name_len, value_at, kind) else {
                an.insert(Anomaly::MalformedHeaderLine);
                continue;
            };
            h
        };
        match core::mem::take(&mut free).split_first_mut() {
            Some((slot, rest)) => {
                *slot = h;
                free = rest;
            }
            None => an.insert(Anomaly::TooManyHeaders),
        }
    }
    let n = max_headers - free.len();

    let head = data.get(start..body_start).unwrap_or(&[]);
    if lines.read_nul() && head_has_nul(head) {
        an.insert(Anomaly::NulInHeaders);
    }

    // Body framing (RFC 3261 §18.3).
    let available = data.len().saturating_sub(body_start);
    let body_len = if stream {
        if cl_conflict {
            if an.contains(Anomaly::InvalidContentLength) {
                return Err(Error::InvalidContentLength);
            }
            return Err(Error::ConflictingContentLength);
        }
        let Some(cl) = content_length else {
            return Err(if an.contains(Anomaly::InvalidContentLength) {
                Error::InvalidContentLength
            } else {
                Error::MissingContentLength
            });
        };
        if body_start.saturating_add(cl) > cap {
            return Err(Error::MessageTooLarge {
                limit: limits.max_message_size,
            });
        }
        if cl > available {
            *body_need = Some(body_start + cl);
            return Ok(Status::Partial);
        }
        cl
    } else {
        match content_length {
            Some(cl) if cl > available => {
                an.insert(Anomaly::ContentLengthMismatch);
                available
            }
            Some(cl) => cl,
            None => available,
        }
    };
    let body = data.get(body_start..body_start + body_len).unwrap_or(&[]);
    let (stored, _) = slots.split_at_mut(n);
    Ok(Status::Complete(Message::new(
        start_line,
        &*stored,
        head,
        body,
        body_start + body_len,
        an,
    )))
}

/// The name before the colon at `colon` that [`HeaderName::classify_in`] did not recognise
/// as it stands: blanks before the colon dropped (`HCOLON`), then classified again, and if
/// still unknown, checked to be a token. `None` if it is not a valid name.
#[inline(never)]
fn unrecognised_name(first: u64, line: &[u8], colon: usize) -> Option<(usize, HeaderName)> {
    let mut len = colon;
    while len > 0 && matches!(line.get(len - 1), Some(b' ' | b'\t')) {
        len -= 1;
    }
    let kind = if len < colon {
        HeaderName::classify_in(first, line, len)
    } else {
        HeaderName::Other
    };
    if kind == HeaderName::Other {
        let name = line.get(..len).unwrap_or(&[]);
        if name.is_empty() || !name.iter().all(|b| is_token(*b)) {
            return None;
        }
    }
    Some((len, kind))
}

/// Records one Content-Length value: the first valid one is the length; an invalid or a
/// repeated one is an anomaly, and on a stream a conflict (framing cannot be trusted).
/// Out of line: it runs once per message, and keeps the header loop small.
#[inline(never)]
fn content_length_value(
    value: &[u8],
    stream: bool,
    content_length: &mut Option<usize>,
    cl_conflict: &mut bool,
    an: &mut Anomalies,
) {
    let v = crate::text::parse_number(value, u64::from(u32::MAX))
        .ok()
        .and_then(|v| usize::try_from(v).ok());
    match (v, *content_length) {
        (None, _) => {
            an.insert(Anomaly::InvalidContentLength);
            *cl_conflict |= stream;
        }
        (Some(v), None) if !an.contains(Anomaly::InvalidContentLength) => {
            *content_length = Some(v);
        }
        (Some(v), prev) => {
            an.insert(Anomaly::DuplicateContentLength);
            *cl_conflict |= prev != Some(v);
        }
    }
    if an.contains(Anomaly::InvalidContentLength) && content_length.is_some() {
        an.insert(Anomaly::DuplicateContentLength);
    }
}

fn is_sip_version(v: &[u8], an: &mut Anomalies) -> bool {
    if v.eq_ignore_ascii_case(b"SIP/2.0") {
        return true;
    }
    // `SIP/` 1*DIGIT "." 1*DIGIT is a well-formed but unsupported version.
    let well_formed = v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
        && v.get(4..).is_some_and(|r| {
            let mut parts = r.split(|b| *b == b'.');
            let ok = |p: Option<&[u8]>| {
                p.is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit))
            };
            ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
        });
    an.insert(if well_formed {
        Anomaly::UnsupportedVersion
    } else {
        Anomaly::BadStartLine
    });
    well_formed
}

/// `SIP/2.0 ` as sent by every implementation, as a little-endian word.
const SIP20_SP: u64 = u64::from_le_bytes(*b"SIP/2.0 ");
/// ` SIP/2.0` at the end of a request line.
const SP_SIP20: u64 = u64::from_le_bytes(*b" SIP/2.0");

/// The methods of the `Method` constants, so that the common ones need no UTF-8 check.
fn known_method(m: &[u8]) -> Option<Method<'static>> {
    Some(match m {
        b"INVITE" => Method::INVITE,
        b"ACK" => Method::ACK,
        b"BYE" => Method::BYE,
        b"CANCEL" => Method::CANCEL,
        b"OPTIONS" => Method::OPTIONS,
        b"REGISTER" => Method::REGISTER,
        b"PRACK" => Method::PRACK,
        b"SUBSCRIBE" => Method::SUBSCRIBE,
        b"NOTIFY" => Method::NOTIFY,
        b"PUBLISH" => Method::PUBLISH,
        b"INFO" => Method::INFO,
        b"REFER" => Method::REFER,
        b"MESSAGE" => Method::MESSAGE,
        b"UPDATE" => Method::UPDATE,
        _ => return None,
    })
}

/// Whether `s` holds a space or a tab, eight bytes at a time.
fn has_blank(s: &[u8]) -> bool {
    let mut rest = s;
    while let Some((chunk, r)) = rest.split_first_chunk::<8>() {
        let w = u64::from_le_bytes(*chunk);
        if eq_mask(w, b' ') | eq_mask(w, b'\t') != 0 {
            return true;
        }
        rest = r;
    }
    rest.iter().any(|b| matches!(b, b' ' | b'\t'))
}

/// The start line as virtually all traffic sends it: `METHOD SP URI SP SIP/2.0` with single
/// spaces and a known method, or `SIP/2.0 SP 3DIGIT SP reason`. Anything else (or `None`)
/// goes through the tolerant general parse, which flags each deviation.
#[inline]
fn fast_start_line(line: &[u8]) -> Option<StartLine<'_>> {
    let first = word_at(line, 0);
    if first == SIP20_SP {
        let (code, reason) = line.get(8..)?.split_first_chunk::<3>()?;
        let (b' ', reason) = reason.split_first()? else {
            return None;
        };
        if !code.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let [a, b, c] = code.map(|d| u16::from(d - b'0'));
        return Some(StartLine::Response {
            version: "SIP/2.0",
            code: StatusCode::new(a * 100 + b * 10 + c)?,
            reason,
        });
    }
    let (rest, version) = line.split_last_chunk::<8>()?;
    if u64::from_le_bytes(*version) != SP_SIP20 {
        return None;
    }
    let sp = find_byte(rest, b' ')?;
    let method = known_method(rest.get(..sp)?)?;
    let uri = rest.get(sp + 1..)?;
    // A URI starting or ending in whitespace (a stray CR) is trimmed by the general parse.
    match (uri.first(), uri.last()) {
        (Some(f), Some(l)) if *f != b'<' && !is_ws(*f) && !is_ws(*l) && !has_blank(uri) => {}
        _ => return None,
    }
    Some(StartLine::Request {
        method,
        uri: core::str::from_utf8(uri).ok()?,
        version: "SIP/2.0",
    })
}

fn parse_start_line<'b>(line: &'b [u8], an: &mut Anomalies) -> StartLine<'b> {
    count_work(line.len());
    match fast_start_line(line) {
        Some(fast) => fast,
        None => parse_unusual_start_line(line, an),
    }
}

/// The tolerant start-line parse, for lines the fast path does not take.
#[cold]
#[inline(never)]
fn parse_unusual_start_line<'b>(line: &'b [u8], an: &mut Anomalies) -> StartLine<'b> {
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        return parse_status_line(line, an);
    }
    parse_request_line(line, an)
}

fn parse_request_line<'b>(line: &'b [u8], an: &mut Anomalies) -> StartLine<'b> {
    let blank = |b: &u8| matches!(b, b' ' | b'\t');
    let method_len = line
        .iter()
        .position(|b| !is_token(*b))
        .unwrap_or(line.len());
    let Ok(text) = core::str::from_utf8(line) else {
        an.insert(Anomaly::BadStartLine);
        return StartLine::Invalid(line);
    };
    if method_len == 0 || !line.get(method_len).is_some_and(blank) {
        an.insert(Anomaly::BadStartLine);
        return StartLine::Invalid(line);
    }
    // Method SP Request-URI SP SIP-Version, read tolerantly: the version is the last word, the
    // URI whatever lies between; any deviation from single spaces is flagged.
    let end = line.iter().rposition(|b| !blank(b)).map_or(0, |i| i + 1);
    let uri_start = line
        .get(method_len..end)
        .and_then(|r| r.iter().position(|b| !blank(b)))
        .map_or(end, |i| method_len + i);
    let Some(sp) = line
        .get(uri_start..end)
        .and_then(|r| r.iter().rposition(blank))
        .map(|i| uri_start + i)
    else {
        an.insert(Anomaly::BadStartLine);
        return StartLine::Invalid(line);
    };
    let uri = text.get(uri_start..sp).unwrap_or("");
    if end != line.len()
        || uri_start != method_len + 1
        || line.get(method_len) != Some(&b' ')
        || line.get(sp) != Some(&b' ')
        || uri.bytes().any(|b| blank(&b))
    {
        an.insert(Anomaly::BadStartLine);
    }
    let uri = crate::text::trim_str(uri);
    let version = text.get(sp + 1..end).unwrap_or("");
    if !is_sip_version(version.as_bytes(), an) && !an.contains(Anomaly::UnsupportedVersion) {
        return StartLine::Invalid(line);
    }
    if uri.starts_with('<') {
        an.insert(Anomaly::BadRequestUri);
    }
    StartLine::Request {
        method: Method::new(text.get(..method_len).unwrap_or("")),
        uri,
        version,
    }
}

fn parse_status_line<'b>(line: &'b [u8], an: &mut Anomalies) -> StartLine<'b> {
    let sp = line.iter().position(|b| *b == b' ').unwrap_or(line.len());
    let (version, rest) = line.split_at(sp);
    is_sip_version(version, an);
    let rest = rest.get(1..).unwrap_or(&[]);
    let code_len = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
    let (code, reason) = rest.split_at(code_len);
    let code = match code {
        [a, b, c] if code.iter().all(u8::is_ascii_digit) => StatusCode::new(
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
        ),
        _ => None,
    };
    let Some(code) = code else {
        an.insert(Anomaly::BadStatusCode);
        return StartLine::Invalid(line);
    };
    if reason.is_empty() {
        // RFC 3261 requires the SP even when the reason phrase is empty.
        an.insert(Anomaly::BadStartLine);
    }
    let Ok(version) = core::str::from_utf8(version) else {
        return StartLine::Invalid(line);
    };
    StartLine::Response {
        version,
        code,
        reason: reason.get(1..).unwrap_or(&[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn work_for(msg: &[u8]) -> usize {
        WORK.with(|w| w.set(0));
        let mut headers = std::vec![Header::EMPTY; 8_000];
        let limits = Limits {
            max_message_size: usize::MAX,
            max_headers: usize::MAX,
            max_line_length: usize::MAX,
        };
        let m = Message::parse_datagram_with(msg, &mut headers, &limits).unwrap();
        let _ = m.validate();
        WORK.with(|w| w.get())
    }

    fn message_with(headers: usize, body: usize) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(b"INVITE sip:bob@example.com SIP/2.0\r\n");
        for i in 0..headers {
            m.extend_from_slice(std::format!("X-H{i}: v\r\n").as_bytes());
        }
        m.extend_from_slice(std::format!("Content-Length: {body}\r\n\r\n").as_bytes());
        m.extend(std::iter::repeat_n(b'a', body));
        m
    }

    #[test]
    fn work_is_linear_in_header_count() {
        // Bytes examined per byte of input must not grow with the number of headers.
        let small = message_with(60, 0);
        let large = message_with(6_000, 0);
        let per_byte_small = work_for(&small) as f64 / small.len() as f64;
        let per_byte_large = work_for(&large) as f64 / large.len() as f64;
        assert!(
            per_byte_large <= per_byte_small * 1.2,
            "{per_byte_small} vs {per_byte_large}"
        );
        assert!(per_byte_large < 4.0, "{per_byte_large}");
        // And a 6,000-header message costs no more per byte than a 6,000-byte body does in
        // the header scan; the body itself is never scanned on a datagram.
        let body = message_with(0, 6_000);
        assert!(work_for(&body) < 200, "body bytes must not be scanned");
    }

    #[test]
    fn fast_start_line_agrees_with_the_general_parse() {
        for line in [
            &b"REGISTER sip:pbx.example.com SIP/2.0"[..],
            b"INVITE sip:+4930123456@pbx.example.com;user=phone SIP/2.0",
            b"OPTIONS sip:100@203.0.113.10 SIP/2.0",
            b"SIP/2.0 401 Unauthorized",
            b"SIP/2.0 200 OK",
            b"SIP/2.0 200 ",
            b"SIP/2.0 099 Low",
            b"SIP/2.0 20x OK",
            b"INVITE <sip:a@b> SIP/2.0",
            b"INVITE sip:a@b\r SIP/2.0",
            b"INVITE  sip:a@b SIP/2.0",
            b"INVITE sip:a b SIP/2.0",
            b"INVITE sip:\xff SIP/2.0",
            b"FOO sip:a@b SIP/2.0",
            b"INVITE sip:a@b SIP/3.0",
        ] {
            let mut an_fast = Anomalies::EMPTY;
            let mut an_slow = Anomalies::EMPTY;
            let fast = parse_start_line(line, &mut an_fast);
            // The general parse, bypassing the fast path.
            let slow = if line.starts_with(b"SIP/") {
                parse_status_line(line, &mut an_slow)
            } else {
                parse_request_line(line, &mut an_slow)
            };
            assert_eq!(fast, slow, "{:?}", core::str::from_utf8(line));
            assert_eq!(an_fast, an_slow, "{:?}", core::str::from_utf8(line));
        }
    }

    /// Bytes examined to frame `msg` when it arrives one byte per call.
    fn trickle_work(msg: &[u8], resume: bool) -> usize {
        let parser = StreamParser::default();
        let mut cursor = StreamCursor::new();
        WORK.with(|w| w.set(0));
        let mut frames = 0;
        for end in 1..=msg.len() {
            let mut headers = [Header::EMPTY; 16];
            let r = if resume {
                parser.parse_resume(&msg[..end], &mut headers, &mut cursor)
            } else {
                parser.parse(&msg[..end], &mut headers)
            };
            match r {
                Ok(Status::Complete(Frame::Message(m))) => {
                    assert_eq!(m.len(), msg.len());
                    frames += 1;
                }
                Ok(Status::Partial) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(frames, 1);
        WORK.with(|w| w.get())
    }

    #[test]
    fn resumed_stream_parse_of_trickled_input_is_linear() {
        // One byte per call: the stateless parse re-examines the pending message every time
        // (quadratic), the resumed one examines each byte a bounded number of times.
        for (headers, body) in [(10, 0), (200, 0), (20, 3_000)] {
            let msg = message_with(headers, body);
            let resumed = trickle_work(&msg, true);
            assert!(
                resumed <= 4 * msg.len(),
                "{resumed} for {} bytes",
                msg.len()
            );
            let stateless = trickle_work(&msg, false);
            assert!(stateless > 20 * resumed, "{stateless} vs {resumed}");
        }
    }

    /// The line ends and the NUL verdict [`LineFinder`] must give: the first line feed at or
    /// after each `from`, and whether a NUL not preceded by a backslash lies in the bytes
    /// searched.
    fn reference_finds(data: &[u8], start: usize) -> (Vec<usize>, bool) {
        let mut ends = Vec::new();
        let mut nul = false;
        let mut at = start;
        while at < data.len() {
            let b = data[at];
            // Bytes before the start are line ends in a parse, never a backslash.
            if b == 0 && (at == start || data[at - 1] != b'\\') {
                nul = true;
            }
            if b == b'\n' {
                ends.push(at);
            }
            at += 1;
        }
        (ends, nul)
    }

    fn finder_finds(data: &[u8], start: usize) -> (Vec<usize>, bool) {
        let mut f = LineFinder::new(data, start);
        let mut ends = Vec::new();
        let mut from = start;
        while let Some(lf) = f.next(data) {
            assert!(lf >= from && data[lf] == b'\n');
            ends.push(lf);
            from = lf + 1;
        }
        let nul = f.read_nul() && head_has_nul(&data[start..]);
        if !f.read_nul() {
            assert!(!data[start..].contains(&0), "a NUL read went unnoticed");
        }
        (ends, nul)
    }

    /// Heads made of the bytes that matter to line ends (CR, LF, NUL, backslash, blanks) and
    /// filler, with lengths around the 16-, 32- and 64-byte boundaries of the block masks.
    fn head_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            4 => Just(b'a'),
            2 => Just(b'\r'),
            2 => Just(b'\n'),
            1 => Just(0u8),
            1 => Just(b'\\'),
            1 => Just(b' '),
            1 => Just(b'\t'),
            1 => any::<u8>(),
        ];
        let len = prop_oneof![
            0usize..8,
            12usize..20,
            28usize..36,
            60usize..68,
            124usize..132,
            0usize..300,
        ];
        len.prop_flat_map(move |n| proptest::collection::vec(byte.clone(), n))
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

        #[test]
        fn block_mask_matches_the_portable_mask(bytes in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(0u8), Just(b'\r'), any::<u8>()], BLOCK)) {
            let block: [u8; BLOCK] = bytes.try_into().unwrap();
            let (mut low, mut low_portable) = (low_none(), u8::MAX);
            prop_assert_eq!(block_mask(&block, &mut low), block_mask_portable(&block, &mut low_portable));
            prop_assert_eq!(low_has_zero(low), low_portable == 0);
        }

        #[test]
        fn colon_search_agrees_with_the_word_search(
            data in proptest::collection::vec(
                prop_oneof![4 => Just(b'a'), 1 => Just(b':'), 1 => Just(b'\n'), 1 => any::<u8>()],
                0..48,
            ),
            at in 0usize..48,
            len in 0usize..40,
        ) {
            let at = at.min(data.len());
            let end = (at + len).min(data.len());
            let line = &data[at..end];
            let (first, colon) = name_end(&data, at, line);
            let (word, by_words) = name_end_by_words(line);
            prop_assert_eq!(colon, by_words);
            // The words agree on the line's own bytes.
            let keep = if line.len() >= 8 { u64::MAX } else { (1u64 << (8 * line.len())) - 1 };
            prop_assert_eq!(first & keep, word);
        }

        #[test]
        fn line_finder_matches_a_byte_by_byte_search(data in head_bytes(), start in 0usize..80) {
            let start = start.min(data.len());
            prop_assert_eq!(finder_finds(&data, start), reference_finds(&data, start));
        }

        #[test]
        fn parse_of_any_head_gives_every_line_end(data in head_bytes()) {
            // Through the whole parse: no panic, and a NUL anywhere before the body is flagged.
            let mut msg = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
            msg.extend_from_slice(&data);
            let mut h = [Header::EMPTY; 64];
            if let Ok(m) = Message::parse_datagram(&msg, &mut h) {
                let head = &msg[..msg.len() - m.body().len()];
                let (_, nul) = reference_finds(head, 0);
                prop_assert_eq!(m.anomalies().contains(Anomaly::NulInHeaders), nul);
            }
        }
    }

    #[test]
    fn line_finder_at_block_edges() {
        for len in 0..=200 {
            for lf_at in [0, 1, 15, 16, 31, 32, 63, 64, 65, 127, 128, 199] {
                let mut data = std::vec![b'x'; len];
                if lf_at < len {
                    data[lf_at] = b'\n';
                }
                if len > 3 {
                    data[len - 2] = 0;
                }
                for start in [0, 1, 63, 64] {
                    let start = start.min(len);
                    assert_eq!(
                        finder_finds(&data, start),
                        reference_finds(&data, start),
                        "len {len} lf {lf_at} start {start}"
                    );
                }
            }
        }
    }

    #[test]
    fn offsets_beyond_a_header_slot_are_malformed_not_truncated() {
        // Over 64 KiB of data takes the checked path: a 70,000-byte name cannot be stored.
        let mut msg = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        msg.extend(std::iter::repeat_n(b'a', 70_000));
        msg.extend_from_slice(b": v\r\nTo: <sip:a@b>\r\n\r\n");
        let limits = Limits {
            max_message_size: 1 << 20,
            max_headers: 8,
            max_line_length: 1 << 20,
        };
        let mut h = [Header::EMPTY; 8];
        let m = Message::parse_datagram_with(&msg, &mut h, &limits).unwrap();
        assert!(m.anomalies().contains(Anomaly::MalformedHeaderLine));
        assert_eq!(m.headers().len(), 1);
        assert_eq!(m.headers()[0].value(), b"<sip:a@b>");
        // Under 64 KiB, the longest possible name still fits.
        let mut msg = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        msg.extend(std::iter::repeat_n(b'a', 65_000));
        msg.extend_from_slice(b":  v\r\n\r\n");
        let m = Message::parse_datagram_with(&msg, &mut h, &limits).unwrap();
        assert_eq!(m.headers().len(), 1);
        assert_eq!(m.headers()[0].name().len(), 65_000);
        assert_eq!(m.headers()[0].value(), b"v");
    }

    #[test]
    fn blanks_before_the_colon_belong_to_no_name() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards \t: 70\r\nX-Own  : v\r\n\
Bad Name: v\r\n : v\r\nvia : SIP/2.0/UDP h\r\nl:0\r\n\r\n";
        let mut h = [Header::EMPTY; 8];
        let m = Message::parse_datagram(msg, &mut h).unwrap();
        let got: Vec<_> = m
            .headers()
            .iter()
            .map(|h| (h.name(), h.kind(), h.value()))
            .collect();
        assert_eq!(
            got,
            [
                ("Max-Forwards", HeaderName::MaxForwards, &b"70"[..]),
                ("X-Own", HeaderName::Other, b"v"),
                ("via", HeaderName::Via, b"SIP/2.0/UDP h"),
                ("l", HeaderName::ContentLength, b"0"),
            ]
        );
        assert!(m.anomalies().contains(Anomaly::MalformedHeaderLine));
    }

    #[test]
    fn bare_lf_line_ends_are_flagged_but_parsed() {
        let mut h = [Header::EMPTY; 8];
        let m =
            Message::parse_datagram(b"OPTIONS sip:a@b SIP/2.0\nTo: <sip:a@b>\n\n", &mut h).unwrap();
        assert!(m.anomalies().contains(Anomaly::BareLineFeed));
        assert_eq!(m.headers().len(), 1);
    }
}
