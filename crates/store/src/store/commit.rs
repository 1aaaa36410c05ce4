//! Applying a write set: everything one write changes, in one sled transaction, in named
//! phases (see [`Store::commit_as`]). Called under the writer lock, so the posting-list
//! chunks read to plan the index writes cannot change before the transaction.

use super::dn_tree::child_key;
#[cfg(feature = "failpoints")]
use super::injected;
use super::Store;
use crate::changes::{self, ChangeItem, ChangeSet, META_CONTEXT_CSN, META_CONTEXT_CSNS, META_SYNC_COOKIE};
use crate::entry::Entry;
use crate::hooks::CommitObserver;
use crate::index::{self, IndexConfig};
use crate::packs;
use crate::postings::ChunkWrite;
use crate::StoreError;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Who made a write: a client of this server (stamped with a fresh CSN, its write set
/// extended by the write-set hook) or a provider this replica follows (its entryCSNs kept, nothing derived:
/// the provider sends every entry it changed).
#[derive(Clone, Copy)]
pub(crate) enum Origin<'a> {
    Local,
    Replicated {
        cookie: Option<&'a [u8]>,
    },
    /// A change received from a peer provider (multi-provider): entryCSNs kept, a delete
    /// stamped with the delete's CSN at its origin, and the contextCSN set merged with
    /// `context` (the peer's, once everything it covers is here).
    Peer {
        context: &'a [String],
        delete_csn: Option<&'a str>,
    },
}

/// A tombstone: a deleted entryUUID and the CSN of its delete.
pub(crate) type Tomb = ([u8; 16], String);

/// An entryUUID index change: the UUID and the id it now names (`None`: removed).
type UuidChange = ([u8; 16], Option<u64>);

impl Store {
    /// Applies a write set in one sled transaction. Called under the writer lock, so the
    /// posting-list chunks read to plan the index writes cannot change meanwhile.
    pub(crate) fn commit(&self, ws: WriteSet) -> Result<(), StoreError> {
        self.commit_as(ws, Origin::Local)
    }

    /// Applies a write set (see [`Store::commit`]) made by `origin`: a local write gets a
    /// fresh CSN as the entryCSN of every entry it changes; a replicated one keeps the
    /// provider's and stores its cookie. The contextCSN follows in the same transaction,
    /// and the commit observers hear of it. A storage failure makes the store
    /// refuse later writes (see `durability`).
    pub(crate) fn commit_as(&self, ws: WriteSet, origin: Origin<'_>) -> Result<(), StoreError> {
        self.refuse_if_failed()?;
        let r = self.commit_phases(ws, origin).map(drop);
        self.note_failure(r)
    }

    /// [`Store::commit`] handing back the write set as committed: its entries as stored
    /// (entryCSN stamped, the write-set hook's edits made), so the caller need not keep
    /// copies of its own.
    pub(crate) fn commit_returning(&self, ws: WriteSet) -> Result<WriteSet, StoreError> {
        self.refuse_if_failed()?;
        let r = self.commit_phases(ws, Origin::Local);
        self.note_failure(r)
    }

