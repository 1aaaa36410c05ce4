//! Offline bulk loading (`birch import`): entries are prepared (parent, id, index keys,
//! encoding) on the caller's thread while two writer threads put the previous batch into
//! sled (one the index, one the other trees), so that reading and writing overlap, as
//! `slapadd -q` does with its tool threads.

use super::{child_key, parent_ndn, Store, META_IMPORT_INCOMPLETE};
use crate::changes::{self, META_CONTEXT_CSN};
use crate::entry::Entry;
use crate::postings::{self, ChunkWrite};
use crate::{index, StoreError};
use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

/// One batch, ready to be written: every tree's keys, the posting lists sorted by prefix.
#[derive(Default)]
struct Batch {
    trees: TreeBatch,
    /// Index prefix → ids of the batch (ascending).
    lists: Lists,
}

/// A batch's writes to the trees other than the index.
#[derive(Default)]
struct TreeBatch {
    entries: Vec<(u64, Vec<u8>)>,
    dns: Vec<(String, u64)>,
    children: Vec<[u8; 16]>,
    uuids: Vec<([u8; 16], u64)>,
}

/// A batch's posting lists: index prefix → ids (ascending).
type Lists = HashMap<Vec<u8>, Vec<u64>, foldhash::fast::RandomState>;

/// A writer thread and the way to it.
struct Writer<T> {
    tx: SyncSender<T>,
    handle: JoinHandle<Result<(), StoreError>>,
}

impl<T: Send + 'static> Writer<T> {
    /// Starts a thread that calls `write` on everything sent to it, in order, until the first
    /// error. At most one batch waits for it (bounded memory, enough to keep it busy).
    fn spawn(
        name: &str,
        mut write: impl FnMut(T) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = sync_channel::<T>(1);
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for batch in rx {
                    write(batch)?;
                }
                Ok(())
            })
            .map_err(|e| StoreError::Sled(sled::Error::Io(e)))?;
        Ok(Writer { tx, handle })
    }

    /// Waits for everything sent to be written.
    fn join(self) -> Result<(), StoreError> {
        drop(self.tx);
        self.handle.join().map_err(|_| writer_gone())?
    }
}

/// The two writer threads: one for the index, one for the other trees (sled's trees take
/// inserts from several threads; the index is about half of the writes).
struct Writers {
    trees: Writer<TreeBatch>,
    index: Writer<Lists>,
}

/// Offline bulk loader: prepares entries on the caller's thread and hands them in batches
/// of `batch_size` to two writer threads, which write each tree in key order without
/// transactions (sled inserts in key order are much cheaper than scattered ones). Callers
/// validate the whole input first; [`META_IMPORT_INCOMPLETE`] is set until
/// [`BulkLoader::finish`] has flushed, so an interrupted import is detected.
pub struct BulkLoader {
    store: Store,
    batch_size: usize,
    /// Every DN this load added, with its id: parents are found here even while the writer
    /// has not written them yet.
    new_ids: HashMap<String, u64, foldhash::fast::RandomState>,
    /// Whether the store had entries before the load (only then are DNs looked up in it).
    had_entries: bool,
    batch: Batch,
    queued: usize,
    writer: Option<Writers>,
    /// The entryCSN of every imported entry (one CSN for the whole load).
    csn: String,
}

impl Store {
    /// Starts an offline bulk load (see [`BulkLoader`]).
    pub fn bulk_loader(&self, batch_size: usize) -> BulkLoader {
        BulkLoader {
            store: self.clone(),
            batch_size: batch_size.max(1),
            new_ids: HashMap::default(),
            had_entries: !self.inner.dn2id.is_empty(),
            batch: Batch::default(),
            queued: 0,
            writer: None,
            csn: self.inner.csn.next(),
        }
    }
}

