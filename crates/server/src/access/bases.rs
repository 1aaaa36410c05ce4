//! Search bases as the access decision reads them, remembered while the store is unchanged.
//! Every search reads its base entry (the types the policy decides on) to check that the
//! requester may search it; a workstation searches under the same few bases
//! (`ou=people`, `ou=groups`) all day, and reading and decoding that entry was a tenth of an
//! indexed search's instructions. A remembered base is used only while no write has begun
//! since it was read ([`Store::quiet_stamp`]), so it is always what a read would find.
//!
//! Bounded: at most [`MAX_BASES`] bases of at most [`MAX_ENTRY_BYTES`] each (then the memo
//! starts over), whatever bases clients name.

use birch_store::{Entry, Store, StoreError};
use std::sync::{Arc, Mutex};

/// Most bases remembered (then the memo starts over).
pub const MAX_BASES: usize = 256;

/// Largest base (its values' bytes) remembered; a larger one is read each time.
pub const MAX_ENTRY_BYTES: usize = 4096;

/// A base entry read at a store stamp.
struct Remembered {
    stamp: u64,
    id: u64,
    entry: Arc<Entry>,
}

/// The remembered bases of one access policy (its decision types), by normalized DN.
#[derive(Default)]
pub struct Bases {
    slots: Mutex<foldhash::HashMap<String, Remembered>>,
}

impl Bases {
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
            if slots.len() >= MAX_BASES {
                slots.clear();
            }
            slots.insert(ndn.to_string(), Remembered { stamp, id, entry: entry.clone() });
        }
        Ok(Some((id, entry)))
    }

    /// How many bases are remembered.
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no base is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use birch_schema::Schema;

    fn store() -> Store {
        let s = Store::open_temporary(Arc::new(Schema::builtin()), Default::default()).unwrap();
        let attrs = |list: &[(&str, &str)]| -> Vec<(String, Vec<Vec<u8>>)> {
            list.iter().map(|(a, v)| (a.to_string(), vec![v.as_bytes().to_vec()])).collect()
        };
        s.add(s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true).unwrap();
        let people = attrs(&[("objectClass", "organizationalUnit"), ("ou", "people"), ("description", "one")]);
        s.add(s.make_entry("ou=people,dc=x", people).unwrap(), false).unwrap();
        s
    }

    fn description(found: &Option<(u64, Arc<Entry>)>) -> Option<String> {
        let values = &found.as_ref()?.1.get("description")?.values;
        values.first().map(|v| String::from_utf8_lossy(v).into_owned())
    }

    #[test]
    fn a_base_is_remembered_until_a_write_begins() {
        let s = store();
        let bases = Bases::default();
        let types = vec!["objectclass".to_string(), "description".to_string()];
        let first = bases.get(&s, "ou=people,dc=x", &types).unwrap();
        assert_eq!(description(&first).as_deref(), Some("one"));
        assert_eq!(first.as_ref().map(|(_, e)| e.get("ou").is_none()), Some(true), "only the types asked for");
        let again = bases.get(&s, "ou=people,dc=x", &types).unwrap();
        assert!(Arc::ptr_eq(&first.unwrap().1, &again.unwrap().1), "the same entry, not read again");
        // Any write, even of another entry, and the base is read again.
        s.modify::<StoreError>("ou=people,dc=x", |e| {
            e.get_mut("description").unwrap().values = vec![b"two".to_vec()];
            Ok(())
        })
        .unwrap();
        assert_eq!(description(&bases.get(&s, "ou=people,dc=x", &types).unwrap()).as_deref(), Some("two"));
        s.delete("ou=people,dc=x").unwrap();
        assert!(bases.get(&s, "ou=people,dc=x", &types).unwrap().is_none(), "a deleted base is gone");
        assert!(bases.get(&s, "ou=nobody,dc=x", &types).unwrap().is_none());
    }

    #[test]
    fn at_most_max_bases_are_remembered() {
        let s = store();
        let bases = Bases::default();
        let types = vec!["objectclass".to_string()];
        for _ in 0..3 {
            for n in 0..MAX_BASES + 10 {
                // Missing bases are not remembered; existing ones are, up to the bound.
                let _ = bases.get(&s, &format!("ou=n{n},dc=x"), &types).unwrap();
                let _ = bases.get(&s, if n % 2 == 0 { "dc=x" } else { "ou=people,dc=x" }, &types).unwrap();
            }
        }
        assert!(bases.len() <= 2, "{}", bases.len());
        assert!(!bases.is_empty());
    }
}
