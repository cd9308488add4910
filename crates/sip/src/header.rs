//! Header lines as borrowed slices, with names classified once at parse time.

use crate::text::{next_list_item, trim, word_at};

/// Words of header-name literals for comparison with received names: a received word `x` (eight
/// bytes of a name starting at byte `from`, zero-padded past the name's end) equals that part of
/// the lowercase literal, ASCII case-insensitively and exactly, iff
/// `x | fold(lit, from) == at(lit, from)`.
///
/// Or-ing 0x20 into the bytes where the literal has a letter folds case for letters and cannot
/// turn any non-letter into one; where the literal has `-` the received byte must be `-` as is
/// (folding there would let a CR pass as `-`).
mod w {
    /// Bytes `from..from + 8` of `s` as a little-endian word, zero-padded.
    // Const-evaluated over literals only: an out-of-range index would fail to compile.
    #[allow(clippy::indexing_slicing)]
    pub(super) const fn at(s: &[u8], from: usize) -> u64 {
        let mut v = 0u64;
        let mut i = 0;
        while i < 8 && from + i < s.len() {
            v |= (s[from + i] as u64) << (8 * i);
            i += 1;
        }
        v
    }

    /// 0x20 in every byte of `at(s, from)` that is a letter.
    #[allow(clippy::indexing_slicing)]
    pub(super) const fn fold(s: &[u8], from: usize) -> u64 {
        let mut v = 0u64;
        let mut i = 0;
        while i < 8 && from + i < s.len() {
            if s[from + i].is_ascii_alphabetic() {
                v |= 0x20u64 << (8 * i);
            }
            i += 1;
        }
        v
    }
}

/// The long names [`HeaderName::classify`] recognises, lowercase.
const LONG_NAMES: [(&[u8], HeaderName); 33] = {
    use HeaderName as H;
    [
        (b"via", H::Via),
        (b"from", H::From),
        (b"to", H::To),
        (b"call-id", H::CallId),
        (b"cseq", H::CSeq),
        (b"contact", H::Contact),
        (b"content-length", H::ContentLength),
        (b"content-type", H::ContentType),
        (b"content-encoding", H::ContentEncoding),
        (b"max-forwards", H::MaxForwards),
        (b"expires", H::Expires),
        (b"user-agent", H::UserAgent),
        (b"server", H::Server),
        (b"authorization", H::Authorization),
        (b"proxy-authorization", H::ProxyAuthorization),
        (b"www-authenticate", H::WwwAuthenticate),
        (b"proxy-authenticate", H::ProxyAuthenticate),
        (b"date", H::Date),
        (b"route", H::Route),
        (b"record-route", H::RecordRoute),
        (b"subject", H::Subject),
        (b"supported", H::Supported),
        (b"event", H::Event),
        (b"allow-events", H::AllowEvents),
        (b"refer-to", H::ReferTo),
        (b"referred-by", H::ReferredBy),
        (b"session-expires", H::SessionExpires),
        (b"accept-contact", H::AcceptContact),
        (b"reject-contact", H::RejectContact),
        (b"request-disposition", H::RequestDisposition),
        (b"identity", H::Identity),
        (b"allow", H::Allow),
        (b"accept", H::Accept),
    ]
};

/// One recognised long name: up to 24 bytes as three zero-padded little-endian words, the
/// case-folding bits of each word ([`w::fold`]), the bytes of each word the name covers, its
/// length and what it is. A received word `x` matches iff `(x | fold) & mask == word`. An
/// empty slot has length zero, which no name of two or more bytes has.
#[derive(Clone, Copy)]
struct Known {
    word: [u64; 3],
    fold: [u64; 3],
    mask: [u64; 3],
    len: u8,
    kind: HeaderName,
}

/// log2 of the number of slots of [`KNOWN`].
const SLOT_BITS: u32 = 6;

/// Multiplier of the slot hash, chosen so that the 33 long names land in 33 different slots
/// (checked when [`KNOWN`] is built: a collision fails the build).
const SLOT_MUL: u32 = 0x93b6_645f;

