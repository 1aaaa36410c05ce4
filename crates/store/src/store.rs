//! The directory store on sled.
//!
//! Trees: `entries` (id → encoded entry), `dn2id` (normalized DN → id), `children`
//! (parent id ++ child id → empty), `index` (see [`crate::index`]) and `meta` (small
//! key/value settings). Every change is one sled transaction across these trees; writers
//! are serialized by a mutex (so check-then-write is race free) and durability is a
//! separate `flush`, which concurrent writers share (group commit).

use crate::changes::{self, ChangeItem, ChangeSet, META_CONTEXT_CSN, META_SYNC_COOKIE};
use crate::csn::CsnClock;
use crate::entry::Entry;
use crate::filter::{Filter, Tri};
use crate::index::{self, IndexConfig};
use crate::packs;
use crate::plan::{self, Plan};
use crate::postings::{self, ChunkWrite};
use crate::StoreError;
use birch_schema::{Dn, Schema};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

mod bulk;
mod ids_memo;
pub use bulk::BulkLoader;

/// The error of an injected fault (the `failpoints` feature): an I/O error, like a disk's.
#[cfg(feature = "failpoints")]
fn injected(point: &str) -> StoreError {
    StoreError::Sled(sled::Error::Io(std::io::Error::other(format!("injected failure at {point}"))))
}

/// Search scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The base entry only.
    Base,
    /// The base's immediate children.
    One,
    /// The base and all its descendants.
    Sub,
    /// All descendants, not the base.
    Children,
}

struct Inner {
    db: sled::Db,
    entries: sled::Tree,
    dn2id: sled::Tree,
    children: sled::Tree,
    index: sled::Tree,
    meta: sled::Tree,
    /// entryUUID (16 bytes) → id, for replication (entries are found by entryUUID).
    uuid2id: sled::Tree,
    schema: Arc<Schema>,
    cfg: IndexConfig,
    write_lock: Mutex<()>,
    /// Group commit: tickets handed out to writes that want durability...
    sync_requested: AtomicU64,
    /// ...and the highest ticket a completed flush covers (the lock flushers queue on).
    sync_done: Mutex<u64>,
    /// The first storage failure of a write or flush: from then on writes are refused
    /// (see [`StoreError::Failed`]).
    failed: std::sync::OnceLock<String>,
    /// Makes the entryCSN of local writes.
    csn: CsnClock,
    /// Counts committed writes (see [`Store::generation`]).
    generation: AtomicU64,
    /// Recently looked-up DNs and their ids (hints for [`Store::get_by_ndn_only`]).
    ids_memo: ids_memo::IdsMemo,
    /// Counts writes begun: ahead of `generation` while a write is being applied (see
    /// [`Store::quiet_stamp`]).
    begun: AtomicU64,
    /// The number of entries once counted ([`Store::len`]), kept up to date by commits;
    /// `None` until first asked for or after a bulk load. Changed only under the writer
    /// lock.
    entry_count: Mutex<Option<usize>>,
    /// Free space on the store's disk when the failure happened (see [`Store::free_at_failure`]).
    free_at_failure: std::sync::OnceLock<u64>,
    /// Where the store lives (unset for a temporary store).
    path: std::sync::OnceLock<std::path::PathBuf>,
    /// The change feed (see [`crate::changes`]); sent to only while someone listens.
    feed: tokio::sync::broadcast::Sender<Arc<ChangeSet>>,
}

/// Who made a write: a client of this server (stamped with a fresh CSN, groups
/// maintained) or a provider this replica follows (its entryCSNs kept, nothing derived:
/// the provider sends every entry it changed).
pub(crate) enum Origin<'a> {
    Local,
    Replicated { cookie: Option<&'a [u8]> },
}

/// A handle to the directory store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// Meta key set while an offline import is writing; a store with it set is incomplete.
pub const META_IMPORT_INCOMPLETE: &str = "import_incomplete";

impl Store {
    /// Opens (or creates) the store in `path`. `cache_bytes` bounds sled's page cache.
    pub fn open(path: &Path, schema: Arc<Schema>, cfg: IndexConfig, cache_bytes: u64) -> Result<Store, StoreError> {
        let store = Self::with_db(sled::Config::new().path(path).cache_capacity(cache_bytes).open()?, schema, cfg)?;
        // Only set here, once: a store opened from a path can say how full its disk was.
        let _ = store.inner.path.set(path.to_path_buf());
        Ok(store)
    }

    /// Opens a throw-away store that sled deletes when the last handle is dropped (for the
    /// fuzz harness and tests that need no files of their own).
    pub fn open_temporary(schema: Arc<Schema>, cfg: IndexConfig) -> Result<Store, StoreError> {
        Self::with_db(
            sled::Config::new().temporary(true).flush_every_ms(None).cache_capacity(8 << 20).open()?,
            schema,
            cfg,
        )
    }

    fn with_db(db: sled::Db, schema: Arc<Schema>, cfg: IndexConfig) -> Result<Store, StoreError> {
        let (feed, _) = tokio::sync::broadcast::channel(changes::FEED_CAPACITY);
        let inner = Inner {
            uuid2id: db.open_tree("uuid2id")?,
            csn: CsnClock::new(1),
            feed,
            entries: db.open_tree("entries")?,
            dn2id: db.open_tree("dn2id")?,
            children: db.open_tree("children")?,
            index: db.open_tree("index")?,
            meta: db.open_tree("meta")?,
            db,
            schema,
            cfg,
            write_lock: Mutex::new(()),
            sync_requested: AtomicU64::new(0),
            sync_done: Mutex::new(0),
            failed: std::sync::OnceLock::new(),
            free_at_failure: std::sync::OnceLock::new(),
            path: std::sync::OnceLock::new(),
            generation: AtomicU64::new(0),
            begun: AtomicU64::new(0),
            ids_memo: Default::default(),
            entry_count: Mutex::new(None),
        };
        let store = Store { inner: Arc::new(inner) };
        if let Some(csn) = store.context_csn()? {
            store.inner.csn.observe(&csn);
        }
        store.build_uuid_index()?;
        Ok(store)
    }

    /// Fills the entryUUID index of a store written before it existed (once).
    fn build_uuid_index(&self) -> Result<(), StoreError> {
        if !self.inner.uuid2id.is_empty() || self.inner.entries.is_empty() {
            return Ok(());
        }
        for kv in self.inner.entries.iter() {
            let (k, v) = kv?;
            if let Some(uuid) = changes::entry_uuid(&Entry::decode(&v)?) {
                self.inner.uuid2id.insert(uuid, k)?;
            }
        }
        Ok(())
    }

    /// Sets the server id stamped in the CSNs of later local writes.
    pub fn set_server_id(&self, sid: u16) {
        self.inner.csn.set_sid(sid);
    }

    /// The server id of local CSNs.
    pub fn server_id(&self) -> u16 {
        self.inner.csn.sid()
    }

    /// The contextCSN: the CSN of the last committed change (`None` before the first).
    pub fn context_csn(&self) -> Result<Option<String>, StoreError> {
        Ok(self.meta_get(META_CONTEXT_CSN)?.and_then(|v| String::from_utf8(v).ok()))
    }

