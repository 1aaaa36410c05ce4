//! Packed equality lists. Most equality-indexed values belong to one entry (uid, mail,
//! uidNumber) or a few (member and memberUid values name a person in one or two groups). As
//! chunked posting lists ([`crate::postings`]) each would be a sled key of its own, and sled's
//! cost is per key: an insert copies the leaf it lands in and logs the change (about 4 µs
//! each on the development machine, half of a 100k-user import's CPU).
//!
//! Short lists are therefore kept many to a key: `E attr 0x00 fence` → records
//! `(value, ids)` sorted by value, each value of `attr` in the pack with the greatest fence
//! at or below it (a B-tree leaf inside sled's tree). A record is `u16 length, value, u8
//! count, count × u64` (big-endian). A list that grows past [`MAX_IDS`] ids moves to chunks
//! under its equality prefix for good, and a value longer than [`MAX_VALUE`] is never packed:
//! every value lives in exactly one of the two places. Stores written before packs existed
//! keep every list in chunks, which stays valid: they need no conversion.

use crate::postings::{self, ChunkWrite};
use crate::StoreError;
use std::collections::BTreeMap;

/// The key kind of a pack (the equality prefixes of chunked lists start with `e`).
pub const PACK: u8 = b'E';
/// The most ids a packed list holds; a longer list is kept in chunks.
pub const MAX_IDS: usize = 8;
/// The longest value kept in a pack (bytes); a longer one is kept in chunks.
pub const MAX_VALUE: usize = 256;
/// A pack that grows past this many bytes is split.
const SPLIT_AT: usize = 2048;
/// How full a new pack is made (bytes): room is left for values added later.
const FILL: usize = 1024;

/// An equality prefix (`e attr 0x00 value 0x00`) taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EqKey<'a> {
    /// The prefix itself.
    pub prefix: &'a [u8],
    /// The length of the pack head `E attr 0x00` (the prefix's first bytes, kind aside).
    head_len: usize,
    /// The normalized value.
    pub value: &'a [u8],
}

impl<'a> EqKey<'a> {
    /// Takes an equality prefix apart; `None` for any other index prefix.
    pub fn parse(prefix: &'a [u8]) -> Option<EqKey<'a>> {
        if prefix.first() != Some(&b'e') || prefix.last() != Some(&0) {
            return None;
        }
        let head_len = 2 + prefix[1..].iter().position(|&b| b == 0)?;
        let value = prefix.get(head_len..prefix.len() - 1)?;
        Some(EqKey { prefix, head_len, value })
    }

    /// Whether the value is short enough to be packed at all.
    fn value_fits(&self) -> bool {
        self.value.len() <= MAX_VALUE
    }

    /// The pack head `E attr 0x00`.
    fn head(&self) -> Vec<u8> {
        let mut h = self.prefix[..self.head_len].to_vec();
        h[0] = PACK;
        h
    }

    /// The greatest possible pack key for this value (`E attr 0x00 value 0x00`, exclusive):
    /// the pack holding the value is the last key below it.
    fn upper(&self) -> Vec<u8> {
        let mut k = self.prefix.to_vec();
        k[0] = PACK;
        k
    }
}

/// The pack a value belongs to (its key and contents), if any pack of its attribute has a
/// fence at or below it.
fn find(tree: &sled::Tree, key: &EqKey) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
    let upper = key.upper();
    let head = &upper[..key.head_len];
    match tree.range(head..upper.as_slice()).next_back() {
        Some(kv) => Ok(Some(kv?)),
        None => Ok(None),
    }
}

/// The records of a pack: (value, ids as big-endian bytes), in value order. (The bulk loader
/// keeps its runs of lists in the same form, with whole prefixes for values.)
pub(crate) struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.rest;
        let parsed = (|| {
            let len = usize::from(u16::from_be_bytes([*r.first()?, *r.get(1)?]));
            let value = r.get(2..2 + len)?;
            let count = usize::from(*r.get(2 + len)?);
            let ids = r.get(3 + len..3 + len + 8 * count)?;
            Some((value, ids, 3 + len + 8 * count))
        })();
        match parsed {
            Some((value, ids, used)) => {
                self.rest = &r[used..];
                Some(Ok((value, ids)))
            }
            None => {
                self.rest = &[];
                Some(Err(StoreError::Corrupt("truncated equality pack".into())))
            }
        }
    }
}

pub(crate) fn records(pack: &[u8]) -> Records<'_> {
    Records { rest: pack }
}