    /// The phases of a commit, in order: 1 the write-set hook, 2 feed order, 3 CSN
    /// assignment (and the contextCSN it leads to), 4 entryUUID index changes, 5 change-feed
    /// items, 6 lowering to tree writes, 7 unique check, 8 index plan, 9 the transaction,
    /// 10 counters, 11 publish to the commit observers. Nothing is written before the transaction: a write
    /// that fails before it leaves the store as it was.
    fn commit_phases(&self, mut ws: WriteSet, origin: Origin<'_>) -> Result<WriteSet, StoreError> {
        fail::fail_point!("store::commit", |_| Err(injected("store::commit")));
        if let Origin::Local = origin {
            self.extend_write_set(&mut ws)?;
        }
        let context = self.context_csn()?;
        let order = feed_order(&ws);
        let mut csns = self.stamp_csns(&mut ws, &order, !matches!(origin, Origin::Local));
        if matches!(origin, Origin::Local) && self.is_multi_provider() {
            record_attribute_csns(&mut ws, &order, &csns);
        }
        if let Origin::Peer { delete_csn: Some(d), .. } = origin {
            for c in csns.iter_mut().filter(|c| c.is_empty()) {
                *c = d.to_string();
            }
        }
        let csn = csns.iter().max().cloned().unwrap_or_default();
        let (context_set, tombs) = self.multi_provider_state(&mut ws, &order, &csns, origin)?;
        let (states, untombs) = self.tomb_state_changes(&mut ws, origin)?;
        // A peer's entries come in any order during a refresh: only its contextCSN set
        // (what it vouches for) moves the contextCSN, never the entries' CSNs.
        let new_context = match (origin, &context_set) {
            (Origin::Peer { .. }, Some(set)) => {
                advanced_context(context, set.iter().max_by(|a, b| a.cmp(b)).map_or("", String::as_str))
            }
            _ => advanced_context(context, &csn),
        };
        let uuids = uuid_changes(&ws, &order);
        let observers = self.listening_observers();
        // Nothing is built for the observers when none listens.
        let items = if observers.is_empty() { Vec::new() } else { feed_items(&ws, &order, csns, &csn) };
        let low = self.lower(&ws);
        self.check_unique(&low)?;
        let index_writes = self.plan_index_writes(&low)?;
        let cookie = match origin {
            Origin::Replicated { cookie } => cookie,
            Origin::Local | Origin::Peer { .. } => None,
        };
        let shadows = std::mem::take(&mut ws.shadows);
        let multi = Multi {
            context: context_set.as_deref(),
            tombs: &tombs,
            states: &states,
            untombs: &untombs,
            shadows: &shadows,
        };
        self.transact(&low, &uuids, new_context.as_deref(), cookie, &index_writes, multi)?;
        self.count_entries(&ws);
        if !observers.is_empty() {
            publish(&observers, ChangeSet { csn, items, context: context_set.unwrap_or_default() });
        }
        Ok(ws)
    }

    /// Phase 3b, multi-provider state (only when [`Store::set_multi_provider`] is on): the
    /// new contextCSN set (a local write advances this server's CSN, a peer's write merges
    /// the peer's set) and the tombstones of the entries deleted.
    fn multi_provider_state(
        &self,
        ws: &mut WriteSet,
        order: &[u64],
        csns: &[String],
        origin: Origin<'_>,
    ) -> Result<(Option<Vec<String>>, Vec<Tomb>), StoreError> {
        if !self.is_multi_provider() {
            return Ok((None, Vec::new()));
        }
        let mut set = self.context_csns()?;
        match origin {
            Origin::Local => {
                for c in csns {
                    crate::csn::merge_into(&mut set, c);
                }
            }
            Origin::Peer { context, .. } => {
                for c in context {
                    crate::csn::merge_into(&mut set, c);
                }
            }
            Origin::Replicated { .. } => {}
        }
        let mut tombs = Vec::new();
        for (id, c) in order.iter().zip(csns) {
            if let Some((Some(old), None)) = ws.changes.get(id) {
                if let Some(u) = changes::entry_uuid(old) {
                    tombs.push((u, c.clone()));
                }
            }
        }
        // Written after: a peer's delete of an entry not here, a shadowed entry's empty CSN.
        tombs.append(&mut ws.tombs);
        Ok((Some(set), tombs))
    }

    /// Phase 3c, tombstone states (multi-provider): the state of every entry deleted (as it
    /// was) and of a tombstone a peer's losing change was merged into; an entry a peer's
    /// change brings back loses its tombstone and state.
    #[allow(clippy::type_complexity)]
    fn tomb_state_changes(
        &self,
        ws: &mut WriteSet,
        origin: Origin<'_>,
    ) -> Result<(Vec<([u8; 16], Vec<u8>)>, Vec<[u8; 16]>), StoreError> {
        if !self.is_multi_provider() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut states = Vec::new();
        let mut untombs = Vec::new();
        for (old, new) in ws.changes.values() {
            match (old, new) {
                (Some(o), None) => {
                    if let Some(u) = changes::entry_uuid(o) {
                        states.push((u, o.encode()));
                    }
                }
                (o, Some(n)) if matches!(origin, Origin::Peer { .. }) => {
                    let u = changes::entry_uuid(n);
                    if let Some(u) = u.filter(|u| o.as_ref().and_then(changes::entry_uuid) != Some(*u)) {
                        if self.tombstone(&u)?.is_some() {
                            untombs.push(u);
                        }
                    }
                }
                _ => {}
            }
        }
        // Written after the deleted entries' own: a shadowed entry's state as given.
        states.append(&mut ws.tomb_states);
        Ok((states, untombs))
    }

