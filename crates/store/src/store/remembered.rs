//! Entries read with a few types ([`Store::get_by_ndn_only`]) and remembered while the store
//! is unchanged: the server's search bases, read for the access decision on them. Every
//! search reads its base entry (the types the policy decides on) to check that the requester
//! may search it; a workstation searches under the same few bases (`ou=people`,
//! `ou=groups`) all day, and reading and decoding that entry was a tenth of an indexed
//! search's instructions. A remembered entry is used only while no write has begun since it
//! was read ([`Store::quiet_stamp`]), so it is always what a read would find.
//!
//! Bounded: at most [`MAX_ENTRIES`] entries of at most [`MAX_ENTRY_BYTES`] each (then the
//! memo starts over), whatever DNs clients name.

use crate::{Entry, Store, StoreError};
use std::sync::{Arc, Mutex};

/// Most entries remembered (then the memo starts over).
pub const MAX_ENTRIES: usize = 256;

/// Largest entry (its values' bytes) remembered; a larger one is read each time.
pub const MAX_ENTRY_BYTES: usize = 4096;

/// An entry read at a store stamp.
struct Slot {
    stamp: u64,
    id: u64,
    entry: Arc<Entry>,
}

/// Entries remembered with one list of types (one memo per list), by normalized DN.
#[derive(Default)]
pub struct Remembered {
    slots: Mutex<foldhash::HashMap<String, Slot>>,
}

impl Remembered {
    /// The entry `ndn` with only `types` (as [`Store::get_by_ndn_only`] reads it) and its id;
    /// remembered while no write begins.
    pub fn get(&self, store: &Store, ndn: &str, types: &[String]) -> Result<Option<(u64, Arc<Entry>)>, StoreError> {
        {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(r) = slots.get(ndn).filter(|r| store.unchanged_since(r.stamp)) {
                return Ok(Some((r.id, r.entry.clone())));
            }
        }
        let stamp = store.quiet_stamp();
        let Some((id, entry)) = store.get_by_ndn_only(ndn, types)? else { return Ok(None) };
        let entry = Arc::new(entry);
        let size: usize = entry.attrs.iter().flat_map(|a| &a.values).map(Vec::len).sum();
        // Read while no write was being applied, and none began while reading.
        if let Some(stamp) = stamp.filter(|&s| store.unchanged_since(s) && size <= MAX_ENTRY_BYTES) {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            if slots.len() >= MAX_ENTRIES {
                slots.clear();
            }
            slots.insert(ndn.to_string(), Slot { stamp, id, entry: entry.clone() });
        }
        Ok(Some((id, entry)))
    }

    /// How many entries are remembered.
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no entry is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{attrs, store};

    fn with_people() -> (tempfile::TempDir, Store) {
        let (d, s) = store();
        s.add(s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true).unwrap();
        let people = attrs(&[("objectClass", "organizationalUnit"), ("ou", "people"), ("description", "one")]);
        s.add(s.make_entry("ou=people,dc=x", people).unwrap(), false).unwrap();
        (d, s)
    }

    fn description(found: &Option<(u64, Arc<Entry>)>) -> Option<String> {
        let values = &found.as_ref()?.1.get("description")?.values;
        values.first().map(|v| String::from_utf8_lossy(v).into_owned())
    }

    #[test]
    fn an_entry_is_remembered_until_a_write_begins() {
        let (_d, s) = with_people();
        let memo = Remembered::default();
        let types = vec!["objectclass".to_string(), "description".to_string()];
        let first = memo.get(&s, "ou=people,dc=x", &types).unwrap();
        assert_eq!(description(&first).as_deref(), Some("one"));
        assert_eq!(first.as_ref().map(|(_, e)| e.get("ou").is_none()), Some(true), "only the types asked for");
        let again = memo.get(&s, "ou=people,dc=x", &types).unwrap();
        assert!(Arc::ptr_eq(&first.unwrap().1, &again.unwrap().1), "the same entry, not read again");
        s.modify::<StoreError>("ou=people,dc=x", |e| {
            e.get_mut("description").unwrap().values = vec![b"two".to_vec()];
            Ok(())
        })
        .unwrap();
        assert_eq!(description(&memo.get(&s, "ou=people,dc=x", &types).unwrap()).as_deref(), Some("two"));
        s.delete("ou=people,dc=x").unwrap();
        assert!(memo.get(&s, "ou=people,dc=x", &types).unwrap().is_none(), "a deleted entry is gone");
        assert!(memo.get(&s, "ou=nobody,dc=x", &types).unwrap().is_none());
    }

    #[test]
    fn at_most_max_entries_are_remembered() {
        let (_d, s) = with_people();
        let memo = Remembered::default();
        let types = vec!["objectclass".to_string()];
        for _ in 0..3 {
            for n in 0..MAX_ENTRIES + 10 {
                // Missing entries are not remembered; existing ones are, up to the bound.
                let _ = memo.get(&s, &format!("ou=n{n},dc=x"), &types).unwrap();
                let _ = memo.get(&s, if n % 2 == 0 { "dc=x" } else { "ou=people,dc=x" }, &types).unwrap();
            }
        }
        assert!(memo.len() <= 2, "{}", memo.len());
        assert!(!memo.is_empty());
    }
}
