//! Shared server state handed to every session.

use crate::config::Config;
use birch_schema::Schema;
use birch_store::Store;
use std::sync::Arc;

/// Everything an operation handler needs: the services one server shares. Built by
/// [`ServerCtx::new`]; read through its accessors.
pub struct ServerCtx {
    /// The configuration in force.
    config: Config,
    /// Operation counts, latencies, connections (Prometheus and cn=Monitor).
    metrics: Arc<crate::metrics::Metrics>,
    /// The configuration file, re-read by a reload (None: built-in defaults).
    config_path: Option<std::path::PathBuf>,
    /// The directory store.
    store: Store,
    /// The schema.
    schema: Arc<Schema>,
    /// The access policy in force (replaced as a whole on reload).
    access: std::sync::RwLock<Arc<crate::access::Access>>,
    /// Normalized root DN.
    root_ndn: String,
    /// Normalized suffix.
    suffix_ndn: String,
    /// The root password hash (PHC or `{SCHEME}` form).
    root_hash: Vec<u8>,
    /// The write pipeline (and through it the password service): every change goes
    /// through it.
    writer: crate::write::Writer,
    /// Failed-bind rate limits per address and per DN.
    limiter: crate::ppolicy::ratelimit::FailureLimiter,
    /// Recent successful binds against slow hashes (`[bind_cache]`).
    bind_cache: crate::bind_cache::BindCache,
    /// TLS (StartTLS and LDAPS), when `[tls]` names a certificate.
    tls: Option<crate::tls::Tls>,
    /// The bounded work queue (`connections.max_pending_ops`).
    work_queue: crate::limits::WorkQueue,
    /// Persistent searches and parked paged searches, bounded apart from the work queue.
    budgets: crate::limits::Budgets,
    /// Searches' attribute lists parsed against the schema, by list ([`ServerCtx::selection`]).
    selections: crate::memo::Memo<Vec<String>, Arc<crate::query::attrs::Selection>>,
    /// Normalized DNs by the DN as sent ([`ServerCtx::normalized_dn`]).
    normalized_dns: crate::memo::Memo<String, Arc<str>>,
}

/// Most distinct attribute lists or DNs the request memos of [`ServerCtx`] remember (then
/// they start over).
pub const REQUEST_MEMO_ENTRIES: usize = 1024;

impl ServerCtx {
    /// The context of a server over `store` with `cfg`: the access policy compiled, the
    /// password service and the write pipeline set up, fresh metrics and memos.
    pub fn new(
        cfg: Config,
        config_path: Option<std::path::PathBuf>,
        store: Store,
        access: Arc<crate::access::Access>,
        root_hash: Vec<u8>,
        tls: Option<crate::tls::Tls>,
    ) -> Result<ServerCtx, birch_schema::DnError> {
        let schema = Arc::new(store.schema().clone());
        let root_ndn = birch_schema::Dn::parse(&cfg.root_dn())?.normalize(&schema);
        let suffix_ndn = birch_schema::Dn::parse(&cfg.suffix)?.normalize(&schema);
        let metrics: Arc<crate::metrics::Metrics> = Default::default();
        let passwords =
            Arc::new(crate::passwords::Passwords::new(cfg.argon2_params(), cfg.hash_threads, metrics.clone()));
        let writer = crate::write::Writer::new(
            store.clone(),
            passwords,
            crate::write::WriterConfig::from_config(&cfg, &suffix_ndn),
        );
        Ok(ServerCtx {
            limiter: crate::ppolicy::ratelimit::FailureLimiter::new(&cfg.rate_limit),
            bind_cache: crate::bind_cache::BindCache::new(&cfg.bind_cache),
            selections: crate::memo::Memo::new(REQUEST_MEMO_ENTRIES),
            normalized_dns: crate::memo::Memo::new(REQUEST_MEMO_ENTRIES),
            work_queue: crate::limits::WorkQueue::new(cfg.connections.max_pending_ops),
            budgets: crate::limits::Budgets::new(&cfg.connections),
            writer,
            store,
            schema,
            access: std::sync::RwLock::new(access),
            root_ndn,
            suffix_ndn,
            root_hash,
            tls,
            config_path,
            metrics,
            config: cfg,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Operation counts, latencies, connections (Prometheus and cn=Monitor).
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// The configuration file, re-read by a reload (None: built-in defaults).
    pub fn config_path(&self) -> &Option<std::path::PathBuf> {
        &self.config_path
    }

    /// The directory store (reads; writes go through [`ServerCtx::writer`]).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The schema.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The normalized root DN.
    pub fn root_ndn(&self) -> &str {
        &self.root_ndn
    }

    /// The normalized suffix.
    pub fn suffix_ndn(&self) -> &str {
        &self.suffix_ndn
    }

    /// The root password hash (PHC or `{SCHEME}` form).
    pub fn root_hash(&self) -> &[u8] {
        &self.root_hash
    }

    /// Recent successful binds against slow hashes (`crate::bind_cache`).
    pub fn bind_cache(&self) -> &crate::bind_cache::BindCache {
        &self.bind_cache
    }

    /// The write pipeline (and through it the password service).
    pub fn writer(&self) -> &crate::write::Writer {
        &self.writer
    }

    /// Failed-bind rate limits per address and per DN.
    pub fn limiter(&self) -> &crate::ppolicy::ratelimit::FailureLimiter {
        &self.limiter
    }

    /// TLS (StartTLS and LDAPS), when `[tls]` names a certificate.
    pub fn tls(&self) -> &Option<crate::tls::Tls> {
        &self.tls
    }

    /// The bounded work queue (`connections.max_pending_ops`).
    pub fn work_queue(&self) -> &crate::limits::WorkQueue {
        &self.work_queue
    }

    /// Persistent searches and parked paged searches, bounded apart from the work queue.
    pub fn budgets(&self) -> &crate::limits::Budgets {
        &self.budgets
    }

    /// Replaces the access policy as a whole (a reload).
    pub fn set_access(&self, access: Arc<crate::access::Access>) {
        *self.access.write().unwrap_or_else(|p| p.into_inner()) = access;
    }

    /// The access policy in force.
    pub fn access(&self) -> Arc<crate::access::Access> {
        self.access.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The attribute selection of a search's attribute list (parsed once per distinct list).
    pub fn selection(&self, attrs: &[String]) -> Arc<crate::query::attrs::Selection> {
        let make = || Arc::new(crate::query::attrs::Selection::new(attrs, &self.schema));
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
}
