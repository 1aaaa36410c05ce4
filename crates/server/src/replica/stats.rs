//! Replication figures: the provider's sync searches, the consumer's connection, applied
//! changes and lag. Shown in Prometheus text and under `cn=Replication,cn=Monitor`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Counters of both sides of replication.
#[derive(Debug, Default)]
pub struct ReplicationStats {
    /// Sync searches started (provider).
    pub sync_searches: AtomicU64,
    /// Sync searches running now (provider: consumers refreshing or persisting).
    pub sync_active: AtomicI64,
    /// 1 while the consumer is connected and bound to its provider.
    pub connected: AtomicI64,
    /// Successful connections to the provider.
    pub connects: AtomicU64,
    /// Refresh stages completed.
    pub refreshes: AtomicU64,
    /// Entries applied (added, changed, deleted) from the provider.
    pub applied: AtomicU64,
    /// Lag of the last change applied in the persist stage, in microseconds: from its CSN
    /// (the provider's commit) to its commit here.
    pub lag_micros: AtomicU64,
    /// The newest CSN applied.
    pub last_csn: Mutex<String>,
    /// Per provider or peer followed (multi-provider: one per peer).
    pub peers: Mutex<Vec<std::sync::Arc<PeerStats>>>,
    /// Tombstones kept, as of the last purge pass ([`crate::replica::purge`]).
    pub tombstones: AtomicU64,
    /// The same by the server id of the delete's CSN.
    pub tombstones_by_sid: Mutex<std::collections::BTreeMap<u16, u64>>,
    /// Tombstones purged since start.
    pub tombstones_purged: AtomicU64,
    /// Refreshes of peers whose cookie predates a purged tombstone (provider side).
    pub stale_peer_refreshes: AtomicU64,
}

/// The figures of one link to a provider or peer.
#[derive(Debug, Default)]
pub struct PeerStats {
    /// Its URL (the `peer` label).
    pub url: String,
    /// 1 while connected and bound.
    pub connected: AtomicI64,
    /// When anything last came from it (seconds since the epoch).
    pub last_contact: AtomicU64,
    /// Lag of the last change applied live from it, in microseconds.
    pub lag_micros: AtomicU64,
    /// Changes from it (or local ones) dropped by the conflict rule.
    pub conflicts: AtomicU64,
    /// Changes from it already here (seen through another peer, or its own echo).
    pub duplicates: AtomicU64,
    /// Its server id, once a cookie from it named one (0: not known).
    pub server_id: AtomicU64,
}

impl PeerStats {
    /// Notes that something came from the peer now.
    pub fn contact(&self) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.last_contact.store(now, Ordering::Relaxed);
    }

    /// Records the lag of a change applied live.
    pub fn applied(&self, csn: &str) {
        if let Some(t) = birch_store::csn::time_of(csn) {
            let lag = SystemTime::now().duration_since(t).map_or(0, |d| d.as_micros() as u64);
            self.lag_micros.store(lag, Ordering::Relaxed);
        }
    }
}

/// Counts one running thing in a gauge while alive.
pub struct Gauge<'a>(&'a AtomicI64);

