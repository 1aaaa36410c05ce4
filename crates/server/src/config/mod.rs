//! The TOML configuration. Every key has a built-in default, so `birch serve` works with
//! no file at all. See `docs/configuration.md`.
//!
//! This module and its children depend on nothing else in the crate (scripts/check-layers):
//! each section's type is defined here, and the module that uses a section adds its
//! behaviour (e.g. `ppolicy::Policy::from_entry`) and re-exports the type at its own path.

pub mod audit;
pub mod bind_cache;
pub mod connections;
pub mod metrics;
pub mod ppolicy;
pub mod rate_limit;
pub mod replication;
pub mod tls;
pub mod web;

pub use audit::AuditSection;
pub use bind_cache::BindCacheSection;
pub use connections::ConnectionsSection;
pub use metrics::MetricsSection;
pub use ppolicy::Policy;
pub use rate_limit::RateLimitSection;
pub use replication::ReplicationSection;
pub use tls::{ClientCerts, ExternalRule, RequireTls, SecuritySection, TlsSection};
pub use web::WebSection;

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Server configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the plain LDAP listener.
    pub listen: String,
    /// Directory holding the sled database.
    pub data_dir: PathBuf,
    /// The naming context served.
    pub suffix: String,
    /// The root DN (full access); default `cn=admin,<suffix>`.
    pub root_dn: Option<String>,
    /// The root password as an argon2 PHC string (`$argon2id$...`, optionally `{ARGON2}`-prefixed).
    pub root_password_hash: Option<String>,
    /// A file whose first line is the root password in cleartext.
    pub root_password_file: Option<PathBuf>,
    /// Largest accepted request PDU in bytes.
    pub max_pdu_bytes: usize,
    /// Default size limit for searches by anyone but the root DN (0 = none).
    pub size_limit: usize,
    /// Default time limit in seconds for searches by anyone but the root DN (0 = none).
    pub time_limit: u64,
    /// sled page cache size in MiB; default a quarter of the machine's memory, between 256
    /// MiB and 8 GiB ([`default_cache_mb`]).
    pub cache_mb: u64,
    /// Threads that hash and verify passwords (the bounded pool).
    pub hash_threads: usize,
    /// A directory of schema files (`*.schema`, OpenLDAP syntax): the standard files found
    /// there replace the built-in copies, and every other file is loaded after them in name
    /// order. Unset: the built-in schema.
    pub schema_dir: Option<PathBuf>,
    /// `rfc2307` (posixGroup structural, the default) or `rfc2307bis`.
    pub schema_profile: String,
    /// Attribute indexes.
    pub index: IndexSection,
    /// argon2id parameters for newly hashed passwords.
    pub argon2: Argon2Section,
    /// After a successful bind with a legacy hash (`{SSHA}`, `{CRYPT}`, ...), store the
    /// password as argon2id instead.
    pub rehash_on_bind: bool,
    /// Most rehashes (argon2, ~25 ms of a core each) started per second; the rest wait for
    /// the account's next bind. 0: none.
    pub rehash_per_second: f64,
    /// DN of the `pwdPolicy` entry for accounts without a pwdPolicySubentry (OpenLDAP's
    /// `ppolicy_default`); unset or missing: the `[ppolicy]` section.
    pub ppolicy_default: Option<String>,
    /// The built-in default password policy.
    pub ppolicy: Policy,
    /// Failed-bind rate limits.
    pub rate_limit: RateLimitSection,
    /// Successful binds remembered so re-binds skip the slow hash (`[bind_cache]`).
    pub bind_cache: BindCacheSection,
    /// Access control.
    pub access: AccessSection,
    /// Search size limits by kind of requester.
    pub limits: LimitsSection,
    /// The audit log.
    pub audit: AuditSection,
    /// The Prometheus endpoint.
    pub metrics: MetricsSection,
    /// Transport security: certificates, LDAPS, client certificates, SASL EXTERNAL.
    pub tls: TlsSection,
    /// Which operations need a TLS-protected connection.
    pub security: SecuritySection,
    /// Connection and overload limits.
    pub connections: ConnectionsSection,
    /// Log format on standard error: `text` (default) or `json` (one object per line);
    /// the environment variable `BIRCH_LOG_FORMAT` overrides it.
    pub log_format: LogFormat,
    /// Replication: this server's id in CSNs; on a replica, the provider it follows.
    pub replication: ReplicationSection,
    /// The web pages (self-service and helpdesk).
    pub web: WebSection,
}

