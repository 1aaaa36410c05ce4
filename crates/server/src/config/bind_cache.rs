//! `[bind_cache]`: how long a successful bind's password check is remembered
//! (`crate::bind_cache`; the analysis is in docs/security.md).

use serde::Deserialize;

/// `[bind_cache]`: remembered successful binds against slow (argon2, crypt, PBKDF2) hashes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BindCacheSection {
    /// Seconds a successful check is remembered, counted from the full verification (a hit
    /// does not extend it); 0 turns the cache off.
    pub ttl_secs: u64,
    /// Most remembered binds; the oldest are forgotten first.
    pub max_entries: usize,
}

/// The largest `max_entries` accepted (about 100 MiB of memory).
pub const MAX_ENTRIES: usize = 1_000_000;

impl Default for BindCacheSection {
    fn default() -> Self {
        BindCacheSection { ttl_secs: 300, max_entries: 10_000 }
    }
}
