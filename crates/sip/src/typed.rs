//! Small typed headers: CSeq, Content-Type, Date.

use crate::Anomaly;
use crate::method::Method;
use crate::text::{Cursor, ParamCtx, Params, parse_number, parse_params};

/// CSeq (RFC 3261 §20.16): sequence number and method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'b> {
    /// The sequence number (< 2^31, §8.1.1.5).
    pub seq: u32,
    /// The method.
    pub method: Method<'b>,
}

impl<'b> CSeq<'b> {
    /// Parses `1*DIGIT LWS Method`.
    ///
    /// # Errors
    ///
    /// [`Anomaly::ValueOutOfRange`] if the number is ≥ 2^31 (RFC 4475 `scalar02`), otherwise
    /// [`Anomaly::BadCSeq`].
    pub fn parse(s: &'b str) -> Result<Self, Anomaly> {
        let mut cur = Cursor::new(s);
        cur.skip_ws();
        let digits = cur.take_while(|b| b.is_ascii_digit());
        let seq = match parse_number(digits.as_bytes(), (1 << 31) - 1) {
            Ok(n) => u32::try_from(n).map_err(|_| Anomaly::ValueOutOfRange)?,
            Err(Anomaly::ValueOutOfRange) => return Err(Anomaly::ValueOutOfRange),
            Err(_) => return Err(Anomaly::BadCSeq),
        };
        if !cur.skip_ws() {
            return Err(Anomaly::BadCSeq);
        }
        let method = cur.token().ok_or(Anomaly::BadCSeq)?;
        cur.skip_ws();
        if !cur.at_end() {
            return Err(Anomaly::BadCSeq);
        }
        Ok(CSeq {
            seq,
            method: Method::new(method),
        })
    }
}

/// Content-Type (RFC 3261 §20.15): `type "/" subtype *(;param)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentType<'b> {
    /// Top-level type, e.g. `application`.
    pub mtype: &'b str,
    /// Subtype, e.g. `sdp`.
    pub subtype: &'b str,
    /// Parameters, e.g. `;boundary=…`.
    pub params: Params<'b>,
}

impl<'b> ContentType<'b> {
    /// Parses a media type.
    ///
    /// # Errors
    ///
    /// [`Anomaly::BadContentType`], or [`Anomaly::EmptyParameter`] /
    /// [`Anomaly::UnbalancedQuotes`] from the parameters.
    pub fn parse(s: &'b str) -> Result<Self, Anomaly> {
        let mut cur = Cursor::new(s);
        cur.skip_ws();
        let mtype = cur.token().ok_or(Anomaly::BadContentType)?;
        cur.skip_ws();
        if !cur.eat(b'/') {
            return Err(Anomaly::BadContentType);
        }
        cur.skip_ws();
        let subtype = cur.token().ok_or(Anomaly::BadContentType)?;
        let params = parse_params(&mut cur, ParamCtx::Header)?;
        cur.skip_ws();
        if !cur.at_end() {
            return Err(Anomaly::BadContentType);
        }
        Ok(ContentType {
            mtype,
            subtype,
            params,
        })
    }

    /// Whether this is `application/sdp`.
    #[must_use]
    pub fn is_sdp(&self) -> bool {
        self.mtype.eq_ignore_ascii_case("application") && self.subtype.eq_ignore_ascii_case("sdp")
    }
}

/// Checks an RFC 1123 date in GMT: `wkday "," SP 2DIGIT SP month SP 4DIGIT SP
/// 2DIGIT ":" 2DIGIT ":" 2DIGIT SP "GMT"` (RFC 3261 §20.17, RFC 4475 `baddate`).
pub(crate) fn check_date(s: &[u8]) -> Result<(), Anomaly> {
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let digits =
        |r: core::ops::Range<usize>| s.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let ok = s.len() == 29
        && s.get(0..3).is_some_and(|d| DAYS.contains(&d))
        && s.get(3..5) == Some(b", ")
        && digits(5..7)
        && s.get(7) == Some(&b' ')
        && s.get(8..11).is_some_and(|m| MONTHS.contains(&m))
        && s.get(11) == Some(&b' ')
        && digits(12..16)
        && s.get(16) == Some(&b' ')
        && digits(17..19)
        && s.get(19) == Some(&b':')
        && digits(20..22)
        && s.get(22) == Some(&b':')
        && digits(23..25)
        && s.get(25..29) == Some(b" GMT");
    if ok { Ok(()) } else { Err(Anomaly::BadDate) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq_folded_rfc4475_wsinv() {
        let c = CSeq::parse("0009\r\n  INVITE").unwrap();
        assert_eq!(c.seq, 9);
        assert_eq!(c.method, Method::INVITE);
    }

    #[test]
    fn cseq_limits() {
        assert_eq!(
            CSeq::parse("2147483648 INVITE"),
            Err(Anomaly::ValueOutOfRange)
        );
        assert_eq!(CSeq::parse("2147483647 INVITE").unwrap().seq, 2_147_483_647);
        assert_eq!(CSeq::parse("INVITE"), Err(Anomaly::BadCSeq));
        assert_eq!(CSeq::parse("1INVITE"), Err(Anomaly::BadCSeq));
        assert_eq!(CSeq::parse("1 INVITE x"), Err(Anomaly::BadCSeq));
    }

    #[test]
    fn content_type_with_params() {
        let c = ContentType::parse("multipart/mixed;boundary=7a9cbec02ceef655").unwrap();
        assert_eq!(c.mtype, "multipart");
        assert_eq!(c.params.get("boundary"), Some("7a9cbec02ceef655"));
        assert!(ContentType::parse("application/sdp").unwrap().is_sdp());
        assert!(ContentType::parse("application").is_err());
    }

    #[test]
    fn dates_must_be_gmt() {
        assert_eq!(check_date(b"Sat, 13 Nov 2010 23:29:00 GMT"), Ok(()));
        assert_eq!(
            check_date(b"Fri, 01 Jan 2010 16:00:00 EST"),
            Err(Anomaly::BadDate)
        );
    }
}
