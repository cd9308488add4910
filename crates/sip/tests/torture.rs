//! RFC 4475 (SIP torture tests) and RFC 5118 (IPv6 torture tests), one row per message:
//! every "must parse" message parses with the right field values, every invalid one is
//! flagged with the named anomaly, and none panics — as a datagram and as a stream.

// Helper functions outside #[test] bodies may unwrap and index: a failure is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use pbxguard_sip::{
    Anomaly, Contact, Frame, Header, Message, Method, Rport, Scheme, Status, StatusCode,
    StreamParser, Transport, sdp,
};

enum Verdict {
    /// Must parse; `allowed` are the only anomalies `validate()` may report (application-layer
    /// tortures that the parser rightly notices).
    Valid { allowed: &'static [Anomaly] },
    /// Invalid syntax: `validate()` must report `flag`.
    Invalid { flag: Anomaly },
}

use Verdict::{Invalid, Valid};

type Check = fn(&Message<'_, '_>);

struct Case {
    file: &'static str,
    verdict: Verdict,
    check: Check,
}

fn fixture(file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn none(_: &Message<'_, '_>) {}

fn text(b: Option<&[u8]>) -> Option<&str> {
    b.map(|b| std::str::from_utf8(b).unwrap())
}

const CASES: &[Case] = &[
    // §3.1.1 valid messages.
    Case {
        file: "rfc4475/wsinv.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.method(), Some(Method::INVITE));
            let to = m.to().unwrap();
            assert_eq!(to.uri.user, Some("vivekg"));
            assert_eq!(to.tag(), Some("1918181833n"));
            let from = m.from().unwrap();
            assert_eq!(from.display_name, Some(r#"J Rosenberg \\\""#));
            assert_eq!(from.tag(), Some("98asjd8"));
            assert_eq!(m.max_forwards(), Some(68));
            assert_eq!(m.cseq().unwrap().seq, 9);
            assert_eq!(m.cseq().unwrap().method, Method::INVITE);
            let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
            assert_eq!(vias.len(), 3);
            assert_eq!(vias[0].host.as_str(), "192.0.2.2");
            assert_eq!(vias[1].host.as_str(), "spindle.example.com");
            assert!(vias[1].transport.is(Transport::TCP));
            assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
            assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
            assert_eq!(m.header("s"), Some(&b""[..]));
            assert_eq!(
                m.header("newfangledheader"),
                Some(&b"newfangled value\r\n continued newfangled value"[..])
            );
            let Contact::Addr(c) = m.contact().unwrap() else {
                panic!()
            };
            assert_eq!(c.params.get("newparam"), Some("newvalue"));
            assert_eq!(c.params.get("q"), Some("0.33"));
            assert_eq!(m.body().len(), 150);
        },
    },
    Case {
        file: "rfc4475/intmeth.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(
                m.method().unwrap().as_str(),
                "!interesting-Method0123456789_*+`.%indeed'~"
            );
            assert_eq!(m.cseq().unwrap().method, m.method().unwrap());
            let uri = m.request_uri_parsed().unwrap();
            assert_eq!(
                uri.user,
                Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
            );
            assert_eq!(
                uri.password,
                Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
            );
            let from = m.from().unwrap();
            assert_eq!(from.display_name, Some("token1~` token2'+_ token3*%!.-"));
            assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
            assert_eq!(
                m.call_id(),
                Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
            );
            assert!(m.header("extensionHeader-!.%*+_`'~").is_some());
        },
    },
    Case {
        file: "rfc4475/esc01.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(
                m.request_uri_parsed().unwrap().user,
                Some("sips%3Auser%40example.com")
            );
            let mut buf = [0u8; 64];
            let user = m.to().unwrap().uri.user.unwrap();
            assert_eq!(
                pbxguard_sip::percent_decode(user.as_bytes(), &mut buf),
                Some(&b"user"[..])
            );
            assert_eq!(m.from().unwrap().uri.user, Some("I%20have%20spaces"));
            assert_eq!(m.call_id(), Some("esc01.239409asdfakjkn23onasd0-3234"));
            assert!(m.content_type().unwrap().is_sdp());
            let Contact::Addr(c) = m.contact().unwrap() else {
                panic!()
            };
            assert_eq!(c.uri.params.get("n%61me"), Some("v%61lue%25%34%31"));
        },
    },
    Case {
        file: "rfc4475/escnull.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let user = m.to().unwrap().uri.user.unwrap();
            let mut buf = [0u8; 64];
            assert_eq!(
                pbxguard_sip::percent_decode(user.as_bytes(), &mut buf),
                Some(&b"null-\0-null"[..])
            );
            assert_eq!(m.contacts().count(), 2);
            assert_eq!(m.content_length(), Some(0));
        },
    },
    Case {
        file: "rfc4475/esc02.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.method().unwrap().as_str(), "RE%47IST%45R");
            assert_ne!(m.method(), Some(Method::REGISTER));
            assert_eq!(m.from().unwrap().display_name, Some("%Z%45"));
            // `C%6Fntact` is an unknown header, not Contact.
            assert_eq!(m.contacts().count(), 2);
            assert!(m.header("C%6Fntact").is_some());
        },
    },
    Case {
        file: "rfc4475/lwsdisp.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.from().unwrap().display_name, Some("caller"));
            assert_eq!(m.from().unwrap().uri.user, Some("caller"));
        },
    },
    Case {
        file: "rfc4475/longreq.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.vias().count(), 34);
            assert!(m.vias().all(|v| v.is_ok()));
            assert_eq!(m.from().unwrap().uri.user.unwrap().len(), 115);
            assert_eq!(m.body().len(), 150);
            assert!(
                m.to()
                    .unwrap()
                    .display_name
                    .unwrap()
                    .starts_with("I have a user name of extreme")
            );
        },
    },
    Case {
        file: "rfc4475/dblreq.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.method(), Some(Method::REGISTER));
            assert_eq!(m.body(), b"");
        },
    },
    Case {
        file: "rfc4475/semiuri.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let u = m.request_uri_parsed().unwrap();
            assert_eq!(u.user, Some("user;par=u%40example.net"));
            assert_eq!(u.host.unwrap().as_str(), "example.com");
            let accept: Vec<_> = m.values(pbxguard_sip::HeaderName::Accept).collect();
            assert_eq!(accept.len(), 6);
            assert_eq!(accept[5], b"message/sipfrag");
        },
    },
    Case {
        file: "rfc4475/transports.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let t: Vec<_> = m.vias().map(|v| v.unwrap().transport.as_str()).collect();
            assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
        },
    },
    Case {
        file: "rfc4475/mpart01.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.method(), Some(Method::MESSAGE));
            assert_eq!(m.content_length(), Some(553));
            assert_eq!(m.body().len(), 553);
            assert!(m.body().contains(&0));
            assert_eq!(
                m.content_type().unwrap().params.get("boundary"),
                Some("7a9cbec02ceef655")
            );
            assert_eq!(m.via().unwrap().rport(), Some(Rport::Requested));
        },
    },
    Case {
        file: "rfc4475/unreason.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.status(), Some(StatusCode::OK));
            assert!(
                std::str::from_utf8(m.reason().unwrap())
                    .unwrap()
                    .starts_with("= 2**3 * 5**2 но")
            );
        },
    },
    Case {
        file: "rfc4475/noreason.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.status(), Some(StatusCode::TRYING));
            assert_eq!(m.reason(), Some(&b""[..]));
        },
    },
    // §3.1.2 invalid messages.
    Case {
        file: "rfc4475/badinv01.dat",
        verdict: Invalid {
            flag: Anomaly::EmptyParameter,
        },
        check: |m| {
            assert!(m.validate().contains(Anomaly::BadVia));
            assert!(m.validate().contains(Anomaly::BadContact));
            assert_eq!(m.from().unwrap().uri.user, Some("caller"));
        },
    },
    Case {
        file: "rfc4475/clerr.dat",
        verdict: Invalid {
            flag: Anomaly::ContentLengthMismatch,
        },
        check: |m| {
            assert_eq!(m.content_length(), Some(9999));
            assert!(m.body().len() < 9999);
        },
    },
    Case {
        file: "rfc4475/ncl.dat",
        verdict: Invalid {
            flag: Anomaly::InvalidContentLength,
        },
        check: none,
    },
    Case {
        file: "rfc4475/scalar02.dat",
        verdict: Invalid {
            flag: Anomaly::ValueOutOfRange,
        },
        check: |m| {
            assert!(m.validate().contains(Anomaly::BadCSeq));
            assert_eq!(m.max_forwards(), None);
            assert_eq!(m.expires(), None);
        },
    },
    Case {
        file: "rfc4475/scalarlg.dat",
        verdict: Invalid {
            flag: Anomaly::ValueOutOfRange,
        },
        check: |m| {
            assert_eq!(m.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
            assert_eq!(m.cseq(), None);
        },
    },
    Case {
        file: "rfc4475/quotbal.dat",
        verdict: Invalid {
            flag: Anomaly::UnbalancedQuotes,
        },
        check: |m| {
            assert!(m.validate().contains(Anomaly::BadTo));
            assert_eq!(m.from().unwrap().uri.user, Some("caller"));
        },
    },
    Case {
        file: "rfc4475/ltgtruri.dat",
        verdict: Invalid {
            flag: Anomaly::BadRequestUri,
        },
        check: |m| {
            assert_eq!(m.method(), Some(Method::INVITE));
        },
    },
    Case {
        file: "rfc4475/lwsruri.dat",
        verdict: Invalid {
            flag: Anomaly::BadStartLine,
        },
        check: |m| {
            assert_eq!(m.method(), Some(Method::INVITE));
            assert_eq!(m.from().unwrap().uri.user, Some("caller"));
        },
    },
    Case {
        file: "rfc4475/lwsstart.dat",
        verdict: Invalid {
            flag: Anomaly::BadStartLine,
        },
        check: |m| {
            assert_eq!(m.method(), Some(Method::INVITE));
            assert_eq!(m.request_uri(), Some("sip:user@example.com"));
        },
    },
    Case {
        file: "rfc4475/trws.dat",
        verdict: Invalid {
            flag: Anomaly::BadStartLine,
        },
        check: |m| {
            assert_eq!(m.method(), Some(Method::OPTIONS));
        },
    },
    Case {
        file: "rfc4475/escruri.dat",
        verdict: Invalid {
            flag: Anomaly::BadRequestUri,
        },
        check: |m| {
            assert_eq!(
                m.request_uri_parsed().unwrap().headers,
                Some("Route=%3Csip:example.com%3E")
            );
        },
    },
    Case {
        file: "rfc4475/baddate.dat",
        verdict: Invalid {
            flag: Anomaly::BadDate,
        },
        check: none,
    },
    Case {
        file: "rfc4475/regbadct.dat",
        verdict: Invalid {
            flag: Anomaly::BadContact,
        },
        check: |m| {
            assert_eq!(m.method(), Some(Method::REGISTER));
        },
    },
    Case {
        file: "rfc4475/badaspec.dat",
        verdict: Invalid {
            flag: Anomaly::BadTo,
        },
        check: |m| {
            assert_eq!(m.from().unwrap().display_name, Some("Bell, Alexander"));
        },
    },
    Case {
        file: "rfc4475/baddn.dat",
        verdict: Invalid {
            flag: Anomaly::BadFrom,
        },
        check: |m| {
            assert!(m.validate().contains(Anomaly::BadTo));
        },
    },
    Case {
        file: "rfc4475/badvers.dat",
        verdict: Invalid {
            flag: Anomaly::UnsupportedVersion,
        },
        check: |m| {
            assert_eq!(m.method(), Some(Method::OPTIONS));
            assert_eq!(m.from().unwrap().display_name, Some("A. Bell"));
        },
    },
    Case {
        file: "rfc4475/mismatch01.dat",
        verdict: Invalid {
            flag: Anomaly::CSeqMethodMismatch,
        },
        check: none,
    },
    Case {
        file: "rfc4475/mismatch02.dat",
        verdict: Invalid {
            flag: Anomaly::CSeqMethodMismatch,
        },
        check: |m| {
            assert_eq!(m.method().unwrap().as_str(), "NEWMETHOD");
            assert_eq!(m.body().len(), 138);
        },
    },
    Case {
        file: "rfc4475/bigcode.dat",
        verdict: Invalid {
            flag: Anomaly::BadStatusCode,
        },
        check: |m| {
            assert_eq!(m.status(), None);
            assert_eq!(
                m.call_id(),
                Some("bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i")
            );
        },
    },
    // §3.2 transaction layer.
    Case {
        file: "rfc4475/badbranch.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.via().unwrap().branch(), Some("z9hG4bK"));
        },
    },
    // §3.3 application layer: parse fine.
    Case {
        file: "rfc4475/insuf.dat",
        verdict: Valid {
            allowed: &[Anomaly::MissingRequiredHeader],
        },
        check: |m| {
            assert_eq!(m.from(), None);
            assert_eq!(m.method(), Some(Method::INVITE));
        },
    },
    Case {
        file: "rfc4475/unkscm.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(
                m.request_uri_parsed().unwrap().scheme,
                Scheme::Other("nobodyKnowsThisScheme")
            );
        },
    },
    Case {
        file: "rfc4475/novelsc.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert!(matches!(
                m.request_uri_parsed().unwrap().scheme,
                Scheme::Other(_)
            ));
        },
    },
    Case {
        file: "rfc4475/unksm2.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert!(matches!(
                m.request_uri_parsed().unwrap().scheme,
                Scheme::Sip
            ));
            assert!(matches!(m.to().unwrap().uri.scheme, Scheme::Other(_)));
        },
    },
    Case {
        file: "rfc4475/bext01.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert!(m.header("Require").is_some());
        },
    },
    Case {
        file: "rfc4475/invut.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.content_type().unwrap().subtype, "unknownformat");
            assert_eq!(m.body().len(), 40);
        },
    },
    Case {
        file: "rfc4475/regaut01.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let a = m.authorization().unwrap();
            assert_eq!(a.scheme, "NoOneKnowsThisScheme");
            assert_eq!(a.params.get("opaque-data"), Some("here"));
            assert_eq!(a.username(), None);
        },
    },
    Case {
        file: "rfc4475/multi01.dat",
        verdict: Valid {
            allowed: &[Anomaly::DuplicateHeader],
        },
        check: |m| {
            assert!(
                m.headers_named("To").count() > 1
                    || m.headers_named("From").count() > 1
                    || m.headers_named("CSeq").count() > 1
                    || m.headers_named("Max-Forwards").count() > 1
                    || m.headers_named("Call-ID").count() > 1
            );
        },
    },
    Case {
        file: "rfc4475/mcl01.dat",
        verdict: Valid {
            allowed: &[Anomaly::DuplicateContentLength],
        },
        check: |m| {
            assert_eq!(m.headers_named("l").count(), 2);
            assert_eq!(m.body().len(), 13);
        },
    },
    Case {
        file: "rfc4475/bcast.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.status(), Some(StatusCode::OK));
        },
    },
    Case {
        file: "rfc4475/zeromf.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.max_forwards(), Some(0));
        },
    },
    Case {
        file: "rfc4475/cparam01.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let Contact::Addr(c) = m.contact().unwrap() else {
                panic!()
            };
            assert!(c.params.contains("unknownparam"));
            assert!(c.uri.params.is_empty());
        },
    },
    Case {
        file: "rfc4475/cparam02.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let Contact::Addr(c) = m.contact().unwrap() else {
                panic!()
            };
            assert!(c.uri.params.contains("unknownparam"));
            assert!(c.params.is_empty());
        },
    },
    Case {
        file: "rfc4475/regescrt.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let Contact::Addr(c) = m.contact().unwrap() else {
                panic!()
            };
            assert_eq!(c.uri.headers, Some("Route=%3Csip:sip.example.com%3E"));
        },
    },
    Case {
        file: "rfc4475/sdp01.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let s = sdp::parse(m.body()).unwrap();
            assert_eq!(s.connection().unwrap().address, "192.0.2.5");
            assert!(s.media().count() >= 1);
        },
    },
    // §3.4 backward compatibility.
    Case {
        file: "rfc4475/inv2543.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.via().unwrap().branch(), None);
            assert_eq!(m.max_forwards(), None);
            assert_eq!(m.from().unwrap().uri.user_param(), Some("phone"));
            assert_eq!(m.from().unwrap().uri.user, Some("+13035551111"));
        },
    },
    // RFC 5118.
    Case {
        file: "rfc5118/ipv6-good.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let u = m.request_uri_parsed().unwrap();
            assert_eq!(u.host.unwrap().ip(), "2001:db8::10".parse().ok());
            assert_eq!(m.via().unwrap().host.ip(), "2001:db8::9:1".parse().ok());
            let Contact::Addr(c) = m.contact().unwrap() else {
                panic!()
            };
            assert_eq!(c.uri.host.unwrap().name(), "2001:db8::1");
        },
    },
    Case {
        file: "rfc5118/ipv6-bad.dat",
        verdict: Invalid {
            flag: Anomaly::BadRequestUri,
        },
        check: |m| {
            assert_eq!(m.request_uri_parsed(), None);
        },
    },
    Case {
        file: "rfc5118/port-ambiguous.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let u = m.request_uri_parsed().unwrap();
            assert_eq!(u.port, None);
            assert_eq!(u.host.unwrap().name(), "2001:db8::10:5070");
        },
    },
    Case {
        file: "rfc5118/port-unambiguous.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let u = m.request_uri_parsed().unwrap();
            assert_eq!(u.port, Some(5070));
            assert_eq!(u.host.unwrap().name(), "2001:db8::10");
        },
    },
    Case {
        file: "rfc5118/via-received-param-with-delim.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.via().unwrap().received(), Some("[2001:db8::9:255]"));
            assert_eq!(m.via().unwrap().branch(), Some("z9hG4bKas3-111"));
        },
    },
    Case {
        file: "rfc5118/via-received-param-no-delim.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.via().unwrap().received(), Some("2001:db8::9:255"));
            assert_eq!(m.via().unwrap().branch(), Some("z9hG4bKas3"));
        },
    },
    Case {
        file: "rfc5118/ipv6-in-sdp.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.body().len(), 241);
            let s = sdp::parse(m.body()).unwrap();
            assert_eq!(s.connection().unwrap().ip(), "2001:db8::20".parse().ok());
            assert_eq!(s.media().next().unwrap().port, 6000);
        },
    },
    Case {
        file: "rfc5118/mult-ip-in-header.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let v: Vec<_> = m.vias().map(Result::unwrap).collect();
            assert_eq!(v[0].host.name(), "2001:db8::9:1");
            assert_eq!(v[0].port, Some(6050));
            assert_eq!(v[1].host.ip(), "192.0.2.1".parse().ok());
            assert_eq!(v[2].received(), Some("192.0.2.200"));
            assert!(v[2].transport.is(Transport::TCP));
        },
    },
    Case {
        file: "rfc5118/mult-ip-in-sdp.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.body().len(), 181);
            let s = sdp::parse(m.body()).unwrap();
            let addrs: Vec<_> = s.connections().map(|c| c.address).collect();
            assert!(
                addrs.contains(&"192.0.2.1") || addrs.len() >= 2,
                "{addrs:?}"
            );
            assert_eq!(s.media().count(), 2);
        },
    },
    Case {
        file: "rfc5118/ipv4-mapped-ipv6.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            assert_eq!(m.body().len(), 236);
            assert_eq!(m.via().unwrap().host.name(), "::ffff:192.0.2.10");
            assert_eq!(m.via().unwrap().port, Some(19823));
            let s = sdp::parse(m.body()).unwrap();
            assert_eq!(s.origin_address(), Some("::ffff:192.0.2.2"));
        },
    },
    Case {
        file: "rfc5118/ipv6-correct-abnf-2-colons.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let u = m.request_uri_parsed().unwrap();
            assert_eq!(u.host.unwrap().ip(), "2001:db8::192.0.2.1".parse().ok());
        },
    },
    // RFC 5118 §4.10: tolerated; the literal is kept but is not a valid address.
    Case {
        file: "rfc5118/ipv6-bug-abnf-3-colons.dat",
        verdict: Valid { allowed: &[] },
        check: |m| {
            let u = m.request_uri_parsed().unwrap();
            assert_eq!(u.host.unwrap().name(), "2001:db8:::192.0.2.1");
            assert_eq!(u.host.unwrap().ip(), None);
        },
    },
];