/// `log_format`: how log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (journald adds its own timestamps).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `[access]`: the rules, or the campus policy's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessSection {
    /// Rules in OpenLDAP olcAccess syntax, in order; unset: the campus policy.
    pub rules: Option<Vec<String>>,
    /// Campus policy: anonymous clients may read POSIX account and group attributes.
    pub anonymous_posix: bool,
    /// Campus policy: attributes owners may change in their own entry (by default loginShell,
    /// displayName, telephoneNumber and shadowLastChange, which pam_ldap and SSSD write after a
    /// password change).
    pub self_service: Vec<String>,
    /// Campus policy: the group that may do everything (default `cn=it-admins,ou=groups,<suffix>`).
    pub admins: Option<String>,
    /// Campus policy: the group that resets passwords and unlocks accounts (default
    /// `cn=helpdesk,ou=groups,<suffix>`).
    pub helpdesk: Option<String>,
    /// Campus policy: the subtree of service accounts (default `ou=services,<suffix>`).
    pub services: Option<String>,
}

impl AccessSection {
    /// The admins group's DN (`admins`, defaulted under the suffix).
    pub fn admins_dn(&self, suffix: &str) -> String {
        self.admins.clone().unwrap_or_else(|| format!("cn=it-admins,ou=groups,{suffix}"))
    }

    /// The helpdesk group's DN (`helpdesk`, defaulted under the suffix).
    pub fn helpdesk_dn(&self, suffix: &str) -> String {
        self.helpdesk.clone().unwrap_or_else(|| format!("cn=helpdesk,ou=groups,{suffix}"))
    }

    /// The service accounts' subtree (`services`, defaulted under the suffix).
    pub fn services_dn(&self, suffix: &str) -> String {
        self.services.clone().unwrap_or_else(|| format!("ou=services,{suffix}"))
    }
}

impl Default for AccessSection {
    fn default() -> Self {
        AccessSection {
            rules: None,
            anonymous_posix: false,
            self_service: vec![
                "loginShell".into(),
                "displayName".into(),
                "telephoneNumber".into(),
                "shadowLastChange".into(),
            ],
            admins: None,
            helpdesk: None,
            services: None,
        }
    }
}

/// `[limits]`: search size and time limits by requester (0 = unlimited). Authenticated
/// users get `size_limit` and `time_limit`; the root DN and the admins group are never
/// limited.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Size limit of anonymous clients.
    pub anonymous: usize,
    /// Size limit of accounts under the services subtree (nslcd/SSSD enumerate every account).
    pub services: usize,
    /// Time limit in seconds of anonymous clients; unset: `time_limit`.
    pub anonymous_time: Option<u64>,
    /// Time limit in seconds of service accounts; unset: `time_limit`.
    pub services_time: Option<u64>,
    /// Most values of one attribute in one write of a user who is not an administrator
    /// (beyond: 11 adminLimitExceeded; 0: no bound).
    pub write_values_per_attribute: usize,
    /// Most values in one write of a user who is not an administrator, all attributes
    /// together (0: no bound).
    pub write_values: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            anonymous: 100,
            services: 0,
            anonymous_time: None,
            services_time: None,
            write_values_per_attribute: 1000,
            write_values: 10_000,
        }
    }
}

/// `[index]`: which attributes are indexed.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexSection {
    /// Equality and presence indexes.
    pub equality: Vec<String>,
    /// Substring (trigram) indexes.
    pub substring: Vec<String>,
    /// Attributes whose values must be unique in the directory (writes that would
    /// duplicate one get constraintViolation); they are equality-indexed too.
    pub unique: Vec<String>,
}

/// `[argon2]`: hashing parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Section {
    /// Memory cost in KiB.
    pub m_cost_kib: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Parallelism.
    pub parallelism: u32,
}

/// The default `rehash_per_second`: a quarter of one core spent on converting legacy hashes.
pub const DEFAULT_REHASH_PER_SECOND: f64 = 10.0;

/// The default page cache: a quarter of the machine's memory (MemTotal in /proc/meminfo),
/// at least 256 MiB and at most 8 GiB; 256 MiB where the memory cannot be read. The cache
/// only holds what has been read, so a small directory does not fill it; a large one needs
/// it (at a million entries, 256 MiB made a uid search read half its pages from disk).
pub fn default_cache_mb() -> u64 {
    const MIN: u64 = 256;
    const MAX: u64 = 8 << 10;
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines().find_map(|l| l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
    });
    total_kib.map_or(MIN, |k| (k / 1024 / 4).clamp(MIN, MAX))
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:3389".into(),
            data_dir: PathBuf::from("./birch-data"),
            suffix: "dc=example,dc=org".into(),
            root_dn: None,
            root_password_hash: None,
            root_password_file: None,
            max_pdu_bytes: 4 << 20,
            size_limit: 500,
            time_limit: 3600,
            cache_mb: default_cache_mb(),
            hash_threads: 2,
            schema_dir: None,
            schema_profile: "rfc2307".into(),
            index: IndexSection::default(),
            argon2: Argon2Section::default(),
            rehash_on_bind: true,
            rehash_per_second: DEFAULT_REHASH_PER_SECOND,
            ppolicy_default: None,
            ppolicy: Policy::default(),
            rate_limit: Default::default(),
            bind_cache: Default::default(),
            access: AccessSection::default(),
            limits: LimitsSection::default(),
            audit: Default::default(),
            metrics: Default::default(),
            tls: TlsSection::default(),
            security: SecuritySection::default(),
            connections: Default::default(),
            log_format: LogFormat::default(),
            replication: Default::default(),
            web: Default::default(),
        }
    }
}