    /// Phase 1, the write-set hook (local writes only): extends the write set with what its
    /// entries call for (the server's group maintenance; see [`crate::hooks`]). A replica
    /// derives nothing: its provider sends every entry.
    fn extend_write_set(&self, ws: &mut WriteSet) -> Result<(), StoreError> {
        match self.inner.write_set_hook.get() {
            Some(hook) => hook.extend(self, ws),
            None => Ok(()),
        }
    }

    /// Phase 3, CSN assignment: one CSN per entry, in feed order (slapd's consumer ignores
    /// a second message with the same CSN). A local write stamps a fresh CSN as the entryCSN
    /// of every entry it keeps (a delete takes one too); a replicated write keeps the
    /// provider's entryCSNs (and has none for a delete: `""`).
    fn stamp_csns(&self, ws: &mut WriteSet, order: &[u64], replicated: bool) -> Vec<String> {
        let mut csns: Vec<String> = Vec::with_capacity(order.len());
        for id in order {
            let Some((_, new)) = ws.changes.get_mut(id) else { continue };
            match (replicated, new) {
                (false, Some(n)) => {
                    let csn = self.inner.csn.next();
                    changes::set_entry_csn(n, &csn);
                    csns.push(csn);
                }
                (false, None) => csns.push(self.inner.csn.next()),
                (true, Some(n)) => csns.push(changes::entry_csn(n).unwrap_or_default().to_string()),
                (true, None) => csns.push(String::new()),
            }
        }
        csns
    }

    /// Phase 6, lowering: the write set as writes to the entries, dn2id and children trees
    /// and as posting-list changes by index prefix.
    fn lower(&self, ws: &WriteSet) -> Lowered {
        let mut low = Lowered { membership: changes_membership(ws), ..Lowered::default() };
        for (id, (old, new)) in &ws.changes {
            low.entry(self, *id, old.as_ref(), new.as_ref());
        }
        low
    }

    /// Phase 7, unique check: refuses the write if it gives a unique attribute's value to
    /// two entries ([`StoreError::NotUnique`]).
    fn check_unique(&self, low: &Lowered) -> Result<(), StoreError> {
        for (prefix, (adds, removes)) in &low.index {
            self.check_unique_value(prefix, adds, removes)?;
        }
        Ok(())
    }

    /// Phase 8, index plan: the chunk and pack writes of every posting-list change, planned
    /// all at once (several equality lists may share a pack).
    fn plan_index_writes(&self, low: &Lowered) -> Result<Vec<ChunkWrite>, StoreError> {
        let changes = low.index.iter().map(|(p, (adds, removes))| (p.as_slice(), adds.as_slice(), removes.as_slice()));
        packs::plan_changes(&self.inner.index, changes)
    }

