//! Codec speed against a peer in the same run: decoding the RFC 5769 IPv4 Binding response (the
//! mapped address and the FINGERPRINT check are what a client needs), and encoding a Binding
//! response like the reflector's. Peer: the `stun_codec` crate.
//!
//! `cargo bench -p pbxguard-stun --bench codec`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;

use bytecodec::{DecodeExt, EncodeExt};
use criterion::{Criterion, criterion_group, criterion_main};
use pbxguard_stun::{Class, Fingerprint, Message, MessageBuilder, Method, TransactionId};

const IPV4_RESPONSE: &[u8] = include_bytes!("../tests/fixtures/rfc5769-2.2-ipv4-response.dat");

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_rfc5769_ipv4_response");
    g.bench_function("pbxguard-stun", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(IPV4_RESPONSE)).unwrap();
            assert_eq!(m.fingerprint(), Fingerprint::Valid);
            black_box(m.xor_mapped_address().unwrap())
        });
    });
    g.bench_function("stun_codec", |b| {
        let mut decoder = stun_codec::MessageDecoder::<stun_codec::rfc5389::Attribute>::new();
        b.iter(|| {
            let m = decoder
                .decode_from_bytes(black_box(IPV4_RESPONSE))
                .unwrap()
                .unwrap();
            black_box(
                m.get_attribute::<stun_codec::rfc5389::attributes::XorMappedAddress>()
                    .map(|a| a.address()),
            )
        });
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mapped: SocketAddr = "192.0.2.1:32853".parse().unwrap();
    let origin: SocketAddr = "198.51.100.10:3478".parse().unwrap();
    let other: SocketAddr = "198.51.100.11:3479".parse().unwrap();
    let tid = [7u8; 12];
    let mut g = c.benchmark_group("encode_binding_response");
    g.bench_function("pbxguard-stun", |b| {
        let mut buf = Vec::with_capacity(128);
        b.iter(|| {
            let mut m = MessageBuilder::new(
                &mut buf,
                Class::SuccessResponse,
                Method::BINDING,
                TransactionId(tid),
            );
            m.add_xor_mapped_address(black_box(mapped))
                .add_mapped_address(mapped)
                .add_response_origin(origin)
                .add_other_address(other)
                .add_software("pbxguard")
                .add_fingerprint();
            black_box(m.finish().unwrap())
        });
    });
    g.bench_function("stun_codec", |b| {
        use stun_codec::rfc5389::attributes::{
            Fingerprint, MappedAddress, Software, XorMappedAddress,
        };
        use stun_codec::rfc5780::attributes::{OtherAddress, ResponseOrigin};
        stun_codec::define_attribute_enums!(
            Attr,
            AttrDecoder,
            AttrEncoder,
            [
                XorMappedAddress,
                MappedAddress,
                ResponseOrigin,
                OtherAddress,
                Software,
                Fingerprint
            ]
        );
        let mut encoder = stun_codec::MessageEncoder::<Attr>::new();
        b.iter(|| {
            let mut m = stun_codec::Message::<Attr>::new(
                stun_codec::MessageClass::SuccessResponse,
                stun_codec::rfc5389::methods::BINDING,
                stun_codec::TransactionId::new(tid),
            );
            m.add_attribute(Attr::XorMappedAddress(XorMappedAddress::new(black_box(
                mapped,
            ))));
            m.add_attribute(Attr::MappedAddress(MappedAddress::new(mapped)));
            m.add_attribute(Attr::ResponseOrigin(ResponseOrigin::new(origin)));
            m.add_attribute(Attr::OtherAddress(OtherAddress::new(other)));
            m.add_attribute(Attr::Software(
                Software::new("pbxguard".to_owned()).unwrap(),
            ));
            m.add_attribute(Attr::Fingerprint(Fingerprint::new(&m).unwrap()));
            black_box(encoder.encode_into_bytes(m).unwrap())
        });
    });
    g.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