impl Default for IndexSection {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        IndexSection {
            equality: s(&[
                "objectClass",
                "uid",
                "cn",
                "mail",
                "uidNumber",
                "gidNumber",
                "memberUid",
                "member",
                "uniqueMember",
                "memberOf",
            ]),
            substring: s(&["uid", "cn", "mail"]),
            unique: s(&["uid", "uidNumber", "mail"]),
        }
    }
}

impl Default for Argon2Section {
    fn default() -> Self {
        // OWASP's minimum for argon2id (see `password::Argon2Params`).
        Argon2Section { m_cost_kib: 19456, t_cost: 2, parallelism: 1 }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// The file is not valid TOML or has a bad key/value.
    #[error("{path}:{line}:{column}: {message}")]
    Parse { path: String, line: usize, column: usize, message: String },
    /// A value is well-formed but unusable.
    #[error("{path}: {field}: {message}")]
    Invalid { path: String, field: &'static str, message: String },
}

impl Config {
    /// Loads a config file, or the built-in defaults when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        Self::parse(&text, &shown)
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    (line, column)
                })
                .unwrap_or((0, 0));
            ConfigError::Parse { path: origin.to_string(), line, column, message: e.message().to_string() }
        })?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |field, message: String| ConfigError::Invalid { path: origin.to_string(), field, message };
        if let Err((field, message)) = self.replication.validate() {
            return Err(bad(field, message));
        }
        if let Err(e) = self.listen.parse::<std::net::SocketAddr>() {
            return Err(bad("listen", format!("{:?} is not an address:port ({e})", self.listen)));
        }
        match birch_schema::Dn::parse(&self.suffix) {
            Ok(d) if !d.is_root() => {}
            Ok(_) => return Err(bad("suffix", "must not be empty".into())),
            Err(e) => return Err(bad("suffix", e.to_string())),
        }
        if let Some(r) = &self.root_dn {
            birch_schema::Dn::parse(r).map_err(|e| bad("root_dn", e.to_string()))?;
        }
        if let Some(m) = &self.metrics.listen {
            if let Err(e) = m.parse::<std::net::SocketAddr>() {
                return Err(bad("metrics.listen", format!("{m:?} is not an address:port ({e})")));
            }
        }
        if let Some(p) = &self.ppolicy_default {
            birch_schema::Dn::parse(p).map_err(|e| bad("ppolicy_default", e.to_string()))?;
        }
        for (field, dn) in [
            ("access.admins", &self.access.admins),
            ("access.helpdesk", &self.access.helpdesk),
            ("access.services", &self.access.services),
        ] {
            if let Some(dn) = dn {
                birch_schema::Dn::parse(dn).map_err(|e| bad(field, e.to_string()))?;
            }
        }
        for dn in self.ppolicy.lockout_exempt.iter().flatten() {
            birch_schema::Dn::parse(dn).map_err(|e| bad("ppolicy.lockout_exempt", format!("{dn:?}: {e}")))?;
        }
        if self.ppolicy.check_quality > 2 {
            return Err(bad("ppolicy.check_quality", "must be 0, 1 or 2".into()));
        }
        let r = &self.rate_limit;
        let usable = |rate: f64| rate.is_finite() && rate >= 0.0;
        if !usable(r.per_address_per_minute) || !usable(r.per_dn_per_minute) {
            return Err(bad("rate_limit", "rates must be finite and not negative".into()));
        }
        if !(self.rehash_per_second.is_finite() && self.rehash_per_second >= 0.0) {
            return Err(bad("rehash_per_second", "must be a number, 0 or more".into()));
        }
        if self.bind_cache.max_entries > bind_cache::MAX_ENTRIES {
            return Err(bad("bind_cache.max_entries", format!("must be at most {}", bind_cache::MAX_ENTRIES)));
        }
        if self.max_pdu_bytes < 1024 {
            return Err(bad("max_pdu_bytes", "must be at least 1024".into()));
        }
        if self.schema_profile.parse::<birch_schema::Profile>().is_err() {
            return Err(bad("schema_profile", format!("{:?} is not rfc2307 or rfc2307bis", self.schema_profile)));
        }
        if self.hash_threads == 0 {
            return Err(bad("hash_threads", "must be at least 1".into()));
        }
        self.tls.validate().map_err(|(field, message)| bad(field, message))?;
        Ok(())
    }

    /// The schema in force: the built-in files of the profile, or those of `schema_dir`.
    pub fn schema(&self) -> Result<birch_schema::Schema, birch_schema::SchemaError> {
        let profile = self.schema_profile.parse::<birch_schema::Profile>().unwrap_or_default();
        match &self.schema_dir {
            Some(dir) => birch_schema::Schema::load(dir, profile),
            None => Ok(birch_schema::Schema::embedded(profile)),
        }
    }

    /// The root DN, defaulted from the suffix.
    pub fn root_dn(&self) -> String {
        self.root_dn.clone().unwrap_or_else(|| format!("cn=admin,{}", self.suffix))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_default_cache_is_a_bounded_share_of_memory() {
        let mb = default_cache_mb();
        assert!((256..=8192).contains(&mb), "{mb}");
        assert_eq!(Config::default().cache_mb, mb);
        let set: Config = toml::from_str("cache_mb = 64").unwrap();
        assert_eq!(set.cache_mb, 64);
    }

    use super::*;

    #[test]
    fn defaults_are_complete() {
        let c = Config::parse("", "t.toml").unwrap();
        assert_eq!(c.listen, "127.0.0.1:3389");
        assert_eq!(c.root_dn(), "cn=admin,dc=example,dc=org");
    }

    #[test]
    fn tls_sections_parse_and_are_checked() {
        let text = r#"
[tls]
cert_file = "s.crt"
key_file = "s.key"
ca_file = "ca.crt"
ldaps_listen = "127.0.0.1:3636"
client_certs = "optional"
ldaps_client_certs = "required"
[[tls.sasl_external]]
rule = "map"
subject = "CN=a,O=b"
dn = "uid=a,dc=example,dc=org"
[[tls.sasl_external]]
rule = "search"
base = "dc=example,dc=org"
filter = "(&(objectClass=device)(cn={CN}))"
[security]
require_tls = { bind = true, write = true }
"#;
        let c = Config::parse(text, "t.toml").unwrap();
        assert_eq!(c.tls.ldaps_client_certs(), ClientCerts::Required);
        assert_eq!(c.tls.sasl_external.len(), 2);
        assert!(c.security.require_tls.bind && c.security.require_tls.write && !c.security.require_tls.password_modify);
        let bad = |t: &str| Config::parse(t, "t.toml").unwrap_err().to_string();
        assert!(bad("[tls]\ncert_file = \"a\"\n").contains("key_file"));
        assert!(bad("[tls]\nldaps_listen = \"127.0.0.1:1\"\n").contains("tls.ldaps_listen"));
        let certs = "[tls]\ncert_file = \"a\"\nkey_file = \"b\"\n";
        assert!(bad(&format!("{certs}client_certs = \"required\"\n")).contains("tls.ca_file"));
        assert!(bad(&format!("{certs}client_certs = \"sometimes\"\n")).contains("sometimes"));
        let rule = "[[tls.sasl_external]]\nrule = \"search\"\nbase = \"dc=x\"\nfilter = \"(cn={NAME})\"\n";
        assert!(bad(&format!("{certs}{rule}")).contains("unknown placeholder {NAME}"));
        assert!(bad(&format!("{certs}[[tls.sasl_external]]\nrule = \"subject\"\nextra = 1\n")).contains("extra"));
    }

    #[test]
    fn the_packaged_example_parses() {
        let c = Config::parse(include_str!("../../../../packaging/birch.toml.example"), "birch.toml.example").unwrap();
        assert_eq!(c.listen, "0.0.0.0:389");
        assert_eq!(c.connections.max_per_address, 1000);
        assert_eq!(c.limits.anonymous_time, Some(60));
        assert_eq!(c.log_format, LogFormat::Text);
        let c = Config::parse("log_format = \"json\"\n[connections]\nidle_timeout = 0\n", "t.toml").unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.connections.idle(), None);
        assert_eq!(c.connections.max_connections, 10000);
        assert!(Config::parse("[connections]\nmax_conns = 1\n", "t.toml").is_err());
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e =
            Config::parse("listen = \"127.0.0.1:1\"\nsize_limit = \"many\"\n", "birch.toml").unwrap_err().to_string();
        assert!(e.starts_with("birch.toml:2:"), "{e}");
        let e = Config::parse("nonsense = 1\n", "birch.toml").unwrap_err().to_string();
        assert!(e.contains("birch.toml:1:") && e.contains("nonsense"), "{e}");
        let e = Config::parse("suffix = \"not a dn\"\n", "birch.toml").unwrap_err().to_string();
        assert!(e.contains("suffix"), "{e}");
    }
}
