//! Whole-store iteration for export and backup: the walk in tree order ([`Walk`],
//! [`RawWalk`]) and the consistent copy taken under the writer lock ([`Snapshot`]).

use super::dn_tree::decode_id;
use super::Store;
use crate::entry::Entry;
use crate::StoreError;
use std::collections::HashMap;

impl Store {
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
    use crate::testing::{attrs, store};
    use birch_schema::Dn;

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
