//! Rehash on bind, off the answer path: a bind that matched a legacy hash (`{SSHA}`,
//! `{CRYPT}`…) answers at once, and the argon2id hash of the same password is made and
//! written afterwards as [`super::Bookkeeping::Rehash`], which replaces the legacy value only
//! if it is still there (a password change in between wins).
//!
//! Bounded and deduplicated: each account is rehashed by at most one task at a time, and at
//! most [`MAX_IN_FLIGHT`] tasks wait for the hashing pool; a bind beyond that is not
//! rehashed, and the account's next bind tries again. A graceful shutdown waits for the
//! tasks ([`Rehashes::flush`]); a crash loses only the conversion, never the password (the
//! legacy value stays until the argon2id one is durable).

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio_util::task::TaskTracker;

/// Most rehashes queued or running at once.
pub const MAX_IN_FLIGHT: usize = 4;

/// The rehashes in flight.
#[derive(Default)]
pub struct Rehashes {
    /// Normalized DNs being rehashed.
    in_flight: Arc<Mutex<HashSet<String>>>,
    tasks: TaskTracker,
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
    /// Claims `ndn`'s rehash: None while another is in flight for it, or when
    /// [`MAX_IN_FLIGHT`] are.
    pub fn claim(&self, ndn: &str) -> Option<Claim> {
        let mut set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() >= MAX_IN_FLIGHT || !set.insert(ndn.to_string()) {
            return None;
        }
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
        let r = Rehashes::default();
        let first = r.claim("uid=a").expect("first claim");
        assert!(r.claim("uid=a").is_none(), "a second rehash of the same account");
        drop(first);
        let again = r.claim("uid=a").expect("claimable once released");
        let mut held: Vec<Claim> = (1..MAX_IN_FLIGHT).map(|i| r.claim(&format!("uid={i}")).expect("claim")).collect();
        assert!(r.claim("uid=over").is_none(), "past the bound");
        held.pop();
        assert!(r.claim("uid=over").is_some());
        drop(again);
    }

    #[tokio::test]
    async fn flush_waits_for_the_work() {
        let r = Rehashes::default();
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
