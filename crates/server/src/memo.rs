//! Small bounded caches for what the server derives from request fields that clients send
//! over and over: a workstation asks for the same attribute list under the same base DN in
//! every search. Parsing the list against the schema and normalizing the base cost a fifth
//! of an indexed search's instructions; remembering them costs one hash and one comparison.
//!
//! Hand-written rather than a caching crate: the lookup must work from borrowed request
//! fields (a `&[String]`, a `&str`) without building an owned key, and a direct-mapped
//! table that starts over when full is all these few, small, hot keys need.

use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;

/// A bounded map from a key's hash to the key and its derived value. A hash collision with
/// another key replaces that entry; a full table starts over.
pub struct Memo<K, V> {
    slots: Mutex<foldhash::HashMap<u64, (K, V)>>,
    capacity: usize,
}

impl<K, V: Clone> Memo<K, V> {
    /// A memo holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Memo<K, V> {
        Memo { slots: Mutex::new(foldhash::HashMap::default()), capacity }
    }

    /// The value for the key hashed to `hash` ([`hash_of`] of its borrowed form) that
    /// `matches`; otherwise `make` computes the owned key and value (outside the lock),
    /// which are remembered. `make` returning `None` (an invalid input) is not remembered.
    pub fn get_or_make(
        &self,
        hash: u64,
        matches: impl Fn(&K) -> bool,
        make: impl FnOnce() -> Option<(K, V)>,
    ) -> Option<V> {
        {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((k, v)) = slots.get(&hash) {
                if matches(k) {
                    return Some(v.clone());
                }
            }
        }
        let (k, v) = make()?;
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.len() >= self.capacity {
            slots.clear();
        }
        slots.insert(hash, (k, v.clone()));
        Some(v)
    }

    /// How many entries are remembered.
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The hash a memo is keyed by. Borrowed and owned forms hash alike (`&[String]` as
/// `Vec<String>`, `&str` as `String`), with a fixed seed.
pub fn hash_of<T: Hash + ?Sized>(t: &T) -> u64 {
    foldhash::fast::FixedState::default().hash_one(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn lookup(m: &Memo<String, usize>, key: &str, made: &Cell<usize>) -> Option<usize> {
        m.get_or_make(
            hash_of(key),
            |k| k == key,
            || {
                made.set(made.get() + 1);
                (!key.is_empty()).then(|| (key.to_string(), key.len()))
            },
        )
    }

    #[test]
    fn remembers_what_it_made() {
        let m = Memo::new(8);
        let made = Cell::new(0);
        assert_eq!(lookup(&m, "ou=people", &made), Some(9));
        assert_eq!(lookup(&m, "ou=people", &made), Some(9));
        assert_eq!(made.get(), 1);
    }

    #[test]
    fn does_not_remember_failures() {
        let m = Memo::new(8);
        let made = Cell::new(0);
        assert_eq!(lookup(&m, "", &made), None);
        assert_eq!(lookup(&m, "", &made), None);
        assert_eq!(made.get(), 2);
        assert!(m.is_empty());
    }

    #[test]
    fn a_colliding_key_is_never_confused_with_another() {
        let m: Memo<String, usize> = Memo::new(8);
        // Force a collision: both keys under the same hash.
        let h = 42;
        let a = m.get_or_make(h, |k| k == "a", || Some(("a".into(), 1)));
        let b = m.get_or_make(h, |k| k == "bb", || Some(("bb".into(), 2)));
        let a2 = m.get_or_make(h, |k| k == "a", || Some(("a".into(), 3)));
        assert_eq!((a, b, a2), (Some(1), Some(2), Some(3)));
    }

    #[test]
    fn stays_within_its_capacity() {
        let m = Memo::new(4);
        let made = Cell::new(0);
        for i in 0..100 {
            lookup(&m, &format!("k{i}"), &made);
            assert!(m.len() <= 4);
        }
    }

    #[test]
    fn borrowed_and_owned_forms_hash_alike() {
        let owned: Vec<String> = vec!["uid".into(), "cn".into()];
        let borrowed: &[String] = &owned;
        assert_eq!(hash_of(&owned), hash_of(borrowed));
        assert_eq!(hash_of(&String::from("x")), hash_of("x"));
        let strs: &[&str] = &["uid", "cn"];
        assert_eq!(hash_of(borrowed), hash_of(strs));
    }
}
