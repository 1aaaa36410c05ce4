//! Brute-force defence in front of the hashing: token buckets of failed binds per source
//! address and per target DN. A failed bind takes a token from both buckets; while either
//! is empty, binds from that address or to that DN are refused without verifying anything.
//! Addresses count as their source ([`crate::limits::source_of`]: an IPv6 /64 is one);
//! DNs exempt from lockout ([`super::exempt`]) have no bucket of their own.

pub use crate::config::rate_limit::RateLimitSection;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Most buckets kept per kind; beyond it, full (idle) buckets are dropped, and if that is
/// not enough the oldest half goes, so an attacker with many addresses cannot grow memory.
const MAX_BUCKETS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Buckets<K> {
    burst: f64,
    per_sec: f64,
    map: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn new(burst: u32, per_minute: f64) -> Self {
        Buckets { burst: f64::from(burst), per_sec: per_minute.max(0.0) / 60.0, map: HashMap::new() }
    }

    fn level(&self, b: &Bucket, now: Instant) -> f64 {
        (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * self.per_sec).min(self.burst)
    }

    fn allows(&self, key: &K, now: Instant) -> bool {
        self.burst == 0.0 || self.map.get(key).is_none_or(|b| self.level(b, now) >= 1.0)
    }

    fn take(&mut self, key: &K, now: Instant) {
        if self.burst == 0.0 {
            return;
        }
        let tokens = self.map.get(key).map_or(self.burst, |b| self.level(b, now));
        self.map.insert(key.clone(), Bucket { tokens: (tokens - 1.0).max(0.0), at: now });
        if self.map.len() > MAX_BUCKETS {
            let (burst, per_sec) = (self.burst, self.per_sec);
            self.map.retain(|_, b| (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec) < burst);
            if self.map.len() > MAX_BUCKETS / 2 {
                let mut by_age: Vec<(Instant, K)> = self.map.iter().map(|(k, b)| (b.at, k.clone())).collect();
                by_age.sort_by_key(|(at, _)| *at);
                let excess = by_age.len() - MAX_BUCKETS / 2;
                for (_, k) in by_age.into_iter().take(excess) {
                    self.map.remove(&k);
                }
            }
        }
    }
}

/// The failed-bind limiter shared by all sessions.
pub struct FailureLimiter {
    by_address: Mutex<Buckets<IpAddr>>,
    /// Keyed by a hash of the DN with a random per-process seed: a bucket costs the same
    /// few bytes whatever DN a client sends (any DN, existing or not, up to the request
    /// size), and nobody can aim a collision at another DN's bucket.
    by_dn: Mutex<Buckets<u64>>,
    seed: foldhash::quality::RandomState,
}

impl FailureLimiter {
    /// A limiter with the configured buckets.
    pub fn new(cfg: &RateLimitSection) -> FailureLimiter {
        FailureLimiter {
            by_address: Mutex::new(Buckets::new(cfg.per_address_burst, cfg.per_address_per_minute)),
            by_dn: Mutex::new(Buckets::new(cfg.per_dn_burst, cfg.per_dn_per_minute)),
            seed: foldhash::quality::RandomState::default(),
        }
    }

    /// The key of a DN's bucket.
    fn dn_key(&self, ndn: &str) -> u64 {
        std::hash::BuildHasher::hash_one(&self.seed, ndn)
    }

    /// Why a bind from `address` to `ndn` must be refused now, if it must.
    pub fn refusal(&self, address: IpAddr, ndn: &str) -> Option<&'static str> {
        self.refusal_from(address, Some(ndn))
    }

    /// Why a bind from `address` must be refused now, if it must: the address's bucket,
    /// and the bucket of `ndn` unless it is `None` (a DN exempt from per-DN throttling).
    pub fn refusal_from(&self, address: IpAddr, ndn: Option<&str>) -> Option<&'static str> {
        let now = Instant::now();
        let source = crate::limits::source_of(address);
        if !self.by_address.lock().unwrap_or_else(|p| p.into_inner()).allows(&source, now) {
            return Some("too many failed binds from this address");
        }
        if let Some(ndn) = ndn {
            if !self.by_dn.lock().unwrap_or_else(|p| p.into_inner()).allows(&self.dn_key(ndn), now) {
                return Some("too many failed binds for this DN");
            }
        }
        None
    }

    /// Counts a failed bind.
    pub fn failed(&self, address: IpAddr, ndn: &str) {
        self.failed_from(address, Some(ndn));
    }

    /// Counts a failed bind against the address, and against `ndn` unless it is `None` (a
    /// DN exempt from per-DN throttling).
    pub fn failed_from(&self, address: IpAddr, ndn: Option<&str>) {
        let now = Instant::now();
        let source = crate::limits::source_of(address);
        self.by_address.lock().unwrap_or_else(|p| p.into_inner()).take(&source, now);
        if let Some(ndn) = ndn {
            self.by_dn.lock().unwrap_or_else(|p| p.into_inner()).take(&self.dn_key(ndn), now);
        }
    }
}

