//! The directory store on sled.
//!
//! Trees: `entries` (id → encoded entry), `dn2id` (normalized DN → id), `children`
//! (parent id ++ child id → empty), `uuid2id` (entryUUID → id), `index` (see
//! [`crate::index`]) and `meta` (small key/value settings). Every change is one sled
//! transaction across these trees; writers are serialized by a mutex (so check-then-write
//! is race free) and durability is a separate `flush`, which concurrent writers share
//! (group commit).
//!
//! The store's code by job (docs/architecture.md has the same map):
//! - this module: the handle, opening a store, meta values, the entry count, the writer
//!   lock and the commit hooks (see [`crate::hooks`]);
//! - `dn_tree`: entries by id, normalized DN and entryUUID; the parent → children links;
//! - `write`: the write operations (add, delete, modify, rename), each a write set;
//! - `commit`: a write set applied in one transaction, as named phases;
//! - `durability`: flush, the group commit of `sync`, the failed state after a storage
//!   error;
//! - `search`: search cursors over the planned candidates;
//! - `walk`: whole-store iteration in tree order (export) and snapshots (backup);
//! - `check`: the consistency check of the indexes against the entries;
//! - `bulk`: the bulk loader of offline imports;
//! - `tombs`: the purge of old tombstones (multi-provider), and their figures;
//! - `ids_memo`: recently looked-up DNs and their ids.

use crate::changes::{self, META_CONTEXT_CSN, META_SYNC_COOKIE};
use crate::csn::CsnClock;
use crate::entry::Entry;
use crate::hooks::{CommitObserver, WriteSetHook};
use crate::index::IndexConfig;
use crate::StoreError;
use birch_schema::Schema;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, Weak};

mod bulk;
mod check;
mod commit;
mod dn_tree;
mod durability;
mod ids_memo;
mod peer;
mod remembered;
mod search;
mod tombs;
mod walk;
mod write;

pub use birch_schema::ndn::Scope;
pub use bulk::BulkLoader;
pub(crate) use commit::Origin;
pub use commit::WriteSet;
pub use peer::{Landing, Verdict};
pub use remembered::Remembered;
pub use search::SearchIter;
pub use tombs::{META_TOMBS_PURGED, PURGE_BATCH};
pub use walk::{RawWalk, Snapshot, SnapshotEntries, Walk};
pub use write::Seen;