/// The slot of a name from its first two bytes (case-folded) and its length: the long names
/// differ in one or the other.
const fn slot(first_two: u16, len: u32) -> usize {
    let key = (first_two | 0x2020) as u32 | len.wrapping_shl(16);
    (key.wrapping_mul(SLOT_MUL) >> (32 - SLOT_BITS)) as usize
}

/// The bytes `from..` of a name of `len` bytes within one word, as a mask.
const fn word_mask(len: usize, from: usize) -> u64 {
    if len <= from {
        0
    } else if len - from >= 8 {
        u64::MAX
    } else {
        u64::MAX >> (64 - 8 * (len - from))
    }
}

/// The long names by slot.
// Const-evaluated over the literals only: an index out of range or a collision fails to compile.
#[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
const KNOWN: [Known; 1 << SLOT_BITS] = {
    let mut t = [Known {
        word: [0; 3],
        fold: [0; 3],
        mask: [0; 3],
        len: 0,
        kind: HeaderName::Other,
    }; 1 << SLOT_BITS];
    let mut i = 0;
    while i < LONG_NAMES.len() {
        let (name, kind) = LONG_NAMES[i];
        let len = name.len();
        assert!(len >= 2 && len <= 24);
        let s = slot(name[0] as u16 | (name[1] as u16) << 8, len as u32);
        assert!(
            t[s].len == 0,
            "two header names share a slot: choose another SLOT_MUL"
        );
        t[s] = Known {
            word: [w::at(name, 0), w::at(name, 8), w::at(name, 16)],
            fold: [w::fold(name, 0), w::fold(name, 8), w::fold(name, 16)],
            mask: [word_mask(len, 0), word_mask(len, 8), word_mask(len, 16)],
            len: len as u8,
            kind,
        };
        i += 1;
    }
    t
};

/// A header name the parser recognises, compact forms included (RFC 3261 §7.3.3 and the
/// extensions that register one). Anything else is [`HeaderName::Other`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderName {
    /// Any other name; compare the text with [`Header::name`]. (First, so that its
    /// representation is zero, like the rest of [`Header::EMPTY`].)
    Other,
    /// `Via` / `v`.
    Via,
    /// `From` / `f`.
    From,
    /// `To` / `t`.
    To,
    /// `Call-ID` / `i`.
    CallId,
    /// `CSeq`.
    CSeq,
    /// `Contact` / `m`.
    Contact,
    /// `Content-Length` / `l`.
    ContentLength,
    /// `Content-Type` / `c`.
    ContentType,
    /// `Content-Encoding` / `e`.
    ContentEncoding,
    /// `Max-Forwards`.
    MaxForwards,
    /// `Expires`.
    Expires,
    /// `User-Agent`.
    UserAgent,
    /// `Server`.
    Server,
    /// `Authorization`.
    Authorization,
    /// `Proxy-Authorization`.
    ProxyAuthorization,
    /// `WWW-Authenticate`.
    WwwAuthenticate,
    /// `Proxy-Authenticate`.
    ProxyAuthenticate,
    /// `Date`.
    Date,
    /// `Route`.
    Route,
    /// `Record-Route`.
    RecordRoute,
    /// `Subject` / `s`.
    Subject,
    /// `Supported` / `k`.
    Supported,
    /// `Event` / `o` (RFC 6665).
    Event,
    /// `Allow-Events` / `u` (RFC 6665).
    AllowEvents,
    /// `Refer-To` / `r` (RFC 3515).
    ReferTo,
    /// `Referred-By` / `b` (RFC 3892).
    ReferredBy,
    /// `Session-Expires` / `x` (RFC 4028).
    SessionExpires,
    /// `Accept-Contact` / `a` (RFC 3841).
    AcceptContact,
    /// `Reject-Contact` / `j` (RFC 3841).
    RejectContact,
    /// `Request-Disposition` / `d` (RFC 3841).
    RequestDisposition,
    /// `Identity` / `y` (RFC 8224).
    Identity,
    /// `Allow`.
    Allow,
    /// `Accept`.
    Accept,
}

impl HeaderName {
    /// Classifies a header name, case-insensitively, compact forms included.
    #[must_use]
    pub fn classify(name: &[u8]) -> HeaderName {
        Self::classify_in(word_at(name, 0), name, name.len())
    }

