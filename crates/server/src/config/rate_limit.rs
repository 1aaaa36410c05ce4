//! `[rate_limit]`: the token buckets of failed binds and password changes (applied by
//! `crate::ppolicy::ratelimit`).

use serde::Deserialize;

/// `[rate_limit]`: bucket sizes and refill rates. A burst of 0 turns that limit off.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSection {
    /// Failed binds a source address may make at once.
    pub per_address_burst: u32,
    /// Failed binds per minute a source address regains.
    pub per_address_per_minute: f64,
    /// Failed binds against one DN at once.
    pub per_dn_burst: u32,
    /// Failed binds per minute one DN regains.
    pub per_dn_per_minute: f64,
    /// Password changes (each costs hashing) one user who is not an administrator may make
    /// at once.
    pub password_changes_burst: u32,
    /// Password changes per minute such a user regains.
    pub password_changes_per_minute: f64,
}

impl Default for RateLimitSection {
    fn default() -> Self {
        RateLimitSection {
            per_address_burst: 100,
            per_address_per_minute: 60.0,
            per_dn_burst: 20,
            per_dn_per_minute: 2.0,
            password_changes_burst: 20,
            password_changes_per_minute: 10.0,
        }
    }
}
