//! The traffic that `benches/parse.rs` measures: typical PBX signalling plus the RFC 4475/5118
//! torture corpus, shared so that tests can check the corpus is what it claims to be.

/// A REGISTER as a desk phone sends it before the challenge.
pub const REGISTER: &[u8] = b"REGISTER sip:pbx.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---4f3b2a1c9d8e7f60;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:100@198.51.100.7:5060;rinstance=8f2c6a1d0b9e7f53;transport=UDP>\r\n\
To: <sip:100@pbx.example.com>\r\n\
From: <sip:100@pbx.example.com>;tag=2a7d9f1b\r\n\
Call-ID: ZTg4NmFlNmQ3MzA3OGRmNmU0ZjQ3YzM5NzQ1NTZiYWI\r\n\
CSeq: 1 REGISTER\r\n\
Expires: 3600\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
User-Agent: Zoiper rv2.10.20.3\r\n\
Allow-Events: presence, kpml, talk\r\n\
Content-Length: 0\r\n\r\n";

/// The same REGISTER answering a digest challenge.
pub const REGISTER_AUTH: &[u8] = b"REGISTER sip:pbx.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---9a8b7c6d5e4f3a2b;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:100@198.51.100.7:5060;rinstance=8f2c6a1d0b9e7f53;transport=UDP>\r\n\
To: <sip:100@pbx.example.com>\r\n\
From: <sip:100@pbx.example.com>;tag=2a7d9f1b\r\n\
Call-ID: ZTg4NmFlNmQ3MzA3OGRmNmU0ZjQ3YzM5NzQ1NTZiYWI\r\n\
CSeq: 2 REGISTER\r\n\
Expires: 3600\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
User-Agent: Zoiper rv2.10.20.3\r\n\
Authorization: Digest username=\"100\",realm=\"asterisk\",nonce=\"1d4b6a3f\",uri=\"sip:pbx.example.com\",response=\"5f3c4e2a1b0d9c8e7f6a5b4c3d2e1f0a\",algorithm=MD5\r\n\
Allow-Events: presence, kpml, talk\r\n\
Content-Length: 0\r\n\r\n";

/// An INVITE with an SDP offer.
pub const INVITE_SDP: &[u8] = b"INVITE sip:+4930123456@pbx.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---b1c2d3e4f5a6b7c8;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:100@198.51.100.7:5060;transport=UDP>\r\n\
To: <sip:+4930123456@pbx.example.com>\r\n\
From: \"Desk 100\" <sip:100@pbx.example.com>;tag=6c1d2e3f\r\n\
Call-ID: YzM5NzQ1NTZiYWIyYTdkOWYxYjJhN2Q5ZjFi\r\n\
CSeq: 1 INVITE\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
Content-Type: application/sdp\r\n\
Supported: replaces, norefersub, extended-refer, timer, outbound, path, X-cisco-serviceuri\r\n\
User-Agent: Zoiper rv2.10.20.3\r\n\
Allow-Events: presence, kpml, talk\r\n\
Content-Length: 265\r\n\r\n\
v=0\r\n\
o=Z 1700000000000 1 IN IP4 198.51.100.7\r\n\
s=Z\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 106 9 98 101 0 8 3\r\n\
a=rtpmap:106 opus/48000/2\r\n\
a=fmtp:106 sprop-maxcapturerate=16000; minptime=20; useinbandfec=1\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendrecv\r\n";

/// A 401 challenge from an Asterisk-like registrar.
pub const UNAUTHORIZED: &[u8] = b"SIP/2.0 401 Unauthorized\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;rport=5060;received=198.51.100.7;branch=z9hG4bK-524287-1---4f3b2a1c9d8e7f60\r\n\
Call-ID: ZTg4NmFlNmQ3MzA3OGRmNmU0ZjQ3YzM5NzQ1NTZiYWI\r\n\
From: <sip:100@pbx.example.com>;tag=2a7d9f1b\r\n\
To: <sip:100@pbx.example.com>;tag=z9hG4bK-524287-1---4f3b2a1c9d8e7f60\r\n\
CSeq: 1 REGISTER\r\n\
WWW-Authenticate: Digest realm=\"asterisk\",nonce=\"1700000000/5a2c0d7e3b9f1e4c6a8d2b0f7e5c3a1d\",opaque=\"4b3c2d1e0f9a8b7c\",algorithm=md5,qop=\"auth\"\r\n\
Server: Asterisk PBX 20.5.0\r\n\
Allow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, INFO, MESSAGE, REFER\r\n\
Supported: 100rel, timer, replaces, norefersub\r\n\
Content-Length:  0\r\n\r\n";