    /// Phase 9, the transaction: every tree write of the commit, the entryUUID index, the
    /// new contextCSN and a replica's cookie, at once. Counted as a write being applied
    /// (see [`Store::quiet_stamp`]) while it runs.
    fn transact(
        &self,
        low: &Lowered,
        uuids: &[UuidChange],
        new_context: Option<&str>,
        cookie: Option<&[u8]>,
        index_writes: &[ChunkWrite],
        multi: Multi<'_>,
    ) -> Result<(), StoreError> {
        let i = &self.inner;
        let _writing = if low.membership { self.writing() } else { self.writing_not_membership() };
        (&i.entries, &i.dn2id, &i.children, &i.index, &i.uuid2id, &i.meta)
            .transaction(|(te, td, tc, ti, tu, tm)| {
                for (uuid, id) in uuids {
                    match id {
                        Some(id) => tu.insert(uuid, &id.to_be_bytes())?,
                        None => tu.remove(uuid)?,
                    };
                }
                if let Some(c) = new_context {
                    tm.insert(META_CONTEXT_CSN, c.as_bytes())?;
                }
                if let Some(cookie) = cookie {
                    tm.insert(META_SYNC_COOKIE, cookie)?;
                }
                if let Some(set) = multi.context {
                    tm.insert(META_CONTEXT_CSNS, set.join(";").as_bytes())?;
                }
                for (uuid, csn) in multi.tombs {
                    tm.insert([changes::META_TOMB_PREFIX, uuid.as_slice()].concat(), csn.as_bytes())?;
                }
                for (uuid, state) in multi.states {
                    tm.insert([changes::META_TOMB_STATE_PREFIX, uuid.as_slice()].concat(), state.as_slice())?;
                }
                for (ndn, uuid) in multi.shadows {
                    tm.insert(changes::shadow_key(ndn, uuid), &[])?;
                }
                for uuid in multi.untombs {
                    tm.remove([changes::META_TOMB_PREFIX, uuid.as_slice()].concat())?;
                    tm.remove([changes::META_TOMB_STATE_PREFIX, uuid.as_slice()].concat())?;
                }
                for (id, value) in &low.entries {
                    match value {
                        Some(v) => te.insert(&id.to_be_bytes(), v.as_slice())?,
                        None => te.remove(&id.to_be_bytes())?,
                    };
                }
                for (ndn, id) in &low.dn2id {
                    match id {
                        Some(id) => td.insert(ndn.as_slice(), &id.to_be_bytes())?,
                        None => td.remove(ndn.as_slice())?,
                    };
                }
                for (key, present) in &low.children {
                    if *present {
                        tc.insert(key, &[])?;
                    } else {
                        tc.remove(key)?;
                    }
                }
                apply_chunk_writes(ti, index_writes)?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(tx_error)
    }

    /// Phase 10, counters: the kept entry count (see [`Store::len`]) follows the entries
    /// added and deleted. (The write counters follow in phase 9.)
    fn count_entries(&self, ws: &WriteSet) {
        if let Some(n) = self.entry_count().as_mut() {
            for (old, new) in ws.changes.values() {
                match (old, new) {
                    (None, Some(_)) => *n += 1,
                    (Some(_), None) => *n = n.saturating_sub(1),
                    _ => {}
                }
            }
        }
    }

    /// Refuses a change that would give a unique attribute's value to two entries.
    fn check_unique_value(&self, prefix: &[u8], adds: &[u64], removes: &[u64]) -> Result<(), StoreError> {
        let Some(attr) = IndexConfig::eq_prefix_attr(prefix) else { return Ok(()) };
        if adds.is_empty() || !self.inner.cfg.unique.contains(attr) {
            return Ok(());
        }
        let others = packs::read(&self.inner.index, prefix)?.into_iter().filter(|id| !removes.contains(id)).count();
        if others + adds.len() > 1 {
            let value = &prefix[attr.len() + 2..prefix.len() - 1];
            return Err(StoreError::NotUnique {
                attr: attr.to_string(),
                value: String::from_utf8_lossy(value).into_owned(),
            });
        }
        Ok(())
    }

    /// A number that changes whenever a write is committed: what is derived from the
    /// directory's contents and remembered is still valid while it is unchanged. Read it
    /// before deriving.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    /// [`Store::generation`] for what is derived from memberOf values alone (a bind's group
    /// memberships): it changes with every committed write that changes an entry's memberOf,
    /// adds, deletes or renames an entry, and every bulk write, but not with others (a
    /// description, a last-bind time, a password). Read it before deriving.
    pub fn membership_generation(&self) -> u64 {
        self.inner.membership.load(Ordering::SeqCst)
    }

    /// A stamp of the store's write history taken while no write is being applied; `None`
    /// while one is. Whatever is read after taking it was read unchanged as long as
    /// [`Store::unchanged_since`] the stamp holds after the reading.
    pub fn quiet_stamp(&self) -> Option<u64> {
        let done = self.inner.generation.load(Ordering::SeqCst);
        let begun = self.inner.begun.load(Ordering::SeqCst);
        (begun == done).then_some(begun)
    }

    /// Whether no write has begun since `stamp` was taken ([`Store::quiet_stamp`]).
    pub fn unchanged_since(&self, stamp: u64) -> bool {
        self.inner.begun.load(Ordering::SeqCst) == stamp
    }

    /// Marks a write as being applied until the returned guard is dropped: counted in
    /// `begun` now and in `generation` and `membership` when it ends, failed or not.
    pub(crate) fn writing(&self) -> Writing<'_> {
        self.inner.begun.fetch_add(1, Ordering::SeqCst);
        Writing { generation: &self.inner.generation, membership: Some(&self.inner.membership) }
    }

    /// [`Store::writing`] for a write that changes no memberOf and adds, deletes or renames
    /// no entry: `membership` stays.
    fn writing_not_membership(&self) -> Writing<'_> {
        self.inner.begun.fetch_add(1, Ordering::SeqCst);
        Writing { generation: &self.inner.generation, membership: None }
    }
}

