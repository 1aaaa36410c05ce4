//! Shared server state handed to every session.

use crate::config::Config;
use crate::password::{self, Argon2Params, Verification};
use birch_schema::Schema;
use birch_store::Store;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Everything an operation handler needs.
pub struct ServerCtx {
    /// The configuration in force.
    pub config: Config,
    /// Operation counts, latencies, connections (Prometheus and cn=Monitor).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The configuration file, re-read by a reload (None: built-in defaults).
    pub config_path: Option<std::path::PathBuf>,
    /// The directory store.
    pub store: Store,
    /// The schema.
    pub schema: Arc<Schema>,
    /// The access policy in force (replaced as a whole on reload).
    pub access: std::sync::RwLock<Arc<crate::access::Access>>,
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
    /// Failed-bind rate limits per address and per DN.
    pub limiter: crate::ppolicy::ratelimit::FailureLimiter,
    /// TLS (StartTLS and LDAPS), when `[tls]` names a certificate.
    pub tls: Option<crate::tls::Tls>,
    /// The bounded work queue (`connections.max_pending_ops`).
    pub work_queue: crate::limits::WorkQueue,
    /// Persistent searches and parked paged searches, bounded apart from the work queue.
    pub budgets: crate::limits::Budgets,
    /// Searches' attribute lists parsed against the schema, by list ([`ServerCtx::selection`]).
    pub selections: crate::memo::Memo<Vec<String>, Arc<crate::ops::attrs::Selection>>,
    /// Normalized DNs by the DN as sent ([`ServerCtx::normalized_dn`]).
    pub normalized_dns: crate::memo::Memo<String, Arc<str>>,
}

/// Most distinct attribute lists or DNs the request memos of [`ServerCtx`] remember (then
/// they start over).
pub const REQUEST_MEMO_ENTRIES: usize = 1024;

/// How long a subtree move or tree delete waits for running searches before answering
/// busy (51); new searches queue behind a waiting subtree change, so this also bounds how
/// long they can stall.
pub const TREE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl ServerCtx {
    /// The access policy in force.
    pub fn access(&self) -> Arc<crate::access::Access> {
        self.access.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The attribute selection of a search's attribute list (parsed once per distinct list).
    pub fn selection(&self, attrs: &[String]) -> Arc<crate::ops::attrs::Selection> {
        let make = || Arc::new(crate::ops::attrs::Selection::new(attrs, &self.schema));
        self.selections
            .get_or_make(crate::memo::hash_of(attrs), |k| k.as_slice() == attrs, || Some((attrs.to_vec(), make())))
            .unwrap_or_else(make)
    }

    /// The normalized form of a DN as a client sent it; `None` if it is not a valid DN.
    /// Remembered per distinct string: clients search under the same few bases.
    pub fn normalized_dn(&self, dn: &str) -> Option<Arc<str>> {
        self.normalized_dns.get_or_make(
            crate::memo::hash_of(dn),
            |k| k == dn,
            || Some((dn.to_string(), Arc::from(birch_schema::Dn::parse(dn).ok()?.normalize(&self.schema)))),
        )
    }

    /// Verifies a password against stored values, expensive schemes on a hashing thread
    /// (bounded by `hash_permits`, see [`crate::hash_thread`]): the index of
    /// the value that matched. `stored = None` (or empty) runs a dummy verification of equal
    /// cost and fails.
    pub async fn verify_password(self: &Arc<Self>, stored: Option<Vec<Vec<u8>>>, password: Vec<u8>) -> Option<usize> {
        let find = |values: &[Vec<u8>], password: &[u8]| {
            values.iter().position(|v| password::verify(v, password) == Verification::Match)
        };
        // Salted SHA and the like cost about a microsecond: verify them right here. Only
        // argon2, crypt(3) and PBKDF2 go to the bounded pool.
        if let Some(values) = &stored {
            if !values.is_empty() && !values.iter().any(|v| password::is_expensive(v)) {
                return find(values, &password);
            }
        }
        self.metrics.hash_waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let permit = self.hash_permits.acquire().await;
        self.metrics.hash_waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let Ok(_permit) = permit else {
            return None;
        };
        let params = self.argon2.clone();
        crate::hash_thread::run(move || match stored {
            Some(values) if !values.is_empty() => find(&values, &password),
            _ => {
                password::dummy_verify(&params);
                None
            }
        })
        .await
        .flatten()
    }
}
