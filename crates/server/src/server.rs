//! Server start-up, the accept loop and graceful shutdown.

use crate::config::Config;
use crate::context::ServerCtx;
use crate::tls::{Listener, Tls};
use crate::{demo, offline, session, startup};
use anyhow::{Context, Result};
use birch_schema::Dn;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Environment variable that may carry the root password in cleartext.
pub const ENV_ROOT_PASSWORD: &str = startup::root_password::ENV_ROOT_PASSWORD;

/// Runs the server until SIGINT/SIGTERM.
pub async fn run(cfg: Config, config_path: Option<std::path::PathBuf>, load_demo: bool) -> Result<()> {
    // One descriptor per client: take the hard limit, not the usual soft 1024.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open file limit"),
    }
    // Everything the configuration names is checked before anything is created: a mistake
    // must not leave a new store and a generated root password behind. Certificates, the
    // schema, the access rules, the root password given, the audit log's directory.
    let tls = Tls::load(&cfg.tls)?;
    let schema = Arc::new(cfg.schema()?);
    let access = crate::access::Access::compile(&cfg, &schema).context("access.rules")?;
    let root_given = startup::root_password::Given::read(&cfg)?;
    startup::check_paths(&cfg)?;
    let web = crate::web::check(&cfg, load_demo)?;
    // Handle SIGHUP before anything can send it (its default action ends the process), and
    // SIGTERM/SIGINT too: one that arrives while the store opens stops the server cleanly
    // once it serves (the listeners answer before then).
    let hangups = hangup_signal()?;
    let stops = StopSignals::register();
    let store = offline::open_store_with_schema(&cfg, schema, cfg.cache_mb << 20)?;
    // The listeners before the root password: a port in use stops the start before a
    // password is generated. The plain listener last: once it answers, every listener is up
    // (connections wait in its backlog until the suffix entry and the demo are loaded).
    let metrics = match &cfg.metrics.listen {
        Some(addr) => {
            Some(TcpListener::bind(addr).await.with_context(|| format!("metrics.listen: cannot listen on {addr}"))?)
        }
        None => None,
    };
    let ldaps = match &cfg.tls.ldaps_listen {
        Some(addr) => {
            Some(TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (tls.ldaps_listen)"))?)
        }
        None => None,
    };
    let web = match web {
        Some((addr, https)) => match crate::web::WebListener::bind(addr, https).await {
            Ok(w) => Some(w),
            // --demo's own address may be taken (another demo): the demo goes on without
            // its web pages. A configured address must be free.
            Err(e) if cfg.web.listen.is_none() => {
                tracing::warn!(error = %format!("{e:#}"), "--demo: no web pages");
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    let listener = TcpListener::bind(&cfg.listen).await.with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let root_hash = startup::root_password::settle(&store, &cfg, root_given)?;
    if let Some(path) = cfg.audit.path(&cfg.data_dir) {
        let log = crate::audit::AuditLog::open(&path, &cfg.audit)
            .with_context(|| format!("audit.file: cannot open {}", path.display()))?;
        crate::audit::install(Arc::new(log));
    }
    let admissions = crate::limits::ConnectionLimiter::new(&cfg.connections);
    let ctx = Arc::new(ServerCtx::new(cfg, config_path, store.clone(), Arc::new(access), root_hash, tls)?);
    ensure_suffix(&ctx).await?;
    if load_demo {
        load_demo_data(&ctx).await?;
    }
    store.flush()?;
    let local = listener.local_addr()?;
    // No entry count here: counting reads the whole store (seconds at a million entries).
    tracing::info!(listen = %local, suffix = %ctx.config().suffix, "birch is serving");
    if let Some(l) = &ldaps {
        let addr = l.local_addr()?;
        tracing::info!(listen = %addr, "LDAPS listener");
        eprintln!("birch listening on ldaps://{addr}/");
    }
    let pid_file = PidFile::create(&ctx.config().data_dir);
    if let Some(h) = hangups {
        tokio::spawn(reload_on_hangup(h, ctx.clone()));
    }
    #[cfg(unix)]
    let admin_socket = crate::backup::AdminSocket::start(ctx.clone());
    // Printed once everything a client or an operator's command may ask for is up (the pid
    // file and the admin socket too): scripts and the tests wait for this line.
    eprintln!("birch listening on ldap://{local}/ (suffix {})", ctx.config().suffix);

    let shutdown = CancellationToken::new();
    if let Some(l) = metrics {
        tracing::info!(listen = %l.local_addr()?, "metrics endpoint (GET /metrics)");
        tokio::spawn(crate::metrics::serve(l, ctx.clone(), shutdown.clone()));
    }
    #[cfg(unix)]
    tokio::spawn(crate::recovery::watch(ctx.clone(), shutdown.clone()));
    let follows = ctx.config().replication.is_replica() || ctx.config().replication.is_multi_provider();
    let consumer = follows.then(|| tokio::spawn(crate::replica::consumer::run(ctx.clone(), shutdown.clone())));
    if !ctx.config().replication.is_replica() {
        tokio::spawn(crate::replica::purge::run(ctx.clone(), shutdown.clone()));
    }
    // The web pages (crate::web): their line is printed once they serve, after the LDAP
    // line (scripts and tests wait for "birch web listening on ").
    let web = match web {
        Some(w) => {
            let url = w.url()?;
            let task = tokio::spawn(w.serve(ctx.clone(), shutdown.clone()));
            tracing::info!(%url, "web pages");
            eprintln!("birch web listening on {url}");
            Some(task)
        }
        None => None,
    };
    let connections = TaskTracker::new();
    let signal = stops.recv();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal => break,
            accepted = accept(&listener, &ldaps) => match accepted {
                Ok((stream, peer, kind)) => match admissions.admit(peer.ip()) {
                    Ok(admission) => {
                        let serve = session::serve_connection(stream, peer, ctx.clone(), shutdown.child_token(), kind);
                        connections.spawn(async move {
                            if let Err(panic) = crate::panics::contain(serve).await {
                                tracing::error!(%peer, panic, "connection panicked; closed");
                            }
                            drop(admission);
                        });
                    }
                    Err(refusal) => {
                        tracing::warn!(%peer, reason = refusal.message(), open = admissions.open(), "connection refused");
                        connections.spawn(session::refuse_connection(stream, kind, refusal.message()));
                    }
                },
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
    tracing::info!("shutting down: no new connections, finishing operations in flight");
    drop(listener);
    drop(ldaps);
    shutdown.cancel();
    if let Some(w) = web {
        let _ = w.await;
    }
    connections.close();
    connections.wait().await;
    if let Some(c) = consumer {
        let _ = c.await;
    }
    // Rehashes still running and last-bind times still queued (crate::write::rehash,
    // crate::write::lastbind) are written before the end.
    ctx.writer().flush_after_binds().await;
    store.flush()?;
    #[cfg(unix)]
    drop(admin_socket);
    drop(pid_file);
    tracing::info!("store flushed; bye");
    Ok(())
}

/// Accepts from the plain listener or, when there is one, the LDAPS listener.
async fn accept(
    plain: &TcpListener,
    ldaps: &Option<TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr, Listener)> {
    let secure = async {
        match ldaps {
            Some(l) => l.accept().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = plain.accept() => r.map(|(s, a)| (s, a, Listener::Ldap)),
        r = secure => r.map(|(s, a)| (s, a, Listener::Ldaps)),
    }
}

/// The SIGHUP stream (`None` where there are no signals).
#[cfg(unix)]
fn hangup_signal() -> Result<Option<tokio::signal::unix::Signal>> {
    use tokio::signal::unix::{signal, SignalKind};
    Ok(Some(signal(SignalKind::hangup()).context("cannot handle SIGHUP")?))
}

#[cfg(not(unix))]
fn hangup_signal() -> Result<Option<()>> {
    Ok(None)
}

/// Reloads the TLS certificate and key and the access rules on every SIGHUP (`birch
/// reload`); whatever fails to load is kept as it was, with a warning saying why.
#[cfg(unix)]
async fn reload_on_hangup(mut hangups: tokio::signal::unix::Signal, ctx: Arc<ServerCtx>) {
    while hangups.recv().await.is_some() {
        reload_access(&ctx);
        if let Some(log) = crate::audit::installed() {
            if let Err(e) = log.reopen() {
                tracing::warn!(error = %e, "cannot reopen the audit log");
            }
        }
        match &ctx.tls() {
            None => tracing::info!("SIGHUP: no TLS configured, no certificate to reload"),
            Some(tls) => match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: reloaded the TLS certificate and key"),
                Err(e) => tracing::warn!(error = %e, "TLS reload failed; keeping the certificate in use"),
            },
        }
    }
}

/// Re-reads the configuration file and swaps in its access rules (only those: other
/// settings need a restart).
#[cfg(unix)]
fn reload_access(ctx: &ServerCtx) {
    let loaded = Config::load(ctx.config_path().as_deref()).map_err(anyhow::Error::from).and_then(|mut cfg| {
        // The rules are compiled for the suffix in force.
        cfg.suffix.clone_from(&ctx.config().suffix);
        crate::access::Access::compile(&cfg, ctx.schema()).map_err(anyhow::Error::from)
    });
    match loaded {
        Ok(access) => {
            ctx.set_access(Arc::new(access));
            ctx.bind_cache().clear();
            tracing::info!("SIGHUP: reloaded the access rules");
        }
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "access rules not reloaded; keeping the rules in force"),
    }
}

#[cfg(not(unix))]
async fn reload_on_hangup(_: (), _: Arc<ServerCtx>) {}

/// `birch.pid` in the data directory while the server runs, for `birch reload`.
struct PidFile(Option<std::path::PathBuf>);

/// Name of the pid file inside the data directory.
pub const PID_FILE: &str = startup::data_dir::PID_FILE;

impl PidFile {
    fn create(data_dir: &std::path::Path) -> PidFile {
        let path = data_dir.join(PID_FILE);
        match std::fs::write(&path, format!("{}\n", std::process::id())) {
            Ok(()) => PidFile(Some(path)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the pid file; `birch reload` will not find this server");
                PidFile(None)
            }
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// `birch reload`: sends SIGHUP to the server whose pid file is in the data directory.
#[cfg(unix)]
pub fn signal_reload(cfg: &Config) -> Result<()> {
    let path = cfg.data_dir.join(PID_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("{}: no running server found (is `birch serve` running with this config?)", path.display())
    })?;
    let pid: i32 = text.trim().parse().with_context(|| format!("{}: not a process id", path.display()))?;
    let pid = rustix::process::Pid::from_raw(pid).with_context(|| format!("{}: not a process id", path.display()))?;
    rustix::process::kill_process(pid, rustix::process::Signal::HUP)
        .with_context(|| format!("cannot signal process {} from {}", pid.as_raw_nonzero(), path.display()))?;
    eprintln!(
        "birch: asked the server (pid {}) to reload the access rules ([access] of its configuration file) and \
         its TLS certificate and key, and to reopen its audit log; other settings need a restart. The server's \
         log says what was reloaded, and why anything was kept as it was.",
        pid.as_raw_nonzero()
    );
    Ok(())
}

#[cfg(not(unix))]
pub fn signal_reload(_: &Config) -> Result<()> {
    anyhow::bail!("`birch reload` needs a Unix system")
}

/// SIGTERM and SIGINT, registered when made: the signals that stop the server.
struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn register() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            StopSignals { term: signal(SignalKind::terminate()).ok(), int: signal(SignalKind::interrupt()).ok() }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// Waits for one of them (received since they were registered).
    async fn recv(mut self) {
        #[cfg(unix)]
        {
            let term = async {
                match &mut self.term {
                    Some(t) => t.recv().await,
                    None => std::future::pending().await,
                }
            };
            let int = async {
                match &mut self.int {
                    Some(i) => i.recv().await,
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                        Some(())
                    }
                }
            };
            tokio::select! {
                _ = term => {}
                _ = int => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Creates the suffix entry when the store has none, as a placeholder that an LDAP add of
/// the suffix entry replaces while nothing was written to or below it
/// (`write::placeholder`); records the suffix in the store.
async fn ensure_suffix(ctx: &ServerCtx) -> Result<()> {
    let suffix = &ctx.config().suffix;
    if ctx.store().id_of(ctx.suffix_ndn())?.is_none() {
        let attrs = demo::suffix_attrs(&Dn::parse(suffix).context("suffix")?, ctx.schema());
        load(ctx, vec![(suffix.clone(), attrs)]).await?;
        crate::write::placeholder::mark(ctx.store(), ctx.suffix_ndn())?;
        tracing::info!(%suffix, "created the suffix entry");
    }
    startup::suffix::record(ctx.store(), suffix)
}

/// Loads the demo campus (once: not when `ou=people` exists).
async fn load_demo_data(ctx: &ServerCtx) -> Result<()> {
    if ctx.store().id_of(&format!("ou=people,{}", ctx.suffix_ndn()))?.is_some() {
        return Ok(());
    }
    load(ctx, demo::records(&ctx.config().suffix)?).await?;
    tracing::info!("loaded the demo campus");
    Ok(())
}

/// Loads records through the write pipeline's loader.
async fn load(ctx: &ServerCtx, records: Vec<demo::AddRecord>) -> Result<()> {
    ctx.writer().load(records).await.map_err(|(dn, e)| anyhow::anyhow!("loading {dn:?}: {e}"))
}
