//! Offline bulk loading (`birch import`): entries are prepared (parent, id, index keys,
//! encoding) on the caller's thread while two writer threads put the previous batch into
//! sled (one the index, one the other trees), so that reading and writing overlap, as
//! `slapadd -q` does with its tool threads.

use super::dn_tree::child_key;
use super::{Store, META_IMPORT_INCOMPLETE};
use crate::changes::{self, META_CONTEXT_CSN};
use crate::entry::{Attribute, Entry};
use crate::packs;
use crate::postings::{self, ChunkWrite};
use crate::{index, IndexConfig, StoreError};
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

/// A batch's posting lists: index prefix → ids (ascending), in two maps. An import looks
/// up a few dozen prefixes per entry, most of them presence and trigram lists shared by many
/// entries: kept apart from the equality lists (one per distinct value, most with one id),
/// they are a small map that stays in the cache. Prefixes and lists are inline when short,
/// for the same reason (a key behind a pointer cost a cache miss per lookup).
#[derive(Default)]
struct Lists {
    /// Presence and trigram lists.
    shared: ListMap,
    /// Equality lists.
    values: ListMap,
}

/// Index prefix → ids (ascending).
type ListMap = HashMap<Prefix, Ids, foldhash::fast::RandomState>;

/// An index prefix, inline up to 30 bytes (trigram, presence and class prefixes, short values).
type Prefix = smallvec::SmallVec<[u8; 30]>;

/// The ids of one list of a batch, inline when there is one.
type Ids = smallvec::SmallVec<[u64; 1]>;

impl Lists {
    /// Adds `id` (the greatest so far) to the list of `prefix`.
    fn add(&mut self, prefix: &[u8], id: u64) {
        let map = if IndexConfig::is_eq_prefix(prefix) { &mut self.values } else { &mut self.shared };
        match map.get_mut(prefix) {
            // An entry repeats a prefix when two of its values share a trigram.
            Some(ids) if ids.last() == Some(&id) => {}
            Some(ids) => ids.push(id),
            None => {
                map.insert(Prefix::from_slice(prefix), smallvec::smallvec![id]);
            }
        }
    }

    /// Every list, sorted by prefix.
    fn sorted(self) -> Vec<(Prefix, Ids)> {
        let mut all: Vec<(Prefix, Ids)> = self.shared.into_iter().chain(self.values).collect();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// A writer thread and the way to it.
struct Writer<T> {
    tx: SyncSender<T>,
    handle: JoinHandle<Result<(), StoreError>>,
}

impl<T: Send + 'static> Writer<T> {
    /// Starts a thread that calls `write` on everything sent to it, in order, until the first
    /// error, then `done` once everything was sent. At most one batch waits for it (bounded
    /// memory, enough to keep it busy).
    fn spawn<S: Send + 'static>(
        name: &str,
        mut state: S,
        write: impl Fn(&mut S, T) -> Result<(), StoreError> + Send + 'static,
        done: impl FnOnce(S) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = sync_channel::<T>(1);
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for batch in rx {
                    write(&mut state, batch)?;
                }
                done(state)
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
    /// The attribute types [`BulkLoader::add_encoded`] decodes: the indexed ones,
    /// entryUUID and entryCSN.
    needed_types: Vec<String>,
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
            needed_types: {
                let cfg = &self.inner.cfg;
                let mut types: Vec<String> = cfg.equality.iter().chain(&cfg.substring).cloned().collect();
                types.extend(["entryuuid".to_string(), "entrycsn".to_string()]);
                types.sort_unstable();
                types.dedup();
                types
            },
        }
    }
}

impl BulkLoader {
    /// Queues an entry. Its parent must exist in the store or have been queued before,
    /// unless `is_suffix`.
    pub fn add(&mut self, mut entry: Entry, is_suffix: bool) -> Result<u64, StoreError> {
        let (parent, id) = self.place(&entry.ndn, &entry.dn, is_suffix)?;
        entry.parent = parent;
        // Entries without an entryCSN get the load's; slapcat's are kept (a cookie from
        // before the load means a full refresh anyway, see `Store::sync_epoch`).
        if changes::entry_csn(&entry).is_none() {
            changes::set_entry_csn(&mut entry, &self.csn);
        }
        self.index(&entry, id);
        let encoded = entry.encode();
        let uuid = changes::entry_uuid(&entry);
        self.queue(id, parent, entry.ndn, encoded, uuid)
    }

