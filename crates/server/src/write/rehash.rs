//! Rehash on bind, off the answer path: a bind that matched a legacy hash (`{SSHA}`,
//! `{CRYPT}`…) answers at once, and the argon2id hash of the same password is made and
//! written afterwards as [`super::Bookkeeping::Rehash`], which replaces the legacy value only
//! if it is still there (a password change in between wins).
//!
//! Bounded, paced and deduplicated: each account is rehashed by at most one task at a time,
//! at most [`MAX_IN_FLIGHT`] tasks wait for the hashing pool, and they start at most
//! `rehash_per_second` times a second; a bind beyond that is not rehashed, and the
//! account's next bind tries again. The pace keeps a migrated campus's conversion from
//! taking the cores that serve everyone else: each rehash costs an argon2 hash (~25 ms of a
//! core), so 10 a second is a quarter of one core, and a campus whose 10k accounts log in
//! over a morning is converted within hours. A graceful shutdown waits for the
//! tasks ([`Rehashes::flush`]); a crash loses only the conversion, never the password (the
//! legacy value stays until the argon2id one is durable).

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::task::TaskTracker;

/// Most rehashes queued or running at once.
pub const MAX_IN_FLIGHT: usize = 2;

/// The rehashes in flight.
pub struct Rehashes {
    /// Normalized DNs being rehashed.
    in_flight: Arc<Mutex<HashSet<String>>>,
    /// Time between two rehash starts (None: no rehash at all), and the earliest next start.
    pace: Option<Duration>,
    next: Mutex<Option<Instant>>,
    tasks: TaskTracker,
}

impl Default for Rehashes {
    /// Rehashes at the default pace (`rehash_per_second`).
    fn default() -> Self {
        Rehashes::new(crate::config::DEFAULT_REHASH_PER_SECOND)
    }
}

/// An account's claim on its rehash: released when dropped (the task is done).
pub struct Claim {
    ndn: String,
    in_flight: Arc<Mutex<HashSet<String>>>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.ndn);
    }
}

impl Rehashes {
    /// Rehashes starting at most `per_second` times a second (0: never).
    pub fn new(per_second: f64) -> Rehashes {
        let pace = (per_second > 0.0 && per_second.is_finite()).then(|| Duration::from_secs_f64(1.0 / per_second));
        Rehashes { in_flight: Arc::default(), pace, next: Mutex::new(None), tasks: TaskTracker::new() }
    }

    /// Claims `ndn`'s rehash: None while another is in flight for it, when
    /// [`MAX_IN_FLIGHT`] are, or when the pace allows none yet.
    pub fn claim(&self, ndn: &str) -> Option<Claim> {
        self.claim_at(ndn, Instant::now())
    }

    fn claim_at(&self, ndn: &str, now: Instant) -> Option<Claim> {
        let pace = self.pace?;
        let mut set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() >= MAX_IN_FLIGHT || set.contains(ndn) {
            return None;
        }
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        if next.is_some_and(|at| now < at) {
            return None;
        }
        *next = Some(now + pace);
        set.insert(ndn.to_string());
        Some(Claim { ndn: ndn.to_string(), in_flight: self.in_flight.clone() })
    }

    /// Runs a claimed rehash in the background (the claim goes with it).
    pub fn spawn(&self, claim: Claim, work: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(async move {
            work.await;
            drop(claim);
        });
    }

    /// Waits for every rehash spawned so far (a graceful shutdown, tests).
    pub async fn flush(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.tasks.reopen();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rehash_per_account_and_a_bound_on_all() {
        let r = Rehashes::new(1e9); // no pacing to speak of
        let t = Instant::now();
        let first = r.claim_at("uid=a", t).expect("first claim");
        assert!(r.claim_at("uid=a", t + Duration::from_secs(1)).is_none(), "a second rehash of the same account");
        drop(first);
        let again = r.claim_at("uid=a", t + Duration::from_secs(2)).expect("claimable once released");
        let mut held: Vec<Claim> = (1..MAX_IN_FLIGHT)
            .map(|i| r.claim_at(&format!("uid={i}"), t + Duration::from_secs(3)).expect("claim"))
            .collect();
        assert!(r.claim_at("uid=over", t + Duration::from_secs(4)).is_none(), "past the bound");
        held.pop();
        assert!(r.claim_at("uid=over", t + Duration::from_secs(5)).is_some());
        drop(again);
    }

    #[test]
    fn rehashes_start_at_the_configured_pace_and_zero_means_none() {
        let r = Rehashes::new(10.0);
        let t = Instant::now();
        drop(r.claim_at("uid=a", t).expect("the first"));
        assert!(r.claim_at("uid=b", t + Duration::from_millis(50)).is_none(), "too soon");
        assert!(r.claim_at("uid=b", t + Duration::from_millis(100)).is_some());
        assert!(Rehashes::new(0.0).claim("uid=a").is_none());
    }

    #[tokio::test]
    async fn flush_waits_for_the_work() {
        let r = Rehashes::new(1e9);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d = done.clone();
        let claim = r.claim("uid=a").expect("claim");
        r.spawn(claim, async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            d.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        r.flush().await;
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
        assert!(r.claim("uid=a").is_some(), "the claim is released with the task");
    }
}