/// A 200 OK to the REGISTER.
pub const OK: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;rport=5060;received=198.51.100.7;branch=z9hG4bK-524287-1---9a8b7c6d5e4f3a2b\r\n\
Call-ID: ZTg4NmFlNmQ3MzA3OGRmNmU0ZjQ3YzM5NzQ1NTZiYWI\r\n\
From: <sip:100@pbx.example.com>;tag=2a7d9f1b\r\n\
To: <sip:100@pbx.example.com>;tag=z9hG4bK-524287-1---9a8b7c6d5e4f3a2b\r\n\
CSeq: 2 REGISTER\r\n\
Date: Sun, 22 Nov 2026 19:00:00 GMT\r\n\
Contact: <sip:100@198.51.100.7:5060;rinstance=8f2c6a1d0b9e7f53;transport=UDP>;expires=3599\r\n\
Expires: 3600\r\n\
Server: Asterisk PBX 20.5.0\r\n\
Content-Length:  0\r\n\r\n";

/// An OPTIONS probe as scanners send it.
pub const OPTIONS: &[u8] = b"OPTIONS sip:100@203.0.113.10 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.66:5071;branch=z9hG4bK-3915622171;rport\r\n\
Content-Length: 0\r\n\
From: \"sipvicious\"<sip:100@1.1.1.1>;tag=6133343530323630313363340131323434373335353831\r\n\
Accept: application/sdp\r\n\
User-Agent: friendly-scanner\r\n\
To: \"sipvicious\"<sip:100@1.1.1.1>\r\n\
Contact: sip:100@192.0.2.66:5071\r\n\
CSeq: 1 OPTIONS\r\n\
Call-ID: 779420187393537298424377\r\n\
Max-Forwards: 70\r\n\r\n";

/// The typical messages with their benchmark names.
pub const TYPICAL: [(&str, &[u8]); 6] = [
    ("register", REGISTER),
    ("register_auth", REGISTER_AUTH),
    ("invite_sdp", INVITE_SDP),
    ("401", UNAUTHORIZED),
    ("200_ok", OK),
    ("options", OPTIONS),
];

/// Reads the guard-relevant facts of a message the way the engine does: method or status,
/// top Via, From/To users and tags, Call-ID, CSeq, User-Agent, credentials, SDP media ports,
/// and the full header-level check. Returns a number so the work cannot be optimised away.
#[must_use]
pub fn guard_facts(m: &pbxguard_sip::Message<'_, '_>) -> usize {
    let mut n = m.validate().len();
    n += m.method().map_or(0, |x| x.as_str().len());
    n += m.status().map_or(0, |s| usize::from(s.as_u16()));
    if let Some(v) = m.via() {
        n += v.host.as_str().len()
            + v.branch().map_or(0, str::len)
            + usize::from(v.rport().is_some());
    }
    if let Some(f) = m.from() {
        n += f.uri.user.map_or(0, str::len) + f.tag().map_or(0, str::len);
    }
    if let Some(t) = m.to() {
        n += t.uri.user.map_or(0, str::len);
    }
    n += m.call_id().map_or(0, str::len);
    n += m.cseq().map_or(0, |c| c.seq as usize);
    n += m.user_agent().map_or(0, <[u8]>::len);
    if let Some(a) = m.authorization().or_else(|| m.www_authenticate()) {
        n += a.username().map_or(0, str::len) + a.realm().map_or(0, str::len);
    }
    if m.content_type().is_some_and(|c| c.is_sdp())
        && let Ok(s) = pbxguard_sip::sdp::parse(m.body())
    {
        n += s.media().map(|x| usize::from(x.port)).sum::<usize>();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use pbxguard_sip::{Header, Message};

    #[test]
    fn typical_messages_are_clean_and_complete() {
        for (name, buf) in TYPICAL {
            let mut headers = [Header::EMPTY; 32];
            let m = Message::parse_datagram(buf, &mut headers).unwrap();
            assert!(m.validate().is_empty(), "{name}: {:?}", m.validate());
            assert_eq!(m.len(), buf.len(), "{name}");
            assert!(guard_facts(&m) > 0, "{name}");
        }
        let mut headers = [Header::EMPTY; 32];
        let m = Message::parse_datagram(INVITE_SDP, &mut headers).unwrap();
        assert_eq!(m.body().len(), 265);
        assert_eq!(
            pbxguard_sip::sdp::parse(m.body())
                .unwrap()
                .media()
                .next()
                .unwrap()
                .port,
            40000
        );
    }
}
