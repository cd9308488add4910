//! Just enough SDP (RFC 8866) for a guard: connection addresses and media ports.

/// An error in an SDP body, with the 1-based line where it was found.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpError {
    /// The body does not start with `v=`.
    MissingVersion,
    /// A line is not `<letter>=<value>`.
    BadLine {
        /// 1-based line number.
        line: usize,
    },
    /// A `c=` line is not `c=<nettype> <addrtype> <address>`.
    BadConnection {
        /// 1-based line number.
        line: usize,
    },
    /// An `m=` line is not `m=<media> <port>[/<count>] <proto> <fmt> …`.
    BadMedia {
        /// 1-based line number.
        line: usize,
    },
}

impl core::fmt::Display for SdpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SdpError::MissingVersion => f.write_str("SDP body does not start with v="),
            SdpError::BadLine { line } => write!(f, "SDP line {line} is not <type>=<value>"),
            SdpError::BadConnection { line } => write!(f, "SDP line {line}: malformed c= line"),
            SdpError::BadMedia { line } => write!(f, "SDP line {line}: malformed m= line"),
        }
    }
}

impl core::error::Error for SdpError {}

/// A `c=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection<'b> {
    /// Network type, `IN`.
    pub net_type: &'b str,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: &'b str,
    /// The address (possibly `addr/ttl` for multicast, or a domain name).
    pub address: &'b str,
}

impl Connection<'_> {
    /// The address as an IP address, without a `/ttl` suffix; `None` for names.
    #[must_use]
    pub fn ip(&self) -> Option<core::net::IpAddr> {
        let a = self.address.split('/').next().unwrap_or(self.address);
        a.parse().ok()
    }
}

/// An `m=` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Media<'b> {
    /// Media type (`audio`, `video`, …).
    pub kind: &'b str,
    /// Transport port.
    pub port: u16,
    /// Number of ports (`/count`), 1 if absent.
    pub port_count: u16,
    /// Transport protocol, e.g. `RTP/AVP`.
    pub proto: &'b str,
    /// The format list as text.
    pub formats: &'b str,
    /// The section's own `c=` line, if any (otherwise the session's applies).
    pub connection: Option<Connection<'b>>,
}

/// A checked SDP body; sections are read lazily from the borrowed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sdp<'b> {
    text: &'b str,
}

/// Parses and checks an SDP body. Lines may end in CRLF or LF; bytes that are not UTF-8
/// make the line they are on malformed.
///
/// # Errors
///
/// [`SdpError`] naming the first malformed line.
pub fn parse(body: &[u8]) -> Result<Sdp<'_>, SdpError> {
    let text = match core::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => {
            let line = body
                .get(..e.valid_up_to())
                .map_or(0, |b| b.iter().filter(|c| **c == b'\n').count())
                + 1;
            return Err(SdpError::BadLine { line });
        }
    };
    let mut first = true;
    for (i, line) in lines(text).enumerate() {
        let n = i + 1;
        let (t, v) = split_line(line).ok_or(SdpError::BadLine { line: n })?;
        if first {
            if t != b'v' {
                return Err(SdpError::MissingVersion);
            }
            first = false;
        }
        match t {
            b'c' => {
                parse_connection(v).ok_or(SdpError::BadConnection { line: n })?;
            }
            b'm' => {
                parse_media(v).ok_or(SdpError::BadMedia { line: n })?;
            }
            _ => {}
        }
    }
    if first {
        return Err(SdpError::MissingVersion);
    }
    Ok(Sdp { text })
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
}

fn split_line(line: &str) -> Option<(u8, &str)> {
    match line.as_bytes() {
        [t, b'=', ..] if t.is_ascii_lowercase() => Some((*t, line.get(2..)?)),
        _ => None,
    }
}

fn parse_connection(v: &str) -> Option<Connection<'_>> {
    let mut it = v.split(' ');
    let c = Connection {
        net_type: it.next().filter(|s| !s.is_empty())?,
        addr_type: it.next().filter(|s| !s.is_empty())?,
        address: it.next().filter(|s| !s.is_empty())?,
    };
    it.next().is_none().then_some(c)
}

