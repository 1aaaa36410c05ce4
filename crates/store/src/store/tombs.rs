//! The tombstone purge: a multi-provider server keeps a tombstone per deleted entryUUID
//! (the CSN of the delete, under [`changes::META_TOMB_PREFIX`] in the meta tree) so that
//! an older change arriving later cannot bring the entry back. Kept for ever they grow with
//! every delete; [`Store::purge_tombstones`] removes those older than a cutoff CSN, in
//! bounded batches, each under the writer lock and in one transaction, and remembers per
//! server id the newest delete it forgot ([`Store::purged_tombstones`]), so that a peer
//! whose cookie predates it can be recognised.

use super::Store;
use crate::changes;
use crate::csn;
use crate::StoreError;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::collections::BTreeMap;

/// Tombstones removed per transaction (and read per pass without the lock): a million
/// tombstones are never one transaction or one list.
pub const PURGE_BATCH: usize = 1000;

/// Meta key of the purge horizon: per server id, the CSN of the newest delete whose
/// tombstone was purged (`;`-separated, as the contextCSN set).
pub const META_TOMBS_PURGED: &str = "tombs_purged";

/// Tombstones due for purging (their entryUUIDs) and the key to read on from (`None`:
/// the end of the tombstones).
type Due = (Vec<[u8; 16]>, Option<Vec<u8>>);

/// The writes of one purge batch, applied in one transaction ([`PurgeBatch::apply`]).
#[derive(Default)]
struct PurgeBatch {
    /// Meta tree writes: the tombstones removed and the new purge horizon.
    meta: sled::Batch,
    /// Tombstones removed so far.
    removed: usize,
}

impl PurgeBatch {
    /// Applies the batch in one transaction.
    fn apply(&self, store: &Store) -> Result<(), StoreError> {
        store
            .inner
            .meta
            .transaction(|tm| {
                tm.apply_batch(&self.meta)?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::Sled(e),
            })
    }
}

/// The meta key of the tombstone of `uuid`.
fn tomb_key(uuid: &[u8; 16]) -> Vec<u8> {
    [changes::META_TOMB_PREFIX, uuid.as_slice()].concat()
}

/// Removes the tombstone of `uuid` and the state kept with it in `batch`.
fn remove_tombstone(batch: &mut PurgeBatch, uuid: &[u8; 16]) {
    batch.meta.remove(tomb_key(uuid));
    batch.meta.remove([changes::META_TOMB_STATE_PREFIX, uuid.as_slice()].concat());
    batch.removed += 1;
}

impl Store {
    /// Deletes the tombstones whose delete CSN sorts before the CSN `before` (build it with
    /// [`csn::floor_at`] from now minus the tombstone lifetime), durably, in batches of
    /// [`PURGE_BATCH`], each under the writer lock. Returns how many were deleted.
    pub fn purge_tombstones(&self, before: &str) -> Result<usize, StoreError> {
        self.purge_tombstones_by(before, PURGE_BATCH)
    }

    /// [`Store::purge_tombstones`] with batches of `batch` tombstones.
    fn purge_tombstones_by(&self, before: &str, batch: usize) -> Result<usize, StoreError> {
        let batch = batch.max(1);
        let mut from = changes::META_TOMB_PREFIX.to_vec();
        let mut purged = 0;
        loop {
            let (due, next) = self.due_tombstones(&from, before, batch)?;
            if !due.is_empty() {
                purged += self.purge_batch(&due, before)?;
            }
            match next {
                Some(k) => from = k,
                None => break,
            }
        }
        if purged > 0 {
            self.sync()?;
        }
        Ok(purged)
    }

    /// Reads (without the lock), from key `from` on, up to `batch` tombstones whose delete
    /// sorts before `before`; returns them and the key to go on from (`None`: the end).
    fn due_tombstones(&self, from: &[u8], before: &str, batch: usize) -> Result<Due, StoreError> {
        let mut due = Vec::new();
        for kv in self.inner.meta.range(from.to_vec()..) {
            let (k, v) = kv?;
            if !k.starts_with(changes::META_TOMB_PREFIX) {
                break;
            }
            let Ok(uuid) = <[u8; 16]>::try_from(&k[changes::META_TOMB_PREFIX.len()..]) else { continue };
            // An empty CSN is a shadowed add/add loser, not a delete: it is never purged.
            if !v.is_empty() && v.as_ref() < before.as_bytes() {
                due.push(uuid);
                if due.len() == batch {
                    // Go on just after this key.
                    let mut next = k.to_vec();
                    next.push(0);
                    return Ok((due, Some(next)));
                }
            }
        }
        Ok((due, None))
    }

