//! Small bounded caches for what the server derives from request fields that clients send
//! over and over: a workstation asks for the same attribute list under the same base DN in
//! every search. Parsing the list against the schema and normalizing the base cost a fifth
//! of an indexed search's instructions; remembering them costs one hash and one comparison.
//!
//! Hand-written rather than a caching crate: the lookup must work from borrowed request
//! fields (a `&[String]`, a `&str`) without building an owned key, and a direct-mapped
//! table that starts over when full is all these few, small, hot keys need.
//!
//! Bounded in bytes as well as in entries: keys come from any client, anonymous ones
//! included, so a key larger than [`MAX_KEY_BYTES`] (a 4 MB attribute list) is used once
//! and never remembered, and a memo holding more than [`MAX_BYTES`] starts over. What a
//! memo holds is thus at most about a megabyte, whatever clients send.

use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;

/// Largest key (by [`Weigh::weight`]) a memo remembers; a larger one is derived anew each
/// time. Attribute lists and DNs that clients really repeat are a few hundred bytes.
pub const MAX_KEY_BYTES: usize = 2048;

/// Most bytes (by [`Weigh::weight`], counting each key twice: once for itself, once for
/// the value derived from it, of about its size) one memo holds before it starts over.
pub const MAX_BYTES: usize = 1 << 20;

/// About how many bytes of memory a memo key occupies (its heap data and headers).
pub trait Weigh {
    /// The approximate size in bytes.
    fn weight(&self) -> usize;
}

impl Weigh for String {
    fn weight(&self) -> usize {
        self.len() + std::mem::size_of::<String>()
    }
}

impl<T: Weigh> Weigh for Vec<T> {
    fn weight(&self) -> usize {
        self.iter().map(Weigh::weight).sum::<usize>() + std::mem::size_of::<Vec<T>>()
    }
}

impl<A: Weigh, B: Weigh> Weigh for (A, B) {
    fn weight(&self) -> usize {
        self.0.weight() + self.1.weight()
    }
}

/// A bounded map from a key's hash to the key and its derived value. A hash collision with
/// another key replaces that entry; a full table (by entries or bytes) starts over.
pub struct Memo<K, V> {
    slots: Mutex<Slots<K, V>>,
    capacity: usize,
}

/// The entries of a memo and the bytes they weigh.
struct Slots<K, V> {
    map: foldhash::HashMap<u64, (K, V)>,
    bytes: usize,
}

impl<K: Weigh, V: Clone> Memo<K, V> {
    /// A memo holding at most `capacity` entries (and [`MAX_BYTES`]).
    pub fn new(capacity: usize) -> Memo<K, V> {
        Memo { slots: Mutex::new(Slots { map: foldhash::HashMap::default(), bytes: 0 }), capacity }
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
            if let Some((k, v)) = slots.map.get(&hash) {
                if matches(k) {
                    return Some(v.clone());
                }
            }
        }
        let (k, v) = make()?;
        let weight = k.weight();
        if weight > MAX_KEY_BYTES {
            // Used once, dropped with the request: a large key is not worth keeping.
            return Some(v);
        }
        let cost = 2 * weight;
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.map.len() >= self.capacity || slots.bytes + cost > MAX_BYTES {
            slots.map.clear();
            slots.bytes = 0;
        }
        if let Some((old, _)) = slots.map.insert(hash, (k, v.clone())) {
            slots.bytes = slots.bytes.saturating_sub(2 * old.weight());
        }
        slots.bytes += cost;
        Some(v)
    }

    /// How many entries are remembered.
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).map.len()
    }

    /// How many bytes the remembered entries weigh (keys counted twice, see [`MAX_BYTES`]).
    pub fn bytes(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).bytes
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
    fn large_keys_are_used_but_not_remembered() {
        let m = Memo::new(8);
        let made = Cell::new(0);
        let big = "x".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(lookup(&m, &big, &made), Some(big.len()));
        assert_eq!(lookup(&m, &big, &made), Some(big.len()));
        assert_eq!(made.get(), 2);
        assert!(m.is_empty());
        assert_eq!(m.bytes(), 0);
    }

    #[test]
    fn stays_within_its_bytes() {
        let m = Memo::new(1 << 20);
        let made = Cell::new(0);
        for i in 0..10_000 {
            let key = format!("{i:01000}");
            lookup(&m, &key, &made);
            assert!(m.bytes() <= MAX_BYTES, "{}", m.bytes());
        }
        assert!(m.len() < 10_000);
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