    /// Queues an entry given encoded ([`Entry::encode`]; its parent id is filled in here)
    /// with `extra` attributes to append to it, as [`BulkLoader::add`] would queue the
    /// decoded entry with them added. Only the attributes the load needs (the indexed ones,
    /// entryUUID, entryCSN) are decoded; the others are copied as they are.
    pub fn add_encoded(
        &mut self,
        encoded: &[u8],
        mut extra: Vec<Attribute>,
        is_suffix: bool,
    ) -> Result<u64, StoreError> {
        let parts = Entry::encoded_parts(encoded)?;
        let (parent, id) = self.place(parts.ndn, parts.dn, is_suffix)?;
        let mut needed = Entry::decode_only(encoded, &self.needed_types)?;
        if changes::entry_csn(&needed).is_none() {
            extra.push(Attribute {
                name: "entryCSN".into(),
                canonical: "entrycsn".into(),
                values: vec![self.csn.as_bytes().to_vec()],
            });
        }
        // The extra attributes are indexed with the others, then appended to the encoding.
        let own = needed.attrs.len();
        needed.attrs.extend(extra);
        self.index(&needed, id);
        let uuid = changes::entry_uuid(&needed);
        let encoded = parts.encode_with(parent, &needed.attrs[own..]);
        self.queue(id, parent, needed.ndn, encoded, uuid)
    }

    /// The parent id and the new id of the entry `ndn` (`dn` names it in errors), after
    /// checking that it is new and that its parent exists.
    fn place(&mut self, ndn: &str, dn: &str, is_suffix: bool) -> Result<(u64, u64), StoreError> {
        if self.writer.is_none() {
            self.start()?;
        }
        // Only this load writes to the store (it is opened exclusively), so an empty store
        // has no DN but those in `new_ids`: no lookups in the tree the writer is filling.
        if self.new_ids.contains_key(ndn) || self.had_entries && self.store.id_of(ndn)?.is_some() {
            return Err(StoreError::AlreadyExists(dn.to_string()));
        }
        let parent = if is_suffix {
            0
        } else {
            let p = birch_schema::ndn::parent(ndn);
            match self.new_ids.get(p) {
                Some(&id) => id,
                None if self.had_entries => self.store.id_of(p)?.ok_or_else(|| StoreError::NoParent(dn.to_string()))?,
                None => return Err(StoreError::NoParent(dn.to_string())),
            }
        };
        // Ids only grow, so every posting list is appended to.
        let id = self.store.inner.db.generate_id()? + 1;
        Ok((parent, id))
    }

    /// Adds entry `id`'s index prefixes to the batch's lists. Everything but the sled
    /// inserts is done on this thread: the writers' inserts are the larger half of the work.
    fn index(&mut self, entry: &Entry, id: u64) {
        let lists = &mut self.batch.lists;
        index::for_each_prefix(entry, &self.store.inner.cfg, self.store.schema(), |prefix| lists.add(prefix, id));
    }

    /// Queues the writes of entry `id` to the other trees; hands the batch to the writers
    /// when it is full.
    fn queue(
        &mut self,
        id: u64,
        parent: u64,
        ndn: String,
        encoded: Vec<u8>,
        uuid: Option<[u8; 16]>,
    ) -> Result<u64, StoreError> {
        let t = &mut self.batch.trees;
        t.entries.push((id, encoded));
        if parent != 0 {
            t.children.push(child_key(parent, id));
        }
        if let Some(u) = uuid {
            t.uuids.push((u, id));
        }
        t.dns.push((ndn.clone(), id));
        self.new_ids.insert(ndn, id);
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
        let trees = Writer::spawn("birch-import-trees", self.store.clone(), |s, b| write_trees(s, b), |_| Ok(()))?;
        let index = Writer::spawn(
            "birch-import-index",
            IndexWriter::new(&self.store),
            IndexWriter::write,
            IndexWriter::finish,
        )?;
        self.writer = Some(Writers { trees, index });
        Ok(())
    }