/// Appends a record; `value` is at most 65,535 bytes and `ids` at most 255 ids (a pack's
/// values are at most [`MAX_VALUE`] bytes and its lists at most [`MAX_IDS`] ids).
pub(crate) fn push_record(out: &mut Vec<u8>, value: &[u8], ids: &[u64]) {
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.push(ids.len() as u8);
    for id in ids {
        out.extend_from_slice(&id.to_be_bytes());
    }
}

fn record_len(value: &[u8], ids: &[u64]) -> usize {
    3 + value.len() + 8 * ids.len()
}

/// Reads the posting list of an equality prefix (packed or chunked), sorted.
pub fn read(tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<u64>, StoreError> {
    if let Some(key) = EqKey::parse(prefix).filter(EqKey::value_fits) {
        if let Some((_, pack)) = find(tree, &key)? {
            for r in records(&pack) {
                let (value, ids) = r?;
                match value.cmp(key.value) {
                    std::cmp::Ordering::Less => continue,
                    std::cmp::Ordering::Equal => return Ok(postings::decode(ids).collect()),
                    std::cmp::Ordering::Greater => break,
                }
            }
        }
    }
    postings::read(tree, prefix)
}

/// Whether an equality list has chunks (lives in the chunked tier).
fn chunked(tree: &sled::Tree, prefix: &[u8]) -> Result<bool, StoreError> {
    for k in tree.scan_prefix(prefix).keys() {
        if k?.len() == prefix.len() + 8 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Changes to one pack (or, keyed by the head, to the values below every pack of an
/// attribute: they start a new pack).
struct PackEdit<'a> {
    /// The pack's key and contents; `None` for a new pack.
    existing: Option<(sled::IVec, sled::IVec)>,
    /// Whether values below the pack's fence join it (it is re-keyed by its first value).
    below: bool,
    head: Vec<u8>,
    /// (prefix, adds, removes) of each value changed.
    changes: Vec<(EqKey<'a>, &'a [u64], &'a [u64])>,
}

/// The writes that apply changes to posting lists — (index prefix, ids added, ids removed),
/// any number of prefixes, each at most once. Equality lists go to both tiers: a new short
/// list is packed, a packed list that grows too long moves to chunks, a chunked list stays
/// chunked; changes that fall in one pack rewrite it once. Other lists are chunked
/// ([`postings::plan_changes`]). Callers serialize writers and apply the writes before
/// planning again.
pub fn plan_changes<'a>(
    tree: &sled::Tree,
    changes: impl IntoIterator<Item = (&'a [u8], &'a [u64], &'a [u64])>,
) -> Result<Vec<ChunkWrite>, StoreError> {
    let mut out = Vec::new();
    let mut edits: BTreeMap<Vec<u8>, PackEdit<'a>> = BTreeMap::new();
    for (prefix, adds, removes) in changes {
        let Some(key) = EqKey::parse(prefix).filter(EqKey::value_fits) else {
            out.extend(postings::plan_changes(tree, prefix, adds, removes)?);
            continue;
        };
        let head = key.head();
        // A value below every fence joins the first pack, which is re-keyed (values added
        // in descending order would otherwise make a pack each).
        let (pack, below) = match find(tree, &key)? {
            Some(p) => (Some(p), false),
            None => (tree.scan_prefix(&head).next().transpose()?, true),
        };
        let in_pack = match &pack {
            Some((_, p)) if !below => records(p).any(|r| r.is_ok_and(|(v, _)| v == key.value)),
            _ => false,
        };
        if !in_pack && (adds.is_empty() || adds.len() > MAX_IDS || chunked(tree, prefix)?) {
            out.extend(postings::plan_changes(tree, prefix, adds, removes)?);
            continue;
        }
        let at = pack.as_ref().map_or_else(|| head.clone(), |(k, _)| k.to_vec());
        let edit = edits.entry(at).or_insert_with(|| PackEdit { existing: pack, below, head, changes: Vec::new() });
        edit.below |= below;
        edit.changes.push((key, adds, removes));
    }
    for edit in edits.into_values() {
        rewrite(tree, edit, &mut out)?;
    }
    Ok(out)
}

/// The writes of one pack's changes: the pack rewritten (split when too large, removed when
/// empty), and chunks for the lists that outgrew it.
fn rewrite(tree: &sled::Tree, edit: PackEdit, out: &mut Vec<ChunkWrite>) -> Result<(), StoreError> {
    let mut lists: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
    if let Some((_, pack)) = &edit.existing {
        for r in records(pack) {
            let (value, ids) = r?;
            lists.insert(value.to_vec(), postings::decode(ids).collect());
        }
    }
    for (key, adds, removes) in edit.changes {
        let mut ids = lists.remove(key.value).unwrap_or_default();
        ids.retain(|id| !removes.contains(id));
        ids.extend(adds.iter().filter(|id| !removes.contains(id)));
        ids.sort_unstable();
        ids.dedup();
        if ids.len() > MAX_IDS {
            out.extend(postings::plan_changes(tree, key.prefix, &ids, &[])?);
        } else if !ids.is_empty() {
            lists.insert(key.value.to_vec(), ids);
        }
    }
    let old_key = edit.existing.map(|(k, _)| k.to_vec());
    let size: usize = lists.iter().map(|(v, ids)| record_len(v, ids)).sum();
    let mut packer = Packer::new(if size > SPLIT_AT { FILL } else { usize::MAX });
    let mut pieces = Vec::new();
    for (value, ids) in &lists {
        packer.push_under(&edit.head[1..], value, ids, &mut |w| pieces.push(w));
    }
    packer.finish(&mut |w| pieces.push(w));
    match (pieces.first_mut(), old_key) {
        // Otherwise the first piece keeps the old fence: values between it and the first
        // record still belong here.
        (Some(first), Some(k)) if !edit.below => first.key = k,
        (Some(first), Some(k)) if first.key == k => {}
        (_, Some(k)) => out.push(ChunkWrite { key: k, value: None }),
        _ => {}
    }
    out.extend(pieces);
    Ok(())
}

/// Builds packs from records given in key order (by attribute, then value): each pack is
/// emitted once it holds `fill` bytes or the attribute changes.
pub(crate) struct Packer {
    fill: usize,
    /// The key of the pack being filled: `E attr 0x00 fence`.
    key: Vec<u8>,
    head_len: usize,
    buf: Vec<u8>,
}

impl Packer {
    /// A packer making packs of about `fill` bytes.
    fn new(fill: usize) -> Packer {
        Packer { fill, key: Vec::new(), head_len: 0, buf: Vec::new() }
    }

    /// A packer making packs of the size new packs get.
    pub(crate) fn for_new_packs() -> Packer {
        Packer::new(FILL)
    }

    /// Adds the list of an equality key (see [`packable`]); `emit` gets a finished pack.
    pub(crate) fn push(&mut self, key: &EqKey, ids: &[u64], emit: &mut impl FnMut(ChunkWrite)) {
        self.push_under(&key.prefix[1..key.head_len], key.value, ids, emit);
    }

    /// Adds a record under `attr 0x00` (a pack head without its kind byte).
    fn push_under(&mut self, attr: &[u8], value: &[u8], ids: &[u64], emit: &mut impl FnMut(ChunkWrite)) {
        let same_attr = !self.buf.is_empty() && self.key[1..self.head_len] == *attr;
        if !self.buf.is_empty() && (!same_attr || self.buf.len() + record_len(value, ids) > self.fill) {
            self.flush(emit);
        }
        if self.buf.is_empty() {
            self.key.clear();
            self.key.push(PACK);
            self.key.extend_from_slice(attr);
            self.key.extend_from_slice(value);
            self.head_len = 1 + attr.len();
        }
        push_record(&mut self.buf, value, ids);
    }

    fn flush(&mut self, emit: &mut impl FnMut(ChunkWrite)) {
        if !self.buf.is_empty() {
            emit(ChunkWrite { key: self.key.clone(), value: Some(std::mem::take(&mut self.buf)) });
        }
    }

    /// Emits the last pack.
    pub(crate) fn finish(mut self, emit: &mut impl FnMut(ChunkWrite)) {
        self.flush(emit);
    }
}

/// Whether a new list of this key and length is packed (what [`plan_changes`] does with a
/// new value; the bulk loader packs by the same rule).
pub(crate) fn packable(key: &EqKey, ids: usize) -> bool {
    key.value_fits() && ids <= MAX_IDS
}

/// A posting list: its equality prefix and its ids.
pub(crate) type List = (Vec<u8>, Vec<u64>);

/// The fence of a pack key as an equality prefix (`E attr 0x00 fence` → `e attr 0x00 fence
/// 0x00`): the lists of a pack are at or above it, those of the pack before below it.
pub(crate) fn fence_prefix(key: &[u8]) -> Vec<u8> {
    eq_prefix_of(key, &[])
}

/// The equality prefix of `value` under a pack head (`E attr 0x00`).
fn eq_prefix_of(head: &[u8], value: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(head.len() + value.len() + 1);
    p.push(b'e');
    p.extend_from_slice(head.get(1..).unwrap_or_default());
    p.extend_from_slice(value);
    p.push(0);
    p
}

/// The lists of a stored pack as (equality prefix, ids), checked: records in value order
/// from the fence on, short values, 1 to [`MAX_IDS`] ids in ascending order.
pub(crate) fn unpack(key: &[u8], pack: &[u8]) -> Result<Vec<List>, String> {
    let head_len = 1 + key.iter().position(|&b| b == 0).ok_or("pack key without an attribute")?;
    let (head, fence) = key.split_at(head_len);
    let mut out: Vec<List> = Vec::new();
    let mut last: Option<&[u8]> = None;
    for r in records(pack) {
        let (value, ids) = r.map_err(|e| e.to_string())?;
        let ids: Vec<u64> = postings::decode(ids).collect();
        if value < fence || last.is_some_and(|l| l >= value) {
            return Err(format!("value {value:?} out of order"));
        }
        if value.len() > MAX_VALUE || ids.is_empty() || ids.len() > MAX_IDS || !ids.windows(2).all(|w| w[0] < w[1]) {
            return Err(format!("malformed list of value {value:?}"));
        }
        last = Some(value);
        out.push((eq_prefix_of(head, value), ids));
    }
    if out.is_empty() {
        return Err("empty pack".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn apply(tree: &sled::Tree, writes: Vec<ChunkWrite>) {
        for w in writes {
            match w.value {
                Some(v) => tree.insert(w.key, v).unwrap(),
                None => tree.remove(w.key).unwrap(),
            };
        }
    }

    fn prefix(attr: &str, value: &[u8]) -> Vec<u8> {
        crate::index::eq_prefix(attr, value)
    }

    /// Every list in the tree, both tiers, checking that no value is in both.
    fn lists(tree: &sled::Tree) -> BTreeMap<Vec<u8>, Vec<u64>> {
        let mut out: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
        let mut packed = BTreeSet::new();
        for kv in tree.iter() {
            let (k, v) = kv.unwrap();
            if k[0] == PACK {
                for (p, ids) in unpack(&k, &v).unwrap() {
                    assert!(packed.insert(p.clone()));
                    out.insert(p, ids);
                }
            } else {
                let p = k[..k.len() - 8].to_vec();
                assert!(!packed.contains(&p), "{p:?} in both tiers");
                out.entry(p).or_default().extend(postings::decode(&v));
            }
        }
        out
    }

    #[test]
    fn eq_keys_take_prefixes_apart() {
        let p = prefix("uid", b"a\0b");
        let k = EqKey::parse(&p).unwrap();
        assert_eq!(k.value, b"a\0b");
        assert_eq!(k.head(), b"Euid\0");
        assert_eq!(k.upper(), b"Euid\0a\0b\0");
        assert_eq!(EqKey::parse(b"puid\0"), None);
        assert_eq!(EqKey::parse(b"e"), None);
    }

    #[test]
    fn a_short_list_is_packed_and_a_long_one_moves_to_chunks() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let t = db.open_tree("t").unwrap();
        let p = prefix("cn", b"shared");
        apply(&t, plan_changes(&t, [(p.as_slice(), &[1u64, 2][..], &[][..])]).unwrap());
        assert_eq!(t.iter().keys().map(|k| k.unwrap()[0]).collect::<Vec<_>>(), vec![PACK]);
        let more: Vec<u64> = (3..=20).collect();
        apply(&t, plan_changes(&t, [(p.as_slice(), more.as_slice(), &[][..])]).unwrap());
        assert_eq!(read(&t, &p).unwrap(), (1..=20).collect::<Vec<_>>());
        assert!(t.iter().keys().all(|k| k.unwrap()[0] == b'e'), "the empty pack is removed");
        // Once chunked, a list stays chunked, however short.
        let most: Vec<u64> = (2..=20).collect();
        apply(&t, plan_changes(&t, [(p.as_slice(), &[][..], most.as_slice())]).unwrap());
        apply(&t, plan_changes(&t, [(p.as_slice(), &[30u64][..], &[][..])]).unwrap());
        assert_eq!(read(&t, &p).unwrap(), vec![1, 30]);
        assert_eq!(lists(&t).len(), 1);
    }

    #[test]
    fn a_full_pack_splits_and_an_emptied_one_goes() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let t = db.open_tree("t").unwrap();
        // Added one at a time from the top down: each new value is below every fence and
        // joins the first pack.
        let values: Vec<Vec<u8>> = (0..600u64).rev().map(|i| format!("user{i:05}").into_bytes()).collect();
        for (i, v) in values.iter().enumerate() {
            let p = prefix("uid", v);
            apply(&t, plan_changes(&t, [(p.as_slice(), &[i as u64 + 1][..], &[][..])]).unwrap());
        }
        let packs = t.iter().count();
        assert!(packs > 5, "600 records of 21 bytes in packs of at most {SPLIT_AT} bytes: {packs}");
        for (i, v) in values.iter().enumerate() {
            assert_eq!(read(&t, &prefix("uid", v)).unwrap(), vec![i as u64 + 1]);
        }
        for (i, v) in values.iter().enumerate() {
            let p = prefix("uid", v);
            apply(&t, plan_changes(&t, [(p.as_slice(), &[][..], &[i as u64 + 1][..])]).unwrap());
        }
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn lists_chunked_by_an_older_version_are_read_and_changed_in_place() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let t = db.open_tree("t").unwrap();
        // Before packs, every list was chunked, one-id lists too.
        let (old, new) = (prefix("uid", b"alice"), prefix("uid", b"bob"));
        apply(&t, postings::plan_changes(&t, &old, &[4], &[]).unwrap());
        assert_eq!(read(&t, &old).unwrap(), vec![4]);
        let changes = [(old.as_slice(), &[9u64][..], &[4u64][..]), (new.as_slice(), &[5u64][..], &[][..])];
        apply(&t, plan_changes(&t, changes).unwrap());
        assert_eq!(read(&t, &old).unwrap(), vec![9]);
        assert_eq!(read(&t, &new).unwrap(), vec![5]);
        let kinds: Vec<u8> = t.iter().keys().map(|k| k.unwrap()[0]).collect();
        assert_eq!(kinds, vec![PACK, b'e'], "bob packed, alice still chunked");
        lists(&t);
    }

    #[test]
    fn long_values_are_never_packed() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let t = db.open_tree("t").unwrap();
        let p = prefix("cn", &[b'x'; MAX_VALUE + 1]);
        apply(&t, plan_changes(&t, [(p.as_slice(), &[7u64][..], &[][..])]).unwrap());
        assert!(t.iter().keys().all(|k| k.unwrap()[0] == b'e'));
        assert_eq!(read(&t, &p).unwrap(), vec![7]);
    }

    proptest! {
        /// Random changes in random groupings, to values of two attributes sharing packs,
        /// read back like a map of sets; the packs stay well formed and bounded.
        #[test]
        fn packed_lists_behave_like_sets(
            rounds in proptest::collection::vec(
                proptest::collection::btree_map(
                    (0usize..2, proptest::collection::vec(0u8..4, 0..6)),
                    (proptest::collection::btree_set(1u64..15, 0..4), proptest::collection::btree_set(1u64..15, 0..3)),
                    0..40),
                1..25),
        ) {
            let db = sled::Config::new().temporary(true).open().unwrap();
            let t = db.open_tree("t").unwrap();
            let attrs = ["uid", "uidnumber"];
            let mut model: BTreeMap<Vec<u8>, BTreeSet<u64>> = BTreeMap::new();
            for round in rounds {
                let changes: Vec<(Vec<u8>, Vec<u64>, Vec<u64>)> = round
                    .into_iter()
                    .map(|((a, value), (adds, removes))| {
                        (prefix(attrs[a], &value), adds.difference(&removes).copied().collect(), removes.into_iter().collect())
                    })
                    .collect();
                let writes = plan_changes(&t, changes.iter().map(|(p, a, r)| (p.as_slice(), a.as_slice(), r.as_slice()))).unwrap();
                let keys: BTreeSet<&Vec<u8>> = writes.iter().map(|w| &w.key).collect();
                prop_assert_eq!(keys.len(), writes.len(), "one write per key");
                apply(&t, writes);
                for (p, adds, removes) in changes {
                    let ids = model.entry(p).or_default();
                    for r in removes { ids.remove(&r); }
                    ids.extend(adds);
                }
                model.retain(|_, ids| !ids.is_empty());
                for (p, ids) in &model {
                    prop_assert_eq!(read(&t, p).unwrap(), ids.iter().copied().collect::<Vec<_>>());
                }
                let stored = lists(&t);
                let expected: BTreeMap<Vec<u8>, Vec<u64>> =
                    model.iter().map(|(p, ids)| (p.clone(), ids.iter().copied().collect())).collect();
                prop_assert_eq!(stored, expected);
                for kv in t.iter() {
                    let (k, v) = kv.unwrap();
                    if k[0] == PACK {
                        prop_assert!(v.len() <= SPLIT_AT + record_len(&[0; MAX_VALUE], &[0; MAX_IDS]));
                    }
                }
            }
        }
    }
}
