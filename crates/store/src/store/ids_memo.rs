//! Recently looked-up DNs and their entry ids: a bind reads the same service accounts (and a
//! search the same bases) over and over, and each dn2id lookup is a sled tree descent.
//!
//! Hand-written (a fixed table of slots, the last DN seen per slot) rather than an LRU crate:
//! an answer is never trusted, only tried — the caller reads the entry by the id and keeps it
//! only if the entry still carries that DN — so a plain overwrite-on-collision table is enough.

use std::hash::BuildHasher;
use std::sync::Mutex;

/// Slots in the table (DNs remembered at most).
const SLOTS: usize = 16_384;

/// A slot: a normalized DN and its entry id.
type Slot = Option<(Box<str>, u64)>;

/// The table of slots.
pub(crate) struct IdsMemo {
    slots: Mutex<Vec<Slot>>,
    hasher: foldhash::fast::FixedState,
}

impl Default for IdsMemo {
    fn default() -> Self {
        IdsMemo {
            slots: Mutex::new(vec![None; SLOTS]),
            hasher: foldhash::fast::FixedState::with_seed(0x0062_6972_6368),
        }
    }
}

impl IdsMemo {
    fn slot(&self, ndn: &str) -> usize {
        (self.hasher.hash_one(ndn) as usize) % SLOTS
    }

    /// The id last remembered for `ndn`, if its slot still holds it (a hint: verify it).
    pub(crate) fn get(&self, ndn: &str) -> Option<u64> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match &slots[self.slot(ndn)] {
            Some((dn, id)) if &**dn == ndn => Some(*id),
            _ => None,
        }
    }

    /// Remembers that `ndn` was found at `id`.
    pub(crate) fn put(&self, ndn: &str, id: u64) {
        let i = self.slot(ndn);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots[i] = Some((ndn.into(), id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_dn_per_slot() {
        let m = IdsMemo::default();
        assert_eq!(m.get("uid=a,dc=x"), None);
        m.put("uid=a,dc=x", 7);
        assert_eq!(m.get("uid=a,dc=x"), Some(7));
        assert_eq!(m.get("uid=b,dc=x"), None);
        m.put("uid=a,dc=x", 9);
        assert_eq!(m.get("uid=a,dc=x"), Some(9));
    }
}
