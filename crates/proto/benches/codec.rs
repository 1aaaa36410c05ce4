//! Micro-benchmarks of the wire path: decoding a search request (ldap3_proto's parser
//! behind Birch's framing) and encoding a search result entry (Birch's direct encoder
//! against ldap3_lber's tag tree, which it replaces for the common responses).

use birch_proto::ldap3_proto::proto::{
    LdapDerefAliases, LdapFilter, LdapMsg, LdapOp, LdapPartialAttribute, LdapSearchRequest, LdapSearchResultEntry,
    LdapSearchScope,
};
use birch_proto::BirchCodec;
use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tokio_util::codec::{Decoder, Encoder};

fn search_request() -> LdapMsg {
    LdapMsg {
        msgid: 7,
        op: LdapOp::SearchRequest(LdapSearchRequest {
            base: "ou=people,dc=campus,dc=example".into(),
            scope: LdapSearchScope::Subtree,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: LdapFilter::Equality("uid".into(), "user04242".into()),
            attrs: ["uid", "cn", "uidNumber", "gidNumber", "homeDirectory", "loginShell"].map(String::from).to_vec(),
        }),
        ctrl: vec![],
    }
}

fn search_entry() -> LdapMsg {
    let attr = |t: &str, v: &str| LdapPartialAttribute { atype: t.into(), vals: vec![v.as_bytes().to_vec()] };
    LdapMsg {
        msgid: 7,
        op: LdapOp::SearchResultEntry(LdapSearchResultEntry {
            dn: "uid=user04242,ou=people,dc=campus,dc=example".into(),
            attributes: vec![
                attr("uid", "user04242"),
                attr("cn", "User Number 4242"),
                attr("uidNumber", "14242"),
                attr("gidNumber", "20001"),
                attr("homeDirectory", "/home/user04242"),
                attr("loginShell", "/bin/bash"),
            ],
        }),
        ctrl: vec![],
    }
}

fn benches(c: &mut Criterion) {
    let mut wire = BytesMut::new();
    let tag: birch_proto::ldap3_lber::structure::StructureTag = search_request().into();
    birch_proto::ldap3_lber::write::encode_into(&mut wire, tag).expect("encode request");
    c.bench_function("decode_search_request", |b| {
        b.iter(|| {
            let mut buf = wire.clone();
            BirchCodec::new(1 << 20).decode(black_box(&mut buf)).expect("decode").expect("one message")
        })
    });
    let entry = search_entry();
    c.bench_function("encode_search_entry_direct", |b| {
        b.iter(|| {
            let mut buf = BytesMut::with_capacity(256);
            BirchCodec::new(usize::MAX).encode(black_box(entry.clone()), &mut buf).expect("encode");
            buf
        })
    });
    c.bench_function("encode_search_entry_ldap3_lber", |b| {
        b.iter(|| {
            let mut buf = BytesMut::with_capacity(256);
            let tag: birch_proto::ldap3_lber::structure::StructureTag = black_box(entry.clone()).into();
            birch_proto::ldap3_lber::write::encode_into(&mut buf, tag).expect("encode");
            buf
        })
    });
}

criterion_group!(codec_benches, benches);
criterion_main!(codec_benches);
