//! The consistency check (`birch check`): the DN, entryUUID, children and attribute
//! indexes against the entries.

use super::dn_tree::{child_key, decode_id};
use super::Store;
use crate::entry::Entry;
use crate::{changes, index, packs, postings, StoreError};
use birch_schema::ndn;
use std::collections::HashMap;

impl Store {
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
                Some((pndn, _)) if pndn != ndn::parent(ndn) => {
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
        self.check_tombstones(&mut problems)?;
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

/// A 64-bit digest of an index prefix: `check` compares (digest, id) pairs so that it needs
/// 16 bytes per posting instead of the whole key.
pub(super) fn prefix_hash(prefix: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    prefix.hash(&mut h);
    h.finish()
}