/// Phase 2, feed order: the order consumers hear of the entries (and the order of their
/// CSNs): parents before children for what stays, children before parents for what goes.
fn feed_order(ws: &WriteSet) -> Vec<u64> {
    let mut order: Vec<u64> = ws.changes.keys().copied().collect();
    order.sort_by_key(|id| match &ws.changes[id] {
        (_, Some(n)) => (0, n.ndn.len()),
        (old, None) => (1, usize::MAX - old.as_ref().map_or(0, |o| o.ndn.len())),
    });
    order
}

/// Phase 3 (multi-provider, local writes): every changed entry records the CSN of each
/// attribute the write changed (see [`crate::attr_csn`]), so a peer can merge it with a
/// concurrent change of other attributes.
fn record_attribute_csns(ws: &mut WriteSet, order: &[u64], csns: &[String]) {
    for (id, csn) in order.iter().zip(csns) {
        if let Some((Some(old), Some(new))) = ws.changes.get_mut(id) {
            crate::attr_csn::record_change(old, new, csn);
        }
    }
}

/// Phase 3 (end): the contextCSN after a write whose largest CSN is `csn`, if it moves
/// forward (`None`: it stays as it was).
fn advanced_context(context: Option<String>, csn: &str) -> Option<String> {
    match &context {
        Some(c) if c.as_str() >= csn => None,
        _ if csn.is_empty() => None,
        _ => Some(csn.to_string()),
    }
}

/// Phase 4, the entryUUID index: UUIDs an entry lost or gained, in feed order.
fn uuid_changes(ws: &WriteSet, order: &[u64]) -> Vec<UuidChange> {
    let mut uuids = Vec::new();
    for id in order {
        let Some((old, new)) = ws.changes.get(id) else { continue };
        let (ou, nu) = (old.as_ref().and_then(changes::entry_uuid), new.as_ref().and_then(changes::entry_uuid));
        if let Some(u) = ou.filter(|u| Some(*u) != nu) {
            uuids.push((u, None));
        }
        if let Some(u) = nu.filter(|u| Some(*u) != ou) {
            uuids.push((u, Some(*id)));
        }
    }
    uuids
}

/// Phase 5, change-feed items: one per entry, in feed order, each with its CSN (the
/// write's largest, `csn`, for an entry that has none of its own).
fn feed_items(ws: &WriteSet, order: &[u64], csns: Vec<String>, csn: &str) -> Vec<ChangeItem> {
    let mut items = Vec::with_capacity(order.len());
    for (id, item_csn) in order.iter().zip(csns) {
        let Some((old, new)) = ws.changes.get(id) else { continue };
        let (ou, nu) = (old.as_ref().and_then(changes::entry_uuid), new.as_ref().and_then(changes::entry_uuid));
        items.push(ChangeItem {
            id: *id,
            uuid: nu.or(ou),
            csn: if item_csn.is_empty() { csn.to_string() } else { item_csn },
            old_ndn: old.as_ref().map(|e| e.ndn.clone()),
            new_ndn: new.as_ref().map(|e| e.ndn.clone()),
        });
    }
    items
}

