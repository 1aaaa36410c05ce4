//! Micro-benchmarks: entry encode/decode, filter evaluation, planned indexed search.

use birch_schema::Schema;
use birch_store::{Entry, Filter, IndexConfig, Scope, Store};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::sync::Arc;

fn user(store: &Store, n: usize) -> Entry {
    let uid = format!("user{n:05}");
    let attrs: Vec<(String, Vec<Vec<u8>>)> = vec![
        ("objectClass".into(), vec![b"inetOrgPerson".to_vec(), b"posixAccount".to_vec(), b"shadowAccount".to_vec()]),
        ("uid".into(), vec![uid.clone().into_bytes()]),
        ("cn".into(), vec![format!("User Number {n}").into_bytes()]),
        ("sn".into(), vec![b"Number".to_vec()]),
        ("mail".into(), vec![format!("{uid}@campus.example").into_bytes()]),
        ("uidNumber".into(), vec![(10000 + n).to_string().into_bytes()]),
        ("gidNumber".into(), vec![b"20001".to_vec()]),
        ("homeDirectory".into(), vec![format!("/home/{uid}").into_bytes()]),
        ("loginShell".into(), vec![b"/bin/bash".to_vec()]),
        ("userPassword".into(), vec![b"{SSHA}abcdefghijklmnopqrstuvwxyz0123456789".to_vec()]),
    ];
    store.make_entry(&format!("uid={uid},ou=people,dc=campus,dc=example"), attrs).expect("entry")
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = Arc::new(Schema::builtin());
    let store = Store::open(dir.path(), schema.clone(), IndexConfig::default(), 64 << 20).expect("open");
    let root = store
        .make_entry(
            "dc=campus,dc=example",
            vec![("objectClass".into(), vec![b"domain".to_vec()]), ("dc".into(), vec![b"campus".to_vec()])],
        )
        .expect("root");
    let root_id = store.add(root, true).expect("add root");
    let people = store
        .make_entry(
            "ou=people,dc=campus,dc=example",
            vec![("objectClass".into(), vec![b"organizationalUnit".to_vec()]), ("ou".into(), vec![b"people".to_vec()])],
        )
        .expect("ou");
    store.add(people, false).expect("add ou");
    let mut loader = store.bulk_loader(5000);
    for n in 1..=10_000 {
        loader.add(user(&store, n), false).expect("add user");
    }
    loader.finish().expect("finish");

    let e = user(&store, 42);
    let encoded = e.encode();
    c.bench_function("entry_encode", |b| b.iter(|| black_box(&e).encode()));
    c.bench_function("entry_decode", |b| b.iter(|| Entry::decode(black_box(&encoded)).expect("decode")));
    // What search-uid reads: the six selected attributes, the filter's and objectClass.
    let wanted: Vec<String> = ["uid", "cn", "uidnumber", "gidnumber", "homedirectory", "loginshell", "objectclass"]
        .map(String::from)
        .to_vec();
    c.bench_function("entry_decode_only_7_of_10", |b| {
        b.iter(|| Entry::decode_only(black_box(&encoded), &wanted).expect("decode"))
    });

    let f = Filter::And(vec![
        Filter::equality(&schema, "objectClass", b"posixAccount", None),
        Filter::equality(&schema, "uid", b"user00042", None),
    ]);
    c.bench_function("filter_eval_and_eq", |b| b.iter(|| f.eval(black_box(&e), &schema)));
    let sub = Filter::substring(&schema, "cn", Some(b"user"), &[b"number"], Some(b"42"));
    c.bench_function("filter_eval_substring", |b| b.iter(|| sub.eval(black_box(&e), &schema)));

    let base = store.get(root_id).expect("get").expect("root");
    c.bench_function("search_uid_indexed_10k", |b| {
        b.iter(|| {
            let f = Filter::equality(&schema, "uid", b"user04242", None);
            store.search(root_id, &base, Scope::Sub, f).expect("search").count()
        })
    });
}

criterion_group!(store_benches, benches);
criterion_main!(store_benches);
