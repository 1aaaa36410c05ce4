//! Property: a search planned through the indexes returns exactly the entries that a full
//! scan evaluating the filter on every entry returns.

use birch_schema::Schema;
use birch_store::{Filter, IndexConfig, Scope, Store, Tri};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Small alphabets so that filters hit often, with characters RFC 4518 preparation
/// changes: ß (folds to ss), dotless and dotted i, the ﬁ ligature and fullwidth letters
/// (NFKC), a combining acute accent, a soft hyphen (mapped to nothing), a no-break space
/// (a space), Chinese characters.
fn value() -> impl Strategy<Value = String> {
    "[abAB sSßıIiİﬁfＡＢ陈伟Éé\u{0301}\u{00AD}\u{00A0}]{0,5}[abß陈]"
}

/// Substring components from the same alphabet.
fn component() -> &'static str {
    "[abAsSßıiİﬁfＡ陈é\u{0301}\u{00AD}]{1,3}"
}

#[derive(Debug, Clone)]
struct Person {
    uid: String,
    cn: Vec<String>,
    sn: Option<String>,
    uid_number: u16,
    posix: bool,
    /// Language-tagged values (RFC 3866): `cn;lang-..` and `sn;lang-..`, tags in any case.
    tagged: Vec<(&'static str, String)>,
}

/// Tagged descriptions, some differing only in case (they are one attribute).
fn tagged() -> impl Strategy<Value = (&'static str, String)> {
    (prop::sample::select(vec!["cn;lang-en", "CN;Lang-EN", "cn;lang-de", "sn;lang-en", "cn;lang-de;lang-en"]), value())
}

fn person() -> impl Strategy<Value = Person> {
    (
        value(),
        proptest::collection::vec(value(), 1..3),
        proptest::option::of(value()),
        0u16..20,
        any::<bool>(),
        proptest::collection::vec(tagged(), 0..3),
    )
        .prop_map(|(uid, cn, sn, uid_number, posix, tagged)| Person { uid, cn, sn, uid_number, posix, tagged })
}

fn leaf(schema: &'static Schema) -> impl Strategy<Value = Filter> {
    prop_oneof![
        value().prop_map(move |v| Filter::equality(schema, "uid", v.as_bytes(), None)),
        value().prop_map(move |v| Filter::equality(schema, "commonName", v.as_bytes(), None)),
        value().prop_map(move |v| Filter::equality(schema, "sn", v.as_bytes(), None)),
        // A supertype: matches cn and sn values, its own index (none) does not answer it.
        value().prop_map(move |v| Filter::equality(schema, "name", v.as_bytes(), None)),
        Just(Filter::equality(schema, "objectClass", b"posixAccount", None)),
        Just(Filter::equality(schema, "noSuchAttribute", b"a", None)),
        (prop::sample::select(vec!["cn;lang-en", "CN;LANG-EN", "cn;lang-de", "sn;lang-en", "cn;x-bad"]), value())
            .prop_map(move |(a, v)| Filter::equality(schema, a, v.as_bytes(), None)),
        component().prop_map(move |v| Filter::substring(schema, "cn;lang-de", None, &[v.as_bytes()], None)),
        Just(Filter::present(schema, "sn;lang-en")),
        Just(Filter::present(schema, "cn;lang-de")),
        (
            proptest::option::of(component()),
            proptest::collection::vec("[ab sßﬁ\u{00A0}]{1,3}", 0..2),
            proptest::option::of(component())
        )
            .prop_map(move |(i, any, f)| {
                let any: Vec<&[u8]> = any.iter().map(|s| s.as_bytes()).collect();
                Filter::substring(schema, "cn", i.as_deref().map(str::as_bytes), &any, f.as_deref().map(str::as_bytes))
            }),
        component().prop_map(move |v| Filter::substring(schema, "uid", None, &[v.as_bytes()], None)),
        Just(Filter::present(schema, "sn")),
        Just(Filter::present(schema, "uid")),
        (0u16..20, any::<bool>()).prop_map(move |(n, ge)| Filter::ordering(
            schema,
            "uidNumber",
            n.to_string().as_bytes(),
            ge
        )),
    ]
}

fn filter(schema: &'static Schema) -> impl Strategy<Value = Filter> {
    leaf(schema).prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Filter::And),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

fn schema() -> &'static Schema {
    static S: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
    S.get_or_init(Schema::builtin)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn indexed_plan_matches_full_scan(people in proptest::collection::vec(person(), 1..40), filters in proptest::collection::vec(filter(schema()), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        // Random values repeat: no uniqueness constraint here.
        let cfg = IndexConfig { unique: Default::default(), ..IndexConfig::default() };
        let store = Store::open(dir.path(), Arc::new(Schema::builtin()), cfg, 8 << 20).unwrap();
        let root = store.make_entry("dc=x", vec![("objectClass".into(), vec![b"domain".to_vec()]), ("dc".into(), vec![b"x".to_vec()])]).unwrap();
        let root_id = store.add(root, true).unwrap();
        let mut all = Vec::new();
        for (i, p) in people.iter().enumerate() {
            let mut attrs: Vec<(String, Vec<Vec<u8>>)> = vec![
                ("objectClass".into(), if p.posix { vec![b"account".to_vec(), b"posixAccount".to_vec()] } else { vec![b"account".to_vec()] }),
                ("uid".into(), vec![p.uid.clone().into_bytes()]),
                ("cn".into(), p.cn.iter().map(|c| c.clone().into_bytes()).collect()),
                ("uidNumber".into(), vec![p.uid_number.to_string().into_bytes()]),
                ("serialNumber".into(), vec![i.to_string().into_bytes()]),
            ];
            if let Some(sn) = &p.sn {
                attrs.push(("sn".into(), vec![sn.clone().into_bytes()]));
            }
            for (desc, v) in &p.tagged {
                attrs.push((desc.to_string(), vec![v.clone().into_bytes()]));
            }
            let e = store.make_entry(&format!("serialNumber={i},dc=x"), attrs).unwrap();
            store.add(e, false).unwrap();
        }
        // Delete a few, so that posting lists also shrink.
        for i in (0..people.len()).step_by(5) {
            store.delete(&format!("serialnumber={i},dc=x")).unwrap();
        }
        for e in store.walk().unwrap() {
            all.push(e.unwrap());
        }
        let base = store.get(root_id).unwrap().unwrap();
        for f in filters {
            let planned: BTreeSet<String> = store.search(root_id, &base, Scope::Sub, f.clone()).unwrap().map(|e| e.unwrap().ndn).collect();
            let scanned: BTreeSet<String> = all.iter().filter(|e| f.eval(e, store.schema()) == Tri::True).map(|e| e.ndn.clone()).collect();
            prop_assert_eq!(&planned, &scanned, "filter {:?}", f);
            // Reading only the filter's types, those the index answers skipped (as the
            // server asks): the same entries.
            let mut types = Vec::new();
            f.attributes(&mut types);
            let mut types: Vec<String> = types.into_iter().flat_map(|t| store.schema().subtypes(t).into_iter().map(str::to_string).collect::<Vec<_>>().into_iter().chain([t.to_string()])).collect();
            types.sort();
            types.dedup();
            let mut it = store.search(root_id, &base, Scope::Sub, f.clone()).unwrap();
            it.only(types.clone().into());
            it.read_for_filter(&types);
            let reduced: BTreeSet<String> = it.map(|e| e.unwrap().ndn).collect();
            prop_assert_eq!(&reduced, &scanned, "filter {:?}, reading {:?}", f, types);
        }
        prop_assert!(store.check().unwrap().is_empty());
    }
}
