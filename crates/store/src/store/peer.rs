//! Writes a multi-provider server makes on behalf of its peers: each change passes a
//! conflict rule (the caller's `decide`, given what is here) under the writer lock, so no
//! local write can come between the decision and the write; the peer's contextCSN set is
//! merged in the same transaction; deletes leave tombstones.

use super::commit::{Origin, WriteSet};
use super::Store;
use crate::changes;
use crate::{Entry, StoreError};
use std::collections::HashSet;

/// What this server holds where a peer's change lands, for the conflict rule.
#[derive(Debug, Clone, Copy)]
pub struct Landing<'a> {
    /// The entry with the change's entryUUID.
    pub same: Option<&'a Entry>,
    /// Other entries (other entryUUIDs) at the DNs the change may land on: the change's
    /// own, and the DN of `same` or `tomb_state`.
    pub others: &'a [Entry],
    /// The CSN of the delete of the change's entryUUID, when it is not here and a
    /// tombstone is kept.
    pub tombstone: Option<&'a str>,
    /// The state kept with that tombstone (the entry as deleted, with the changes that
    /// lost to the delete merged in), if any.
    pub tomb_state: Option<&'a Entry>,
    /// This server's contextCSN set.
    pub context: &'a [String],
}

impl<'a> Landing<'a> {
    /// Another entry (not the change's entryUUID) at the normalized DN `ndn`.
    pub fn other_at(&self, ndn: &str) -> Option<&'a Entry> {
        self.others.iter().find(|e| e.ndn == ndn)
    }
}

/// What the conflict rule writes for a peer's version of an entry.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Nothing (the contextCSN set is still merged).
    Skip,
    /// This version of the entry (in place of the one with its entryUUID, or of another
    /// entry at its DN, or new).
    Write(Entry),
    /// The entry stays deleted; this is its tombstone's new state.
    Bury(Entry),
    /// The entry lost an add/add conflict at its DN: kept out of sight (shadowed) in this
    /// state, to take the DN if the winner leaves it ([`Store::promote_shadows`]).
    Shadow(Entry),
}