/// Password changes per requester: each one costs argon2 hashing (and history
/// verifications) on the shared hashing pool, so a user looping password changes could
/// starve binds. A change takes a token from its requester's bucket; with none left it is
/// refused before any hashing (51 busy).
pub struct ChangeLimiter {
    by_requester: Mutex<Buckets<String>>,
}

impl ChangeLimiter {
    /// A limiter with the configured bucket.
    pub fn new(cfg: &RateLimitSection) -> ChangeLimiter {
        let buckets = Buckets::new(cfg.password_changes_burst, cfg.password_changes_per_minute);
        ChangeLimiter { by_requester: Mutex::new(buckets) }
    }

    /// Takes a token for a change by `requester`; false when none is left.
    pub fn take(&self, requester: &str) -> bool {
        let now = Instant::now();
        let mut b = self.by_requester.lock().unwrap_or_else(|p| p.into_inner());
        let key = requester.to_string();
        if !b.allows(&key, now) {
            return false;
        }
        b.take(&key, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_changes_are_bounded_per_requester() {
        let cfg =
            RateLimitSection { password_changes_burst: 2, password_changes_per_minute: 0.0, ..Default::default() };
        let l = ChangeLimiter::new(&cfg);
        assert!(l.take("uid=bob") && l.take("uid=bob"));
        assert!(!l.take("uid=bob"), "the bucket is empty");
        assert!(l.take("uid=alice"), "another requester has its own");
        let off = ChangeLimiter::new(&RateLimitSection { password_changes_burst: 0, ..Default::default() });
        assert!((0..100).all(|_| off.take("uid=bob")));
    }
    use std::time::Duration;

    #[test]
    fn a_bucket_empties_and_refills() {
        let mut b = Buckets::<u8>::new(3, 60.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(b.allows(&1, t0));
            b.take(&1, t0);
        }
        assert!(!b.allows(&1, t0));
        assert!(b.allows(&2, t0), "other keys are not affected");
        assert!(b.allows(&1, t0 + Duration::from_millis(1000)), "one token per second comes back");
    }

    #[test]
    fn zero_burst_disables_the_limit() {
        let mut b = Buckets::<u8>::new(0, 0.0);
        for _ in 0..100 {
            b.take(&1, Instant::now());
        }
        assert!(b.allows(&1, Instant::now()));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut b = Buckets::<u32>::new(5, 0.0);
        let t = Instant::now();
        for k in 0..(MAX_BUCKETS as u32 + 10) {
            b.take(&k, t);
        }
        assert!(b.map.len() <= MAX_BUCKETS);
    }

    #[test]
    fn limiter_checks_address_and_dn() {
        let l = FailureLimiter::new(&RateLimitSection {
            per_address_burst: 2,
            per_address_per_minute: 0.0,
            per_dn_burst: 1,
            per_dn_per_minute: 0.0,
            ..Default::default()
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        l.failed(a, "uid=x");
        assert!(l.refusal(b, "uid=x").is_some(), "the DN's bucket is empty");
        assert!(l.refusal(a, "uid=y").is_none());
        l.failed(a, "uid=y");
        assert!(l.refusal(a, "uid=z").is_some(), "the address's bucket is empty");
    }

    #[test]
    fn an_exempt_dn_is_throttled_by_address_only() {
        let l = FailureLimiter::new(&RateLimitSection {
            per_address_burst: 3,
            per_address_per_minute: 0.0,
            per_dn_burst: 1,
            per_dn_per_minute: 0.0,
            ..Default::default()
        });
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let svc = "cn=nslcd,ou=services,dc=x";
        for n in 1..=3 {
            l.failed_from(ip(&format!("192.0.2.{n}")), None);
        }
        assert!(l.refusal_from(ip("192.0.2.9"), None).is_none(), "failures from others do not throttle it");
        assert!(l.refusal(ip("192.0.2.9"), svc).is_none(), "it has no DN bucket to empty");
        for _ in 0..3 {
            l.failed_from(ip("192.0.2.1"), None);
        }
        assert!(l.refusal_from(ip("192.0.2.1"), None).is_some(), "the failing address is throttled");
    }

    #[test]
    fn an_ipv6_slash_64_shares_one_bucket() {
        let l = FailureLimiter::new(&RateLimitSection {
            per_address_burst: 2,
            per_address_per_minute: 0.0,
            per_dn_burst: 0,
            per_dn_per_minute: 0.0,
            ..Default::default()
        });
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        l.failed(ip("2001:db8:1:2::1"), "uid=a");
        l.failed(ip("2001:db8:1:2:dead:beef:0:1"), "uid=b");
        assert!(l.refusal(ip("2001:db8:1:2:ffff::77"), "uid=c").is_some(), "one /64, one bucket");
        assert!(l.refusal(ip("2001:db8:1:3::1"), "uid=c").is_none(), "the next /64 is another source");
        l.failed(ip("::ffff:192.0.2.5"), "uid=a");
        l.failed(ip("192.0.2.5"), "uid=a");
        assert!(l.refusal(ip("192.0.2.5"), "uid=c").is_some(), "IPv4-mapped counts as the IPv4 address");
    }
}