#[test]
fn every_fixture_has_a_row() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files = 0;
    for sub in ["rfc4475", "rfc5118"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".dat") {
                files += 1;
                let key = format!("{sub}/{name}");
                assert!(CASES.iter().any(|c| c.file == key), "no row for {key}");
            }
        }
    }
    assert_eq!(files, 49 + 12);
    assert_eq!(CASES.len(), 49 + 12);
}

#[test]
fn torture_messages_as_datagrams() {
    for case in CASES {
        let buf = fixture(case.file);
        let mut headers = [Header::EMPTY; 64];
        let msg = Message::parse_datagram(&buf, &mut headers)
            .unwrap_or_else(|e| panic!("{}: {e}", case.file));
        let found = msg.validate();
        match case.verdict {
            Valid { allowed } => {
                let extra: Vec<_> = found.iter().filter(|a| !allowed.contains(a)).collect();
                assert!(extra.is_empty(), "{}: unexpected {extra:?}", case.file);
            }
            Invalid { flag } => assert!(
                found.contains(flag),
                "{}: {found:?} lacks {flag:?}",
                case.file
            ),
        }
        (case.check)(&msg);
        // The source-relevant facts are readable on every message that has them.
        if msg.is_request() {
            assert!(msg.method().is_some(), "{}", case.file);
        }
        let _ = text(msg.user_agent());
    }
}

