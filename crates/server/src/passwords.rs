//! The password service: argon2 parameters, the bounded pool of hashing threads and its
//! queue gauge, for verification (binds, old passwords, history) and hashing (writes) alike.
//! Salted SHA and the like cost about a microsecond and are verified inline; argon2,
//! crypt(3) and PBKDF2 run on a thread of their own ([`crate::hash_thread`]) behind
//! `hash_threads` permits, so a bind storm never occupies the async workers that serve
//! searches.

use crate::metrics::Metrics;
use crate::password::{self, Argon2Params, Verification};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Why hashing failed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The pool is closed (the server is shutting down).
    #[error("shutting down")]
    ShuttingDown,
    /// The hashing thread failed or the parameters are unusable.
    #[error("password hashing failed")]
    Failed,
}

/// Hashes and verifies passwords on a bounded pool.
pub struct Passwords {
    params: Argon2Params,
    permits: Semaphore,
    /// Where jobs waiting for a permit (`birch_hash_queue`) and hashes made
    /// (`birch_password_hashes_total`) are counted.
    metrics: Arc<Metrics>,
}

impl Passwords {
    /// A pool of `threads` hashing threads using `params` for new hashes, counting in
    /// `metrics`.
    pub fn new(params: Argon2Params, threads: usize, metrics: Arc<Metrics>) -> Passwords {
        Passwords { params, permits: Semaphore::new(threads.max(1)), metrics }
    }

    /// The argon2 parameters of new hashes.
    pub fn params(&self) -> &Argon2Params {
        &self.params
    }

    /// Runs `job` on a hashing thread once a permit is free; `None` when the pool is
    /// closed or the job panicked.
    pub async fn on_pool<T, F>(&self, job: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.metrics.hash_waiting.fetch_add(1, Ordering::Relaxed);
        let permit = self.permits.acquire().await;
        self.metrics.hash_waiting.fetch_sub(1, Ordering::Relaxed);
        let _permit = permit.ok()?;
        crate::hash_thread::run(job).await
    }

    /// Verifies a password against stored values: the index of the value that matched.
    /// `stored = None` (or empty) runs a dummy verification of equal cost and fails.
    pub async fn verify(&self, stored: Option<Vec<Vec<u8>>>, password: Vec<u8>) -> Option<usize> {
        let find = |values: &[Vec<u8>], password: &[u8]| {
            values.iter().position(|v| password::verify(v, password) == Verification::Match)
        };
        if let Some(values) = &stored {
            if !values.is_empty() && !values.iter().any(|v| password::is_expensive(v)) {
                return find(values, &password);
            }
        }
        let params = self.params.clone();
        self.on_pool(move || match stored {
            Some(values) if !values.is_empty() => find(&values, &password),
            _ => {
                password::dummy_verify(&params);
                None
            }
        })
        .await
        .flatten()
    }

    /// Hashes cleartext values with argon2id; values already hashed (`{SCHEME}...`) are
    /// kept as they are, in their order.
    pub async fn hash(&self, values: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, HashError> {
        if values.iter().all(|v| password::is_hashed(v)) {
            return Ok(values);
        }
        if self.permits.is_closed() {
            return Err(HashError::ShuttingDown);
        }
        let made = values.iter().filter(|v| !password::is_hashed(v)).count() as u64;
        self.metrics.password_hashes.fetch_add(made, Ordering::Relaxed);
        let params = self.params.clone();
        let hashed = self.on_pool(move || hash_all(values, &params)).await;
        hashed.ok_or(HashError::Failed)?.map_err(|_| HashError::Failed)
    }
}

/// Hashes the cleartext values of `values` with argon2id, in place of each (blocking).
pub fn hash_all(values: Vec<Vec<u8>>, params: &Argon2Params) -> Result<Vec<Vec<u8>>, password::PasswordError> {
    values
        .into_iter()
        .map(
            |v| {
                if password::is_hashed(&v) {
                    Ok(v)
                } else {
                    password::hash_argon2id(&v, params).map(String::into_bytes)
                }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Params {
        Argon2Params { m_cost_kib: 8, t_cost: 1, p: 1 }
    }

    #[tokio::test]
    async fn hashes_cleartext_and_keeps_hashed_values() {
        let pw = Passwords::new(cheap(), 1, Arc::default());
        let out = pw.hash(vec![b"secret".to_vec(), b"{SSHA}abcd".to_vec()]).await.unwrap();
        assert!(out[0].starts_with(b"{ARGON2}$argon2id$"), "{:?}", String::from_utf8_lossy(&out[0]));
        assert_eq!(out[1], b"{SSHA}abcd");
        assert_eq!(pw.verify(Some(out), b"secret".to_vec()).await, Some(0));
    }

    #[tokio::test]
    async fn unknown_accounts_fail_after_a_dummy_verification() {
        let pw = Passwords::new(cheap(), 1, Arc::default());
        assert_eq!(pw.verify(None, b"x".to_vec()).await, None);
        assert_eq!(pw.metrics.hash_waiting.load(Ordering::Relaxed), 0);
        assert_eq!(pw.metrics.password_hashes.load(Ordering::Relaxed), 0);
    }
}
