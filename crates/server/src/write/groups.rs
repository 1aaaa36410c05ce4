//! The groups stage: groups that maintain themselves, inside the same transaction as the
//! change that causes it (like OpenLDAP's memberof and refint overlays together). It runs
//! as the store's write-set hook ([`birch_store::hooks`]), under the writer lock, on every
//! local write (a replica's entries come as its provider maintained them):
//! - `memberOf` on each member of a groupOfNames/groupOfUniqueNames lists the group's DN;
//!   it follows member additions and removals and renames of the group;
//! - deleting or renaming an entry removes or rewrites `member`/`uniqueMember` values that
//!   point at it;
//! - renaming an entry's `uid` rewrites `memberUid` values of posix groups.

use birch_schema::desc::base;
use birch_schema::MatchingRule;
use birch_store::{Entry, Store, StoreError, WriteSet, WriteSetHook};
use std::collections::BTreeSet;

/// Attributes that hold member DNs.
const MEMBER_ATTRS: [&str; 2] = ["member", "uniquemember"];
/// The attribute listing an entry's groups.
const MEMBER_OF: &str = "memberof";

/// The groups stage, as the store's write-set hook.
pub struct Groups;

impl WriteSetHook for Groups {
    fn extend(&self, store: &Store, ws: &mut WriteSet) -> Result<(), StoreError> {
        Maintain { store }.extend(ws)
    }
}

/// The group maintenance of one write set, over the store it is committed to.
struct Maintain<'a> {
    store: &'a Store,
}

impl Maintain<'_> {
    /// Extends a write set with the group maintenance its changes call for.
    fn extend(&self, ws: &mut WriteSet) -> Result<(), StoreError> {
        // The changes as the write made them (before this stage edits the write set), and
        // only those that call for maintenance: most writes (a user's description, a
        // password) need none, and copying their entries was a tenth of a modify's work.
        let primary: Vec<(u64, Option<Entry>, Option<Entry>)> =
            ws.changes().filter(|(_, o, n)| concerns(*o, *n)).map(|(id, o, n)| (id, o.cloned(), n.cloned())).collect();
        for (id, old, new) in primary {
            self.follow_membership(ws, old.as_ref(), new.as_ref())?;
            if let Some(old) = &old {
                let renamed_to = new.as_ref().filter(|n| n.ndn != old.ndn);
                if new.is_none() || renamed_to.is_some() {
                    self.fix_references(ws, id, old, renamed_to)?;
                }
                if let Some(new) = &new {
                    self.follow_uid(ws, id, old, new)?;
                }
            }
        }
        Ok(())
    }

    fn schema(&self) -> &birch_schema::Schema {
        self.store.schema()
    }

    /// Normalized DNs of a group's members.
    fn members(&self, e: Option<&Entry>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for attr in MEMBER_ATTRS {
            for a in e.iter().flat_map(|e| typed(e, attr)) {
                for v in &a.values {
                    if let Some(n) = self.schema().normalize_value(MatchingRule::DistinguishedName, v) {
                        out.insert(String::from_utf8_lossy(&n).into_owned());
                    }
                }
            }
        }
        out
    }

    /// memberOf of members added to, removed from, or kept by a (possibly renamed) group.
    fn follow_membership(&self, ws: &mut WriteSet, old: Option<&Entry>, new: Option<&Entry>) -> Result<(), StoreError> {
        let (before, after) = (self.members(old), self.members(new));
        if before.is_empty() && after.is_empty() {
            return Ok(());
        }
        let renamed = matches!((old, new), (Some(o), Some(n)) if o.ndn != n.ndn);
        for m in before.difference(&after) {
            let gone = old.map(|o| o.ndn.clone()).unwrap_or_default();
            self.edit(ws, m, |e| self.remove_dn_value(e, MEMBER_OF, &gone))?;
        }
        for m in after.iter().filter(|m| renamed || !before.contains(*m)) {
            let (gone, dn) = (old.map(|o| o.ndn.clone()), new.map(|n| n.dn.clone()).unwrap_or_default());
            self.edit(ws, m, |e| {
                if let Some(gone) = &gone {
                    self.remove_dn_value(e, MEMBER_OF, gone);
                }
                if !self.has_dn_value(e, MEMBER_OF, &dn) {
                    e.add_values("memberOf", MEMBER_OF, [dn.clone().into_bytes()]);
                }
            })?;
        }
        Ok(())
    }

    /// Group values pointing at an entry that is deleted or renamed.
    fn fix_references(
        &self,
        ws: &mut WriteSet,
        id: u64,
        old: &Entry,
        renamed_to: Option<&Entry>,
    ) -> Result<(), StoreError> {
        for attr in MEMBER_ATTRS {
            for gid in self.store.ids_with_value(attr, old.ndn.as_bytes())? {
                if gid == id {
                    continue;
                }
                self.edit_id(ws, gid, |g| {
                    self.remove_dn_value(g, attr, &old.ndn);
                    if let Some(n) = renamed_to {
                        g.add_values(attr, attr, [n.dn.clone().into_bytes()]);
                    }
                    g.attrs.retain(|a| !a.values.is_empty());
                })?;
            }
        }
        Ok(())
    }

    /// memberUid values following a changed uid (one old value replaced by one new one).
    fn follow_uid(&self, ws: &mut WriteSet, id: u64, old: &Entry, new: &Entry) -> Result<(), StoreError> {
        let uids = |e: &Entry| -> Vec<Vec<u8>> { e.get("uid").map(|a| a.values.clone()).unwrap_or_default() };
        let (before, after) = (uids(old), uids(new));
        let gone: Vec<&Vec<u8>> = before.iter().filter(|v| !after.contains(v)).collect();
        let came: Vec<&Vec<u8>> = after.iter().filter(|v| !before.contains(v)).collect();
        let ([gone], [came]) = (gone.as_slice(), came.as_slice()) else { return Ok(()) };
        let rule = self.schema().rule("memberuid");
        let Some(key) = self.schema().normalize_value(rule, gone) else { return Ok(()) };
        for gid in self.store.ids_with_value("memberuid", &key)? {
            if gid == id {
                continue;
            }
            self.edit_id(ws, gid, |g| {
                for a in g.attrs.iter_mut().filter(|a| base(&a.canonical) == "memberuid") {
                    for v in a.values.iter_mut() {
                        if self.schema().normalize_value(rule, v).as_deref() == Some(key.as_slice()) {
                            v.clone_from(came);
                        }
                    }
                }
            })?;
        }
        Ok(())
    }

    fn has_dn_value(&self, e: &Entry, attr: &str, dn: &str) -> bool {
        let target = self.schema().normalize_value(MatchingRule::DistinguishedName, dn.as_bytes());
        typed(e, attr).any(|a| {
            a.values.iter().any(|v| self.schema().normalize_value(MatchingRule::DistinguishedName, v) == target)
        })
    }

    fn remove_dn_value(&self, e: &mut Entry, attr: &str, ndn: &str) {
        for a in e.attrs.iter_mut().filter(|a| base(&a.canonical) == attr) {
            a.values.retain(|v| {
                self.schema().normalize_value(MatchingRule::DistinguishedName, v).as_deref() != Some(ndn.as_bytes())
            });
        }
        e.attrs.retain(|a| !a.values.is_empty());
    }

    /// Edits the entry with normalized DN `ndn` as this write set leaves it (skipped when
    /// it does not exist or is being deleted).
    fn edit(&self, ws: &mut WriteSet, ndn: &str, f: impl FnOnce(&mut Entry)) -> Result<(), StoreError> {
        match self.store.id_of(ndn)? {
            Some(id) => self.edit_id(ws, id, f),
            None => Ok(()),
        }
    }

    fn edit_id(&self, ws: &mut WriteSet, id: u64, f: impl FnOnce(&mut Entry)) -> Result<(), StoreError> {
        ws.edit(self.store, id, f).map(drop)
    }
}

