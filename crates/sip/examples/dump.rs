//! Prints what the parser sees in SIP message files: start line, anomalies, key fields.
//!
//! `cargo run -p pbxguard-sip --example dump -- FILE...`
#![allow(clippy::unwrap_used, clippy::expect_used)]
use pbxguard_sip::{Header, Message};

fn main() {
    for path in std::env::args().skip(1) {
        let buf = std::fs::read(&path).expect("read");
        let mut headers = [Header::EMPTY; 128];
        match Message::parse_datagram(&buf, &mut headers) {
            Err(e) => println!("{path}: error {e}"),
            Ok(m) => {
                println!(
                    "{path}: {:?} anomalies={:?} via={:?} from={:?} cseq={:?} body={}",
                    m.method()
                        .map(|x| x.as_str())
                        .or(m.status().map(|_| "RESPONSE")),
                    m.validate(),
                    m.via().map(|v| (v.host.as_str(), v.port, v.branch())),
                    m.from().map(|f| (f.uri.user, f.tag())),
                    m.cseq().map(|c| c.seq),
                    m.body().len()
                );
            }
        }
    }
}