impl BulkLoader {
    /// Queues an entry. Its parent must exist in the store or have been queued before,
    /// unless `is_suffix`.
    pub fn add(&mut self, mut entry: Entry, is_suffix: bool) -> Result<u64, StoreError> {
        if self.writer.is_none() {
            self.start()?;
        }
        // Only this load writes to the store (it is opened exclusively), so an empty store
        // has no DN but those in `new_ids`: no lookups in the tree the writer is filling.
        if self.new_ids.contains_key(&entry.ndn) || self.had_entries && self.store.id_of(&entry.ndn)?.is_some() {
            return Err(StoreError::AlreadyExists(entry.dn));
        }
        entry.parent = if is_suffix {
            0
        } else {
            let p = parent_ndn(&entry.ndn);
            match self.new_ids.get(p) {
                Some(&id) => id,
                None if self.had_entries => {
                    self.store.id_of(p)?.ok_or_else(|| StoreError::NoParent(entry.dn.clone()))?
                }
                None => return Err(StoreError::NoParent(entry.dn)),
            }
        };
        // Ids only grow, so every posting list is appended to.
        let id = self.store.inner.db.generate_id()? + 1;
        // Entries without an entryCSN get the load's; slapcat's are kept (a cookie from
        // before the load means a full refresh anyway, see `Store::sync_epoch`).
        if changes::entry_csn(&entry).is_none() {
            changes::set_entry_csn(&mut entry, &self.csn);
        }
        // Everything but the sled inserts is done here: the writer's inserts are the larger
        // half of the work, this keeps the two threads balanced.
        let b = &mut self.batch;
        index::for_each_prefix(&entry, &self.store.inner.cfg, self.store.schema(), |prefix| {
            match b.lists.get_mut(prefix) {
                // An entry repeats a prefix when two of its values share a trigram.
                Some(ids) if ids.last() == Some(&id) => {}
                Some(ids) => ids.push(id),
                // Only a new list costs an allocation for its key.
                None => {
                    b.lists.insert(prefix.to_vec(), vec![id]);
                }
            }
        });
        let t = &mut b.trees;
        t.entries.push((id, entry.encode()));
        if entry.parent != 0 {
            t.children.push(child_key(entry.parent, id));
        }
        if let Some(u) = changes::entry_uuid(&entry) {
            t.uuids.push((u, id));
        }
        t.dns.push((entry.ndn.clone(), id));
        self.new_ids.insert(entry.ndn, id);
        self.queued += 1;
        if self.queued >= self.batch_size {
            self.send()?;
        }
        Ok(id)
    }

    /// Marks the store incomplete (durably) and starts the writer threads.
    fn start(&mut self) -> Result<(), StoreError> {
        self.store.meta_set(META_IMPORT_INCOMPLETE, b"1")?;
        self.store.flush()?;
        let store = self.store.clone();
        let trees = Writer::spawn("birch-import-trees", move |b| write_trees(&store, b))?;
        let mut index = IndexWriter::new(&self.store);
        let index = Writer::spawn("birch-import-index", move |lists| index.write(lists))?;
        self.writer = Some(Writers { trees, index });
        Ok(())
    }

    /// Hands the current batch to the writers; when one has stopped, returns its error.
    fn send(&mut self) -> Result<(), StoreError> {
        let Batch { trees, lists } = std::mem::take(&mut self.batch);
        self.queued = 0;
        let Some(w) = &self.writer else {
            return Ok(());
        };
        if w.trees.tx.send(trees).is_err() || w.index.tx.send(lists).is_err() {
            // A writer only hangs up after an error: report that one.
            self.join()?;
            return Err(writer_gone());
        }
        Ok(())
    }

    /// Waits for the writers to write everything they were sent; the first error.
    fn join(&mut self) -> Result<(), StoreError> {
        match self.writer.take() {
            Some(Writers { trees, index }) => {
                let (t, i) = (trees.join(), index.join());
                t.and(i)
            }
            None => Ok(()),
        }
    }

    /// Writes what is queued, flushes and clears the incomplete marker.
    pub fn finish(mut self) -> Result<(), StoreError> {
        if self.writer.is_none() {
            self.start()?;
        }
        self.send()?;
        self.join()?;
        self.store.meta_set(META_CONTEXT_CSN, self.csn.as_bytes())?;
        self.store.meta_set(changes::META_SYNC_EPOCH, self.csn.as_bytes())?;
        self.store.flush()?;
        self.store.meta_remove(META_IMPORT_INCOMPLETE)?;
        self.store.flush()?;
        Ok(())
    }
}

fn writer_gone() -> StoreError {
    StoreError::Failed("the import's writer thread stopped".into())
}

