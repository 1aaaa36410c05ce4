//! A search checks its candidates only against the part of the filter the indexes did not
//! answer exactly, and may skip reading the types only that part needed: these tests pin
//! down that a write in between is still seen and that a reduced read can be completed.

use birch_schema::Schema;
use birch_store::{Entry, Filter, IndexConfig, Scope, Store, StoreError};
use std::sync::Arc;

fn attrs(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<Vec<u8>>)> {
    pairs.iter().map(|(a, vs)| (a.to_string(), vs.iter().map(|v| v.as_bytes().to_vec()).collect())).collect()
}

/// A store with dc=x and two posixGroups: g1 (members a, b) and g2 (member a).
fn groups() -> (tempfile::TempDir, Store, u64, Entry) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path(), Arc::new(Schema::builtin()), IndexConfig::default(), 8 << 20).expect("open");
    let root = s.make_entry("dc=x", attrs(&[("objectClass", &["domain"]), ("dc", &["x"])])).expect("root");
    let root_id = s.add(root, true).expect("add root");
    for (cn, gid, members) in [("g1", "1", &["a", "b"][..]), ("g2", "2", &["a"][..])] {
        let e = s
            .make_entry(
                &format!("cn={cn},dc=x"),
                attrs(&[
                    ("objectClass", &["posixGroup"]),
                    ("cn", &[cn]),
                    ("gidNumber", &[gid]),
                    ("memberUid", members),
                ]),
            )
            .expect("group");
        s.add(e, false).expect("add group");
    }
    let base = s.get(root_id).expect("get").expect("root entry");
    (dir, s, root_id, base)
}

fn member_filter(s: &Store, uid: &str) -> Filter {
    Filter::And(vec![
        Filter::equality(s.schema(), "objectClass", b"posixGroup", None),
        Filter::equality(s.schema(), "memberUid", uid.as_bytes(), None),
    ])
}

fn remove_member(s: &Store, ndn: &str, uid: &str) {
    s.modify(ndn, |e: &mut Entry| {
        let a = e.attrs.iter_mut().find(|a| a.canonical == "memberuid").expect("memberUid");
        a.values.retain(|v| v != uid.as_bytes());
        Ok::<(), StoreError>(())
    })
    .expect("modify");
}

#[test]
fn a_write_after_planning_is_seen() {
    let (_d, s, root_id, base) = groups();
    // Planned while g1 lists b; b leaves g1 before the candidate is read.
    let it = s.search(root_id, &base, Scope::Sub, member_filter(&s, "b")).expect("search");
    remove_member(&s, "cn=g1,dc=x", "b");
    let found: Vec<String> = it.map(|e| e.expect("entry").ndn).collect();
    assert!(found.is_empty(), "{found:?}");
    // Planned afterwards: nothing either, and a still finds both groups.
    let found: Vec<String> = s
        .search(root_id, &base, Scope::Sub, member_filter(&s, "b"))
        .expect("search")
        .map(|e| e.expect("e").ndn)
        .collect();
    assert!(found.is_empty(), "{found:?}");
    let mut found: Vec<String> = s
        .search(root_id, &base, Scope::Sub, member_filter(&s, "a"))
        .expect("search")
        .map(|e| e.expect("e").ndn)
        .collect();
    found.sort();
    assert_eq!(found, ["cn=g1,dc=x", "cn=g2,dc=x"]);
}

#[test]
fn a_reduced_read_skips_the_answered_type_and_can_be_completed() {
    let (_d, s, root_id, base) = groups();
    let types: Arc<[String]> = vec!["cn".to_string(), "objectclass".into(), "memberuid".into()].into();
    let mut it = s.search(root_id, &base, Scope::Sub, member_filter(&s, "b")).expect("search");
    it.only(types.clone());
    it.read_for_filter(&["memberuid".to_string()]);
    let e = it.next().expect("a match").expect("entry");
    assert_eq!(e.ndn, "cn=g1,dc=x");
    assert!(it.last_reduced());
    assert!(e.attrs.iter().all(|a| a.canonical != "memberuid"), "{:?}", e.attrs);
    let whole = it.reread_last().expect("reread").expect("still there");
    let members = whole.attrs.iter().find(|a| a.canonical == "memberuid").expect("memberUid read");
    assert_eq!(members.values.len(), 2);
    assert!(it.next().is_none());

    // After a write, candidates are read whole and checked against the whole filter.
    let mut it = s.search(root_id, &base, Scope::Sub, member_filter(&s, "a")).expect("search");
    it.only(types);
    it.read_for_filter(&["memberuid".to_string()]);
    remove_member(&s, "cn=g2,dc=x", "a");
    let e = it.next().expect("g1 still matches").expect("entry");
    assert_eq!(e.ndn, "cn=g1,dc=x");
    assert!(!it.last_reduced());
    assert!(e.attrs.iter().any(|a| a.canonical == "memberuid"));
    assert!(it.next().is_none(), "g2 no longer lists a");
}
