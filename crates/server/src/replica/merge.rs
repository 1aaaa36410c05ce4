//! Merging two versions of one entry, attribute by attribute: for each attribute (and the
//! DN) the version whose change of it is the latest (per-attribute CSNs,
//! [`birch_store::attr_csn`]) wins, as slapd's multi-provider replication resolves
//! concurrent modifies. A pure function: commutative, associative and idempotent (a
//! property test in `conflict` checks that any delivery order gives the same entry), so
//! every server ends with the same entry.

use birch_schema::{Dn, Schema};
use birch_store::attr_csn::{self, AttrCsns, DN_KEY};
use birch_store::{csn, Attribute, Entry};
use std::collections::BTreeSet;

/// The result of [`merge`].
#[derive(Debug, Clone)]
pub struct Merged {
    /// The merged entry (DN, attributes, entryCSN and birchAttrCSN).
    pub entry: Entry,
    /// Whether it differs from the local version.
    pub changed: bool,
    /// Attributes the incoming version had changed concurrently with a later change here,
    /// which won: (attribute, the CSN kept here). Logged and counted as conflicts.
    pub dropped: Vec<(String, String)>,
}

/// Merges a peer's version `incoming` of an entry into the version `local` held here.
pub fn merge(local: &Entry, incoming: &Entry) -> Merged {
    let (l, r) = (AttrCsns::of(local), AttrCsns::of(incoming));
    let mut record = AttrCsns { base: l.base.clone().max(r.base.clone()), ..AttrCsns::default() };
    let mut out = Entry { dn: local.dn.clone(), ndn: local.ndn.clone(), parent: local.parent, attrs: Vec::new() };
    let (cl, cr) = (l.csn(DN_KEY), r.csn(DN_KEY));
    if cr > cl || (cr == cl && incoming.dn > local.dn) {
        out.dn.clone_from(&incoming.dn);
        out.ndn.clone_from(&incoming.ndn);
    }
    record.changed.insert(DN_KEY.to_string(), cl.max(cr).to_string());
    let keys: BTreeSet<&str> = local
        .attrs
        .iter()
        .chain(&incoming.attrs)
        .map(|a| a.canonical.as_str())
        .chain(l.changed.keys().map(String::as_str))
        .chain(r.changed.keys().map(String::as_str))
        .filter(|k| *k != DN_KEY && !attr_csn::is_bookkeeping(k))
        .collect();
    let mut chosen: Vec<Option<&Attribute>> = Vec::new();
    let mut dropped = Vec::new();
    for k in &keys {
        let (cl, cr) = (l.csn(k), r.csn(k));
        let (la, ra) = (local.get(k), incoming.get(k));
        let take = if cr > cl {
            ra
        } else if cl > cr {
            // The incoming version changed it (after what is here was based on) and a
            // change from another server, later, is here: the incoming change is lost.
            if !same_values(la, ra) && cr > l.base.as_str() && csn::sid_of(cr) != csn::sid_of(cl) {
                dropped.push((k.to_string(), cl.to_string()));
            }
            la
        } else {
            // One change (one CSN) gave both: the same values; which ones is decided by
            // the values themselves should they differ, so that the merge stays symmetric.
            match (la, ra) {
                (Some(a), Some(b)) => Some(if sorted(&a.values) >= sorted(&b.values) { a } else { b }),
                (a, b) => a.or(b),
            }
        };
        chosen.push(take);
        record.changed.insert(k.to_string(), cl.max(cr).to_string());
    }
    // Attributes in a stable order: the local version's, then the incoming one's.
    let rank = |a: &Attribute| match local.attrs.iter().position(|x| x.canonical == a.canonical) {
        Some(p) => p,
        None => local.attrs.len() + incoming.attrs.iter().position(|x| x.canonical == a.canonical).unwrap_or(0),
    };
    let mut attrs: Vec<Attribute> = chosen.into_iter().flatten().cloned().collect();
    attrs.sort_by_key(|a| rank(a));
    out.attrs = attrs;
    let entry_csn = birch_store::changes::entry_csn(local)
        .unwrap_or_default()
        .max(birch_store::changes::entry_csn(incoming).unwrap_or_default())
        .to_string();
    if !entry_csn.is_empty() {
        birch_store::changes::set_entry_csn(&mut out, &entry_csn);
    }
    record.store_in(&mut out);
    let changed = !same_entry(&out, local);
    Merged { entry: out, changed, dropped }
}

/// Whether the merged entry's RDN values are among its attribute values (a concurrent
/// rename and change of the naming attribute can leave them out: the entry keeps both
/// changes, and the administrator is told).
pub fn rdn_values_present(e: &Entry, schema: &Schema) -> bool {
    let Ok(dn) = Dn::parse(&e.dn) else { return true };
    let Some(rdn) = dn.rdns.first() else { return true };
    rdn.avas.iter().all(|ava| {
        e.get(&schema.canonical(&ava.attr))
            .is_some_and(|a| a.values.iter().any(|v| v.eq_ignore_ascii_case(ava.value.as_bytes())))
    })
}

