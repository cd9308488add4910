//! From a parsed SIP message to the engine's [`Event`]: the facts detection needs, borrowed.

use pbxguard_engine::{Event, Request, Response};
use pbxguard_sip::facts::Facts;
use pbxguard_sip::{Anomalies, Message};

/// Which way a message travelled relative to the protected PBX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the peer to the PBX.
    Inbound,
    /// From the PBX to the peer.
    Outbound,
}

/// The engine event for `msg`, parsed from `input`, or `None` for an outbound message without a valid
/// start line. An inbound message without one is [`Event::Unparseable`]; the PBX's own requests are
/// [`Event::PbxRequest`] (the call policy counts the calls it places on trunks and sees it hang up).
pub fn event<'b>(
    msg: &Message<'_, 'b>,
    input: &'b [u8],
    direction: Direction,
) -> Option<Event<'b>> {
    if !msg.is_request() && !msg.is_response() {
        // No start line worth the name: garbage, counted as malformed traffic from the peer.
        return (direction == Direction::Inbound).then_some(Event::Unparseable);
    }
    match (msg.is_request(), direction) {
        (true, Direction::Inbound) => Some(Event::Request(request(msg, input))),
        (false, Direction::Outbound) => Some(Event::Response(response(msg, input))),
        (false, Direction::Inbound) => Some(Event::PeerResponse {
            status: msg.status().map_or(0, |s| s.as_u16()),
            call_id: msg.call_id().map_or(&b""[..], str::as_bytes),
            cseq: msg.cseq().map_or(0, |c| c.seq),
        }),
        (true, Direction::Outbound) => Some(Event::PbxRequest(request(msg, input))),
    }
}

/// The anomalies the parser and the header-level validation found together.
pub fn anomalies(msg: &Message<'_, '_>) -> Anomalies {
    msg.anomalies().union(msg.validate())
}

fn request<'b>(msg: &Message<'_, 'b>, input: &'b [u8]) -> Request<'b> {
    // One pass over the headers gathers the facts and runs the same checks as `Message::validate`.
    let f = Facts::of_input(msg, input);
    Request {
        method: f.method.map_or(&b""[..], |m| m.as_str().as_bytes()),
        from_user: f.from.and_then(|p| p.user).map(str::as_bytes),
        from_display: f.from.and_then(|p| p.display_name).map(str::as_bytes),
        to_user: f.to.and_then(|p| p.user).map(str::as_bytes),
        uri_user: f.uri_user.map(str::as_bytes),
        user_agent: f.user_agent,
        call_id: f.call_id.map_or(&b""[..], str::as_bytes),
        cseq: f.cseq.map_or(0, |c| c.seq),
        credentials: f.credentials.map(|c| c.username.unwrap_or("").as_bytes()),
        anomalies: u32::try_from(f.anomalies.len()).unwrap_or(u32::MAX),
        to_tag: f.to.is_some_and(|p| p.tag().is_some()),
    }
}

fn response<'b>(msg: &Message<'_, 'b>, input: &'b [u8]) -> Response<'b> {
    // The PBX's own responses are not checked for malformation: only their facts are read.
    let f = Facts::transaction_input(msg, input);
    Response {
        status: f.status.map_or(0, |s| s.as_u16()),
        call_id: f.call_id.map_or(&b""[..], str::as_bytes),
        cseq: f.cseq.map_or(0, |c| c.seq),
        to_user: f.to.and_then(|p| p.user).map(str::as_bytes),
        stale: f.stale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pbxguard_sip::Header;

    #[test]
    fn a_register_with_credentials_yields_the_username_and_user_agent() {
        let buf = b"REGISTER sip:pbx.example.com SIP/2.0\r\n\
            Via: SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bK1\r\n\
            From: <sip:1001@pbx.example.com>;tag=a\r\n\
            To: <sip:1001@pbx.example.com>\r\n\
            Call-ID: abc@192.0.2.5\r\n\
            CSeq: 2 REGISTER\r\n\
            User-Agent: friendly-scanner\r\n\
            Authorization: Digest username=\"1001\", realm=\"pbx\", nonce=\"n\", uri=\"sip:pbx\", response=\"0\"\r\n\
            Content-Length: 0\r\n\r\n";
        let mut headers = [Header::EMPTY; 32];
        let msg = Message::parse_datagram(buf, &mut headers).unwrap();
        let Some(Event::Request(r)) = event(&msg, buf, Direction::Inbound) else {
            panic!("not a request")
        };
        assert_eq!(r.method, b"REGISTER");
        assert_eq!(r.to_user, Some(&b"1001"[..]));
        assert_eq!(r.credentials, Some(&b"1001"[..]));
        assert_eq!(r.user_agent, Some(&b"friendly-scanner"[..]));
        assert_eq!(r.call_id, b"abc@192.0.2.5");
        assert_eq!(r.cseq, 2);
        assert_eq!(r.anomalies, 0);
    }

    #[test]
    fn a_stale_challenge_is_marked() {
        let buf = b"SIP/2.0 401 Unauthorized\r\n\
            Via: SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bK1\r\n\
            From: <sip:1001@pbx>;tag=a\r\nTo: <sip:1001@pbx>;tag=b\r\nCall-ID: x\r\nCSeq: 2 REGISTER\r\n\
            WWW-Authenticate: Digest realm=\"pbx\", nonce=\"n2\", stale=true\r\nContent-Length: 0\r\n\r\n";
        let mut headers = [Header::EMPTY; 32];
        let msg = Message::parse_datagram(buf, &mut headers).unwrap();
        let Some(Event::Response(r)) = event(&msg, buf, Direction::Outbound) else {
            panic!("not a response")
        };
        assert_eq!(r.status, 401);
        assert!(r.stale);
        assert_eq!(r.to_user, Some(&b"1001"[..]));
    }
}