fn parse_media(v: &str) -> Option<(&str, u16, u16, &str, &str)> {
    let mut it = v.splitn(4, ' ');
    let kind = it.next().filter(|s| !s.is_empty())?;
    let ports = it.next()?;
    let proto = it.next().filter(|s| !s.is_empty())?;
    let formats = it.next().unwrap_or("");
    let (port, count) = match ports.split_once('/') {
        Some((p, c)) => (p, c.parse().ok()?),
        None => (ports, 1),
    };
    Some((kind, port.parse().ok()?, count, proto, formats))
}

impl<'b> Sdp<'b> {
    /// The session-level `c=` line (before the first `m=`).
    #[must_use]
    pub fn connection(&self) -> Option<Connection<'b>> {
        lines(self.text)
            .filter_map(split_line)
            .take_while(|(t, _)| *t != b'm')
            .find(|(t, _)| *t == b'c')
            .and_then(|(_, v)| parse_connection(v))
    }

    /// The `o=` line's unicast address (the creator's address).
    #[must_use]
    pub fn origin_address(&self) -> Option<&'b str> {
        let (_, v) = lines(self.text)
            .filter_map(split_line)
            .find(|(t, _)| *t == b'o')?;
        v.split(' ').nth(5)
    }

    /// Every `c=` line, session and media level, in order.
    pub fn connections(&self) -> impl Iterator<Item = Connection<'b>> + 'b {
        lines(self.text)
            .filter_map(split_line)
            .filter(|(t, _)| *t == b'c')
            .filter_map(|(_, v)| parse_connection(v))
    }

    /// The media sections, in order.
    pub fn media(&self) -> impl Iterator<Item = Media<'b>> + 'b {
        let mut it = lines(self.text).filter_map(split_line).peekable();
        core::iter::from_fn(move || {
            loop {
                let (t, v) = it.next()?;
                if t != b'm' {
                    continue;
                }
                let (kind, port, port_count, proto, formats) = parse_media(v)?;
                let mut connection = None;
                while let Some((t, v)) = it.peek().copied() {
                    if t == b'm' {
                        break;
                    }
                    if t == b'c' && connection.is_none() {
                        connection = parse_connection(v);
                    }
                    it.next();
                }
                return Some(Media {
                    kind,
                    port,
                    port_count,
                    proto,
                    formats,
                    connection,
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\ns=-\r\n\
c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8\r\nm=video 51372/2 RTP/AVP 31\r\n\
c=IN IP6 2001:db8::20\r\n";

    #[test]
    fn connection_and_media() {
        let sdp = parse(BODY).unwrap();
        assert_eq!(sdp.connection().unwrap().ip(), "192.0.2.1".parse().ok());
        assert_eq!(sdp.origin_address(), Some("192.0.2.1"));
        let mut m = sdp.media();
        let a = m.next().unwrap();
        assert_eq!(
            (a.kind, a.port, a.port_count, a.proto, a.formats),
            ("audio", 49170, 1, "RTP/AVP", "0 8")
        );
        assert_eq!(a.connection, None);
        let v = m.next().unwrap();
        assert_eq!((v.port, v.port_count), (51372, 2));
        assert_eq!(v.connection.unwrap().ip(), "2001:db8::20".parse().ok());
        assert!(m.next().is_none());
        assert_eq!(sdp.connections().count(), 2);
    }

    #[test]
    fn malformed_bodies_name_the_line() {
        assert_eq!(parse(b""), Err(SdpError::MissingVersion));
        assert_eq!(parse(b"o=x\r\n"), Err(SdpError::MissingVersion));
        assert_eq!(
            parse(b"v=0\r\nc=IN IP4\r\n"),
            Err(SdpError::BadConnection { line: 2 })
        );
        assert_eq!(
            parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n"),
            Err(SdpError::BadMedia { line: 2 })
        );
        assert_eq!(
            parse(b"v=0\r\nhello\r\n"),
            Err(SdpError::BadLine { line: 2 })
        );
        assert_eq!(
            parse(b"v=0\r\ns=\xff\r\n"),
            Err(SdpError::BadLine { line: 2 })
        );
    }
}