    /// Classifies the name that occupies the first `len` bytes of `line`, given `first`, the
    /// line's first eight bytes as a little-endian word (zero-padded if the line is shorter).
    ///
    /// A compact form is one jump on its letter. A long name is hashed from its length and
    /// its first eight bytes with case folded into one slot of [`KNOWN`], which holds the only
    /// recognised name that can hash there; one to three word comparisons confirm it. No
    /// byte loop and no search.
    #[inline(always)]
    pub(crate) fn classify_in(first: u64, line: &[u8], len: usize) -> HeaderName {
        use HeaderName as H;
        if len == 1 {
            return Self::compact(first as u8);
        }
        #[allow(clippy::cast_possible_truncation)]
        let Some(k) = KNOWN.get(slot(first as u16, len as u32)) else {
            return H::Other;
        };
        if usize::from(k.len) != len || (first | k.fold[0]) & k.mask[0] != k.word[0] {
            return H::Other;
        }
        if len > 8 {
            if (word_at(line, 8) | k.fold[1]) & k.mask[1] != k.word[1] {
                return H::Other;
            }
            if len > 16 && (word_at(line, 16) | k.fold[2]) & k.mask[2] != k.word[2] {
                return H::Other;
            }
        }
        k.kind
    }

    /// The header a one-letter name is the compact form of (RFC 3261 §7.3.3 and extensions).
    #[inline]
    fn compact(letter: u8) -> HeaderName {
        use HeaderName as H;
        match letter | 0x20 {
            b'v' => H::Via,
            b'f' => H::From,
            b't' => H::To,
            b'i' => H::CallId,
            b'm' => H::Contact,
            b'l' => H::ContentLength,
            b'c' => H::ContentType,
            b'e' => H::ContentEncoding,
            b's' => H::Subject,
            b'k' => H::Supported,
            b'o' => H::Event,
            b'u' => H::AllowEvents,
            b'r' => H::ReferTo,
            b'b' => H::ReferredBy,
            b'x' => H::SessionExpires,
            b'a' => H::AcceptContact,
            b'j' => H::RejectContact,
            b'd' => H::RequestDisposition,
            b'y' => H::Identity,
            _ => H::Other,
        }
    }

    /// The canonical long name (e.g. `"Call-ID"`), or `None` for [`HeaderName::Other`].
    #[must_use]
    pub const fn canonical(self) -> Option<&'static str> {
        use HeaderName as H;
        Some(match self {
            H::Via => "Via",
            H::From => "From",
            H::To => "To",
            H::CallId => "Call-ID",
            H::CSeq => "CSeq",
            H::Contact => "Contact",
            H::ContentLength => "Content-Length",
            H::ContentType => "Content-Type",
            H::ContentEncoding => "Content-Encoding",
            H::MaxForwards => "Max-Forwards",
            H::Expires => "Expires",
            H::UserAgent => "User-Agent",
            H::Server => "Server",
            H::Authorization => "Authorization",
            H::ProxyAuthorization => "Proxy-Authorization",
            H::WwwAuthenticate => "WWW-Authenticate",
            H::ProxyAuthenticate => "Proxy-Authenticate",
            H::Date => "Date",
            H::Route => "Route",
            H::RecordRoute => "Record-Route",
            H::Subject => "Subject",
            H::Supported => "Supported",
            H::Event => "Event",
            H::AllowEvents => "Allow-Events",
            H::ReferTo => "Refer-To",
            H::ReferredBy => "Referred-By",
            H::SessionExpires => "Session-Expires",
            H::AcceptContact => "Accept-Contact",
            H::RejectContact => "Reject-Contact",
            H::RequestDisposition => "Request-Disposition",
            H::Identity => "Identity",
            H::Allow => "Allow",
            H::Accept => "Accept",
            H::Other => return None,
        })
    }

    /// Whether RFC 3261 §7.3.1 lets this header's values be combined with commas, so a single
    /// line may carry several values. Headers such as WWW-Authenticate or Date contain commas
    /// that are not separators and are excluded.
    #[must_use]
    pub const fn is_list(self) -> bool {
        use HeaderName as H;
        matches!(
            self,
            H::Via
                | H::Contact
                | H::Route
                | H::RecordRoute
                | H::Supported
                | H::AllowEvents
                | H::ContentEncoding
                | H::AcceptContact
                | H::RejectContact
                | H::RequestDisposition
                | H::Allow
                | H::Accept
        )
    }
}