fn sorted(values: &[Vec<u8>]) -> Vec<&Vec<u8>> {
    let mut v: Vec<&Vec<u8>> = values.iter().collect();
    v.sort();
    v
}

fn same_values(a: Option<&Attribute>, b: Option<&Attribute>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => sorted(&a.values) == sorted(&b.values),
        _ => false,
    }
}

/// Whether two versions hold the same DN and attributes (in any order).
pub fn same_entry(a: &Entry, b: &Entry) -> bool {
    a.dn == b.dn && a.attrs.len() == b.attrs.len() && a.attrs.iter().all(|x| same_values(Some(x), b.get(&x.canonical)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use birch_store::attr_csn::record_change;
    use birch_store::changes::set_entry_csn;

    fn csn_at(t: u64, sid: u16) -> String {
        csn::format_csn(1_800_000_000_000_000 + t, 0, sid)
    }

    fn base() -> Entry {
        let mut e = Entry { dn: "uid=a,dc=x".into(), ndn: "uid=a,dc=x".into(), ..Entry::default() };
        for (a, v) in [("uid", "a"), ("mail", "a@x"), ("telephoneNumber", "1")] {
            e.add_values(a, &a.to_ascii_lowercase(), [v.as_bytes().to_vec()]);
        }
        set_entry_csn(&mut e, &csn_at(0, 1));
        e
    }

    fn change(from: &Entry, csn: &str, f: impl FnOnce(&mut Entry)) -> Entry {
        let mut e = from.clone();
        f(&mut e);
        set_entry_csn(&mut e, csn);
        record_change(from, &mut e, csn);
        e
    }

    fn value(e: &Entry, a: &str) -> Option<String> {
        e.get(a).map(|a| String::from_utf8_lossy(&a.values[0]).into_owned())
    }

    #[test]
    fn concurrent_changes_of_different_attributes_both_stay() {
        let b = base();
        let on_1 = change(&b, &csn_at(10, 1), |e| e.replace_values("mail", "mail", [b"new@x".to_vec()]));
        let on_2 =
            change(&b, &csn_at(20, 2), |e| e.replace_values("telephoneNumber", "telephonenumber", [b"2".to_vec()]));
        let m12 = merge(&on_1, &on_2);
        let m21 = merge(&on_2, &on_1);
        assert!(m12.changed && m21.changed && m12.dropped.is_empty() && m21.dropped.is_empty());
        for m in [&m12.entry, &m21.entry] {
            assert_eq!(value(m, "mail").as_deref(), Some("new@x"));
            assert_eq!(value(m, "telephonenumber").as_deref(), Some("2"));
            assert_eq!(birch_store::changes::entry_csn(m), Some(csn_at(20, 2).as_str()));
        }
        assert!(same_entry(&m12.entry, &m21.entry));
        assert_eq!(m12.entry.get("birchattrcsn").map(|a| &a.values), m21.entry.get("birchattrcsn").map(|a| &a.values));
        // Seen again: nothing changes.
        assert!(!merge(&m12.entry, &on_1).changed);
    }

    #[test]
    fn of_two_changes_of_one_attribute_the_later_wins_and_the_loser_is_reported() {
        let b = base();
        let early = change(&b, &csn_at(10, 1), |e| e.replace_values("mail", "mail", [b"one@x".to_vec()]));
        let late = change(&b, &csn_at(20, 2), |e| e.replace_values("mail", "mail", [b"two@x".to_vec()]));
        let m = merge(&late, &early);
        assert_eq!(value(&m.entry, "mail").as_deref(), Some("two@x"));
        assert!(!m.changed);
        assert_eq!(m.dropped, vec![("mail".to_string(), csn_at(20, 2))]);
        let m = merge(&early, &late);
        assert_eq!(value(&m.entry, "mail").as_deref(), Some("two@x"));
        assert!(m.changed && m.dropped.is_empty());
        // A removal is a change like any other.
        let removed = change(&b, &csn_at(30, 1), |e| e.replace_values("mail", "mail", []));
        assert_eq!(value(&merge(&late, &removed).entry, "mail"), None);
    }

    #[test]
    fn a_rename_and_a_modify_both_stay() {
        let b = base();
        let renamed = change(&b, &csn_at(10, 1), |e| {
            e.dn = "uid=a,ou=old,dc=x".into();
            e.ndn = e.dn.clone();
        });
        let modified = change(&b, &csn_at(20, 2), |e| e.replace_values("mail", "mail", [b"m@x".to_vec()]));
        for m in [merge(&renamed, &modified).entry, merge(&modified, &renamed).entry] {
            assert_eq!((m.dn.as_str(), value(&m, "mail").as_deref()), ("uid=a,ou=old,dc=x", Some("m@x")));
        }
    }
}