    /// Deletes the tombstones of `uuids` still older than `before`, in one transaction
    /// under the writer lock, and moves the purge horizon past their CSNs.
    fn purge_batch(&self, uuids: &[[u8; 16]], before: &str) -> Result<usize, StoreError> {
        let _guard = self.write_guard();
        self.refuse_if_failed()?;
        let mut batch = PurgeBatch::default();
        let mut horizon = self.purged_tombstones()?;
        let mut moved = false;
        for uuid in uuids {
            // Read again under the lock: a later delete of the same entryUUID renews it.
            let Some(c) = self.tombstone(uuid)? else { continue };
            if c.is_empty() || c.as_str() >= before {
                continue;
            }
            moved |= csn::merge_into(&mut horizon, &c);
            remove_tombstone(&mut batch, uuid);
        }
        if batch.removed == 0 {
            return Ok(0);
        }
        if moved {
            batch.meta.insert(META_TOMBS_PURGED, horizon.join(";").as_bytes());
        }
        let r = batch.apply(self);
        self.note_failure(r)?;
        Ok(batch.removed)
    }

    /// The purge horizon: per server id, the CSN of the newest delete whose tombstone was
    /// purged. A peer whose contextCSN set does not cover one of them may have missed a
    /// delete that no tombstone tells of any more.
    pub fn purged_tombstones(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.meta_get(META_TOMBS_PURGED)?.map(|v| csn::parse_set(&v)).unwrap_or_default())
    }

    /// The tombstones kept, by the server id of their delete's CSN (0: unreadable). Reads
    /// every tombstone: for the periodic figures, not for every request.
    pub fn tombstone_counts(&self) -> Result<BTreeMap<u16, u64>, StoreError> {
        let mut counts = BTreeMap::new();
        for kv in self.inner.meta.scan_prefix(changes::META_TOMB_PREFIX) {
            let (_, v) = kv?;
            if v.is_empty() {
                continue; // a shadowed entry, not a delete
            }
            let sid = std::str::from_utf8(&v).ok().and_then(csn::sid_of).unwrap_or(0);
            *counts.entry(sid).or_default() += 1;
        }
        Ok(counts)
    }

    /// `birch check`'s part on tombstones: each names a 16-byte entryUUID and holds a
    /// well-formed CSN (or none: a shadowed add/add loser).
    pub(super) fn check_tombstones(&self, problems: &mut Vec<String>) -> Result<(), StoreError> {
        for kv in self.inner.meta.scan_prefix(changes::META_TOMB_PREFIX) {
            let (k, v) = kv?;
            let csn_ok = v.is_empty() || std::str::from_utf8(&v).ok().and_then(csn::time_of).is_some();
            if k.len() != changes::META_TOMB_PREFIX.len() + 16 || !csn_ok {
                problems.push(format!("malformed tombstone {:?} = {:?}", k.as_ref(), String::from_utf8_lossy(&v)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::csn::format_csn;
    use crate::testing::store;
    use crate::Store;

    /// A tombstone for entryUUID `n` (not held here) deleted at `secs` by server `sid`.
    fn tomb(s: &Store, n: u8, secs: u64, sid: u16) -> ([u8; 16], String) {
        let uuid = [n; 16];
        let csn = format_csn(secs * 1_000_000, 0, sid);
        s.apply_peer_delete(&uuid, Some(csn.as_str()), &[], |_| (true, ())).unwrap();
        assert_eq!(s.tombstone(&uuid).unwrap().as_deref(), Some(csn.as_str()));
        (uuid, csn)
    }

    /// A real delete under dc=x (a tombstone with the entry's state).
    fn add_and_delete(s: &Store) {
        let uuid = ("entryUUID", "99999999-9999-9999-9999-999999999999");
        let e = s
            .make_entry("uid=a,dc=x", crate::testing::attrs(&[("objectClass", "account"), ("uid", "a"), uuid]))
            .unwrap();
        s.add(e, false).unwrap();
        s.delete("uid=a,dc=x").unwrap();
    }

    fn s_schema() -> std::sync::Arc<birch_schema::Schema> {
        std::sync::Arc::new(birch_schema::Schema::builtin())
    }

    fn multi() -> (tempfile::TempDir, Store) {
        let (d, s) = store();
        s.set_multi_provider(true);
        s.set_server_id(1);
        (d, s)
    }

    #[test]
    fn tombstones_older_than_the_cutoff_go_and_newer_ones_stay() {
        let (_d, s) = multi();
        let old_a = tomb(&s, 1, 1_000, 2);
        let old_b = tomb(&s, 2, 2_000, 3);
        let new = tomb(&s, 3, 5_000, 2);
        let cutoff = format_csn(3_000 * 1_000_000, 0, 0);
        assert!(s.purged_tombstones().unwrap().is_empty());
        assert_eq!(s.purge_tombstones(&cutoff).unwrap(), 2);
        assert_eq!(s.tombstones().unwrap(), vec![new.clone()]);
        assert_eq!(s.tombstone(&old_a.0).unwrap(), None);
        // The horizon: the newest purged delete per server id.
        assert_eq!(s.purged_tombstones().unwrap(), vec![old_a.1.clone(), old_b.1.clone()]);
        assert_eq!(s.tombstone_counts().unwrap().into_iter().collect::<Vec<_>>(), vec![(2, 1)]);
        // Nothing more to do: purging again deletes nothing and keeps the horizon.
        assert_eq!(s.purge_tombstones(&cutoff).unwrap(), 0);
        assert_eq!(s.purged_tombstones().unwrap().len(), 2);
        // A CSN equal to the cutoff is not before it.
        assert_eq!(s.purge_tombstones(&new.1).unwrap(), 0);
        assert!(s.check().unwrap().is_empty(), "{:?}", s.check().unwrap());
    }

    #[test]
    fn a_purge_runs_in_batches_and_leaves_the_store_consistent() {
        let (d, s) = multi();
        s.add(s.make_entry("dc=x", crate::testing::attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true)
            .unwrap();
        // Nine old tombstones among four new ones, and a real delete (a new tombstone).
        let mut keep = Vec::new();
        for n in 0..13u8 {
            let t = tomb(&s, n + 10, if n % 4 == 0 { 9_000_000_000 } else { 100 + u64::from(n) }, 2);
            if n % 4 == 0 {
                keep.push(t);
            }
        }
        add_and_delete(&s);
        assert_eq!(s.tombstones().unwrap().len(), 14);
        let cutoff = format_csn(1_000 * 1_000_000, 0, 0);
        // Batches of three: three batches, and a last read that finds the end.
        assert_eq!(s.purge_tombstones_by(&cutoff, 3).unwrap(), 9);
        assert_eq!(s.tombstones().unwrap().len(), 5);
        assert!(keep.iter().all(|(u, c)| s.tombstone(u).unwrap().as_deref() == Some(c.as_str())));
        assert_eq!(s.purged_tombstones().unwrap(), vec![format_csn(111 * 1_000_000, 0, 2)]);
        assert_eq!(s.tombstone_counts().unwrap().values().sum::<u64>(), 5);
        assert!(s.check().unwrap().is_empty(), "{:?}", s.check().unwrap());
        assert_eq!(s.purge_tombstones_by(&cutoff, 1).unwrap(), 0);
        // Durable: the store opened again holds the same.
        drop(s);
        let s = Store::open(d.path(), s_schema(), crate::IndexConfig::default(), 16 << 20).unwrap();
        assert_eq!(s.tombstones().unwrap().len(), 5);
        assert_eq!(s.purged_tombstones().unwrap().len(), 1);
    }

    #[test]
    fn a_purge_takes_the_state_along_and_never_purges_a_shadowed_entry() {
        let (_d, s) = multi();
        s.add(s.make_entry("dc=x", crate::testing::attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true)
            .unwrap();
        add_and_delete(&s);
        let deleted = s.tombstones().unwrap()[0].0;
        assert!(s.tomb_state(&deleted).unwrap().is_some());
        // A shadowed add/add loser: a tombstone with no CSN, and its state.
        let shadow = crate::changes::parse_uuid(b"88888888-8888-8888-8888-888888888888").unwrap();
        let loser =
            s.make_entry("uid=b,dc=x", crate::testing::attrs(&[("objectClass", "account"), ("uid", "b")])).unwrap();
        s.apply_peer_entry(
            {
                let mut l = loser;
                l.add_values("entryUUID", "entryuuid", [b"88888888-8888-8888-8888-888888888888".to_vec()]);
                l
            },
            &[],
            |e, _| (crate::store::Verdict::Shadow(e.clone()), ()),
        )
        .unwrap();
        let far = format_csn(u64::MAX / 2, 0, 0);
        assert_eq!(s.purge_tombstones(&far).unwrap(), 1);
        assert!(s.tomb_state(&deleted).unwrap().is_none(), "the state goes with its tombstone");
        assert_eq!(s.tombstone(&shadow).unwrap().as_deref(), Some(""));
        assert!(s.tomb_state(&shadow).unwrap().is_some());
        assert!(s.tombstone_counts().unwrap().is_empty(), "a shadowed entry is not a delete");
        assert!(s.check().unwrap().is_empty(), "{:?}", s.check().unwrap());
    }

    #[test]
    fn check_reports_a_malformed_tombstone() {
        let (_d, s) = multi();
        tomb(&s, 1, 1_000, 2);
        s.inner.meta.insert([crate::changes::META_TOMB_PREFIX, b"short"].concat(), b"junk".as_slice()).unwrap();
        let problems = s.check().unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("malformed tombstone"), "{problems:?}");
    }
}
