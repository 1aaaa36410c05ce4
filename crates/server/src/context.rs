//! Shared server state handed to every session.

use crate::config::Config;
use crate::password::{self, Argon2Params, Verification};
use birch_acl::Policy;
use birch_schema::Schema;
use birch_store::Store;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Everything an operation handler needs.
pub struct ServerCtx {
    /// The configuration in force.
    pub config: Config,
    /// The directory store.
    pub store: Store,
    /// The schema.
    pub schema: Arc<Schema>,
    /// The access policy.
    pub policy: Policy,
    /// Normalized root DN.
    pub root_ndn: String,
    /// Normalized suffix.
    pub suffix_ndn: String,
    /// The root password hash (PHC or `{SCHEME}` form).
    pub root_hash: Vec<u8>,
    /// argon2 parameters for new hashes and the timing-equalizing dummy verification.
    pub argon2: Argon2Params,
    /// Bounds concurrent hashing so a bind storm cannot take every blocking thread.
    pub hash_permits: Semaphore,
    /// Searches hold it shared for their duration; subtree moves and tree deletes hold it
    /// exclusively, so a search sees such a change wholly or not at all. Single-entry writes
    /// do not take it (each entry is read atomically anyway).
    pub tree_lock: Arc<tokio::sync::RwLock<()>>,
    /// TLS (StartTLS and LDAPS), when `[tls]` names a certificate.
    pub tls: Option<crate::tls::Tls>,
}

/// How long a subtree move or tree delete waits for running searches before answering
/// busy (51); new searches queue behind a waiting subtree change, so this also bounds how
/// long they can stall.
pub const TREE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl ServerCtx {
    /// Verifies a password against a stored value on the bounded hashing pool.
    /// `stored = None` runs a dummy verification of equal cost and fails.
    pub async fn verify_password(self: &Arc<Self>, stored: Option<Vec<Vec<u8>>>, password: Vec<u8>) -> bool {
        // Salted SHA and the like cost about a microsecond: verify them right here. Only
        // argon2 (tens of milliseconds) goes to the bounded pool.
        if let Some(values) = &stored {
            if !values.is_empty() && !values.iter().any(|v| password::is_expensive(v)) {
                return values.iter().any(|v| password::verify(v, &password) == Verification::Match);
            }
        }
        let Ok(_permit) = self.hash_permits.acquire().await else {
            return false;
        };
        let params = self.argon2.clone();
        tokio::task::spawn_blocking(move || match stored {
            Some(values) if !values.is_empty() => {
                values.iter().any(|v| password::verify(v, &password) == Verification::Match)
            }
            _ => {
                password::dummy_verify(&params);
                false
            }
        })
        .await
        .unwrap_or(false)
    }
}
