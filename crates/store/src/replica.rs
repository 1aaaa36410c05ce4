//! Writes a replica makes on behalf of its provider (RFC 4533 consumer side): entries are
//! matched by entryUUID (then by DN), replaced as a whole, moved with their subtree when
//! their DN changed, and deleted with what is below them. The provider's entryCSNs are
//! kept; its cookie is stored in the same transaction as the change that came with it.

use crate::changes::{self, META_CONTEXT_CSN, META_SYNC_COOKIE};
use crate::store::{Origin, WriteSet};
use crate::{Entry, Store, StoreError};
use birch_schema::{ndn, Dn};

/// An entry a replica holds: (id, entryUUID if any, depth below the base).
pub type Held = (u64, Option<[u8; 16]>, usize);

impl Store {
    /// Applies the provider's state of one entry (added or changed). Fails with
    /// [`StoreError::NoParent`] when its parent is not (yet) here; the caller retries it
    /// after the rest of the refresh.
    pub fn apply_entry(&self, entry: Entry, cookie: Option<&[u8]>) -> Result<(), StoreError> {
        let _guard = self.write_guard();
        self.apply_entry_as(entry, Origin::Replicated { cookie })
    }

    /// [`Store::apply_entry`] under the writer lock, for `origin` (a provider's change with
    /// its cookie, or a peer's).
    pub(crate) fn apply_entry_as(&self, mut entry: Entry, origin: Origin<'_>) -> Result<(), StoreError> {
        let cookie = match origin {
            Origin::Replicated { cookie } => cookie,
            _ => None,
        };
        let uuid = changes::entry_uuid(&entry)
            .ok_or_else(|| StoreError::Corrupt(format!("replicated entry without entryUUID: {}", entry.dn)))?;
        let by_uuid = match self.id_of_uuid(&uuid)? {
            Some(id) => self.get(id)?.map(|e| (id, e)),
            None => None,
        };
        let by_dn = self.get_by_ndn(&entry.ndn)?;
        // Another entry where this one goes is a stale copy (deleted on the provider while
        // this replica did not listen): it makes way first.
        let shadowing = matches!(origin, Origin::Peer { .. }) && self.is_multi_provider();
        if let (Some((uid, _)), Some((did, stale))) = (&by_uuid, &by_dn) {
            if uid != did {
                let mut ws = WriteSet::default();
                if shadowing {
                    // A multi-provider peer's entry won an add/add conflict: the entry it
                    // replaces is shadowed (it takes the DN back if the winner leaves it).
                    if let Some(u) = changes::entry_uuid(stale) {
                        ws.shadow(u, stale);
                    }
                }
                self.delete_subtree_into(&mut ws, *did, stale.clone())?;
                let quiet = match origin {
                    Origin::Peer { .. } => Origin::Peer { context: &[], delete_csn: changes::entry_csn(&entry) },
                    _ => Origin::Replicated { cookie: None },
                };
                self.commit_as(ws, quiet)?;
            }
        }
        let mut ws = WriteSet::default();
        match (by_uuid, by_dn) {
            // Already here as sent (a replica seeded from an export, or a refresh redone
            // after an interruption): nothing to write.
            (Some((_, old)), _) if old.dn == entry.dn && old.attrs == entry.attrs => {
                if let Origin::Peer { .. } = origin {
                    return self.commit_as(ws, origin);
                }
                return match cookie {
                    Some(c) => self.store_cookie_locked(c, changes::entry_csn(&entry)),
                    None => Ok(()),
                };
            }
            (Some((id, old)), _) if old.ndn == entry.ndn => {
                entry.parent = old.parent;
                ws.put_entry(id, Some(&old), Some(&entry));
            }
            (Some((id, old)), _) => {
                let new_dn = Dn::parse(&entry.dn)?;
                let p = ndn::parent(&entry.ndn);
                if ndn::is_under(p, &old.ndn) {
                    return Err(StoreError::Loop(entry.dn));
                }
                entry.parent = if old.parent == 0 {
                    0
                } else {
                    self.id_of(p)?.ok_or_else(|| StoreError::NoParent(entry.dn.clone()))?
                };
                ws.put_entry(id, Some(&old), Some(&entry));
                self.move_descendants(&mut ws, id, &old.dn, &new_dn)?;
            }
            (None, Some((id, old))) => {
                // The same DN under another entryUUID (e.g. the suffix entry each server
                // made for itself): the provider's entry takes its place, children stay.
                if shadowing {
                    if let Some(u) = changes::entry_uuid(&old) {
                        ws.shadow(u, &old);
                    }
                }
                entry.parent = old.parent;
                ws.put_entry(id, Some(&old), Some(&entry));
            }
            (None, None) => {
                entry.parent =
                    self.id_of(ndn::parent(&entry.ndn))?.ok_or_else(|| StoreError::NoParent(entry.dn.clone()))?;
                let id = self.inner_generate_id()?;
                ws.put_entry(id, None, Some(&entry));
            }
        }
        self.commit_as(ws, origin)
    }

