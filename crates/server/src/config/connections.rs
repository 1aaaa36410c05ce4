//! `[connections]`: connection and overload limits (enforced by `crate::limits`).

use serde::Deserialize;
use std::time::Duration;

/// `[connections]`: connection and operation limits. 0 turns a limit off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionsSection {
    /// Open connections the server accepts in total; more are refused.
    pub max_connections: usize,
    /// Open connections one source address may hold.
    pub max_per_address: usize,
    /// Seconds a connection may go without a request while no operation is outstanding
    /// (a partial request does not count as one); then it is closed.
    pub idle_timeout: u64,
    /// Seconds a response may wait to be written because the client does not read; then
    /// the connection is closed.
    pub write_timeout: u64,
    /// Operations one connection may have outstanding; more are answered busy (51).
    pub max_ops_per_connection: usize,
    /// Operations outstanding in the whole server (the work queue); more are answered
    /// busy (51). Persistent searches do not count here (see `max_persistent`).
    pub max_pending_ops: usize,
    /// Persistent searches (refreshAndPersist sync searches, RFC 4533) running in the whole
    /// server; more are answered busy (51).
    pub max_persistent: usize,
    /// Persistent searches of anonymous clients in the whole server; more are answered
    /// busy (51).
    pub max_persistent_anonymous: usize,
    /// Persistent searches one connection may run; more are answered busy (51).
    pub max_persistent_per_connection: usize,
    /// Largest request PDU in bytes before a successful bind (slapd's
    /// `sockbuf_max_incoming`); larger ones close the connection. Capped by `max_pdu_bytes`,
    /// which applies after a bind.
    pub anonymous_max_pdu_bytes: usize,
    /// Seconds a request may take to arrive whole once its first bytes came in; then the
    /// connection is closed.
    pub request_timeout: u64,
    /// Bytes the parked paged searches (RFC 2696) of one connection may hold; beyond it the
    /// oldest is dropped.
    pub max_paged_bytes_per_connection: usize,
    /// Bytes the parked paged searches of all connections may hold; beyond it the oldest
    /// in the server is dropped.
    pub max_paged_bytes: usize,
}

impl Default for ConnectionsSection {
    fn default() -> Self {
        ConnectionsSection {
            max_connections: 10000,
            max_per_address: 2000,
            idle_timeout: 900,
            write_timeout: 60,
            max_ops_per_connection: 64,
            max_pending_ops: 2048,
            max_persistent: 128,
            max_persistent_anonymous: 8,
            max_persistent_per_connection: 8,
            anonymous_max_pdu_bytes: 262_143,
            request_timeout: 10,
            max_paged_bytes_per_connection: 8 << 20,
            max_paged_bytes: 128 << 20,
        }
    }
}

impl ConnectionsSection {
    /// The idle timeout, `None` when off.
    pub fn idle(&self) -> Option<Duration> {
        (self.idle_timeout > 0).then(|| Duration::from_secs(self.idle_timeout))
    }

    /// The write timeout, `None` when off.
    pub fn write(&self) -> Option<Duration> {
        (self.write_timeout > 0).then(|| Duration::from_secs(self.write_timeout))
    }

    /// The time a request may take to arrive, `None` when off.
    pub fn request(&self) -> Option<Duration> {
        (self.request_timeout > 0).then(|| Duration::from_secs(self.request_timeout))
    }

    /// The largest request before a bind, given the largest one after (`max_pdu_bytes`).
    pub fn anonymous_max_pdu(&self, max_pdu: usize) -> usize {
        match self.anonymous_max_pdu_bytes {
            0 => max_pdu,
            n => n.min(max_pdu),
        }
    }
}