impl Store {
    /// Applies a peer's state of one entry as `decide` says (its first value), and merges
    /// the peer's contextCSN set `context` either way. Returns `decide`'s second value.
    /// Fails with [`StoreError::NoParent`] when its parent is not here.
    pub fn apply_peer_entry<T>(
        &self,
        entry: Entry,
        context: &[String],
        decide: impl FnOnce(&Entry, &Landing<'_>) -> (Verdict, T),
    ) -> Result<T, StoreError> {
        let _guard = self.write_guard();
        let uuid = changes::entry_uuid(&entry)
            .ok_or_else(|| StoreError::Corrupt(format!("replicated entry without entryUUID: {}", entry.dn)))?;
        let same = match self.id_of_uuid(&uuid)? {
            Some(id) => self.get(id)?,
            None => None,
        };
        let (tombstone, tomb_state) = if same.is_none() { self.buried(&uuid)? } else { (None, None) };
        let mut others = Vec::new();
        for ndn in
            [Some(&entry.ndn), same.as_ref().map(|e| &e.ndn), tomb_state.as_ref().map(|e| &e.ndn)].into_iter().flatten()
        {
            if others.iter().any(|o: &Entry| o.ndn == *ndn) {
                continue;
            }
            if let Some((_, e)) = self.get_by_ndn(ndn)? {
                if changes::entry_uuid(&e) != Some(uuid) {
                    others.push(e);
                }
            }
        }
        let here = self.context_csns()?;
        let land = Landing {
            same: same.as_ref(),
            others: &others,
            tombstone: tombstone.as_deref(),
            tomb_state: tomb_state.as_ref(),
            context: &here,
        };
        let (verdict, out) = decide(&entry, &land);
        let origin = Origin::Peer { context, delete_csn: None };
        match verdict {
            Verdict::Skip => self.commit_as(WriteSet::default(), origin)?,
            Verdict::Write(e) => {
                if let Some(csn) = changes::entry_csn(&e) {
                    // Later local writes sort after what was seen (a change made after it wins).
                    self.inner.csn.observe(csn);
                }
                self.apply_entry_as(e, origin)?;
            }
            Verdict::Bury(state) => {
                let ws = WriteSet { tomb_states: vec![(uuid, state.encode())], ..WriteSet::default() };
                self.commit_as(ws, origin)?;
            }
            Verdict::Shadow(state) => {
                let mut ws = WriteSet::default();
                ws.shadow(uuid, &state);
                self.commit_as(ws, origin)?;
            }
        }
        Ok(out)
    }

    /// The tombstone of an entryUUID not here and the state kept with it, if any.
    fn buried(&self, uuid: &[u8; 16]) -> Result<(Option<String>, Option<Entry>), StoreError> {
        let tombstone = self.tombstone(uuid)?;
        let state = if tombstone.is_some() { self.tomb_state(uuid)? } else { None };
        Ok((tombstone, state))
    }

    /// Gives each DN that shadowed entries wait for to the one `first` puts first (the
    /// conflict rule's add/add order) of them and the entry there, if any (which is then
    /// shadowed), keeping entryCSNs; forgets index keys that no longer name a shadowed
    /// entry. Returns the entries brought back. Every multi-provider server runs it, so all
    /// end alike.
    pub fn promote_shadows(&self, first: impl Fn(&Entry, &Entry) -> bool) -> Result<usize, StoreError> {
        let mut by_dn: std::collections::BTreeMap<String, Vec<[u8; 16]>> = Default::default();
        for kv in self.inner.meta.scan_prefix(changes::META_SHADOW_PREFIX) {
            let (k, _) = kv?;
            let rest = &k[changes::META_SHADOW_PREFIX.len()..];
            let Some(split) = rest.len().checked_sub(17) else { continue };
            let (Ok(ndn), Ok(uuid)) = (std::str::from_utf8(&rest[..split]), <[u8; 16]>::try_from(&rest[split + 1..]))
            else {
                continue;
            };
            by_dn.entry(ndn.to_string()).or_default().push(uuid);
        }
        let mut promoted = 0;
        for (ndn, uuids) in by_dn {
            let _guard = self.write_guard();
            let mut waiting: Vec<([u8; 16], Entry)> = Vec::new();
            for uuid in uuids {
                let state = match self.tombstone(&uuid)?.as_deref() {
                    Some("") => self.tomb_state(&uuid)?.filter(|s| s.ndn == ndn),
                    _ => None,
                };
                match state {
                    Some(s) => waiting.push((uuid, s)),
                    None => self.inner.meta.remove(changes::shadow_key(&ndn, &uuid)).map(drop)?,
                }
            }
            if waiting.is_empty() {
                continue;
            }
            let mut best = 0;
            for i in 1..waiting.len() {
                if first(&waiting[i].1, &waiting[best].1) {
                    best = i;
                }
            }
            let (uuid, state) = waiting.swap_remove(best);
            // An entry added at the DN while the winner waited (its server had not yet seen
            // the shadowed one) yields to it too: shadowed in its turn.
            if self.get_by_ndn(&ndn)?.is_some_and(|(_, here)| !first(&state, &here)) {
                continue;
            }
            match self.apply_entry_as(state, Origin::Peer { context: &[], delete_csn: None }) {
                // Its parent is gone too: it waits (a later change may bring the parent back).
                Err(StoreError::NoParent(_)) => continue,
                r => r?,
            }
            self.inner.meta.remove(changes::shadow_key(&ndn, &uuid))?;
            promoted += 1;
        }
        Ok(promoted)
    }

    /// Deletes the entry with this entryUUID and its subtree if `decide` says so, keeping a
    /// tombstone with the delete's CSN (also when the entry is not here), and merges the
    /// peer's contextCSN set either way.
    pub fn apply_peer_delete<T>(
        &self,
        uuid: &[u8; 16],
        csn: Option<&str>,
        context: &[String],
        decide: impl FnOnce(&Landing<'_>) -> (bool, T),
    ) -> Result<T, StoreError> {
        let _guard = self.write_guard();
        let found = match self.id_of_uuid(uuid)? {
            Some(id) => self.get(id)?.map(|e| (id, e)),
            None => None,
        };
        let (tombstone, tomb_state) = if found.is_none() { self.buried(uuid)? } else { (None, None) };
        let here = self.context_csns()?;
        let land = Landing {
            same: found.as_ref().map(|f| &f.1),
            others: &[],
            tombstone: tombstone.as_deref(),
            tomb_state: tomb_state.as_ref(),
            context: &here,
        };
        let (apply, out) = decide(&land);
        let mut ws = WriteSet::default();
        if apply {
            match found {
                Some((id, entry)) => self.delete_subtree_into(&mut ws, id, entry)?,
                None => {
                    if let Some(c) = csn {
                        ws.tombs.push((*uuid, c.to_string()));
                    }
                }
            }
        }
        self.commit_as(ws, Origin::Peer { context, delete_csn: csn })?;
        Ok(out)
    }

    /// Merges a peer's contextCSN set (the end of a refresh from it), durable at the next
    /// flush.
    pub fn merge_peer_context(&self, context: &[String]) -> Result<(), StoreError> {
        let _guard = self.write_guard();
        self.commit_as(WriteSet::default(), Origin::Peer { context, delete_csn: None })
    }

    /// The end of a present phase from a peer: deletes the entries under `base_ndn` the
    /// peer did not name whose entryCSN its contextCSN set `peer_context` covers (it has
    /// seen them, so it deleted them); entries changed here since are kept (the peer will
    /// receive them). Returns the ids deleted.
    pub fn apply_peer_absent(
        &self,
        base_ndn: &str,
        present: &HashSet<[u8; 16]>,
        peer_context: &[String],
    ) -> Result<usize, StoreError> {
        let mut gone: Vec<(u64, usize)> = Vec::new();
        for (id, uuid, depth) in self.entries_under(base_ndn)? {
            if uuid.is_some_and(|u| present.contains(&u)) {
                continue;
            }
            let Some(e) = self.get(id)? else { continue };
            if changes::entry_csn(&e).is_some_and(|c| crate::csn::covers(peer_context, c)) {
                gone.push((id, depth));
            }
        }
        gone.sort_by_key(|g| std::cmp::Reverse(g.1));
        let mut n = 0;
        for (id, _) in gone {
            let _guard = self.write_guard();
            let Some(entry) = self.get(id)? else { continue };
            let csn = changes::entry_csn(&entry).map(str::to_string);
            let mut ws = WriteSet::default();
            self.delete_subtree_into(&mut ws, id, entry)?;
            self.commit_as(ws, Origin::Peer { context: &[], delete_csn: csn.as_deref() })?;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::store;
    use crate::Store;

    fn entry(s: &Store, dn: &str, uuid: &str, csn: &str) -> crate::Entry {
        let attrs = vec![
            ("entryUUID".to_string(), vec![uuid.as_bytes().to_vec()]),
            ("entryCSN".to_string(), vec![csn.as_bytes().to_vec()]),
        ];
        s.make_entry(dn, attrs).unwrap()
    }

    const U1: &str = "11111111-1111-1111-1111-111111111111";
    const U2: &str = "22222222-2222-2222-2222-222222222222";
    const C1: &str = "20260101000000.000001Z#000000#002#000000";
    const C2: &str = "20260101000000.000002Z#000000#002#000000";

    #[test]
    fn peers_changes_keep_csn_sets_and_tombstones() {
        let (_d, s) = store();
        s.set_multi_provider(true);
        s.set_server_id(1);
        let root = vec![("entryUUID".to_string(), vec![b"00000000-0000-0000-0000-000000000001".to_vec()])];
        s.add(s.make_entry("dc=x", root).unwrap(), true).unwrap();
        let own = s.context_csns().unwrap();
        assert_eq!(own.len(), 1);
        // A refresh entry (no context) does not move the set; the peer's set does.
        s.apply_peer_entry(entry(&s, "uid=a,dc=x", U1, C2), &[], |e, _| (super::Verdict::Write(e.clone()), ()))
            .unwrap();
        assert_eq!(s.context_csns().unwrap(), own);
        s.merge_peer_context(&[C1.to_string()]).unwrap();
        assert_eq!(s.context_csns().unwrap().len(), 2);
        // A local write after seeing C2 sorts after it.
        assert!(s.server_id() == 1);
        let uuid = crate::changes::parse_uuid(U1.as_bytes()).unwrap();
        s.apply_peer_delete(&uuid, Some(C2), &[C2.to_string()], |l| (l.same.is_some(), ())).unwrap();
        assert_eq!(s.tombstone(&uuid).unwrap().as_deref(), Some(C2));
        assert_eq!(crate::csn::of_sid(&s.context_csns().unwrap(), 2), Some(C2));
        // The deleted entry coming back with an older CSN meets its tombstone.
        let seen = s
            .apply_peer_entry(entry(&s, "uid=a,dc=x", U1, C1), &[], |_, l| {
                (super::Verdict::Skip, l.tombstone.map(String::from))
            })
            .unwrap();
        assert_eq!(seen.as_deref(), Some(C2));
        // An absent entry the peer has seen is deleted; one it has not is kept.
        let u2 = crate::changes::parse_uuid(U2.as_bytes()).unwrap();
        s.apply_peer_entry(entry(&s, "uid=b,dc=x", U2, C2), &[], |e, _| (super::Verdict::Write(e.clone()), ()))
            .unwrap();
        let root = crate::changes::entry_uuid(&s.get_by_ndn("dc=x").unwrap().unwrap().1).unwrap();
        let present: std::collections::HashSet<_> = [root].into_iter().collect();
        assert_eq!(s.apply_peer_absent("dc=x", &present, &[C1.to_string()]).unwrap(), 0);
        assert_eq!(s.apply_peer_absent("dc=x", &present, &[C2.to_string()]).unwrap(), 1);
        assert_eq!(s.tombstone(&u2).unwrap().as_deref(), Some(C2));
        assert_eq!(s.tombstones().unwrap(), vec![(uuid, C2.to_string()), (u2, C2.to_string())]);
        assert!(s.check().unwrap().is_empty());
    }

    #[test]
    fn a_shadowed_entry_takes_its_dn_when_the_winner_leaves() {
        let (_d, s) = store();
        s.set_multi_provider(true);
        let root = vec![("entryUUID".to_string(), vec![b"00000000-0000-0000-0000-000000000001".to_vec()])];
        s.add(s.make_entry("dc=x", root).unwrap(), true).unwrap();
        let (u1, u2) =
            (crate::changes::parse_uuid(U1.as_bytes()).unwrap(), crate::changes::parse_uuid(U2.as_bytes()).unwrap());
        let write = |e: crate::Entry| (super::Verdict::Write(e), ());
        s.apply_peer_entry(entry(&s, "cn=t,dc=x", U1, C1), &[], |e, _| write(e.clone())).unwrap();
        let loser = entry(&s, "cn=t,dc=x", U2, C2);
        s.apply_peer_entry(loser, &[], |e, l| {
            assert!(l.other_at("cn=t,dc=x").is_some());
            (super::Verdict::Shadow(e.clone()), ())
        })
        .unwrap();
        assert_eq!(s.tombstone(&u2).unwrap().as_deref(), Some(""));
        // The winner stays first: nothing moves.
        let u1_first = |a: &crate::Entry, _: &crate::Entry| crate::changes::entry_uuid(a) == Some(u1);
        assert_eq!(s.promote_shadows(u1_first).unwrap(), 0);
        s.apply_peer_delete(&u1, Some(C2), &[], |l| (l.same.is_some(), ())).unwrap();
        assert_eq!(s.promote_shadows(u1_first).unwrap(), 1);
        let (_, back) = s.get_by_ndn("cn=t,dc=x").unwrap().unwrap();
        assert_eq!(crate::changes::entry_uuid(&back), Some(u2));
        assert_eq!((s.tombstone(&u2).unwrap(), s.tomb_state(&u2).unwrap().is_none()), (None, true));
        assert_eq!(s.inner.meta.scan_prefix(crate::changes::META_SHADOW_PREFIX).count(), 0);
        assert!(s.check().unwrap().is_empty());
    }

    #[test]
    fn a_tombstone_keeps_the_state_and_a_later_change_clears_it() {
        let (_d, s) = store();
        s.set_multi_provider(true);
        s.set_server_id(1);
        let root = vec![("entryUUID".to_string(), vec![b"00000000-0000-0000-0000-000000000001".to_vec()])];
        s.add(s.make_entry("dc=x", root).unwrap(), true).unwrap();
        let uuid = crate::changes::parse_uuid(U1.as_bytes()).unwrap();
        s.apply_peer_entry(entry(&s, "uid=a,dc=x", U1, C1), &[], |e, _| (super::Verdict::Write(e.clone()), ()))
            .unwrap();
        s.apply_peer_delete(&uuid, Some(C2), &[], |l| (l.same.is_some(), ())).unwrap();
        let state = s.tomb_state(&uuid).unwrap().expect("the deleted entry is kept with its tombstone");
        assert_eq!(state.dn, "uid=a,dc=x");
        // A losing change joins the state.
        let mut buried = state.clone();
        buried.add_values("description", "description", [b"late".to_vec()]);
        s.apply_peer_entry(entry(&s, "uid=a,dc=x", U1, C1), &[], |_, l| {
            assert_eq!(l.tombstone, Some(C2));
            (super::Verdict::Bury(buried.clone()), ())
        })
        .unwrap();
        assert!(s.tomb_state(&uuid).unwrap().unwrap().get("description").is_some());
        // A change later than the delete brings the entry back: tombstone and state go.
        const C3: &str = "20260101000000.000003Z#000000#002#000000";
        s.apply_peer_entry(entry(&s, "uid=a,dc=x", U1, C3), &[], |e, l| {
            assert!(l.tomb_state.is_some());
            (super::Verdict::Write(e.clone()), ())
        })
        .unwrap();
        assert_eq!((s.tombstone(&uuid).unwrap(), s.tomb_state(&uuid).unwrap().is_none()), (None, true));
        assert!(s.get_by_ndn("uid=a,dc=x").unwrap().is_some());
        assert!(s.check().unwrap().is_empty());
    }
}