/// Phase 11, publish: the observers that listened (see [`crate::hooks`]) hear of the
/// write. Still under the writer lock, so they hear of writes in commit order.
fn publish(observers: &[Arc<dyn CommitObserver>], set: ChangeSet) {
    let set = Arc::new(set);
    for o in observers {
        o.committed(&set);
    }
}

/// What a multi-provider server writes in a commit's transaction besides the entries.
#[derive(Clone, Copy)]
struct Multi<'a> {
    /// The new contextCSN set.
    context: Option<&'a [String]>,
    /// Tombstones of deleted entries.
    tombs: &'a [Tomb],
    /// Tombstone states to write (entryUUID, encoded entry).
    states: &'a [([u8; 16], Vec<u8>)],
    /// Tombstones (and states) to remove: entries a peer's change brought back.
    untombs: &'a [[u8; 16]],
    /// Shadowed entries to index (DN, entryUUID).
    shadows: &'a [(String, [u8; 16])],
}

/// Everything one write operation changes: entry id → (stored entry before, entry after),
/// `None` for absent. Applied in one transaction by `Store::commit`. A write-set hook
/// (see [`crate::hooks`]) reads it and edits further entries through its public methods.
#[derive(Default)]
pub struct WriteSet {
    pub(crate) changes: BTreeMap<u64, (Option<Entry>, Option<Entry>)>,
    /// Tombstones to write besides those of the entries deleted (a peer's delete of an
    /// entry not here).
    pub(crate) tombs: Vec<Tomb>,
    /// Tombstone states to write besides those of the entries deleted (a peer's change
    /// merged into the state of an entry whose delete it lost to).
    pub(crate) tomb_states: Vec<([u8; 16], Vec<u8>)>,
    /// Entries shadowed by this write (an add/add loser), indexed by their DN; their
    /// tombstone (empty CSN) and state are in `tombs` and `tomb_states`.
    pub(crate) shadows: Vec<(String, [u8; 16])>,
}

impl WriteSet {
    /// Shadows `entry` (it lost an add/add conflict at its DN): a tombstone with an empty
    /// CSN, its state, and its DN in the shadow index.
    pub(crate) fn shadow(&mut self, uuid: [u8; 16], entry: &Entry) {
        self.tombs.push((uuid, String::new()));
        self.tomb_states.push((uuid, entry.encode()));
        self.shadows.push((entry.ndn.clone(), uuid));
    }

    /// Records entry `id` changing from `old` to `new`; a second change of the same entry
    /// keeps the first `old` (what is stored).
    pub(crate) fn put_entry(&mut self, id: u64, old: Option<&Entry>, new: Option<&Entry>) {
        match self.changes.entry(id) {
            std::collections::btree_map::Entry::Occupied(mut o) => o.get_mut().1 = new.cloned(),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert((old.cloned(), new.cloned()));
            }
        }
    }

    /// [`WriteSet::put_entry`] taking the entries (no copies).
    pub(crate) fn put_owned(&mut self, id: u64, old: Option<Entry>, new: Option<Entry>) {
        match self.changes.entry(id) {
            std::collections::btree_map::Entry::Occupied(mut o) => o.get_mut().1 = new,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert((old, new));
            }
        }
    }

    /// Takes entry `id`'s change out of the write set: (entry before, entry after).
    pub(crate) fn take(&mut self, id: u64) -> (Option<Entry>, Option<Entry>) {
        self.changes.remove(&id).unwrap_or((None, None))
    }

    /// The entries changed so far, by id: (id, entry as stored before the write (`None`:
    /// added), entry after it (`None`: deleted)).
    pub fn changes(&self) -> impl Iterator<Item = (u64, Option<&Entry>, Option<&Entry>)> + '_ {
        self.changes.iter().map(|(id, (old, new))| (*id, old.as_ref(), new.as_ref()))
    }

    /// The entry `id` as this write set leaves it so far: `Some(None)` if it is deleted,
    /// `None` if the write set does not touch it.
    pub fn current(&self, id: u64) -> Option<Option<&Entry>> {
        self.changes.get(&id).map(|(_, new)| new.as_ref())
    }

    /// Edits the attributes of entry `id` as this write set leaves it (or as `store` holds
    /// it, when the write set does not touch it yet): `f` changes a copy, whose DN and
    /// parent stay. Nothing happens (`Ok(false)`) when the entry does not exist or the write
    /// set deletes it.
    pub fn edit(&mut self, store: &Store, id: u64, f: impl FnOnce(&mut Entry)) -> Result<bool, StoreError> {
        let (stored, current) = match self.current(id) {
            Some(None) => return Ok(false),
            Some(Some(cur)) => (None, cur.clone()),
            None => match store.get(id)? {
                Some(e) => (Some(e.clone()), e),
                None => return Ok(false),
            },
        };
        let (dn, ndn, parent) = (current.dn.clone(), current.ndn.clone(), current.parent);
        let mut next = current;
        f(&mut next);
        (next.dn, next.ndn, next.parent) = (dn, ndn, parent);
        self.put_entry(id, stored.as_ref(), Some(&next));
        Ok(true)
    }
}

