//! The test vectors of RFC 5769 ("Test Vectors for STUN"), decoded and checked byte for byte, and
//! rebuilt with [`MessageBuilder`].

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;

use pbxguard_stun::{
    AttrType, Class, Fingerprint, IntegrityError, Message, MessageBuilder, Method, TransactionId,
};

const SHORT_TERM_PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";
const TID: TransactionId = TransactionId([
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
]);

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn rfc5769_2_1_sample_request() {
    let bytes = fixture("rfc5769-2.1-request.dat");
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.class(), Class::Request);
    assert_eq!(m.method(), Method::BINDING);
    assert_eq!(m.transaction_id(), TID);
    assert_eq!(m.software(), Ok(Some("STUN test client")));
    assert_eq!(m.username(), Ok(Some("evtj:h6vY")));
    // PRIORITY (0x0024) and ICE-CONTROLLED (0x8029) are ICE attributes this crate leaves raw.
    assert_eq!(
        m.get(AttrType(0x0024)).map(|a| a.value),
        Some(&[0x6e, 0x00, 0x01, 0xff][..])
    );
    assert_eq!(m.get(AttrType(0x8029)).map(|a| a.value.len()), Some(8));
    assert_eq!(m.verify_integrity(SHORT_TERM_PASSWORD), Ok(()));
    assert_eq!(m.fingerprint(), Fingerprint::Valid);
    assert_eq!(
        m.unknown_required(&[AttrType::USERNAME, AttrType::MESSAGE_INTEGRITY]),
        vec![AttrType(0x0024)]
    );
}

fn check_response(name: &str, mapped: &str) {
    let bytes = fixture(name);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(m.method(), Method::BINDING);
    assert_eq!(m.transaction_id(), TID);
    assert_eq!(m.software(), Ok(Some("test vector")));
    let mapped: SocketAddr = mapped.parse().unwrap();
    assert_eq!(m.xor_mapped_address(), Ok(Some(mapped)));
    assert_eq!(m.reflexive_address(), Ok(Some(mapped)));
    assert_eq!(m.verify_integrity(SHORT_TERM_PASSWORD), Ok(()));
    assert_eq!(m.fingerprint(), Fingerprint::Valid);

    // Rebuilt with our builder, the message differs only in padding bytes (the RFC pads SOFTWARE
    // with a space, we pad with zeros), so integrity and fingerprint must still verify and the
    // attributes must read back the same.
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::SuccessResponse, Method::BINDING, TID);
    b.add_software("test vector")
        .add_xor_mapped_address(mapped)
        .add_integrity(SHORT_TERM_PASSWORD)
        .add_fingerprint();
    assert_eq!(b.finish(), Ok(bytes.len()));
    let ours = Message::parse(&buf).unwrap();
    assert_eq!(ours.xor_mapped_address(), Ok(Some(mapped)));
    assert_eq!(ours.verify_integrity(SHORT_TERM_PASSWORD), Ok(()));
    assert_eq!(ours.fingerprint(), Fingerprint::Valid);
    // Same bytes up to the SOFTWARE padding byte (offset 20 + 4 + 11).
    assert_eq!(buf[..35], bytes[..35]);
    assert_eq!(buf[36..buf.len() - 32], bytes[36..bytes.len() - 32]);
}

#[test]
fn rfc5769_2_2_ipv4_response() {
    check_response("rfc5769-2.2-ipv4-response.dat", "192.0.2.1:32853");
}

#[test]
fn rfc5769_2_3_ipv6_response() {
    check_response(
        "rfc5769-2.3-ipv6-response.dat",
        "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
    );
}

#[test]
fn rfc5769_2_4_long_term_request() {
    let bytes = fixture("rfc5769-2.4-long-term-request.dat");
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.class(), Class::Request);
    assert_eq!(
        m.username(),
        Ok(Some("\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}"))
    );
    assert_eq!(
        m.get(AttrType::NONCE).map(|a| a.value),
        Some(&b"f//499k954d6OL34oL9FSTvy64sA"[..])
    );
    assert_eq!(
        m.get(AttrType::REALM).map(|a| a.value),
        Some(&b"example.org"[..])
    );
    assert_eq!(m.fingerprint(), Fingerprint::Absent);
    // Long-term key: MD5("<username>:example.org:TheMatrIX"), the password after SASLprep.
    let key = [
        0xe8, 0xca, 0x7a, 0xd5, 0x9d, 0x5e, 0xb0, 0x51, 0x8e, 0x31, 0x29, 0x11, 0xd2, 0xda, 0xb2,
        0xa9,
    ];
    assert_eq!(m.verify_integrity(&key), Ok(()));
    assert_eq!(
        m.verify_integrity(b"TheMatrIX"),
        Err(IntegrityError::Mismatch)
    );
}

#[test]
fn a_flipped_bit_anywhere_breaks_integrity_or_fingerprint() {
    let bytes = fixture("rfc5769-2.1-request.dat");
    for i in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[i / 8] ^= 1 << (i % 8);
        let Ok(m) = Message::parse(&b) else { continue };
        let intact = m.verify_integrity(SHORT_TERM_PASSWORD).is_ok()
            && m.fingerprint() == Fingerprint::Valid;
        assert!(!intact, "bit {i} flipped without detection");
    }
}