/// One header line: borrowed name and value, like `httparse::Header`.
///
/// The value has leading and trailing whitespace removed; folded continuation lines (RFC 3261
/// §7.3.1) stay inside it as `CRLF SP…`, which every typed accessor treats as whitespace.
///
/// Stored as one slice from the name to the end of the value plus two offsets (24 bytes), so
/// that the caller's header array is cheap to initialise and fill.
#[derive(Clone, Copy)]
pub struct Header<'b> {
    /// From the first byte of the name to the last byte of the value; `None` in an empty slot,
    /// so that [`Header::EMPTY`] is all zero bits and a storage array is initialised by a
    /// plain memory fill.
    line: Option<&'b [u8]>,
    /// Where the value starts in `line`.
    value_at: u32,
    /// The name's length; the name starts `line`.
    name_len: u16,
    kind: HeaderName,
}

/// Storage for the headers of one message, aligned to a cache line: filling a fresh array of
/// [`Header::EMPTY`] before each parse is one aligned memory fill, and the slots the parser writes
/// never straddle cache lines more than they must. A plain `[Header::EMPTY; N]` works the same,
/// only its fill and stores can be slower where the stack happens to place it.
///
/// ```
/// use pbxguard_sip::{HeaderSlots, Message};
/// let mut slots = HeaderSlots::<32>::new();
/// let msg = Message::parse_datagram(b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n", &mut slots.0).unwrap();
/// assert_eq!(msg.headers().len(), 1);
/// ```
#[repr(C, align(64))]
pub struct HeaderSlots<'b, const N: usize>(pub [Header<'b>; N]);

impl<const N: usize> HeaderSlots<'_, N> {
    /// `N` empty slots.
    #[must_use]
    #[inline]
    pub const fn new() -> Self {
        Self([Header::EMPTY; N])
    }
}

impl<const N: usize> Default for HeaderSlots<'_, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'b> Header<'b> {
    /// An empty header, to initialise the storage array: `[Header::EMPTY; 64]`.
    pub const EMPTY: Header<'static> = Header {
        line: None,
        value_at: 0,
        name_len: 0,
        kind: HeaderName::Other,
    };

    /// A header whose name is `line[..name_len]` and whose value is `line[value_at..]`, or
    /// `None` if the offsets do not fit (a name of 64 KiB or more, which no limit lets through
    /// by default).
    #[inline]
    pub(crate) fn new(
        line: &'b [u8],
        name_len: usize,
        value_at: usize,
        kind: HeaderName,
    ) -> Option<Self> {
        Some(Header {
            line: Some(line),
            value_at: u32::try_from(value_at).ok()?,
            name_len: u16::try_from(name_len).ok()?,
            kind,
        })
    }

    /// [`Header::new`] with offsets already known to fit.
    #[inline]
    pub(crate) const fn from_parts(
        line: &'b [u8],
        name_len: u16,
        value_at: u32,
        kind: HeaderName,
    ) -> Self {
        Header {
            line: Some(line),
            value_at,
            name_len,
            kind,
        }
    }

    fn name_bytes(&self) -> &'b [u8] {
        self.line
            .and_then(|l| l.get(..usize::from(self.name_len)))
            .unwrap_or(&[])
    }

    /// The name as received (a token; compact forms are not expanded).
    #[must_use]
    pub fn name(&self) -> &'b str {
        // The parser only stores names made of token characters, which are ASCII.
        core::str::from_utf8(self.name_bytes()).unwrap_or("")
    }

    /// The recognised name, compact forms mapped to their long form.
    #[must_use]
    pub fn kind(&self) -> HeaderName {
        self.kind
    }

    /// The raw value, trimmed.
    #[must_use]
    #[inline]
    pub fn value(&self) -> &'b [u8] {
        self.line
            .and_then(|l| l.get(self.value_at as usize..))
            .unwrap_or(&[])
    }

    /// The value as text, if it is UTF-8.
    #[must_use]
    pub fn value_str(&self) -> Option<&'b str> {
        core::str::from_utf8(self.value()).ok()
    }

    /// Whether this header has the given name (case-insensitive, compact forms included).
    #[must_use]
    pub fn is(&self, name: &str) -> bool {
        match HeaderName::classify(name.as_bytes()) {
            HeaderName::Other => self.name_bytes().eq_ignore_ascii_case(name.as_bytes()),
            k => self.kind == k,
        }
    }

    /// The comma-separated values of this line if the header is a list (see
    /// [`HeaderName::is_list`]), otherwise the whole value once.
    #[must_use]
    pub fn values(&self) -> Values<'b> {
        Values {
            rest: self.value(),
            split: self.kind.is_list(),
        }
    }
}

