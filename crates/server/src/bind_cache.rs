//! Recent successful binds against slow hashes, so that an account binding again within
//! minutes (RADIUS re-authentication, nslcd, a workstation's service account) does not pay
//! a full argon2 verification each time.
//!
//! What is kept per bind: a tag, HMAC-SHA256 under a random per-process key of the
//! normalized DN and the password, and the SHA-256 of the stored `userPassword` value it
//! verified against, with the time of that verification. No password and no hash of one
//! that could be attacked without the key is kept; the key lives only in this process.
//! A remembered check counts only while the stored value is exactly the one that was
//! verified (any password change, reset or rehash makes it a miss) and for `ttl` after the
//! full verification (a hit does not extend it). Everything else a bind checks — lockout,
//! expiry, pwdReset, access — is read from the entry on every bind as before: the cache
//! stands in for the hash computation only. Wrong passwords never hit, so they cost what
//! they always cost. docs/security.md has the analysis behind the defaults.

use crate::config::BindCacheSection;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

type Tag = [u8; 32];
type Fingerprint = [u8; 32];

/// One remembered verification.
#[derive(Debug, Clone, Copy)]
struct Remembered {
    fingerprint: Fingerprint,
    at: Instant,
}

#[derive(Debug, Default)]
struct Slots {
    by_tag: HashMap<Tag, Remembered>,
    /// Tags in the order they were (re)verified, for expiry and eviction; a tag verified
    /// again appears twice, and only its latest time counts.
    order: VecDeque<(Tag, Instant)>,
}

/// The cache of recent successful binds (one per server).
#[derive(Debug)]
pub struct BindCache {
    key: [u8; 32],
    ttl: Duration,
    max_entries: usize,
    slots: Mutex<Slots>,
}

impl BindCache {
    /// A cache as `[bind_cache]` configures it, with a fresh random key.
    pub fn new(cfg: &BindCacheSection) -> BindCache {
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        BindCache {
            key,
            ttl: Duration::from_secs(cfg.ttl_secs),
            max_entries: if cfg.ttl_secs == 0 { 0 } else { cfg.max_entries },
            slots: Mutex::default(),
        }
    }

    /// Whether the cache is on (a TTL and room for at least one entry).
    pub fn enabled(&self) -> bool {
        self.max_entries > 0
    }

    fn tag(&self, ndn: &str, password: &[u8]) -> Tag {
        // The key is 32 bytes; HMAC takes keys of any length, so this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        mac.update(&(ndn.len() as u64).to_be_bytes());
        mac.update(ndn.as_bytes());
        mac.update(password);
        mac.finalize().into_bytes().into()
    }

    fn fingerprint(stored: &[u8]) -> Fingerprint {
        Sha256::digest(stored).into()
    }

    /// The index of the stored value this password was verified against within the TTL,
    /// if it is still stored; `None` (a full verification is needed) otherwise.
    pub fn lookup(&self, ndn: &str, stored: &[Vec<u8>], password: &[u8], now: Instant) -> Option<usize> {
        if !self.enabled() {
            return None;
        }
        let tag = self.tag(ndn, password);
        let hit = {
            let slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            slots.by_tag.get(&tag).copied()
        }?;
        if now.saturating_duration_since(hit.at) >= self.ttl {
            return None;
        }
        stored.iter().position(|v| Self::fingerprint(v) == hit.fingerprint)
    }

    /// Remembers that `password` verified against the stored value `matched` of `ndn`.
    pub fn remember(&self, ndn: &str, matched: &[u8], password: &[u8], now: Instant) {
        if !self.enabled() {
            return;
        }
        let tag = self.tag(ndn, password);
        let fingerprint = Self::fingerprint(matched);
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.expire(&mut slots, now);
        // The order list may hold a tag twice (verified again after its stored value
        // changed); it is kept within twice the bound too.
        while slots.by_tag.len() >= self.max_entries || slots.order.len() >= 2 * self.max_entries {
            if !Self::drop_oldest(&mut slots) {
                break;
            }
        }
        slots.by_tag.insert(tag, Remembered { fingerprint, at: now });
        slots.order.push_back((tag, now));
    }

    /// Forgets everything (a configuration reload).
    pub fn clear(&self) {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *slots = Slots::default();
    }

