//! The web pages for people and the helpdesk (docs/web.md): log in, change one's password,
//! see and edit one's account, and for the helpdesk and admins a console and the audit
//! view. Server-rendered HTML (askama templates compiled into the binary), no script
//! needed. Every directory operation runs as the logged-in person over an in-process LDAP
//! connection ([`ldap`]), so the access rules, the password policy, the rate limits and the
//! audit log are exactly those of LDAP.
//!
//! Modules: [`listener`] (the `[web]` check, HTTPS, the accept loop and its limits),
//! [`router`] (paths, security headers, body limit), [`sessions`], [`csrf`], [`i18n`],
//! [`page`] (what every page shares), one module per page in [`pages`].

pub mod csrf;
pub mod i18n;
pub mod ldap;
pub mod listener;
pub mod page;
pub mod pages;
pub mod router;
pub mod sessions;

use crate::context::ServerCtx;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub use listener::{check, WebListener};

/// What the handlers share: the server, the sessions, and whether pages go over HTTPS.
pub struct WebState {
    /// The server's shared services.
    pub ctx: Arc<ServerCtx>,
    /// The logged-in people.
    pub sessions: sessions::Sessions,
    /// Whether the listener serves HTTPS (cookies get `Secure`, responses HSTS).
    pub https: bool,
    /// Cancelled when the server stops: the sessions' LDAP connections end with it.
    pub shutdown: CancellationToken,
}
