//! Micro-benchmarks of the wire path: decoding a search request and a bind request
//! (Birch's codec, which uses its direct decoder, against ldap3_proto's parser, which it
//! replaces for the common requests) and encoding a search result entry (Birch's direct
//! encoder against ldap3_lber's tag tree, which it replaces for the common responses).

use birch_proto::codec::decode_with_ldap3;
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapDerefAliases, LdapFilter, LdapMsg, LdapOp, LdapPartialAttribute,
    LdapSearchRequest, LdapSearchResultEntry, LdapSearchScope,
};
use birch_proto::BirchCodec;
use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tokio_util::codec::{Decoder, Encoder};

/// A subtree search under the people branch, as workstations send them.
fn search_under_people(msgid: i32, filter: LdapFilter, attrs: &[&str], ctrl: Vec<LdapControl>) -> LdapMsg {
    LdapMsg {
        msgid,
        op: LdapOp::SearchRequest(LdapSearchRequest {
            base: "ou=people,dc=campus,dc=example".into(),
            scope: LdapSearchScope::Subtree,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter,
            attrs: attrs.iter().map(|a| a.to_string()).collect(),
        }),
        ctrl,
    }
}

fn search_request() -> LdapMsg {
    let filter = LdapFilter::Equality("uid".into(), "user04242".into());
    search_under_people(7, filter, &["uid", "cn", "uidNumber", "gidNumber", "homeDirectory", "loginShell"], vec![])
}

/// A search as paging clients send it: substring filter under an AND, paged results control.
fn paged_search_request() -> LdapMsg {
    let filter = LdapFilter::And(vec![
        LdapFilter::Equality("objectClass".into(), "posixAccount".into()),
        LdapFilter::Substring("cn".into(), "User*42".into()),
    ]);
    search_under_people(8, filter, &["uid", "cn"], vec![LdapControl::SimplePagedResults { size: 100, cookie: vec![] }])
}

fn bind_request() -> LdapMsg {
    LdapMsg {
        msgid: 1,
        op: LdapOp::BindRequest(LdapBindRequest {
            version: 3,
            dn: "uid=user04242,ou=people,dc=campus,dc=example".into(),
            cred: LdapBindCred::Simple("password04242".into()),
        }),
        ctrl: vec![],
    }
}

fn wire(msg: LdapMsg) -> BytesMut {
    let mut buf = BytesMut::new();
    let tag: birch_proto::ldap3_lber::structure::StructureTag = msg.into();
    birch_proto::ldap3_lber::write::encode_into(&mut buf, tag).expect("encode request");
    buf
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
    for (name, msg) in [
        ("search_request", search_request()),
        ("paged_search_request", paged_search_request()),
        ("bind_request", bind_request()),
    ] {
        let wire = wire(msg);
        // Through the codec (framing, then the direct decoder): what the server does.
        c.bench_function(&format!("decode_{name}"), |b| {
            b.iter(|| {
                let mut buf = wire.clone();
                BirchCodec::new(1 << 20).decode(black_box(&mut buf)).expect("decode").expect("one message")
            })
        });
        // ldap3_proto's parser on the same frame (copied, as above): what the codec did before.
        c.bench_function(&format!("decode_{name}_ldap3_proto"), |b| {
            b.iter(|| {
                let buf = wire.clone();
                decode_with_ldap3(black_box(&buf)).expect("decode")
            })
        });
    }
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
