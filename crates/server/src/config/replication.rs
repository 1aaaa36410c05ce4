//! `[replication]`: this server's id in CSNs and, on a replica, the provider it follows
//! (`crate::replica`).

use serde::Deserialize;
use std::path::PathBuf;

/// `[replication]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationSection {
    /// The server id in the CSNs of this server's writes (1..=4095; OpenLDAP's `serverID`).
    pub server_id: u16,
    /// The provider to follow (`ldap://host:port` or `ldaps://…`); unset: this server is not
    /// a replica.
    pub provider: Option<String>,
    /// The DN to bind as at the provider (it must be able to read every entry and
    /// attribute replicated, userPassword included); unset: anonymous.
    pub bind_dn: Option<String>,
    /// Its password.
    pub bind_password: Option<String>,
    /// A file whose first line is the password (instead of `bind_password`).
    pub bind_password_file: Option<PathBuf>,
    /// The base of the replicated subtree (default: the suffix).
    pub search_base: Option<String>,
    /// The filter of the replicated entries.
    pub filter: String,
    /// The attributes replicated (`*` and `+`: all user and operational ones).
    pub attrs: Vec<String>,
    /// First wait before reconnecting after a failure, in milliseconds (doubling up to
    /// `retry_max_ms`).
    pub retry_initial_ms: u64,
    /// Longest wait between reconnection attempts, in milliseconds.
    pub retry_max_ms: u64,
    /// Where writes sent to the replica are referred (result 10, referral); default: the
    /// provider's URL.
    pub referral: Option<String>,
    /// CA certificates (PEM) that verify an `ldaps://` provider; unset: the system roots.
    pub ca_file: Option<PathBuf>,
    /// Provider side: DNs (besides the root DN) whose sync searches also receive
    /// userPassword, which no search returns otherwise (replicas bind as one of them).
    pub replicators: Vec<String>,
}

impl Default for ReplicationSection {
    fn default() -> Self {
        ReplicationSection {
            server_id: 1,
            provider: None,
            bind_dn: None,
            bind_password: None,
            bind_password_file: None,
            search_base: None,
            filter: "(objectClass=*)".into(),
            attrs: vec!["*".into(), "+".into()],
            retry_initial_ms: 500,
            retry_max_ms: 30_000,
            referral: None,
            ca_file: None,
            replicators: Vec::new(),
        }
    }
}

impl ReplicationSection {
    /// Whether this server is a read-only replica.
    pub fn is_replica(&self) -> bool {
        self.provider.is_some()
    }

    /// The referral URL writes get on a replica.
    pub fn referral_url(&self) -> Option<String> {
        self.referral.clone().or_else(|| self.provider.clone())
    }

    /// Checks the values; the message names what is wrong.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.server_id == 0 || self.server_id > birch_store::csn::MAX_SID {
            return Err(("replication.server_id", format!("{} is not in 1..=4095", self.server_id)));
        }
        if let Some(p) = &self.provider {
            if !(p.starts_with("ldap://") || p.starts_with("ldaps://")) {
                return Err(("replication.provider", format!("{p:?} is not an ldap:// or ldaps:// URL")));
            }
        }
        if let Some(b) = &self.search_base {
            if let Err(e) = birch_schema::Dn::parse(b) {
                return Err(("replication.search_base", e.to_string()));
            }
        }
        for r in &self.replicators {
            if let Err(e) = birch_schema::Dn::parse(r) {
                return Err(("replication.replicators", format!("{r:?}: {e}")));
            }
        }
        if ldap3::parse_filter(&self.filter).is_err() {
            return Err(("replication.filter", format!("{:?} is not a valid filter", self.filter)));
        }
        if self.retry_initial_ms == 0 || self.retry_max_ms < self.retry_initial_ms {
            return Err(("replication.retry_initial_ms", "must be > 0 and at most retry_max_ms".into()));
        }
        Ok(())
    }
}