/// Whether an entry changing from `old` to `new` calls for any group maintenance: it has
/// or had member values whose list of members changed (or the group was renamed or
/// deleted), it is deleted or renamed (values pointing at it), or its uid changed
/// (memberUid values).
fn concerns(old: Option<&Entry>, new: Option<&Entry>) -> bool {
    let has_members = |e: Option<&Entry>| e.is_some_and(|e| MEMBER_ATTRS.iter().any(|a| typed(e, a).next().is_some()));
    let (Some(o), Some(n)) = (old, new) else {
        // An add maintains memberOf of its members; a delete, memberOf and member values.
        return old.is_some() || has_members(new);
    };
    if o.ndn != n.ndn {
        return true;
    }
    let members_changed = MEMBER_ATTRS.iter().any(|a| !typed(o, a).eq(typed(n, a)));
    members_changed || o.get("uid").map(|a| &a.values) != n.get("uid").map(|a| &a.values)
}

/// The attributes of type `attr` (canonical), tagged (`member;lang-en`) or not: group
/// maintenance follows DN values whatever their options.
fn typed<'a>(e: &'a Entry, attr: &'a str) -> impl Iterator<Item = &'a birch_store::Attribute> + 'a {
    e.attrs.iter().filter(move |a| base(&a.canonical) == attr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use birch_schema::{Dn, Schema};
    use std::sync::Arc;

    /// A store with the groups stage, holding dc=x, two people and a group of the first.
    fn store() -> Store {
        let s = Store::open_temporary(Arc::new(Schema::builtin()), birch_store::IndexConfig::default()).unwrap();
        assert!(s.set_write_set_hook(Arc::new(Groups)));
        add(&s, "dc=x", &[("objectClass", "domain"), ("dc", "x")]);
        for u in ["a", "b"] {
            add(&s, &format!("uid={u},dc=x"), &[("objectClass", "account"), ("uid", u)]);
        }
        add(&s, "cn=g,dc=x", &[("objectClass", "groupOfNames"), ("cn", "g"), ("member", "UID=a, dc=x")]);
        s
    }

    fn add(s: &Store, dn: &str, attrs: &[(&str, &str)]) {
        let attrs = attrs.iter().map(|(a, v)| (a.to_string(), vec![v.as_bytes().to_vec()])).collect();
        s.add(s.make_entry(dn, attrs).unwrap(), dn == "dc=x").unwrap();
    }

    fn values(s: &Store, ndn: &str, attr: &str) -> Vec<String> {
        let (_, e) = s.get_by_ndn(ndn).unwrap().unwrap();
        e.get(attr)
            .map(|a| a.values.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect())
            .unwrap_or_default()
    }

    fn rename(s: &Store, ndn: &str, to: &str) {
        s.rename(ndn, &Dn::parse(to).unwrap(), |_| Ok::<(), StoreError>(())).unwrap();
    }

    #[test]
    fn member_of_follows_members_and_the_group() {
        let s = store();
        assert_eq!(values(&s, "uid=a,dc=x", "memberof"), ["cn=g,dc=x"]);
        s.modify("cn=g,dc=x", |g| {
            g.attrs.retain(|a| a.canonical != "member");
            g.add_values("member", "member", [b"uid=b,dc=x".to_vec()]);
            Ok::<(), StoreError>(())
        })
        .unwrap();
        assert!(values(&s, "uid=a,dc=x", "memberof").is_empty());
        assert_eq!(values(&s, "uid=b,dc=x", "memberof"), ["cn=g,dc=x"]);
        rename(&s, "cn=g,dc=x", "cn=h,dc=x");
        assert_eq!(values(&s, "uid=b,dc=x", "memberof"), ["cn=h,dc=x"]);
        s.delete("cn=h,dc=x").unwrap();
        assert!(values(&s, "uid=b,dc=x", "memberof").is_empty());
        assert!(s.check().unwrap().is_empty());
    }

    #[test]
    fn member_values_follow_renames_and_deletes_of_members() {
        let s = store();
        rename(&s, "uid=a,dc=x", "uid=c,dc=x");
        assert_eq!(values(&s, "cn=g,dc=x", "member"), ["uid=c,dc=x"]);
        assert_eq!(values(&s, "uid=c,dc=x", "memberof"), ["cn=g,dc=x"]);
        s.delete("uid=c,dc=x").unwrap();
        assert!(values(&s, "cn=g,dc=x", "member").is_empty());
        assert!(s.check().unwrap().is_empty());
    }

    #[test]
    fn only_changes_of_members_names_and_uids_call_for_maintenance() {
        let s = store();
        let (_, user) = s.get_by_ndn("uid=a,dc=x").unwrap().unwrap();
        let (_, group) = s.get_by_ndn("cn=g,dc=x").unwrap().unwrap();
        let with = |e: &Entry, attr: &str, v: &str| {
            let mut e = e.clone();
            e.replace_values(attr, attr, [v.as_bytes().to_vec()]);
            e
        };
        assert!(!concerns(Some(&user), Some(&with(&user, "description", "d"))));
        assert!(!concerns(Some(&group), Some(&with(&group, "description", "d"))));
        assert!(concerns(Some(&user), Some(&with(&user, "uid", "z"))));
        assert!(concerns(Some(&group), Some(&with(&group, "member", "uid=b,dc=x"))));
        assert!(concerns(Some(&user), None));
        assert!(concerns(None, Some(&group)));
        assert!(!concerns(None, Some(&user)));
        let mut moved = user.clone();
        moved.ndn = "uid=a2,dc=x".into();
        assert!(concerns(Some(&user), Some(&moved)));
        // A write that needs none leaves the groups as they were.
        s.modify("cn=g,dc=x", |g| {
            g.add_values("description", "description", [b"d".to_vec()]);
            Ok::<(), StoreError>(())
        })
        .unwrap();
        assert_eq!(values(&s, "uid=a,dc=x", "memberof"), ["cn=g,dc=x"]);
        assert!(s.check().unwrap().is_empty());
    }

    #[test]
    fn member_uid_follows_a_uid_rename() {
        let s = store();
        add(&s, "cn=p,dc=x", &[("objectClass", "posixGroup"), ("cn", "p"), ("gidNumber", "1"), ("memberUid", "a")]);
        s.modify("uid=a,dc=x", |e| {
            e.get_mut("uid").unwrap().values = vec![b"z".to_vec()];
            Ok::<(), StoreError>(())
        })
        .unwrap();
        assert_eq!(values(&s, "cn=p,dc=x", "memberuid"), ["z"]);
    }
}
