//! The tree of entries: entries by id, by normalized DN (`dn2id`) and by entryUUID
//! (`uuid2id`), and the parent → children links (`children`). Reads only.

use super::Store;
use crate::entry::Entry;
use crate::index;
use crate::StoreError;
use birch_schema::Dn;

impl Store {
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

    /// The id of the entry with this entryUUID.
    pub fn id_of_uuid(&self, uuid: &[u8; 16]) -> Result<Option<u64>, StoreError> {
        Ok(self.inner.uuid2id.get(uuid)?.and_then(|v| decode_id(&v)))
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

    /// The first entry (lowest id) that has no parent: in a store made by Birch, the suffix
    /// entry, which is created before anything else. `None` for an empty store.
    pub fn first_root(&self) -> Result<Option<Entry>, StoreError> {
        for kv in self.inner.entries.iter() {
            let (_, v) = kv?;
            let e = Entry::decode(&v)?;
            if e.parent == 0 {
                return Ok(Some(e));
            }
        }
        Ok(None)
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
}

/// The key of a parent → child link in the children tree: parent id ++ child id.
pub(super) fn child_key(parent: u64, child: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&parent.to_be_bytes());
    k[8..].copy_from_slice(&child.to_be_bytes());
    k
}

/// An id stored as 8 big-endian bytes.
pub(super) fn decode_id(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}