    /// The CSN of the last offline load: a consumer whose cookie is older gets a full
    /// refresh (the load's entries may carry older entryCSNs than its cookie).
    pub fn sync_epoch(&self) -> Result<Option<String>, StoreError> {
        Ok(self.meta_get(changes::META_SYNC_EPOCH)?.and_then(|v| String::from_utf8(v).ok()))
    }

    /// A replica's stored sync cookie.
    pub fn sync_cookie(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.meta_get(META_SYNC_COOKIE)
    }

    /// Listens to the change feed: every write committed from now on, in commit order.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<ChangeSet>> {
        // Under the writer lock: a write either committed before (and a read after this
        // sees it) or is announced to the new listener.
        let _guard = self.write_guard();
        self.inner.feed.subscribe()
    }

    /// How many listen to the change feed.
    pub fn listeners(&self) -> usize {
        self.inner.feed.receiver_count()
    }

    /// A fresh entry id.
    pub(crate) fn inner_generate_id(&self) -> Result<u64, StoreError> {
        Ok(self.inner.db.generate_id()? + 1)
    }

    /// The id of the entry with this entryUUID.
    pub fn id_of_uuid(&self, uuid: &[u8; 16]) -> Result<Option<u64>, StoreError> {
        Ok(self.inner.uuid2id.get(uuid)?.and_then(|v| decode_id(&v)))
    }

    /// The schema the store normalizes with.
    pub fn schema(&self) -> &Schema {
        &self.inner.schema
    }

    /// Number of entries. Counting them means reading the whole entries tree (sled keeps
    /// no count: two seconds at a million entries), so that is done once, under the writer
    /// lock, and commits keep the count from then on.
    pub fn len(&self) -> usize {
        if let Some(n) = *self.entry_count() {
            return n;
        }
        let _writes = self.write_guard();
        let mut count = self.entry_count();
        if let Some(n) = *count {
            return n;
        }
        let n = self.inner.entries.len();
        *count = Some(n);
        n
    }

    /// The entry count, if counted (see [`Store::len`]).
    pub(crate) fn entry_count(&self) -> std::sync::MutexGuard<'_, Option<usize>> {
        self.inner.entry_count.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.inner.entries.is_empty()
    }

    /// Builds an entry from a DN and attributes: normalizes the DN, resolves canonical
    /// attribute names and merges attributes that name the same type.
    pub fn make_entry(&self, dn: &str, attrs: Vec<(String, Vec<Vec<u8>>)>) -> Result<Entry, StoreError> {
        // A plain DN prints back as written: only other DNs need the parsed form.
        let (dn, ndn) = match birch_schema::dn::normalize_plain(dn, self.schema()) {
            Some(ndn) => (dn.to_string(), ndn),
            None => {
                let parsed = Dn::parse(dn)?;
                (parsed.to_string(), parsed.normalize(self.schema()))
            }
        };
        let mut entry = Entry { dn, ndn, parent: 0, attrs: Vec::new() };
        // Values of one attribute usually come one after another (LDIF lists them one per
        // line): the previous name's canonical form is reused instead of looked up again.
        let mut last: Option<(String, String)> = None;
        for (name, values) in attrs {
            let canonical = match last.take() {
                Some((n, c)) if n == name => c,
                _ => self.schema().canonical(&name),
            };
            entry.add_values(&name, &canonical, values);
            last = Some((name, canonical));
        }
        Ok(entry)
    }

    /// Id of the entry with this normalized DN.
    pub fn id_of(&self, ndn: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.inner.dn2id.get(ndn.as_bytes())?.and_then(|v| decode_id(&v)))
    }

    /// Loads an entry by id.
    pub fn get(&self, id: u64) -> Result<Option<Entry>, StoreError> {
        match self.inner.entries.get(id.to_be_bytes())? {
            Some(v) => Ok(Some(Entry::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Loads an entry by normalized DN with only the attribute types named (lower-case
    /// names without options; see [`Entry::decode_only`]).
    pub fn get_by_ndn_only(&self, ndn: &str, types: &[String]) -> Result<Option<(u64, Entry)>, StoreError> {
        // A remembered id is only a hint: the entry read by it must still carry this DN (DNs
        // are unique, and an entry's id and DN change together in one transaction).
        if let Some(id) = self.inner.ids_memo.get(ndn) {
            if let Some(v) = self.inner.entries.get(id.to_be_bytes())? {
                let e = Entry::decode_only(&v, types)?;
                if e.ndn == ndn {
                    return Ok(Some((id, e)));
                }
            }
        }
        let Some(id) = self.id_of(ndn)? else { return Ok(None) };
        self.inner.ids_memo.put(ndn, id);
        match self.inner.entries.get(id.to_be_bytes())? {
            Some(v) => Ok(Some((id, Entry::decode_only(&v, types)?))),
            None => Ok(None),
        }
    }

    /// Loads an entry by normalized DN.
    pub fn get_by_ndn(&self, ndn: &str) -> Result<Option<(u64, Entry)>, StoreError> {
        match self.id_of(ndn)? {
            Some(id) => Ok(self.get(id)?.map(|e| (id, e))),
            None => Ok(None),
        }
    }

    /// The values of one attribute (canonical description) of the entry with this
    /// normalized DN, decoding nothing else; `None` when the entry does not exist or lacks
    /// the attribute.
    pub fn values_by_ndn(&self, ndn: &str, canonical: &str) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        let Some(id) = self.id_of(ndn)? else { return Ok(None) };
        match self.inner.entries.get(id.to_be_bytes())? {
            Some(v) => Entry::decode_values(&v, canonical),
            None => Ok(None),
        }
    }

    /// The DN (as stored) of the deepest existing ancestor of `dn`, or "" if none exists:
    /// the matchedDN of a noSuchObject result.
    pub fn matched_dn(&self, dn: &Dn) -> Result<String, StoreError> {
        let mut cur = dn.parent();
        while !cur.is_root() {
            if let Some((_, e)) = self.get_by_ndn(&cur.normalize(self.schema()))? {
                return Ok(e.dn);
            }
            cur = cur.parent();
        }
        Ok(String::new())
    }

    /// Whether the entry has children.
    pub fn has_children(&self, id: u64) -> Result<bool, StoreError> {
        Ok(self.inner.children.scan_prefix(id.to_be_bytes()).keys().next().transpose()?.is_some())
    }

    /// Ids of the entry's children.
    pub fn children(&self, id: u64) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        for k in self.inner.children.scan_prefix(id.to_be_bytes()).keys() {
            if let Some(c) = index::id_of_key(&k?) {
                out.push(c);
            }
        }
        Ok(out)
    }

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
            self.id_of(parent_ndn(&entry.ndn))?.ok_or_else(|| StoreError::NoParent(entry.dn.clone()))?
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
    /// stays); the indexes follow. Returns the entry before and after.
    pub fn modify<E: From<StoreError>>(
        &self,
        ndn: &str,
        change: impl FnOnce(&mut Entry) -> Result<(), E>,
    ) -> Result<(Entry, Entry), E> {
        let _guard = self.write_guard();
        let (id, old) = self.get_by_ndn(ndn)?.ok_or_else(|| StoreError::NoSuchEntry(ndn.to_string()))?;
        let mut new = old.clone();
        change(&mut new)?;
        new.dn.clone_from(&old.dn);
        new.ndn.clone_from(&old.ndn);
        new.parent = old.parent;
        let mut ws = WriteSet::default();
        ws.put_entry(id, Some(&old), Some(&new));
        self.commit(ws)?;
        Ok((old, new))
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
        let new_parent_ndn = parent_ndn(&new_ndn);
        let new_parent = if old.parent == 0 {
            0
        } else {
            if new_parent_ndn == old.ndn || new_parent_ndn.ends_with(&format!(",{}", old.ndn)) {
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

    /// Refuses a change that would give a unique attribute's value to two entries.
    fn check_unique(&self, prefix: &[u8], adds: &[u64], removes: &[u64]) -> Result<(), StoreError> {
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

    /// The index tree (for the group maintenance).
    pub(crate) fn inner_index(&self) -> &sled::Tree {
        &self.inner.index
    }

    pub(crate) fn write_guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner.write_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a write set in one sled transaction. Called under the writer lock, so the
    /// posting-list chunks read to plan the index writes cannot change meanwhile.
    pub(crate) fn commit(&self, ws: WriteSet) -> Result<(), StoreError> {
        self.commit_as(ws, Origin::Local)
    }

    /// Refuses writes once a write or flush failed (see [`StoreError::Failed`]).
    fn refuse_if_failed(&self) -> Result<(), StoreError> {
        match self.inner.failed.get() {
            Some(cause) => Err(StoreError::Failed(cause.clone())),
            None => Ok(()),
        }
    }

    /// Remembers an I/O failure of sled: after one, sled's log may be broken (a later flush
    /// can wait forever), so the store takes no more writes until it is opened again.
    fn note_failure<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(StoreError::Sled(e)) = &r {
            if self.inner.failed.set(e.to_string()).is_ok() {
                tracing::error!(error = %e, "storage failure: the store refuses writes until birch is restarted");
                if let Some(free) = self.inner.path.get().and_then(|p| fs2::available_space(p).ok()) {
                    let _ = self.inner.free_at_failure.set(free);
                }
                // sled flushes when its last tree handle is dropped, and after an I/O error
                // that flush can wait forever: one leaked handle (it holds every tree) keeps
                // the process able to exit. Leaks once, when the store fails.
                std::mem::forget(self.inner.db.clone());
            }
        }
        r
    }

    /// A number that changes whenever a write is committed: what is derived from the
    /// directory's contents and remembered (a bind's group memberships) is still valid
    /// while it is unchanged. Read it before deriving.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
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
    /// `begun` now and in `generation` when it ends, failed or not.
    pub(crate) fn writing(&self) -> Writing<'_> {
        self.inner.begun.fetch_add(1, Ordering::SeqCst);
        Writing(&self.inner.generation)
    }

    /// Whether a storage failure made the store refuse writes (until it is opened again).
    pub fn has_failed(&self) -> bool {
        self.inner.failed.get().is_some()
    }

    /// Free space (bytes) on the store's disk at the moment of the storage failure, if there
    /// was one and it could be read: space coming back is measured against it.
    pub fn free_at_failure(&self) -> Option<u64> {
        self.inner.free_at_failure.get().copied()
    }

    /// The storage failure that made the store refuse writes, if any (sled's error text).
    pub fn failure(&self) -> Option<&str> {
        self.inner.failed.get().map(String::as_str)
    }

    /// Applies a write set (see [`Store::commit`]) made by `origin`: a local write gets a
    /// fresh CSN as the entryCSN of every entry it changes; a replicated one keeps the
    /// provider's and stores its cookie. The contextCSN follows in the same transaction,
    /// and listeners of the change feed hear of it.
    pub(crate) fn commit_as(&self, ws: WriteSet, origin: Origin<'_>) -> Result<(), StoreError> {
        self.refuse_if_failed()?;
        let r = self.commit_inner(ws, origin);
        self.note_failure(r)
    }

    fn commit_inner(&self, mut ws: WriteSet, origin: Origin<'_>) -> Result<(), StoreError> {
        fail::fail_point!("store::commit", |_| Err(injected("store::commit")));
        let cookie = match origin {
            Origin::Local => {
                if self.inner.cfg.maintain_groups {
                    self.maintain_groups(&mut ws)?;
                }
                None
            }
            Origin::Replicated { cookie } => Some(cookie),
        };
        let context = self.context_csn()?;
        // The order consumers hear of the entries: parents before children for what stays,
        // children before parents for what goes. Each entry gets its own CSN, in that order
        // (slapd's consumer ignores a second message with the same CSN).
        let mut order: Vec<u64> = ws.changes.keys().copied().collect();
        order.sort_by_key(|id| match &ws.changes[id] {
            (_, Some(n)) => (0, n.ndn.len()),
            (old, None) => (1, usize::MAX - old.as_ref().map_or(0, |o| o.ndn.len())),
        });
        let mut csns: Vec<String> = Vec::with_capacity(order.len());
        for id in &order {
            let Some((_, new)) = ws.changes.get_mut(id) else { continue };
            match (&cookie, new) {
                (None, Some(n)) => {
                    let csn = self.inner.csn.next();
                    changes::set_entry_csn(n, &csn);
                    csns.push(csn);
                }
                (None, None) => csns.push(self.inner.csn.next()),
                (Some(_), Some(n)) => csns.push(changes::entry_csn(n).unwrap_or_default().to_string()),
                (Some(_), None) => csns.push(String::new()),
            }
        }
        let csn = csns.iter().max().cloned().unwrap_or_default();
        let new_context = match &context {
            Some(c) if *c >= csn => None,
            _ if csn.is_empty() => None,
            _ => Some(csn.clone()),
        };
        let listening = self.inner.feed.receiver_count() > 0;
        let mut uuids: Vec<([u8; 16], Option<u64>)> = Vec::new();
        let mut items = Vec::new();
        for (id, item_csn) in order.iter().zip(csns) {
            let Some((old, new)) = ws.changes.get(id) else { continue };
            let (ou, nu) = (old.as_ref().and_then(changes::entry_uuid), new.as_ref().and_then(changes::entry_uuid));
            if let Some(u) = ou.filter(|u| Some(*u) != nu) {
                uuids.push((u, None));
            }
            if let Some(u) = nu.filter(|u| Some(*u) != ou) {
                uuids.push((u, Some(*id)));
            }
            if !listening {
                continue;
            }
            items.push(ChangeItem {
                id: *id,
                uuid: nu.or(ou),
                csn: if item_csn.is_empty() { csn.clone() } else { item_csn },
                old_ndn: old.as_ref().map(|e| e.ndn.clone()),
                new_ndn: new.as_ref().map(|e| e.ndn.clone()),
            });
        }
        let mut low = Lowered::default();
        for (id, (old, new)) in &ws.changes {
            low.entry(self, *id, old.as_ref(), new.as_ref());
        }
        for (prefix, (adds, removes)) in &low.index {
            self.check_unique(prefix, adds, removes)?;
        }
        // All at once: several equality lists may share a pack.
        let changes = low.index.iter().map(|(p, (adds, removes))| (p.as_slice(), adds.as_slice(), removes.as_slice()));
        let index_writes = packs::plan_changes(&self.inner.index, changes)?;
        let i = &self.inner;
        let writing = self.writing();
        (&i.entries, &i.dn2id, &i.children, &i.index, &i.uuid2id, &i.meta)
            .transaction(|(te, td, tc, ti, tu, tm)| {
                for (uuid, id) in &uuids {
                    match id {
                        Some(id) => tu.insert(uuid, &id.to_be_bytes())?,
                        None => tu.remove(uuid)?,
                    };
                }
                if let Some(c) = &new_context {
                    tm.insert(META_CONTEXT_CSN, c.as_bytes())?;
                }
                if let Some(Some(cookie)) = cookie {
                    tm.insert(META_SYNC_COOKIE, cookie)?;
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
                apply_chunk_writes(ti, &index_writes)?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(tx_error)?;
        drop(writing);
        if let Some(n) = self.entry_count().as_mut() {
            for (old, new) in ws.changes.values() {
                match (old, new) {
                    (None, Some(_)) => *n += 1,
                    (Some(_), None) => *n = n.saturating_sub(1),
                    _ => {}
                }
            }
        }
        // Still under the writer lock, so listeners hear of writes in commit order. Nothing
        // is built when nobody listens.
        if listening {
            let _ = self.inner.feed.send(Arc::new(ChangeSet { csn, items }));
        }
        Ok(())
    }

    /// Makes every change so far durable (fsync).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.refuse_if_failed()?;
        let r = self.inner.db.flush().map_err(StoreError::from);
        self.note_failure(r).map(drop)
    }

    /// Makes every change applied before the call durable, sharing flushes between
    /// concurrent callers (group commit): a caller whose change was covered by a flush that
    /// started after it does not flush again. Blocking; call it from a blocking thread.
    ///
    /// sled's own `flush_async` is not used: concurrent calls to it deadlock in sled 0.34
    /// (spacejam/sled#1308).
    pub fn sync(&self) -> Result<(), StoreError> {
        let ticket = self.inner.sync_requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut done = self.inner.sync_done.lock().unwrap_or_else(|p| p.into_inner());
        if *done >= ticket {
            return Ok(());
        }
        self.refuse_if_failed()?;
        let covers = self.inner.sync_requested.load(Ordering::SeqCst);
        let flushed = self.flush_for_sync();
        self.note_failure(flushed)?;
        *done = covers;
        Ok(())
    }

    /// sled's flush, for [`Store::sync`] (where a fault can be injected).
    fn flush_for_sync(&self) -> Result<usize, StoreError> {
        fail::fail_point!("store::sync", |_| Err(injected("store::sync")));
        Ok(self.inner.db.flush()?)
    }

    /// Reads a meta value.
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner.meta.get(key)?.map(|v| v.to_vec()))
    }

    /// Writes a meta value (durable after flush).
    pub fn meta_set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.refuse_if_failed()?;
        let r = self.inner.meta.insert(key, value).map_err(StoreError::from);
        self.note_failure(r).map(drop)
    }

    /// Removes a meta value.
    pub fn meta_remove(&self, key: &str) -> Result<(), StoreError> {
        self.refuse_if_failed()?;
        let r = self.inner.meta.remove(key).map_err(StoreError::from);
        self.note_failure(r).map(drop)
    }

    /// Plans a filter (exposed for tests and benchmarks).
    pub fn plan(&self, filter: &Filter) -> Result<Plan, StoreError> {
        plan::plan(filter, &self.inner.index, &self.inner.cfg, self.schema())
    }

    /// Starts a search below the base entry `(base_id, base)`.
    pub fn search(&self, base_id: u64, base: &Entry, scope: Scope, filter: Filter) -> Result<SearchIter, StoreError> {
        // Taken before the index is read: while nothing is written after it, candidates are
        // checked against the part of the filter the index did not answer exactly.
        let stamp = self.quiet_stamp();
        let (planned, rest) = match scope {
            Scope::Base => (Plan::Ids(vec![base_id]), None),
            _ => plan::plan_with_rest(&filter, &self.inner.index, &self.inner.cfg, self.schema())?,
        };
        let source = match scope {
            Scope::Base => Source::Ids(vec![base_id].into_iter()),
            _ => match planned {
                Plan::Ids(ids) => Source::Ids(ids.into_iter()),
                Plan::Scan if scope == Scope::One => Source::Ids(self.children(base_id)?.into_iter()),
                Plan::Scan if base.parent == 0 => Source::All(Box::new(self.inner.entries.iter())),
                Plan::Scan => {
                    let mut stack = self.children(base_id)?;
                    if scope == Scope::Sub {
                        stack.push(base_id);
                    }
                    Source::Dfs(stack)
                }
            },
        };
        Ok(SearchIter {
            store: self.clone(),
            filter,
            scope,
            base_id,
            base_ndn: base.ndn.clone(),
            source,
            rest: rest.zip(stamp),
            last: None,
            again: None,
            only: None,
            reduced: None,
            last_reduced: false,
        })
    }

    /// Iterates over all entries, parents before children (siblings and roots in id order),
    /// decoded; see [`Store::walk_raw`].
    pub fn walk(&self) -> Result<Walk, StoreError> {
        Ok(Walk { raw: self.walk_raw()? })
    }

    /// Iterates over all entries as (id, encoding), parents before children: depth first
    /// from the roots (the entries no parent link names) in id order, each entry's children in
    /// id order (for export, which formats the encoding without decoding it).
    ///
    /// The order comes from the parent links, read in one scan of the children index (16-byte
    /// keys). The entries are read in one sequential scan of the entries tree (id order)
    /// rather than looked up one by one: an entry the scan reaches before its turn is held
    /// until then. Ids are handed out in increasing order and a parent exists before its
    /// children, so in a store filled by an import or by adds the scan is nearly in walk
    /// order and few entries wait (those of later subtrees whose parents come early); after
    /// many moves (modrdn with newSuperior) more may, at worst all of them, as in a backup.
    pub fn walk_raw(&self) -> Result<RawWalk, StoreError> {
        // No `with_capacity(children.len())`: sled's `len` is a scan of the whole tree.
        let mut links = Vec::new();
        for k in self.inner.children.iter().keys() {
            let k = k?;
            if let (Some(parent), Some(child)) = (k.get(..8).and_then(decode_id), k.get(8..).and_then(decode_id)) {
                links.push((parent, child));
            }
        }
        let mut children: Vec<u64> = links.iter().map(|&(_, c)| c).collect();
        children.sort_unstable();
        Ok(RawWalk {
            links,
            children,
            next_child: 0,
            scan: Some(self.inner.entries.iter()),
            held: HashMap::new(),
            held_roots: std::collections::BTreeSet::new(),
            stack: Vec::new(),
        })
    }

    /// A consistent copy of every entry and meta value, taken under the writer lock: every
    /// write is a single transaction made under that lock, so the copy holds each write
    /// wholly or not at all (a subtree move included). Writers wait only while the raw
    /// records are copied; decoding and ordering happen afterwards, on the copy.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let _guard = self.write_guard();
        // Sized by the kept count when there is one: sled's `len` is a scan of its own.
        let known = *self.entry_count();
        let mut entries = Vec::with_capacity(known.unwrap_or(0));
        for kv in self.inner.entries.iter() {
            let (k, v) = kv?;
            entries.push((decode_id(&k).unwrap_or_default(), v));
        }
        let mut meta = Vec::new();
        for kv in self.inner.meta.iter() {
            let (k, v) = kv?;
            meta.push((String::from_utf8_lossy(&k).into_owned(), v.to_vec()));
        }
        Ok(Snapshot { entries, meta })
    }

    /// Checks that the DN, children and attribute indexes agree with the entries;
    /// returns a description of every disagreement.
    pub fn check(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let mut expected_index = std::collections::BTreeSet::new();
        let mut expected_children = std::collections::BTreeSet::new();
        let mut count = 0usize;
        let mut with_uuid = 0usize;
        // id -> (normalized DN, parent id), to check that every entry's parent exists and
        // is the entry its DN names.
        let mut tree: HashMap<u64, (String, u64)> = HashMap::new();
        for kv in self.inner.entries.iter() {
            let (k, v) = kv?;
            let id = decode_id(&k).unwrap_or_default();
            let e = Entry::decode(&v)?;
            count += 1;
            tree.insert(id, (e.ndn.clone(), e.parent));
            if self.id_of(&e.ndn)? != Some(id) {
                problems.push(format!("dn2id does not map {:?} to id {id}", e.ndn));
            }
            if let Some(uuid) = changes::entry_uuid(&e) {
                with_uuid += 1;
                if self.id_of_uuid(&uuid)? != Some(id) {
                    problems.push(format!("uuid2id does not map the entryUUID of {:?} to id {id}", e.ndn));
                }
            }
            if e.parent != 0 {
                expected_children.insert(child_key(e.parent, id).to_vec());
            }
            for prefix in index::entry_prefixes(&e, &self.inner.cfg, self.schema()) {
                expected_index.insert((prefix_hash(&prefix), id));
            }
        }
        for (ndn, parent) in tree.values() {
            if *parent == 0 {
                continue;
            }
            match tree.get(parent) {
                None => problems.push(format!("{ndn:?}: its parent (id {parent}) does not exist")),
                Some((pndn, _)) if pndn != parent_ndn(ndn) => {
                    problems.push(format!("{ndn:?}: its parent entry is {pndn:?}, not the one its DN names"))
                }
                Some(_) => {}
            }
        }
        if self.inner.uuid2id.len() != with_uuid {
            problems.push(format!(
                "uuid2id has {} keys for {with_uuid} entries with an entryUUID",
                self.inner.uuid2id.len()
            ));
        }
        if self.inner.dn2id.len() != count {
            problems.push(format!("dn2id has {} keys for {count} entries", self.inner.dn2id.len()));
        }
        let actual_children: Result<std::collections::BTreeSet<Vec<u8>>, _> =
            self.inner.children.iter().keys().map(|k| k.map(|k| k.to_vec())).collect();
        if actual_children? != expected_children {
            problems.push("children index disagrees with entries".into());
        }
        let mut actual_index = std::collections::BTreeSet::new();
        // Packed equality lists (their keys sort first): no value may also have chunks.
        let mut packed = std::collections::HashSet::new();
        let mut last_packed: Option<Vec<u8>> = None;
        for kv in self.inner.index.iter() {
            let (k, v) = kv?;
            if k.first() == Some(&packs::PACK) {
                // Every value of the pack before is below this pack's fence.
                if last_packed.as_ref().is_some_and(|l| *l >= packs::fence_prefix(&k)) {
                    problems.push(format!("equality pack {:?} overlaps the one before", k.as_ref()));
                }
                match packs::unpack(&k, &v) {
                    Ok(lists) => {
                        for (prefix, ids) in lists {
                            let h = prefix_hash(&prefix);
                            packed.insert(h);
                            actual_index.extend(ids.into_iter().map(|id| (h, id)));
                            last_packed = Some(prefix);
                        }
                    }
                    Err(e) => problems.push(format!("malformed equality pack {:?}: {e}", k.as_ref())),
                }
                continue;
            }
            let Some(start) = index::id_of_key(&k) else {
                problems.push(format!("index key too short: {:?}", k.as_ref()));
                continue;
            };
            let ids: Vec<u64> = postings::decode(&v).collect();
            if ids.is_empty() || ids[0] != start || !ids.windows(2).all(|w| w[0] < w[1]) || ids.len() > postings::CHUNK
            {
                problems.push(format!("malformed posting chunk {:?}", k.as_ref()));
            }
            let h = prefix_hash(&k[..k.len() - 8]);
            if packed.contains(&h) {
                problems.push(format!("posting chunk {:?} of a value that is also packed", k.as_ref()));
            }
            actual_index.extend(ids.into_iter().map(|id| (h, id)));
        }
        if actual_index != expected_index {
            problems.push(format!(
                "attribute index disagrees with entries: {} missing, {} extra",
                expected_index.difference(&actual_index).count(),
                actual_index.difference(&expected_index).count()
            ));
        }
        Ok(problems)
    }
}

/// Everything one write operation changes: entry id → (stored entry before, entry after),
/// `None` for absent. Applied in one transaction by `Store::commit`.
#[derive(Default)]
pub(crate) struct WriteSet {
    pub(crate) changes: std::collections::BTreeMap<u64, (Option<Entry>, Option<Entry>)>,
}

impl WriteSet {
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

    /// The entry `id` as this write set leaves it so far: `Some(None)` if it is deleted,
    /// `None` if the write set does not touch it.
    pub(crate) fn current(&self, id: u64) -> Option<Option<&Entry>> {
        self.changes.get(&id).map(|(_, new)| new.as_ref())
    }
}

/// The tree-level writes of a write set.
#[derive(Default)]
struct Lowered {
    entries: Vec<(u64, Option<Vec<u8>>)>,
    dn2id: Vec<(Vec<u8>, Option<u64>)>,
    children: Vec<([u8; 16], bool)>,
    /// Posting-list changes by index prefix: (ids added, ids removed).
    index: std::collections::BTreeMap<Vec<u8>, (Vec<u64>, Vec<u64>)>,
}

impl Lowered {
    /// Entry `id` changing from `old` to `new`: the entry, its DN and parent links, and the
    /// difference of its index memberships.
    fn entry(&mut self, store: &Store, id: u64, old: Option<&Entry>, new: Option<&Entry>) {
        let prefixes = |e: Option<&Entry>| {
            e.map(|e| index::entry_prefixes(e, &store.inner.cfg, store.schema())).unwrap_or_default()
        };
        let (before, after) = (prefixes(old), prefixes(new));
        for p in before.difference(&after) {
            self.index.entry(p.clone()).or_default().1.push(id);
        }
        for p in after.difference(&before) {
            self.index.entry(p.clone()).or_default().0.push(id);
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

/// Whether the entry with normalized DN `ndn` is in `scope` of the base `base_ndn`.
pub fn ndn_in_scope(ndn: &str, base_ndn: &str, scope: Scope) -> bool {
    let below = ndn.len() > base_ndn.len()
        && ndn.ends_with(base_ndn)
        && (base_ndn.is_empty() || ndn.as_bytes()[ndn.len() - base_ndn.len() - 1] == b',');
    match scope {
        Scope::Base => ndn == base_ndn,
        Scope::One => below && parent_ndn(ndn) == base_ndn,
        Scope::Sub => ndn == base_ndn || below,
        Scope::Children => below,
    }
}

/// The normalized DN of the parent of the entry with normalized DN `ndn` (empty for a root).
pub fn parent_ndn(ndn: &str) -> &str {
    // Normalized DNs escape ',' inside values as "\,", so the first unescaped ',' ends the RDN.
    let b = ndn.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b',' => return &ndn[i + 1..],
            _ => i += 1,
        }
    }
    ""
}

fn child_key(parent: u64, child: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&parent.to_be_bytes());
    k[8..].copy_from_slice(&child.to_be_bytes());
    k
}

fn decode_id(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// A 64-bit digest of an index prefix: `check` compares (digest, id) pairs so that it needs
/// 16 bytes per posting instead of the whole key.
fn prefix_hash(prefix: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    prefix.hash(&mut h);
    h.finish()
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
pub(crate) struct Writing<'a>(&'a AtomicU64);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

enum Source {
    Ids(std::vec::IntoIter<u64>),
    All(Box<sled::Iter>),
    Dfs(Vec<u64>),
}

/// A running search: yields the matching entries in scope.
pub struct SearchIter {
    store: Store,
    filter: Filter,
    scope: Scope,
    base_id: u64,
    base_ndn: String,
    source: Source,
    /// What is left of the filter once the index answered part of it exactly, and the
    /// stamp ([`Store::quiet_stamp`]) taken before the index was read: valid for an entry
    /// read while no write has begun since.
    rest: Option<(Filter, u64)>,
    /// The id of the last match [`SearchIter::step`] returned.
    last: Option<u64>,
    /// An id to examine again before the source continues (see [`SearchIter::unstep`]).
    again: Option<u64>,
    /// When set, only these attribute types (lower-case names) are read from each entry.
    only: Option<std::sync::Arc<[String]>>,
    /// The types read from an entry checked against the rest of the filter (see
    /// [`SearchIter::read_for_filter`]), when fewer than `only`.
    reduced: Option<std::sync::Arc<[String]>>,
    /// Whether the last match was read with the `reduced` types.
    last_reduced: bool,
}

impl SearchIter {
    fn in_scope(&self, id: u64, e: &Entry) -> bool {
        let below = e.ndn.len() > self.base_ndn.len()
            && e.ndn.ends_with(self.base_ndn.as_str())
            && e.ndn.as_bytes()[e.ndn.len() - self.base_ndn.len() - 1] == b',';
        match self.scope {
            Scope::Base => id == self.base_id,
            Scope::One => e.parent == self.base_id && parent_ndn(&e.ndn) == self.base_ndn,
            Scope::Sub => id == self.base_id || below,
            Scope::Children => below,
        }
    }

    /// Reads only the attribute types named (lower-case names, without options; subtypes
    /// are not implied) from each entry: the filter's, and whatever the caller needs. The
    /// entries returned then carry just those attributes.
    pub fn only(&mut self, types: std::sync::Arc<[String]>) {
        self.only = Some(types);
    }

    /// Of the types given to [`SearchIter::only`], those read only to evaluate the filter:
    /// an entry the index answered those terms for (and nothing was written meanwhile) is
    /// read without them. Such a match lacks them; [`SearchIter::reread_last`] reads it whole.
    pub fn read_for_filter(&mut self, filter_only: &[String]) {
        let (Some(only), Some((rest, _))) = (&self.only, &self.rest) else { return };
        let schema = self.store.schema();
        let mut used = Vec::new();
        rest.attributes(&mut used);
        // A type the rest asserts on, or a subtype of one, is still needed.
        let needed =
            |t: &str| used.iter().any(|&u| u == t || (schema.has_subtypes(u) && schema.subtypes(u).contains(&t)));
        let skipped: Vec<&String> = filter_only.iter().filter(|t| !needed(t)).collect();
        if skipped.is_empty() {
            return;
        }
        let kept: Vec<String> = only.iter().filter(|t| !skipped.contains(t)).cloned().collect();
        self.reduced = Some(kept.into());
    }

    fn load(&self, id: u64) -> Result<Option<(u64, sled::IVec)>, StoreError> {
        Ok(self.store.inner.entries.get(id.to_be_bytes())?.map(|v| (id, v)))
    }

    fn decode(&self, v: &[u8], types: Option<&[String]>) -> Result<Entry, StoreError> {
        match types {
            Some(types) => Entry::decode_only(v, types),
            None => Entry::decode(v),
        }
    }

    /// Reads the last match again with all the types given to [`SearchIter::only`] (for a
    /// caller that must evaluate the whole filter on it); `None` if it is gone.
    pub fn reread_last(&self) -> Result<Option<Entry>, StoreError> {
        let Some(id) = self.last else { return Ok(None) };
        match self.load(id)? {
            Some((_, v)) => Ok(Some(self.decode(&v, self.only.as_deref())?)),
            None => Ok(None),
        }
    }

    /// Whether the last match was read without the types only its filter needed (see
    /// [`SearchIter::read_for_filter`]).
    pub fn last_reduced(&self) -> bool {
        self.last_reduced
    }

    /// The next candidate, as stored; `Ok(None)` skips an id whose entry vanished meanwhile.
    #[allow(clippy::type_complexity)]
    fn next_candidate(&mut self) -> Option<Result<Option<(u64, sled::IVec)>, StoreError>> {
        if let Some(id) = self.again.take() {
            return Some(self.load(id));
        }
        match &mut self.source {
            Source::Ids(it) => {
                let id = it.next()?;
                Some(self.load(id))
            }
            Source::All(it) => {
                let kv = it.next()?;
                Some(kv.map_err(StoreError::from).map(|(k, v)| Some((decode_id(&k).unwrap_or_default(), v))))
            }
            Source::Dfs(stack) => {
                let id = stack.pop()?;
                // The base's children were pushed when the search started.
                if id != self.base_id {
                    match self.store.children(id) {
                        Ok(mut kids) => {
                            kids.reverse();
                            stack.extend(kids);
                        }
                        Err(e) => return Some(Err(e)),
                    }
                }
                Some(self.load(id))
            }
        }
    }
}

impl SearchIter {
    /// Examines one candidate: `Some(Ok(Some(entry)))` for a match, `Some(Ok(None))` for a
    /// candidate that does not match, `None` when the search is exhausted. Lets a caller
    /// check limits and cancellation even while long stretches of candidates fail.
    pub fn step(&mut self) -> Option<Result<Option<Entry>, StoreError>> {
        let (id, raw) = match self.next_candidate()? {
            Ok(Some(c)) => c,
            Ok(None) => return Some(Ok(None)),
            Err(e) => return Some(Err(e)),
        };
        // Checked after the read: the index and the entry were both read before any write
        // began, so the terms the index answered hold for this entry.
        let (filter, reduced) = match &self.rest {
            Some((rest, stamp)) if self.store.unchanged_since(*stamp) => (rest, self.reduced.is_some()),
            _ => (&self.filter, false),
        };
        let types = if reduced { self.reduced.as_deref() } else { self.only.as_deref() };
        let entry = match self.decode(&raw, types) {
            Ok(e) => e,
            Err(e) => return Some(Err(e)),
        };
        // Always checked: an entry may have moved since the candidates were planned.
        if !self.in_scope(id, &entry) {
            return Some(Ok(None));
        }
        if filter.eval(&entry, self.store.schema()) == Tri::True {
            self.last = Some(id);
            self.last_reduced = reduced;
            Some(Ok(Some(entry)))
        } else {
            Some(Ok(None))
        }
    }
}

impl SearchIter {
    /// Puts the last match back: the next [`SearchIter::step`] examines that entry again,
    /// re-read from the store (so a change or delete in between is seen), then the search
    /// goes on where it was. A paged search keeps its iterator between pages and calls this
    /// for the match that did not fit in the page, so a whole walk reads each candidate
    /// once.
    pub fn unstep(&mut self) {
        self.again = self.last.take();
    }
}

impl Iterator for SearchIter {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.step()? {
                Ok(Some(e)) => return Some(Ok(e)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// A consistent point-in-time copy of the store (see [`Store::snapshot`]).
pub struct Snapshot {
    entries: Vec<(u64, sled::IVec)>,
    /// The meta settings at that time (name, value).
    pub meta: Vec<(String, Vec<u8>)>,
}

impl Snapshot {
    /// Number of entries in the copy.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the copy holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, parents before children (siblings in id order), decoded one at a time
    /// as the iterator goes, so only the raw copy is held in memory.
    pub fn into_entries(self) -> Result<SnapshotEntries, StoreError> {
        let mut raw: HashMap<u64, sled::IVec> = HashMap::with_capacity(self.entries.len());
        let mut kids: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut roots = Vec::new();
        for (id, value) in self.entries {
            match Entry::decode_parent(&value)? {
                0 => roots.push(id),
                parent => kids.entry(parent).or_default().push(id),
            }
            raw.insert(id, value);
        }
        // Ids come in key order, so every child list is sorted already.
        Ok(SnapshotEntries { raw, kids, stack: roots.into_iter().rev().collect(), orphans: None })
    }
}

/// The entries of a [`Snapshot`] in tree order (see [`Snapshot::into_entries`]).
pub struct SnapshotEntries {
    raw: HashMap<u64, sled::IVec>,
    kids: HashMap<u64, Vec<u64>>,
    stack: Vec<u64>,
    /// Entries with no path to a root (a broken store), given last rather than lost.
    orphans: Option<std::vec::IntoIter<u64>>,
}

impl Iterator for SnapshotEntries {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let id = match self.stack.pop() {
                Some(id) => id,
                None => {
                    let orphans = self.orphans.get_or_insert_with(|| {
                        let mut left: Vec<u64> = self.raw.keys().copied().collect();
                        left.sort_unstable();
                        left.into_iter()
                    });
                    orphans.next()?
                }
            };
            if let Some(children) = self.kids.remove(&id) {
                self.stack.extend(children.into_iter().rev());
            }
            if let Some(value) = self.raw.remove(&id) {
                return Some(Entry::decode(&value));
            }
        }
    }
}

/// Walks the tree depth first, parents before children, decoding each entry (see
/// [`Store::walk`]).
pub struct Walk {
    raw: RawWalk,
}

impl Iterator for Walk {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.raw.next()?.and_then(|(_, v)| Entry::decode(&v)))
    }
}

/// Walks the tree depth first, parents before children, giving each entry's id and encoding
/// (see [`Store::walk_raw`]).
pub struct RawWalk {
    /// (parent, child) links as the walk started, sorted.
    links: Vec<(u64, u64)>,
    /// The child ids of `links`, sorted: an entry not among them is a root.
    children: Vec<u64>,
    /// How far the scan has come in `children` (the scan's ids increase).
    next_child: usize,
    /// The scan of the entries tree in id order; `None` once it has ended.
    scan: Option<sled::Iter>,
    /// Entries the scan passed before their turn.
    held: HashMap<u64, sled::IVec>,
    /// The roots among `held`.
    held_roots: std::collections::BTreeSet<u64>,
    /// Entries still to visit, the next on top.
    stack: Vec<u64>,
}

impl RawWalk {
    /// The next entry of the scan: (id, encoding, whether it is a root).
    fn scan_next(&mut self) -> Option<Result<(u64, sled::IVec, bool), StoreError>> {
        let scan = self.scan.as_mut()?;
        loop {
            let (k, v) = match scan.next() {
                None => {
                    self.scan = None;
                    return None;
                }
                Some(Err(e)) => return Some(Err(e.into())),
                Some(Ok(kv)) => kv,
            };
            let Some(id) = decode_id(&k) else { continue };
            while self.children.get(self.next_child).is_some_and(|&c| c < id) {
                self.next_child += 1;
            }
            let root = self.children.get(self.next_child) != Some(&id);
            return Some(Ok((id, v, root)));
        }
    }

    /// Sets `v` aside until its turn comes.
    fn hold(&mut self, id: u64, v: sled::IVec, root: bool) {
        if root {
            self.held_roots.insert(id);
        }
        self.held.insert(id, v);
    }

    /// The encoding of entry `id`, held or found further on in the scan; `None` when the scan
    /// has passed its place without finding it (deleted since the walk started).
    fn fetch(&mut self, id: u64) -> Result<Option<sled::IVec>, StoreError> {
        if let Some(v) = self.held.remove(&id) {
            self.held_roots.remove(&id);
            return Ok(Some(v));
        }
        while let Some(next) = self.scan_next() {
            let (found, v, root) = next?;
            if found == id {
                return Ok(Some(v));
            }
            self.hold(found, v, root);
            if found > id {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// The next root: the smallest held one, else the next one of the scan (ids below the
    /// scan's position are all held or given out, so no smaller root is still to come).
    fn next_root(&mut self) -> Option<Result<u64, StoreError>> {
        if let Some(id) = self.held_roots.first().copied() {
            return Some(Ok(id));
        }
        loop {
            match self.scan_next()? {
                Err(e) => return Some(Err(e)),
                Ok((id, v, root)) => {
                    self.hold(id, v, root);
                    if root {
                        return Some(Ok(id));
                    }
                }
            }
        }
    }
}

impl Iterator for RawWalk {
    type Item = Result<(u64, sled::IVec), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let id = match self.stack.pop() {
                Some(id) => id,
                None => match self.next_root()? {
                    Ok(id) => id,
                    Err(e) => return Some(Err(e)),
                },
            };
            let start = self.links.partition_point(|&(p, _)| p < id);
            let end = start + self.links[start..].partition_point(|&(p, _)| p == id);
            self.stack.extend(self.links[start..end].iter().rev().map(|&(_, c)| c));
            match self.fetch(id) {
                Ok(Some(v)) => return Some(Ok((id, v))),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::store;

    fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, Vec<Vec<u8>>)> {
        pairs.iter().map(|(a, v)| (a.to_string(), vec![v.as_bytes().to_vec()])).collect()
    }

    #[test]
    fn parent_ndn_skips_escaped_commas() {
        assert_eq!(parent_ndn(r"cn=a\,b,dc=x"), "dc=x");
        assert_eq!(parent_ndn("dc=x"), "");
    }

    #[test]
    fn add_search_delete() {
        let (_d, s) = store();
        let root = s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap();
        let root_id = s.add(root, true).unwrap();
        let e = s.make_entry("uid=a,dc=x", attrs(&[("objectClass", "account"), ("uid", "a")])).unwrap();
        s.add(e.clone(), false).unwrap();
        assert!(matches!(s.add(e, false), Err(StoreError::AlreadyExists(_))));
        let orphan = s.make_entry("uid=b,ou=none,dc=x", attrs(&[("uid", "b")])).unwrap();
        assert!(matches!(s.add(orphan, false), Err(StoreError::NoParent(_))));
        let base = s.get(root_id).unwrap().unwrap();
        let f = Filter::equality(s.schema(), "uid", b"A", None);
        let found: Vec<_> = s.search(root_id, &base, Scope::Sub, f).unwrap().map(|e| e.unwrap().dn).collect();
        assert_eq!(found, vec!["uid=a,dc=x"]);
        assert!(matches!(s.delete("dc=x"), Err(StoreError::NotLeaf(_))));
        s.delete("uid=a,dc=x").unwrap();
        assert!(s.check().unwrap().is_empty());
    }

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
    fn unstep_resumes_with_the_last_match_reread() {
        let (_d, s) = store();
        let root_id =
            s.add(s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true).unwrap();
        for u in ["a", "b", "c"] {
            let e = s.make_entry(&format!("uid={u},dc=x"), attrs(&[("objectClass", "account"), ("uid", u)])).unwrap();
            s.add(e, false).unwrap();
        }
        let base = s.get(root_id).unwrap().unwrap();
        let f = Filter::equality(s.schema(), "objectclass", b"account", None);
        let mut it = s.search(root_id, &base, Scope::Sub, f).unwrap();
        let first = it.next().unwrap().unwrap().dn;
        let second = it.next().unwrap().unwrap().dn;
        it.unstep();
        // The put-back entry is read again: once deleted, it is skipped.
        s.delete(&second).unwrap();
        let rest: Vec<String> = it.map(|e| e.unwrap().dn).collect();
        assert_eq!(rest.len(), 1);
        assert!(![first.as_str(), second.as_str()].contains(&rest[0].as_str()));
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

    /// The walk order by definition: roots (parent 0) in id order, each followed by its
    /// children's subtrees in id order, read with one lookup per entry.
    fn reference_walk(s: &Store, live: &[String]) -> Vec<u64> {
        let mut roots: Vec<u64> = Vec::new();
        for ndn in live {
            let (id, e) = s.get_by_ndn(ndn).unwrap().unwrap();
            if e.parent == 0 {
                roots.push(id);
            }
        }
        roots.sort_unstable();
        let mut order = Vec::new();
        let mut stack: Vec<u64> = roots.into_iter().rev().collect();
        while let Some(id) = stack.pop() {
            order.push(id);
            stack.extend(s.children(id).unwrap().into_iter().rev());
        }
        order
    }

    #[test]
    fn the_walk_gives_parents_first_after_moves_deletes_and_late_roots() {
        // Seeds whose walk order is not the id order (the scan had to hold entries back).
        let mut out_of_order = 0;
        for seed in 1..=12u64 {
            let (_d, s) = store();
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut next = move |n: usize| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (rng % n as u64) as usize
            };
            let ou = |dn: &str, value: &str| {
                s.make_entry(dn, attrs(&[("objectClass", "organizationalUnit"), ("ou", value)])).unwrap()
            };
            let mut live: Vec<String> = Vec::new();
            for (k, root) in ["dc=r0", "dc=r1"].iter().enumerate() {
                let e = s.make_entry(root, attrs(&[("objectClass", "domain"), ("dc", &format!("r{k}"))])).unwrap();
                s.add(e, true).unwrap();
                live.push(root.to_string());
            }
            for k in 0..120 {
                match next(10) {
                    // Moves: an entry (not a root) under another that is not in its subtree.
                    0..=2 => {
                        let from = live[next(live.len())].clone();
                        let to = live[next(live.len())].clone();
                        if from.starts_with("dc=") || to == from || to.ends_with(&format!(",{from}")) {
                            continue;
                        }
                        let rdn = from.split(',').next().unwrap().to_string();
                        let new_dn = Dn::parse(&format!("{rdn},{to}")).unwrap();
                        if s.rename(&from, &new_dn, |_| Ok::<(), StoreError>(())).is_ok() {
                            let new_ndn = new_dn.to_string();
                            for dn in live.iter_mut() {
                                if *dn == from {
                                    *dn = new_ndn.clone();
                                } else if let Some(head) = dn.strip_suffix(&format!(",{from}")) {
                                    *dn = format!("{head},{new_ndn}");
                                }
                            }
                        }
                    }
                    // Deletes of leaves.
                    3 => {
                        let victim = live[next(live.len())].clone();
                        if !victim.starts_with("dc=") && s.delete(&victim).is_ok() {
                            live.retain(|dn| *dn != victim);
                        }
                    }
                    // A root added late, after entries of the others.
                    4 if k % 40 == 4 => {
                        let root = format!("dc=late{k}");
                        let e = s.make_entry(&root, attrs(&[("objectClass", "domain"), ("dc", &format!("late{k}"))]));
                        s.add(e.unwrap(), true).unwrap();
                        live.push(root);
                    }
                    _ => {
                        let parent = live[next(live.len())].clone();
                        let dn = format!("ou=n{k},{parent}");
                        s.add(ou(&dn, &format!("n{k}")), false).unwrap();
                        live.push(dn);
                    }
                }
            }
            let expected = reference_walk(&s, &live);
            assert_eq!(expected.len(), live.len());
            if !expected.is_sorted() {
                out_of_order += 1;
            }
            let ids: Vec<u64> = s.walk_raw().unwrap().map(|r| r.unwrap().0).collect();
            assert_eq!(ids, expected, "seed {seed}");
            let walked: Vec<Entry> = s.walk().unwrap().map(|r| r.unwrap()).collect();
            let by_id: Vec<Entry> = expected.iter().map(|&id| s.get(id).unwrap().unwrap()).collect();
            assert_eq!(walked, by_id, "seed {seed}");
            assert!(s.check().unwrap().is_empty());
        }
        assert!(out_of_order >= 6, "only {out_of_order} of 12 walks differ from the id order");
    }
}