    /// Deletes the entry with this entryUUID and everything below it (nothing if it is not
    /// here); stores the cookie either way.
    pub fn apply_delete(&self, uuid: &[u8; 16], cookie: Option<&[u8]>) -> Result<(), StoreError> {
        let _guard = self.write_guard();
        let found = match self.id_of_uuid(uuid)? {
            Some(id) => self.get(id)?.map(|e| (id, e)),
            None => None,
        };
        let Some((id, entry)) = found else {
            drop(_guard);
            return match cookie {
                Some(c) => self.store_cookie(c, None),
                None => Ok(()),
            };
        };
        let mut ws = WriteSet::default();
        self.delete_subtree_into(&mut ws, id, entry)?;
        self.commit_as(ws, Origin::Replicated { cookie })
    }

    /// Deletes entries (with their subtrees) by id, as a replica does with what the
    /// provider did not report present.
    pub fn apply_delete_ids(&self, ids: &[u64]) -> Result<(), StoreError> {
        for &id in ids {
            let _guard = self.write_guard();
            let Some(entry) = self.get(id)? else { continue };
            let mut ws = WriteSet::default();
            self.delete_subtree_into(&mut ws, id, entry)?;
            self.commit_as(ws, Origin::Replicated { cookie: None })?;
        }
        Ok(())
    }

    /// Stores a replica's sync cookie (and, when given, the provider's CSN it carries as
    /// the contextCSN, unless that is older).
    pub fn store_cookie(&self, cookie: &[u8], csn: Option<&str>) -> Result<(), StoreError> {
        let _guard = self.write_guard();
        self.store_cookie_locked(cookie, csn)
    }

    /// [`Store::store_cookie`] under the writer lock.
    fn store_cookie_locked(&self, cookie: &[u8], csn: Option<&str>) -> Result<(), StoreError> {
        let newer = match (csn, self.context_csn()?) {
            (Some(c), Some(cur)) if c > cur.as_str() => Some(c),
            (Some(c), None) => Some(c),
            _ => None,
        };
        self.meta_set(META_SYNC_COOKIE, cookie)?;
        if let Some(c) = newer {
            self.meta_set(META_CONTEXT_CSN, c.as_bytes())?;
        }
        Ok(())
    }

