//! Chunked posting lists: the ids of one index key (an attribute value, a presence key, a
//! trigram) are stored as sorted big-endian u64s in chunks of at most [`CHUNK`] ids, under
//! `key prefix ++ first id of the chunk`. One key per chunk instead of one key per id keeps
//! the index to a few keys per distinct value, which is what makes bulk import and the
//! on-disk size affordable on sled. Chunks of one prefix never overlap and are in id order,
//! so concatenating them in key order yields a sorted list.

use crate::StoreError;

/// Most ids in one chunk: bounds the bytes rewritten when one id is added or removed.
pub const CHUNK: usize = 256;

/// A change to one chunk key: `Some(value)` writes, `None` removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkWrite {
    /// The full key (prefix ++ chunk start).
    pub key: Vec<u8>,
    /// The new value, or `None` to remove the key.
    pub value: Option<Vec<u8>>,
}

/// A stored chunk: its key and its ids.
type Chunk = (Vec<u8>, Vec<u64>);

pub(crate) fn chunk_key(prefix: &[u8], start: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&start.to_be_bytes());
    k
}

/// Encodes sorted ids.
pub fn encode(ids: &[u64]) -> Vec<u8> {
    let mut v = Vec::with_capacity(ids.len() * 8);
    for id in ids {
        v.extend_from_slice(&id.to_be_bytes());
    }
    v
}

/// Decodes a chunk value.
pub fn decode(v: &[u8]) -> impl Iterator<Item = u64> + '_ {
    v.chunks_exact(8).map(|c| u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
}