/// Headers are equal when their names (as received), values and kinds are.
impl PartialEq for Header<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.name_bytes() == other.name_bytes()
            && self.value() == other.value()
    }
}

impl Eq for Header<'_> {}

impl core::fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Header")
            .field("name", &self.name())
            .field(
                "value",
                &core::str::from_utf8(self.value()).unwrap_or("<non-utf8>"),
            )
            .finish()
    }
}

/// Iterator over the comma-separated values of a header line, each trimmed; empty elements
/// are skipped.
#[derive(Clone)]
pub struct Values<'b> {
    rest: &'b [u8],
    split: bool,
}

impl<'b> Iterator for Values<'b> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (item, rest) = if self.split {
                next_list_item(self.rest)
            } else {
                (self.rest, &[][..])
            };
            self.rest = rest;
            let item = trim(item);
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_slot_is_three_words() {
        // The caller initialises and the parser fills one slot per header line: keep it small.
        assert_eq!(
            core::mem::size_of::<Header<'_>>(),
            3 * core::mem::size_of::<usize>()
        );
    }

    #[test]
    fn headers_compare_by_name_value_and_kind() {
        let a = Header::new(b"To:  <sip:a@b>", 2, 5, HeaderName::To).unwrap();
        let b = Header::new(b"To: <sip:a@b>", 2, 4, HeaderName::To).unwrap();
        let c = Header::new(b"t: <sip:a@b>", 1, 3, HeaderName::To).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.name(), "To");
        assert_eq!(a.value(), b"<sip:a@b>");
        assert_eq!(c.value(), b"<sip:a@b>");
        assert_eq!(Header::new(b"x", 70_000, 0, HeaderName::Other), None);
    }

    #[test]
    fn compact_forms_of_rfc3261_section_7_3_3() {
        for (c, long) in [
            ("i", HeaderName::CallId),
            ("m", HeaderName::Contact),
            ("e", HeaderName::ContentEncoding),
            ("l", HeaderName::ContentLength),
            ("c", HeaderName::ContentType),
            ("f", HeaderName::From),
            ("s", HeaderName::Subject),
            ("k", HeaderName::Supported),
            ("t", HeaderName::To),
            ("v", HeaderName::Via),
            ("o", HeaderName::Event),
            ("u", HeaderName::AllowEvents),
            ("V", HeaderName::Via),
        ] {
            assert_eq!(HeaderName::classify(c.as_bytes()), long, "{c}");
        }
    }

    #[test]
    fn long_names_round_trip_case_insensitively() {
        use HeaderName as H;
        for h in [
            H::Via,
            H::From,
            H::To,
            H::CallId,
            H::CSeq,
            H::Contact,
            H::ContentLength,
            H::ContentType,
            H::ContentEncoding,
            H::MaxForwards,
            H::Expires,
            H::UserAgent,
            H::Server,
            H::Authorization,
            H::ProxyAuthorization,
            H::WwwAuthenticate,
            H::ProxyAuthenticate,
            H::Date,
            H::Route,
            H::RecordRoute,
            H::Subject,
            H::Supported,
            H::Event,
            H::AllowEvents,
            H::ReferTo,
            H::ReferredBy,
            H::SessionExpires,
            H::AcceptContact,
            H::RejectContact,
            H::RequestDisposition,
            H::Identity,
            H::Allow,
            H::Accept,
        ] {
            let name = h.canonical().unwrap();
            assert_eq!(HeaderName::classify(name.as_bytes()), h, "{name}");
            let mut upper = [0u8; 32];
            let upper = &mut upper[..name.len()];
            upper.copy_from_slice(name.as_bytes());
            upper.make_ascii_uppercase();
            assert_eq!(HeaderName::classify(upper), h, "{name}");
        }
        assert_eq!(HeaderName::classify(b"C%6Fntact"), HeaderName::Other);
        // Bytes that differ from a letter or '-' only in bit 5 must not match.
        for near in [
            &b"Call\rID"[..],
            b"Content\rLength",
            b"Content\x0dType",
            b"M@x-forwards",
            b"\xc3ontent-Length",
            b"Proxy-Authorizatio\x0e",
            b"Request\rDisposition",
            b"\x16",
            b"\x0d",
        ] {
            assert_eq!(HeaderName::classify(near), HeaderName::Other, "{near:?}");
        }
        // A name is classified by its own bytes only, whatever follows it on the line.
        assert_eq!(
            HeaderName::classify_in(crate::text::word_at(b"Via: x", 0), b"Via: x", 3),
            HeaderName::Via
        );
        assert_eq!(
            HeaderName::classify_in(crate::text::word_at(b"To", 0), b"To", 2),
            HeaderName::To
        );
        assert_eq!(
            HeaderName::classify_in(crate::text::word_at(b"Toe:", 0), b"Toe:", 2),
            HeaderName::To
        );
        assert_eq!(HeaderName::classify(b""), HeaderName::Other);
    }

    /// What `classify` must answer: the long name equal to `name` ignoring ASCII case, or the
    /// compact form, or nothing.
    fn reference_classify(name: &[u8]) -> HeaderName {
        if let [letter] = name {
            return HeaderName::compact(*letter);
        }
        LONG_NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(HeaderName::Other, |(_, k)| *k)
    }

    #[test]
    fn every_long_name_has_its_own_slot_and_canonical_spelling() {
        for (name, kind) in LONG_NAMES {
            assert!(
                kind.canonical()
                    .unwrap()
                    .as_bytes()
                    .eq_ignore_ascii_case(name)
            );
            assert_eq!(HeaderName::classify(name), kind);
        }
        let used = KNOWN.iter().filter(|k| k.len != 0).count();
        assert_eq!(used, LONG_NAMES.len());
    }

    use proptest::prelude::*;
    use std::vec::Vec;

    /// Names near the known ones: a known name with some bytes replaced, cased, cut or
    /// extended, and arbitrary short strings.
    fn near_names() -> impl Strategy<Value = Vec<u8>> {
        let known = (0..LONG_NAMES.len()).prop_map(|i| LONG_NAMES[i].0.to_vec());
        let edited = (
            known,
            proptest::collection::vec((0usize..24, any::<u8>()), 0..3),
            any::<u32>(),
            0usize..3,
        )
            .prop_map(|(mut n, edits, case, cut)| {
                for (at, b) in edits {
                    if let Some(x) = n.get_mut(at) {
                        *x = match b % 4 {
                            0 => b,
                            1 => *x ^ 0x20,
                            2 => b'\r',
                            _ => *x ^ (1 << (b % 8)),
                        };
                    }
                }
                for (i, x) in n.iter_mut().enumerate() {
                    if case & (1 << (i % 32)) != 0 {
                        x.make_ascii_uppercase();
                    }
                }
                match cut {
                    1 => {
                        n.pop();
                    }
                    2 => n.push(b'x'),
                    _ => {}
                }
                n
            });
        prop_oneof![edited, proptest::collection::vec(any::<u8>(), 0..26)]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4_000, ..ProptestConfig::default() })]

        #[test]
        fn classify_agrees_with_a_plain_comparison(name in near_names(), tail in any::<[u8; 8]>()) {
            prop_assert_eq!(HeaderName::classify(&name), reference_classify(&name));
            // Within a line, the bytes after the name do not matter.
            let mut line = name.clone();
            line.extend_from_slice(&tail);
            let first = word_at(&line, 0);
            prop_assert_eq!(
                HeaderName::classify_in(first, &line, name.len()),
                reference_classify(&name)
            );
        }
    }
}