/// Writes a batch's entries, DNs, parent links and entryUUIDs, each tree in key order.
fn write_trees(store: &Store, batch: TreeBatch) -> Result<(), StoreError> {
    let inner = &store.inner;
    let _writing = store.writing();
    let TreeBatch { entries, mut dns, mut children, mut uuids } = batch;
    for (id, encoded) in entries {
        inner.entries.insert(id.to_be_bytes(), encoded)?;
    }
    // Counted afresh when next asked for (`Store::len`).
    *store.entry_count() = None;
    dns.sort_unstable();
    for (ndn, id) in dns {
        inner.dn2id.insert(ndn.as_bytes(), &id.to_be_bytes())?;
    }
    children.sort_unstable();
    for k in children {
        inner.children.insert(k, &[])?;
    }
    uuids.sort_unstable();
    for (uuid, id) in uuids {
        inner.uuid2id.insert(uuid, &id.to_be_bytes())?;
    }
    Ok(())
}

/// The index writer. It keeps what it learns about the posting lists it wrote, so that
/// appending to a list rarely needs to read the list's last chunk back from sled (a reverse
/// range scan, the import's most expensive read).
struct IndexWriter {
    store: Store,
    /// Digests of the prefixes this load wrote; `None` when the index had keys before the
    /// load (then any prefix may have a list already, and is looked up).
    written: Option<std::collections::HashSet<u64, foldhash::fast::RandomState>>,
    /// The last chunk of every list that has more than one id (the lists that later batches
    /// append to): its ids, empty when it is full (the next id starts a chunk).
    tails: HashMap<Vec<u8>, Vec<u64>, foldhash::fast::RandomState>,
}

impl IndexWriter {
    fn new(store: &Store) -> IndexWriter {
        let written = store.inner.index.is_empty().then(Default::default);
        IndexWriter { store: store.clone(), written, tails: HashMap::default() }
    }

    /// Writes a batch's posting lists in key order.
    fn write(&mut self, lists: Lists) -> Result<(), StoreError> {
        let store = self.store.clone();
        let index = &store.inner.index;
        let _writing = store.writing();
        let mut lists: Vec<(Vec<u8>, Vec<u64>)> = lists.into_iter().collect();
        lists.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (prefix, ids) in lists {
            for w in self.append(prefix, &ids)? {
                match w.value {
                    Some(v) => index.insert(w.key, v)?,
                    None => index.remove(w.key)?,
                };
            }
        }
        Ok(())
    }