/// Reads the whole posting list of `prefix`, sorted.
pub fn read(tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<u64>, StoreError> {
    let mut ids = Vec::new();
    for kv in tree.scan_prefix(prefix) {
        let (k, v) = kv?;
        // Only keys of exactly this prefix: an equality value containing 0x00 could
        // otherwise extend another value's prefix.
        if k.len() == prefix.len() + 8 {
            ids.extend(decode(&v));
        }
    }
    Ok(ids)
}

/// The chunk that `id` belongs to: the one with the greatest start <= id.
fn locate(tree: &sled::Tree, prefix: &[u8], id: u64) -> Result<Option<Chunk>, StoreError> {
    let upper = chunk_key(prefix, id);
    for kv in tree.range(prefix.to_vec()..=upper).rev() {
        let (k, v) = kv?;
        if k.len() == prefix.len() + 8 && k.starts_with(prefix) {
            return Ok(Some((k.to_vec(), decode(&v).collect())));
        }
    }
    Ok(None)
}

/// The first chunk of `prefix` (used when `id` precedes every chunk).
fn first(tree: &sled::Tree, prefix: &[u8]) -> Result<Option<Chunk>, StoreError> {
    for kv in tree.scan_prefix(prefix) {
        let (k, v) = kv?;
        if k.len() == prefix.len() + 8 {
            return Ok(Some((k.to_vec(), decode(&v).collect())));
        }
    }
    Ok(None)
}

/// Writes for a chunk whose ids changed: removed when empty, split into balanced pieces of
/// at most [`CHUNK`] ids when too large, re-keyed when its first id changed.
fn rewrite(prefix: &[u8], old_key: Option<Vec<u8>>, ids: &[u64], out: &mut Vec<ChunkWrite>) {
    let pieces = ids.len().div_ceil(CHUNK);
    let parts: Vec<&[u64]> = match pieces {
        0 => vec![],
        1 => vec![ids],
        _ => ids.chunks(ids.len().div_ceil(pieces)).collect(),
    };
    let keys: Vec<Vec<u8>> = parts.iter().map(|p| chunk_key(prefix, p[0])).collect();
    if let Some(k) = old_key {
        if !keys.contains(&k) {
            out.push(ChunkWrite { key: k, value: None });
        }
    }
    for (key, part) in keys.into_iter().zip(parts) {
        out.push(ChunkWrite { key, value: Some(encode(part)) });
    }
}

/// The chunk an id belongs to: the one with the greatest start <= id, else the first one
/// (an id smaller than every chunk joins the first), else none.
fn owner(tree: &sled::Tree, prefix: &[u8], id: u64) -> Result<Option<Chunk>, StoreError> {
    match locate(tree, prefix, id)? {
        Some(c) => Ok(Some(c)),
        None => first(tree, prefix),
    }
}

/// The writes that add `adds` to and remove `removes` from the posting list of `prefix`,
/// rewriting only the chunks those ids fall in. Callers serialize writers and apply the
/// writes before planning the same prefix again.
pub fn plan_changes(
    tree: &sled::Tree,
    prefix: &[u8],
    adds: &[u64],
    removes: &[u64],
) -> Result<Vec<ChunkWrite>, StoreError> {
    // Affected chunks by key (None: the prefix has no chunk yet) with their ids.
    let mut chunks: std::collections::BTreeMap<Option<Vec<u8>>, Vec<u64>> = Default::default();
    for (&id, add) in removes.iter().map(|i| (i, false)).chain(adds.iter().map(|i| (i, true))) {
        let key = match owner(tree, prefix, id)? {
            Some((key, ids)) => {
                chunks.entry(Some(key.clone())).or_insert(ids);
                Some(key)
            }
            None => None,
        };
        let ids = chunks.entry(key).or_default();
        match (ids.binary_search(&id), add) {
            (Err(pos), true) => ids.insert(pos, id),
            (Ok(pos), false) => {
                ids.remove(pos);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (key, ids) in chunks {
        rewrite(prefix, key, &ids, &mut out);
    }
    Ok(out)
}

/// Bulk append of sorted ids that are all greater than every id already under `prefix`
/// (true during import, whose ids only grow). Returns the writes.
pub fn plan_append(tree: &sled::Tree, prefix: &[u8], ids: &[u64]) -> Result<Vec<ChunkWrite>, StoreError> {
    Ok(append_to(last(tree, prefix)?, prefix, ids))
}

/// The writes that append sorted `ids` to a posting list whose last chunk is `last` (none:
/// the list is new): the last chunk is filled up to [`CHUNK`] ids, the rest goes to new
/// chunks.
pub fn append_to(last: Option<(Vec<u8>, Vec<u64>)>, prefix: &[u8], ids: &[u64]) -> Vec<ChunkWrite> {
    let mut out = Vec::new();
    let mut rest = ids;
    if let Some((key, mut last)) = last {
        let room = CHUNK.saturating_sub(last.len()).min(rest.len());
        if room > 0 {
            last.extend_from_slice(&rest[..room]);
            out.push(ChunkWrite { key, value: Some(encode(&last)) });
            rest = &rest[room..];
        }
    }
    for part in rest.chunks(CHUNK) {
        out.push(ChunkWrite { key: chunk_key(prefix, part[0]), value: Some(encode(part)) });
    }
    out
}

/// The last chunk of `prefix` (its key and ids), if the list has one.
pub(crate) fn last(tree: &sled::Tree, prefix: &[u8]) -> Result<Option<Chunk>, StoreError> {
    locate(tree, prefix, u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn plan_insert(tree: &sled::Tree, prefix: &[u8], id: u64) -> Result<Vec<ChunkWrite>, StoreError> {
        plan_changes(tree, prefix, &[id], &[])
    }

    fn plan_remove(tree: &sled::Tree, prefix: &[u8], id: u64) -> Result<Vec<ChunkWrite>, StoreError> {
        plan_changes(tree, prefix, &[], &[id])
    }

    fn apply(tree: &sled::Tree, writes: Vec<ChunkWrite>) {
        for w in writes {
            match w.value {
                Some(v) => tree.insert(w.key, v).unwrap(),
                None => tree.remove(w.key).unwrap(),
            };
        }
    }

    proptest! {
        #[test]
        fn postings_behave_like_a_set(ops in proptest::collection::vec((any::<bool>(), 0u64..2000), 0..1200), bulk in proptest::collection::btree_set(2000u64..3000, 0..600)) {
            let db = sled::Config::new().temporary(true).open().unwrap();
            let tree = db.open_tree("t").unwrap();
            let prefix = b"e\x00uid\x00x\x00".to_vec();
            let other = b"e\x00uid\x00x\x00y\x00".to_vec();
            apply(&tree, plan_insert(&tree, &other, 5).unwrap());
            let mut model = BTreeSet::new();
            for (add, id) in ops {
                if add {
                    model.insert(id);
                    apply(&tree, plan_insert(&tree, &prefix, id).unwrap());
                } else {
                    model.remove(&id);
                    apply(&tree, plan_remove(&tree, &prefix, id).unwrap());
                }
            }
            let bulk: Vec<u64> = bulk.into_iter().collect();
            apply(&tree, plan_append(&tree, &prefix, &bulk).unwrap());
            model.extend(bulk);
            prop_assert_eq!(read(&tree, &prefix).unwrap(), model.into_iter().collect::<Vec<_>>());
            prop_assert_eq!(read(&tree, &other).unwrap(), vec![5]);
            for kv in tree.scan_prefix(&prefix) {
                let (_, v) = kv.unwrap();
                prop_assert!(v.len() / 8 <= CHUNK && !v.is_empty());
            }
        }

        #[test]
        fn batched_changes_behave_like_set_operations(
            rounds in proptest::collection::vec((proptest::collection::btree_set(0u64..3000, 0..700), proptest::collection::btree_set(0u64..3000, 0..300)), 1..6)
        ) {
            let db = sled::Config::new().temporary(true).open().unwrap();
            let tree = db.open_tree("t").unwrap();
            let prefix = b"p\x00cn\x00".to_vec();
            let mut model = BTreeSet::new();
            for (adds, removes) in rounds {
                let adds: Vec<u64> = adds.difference(&removes).copied().collect();
                let removes: Vec<u64> = removes.into_iter().collect();
                apply(&tree, plan_changes(&tree, &prefix, &adds, &removes).unwrap());
                for r in &removes { model.remove(r); }
                model.extend(adds);
                prop_assert_eq!(read(&tree, &prefix).unwrap(), model.iter().copied().collect::<Vec<_>>());
            }
            for kv in tree.scan_prefix(&prefix) {
                let (k, v) = kv.unwrap();
                let ids: Vec<u64> = decode(&v).collect();
                prop_assert!(!ids.is_empty() && ids.len() <= CHUNK);
                prop_assert_eq!(&k[prefix.len()..], &ids[0].to_be_bytes()[..]);
            }
        }
    }
}