impl<'a> Gauge<'a> {
    /// Adds one to `g` until the guard is dropped.
    pub fn enter(g: &'a AtomicI64) -> Gauge<'a> {
        g.fetch_add(1, Ordering::Relaxed);
        Gauge(g)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ReplicationStats {
    /// Records a count of the tombstones kept, by server id.
    pub fn set_tombstones(&self, by_sid: std::collections::BTreeMap<u16, u64>) {
        self.tombstones.store(by_sid.values().sum(), Ordering::Relaxed);
        *self.tombstones_by_sid.lock().unwrap_or_else(|p| p.into_inner()) = by_sid;
    }

    /// Tombstones kept of deletes made by server `sid` (as of the last count).
    pub fn tombstones_of(&self, sid: u16) -> u64 {
        self.tombstones_by_sid.lock().unwrap_or_else(|p| p.into_inner()).get(&sid).copied().unwrap_or(0)
    }

    /// The figures of the link to `url` (made on first use).
    pub fn peer(&self, url: &str) -> std::sync::Arc<PeerStats> {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = peers.iter().find(|p| p.url == url) {
            return p.clone();
        }
        let p = std::sync::Arc::new(PeerStats { url: url.to_string(), ..PeerStats::default() });
        peers.push(p.clone());
        p
    }

    /// Appends the per-peer figures in Prometheus text (labelled `peer`).
    fn render_peers(&self, out: &mut String) {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if peers.is_empty() {
            return;
        }
        type Figure = fn(&PeerStats) -> String;
        let figures: [(&str, &str, &str, Figure); 4] = [
            (
                "birch_replication_peer_connected",
                "gauge",
                "1 while connected and bound to this provider or peer.",
                |p| p.connected.load(Ordering::Relaxed).to_string(),
            ),
            (
                "birch_replication_peer_lag_seconds",
                "gauge",
                "Origin commit to local commit of the last change received live from this peer.",
                |p| format!("{:.6}", p.lag_micros.load(Ordering::Relaxed) as f64 / 1e6),
            ),
            (
                "birch_replication_peer_last_contact_timestamp_seconds",
                "gauge",
                "When anything last came from this peer.",
                |p| p.last_contact.load(Ordering::Relaxed).to_string(),
            ),
            (
                "birch_replication_conflicts_total",
                "counter",
                "Changes dropped by the multi-provider conflict rule, by the peer they came from.",
                |p| p.conflicts.load(Ordering::Relaxed).to_string(),
            ),
        ];
        for (name, kind, help, f) in figures {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for p in &peers {
                let label = p.url.replace('\\', "\\\\").replace('"', "\\\"");
                let _ = writeln!(out, "{name}{{peer=\"{label}\"}} {}", f(p));
            }
        }
    }

    /// Records an applied change carrying `csn`; `live` (persist stage) also measures its lag.
    pub fn applied(&self, csn: Option<&str>, live: bool) {
        self.applied.fetch_add(1, Ordering::Relaxed);
        let Some(csn) = csn else { return };
        if live {
            if let Some(t) = birch_store::csn::time_of(csn) {
                let lag = SystemTime::now().duration_since(t).map_or(0, |d| d.as_micros() as u64);
                self.lag_micros.store(lag, Ordering::Relaxed);
            }
        }
        let mut last = self.last_csn.lock().unwrap_or_else(|p| p.into_inner());
        if csn > last.as_str() {
            *last = csn.to_string();
        }
    }

    /// Seconds since the epoch of the newest CSN applied (0: none).
    pub fn last_change_secs(&self) -> f64 {
        let last = self.last_csn.lock().unwrap_or_else(|p| p.into_inner()).clone();
        birch_store::csn::time_of(&last)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64())
    }

    /// The figures as (Prometheus name, type, help, value, cn=Monitor name). cn=Monitor
    /// counters are integers: the lag there is in microseconds, times in whole seconds.
    pub fn figures(&self) -> Vec<(&'static str, &'static str, &'static str, String, &'static str)> {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        vec![
            (
                "birch_sync_searches_total",
                "counter",
                "Sync searches started by consumers.",
                l(&self.sync_searches),
                "cn=Sync Searches",
            ),
            (
                "birch_sync_consumers",
                "gauge",
                "Sync searches running (consumers refreshing or persisting).",
                self.sync_active.load(Ordering::Relaxed).max(0).to_string(),
                "cn=Sync Consumers",
            ),
            (
                "birch_replication_connected",
                "gauge",
                "1 while this replica is connected to its provider.",
                self.connected.load(Ordering::Relaxed).to_string(),
                "cn=Connected",
            ),
            (
                "birch_replication_connects_total",
                "counter",
                "Connections of this replica to its provider.",
                l(&self.connects),
                "cn=Connects",
            ),
            (
                "birch_replication_refreshes_total",
                "counter",
                "Refresh stages this replica completed.",
                l(&self.refreshes),
                "cn=Refreshes",
            ),
            (
                "birch_replication_applied_total",
                "counter",
                "Entries this replica applied from its provider.",
                l(&self.applied),
                "cn=Applied",
            ),
            (
                "birch_replication_lag_seconds",
                "gauge",
                "Provider commit to replica commit of the last change received live.",
                format!("{:.6}", self.lag_micros.load(Ordering::Relaxed) as f64 / 1e6),
                "cn=Lag Seconds",
            ),
            (
                "birch_replication_last_change_timestamp_seconds",
                "gauge",
                "Time (CSN) of the newest change this replica applied.",
                format!("{:.6}", self.last_change_secs()),
                "cn=Last Change",
            ),
            (
                "birch_replication_tombstones",
                "gauge",
                "Tombstones of deleted entries kept (multi-provider), as of the last purge pass.",
                l(&self.tombstones),
                "cn=Tombstones",
            ),
            (
                "birch_replication_tombstones_purged_total",
                "counter",
                "Tombstones purged after replication.tombstone_lifetime_secs.",
                l(&self.tombstones_purged),
                "cn=Tombstones Purged",
            ),
            (
                "birch_replication_stale_peer_refreshes_total",
                "counter",
                "Refreshes of peers whose cookie predates purged tombstones (a delete they missed may be undone).",
                l(&self.stale_peer_refreshes),
                "cn=Stale Peer Refreshes",
            ),
        ]
    }

    /// The figures as cn=Monitor counters: (RDN, integer value).
    pub fn monitor_counters(&self) -> Vec<(&'static str, String)> {
        self.figures()
            .into_iter()
            .map(|(_, _, _, value, rdn)| match rdn {
                "cn=Lag Seconds" => ("cn=Lag Microseconds", self.lag_micros.load(Ordering::Relaxed).to_string()),
                "cn=Last Change" => (rdn, format!("{}", self.last_change_secs() as u64)),
                _ => (rdn, value),
            })
            .collect()
    }

    /// Appends the Prometheus text of the figures.
    pub fn render(&self, out: &mut String) {
        for (name, kind, help, value, _) in self.figures() {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        self.render_peers(out);
    }
}