#[test]
fn torture_messages_as_a_stream_never_panic() {
    let parser = StreamParser::default();
    for case in CASES {
        let buf = fixture(case.file);
        // Every prefix is either Partial, a message, or a framing error — never a panic.
        for cut in 0..=buf.len() {
            let mut headers = [Header::EMPTY; 64];
            match parser.parse(&buf[..cut], &mut headers) {
                Ok(Status::Complete(Frame::Message(m))) => assert!(m.len() <= cut),
                Ok(Status::Complete(Frame::KeepAlive { len, .. })) => assert!(len <= cut),
                Ok(Status::Partial) | Err(_) => {}
            }
        }
    }
}

#[test]
fn dblreq_yields_two_messages_on_a_stream() {
    let buf = fixture("rfc4475/dblreq.dat");
    let parser = StreamParser::default();
    let mut rest = &buf[..];
    let mut methods = Vec::new();
    loop {
        let mut headers = [Header::EMPTY; 32];
        match parser.parse(rest, &mut headers) {
            Ok(Status::Complete(Frame::Message(m))) => {
                methods.push(m.method().unwrap().as_str().to_owned());
                rest = &rest[m.len()..];
            }
            Ok(Status::Complete(Frame::KeepAlive { len, .. })) => rest = &rest[len..],
            Ok(Status::Partial) => panic!("unexpected Partial"),
            // The INVITE's body is 5 bytes longer than its Content-Length: on a stream those
            // bytes ("C" CRLF CRLF) are a message without Content-Length.
            Err(e) => {
                assert_eq!(e, pbxguard_sip::Error::MissingContentLength);
                assert_eq!(rest, b"C\r\n\r\n");
                break;
            }
        }
    }
    assert_eq!(methods, ["REGISTER", "INVITE"]);
}

#[test]
fn fixtures_are_byte_exact() {
    // The SHA256SUMS files pin the bytes; CRLF must have survived checkout.
    for file in ["rfc4475/wsinv.dat", "rfc5118/ipv6-good.dat"] {
        let buf = fixture(file);
        assert!(
            buf.windows(2).any(|w| w == b"\r\n"),
            "{file} lost its CRLFs"
        );
    }
    let sums = String::from_utf8(fixture("rfc4475/SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 49);
    let sums = String::from_utf8(fixture("rfc5118/SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 12);
}