/// The tree-level writes of a write set.
#[derive(Default)]
struct Lowered {
    entries: Vec<(u64, Option<Vec<u8>>)>,
    dn2id: Vec<(Vec<u8>, Option<u64>)>,
    children: Vec<([u8; 16], bool)>,
    /// Posting-list changes by index prefix: (ids added, ids removed).
    index: BTreeMap<Vec<u8>, (Vec<u64>, Vec<u64>)>,
    /// The write changes what [`Store::membership_generation`] covers.
    membership: bool,
}

impl Lowered {
    /// Entry `id` changing from `old` to `new`: the entry, its DN and parent links, and the
    /// difference of its index memberships.
    fn entry(&mut self, store: &Store, id: u64, old: Option<&Entry>, new: Option<&Entry>) {
        let (left, joined) = index::prefix_changes(old, new, &store.inner.cfg, store.schema());
        for p in left {
            self.index.entry(p).or_default().1.push(id);
        }
        for p in joined {
            self.index.entry(p).or_default().0.push(id);
        }
        self.entries.push((id, new.map(Entry::encode)));
        if let Some(o) = old {
            if new.is_none_or(|n| n.ndn != o.ndn) {
                self.dn2id.push((o.ndn.clone().into_bytes(), None));
            }
            if o.parent != 0 && new.is_none_or(|n| n.parent != o.parent) {
                self.children.push((child_key(o.parent, id), false));
            }
        }
        if let Some(n) = new {
            if old.is_none_or(|o| o.ndn != n.ndn) {
                self.dn2id.push((n.ndn.clone().into_bytes(), Some(id)));
            }
            if n.parent != 0 && old.is_none_or(|o| o.parent != n.parent) {
                self.children.push((child_key(n.parent, id), true));
            }
        }
    }
}

fn apply_chunk_writes(
    tree: &sled::transaction::TransactionalTree,
    writes: &[ChunkWrite],
) -> Result<(), sled::transaction::UnabortableTransactionError> {
    for w in writes {
        match &w.value {
            Some(v) => tree.insert(w.key.as_slice(), v.as_slice())?,
            None => tree.remove(w.key.as_slice())?,
        };
    }
    Ok(())
}

fn tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

