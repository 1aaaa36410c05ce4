//! The write operations: each reads what it needs under the writer lock, records the
//! entries it changes in a [`WriteSet`] and commits it (see `commit`).

use super::commit::WriteSet;
use super::Store;
use crate::entry::Entry;
use crate::StoreError;
use birch_schema::{ndn, Dn};

/// An entry read outside the writer lock ([`Store::get_seen`]), with the store's write
/// stamp at the read ([`Store::quiet_stamp`]), for a modify that decides on it first.
pub struct Seen {
    stamp: Option<u64>,
    id: u64,
    entry: Entry,
}

impl Seen {
    /// The entry as read.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }
}

impl Store {
    /// Adds an entry in one transaction. Its parent must exist unless `is_suffix`.
    /// Not durable until [`Store::sync`] returns.
    pub fn add(&self, mut entry: Entry, is_suffix: bool) -> Result<u64, StoreError> {
        let _guard = self.write_guard();
        if self.inner.dn2id.contains_key(entry.ndn.as_bytes())? {
            return Err(StoreError::AlreadyExists(entry.dn));
        }
        entry.parent = if is_suffix {
            0
        } else {
            self.id_of(ndn::parent(&entry.ndn))?.ok_or_else(|| StoreError::NoParent(entry.dn.clone()))?
        };
        let id = self.inner.db.generate_id()? + 1;
        let mut ws = WriteSet::default();
        ws.put_entry(id, None, Some(&entry));
        self.commit(ws)?;
        Ok(id)
    }

    /// Deletes a leaf entry in one transaction and returns it. Not durable until
    /// [`Store::sync`].
    pub fn delete(&self, ndn: &str) -> Result<Entry, StoreError> {
        self.delete_checked(ndn, false, |_| Ok::<(), StoreError>(()))
    }

    /// Deletes an entry (with `subtree`, everything below it too, as the Tree Delete
    /// control asks) in one transaction, after `check` accepted the entry; returns it.
    pub fn delete_checked<E: From<StoreError>>(
        &self,
        ndn: &str,
        subtree: bool,
        check: impl FnOnce(&Entry) -> Result<(), E>,
    ) -> Result<Entry, E> {
        let _guard = self.write_guard();
        let (id, entry) = self.get_by_ndn(ndn)?.ok_or_else(|| StoreError::NoSuchEntry(ndn.to_string()))?;
        check(&entry)?;
        if !subtree && self.has_children(id)? {
            return Err(StoreError::NotLeaf(entry.dn).into());
        }
        let mut ws = WriteSet::default();
        self.delete_subtree_into(&mut ws, id, entry.clone())?;
        self.commit(ws)?;
        Ok(entry)
    }

    /// Changes one entry in one transaction: `change` edits a copy of the entry (its DN
    /// stays); the indexes follow. Returns the entry before and after (as stored, with its
    /// new entryCSN).
    pub fn modify<E: From<StoreError>>(
        &self,
        ndn: &str,
        change: impl FnOnce(&mut Entry) -> Result<(), E>,
    ) -> Result<(Entry, Entry), E> {
        let _guard = self.write_guard();
        let (id, old) = self.get_by_ndn(ndn)?.ok_or_else(|| StoreError::NoSuchEntry(ndn.to_string()))?;
        self.modify_locked(id, old, change)
    }

    /// [`Store::modify`] of an entry read before ([`Store::get_seen`]): when no write has
    /// begun since that read, the entry read is the entry stored and is changed as it is,
    /// without reading and decoding it again under the writer lock.
    pub fn modify_seen<E: From<StoreError>>(
        &self,
        seen: Seen,
        change: impl FnOnce(&mut Entry) -> Result<(), E>,
    ) -> Result<(Entry, Entry), E> {
        let _guard = self.write_guard();
        let (id, old) = match seen.stamp {
            Some(stamp) if self.unchanged_since(stamp) => (seen.id, seen.entry),
            _ => self.get_by_ndn(&seen.entry.ndn)?.ok_or_else(|| StoreError::NoSuchEntry(seen.entry.ndn.clone()))?,
        };
        self.modify_locked(id, old, change)
    }

    /// Reads an entry by normalized DN for a later [`Store::modify_seen`].
    pub fn get_seen(&self, ndn: &str) -> Result<Option<Seen>, StoreError> {
        let stamp = self.quiet_stamp();
        let Some((id, entry)) = self.get_by_ndn(ndn)? else { return Ok(None) };
        // A write that began during the read may have changed it: not reusable then.
        let stamp = stamp.filter(|s| self.unchanged_since(*s));
        Ok(Some(Seen { stamp, id, entry }))
    }

    /// The modify of entry `id`, stored as `old`, under the writer lock.
    fn modify_locked<E: From<StoreError>>(
        &self,
        id: u64,
        old: Entry,
        change: impl FnOnce(&mut Entry) -> Result<(), E>,
    ) -> Result<(Entry, Entry), E> {
        let mut new = old.clone();
        change(&mut new)?;
        new.dn.clone_from(&old.dn);
        new.ndn.clone_from(&old.ndn);
        new.parent = old.parent;
        let mut ws = WriteSet::default();
        ws.put_owned(id, Some(old), Some(new));
        match self.commit_returning(ws)?.take(id) {
            (Some(old), Some(new)) => Ok((old, new)),
            _ => Err(StoreError::Corrupt(format!("entry {id} left its own write set")).into()),
        }
    }