    /// Entries remembered now (expired ones included until the next insertion).
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner).by_tag.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the entries whose TTL is over (they are at the front of `order`).
    fn expire(&self, slots: &mut Slots, now: Instant) {
        while let Some(&(_, at)) = slots.order.front() {
            if now.saturating_duration_since(at) < self.ttl {
                break;
            }
            Self::drop_oldest(slots);
        }
    }

    /// Removes the front of `order`, and its entry when that is its latest verification.
    /// Returns false when `order` is empty.
    fn drop_oldest(slots: &mut Slots) -> bool {
        let Some((tag, at)) = slots.order.pop_front() else {
            return false;
        };
        if slots.by_tag.get(&tag).is_some_and(|r| r.at == at) {
            slots.by_tag.remove(&tag);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cache(ttl_secs: u64, max_entries: usize) -> BindCache {
        BindCache::new(&BindCacheSection { ttl_secs, max_entries })
    }

    const DN: &str = "uid=alice,ou=people,dc=example,dc=org";

    #[test]
    fn a_remembered_password_hits_only_with_the_same_stored_value() {
        let c = cache(300, 10);
        let t = Instant::now();
        let stored = vec![b"{ARGON2}one".to_vec(), b"{ARGON2}two".to_vec()];
        assert_eq!(c.lookup(DN, &stored, b"pw", t), None);
        c.remember(DN, &stored[1], b"pw", t);
        assert_eq!(c.lookup(DN, &stored, b"pw", t), Some(1));
        // Another password, another DN, or a changed stored value: a miss.
        assert_eq!(c.lookup(DN, &stored, b"pw2", t), None);
        assert_eq!(c.lookup("uid=bob,ou=people,dc=example,dc=org", &stored, b"pw", t), None);
        assert_eq!(c.lookup(DN, &[b"{ARGON2}three".to_vec()], b"pw", t), None);
    }

    #[test]
    fn the_ttl_counts_from_the_full_verification() {
        let c = cache(300, 10);
        let t = Instant::now();
        let stored = vec![b"{ARGON2}one".to_vec()];
        c.remember(DN, &stored[0], b"pw", t);
        assert_eq!(c.lookup(DN, &stored, b"pw", t + Duration::from_secs(299)), Some(0));
        assert_eq!(c.lookup(DN, &stored, b"pw", t + Duration::from_secs(300)), None);
    }

    #[test]
    fn a_ttl_of_zero_turns_it_off() {
        let c = cache(0, 10);
        let t = Instant::now();
        c.remember(DN, b"{ARGON2}one", b"pw", t);
        assert!(!c.enabled());
        assert!(c.is_empty());
        assert_eq!(c.lookup(DN, &[b"{ARGON2}one".to_vec()], b"pw", t), None);
    }

    #[test]
    fn the_oldest_is_forgotten_first_and_clear_forgets_all() {
        let c = cache(300, 2);
        let t = Instant::now();
        let v = b"{ARGON2}x".to_vec();
        c.remember("uid=a", &v, b"pw", t);
        c.remember("uid=b", &v, b"pw", t + Duration::from_secs(1));
        c.remember("uid=a", &v, b"pw", t + Duration::from_secs(2)); // verified again
        c.remember("uid=c", &v, b"pw", t + Duration::from_secs(3));
        let at = t + Duration::from_secs(4);
        assert_eq!(c.lookup("uid=b", std::slice::from_ref(&v), b"pw", at), None);
        assert_eq!(c.lookup("uid=a", std::slice::from_ref(&v), b"pw", at), Some(0));
        assert_eq!(c.lookup("uid=c", std::slice::from_ref(&v), b"pw", at), Some(0));
        c.clear();
        assert_eq!(c.lookup("uid=a", std::slice::from_ref(&v), b"pw", at), None);
    }

    #[test]
    fn two_processes_tag_the_same_bind_differently() {
        assert_ne!(cache(300, 1).tag(DN, b"pw"), cache(300, 1).tag(DN, b"pw"));
    }

    proptest! {
        /// However binds arrive, the cache never holds more than its bound, and a lookup
        /// hits only for a (DN, password, stored value) that was remembered within the TTL.
        #[test]
        fn bounded_and_never_hits_what_was_not_remembered(
            binds in proptest::collection::vec((0u8..6, 0u8..3, 0u8..2, 0u64..400), 1..60),
            probe in (0u8..6, 0u8..3, 0u8..2),
        ) {
            let c = cache(100, 4);
            let t0 = Instant::now();
            let mut clock = 0;
            let mut last = None;
            for (dn, pw, value, step) in &binds {
                clock += step;
                let (dn, pw, value) = (format!("uid={dn}"), [*pw], vec![*value]);
                c.remember(&dn, &value, &pw, t0 + Duration::from_secs(clock));
                prop_assert!(c.len() <= 4);
                prop_assert!(c.slots.lock().unwrap().order.len() <= 8);
                if (dn.as_str(), pw, value.clone()) == (format!("uid={}", probe.0).as_str(), [probe.1], vec![probe.2]) {
                    last = Some(clock);
                }
            }
            let now = t0 + Duration::from_secs(clock);
            let stored = vec![vec![probe.2]];
            let hit = c.lookup(&format!("uid={}", probe.0), &stored, &[probe.1], now).is_some();
            if hit {
                prop_assert!(last.is_some_and(|at| clock - at < 100));
            }
        }
    }
}