/// The error of an injected fault (the `failpoints` feature): an I/O error, like a disk's.
#[cfg(feature = "failpoints")]
fn injected(point: &str) -> StoreError {
    StoreError::Sled(sled::Error::Io(std::io::Error::other(format!("injected failure at {point}"))))
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
    /// Counts committed writes that changed some entry's memberOf, or added, deleted or
    /// renamed an entry (see [`Store::membership_generation`]).
    membership: AtomicU64,
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
    /// Told of every commit (see [`Store::add_observer`]); held weakly.
    observers: Mutex<Vec<Weak<dyn CommitObserver>>>,
    /// Extends the write sets of local writes (see [`Store::set_write_set_hook`]).
    write_set_hook: std::sync::OnceLock<Arc<dyn WriteSetHook>>,
    /// Multi-provider bookkeeping on (contextCSN set, tombstones; see
    /// [`Store::set_multi_provider`]).
    multi_provider: std::sync::atomic::AtomicBool,
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
        let inner = Inner {
            uuid2id: db.open_tree("uuid2id")?,
            csn: CsnClock::new(1),
            observers: Mutex::new(Vec::new()),
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
            membership: AtomicU64::new(0),
            begun: AtomicU64::new(0),
            ids_memo: Default::default(),
            entry_count: Mutex::new(None),
            write_set_hook: std::sync::OnceLock::new(),
            multi_provider: Default::default(),
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

    /// Turns on the multi-provider bookkeeping: every commit keeps the contextCSN set (one
    /// CSN per server id, [`Store::context_csns`]) and a tombstone per deleted entry.
    pub fn set_multi_provider(&self, on: bool) {
        self.inner.multi_provider.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the multi-provider bookkeeping is on.
    pub fn is_multi_provider(&self) -> bool {
        self.inner.multi_provider.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The contextCSN set: per server id, the newest CSN of that server whose changes are
    /// all here (the single contextCSN merged in, for a store written before the set).
    pub fn context_csns(&self) -> Result<Vec<String>, StoreError> {
        let mut set = self.meta_get(changes::META_CONTEXT_CSNS)?.map(|v| crate::csn::parse_set(&v)).unwrap_or_default();
        if let Some(c) = self.context_csn()? {
            crate::csn::merge_into(&mut set, &c);
        }
        Ok(set)
    }

    /// The CSN of the delete of the entry with this entryUUID, if a tombstone is kept.
    pub fn tombstone(&self, uuid: &[u8; 16]) -> Result<Option<String>, StoreError> {
        let key = [changes::META_TOMB_PREFIX, uuid.as_slice()].concat();
        Ok(self.inner.meta.get(key)?.and_then(|v| String::from_utf8(v.to_vec()).ok()))
    }

    /// The state kept with the tombstone of the entry with this entryUUID (see
    /// [`changes::META_TOMB_STATE_PREFIX`]), if any.
    pub fn tomb_state(&self, uuid: &[u8; 16]) -> Result<Option<Entry>, StoreError> {
        let key = [changes::META_TOMB_STATE_PREFIX, uuid.as_slice()].concat();
        match self.inner.meta.get(key)? {
            Some(v) => Ok(Some(Entry::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Every tombstone kept: (entryUUID, CSN of its delete).
    pub fn tombstones(&self) -> Result<Vec<([u8; 16], String)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.meta.scan_prefix(changes::META_TOMB_PREFIX) {
            let (k, v) = kv?;
            let Ok(uuid) = <[u8; 16]>::try_from(&k[changes::META_TOMB_PREFIX.len()..]) else { continue };
            if let Ok(csn) = String::from_utf8(v.to_vec()) {
                out.push((uuid, csn));
            }
        }
        Ok(out)
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

    /// Tells `observer` of every write committed from now on, in commit order, while it
    /// lives (see [`crate::hooks`]).
    pub fn add_observer(&self, observer: Weak<dyn CommitObserver>) {
        // Under the writer lock: a commit is announced to it wholly or not at all.
        let _guard = self.write_guard();
        let mut observers = self.observers();
        observers.retain(|o| o.strong_count() > 0);
        observers.push(observer);
    }

    /// The observers alive that listen now (see [`CommitObserver::listening`]).
    pub(crate) fn listening_observers(&self) -> Vec<Arc<dyn CommitObserver>> {
        let observers = self.observers();
        observers.iter().filter_map(Weak::upgrade).filter(|o| o.listening()).collect()
    }

    pub(crate) fn observers(&self) -> std::sync::MutexGuard<'_, Vec<Weak<dyn CommitObserver>>> {
        self.inner.observers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` under the writer lock: no commit runs meanwhile, so whatever `f` does
    /// happens wholly before or wholly after each commit (a change-feed subscription: every
    /// write either committed before it, and a read after it sees the write, or is told to
    /// the new subscriber). `f` must not write to this store: it would wait for itself.
    pub fn with_writer_lock<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = self.write_guard();
        f()
    }

    /// A fresh entry id.
    pub(crate) fn inner_generate_id(&self) -> Result<u64, StoreError> {
        Ok(self.inner.db.generate_id()? + 1)
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

    /// Sets the hook that extends the write set of every later local write (see
    /// [`crate::hooks`]); a store has at most one. Returns false (and keeps the one it has)
    /// if one was set already.
    pub fn set_write_set_hook(&self, hook: Arc<dyn WriteSetHook>) -> bool {
        // Under the writer lock: a commit runs wholly with or without it.
        let _guard = self.write_guard();
        self.inner.write_set_hook.set(hook).is_ok()
    }

    /// The ids of the entries holding a value of `attr` (canonical name) whose normalized
    /// form is `key`, sorted: read from `attr`'s equality index (empty when it has none).
    pub fn ids_with_value(&self, attr: &str, key: &[u8]) -> Result<Vec<u64>, StoreError> {
        crate::packs::read(&self.inner.index, &crate::index::eq_prefix(attr, key))
    }

    pub(crate) fn write_guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner.write_lock.lock().unwrap_or_else(|p| p.into_inner())
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
}
