//! `Store::get_by_ndn_only` remembers the ids of the DNs it looked up; a remembered id must
//! never answer for a DN whose entry was renamed, deleted or added again under a new id.

use birch_schema::{Dn, Schema};
use birch_store::{Entry, IndexConfig, Store, StoreError};
use std::sync::Arc;

fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, Vec<Vec<u8>>)> {
    pairs.iter().map(|(a, v)| (a.to_string(), vec![v.as_bytes().to_vec()])).collect()
}

fn account(s: &Store, uid: &str) -> Entry {
    s.make_entry(&format!("uid={uid},dc=x"), attrs(&[("objectClass", "account"), ("uid", uid)])).expect("entry")
}

#[test]
fn a_remembered_id_follows_renames_deletes_and_re_adds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path(), Arc::new(Schema::builtin()), IndexConfig::default(), 8 << 20).expect("open");
    s.add(s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).expect("root"), true).expect("add");
    let types = vec!["uid".to_string()];
    let lookup = |ndn: &str| s.get_by_ndn_only(ndn, &types).expect("lookup").map(|(id, e)| (id, e.ndn));
    let first = s.add(account(&s, "a"), false).expect("add a");
    assert_eq!(lookup("uid=a,dc=x"), Some((first, "uid=a,dc=x".to_string())));
    assert_eq!(lookup("uid=a,dc=x"), Some((first, "uid=a,dc=x".to_string())), "from the remembered id");

    // Renamed: the old DN is gone, the new one has the same id.
    let new_dn = Dn::parse("uid=b,dc=x").expect("dn");
    s.rename("uid=a,dc=x", &new_dn, |e: &mut Entry| {
        if let Some(a) = e.attrs.iter_mut().find(|a| a.canonical == "uid") {
            a.values = vec![b"b".to_vec()];
        }
        Ok::<(), StoreError>(())
    })
    .expect("rename");
    assert_eq!(lookup("uid=a,dc=x"), None);
    assert_eq!(lookup("uid=b,dc=x"), Some((first, "uid=b,dc=x".to_string())));

    // Deleted, then added again: a new id.
    s.delete("uid=b,dc=x").expect("delete");
    assert_eq!(lookup("uid=b,dc=x"), None);
    let second = s.add(account(&s, "a"), false).expect("add a again");
    assert_ne!(first, second);
    assert_eq!(lookup("uid=a,dc=x"), Some((second, "uid=a,dc=x".to_string())));
    assert_eq!(lookup("uid=a,dc=x"), Some((second, "uid=a,dc=x".to_string())));
}