    /// Renames and/or moves an entry with its whole subtree in one transaction (Modify
    /// DN). `new_dn` is the entry's new DN; `change` adjusts its attributes (RDN values).
    /// Descendants keep their ids and attributes; their DNs follow. Returns the entry
    /// before and after.
    pub fn rename<E: From<StoreError>>(
        &self,
        ndn: &str,
        new_dn: &Dn,
        change: impl FnOnce(&mut Entry) -> Result<(), E>,
    ) -> Result<(Entry, Entry), E> {
        let _guard = self.write_guard();
        let (id, old) = self.get_by_ndn(ndn)?.ok_or_else(|| StoreError::NoSuchEntry(ndn.to_string()))?;
        let new_ndn = new_dn.normalize(self.schema());
        if new_ndn != old.ndn && self.inner.dn2id.contains_key(new_ndn.as_bytes()).map_err(StoreError::from)? {
            return Err(StoreError::AlreadyExists(new_dn.to_string()).into());
        }
        let new_parent_ndn = ndn::parent(&new_ndn);
        let new_parent = if old.parent == 0 {
            0
        } else {
            if ndn::is_under(new_parent_ndn, &old.ndn) {
                return Err(StoreError::Loop(new_dn.to_string()).into());
            }
            self.id_of(new_parent_ndn)?.ok_or_else(|| StoreError::NoParent(new_dn.to_string()))?
        };
        let mut new = old.clone();
        change(&mut new)?;
        new.dn = new_dn.to_string();
        new.ndn = new_ndn;
        new.parent = new_parent;
        let mut ws = WriteSet::default();
        ws.put_entry(id, Some(&old), Some(&new));
        self.move_descendants(&mut ws, id, &old.dn, new_dn)?;
        self.commit(ws)?;
        Ok((old, new))
    }

    /// Adds to `ws` the descendants of entry `id` following it from `old_dn` to `new_dn`
    /// (ids and attributes stay; DNs change).
    pub(crate) fn move_descendants(
        &self,
        ws: &mut WriteSet,
        id: u64,
        old_dn: &str,
        new_dn: &Dn,
    ) -> Result<(), StoreError> {
        let depth = Dn::parse(old_dn)?.rdns.len();
        let mut stack = self.children(id)?;
        while let Some(cid) = stack.pop() {
            stack.extend(self.children(cid)?);
            let Some(child) = self.get(cid)? else { continue };
            let mut parsed = Dn::parse(&child.dn)?;
            parsed.rdns.truncate(parsed.rdns.len().saturating_sub(depth));
            parsed.rdns.extend(new_dn.rdns.iter().cloned());
            let mut moved = child.clone();
            moved.dn = parsed.to_string();
            moved.ndn = parsed.normalize(self.schema());
            ws.put_entry(cid, Some(&child), Some(&moved));
        }
        Ok(())
    }

    /// Adds to `ws` the deletion of entry `id` and everything below it.
    pub(crate) fn delete_subtree_into(&self, ws: &mut WriteSet, id: u64, entry: Entry) -> Result<(), StoreError> {
        let mut stack = vec![(id, entry)];
        while let Some((id, e)) = stack.pop() {
            for c in self.children(id)? {
                if let Some(ce) = self.get(c)? {
                    stack.push((c, ce));
                }
            }
            ws.put_entry(id, Some(&e), None);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{attrs, store};
    use crate::StoreError;

    #[test]
    fn a_modify_of_an_entry_seen_before_keeps_writes_made_since() {
        let (_d, s) = store();
        s.add(s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true).unwrap();
        let e = s.make_entry("uid=a,dc=x", attrs(&[("objectClass", "account"), ("uid", "a")])).unwrap();
        s.add(e, false).unwrap();
        let set = |attr: &'static str, v: &'static str| {
            move |e: &mut crate::Entry| {
                e.replace_values(attr, attr, [v.as_bytes().to_vec()]);
                Ok::<(), StoreError>(())
            }
        };
        // Nothing written since the read: the entry read is the one changed.
        let seen = s.get_seen("uid=a,dc=x").unwrap().unwrap();
        let (old, new) = s.modify_seen(seen, set("description", "one")).unwrap();
        assert!(old.get("description").is_none());
        assert_eq!(new.get("description").unwrap().values, [b"one".to_vec()]);
        assert!(new.get("entrycsn").is_some(), "the entry as stored, with its entryCSN");
        // A write in between: the modify starts from the entry as stored now.
        let seen = s.get_seen("uid=a,dc=x").unwrap().unwrap();
        s.modify("uid=a,dc=x", set("host", "h")).unwrap();
        let (old, new) = s.modify_seen(seen, set("description", "two")).unwrap();
        assert_eq!(old.get("host").unwrap().values, [b"h".to_vec()]);
        assert_eq!(new.get("host").unwrap().values, [b"h".to_vec()]);
        assert_eq!(s.get_by_ndn("uid=a,dc=x").unwrap().unwrap().1, new);
        // Deleted since: no such entry.
        let seen = s.get_seen("uid=a,dc=x").unwrap().unwrap();
        s.delete("uid=a,dc=x").unwrap();
        assert!(matches!(s.modify_seen(seen, set("description", "three")), Err(StoreError::NoSuchEntry(_))));
        assert!(s.check().unwrap().is_empty());
    }
}