    /// Every entry at or below `base_ndn`: (id, entryUUID if any, depth below the base).
    pub fn entries_under(&self, base_ndn: &str) -> Result<Vec<Held>, StoreError> {
        let suffix = format!(",{base_ndn}");
        let mut out = Vec::new();
        for e in self.walk()? {
            let e = e?;
            if e.ndn == base_ndn || e.ndn.ends_with(&suffix) {
                let Some(id) = self.id_of(&e.ndn)? else { continue };
                let depth = e.ndn.len().saturating_sub(base_ndn.len());
                out.push((id, changes::entry_uuid(&e), depth));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::store;
    use crate::Store;

    fn entry(s: &Store, dn: &str, uuid: &str, extra: &[(&str, &str)]) -> crate::Entry {
        let mut attrs = vec![("entryUUID".to_string(), vec![uuid.as_bytes().to_vec()])];
        for (a, v) in extra {
            attrs.push((a.to_string(), vec![v.as_bytes().to_vec()]));
        }
        s.make_entry(dn, attrs).unwrap()
    }

    const U1: &str = "11111111-1111-1111-1111-111111111111";
    const U2: &str = "22222222-2222-2222-2222-222222222222";
    const U3: &str = "33333333-3333-3333-3333-333333333333";

    #[test]
    fn local_writes_stamp_csns_and_replicated_ones_keep_them() {
        let (_d, s) = store();
        s.set_server_id(5);
        s.add(entry(&s, "dc=x", U1, &[("objectClass", "domain")]), true).unwrap();
        let (_, root) = s.get_by_ndn("dc=x").unwrap().unwrap();
        let csn = crate::changes::entry_csn(&root).unwrap().to_string();
        assert!(csn.ends_with("#005#000000"), "{csn}");
        assert_eq!(s.context_csn().unwrap().as_deref(), Some(csn.as_str()));
        let mut e = entry(&s, "uid=a,dc=x", U2, &[("objectClass", "account")]);
        e.replace_values("entryCSN", "entrycsn", [b"29990101000000.000000Z#000000#001#000000".to_vec()]);
        s.apply_entry(e, Some(b"cookie-1")).unwrap();
        let (_, a) = s.get_by_ndn("uid=a,dc=x").unwrap().unwrap();
        assert_eq!(crate::changes::entry_csn(&a), Some("29990101000000.000000Z#000000#001#000000"));
        assert_eq!(s.sync_cookie().unwrap().as_deref(), Some(&b"cookie-1"[..]));
        assert_eq!(s.context_csn().unwrap().as_deref(), Some("29990101000000.000000Z#000000#001#000000"));
        assert!(s.check().unwrap().is_empty());
    }

    #[test]
    fn renames_move_subtrees_and_deletes_take_them() {
        let (_d, s) = store();
        s.add(entry(&s, "dc=x", U1, &[]), true).unwrap();
        s.apply_entry(entry(&s, "ou=a,dc=x", U2, &[]), None).unwrap();
        s.apply_entry(entry(&s, "uid=k,ou=a,dc=x", U3, &[]), None).unwrap();
        // The provider renamed ou=a to ou=b: same entryUUID, new DN.
        s.apply_entry(entry(&s, "ou=b,dc=x", U2, &[("description", "moved")]), None).unwrap();
        assert!(s.get_by_ndn("uid=k,ou=b,dc=x").unwrap().is_some());
        assert!(s.get_by_ndn("ou=a,dc=x").unwrap().is_none());
        // A child whose parent is not here yet.
        let orphan = entry(&s, "uid=z,ou=none,dc=x", "44444444-4444-4444-4444-444444444444", &[]);
        assert!(matches!(s.apply_entry(orphan, None), Err(crate::StoreError::NoParent(_))));
        let uuid = crate::changes::parse_uuid(U2.as_bytes()).unwrap();
        s.apply_delete(&uuid, Some(b"c2")).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s.entries_under("dc=x").unwrap().len(), 1);
        assert!(s.check().unwrap().is_empty());
    }

    #[test]
    fn the_feed_gives_each_entry_its_own_csn_parents_first() {
        let (_d, s) = store();
        s.add(entry(&s, "dc=x", U1, &[]), true).unwrap();
        s.add(entry(&s, "ou=a,dc=x", U2, &[]), false).unwrap();
        s.add(entry(&s, "uid=k,ou=a,dc=x", U3, &[]), false).unwrap();
        let feed = crate::testing::Recorder::on(&s);
        let new_dn = birch_schema::Dn::parse("ou=b,dc=x").unwrap();
        s.rename("ou=a,dc=x", &new_dn, |_| Ok::<(), crate::StoreError>(())).unwrap();
        let [set] = <[_; 1]>::try_from(feed.take()).unwrap();
        let dns: Vec<_> = set.items.iter().map(|i| i.new_ndn.clone().unwrap()).collect();
        assert_eq!(dns, vec!["ou=b,dc=x", "uid=k,ou=b,dc=x"]);
        assert!(set.items[0].csn < set.items[1].csn);
        assert_eq!(set.csn, set.items[1].csn);
        assert_eq!(s.context_csn().unwrap().as_deref(), Some(set.csn.as_str()));
        // Applying an entry exactly as stored writes nothing (no change announced).
        let (_, k) = s.get_by_ndn("uid=k,ou=b,dc=x").unwrap().unwrap();
        s.apply_entry(k, None).unwrap();
        assert!(feed.take().is_empty());
    }

    #[test]
    fn a_same_dn_entry_takes_the_place_of_the_local_one() {
        let (_d, s) = store();
        s.add(entry(&s, "dc=x", U1, &[]), true).unwrap();
        s.apply_entry(entry(&s, "uid=k,dc=x", U3, &[]), None).unwrap();
        s.apply_entry(entry(&s, "dc=x", U2, &[("description", "provider")]), None).unwrap();
        let (_, root) = s.get_by_ndn("dc=x").unwrap().unwrap();
        assert_eq!(crate::changes::entry_uuid(&root), crate::changes::parse_uuid(U2.as_bytes()));
        assert!(s.get_by_ndn("uid=k,dc=x").unwrap().is_some());
        assert_eq!(s.id_of_uuid(&crate::changes::parse_uuid(U1.as_bytes()).unwrap()).unwrap(), None);
        assert!(s.check().unwrap().is_empty());
    }
}
