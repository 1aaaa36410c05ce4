//! The web listener: the `[web]` settings checked at start-up, HTTPS with the `[tls]`
//! certificate (plain HTTP only on loopback), and the accept loop. Bounded: at most
//! `max_connections` connections are served at once (more wait in the backlog), a TLS
//! handshake and a request's headers must arrive within 10 s, a whole request within 30 s,
//! and it ends gracefully with the server.

use super::{router, sessions::Sessions, WebState};
use crate::config::Config;
use crate::context::ServerCtx;
use crate::tls::{Listener, TlsInfo};
use anyhow::{bail, Context, Result};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The address `--demo` serves the pages on when `[web] listen` is unset.
pub const DEMO_LISTEN: &str = "127.0.0.1:8389";

/// How long a request's headers may take to arrive.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a whole request (its body and the page's work) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connections get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What each request knows of its connection.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The client's address (rate limits, audit records).
    pub addr: SocketAddr,
    /// What the HTTPS handshake established (`None` on plain HTTP).
    pub tls: Option<TlsInfo>,
}

/// The checked `[web]` settings: where to listen (`None`: no web pages) and whether over
/// HTTPS. Errors name the key. With `demo` and no `listen`, [`DEMO_LISTEN`].
pub fn check(cfg: &Config, demo: bool) -> Result<Option<(SocketAddr, bool)>> {
    let web = &cfg.web;
    let Some(listen) = web.listen.clone().or_else(|| demo.then(|| DEMO_LISTEN.to_string())) else {
        return Ok(None);
    };
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| anyhow::anyhow!("web.listen: {listen:?} is not an address and port such as 127.0.0.1:8389"))?;
    if web.idle_timeout_secs == 0 {
        bail!("web.idle_timeout_secs: must be at least 1 (seconds a web session may go unused)");
    }
    if web.max_sessions == 0 {
        bail!("web.max_sessions: must be at least 1");
    }
    if web.max_connections == 0 {
        bail!("web.max_connections: must be at least 1");
    }
    let https = cfg.tls.enabled();
    if !https && !addr.ip().is_loopback() {
        bail!(
            "web.listen: {addr} is not a loopback address and [tls] has no certificate: the pages would send \
             passwords in cleartext (set tls.cert_file and tls.key_file, or listen on 127.0.0.1)"
        );
    }
    Ok(Some((addr, https)))
}

/// A bound web listener, not yet serving.
pub struct WebListener {
    listener: TcpListener,
    https: bool,
}

impl WebListener {
    /// Binds the checked address.
    pub async fn bind(addr: SocketAddr, https: bool) -> Result<WebListener> {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("web.listen: cannot listen on {addr}"))?;
        Ok(WebListener { listener, https })
    }

    /// The URL of the pages (`https://` or `http://` and the bound address).
    pub fn url(&self) -> Result<String> {
        let addr = self.listener.local_addr()?;
        Ok(format!("{}://{addr}/", if self.https { "https" } else { "http" }))
    }

    /// Serves until `shutdown` is cancelled, then lets requests in flight finish (for at
    /// most 10 s) and returns.
    pub async fn serve(self, ctx: Arc<ServerCtx>, shutdown: CancellationToken) {
        let web = ctx.config().web.clone();
        let state = Arc::new(WebState {
            sessions: Sessions::new(Duration::from_secs(web.idle_timeout_secs), web.max_sessions),
            https: self.https,
            shutdown: shutdown.clone(),
            ctx: ctx.clone(),
        });
        let app = router::router(state.clone());
        let slots = Arc::new(tokio::sync::Semaphore::new(web.max_connections));
        let tracker = TaskTracker::new();
        let mut sweep = tokio::time::interval(Duration::from_secs(60));
        loop {
            let slot = tokio::select! {
                _ = shutdown.cancelled() => break,
                s = slots.clone().acquire_owned() => s,
            };
            let Ok(slot) = slot else { break };
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = sweep.tick() => { state.sessions.sweep(); continue; }
                a = self.listener.accept() => a,
            };
            let (stream, addr) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "web: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let (app, ctx, stop, https) = (app.clone(), ctx.clone(), shutdown.clone(), self.https);
            tracker.spawn(async move {
                let _slot = slot;
                if https {
                    let Some(tls) = ctx.tls().as_ref() else { return };
                    match crate::tls::handshake(tls.acceptor(Listener::Ldaps), stream).await {
                        Ok((s, info)) => serve_http(s, Peer { addr, tls: Some(info) }, app, stop).await,
                        Err(e) => tracing::debug!(peer = %addr, error = %e, "web: TLS handshake failed"),
                    }
                } else {
                    serve_http(stream, Peer { addr, tls: None }, app, stop).await;
                }
            });
        }
        drop(self.listener);
        tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await.is_err() {
            tracing::info!("web: connections still open at shutdown were closed");
        }
    }
}

/// Serves HTTP/1.1 on one connection, each request with its [`Peer`] and a time limit.
async fn serve_http<IO>(io: IO, peer: Peer, app: axum::Router, shutdown: CancellationToken)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let https = peer.tls.is_some();
    let service = hyper::service::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(peer.clone());
        let mut app = app.clone();
        async move {
            let call = tower_service::Service::call(&mut app, req);
            match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
                Ok(r) => r,
                Err(_) => Ok(router::plain(axum::http::StatusCode::REQUEST_TIMEOUT, "request timed out", https)),
            }
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> Config {
        toml::from_str(extra).unwrap()
    }

    #[test]
    fn the_check_names_the_key() {
        assert!(check(&cfg(""), false).unwrap().is_none());
        let (addr, https) = check(&cfg(""), true).unwrap().unwrap();
        assert_eq!((addr.to_string().as_str(), https), (DEMO_LISTEN, false));
        let e = check(&cfg("[web]\nlisten = \"0.0.0.0:8389\""), false).unwrap_err().to_string();
        assert!(e.starts_with("web.listen: 0.0.0.0:8389 is not a loopback address"), "{e}");
        let e = check(&cfg("[web]\nlisten = \"nowhere\""), false).unwrap_err().to_string();
        assert!(e.starts_with("web.listen: \"nowhere\""), "{e}");
        let e = check(&cfg("[web]\nlisten = \"127.0.0.1:1\"\nidle_timeout_secs = 0"), false).unwrap_err().to_string();
        assert!(e.starts_with("web.idle_timeout_secs"), "{e}");
    }
}
