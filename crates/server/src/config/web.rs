//! `[web]`: the web pages for people and the helpdesk (served by `crate::web`).

use serde::Deserialize;

/// `[web]`: the web listener and its sessions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSection {
    /// Address of the web listener (unset: none, except with `--demo`). HTTPS with the
    /// `[tls]` certificate when there is one; plain HTTP only on a loopback address.
    pub listen: Option<String>,
    /// Seconds a web session may go unused before it ends (a new login is needed).
    pub idle_timeout_secs: u64,
    /// Web sessions held at once; a login beyond it ends the session unused longest.
    pub max_sessions: usize,
    /// HTTP connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for WebSection {
    fn default() -> Self {
        WebSection { listen: None, idle_timeout_secs: 900, max_sessions: 10_000, max_connections: 512 }
    }
}