    /// The writes appending `ids` to the list of `prefix`; remembers the list's new tail.
    fn append(&mut self, prefix: Vec<u8>, ids: &[u64]) -> Result<Vec<ChunkWrite>, StoreError> {
        let digest = super::prefix_hash(&prefix);
        let last = match self.tails.get_mut(&prefix) {
            Some(t) if t.is_empty() => None,
            Some(t) => Some((postings::chunk_key(&prefix, t[0]), std::mem::take(t))),
            None => match &self.written {
                Some(w) if !w.contains(&digest) => None,
                _ => postings::last(&self.store.inner.index, &prefix)?,
            },
        };
        let longer = last.is_some() || ids.len() > 1;
        let writes = postings::append_to(last, &prefix, ids);
        if let Some(w) = &mut self.written {
            w.insert(digest);
        }
        if longer {
            let tail: Vec<u64> = match writes.last().and_then(|w| w.value.as_deref()) {
                Some(v) if v.len() / 8 < postings::CHUNK => postings::decode(v).collect(),
                _ => Vec::new(),
            };
            self.tails.insert(prefix, tail);
        }
        Ok(writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::store;
    use std::collections::{BTreeMap, BTreeSet};

    fn entry(s: &Store, dn: &str, pairs: &[(&str, &str)]) -> Entry {
        s.make_entry(dn, pairs.iter().map(|(n, v)| (n.to_string(), vec![v.as_bytes().to_vec()])).collect()).unwrap()
    }

    /// The entries of a test load: a suffix, an OU and `n` people whose values share
    /// trigrams (lists that grow over many batches), repeat a few values (`gidNumber`), and
    /// repeat one value only far apart (`cn: shared`).
    fn entries(s: &Store, n: usize) -> Vec<(Entry, bool)> {
        let mut out = vec![
            (entry(s, "dc=x", &[("objectClass", "domain"), ("dc", "x")]), true),
            (entry(s, "ou=people,dc=x", &[("objectClass", "organizationalUnit"), ("ou", "people")]), false),
        ];
        for i in 0..n {
            let uid = format!("user{i:05}");
            // Every 400th person has the cn "shared": a list with one id for a long while,
            // then a second (the writer must find the first in sled, not start a new list).
            let cn = if i % 400 == 7 { "shared".to_string() } else { format!("Person {i}") };
            let gid = (1000 + i % 3).to_string();
            let attrs = [
                ("objectClass", "inetOrgPerson"),
                ("uid", uid.as_str()),
                ("cn", cn.as_str()),
                ("sn", "P"),
                ("mail", &format!("{uid}@x.example")),
                ("gidNumber", gid.as_str()),
            ];
            out.push((entry(s, &format!("uid={uid},ou=people,dc=x"), &attrs), false));
        }
        out
    }

    /// The index as (prefix, normalized DN) pairs; checks the chunks' sizes on the way.
    fn index(s: &Store) -> BTreeSet<(Vec<u8>, String)> {
        let mut out = BTreeSet::new();
        for kv in s.inner.index.iter() {
            let (k, v) = kv.unwrap();
            let prefix = k[..k.len() - 8].to_vec();
            let ids: Vec<u64> = postings::decode(&v).collect();
            assert!(!ids.is_empty() && ids.len() <= postings::CHUNK);
            for id in ids {
                out.insert((prefix.clone(), s.get(id).unwrap().unwrap().ndn));
            }
        }
        out
    }

    fn tree(t: &sled::Tree) -> BTreeMap<Vec<u8>, Vec<u8>> {
        t.iter().map(|kv| kv.unwrap()).map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
    }

    fn one_by_one(n: usize) -> (tempfile::TempDir, Store) {
        let (dir, s) = store();
        for (e, suffix) in entries(&s, n) {
            s.add(e, suffix).unwrap();
        }
        (dir, s)
    }

    #[test]
    fn a_bulk_load_in_many_batches_indexes_like_single_adds() {
        let (_d1, bulk) = store();
        let mut loader = bulk.bulk_loader(97);
        for (e, suffix) in entries(&bulk, 1500) {
            loader.add(e, suffix).unwrap();
        }
        loader.finish().unwrap();
        let (_d2, single) = one_by_one(1500);
        assert_eq!(bulk.check().unwrap(), Vec::<String>::new());
        assert_eq!(index(&bulk), index(&single));
        for (a, b) in [(&bulk.inner.dn2id, &single.inner.dn2id), (&bulk.inner.children, &single.inner.children)] {
            assert_eq!(tree(a), tree(b));
        }
        assert_eq!(bulk.inner.uuid2id.len(), single.inner.uuid2id.len());
        assert_eq!(bulk.meta_get(META_IMPORT_INCOMPLETE).unwrap(), None);
    }

    #[test]
    fn a_bulk_load_into_a_store_with_entries_appends_to_its_lists() {
        let (_d1, bulk) = store();
        let all = entries(&bulk, 900);
        let mut rest = all.into_iter();
        for (e, suffix) in rest.by_ref().take(300) {
            bulk.add(e, suffix).unwrap();
        }
        let mut loader = bulk.bulk_loader(128);
        for (e, suffix) in rest {
            loader.add(e, suffix).unwrap();
        }
        loader.finish().unwrap();
        let (_d2, single) = one_by_one(900);
        assert_eq!(bulk.check().unwrap(), Vec::<String>::new());
        assert_eq!(index(&bulk), index(&single));
    }

    #[test]
    fn duplicates_and_orphans_are_refused() {
        let (_d, s) = store();
        let mut all = entries(&s, 3).into_iter();
        let mut loader = s.bulk_loader(2);
        for (e, suffix) in all.by_ref().take(3) {
            loader.add(e, suffix).unwrap();
        }
        let again = entry(&s, "uid=user00000,ou=people,dc=x", &[("objectClass", "account"), ("uid", "user00000")]);
        assert!(matches!(loader.add(again, false), Err(StoreError::AlreadyExists(_))));
        let orphan = entry(&s, "uid=a,ou=nowhere,dc=x", &[("objectClass", "account"), ("uid", "a")]);
        assert!(matches!(loader.add(orphan, false), Err(StoreError::NoParent(_))));
        for (e, suffix) in all {
            loader.add(e, suffix).unwrap();
        }
        loader.finish().unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(s.check().unwrap(), Vec::<String>::new());
    }
}