/// A write being applied to the trees (see [`Store::writing`]); ends when dropped.
pub(crate) struct Writing<'a> {
    generation: &'a AtomicU64,
    membership: Option<&'a AtomicU64>,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        // After the write is visible, as the readers of the counters expect.
        if let Some(m) = self.membership {
            m.fetch_add(1, Ordering::SeqCst);
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// Whether a write set changes what [`Store::membership_generation`] covers: an entry added,
/// deleted or renamed, or memberOf changed.
fn changes_membership(ws: &WriteSet) -> bool {
    ws.changes.values().any(|change| match change {
        (Some(old), Some(new)) => old.ndn != new.ndn || old.get("memberof") != new.get("memberof"),
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use crate::testing::{attrs, store};
    use crate::StoreError;

    #[test]
    fn the_entry_count_follows_commits_once_counted() {
        let (_d, s) = store();
        assert_eq!(s.len(), 0);
        s.add(s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true).unwrap();
        for u in ["a", "b", "c"] {
            let e = s.make_entry(&format!("uid={u},dc=x"), attrs(&[("objectClass", "account"), ("uid", u)])).unwrap();
            s.add(e, false).unwrap();
        }
        assert_eq!((s.len(), s.inner.entries.len()), (4, 4));
        s.delete("uid=b,dc=x").unwrap();
        let dup = s.make_entry("uid=a,dc=x", attrs(&[("objectClass", "account"), ("uid", "a")])).unwrap();
        assert!(s.add(dup, false).is_err());
        assert_eq!((s.len(), s.inner.entries.len()), (3, 3));
        // A bulk load makes it count again.
        let mut bulk = s.bulk_loader(10);
        let e = s.make_entry("uid=d,dc=x", attrs(&[("objectClass", "account"), ("uid", "d")])).unwrap();
        bulk.add(e, false).unwrap();
        bulk.finish().unwrap();
        assert_eq!((s.len(), s.inner.entries.len()), (4, 4));
    }

    #[test]
    fn the_membership_generation_moves_with_memberof_adds_deletes_and_renames_only() {
        let (_d, s) = store();
        s.add(s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true).unwrap();
        s.add(s.make_entry("uid=a,dc=x", attrs(&[("objectClass", "account"), ("uid", "a")])).unwrap(), false).unwrap();
        let at = || (s.generation(), s.membership_generation());
        let set = |attr: &'static str, value: &'static str| {
            let before = at();
            s.modify::<StoreError>("uid=a,dc=x", |e| {
                e.attrs.retain(|a| a.canonical != attr);
                e.attrs.push(crate::Attribute {
                    name: attr.into(),
                    canonical: attr.into(),
                    values: vec![value.into()],
                });
                Ok(())
            })
            .unwrap();
            let after = at();
            (after.0 > before.0, after.1 > before.1)
        };
        assert_eq!(set("description", "one"), (true, false), "a description is not membership");
        assert_eq!(set("memberof", "cn=g,dc=x"), (true, true));
        assert_eq!(set("memberof", "cn=g,dc=x"), (true, false), "the same memberOf again");
        assert_eq!(set("memberof", "cn=h,dc=x"), (true, true));
        let before = at().1;
        let to = birch_schema::Dn::parse("uid=b,dc=x").unwrap();
        s.rename::<StoreError>("uid=a,dc=x", &to, |_| Ok(())).unwrap();
        assert!(at().1 > before, "a rename");
        let before = at().1;
        s.delete("uid=b,dc=x").unwrap();
        assert!(at().1 > before, "a delete");
        let before = at().1;
        s.add(s.make_entry("uid=c,dc=x", attrs(&[("objectClass", "account"), ("uid", "c")])).unwrap(), false).unwrap();
        assert!(at().1 > before, "an add");
    }

    #[test]
    fn unique_attributes_refuse_duplicates() {
        let (_d, s) = store();
        s.add(s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true).unwrap();
        s.add(s.make_entry("cn=a,dc=x", attrs(&[("objectClass", "account"), ("uid", "same")])).unwrap(), false)
            .unwrap();
        let dup = s.make_entry("cn=b,dc=x", attrs(&[("objectClass", "account"), ("uid", "SAME")])).unwrap();
        assert!(matches!(s.add(dup, false), Err(StoreError::NotUnique { .. })));
        s.add(s.make_entry("cn=b,dc=x", attrs(&[("objectClass", "account"), ("uid", "other")])).unwrap(), false)
            .unwrap();
        let r: Result<_, StoreError> = s.modify("cn=b,dc=x", |e| {
            e.get_mut("uid").unwrap().values = vec![b"same".to_vec()];
            Ok(())
        });
        assert!(matches!(r, Err(StoreError::NotUnique { .. })));
        // An entry may keep (re-write) its own value.
        let r: Result<_, StoreError> = s.modify("cn=a,dc=x", |e| {
            e.get_mut("uid").unwrap().values = vec![b"Same".to_vec()];
            Ok(())
        });
        assert!(r.is_ok());
        assert!(s.check().unwrap().is_empty());
    }
}