    /// Hands the current batch to the writers; when one has stopped, returns its error.
    fn send(&mut self) -> Result<(), StoreError> {
        let Batch { trees, lists } = std::mem::take(&mut self.batch);
        // The next batch has about as many lists: no growing (and rehashing) on the way.
        self.batch.lists.shared.reserve(lists.shared.len());
        self.batch.lists.values.reserve(lists.values.len());
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
/// range scan, the import's most expensive read). The last, partly filled chunk of a list
/// that grows through the batches (a trigram, an objectClass, a gidNumber) is held back until
/// it is full or the load ends: such a list is written once per chunk, not once per batch.
/// A list that gets all its ids in one batch (most lists) is written at once.
///
/// Equality lists short enough to be packed ([`crate::packs`]) are kept until the load ends,
/// when they are written in key order, many to a key: that is most of the index's keys (the
/// 100k-user import wrote 570k keys before, a third of its CPU). Each batch's are kept as one
/// sorted run of compact records (a hash map of them took three times the memory), merged at
/// the end; a list that grew too long on the way is chunked then. Into an index that had keys
/// before the load, each batch's equality lists are merged with the stored ones instead.
struct IndexWriter {
    store: Store,
    /// Digests of the prefixes this load wrote; `None` when the index had keys before the
    /// load (then any prefix may have a list already, and is looked up).
    written: Option<std::collections::HashSet<u64, foldhash::fast::RandomState>>,
    /// The last chunk of every list that has more than one id (the lists that later batches
    /// may append to).
    tails: HashMap<Vec<u8>, Tail, foldhash::fast::RandomState>,
    /// Per batch, its packable equality lists (into an empty index only): records
    /// `(prefix, ids)` in prefix order ([`packs::push_record`]).
    runs: Vec<Vec<u8>>,
}

/// The last chunk of a list.
#[derive(Default)]
struct Tail {
    /// Its ids; empty when it is full (the next id starts a chunk).
    ids: Vec<u64>,
    /// Whether it is held back (not written yet).
    held: bool,
}

impl IndexWriter {
    fn new(store: &Store) -> IndexWriter {
        let written = store.inner.index.is_empty().then(Default::default);
        IndexWriter { store: store.clone(), written, tails: HashMap::default(), runs: Vec::new() }
    }

    /// Writes a batch's posting lists in key order, but for the chunks held back and the
    /// lists that may be packed.
    fn write(&mut self, lists: Lists) -> Result<(), StoreError> {
        let store = self.store.clone();
        let _writing = store.writing();
        let mut merge = Vec::new();
        let mut run = Vec::new();
        for (prefix, ids) in lists.sorted() {
            let Some(key) = packs::EqKey::parse(&prefix) else {
                self.append_and_write(&prefix, &ids)?;
                continue;
            };
            if self.written.is_none() {
                // The index had keys before the load: merged with the stored lists below.
                merge.push((prefix, ids));
            } else if !self.tails.contains_key(prefix.as_slice()) && packs::packable(&key, ids.len()) {
                packs::push_record(&mut run, &prefix, &ids);
            } else {
                self.append_and_write(&prefix, &ids)?;
            }
        }
        run.shrink_to_fit();
        self.runs.push(run);
        let changes = merge.iter().map(|(p, ids)| (p.as_slice(), ids.as_slice(), &[][..]));
        for w in packs::plan_changes(&store.inner.index, changes)? {
            apply(&store.inner.index, w)?;
        }
        Ok(())
    }

    /// Appends `ids` to the list of `prefix` and writes what [`IndexWriter::append`] returns.
    fn append_and_write(&mut self, prefix: &[u8], ids: &[u64]) -> Result<(), StoreError> {
        for w in self.append(prefix, ids)? {
            apply(&self.store.inner.index, w)?;
        }
        Ok(())
    }

    /// The writes appending `ids` to the list of `prefix`; remembers the list's new tail,
    /// and leaves it out of the writes (held back) when it is not full and the list already
    /// had one.
    fn append(&mut self, prefix: &[u8], ids: &[u64]) -> Result<Vec<ChunkWrite>, StoreError> {
        let digest = super::check::prefix_hash(prefix);
        let (last, grows) = match self.tails.get_mut(prefix) {
            Some(t) if t.ids.is_empty() => (None, true),
            Some(t) => (Some((postings::chunk_key(prefix, t.ids[0]), std::mem::take(&mut t.ids))), true),
            None => match &self.written {
                Some(w) if !w.contains(&digest) => (None, false),
                _ => (postings::last(&self.store.inner.index, prefix)?, false),
            },
        };
        let longer = last.is_some() || ids.len() > 1;
        let mut writes = postings::append_to(last, prefix, ids);
        if let Some(w) = &mut self.written {
            w.insert(digest);
        }
        if longer {
            // `append_to` fills the last chunk, then starts new ones: only its final write
            // can be short of a full chunk.
            let tail = match writes.last().and_then(|w| w.value.as_deref()) {
                Some(v) if v.len() / 8 < postings::CHUNK => {
                    let ids = postings::decode(v).collect();
                    if grows {
                        writes.pop();
                    }
                    Tail { ids, held: grows }
                }
                _ => Tail::default(),
            };
            match self.tails.get_mut(prefix) {
                Some(t) => *t = tail,
                None => {
                    self.tails.insert(prefix.to_vec(), tail);
                }
            }
        }
        Ok(writes)
    }

    /// Writes the chunks held back, then the kept equality lists: merged across the runs,
    /// packed, or chunked when they grew too long (in front of the chunks of a list that was
    /// chunked by a later batch).
    fn finish(self) -> Result<(), StoreError> {
        let _writing = self.store.writing();
        let index = &self.store.inner.index;
        let mut held: Vec<(&Vec<u8>, &Vec<u64>)> =
            self.tails.iter().filter(|(_, t)| t.held).map(|(p, t)| (p, &t.ids)).collect();
        held.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (prefix, ids) in held {
            let w = ChunkWrite { key: postings::chunk_key(prefix, ids[0]), value: Some(postings::encode(ids)) };
            apply(index, w)?;
        }
        let mut packer = packs::Packer::for_new_packs();
        let mut failed = Ok(());
        let mut write = |w: ChunkWrite| {
            if failed.is_ok() {
                failed = apply(index, w);
            }
        };
        for merged in merge_runs(&self.runs) {
            let (prefix, ids) = merged?;
            let Some(key) = packs::EqKey::parse(prefix) else { continue };
            if self.tails.contains_key(prefix) {
                postings::plan_changes(index, prefix, &ids, &[])?.into_iter().for_each(&mut write);
            } else if packs::packable(&key, ids.len()) {
                packer.push(&key, &ids, &mut write);
            } else {
                postings::append_to(None, prefix, &ids).into_iter().for_each(&mut write);
            }
        }
        packer.finish(&mut write);
        failed
    }
}

/// The lists of sorted runs of records, merged: each prefix once, in prefix order, with the
/// ids of every run that has it (runs in id order, so the ids ascend).
fn merge_runs(runs: &[Vec<u8>]) -> impl Iterator<Item = Result<(&[u8], Vec<u64>), StoreError>> + '_ {
    use std::cmp::Reverse;
    let mut cursors: Vec<packs::Records> = runs.iter().map(|r| packs::records(r)).collect();
    // (prefix, run, ids) of each run's next record; ties pop in run order.
    let mut heap = std::collections::BinaryHeap::new();
    let mut failed = None;
    for (i, c) in cursors.iter_mut().enumerate() {
        match c.next() {
            Some(Ok((p, ids))) => heap.push(Reverse((p, i, ids))),
            Some(Err(e)) => failed = Some(e),
            None => {}
        }
    }
    let mut failed = failed.map(Err);
    std::iter::from_fn(move || {
        if let Some(e) = failed.take() {
            return Some(e);
        }
        let Reverse((prefix, _, _)) = *heap.peek()?;
        let mut ids = Vec::new();
        while let Some(Reverse((p, run, bytes))) = heap.peek().copied() {
            if p != prefix {
                break;
            }
            heap.pop();
            ids.extend(postings::decode(bytes));
            match cursors[run].next() {
                Some(Ok((p, b))) => heap.push(Reverse((p, run, b))),
                Some(Err(e)) => return Some(Err(e)),
                None => {}
            }
        }
        Some(Ok((prefix, ids)))
    })
}

/// Applies one chunk write to the index tree.
fn apply(index: &sled::Tree, w: ChunkWrite) -> Result<(), StoreError> {
    match w.value {
        Some(v) => index.insert(w.key, v)?,
        None => index.remove(w.key)?,
    };
    Ok(())
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
    /// trigrams (lists that grow over many batches), repeat a few values (`gidNumber`), repeat
    /// one value only far apart (`cn: shared`, packed), one once per batch or so (`cn:
    /// spread`, too many ids for a pack in the end), and one once early, then many times in
    /// one later batch (`cn: late`: kept for packing, then chunked).
    fn entries(s: &Store, n: usize) -> Vec<(Entry, bool)> {
        let mut out = vec![
            (entry(s, "dc=x", &[("objectClass", "domain"), ("dc", "x")]), true),
            (entry(s, "ou=people,dc=x", &[("objectClass", "organizationalUnit"), ("ou", "people")]), false),
        ];
        for i in 0..n {
            let uid = format!("user{i:05}");
            // Every 400th person has the cn "shared": a list with one id for a long while,
            // then a second (the writer must find the first in sled, not start a new list).
            let cn = match i {
                _ if i % 400 == 7 => "shared".to_string(),
                _ if i % 100 == 50 => "spread".to_string(),
                3 | 600..620 => "late".to_string(),
                _ => format!("Person {i}"),
            };
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

    /// The index as (prefix, normalized DN) pairs, packed lists unpacked; checks the chunks'
    /// sizes on the way.
    fn index(s: &Store) -> BTreeSet<(Vec<u8>, String)> {
        let mut out = BTreeSet::new();
        for kv in s.inner.index.iter() {
            let (k, v) = kv.unwrap();
            let lists = if k[0] == packs::PACK {
                packs::unpack(&k, &v).unwrap()
            } else {
                let ids: Vec<u64> = postings::decode(&v).collect();
                assert!(!ids.is_empty() && ids.len() <= postings::CHUNK);
                vec![(k[..k.len() - 8].to_vec(), ids)]
            };
            for (prefix, ids) in lists {
                for id in ids {
                    out.insert((prefix.clone(), s.get(id).unwrap().unwrap().ndn));
                }
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
    fn encoded_entries_load_like_built_ones() {
        let member_of = |i: usize| Attribute {
            name: "memberOf".into(),
            canonical: "memberof".into(),
            values: vec![format!("cn=g{},dc=x", i % 7).into_bytes()],
        };
        let (_d1, built) = store();
        let mut loader = built.bulk_loader(97);
        for (i, (mut e, suffix)) in entries(&built, 800).into_iter().enumerate() {
            e.attrs.push(member_of(i));
            loader.add(e, suffix).unwrap();
        }
        loader.finish().unwrap();
        let (_d2, encoded) = store();
        let mut loader = encoded.bulk_loader(97);
        for (i, (e, suffix)) in entries(&encoded, 800).into_iter().enumerate() {
            loader.add_encoded(&e.encode(), vec![member_of(i)], suffix).unwrap();
        }
        loader.finish().unwrap();
        assert_eq!(encoded.check().unwrap(), Vec::<String>::new());
        assert_eq!(index(&built), index(&encoded));
        for t in [|s: &Store| s.inner.dn2id.clone(), |s: &Store| s.inner.children.clone()] {
            assert_eq!(tree(&t(&built)), tree(&t(&encoded)));
        }
        // The same entries, attributes in the same order; only the loads' CSNs differ.
        let stored = |s: &Store| -> Vec<Entry> {
            let mut all: Vec<Entry> = s.inner.entries.iter().map(|kv| Entry::decode(&kv.unwrap().1).unwrap()).collect();
            for e in &mut all {
                changes::set_entry_csn(e, "the load's");
            }
            all
        };
        assert_eq!(stored(&built), stored(&encoded));
    }

    #[test]
    fn a_list_growing_through_the_batches_is_written_once_per_chunk() {
        let (_d, s) = store();
        let mut writer = IndexWriter::new(&s);
        let prefix = b"scn\0abc".to_vec();
        let mut writes = Vec::new();
        // Ten batches of 100 ids: the first writes the new list at once; later ones write
        // only the chunks they fill (at 256, 512 and 768 ids); the end writes the rest.
        for batch in 0..10u64 {
            let ids: Vec<u64> = (batch * 100 + 1..=batch * 100 + 100).collect();
            for w in writer.append(&prefix, &ids).unwrap() {
                writes.push(w.key.clone());
                apply(&s.inner.index, w).unwrap();
            }
        }
        assert_eq!(writes.len(), 4, "{writes:?}");
        writer.finish().unwrap();
        assert_eq!(postings::read(&s.inner.index, &prefix).unwrap(), (1..=1000).collect::<Vec<u64>>());
        let chunks: Vec<Vec<u64>> =
            s.inner.index.scan_prefix(&prefix).map(|kv| postings::decode(&kv.unwrap().1).collect()).collect();
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), vec![256, 256, 256, 232]);
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
