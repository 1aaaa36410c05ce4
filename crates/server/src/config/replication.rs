//! `[replication]`: this server's id in CSNs and, on a replica, the provider it follows;
//! on a multi-provider server, the peer providers it follows (`[[replication.providers]]`,
//! `crate::replica`).

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
    /// Multi-provider: the other writable servers this one follows (and which follow it).
    /// Empty: single provider (or a replica of `provider`).
    pub providers: Vec<PeerProvider>,
    /// Multi-provider: password-policy state (failure times, lockout, pwdReset, history,
    /// pwdChangedTime) and pwdLastSuccess replicate like any attribute, so an account
    /// locked on one server is locked on all. `false`: each server keeps its own values of
    /// these attributes (a peer's are ignored).
    pub replicate_ppolicy_state: bool,
    /// Multi-provider: how long the tombstone of a deleted entry is kept, in seconds
    /// (default 7 days, as 389-DS's purge delay; 0: for ever). A peer away for longer
    /// still converges, but an older change of an entry deleted meanwhile can bring it
    /// back (docs/replication.md).
    pub tombstone_lifetime_secs: u64,
}

/// The default tombstone lifetime: 7 days.
pub const DEFAULT_TOMBSTONE_LIFETIME_SECS: u64 = 7 * 24 * 3600;

/// The longest tombstone lifetime accepted (ten years); 0 keeps them for ever.
pub const MAX_TOMBSTONE_LIFETIME_SECS: u64 = 3650 * 24 * 3600;

/// One peer provider of a multi-provider server (`[[replication.providers]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerProvider {
    /// `ldap://host:port` or `ldaps://…`.
    pub url: String,
    /// The DN to bind as (the peer's root DN or one of its `replicators`); unset: anonymous.
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// Its password.
    #[serde(default)]
    pub bind_password: Option<String>,
    /// A file whose first line is the password.
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    /// CA certificates (PEM) for an `ldaps://` peer; unset: the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Where a consumer connects and how it authenticates: the single provider of a replica
/// or one peer of a multi-provider server.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The URL.
    pub url: String,
    /// The bind DN.
    pub bind_dn: Option<String>,
    /// The password.
    pub bind_password: Option<String>,
    /// The password file.
    pub bind_password_file: Option<PathBuf>,
    /// The CA file for ldaps://.
    pub ca_file: Option<PathBuf>,
    /// The replica id in cookies (1-based position in `providers`; 0 for `provider`).
    pub rid: u16,
    /// A peer of a multi-provider server (else the provider of a read-only replica).
    pub peer: bool,
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
            providers: Vec::new(),
            replicate_ppolicy_state: true,
            tombstone_lifetime_secs: DEFAULT_TOMBSTONE_LIFETIME_SECS,
        }
    }
}

impl ReplicationSection {
    /// Whether this server is a read-only replica.
    pub fn is_replica(&self) -> bool {
        self.provider.is_some()
    }

    /// Whether this server is one of several writable providers (`providers` set).
    pub fn is_multi_provider(&self) -> bool {
        !self.providers.is_empty()
    }

    /// The servers this one follows: its provider, or its peers.
    pub fn upstreams(&self) -> Vec<Upstream> {
        if let Some(p) = &self.provider {
            return vec![Upstream {
                url: p.clone(),
                bind_dn: self.bind_dn.clone(),
                bind_password: self.bind_password.clone(),
                bind_password_file: self.bind_password_file.clone(),
                ca_file: self.ca_file.clone(),
                rid: 0,
                peer: false,
            }];
        }
        self.providers
            .iter()
            .enumerate()
            .map(|(i, p)| Upstream {
                url: p.url.clone(),
                bind_dn: p.bind_dn.clone(),
                bind_password: p.bind_password.clone(),
                bind_password_file: p.bind_password_file.clone(),
                ca_file: p.ca_file.clone(),
                rid: u16::try_from(i + 1).unwrap_or(u16::MAX),
                peer: true,
            })
            .collect()
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
        if self.provider.is_some() && !self.providers.is_empty() {
            return Err((
                "replication.providers",
                "a read-only replica (provider) cannot also be a multi-provider server (providers)".into(),
            ));
        }
        for p in &self.providers {
            if !(p.url.starts_with("ldap://") || p.url.starts_with("ldaps://")) {
                return Err(("replication.providers", format!("{:?} is not an ldap:// or ldaps:// URL", p.url)));
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
        if self.tombstone_lifetime_secs > MAX_TOMBSTONE_LIFETIME_SECS {
            return Err((
                "replication.tombstone_lifetime_secs",
                format!(
                    "{} seconds is more than ten years ({MAX_TOMBSTONE_LIFETIME_SECS}); use 0 to keep tombstones for ever",
                    self.tombstone_lifetime_secs
                ),
            ));
        }
        if self.retry_initial_ms == 0 || self.retry_max_ms < self.retry_initial_ms {
            return Err(("replication.retry_initial_ms", "must be > 0 and at most retry_max_ms".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(url: &str) -> PeerProvider {
        PeerProvider { url: url.into(), bind_dn: None, bind_password: None, bind_password_file: None, ca_file: None }
    }

    #[test]
    fn providers_make_a_multi_provider_server_and_exclude_a_single_provider() {
        let mut r = ReplicationSection::default();
        assert!(!r.is_multi_provider() && r.upstreams().is_empty() && r.replicate_ppolicy_state);
        r.providers = vec![peer("ldap://a:389"), peer("ldaps://b")];
        assert!(r.validate().is_ok());
        assert!(r.is_multi_provider() && !r.is_replica());
        let ups = r.upstreams();
        assert_eq!(ups.iter().map(|u| (u.rid, u.peer)).collect::<Vec<_>>(), vec![(1, true), (2, true)]);
        r.providers.push(peer("http://c"));
        assert_eq!(r.validate().map_err(|e| e.0), Err("replication.providers"));
        r.providers.pop();
        r.provider = Some("ldap://p".into());
        assert_eq!(r.validate().map_err(|e| e.0), Err("replication.providers"));
        // A single-provider configuration is unchanged: one upstream, not a peer.
        r.providers.clear();
        assert_eq!(r.upstreams().iter().map(|u| (u.rid, u.peer)).collect::<Vec<_>>(), vec![(0, false)]);
    }

    #[test]
    fn the_tombstone_lifetime_defaults_to_a_week_and_is_bounded() {
        let mut r = ReplicationSection::default();
        assert_eq!(r.tombstone_lifetime_secs, 604_800);
        r.tombstone_lifetime_secs = 0;
        assert!(r.validate().is_ok());
        r.tombstone_lifetime_secs = MAX_TOMBSTONE_LIFETIME_SECS + 1;
        let (key, msg) = r.validate().unwrap_err();
        assert_eq!(key, "replication.tombstone_lifetime_secs");
        assert!(msg.contains("use 0"), "{msg}");
    }
}
