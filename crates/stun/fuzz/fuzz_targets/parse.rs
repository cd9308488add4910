//! Every parser entry point on arbitrary bytes: framing, every typed accessor, integrity and
//! fingerprint checks. None may panic; a message that parses must survive a rebuild.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxguard_stun::{Message, MessageBuilder, looks_like_stun};

fuzz_target!(|data: &[u8]| {
    let _ = looks_like_stun(data);
    if let Ok(legacy) = Message::parse_rfc3489(data) {
        let _ = legacy.rfc3489_transaction_id();
        let _ = legacy.mapped_address();
        let _ = legacy.response_origin();
        let _ = legacy.other_address();
    }
    let Ok(m) = Message::parse(data) else { return };
    let _ = m.xor_mapped_address();
    let _ = m.mapped_address();
    let _ = m.reflexive_address();
    let _ = m.other_address();
    let _ = m.response_origin();
    let _ = m.change_request();
    let _ = m.response_port();
    let _ = m.error_code();
    let _ = m.unknown_attributes();
    let _ = m.software();
    let _ = m.username();
    let _ = m.unknown_required(&[]);
    let _ = m.fingerprint();
    let _ = m.verify_integrity(b"key");
    // Re-encode every attribute up to the trailer: the builder must accept what the parser accepted.
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, m.class(), m.method(), m.transaction_id());
    for a in m.attributes() {
        if a.attr == pbxguard_stun::AttrType::MESSAGE_INTEGRITY
            || a.attr == pbxguard_stun::AttrType::FINGERPRINT
        {
            break;
        }
        b.add_raw(a.attr, a.value);
    }
    let built = b.finish();
    assert!(built.is_ok(), "rebuild failed: {built:?}");
    let again = Message::parse(&buf);
    assert!(again.is_ok(), "rebuilt message does not parse: {again:?}");
});
