//! Server metrics: operations by kind and result code with latency histograms, connections,
//! failed binds, the hashing pool's queue, and the store's size. Served as Prometheus text on
//! an optional HTTP listener (`[metrics] listen`) and as the `cn=Monitor` subtree over LDAP
//! ([`crate::ops::monitor`]).
//!
//! The figures are kept here rather than in the `prometheus-client` crate because cn=Monitor
//! reads them back, which that crate's metric families do not allow; the text format is a
//! few lines of `name{labels} value`.

pub use crate::config::metrics::MetricsSection;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0];

#[derive(Debug, Clone, Default)]
struct OpStats {
    count: u64,
    sum_secs: f64,
    /// Cumulative counts per bucket.
    buckets: [u64; BUCKETS.len()],
}

/// Store failures answered with `other` since start (any process-wide store).
pub static STORE_ERRORS: AtomicU64 = AtomicU64::new(0);

/// The server's counters.
#[derive(Debug)]
pub struct Metrics {
    ops: Mutex<BTreeMap<(&'static str, i32), OpStats>>,
    initiated: Mutex<BTreeMap<&'static str, u64>>,
    /// Open connections.
    pub connections: AtomicI64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Failed binds since start.
    pub bind_failures: AtomicU64,
    /// Verifications waiting for the hashing pool.
    pub hash_waiting: AtomicI64,
    /// Passwords hashed for writes (argon2id) since start.
    pub password_hashes: AtomicU64,
    /// Binds whose slow verification a remembered one replaced (`crate::bind_cache`).
    pub bind_cache_hits: AtomicU64,
    /// Replication (provider and consumer).
    pub replication: crate::replica::stats::ReplicationStats,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            ops: Mutex::default(),
            initiated: Mutex::default(),
            connections: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            bind_failures: AtomicU64::new(0),
            hash_waiting: AtomicI64::new(0),
            password_hashes: AtomicU64::new(0),
            bind_cache_hits: AtomicU64::new(0),
            replication: Default::default(),
            started: Instant::now(),
        }
    }
}

/// A counted open connection: counts it while alive.
pub struct ConnectionGuard(std::sync::Arc<Metrics>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What cn=Monitor shows of one kind of operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpCounts {
    /// Operation kind (`bind`, `search`, ...).
    pub op: &'static str,
    /// Started.
    pub initiated: u64,
    /// Finished (any result).
    pub completed: u64,
}

impl Metrics {
    /// Counts a new connection until the guard is dropped.
    pub fn connection(self: &std::sync::Arc<Self>) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.clone())
    }

    /// Counts an operation that starts.
    pub fn started(&self, op: &'static str) {
        *self.initiated.lock().unwrap_or_else(|p| p.into_inner()).entry(op).or_default() += 1;
    }

    /// Records a finished operation.
    pub fn finished(&self, op: &'static str, code: i32, took: Duration) {
        let secs = took.as_secs_f64();
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        let s = ops.entry((op, code)).or_default();
        s.count += 1;
        s.sum_secs += secs;
        for (b, le) in s.buckets.iter_mut().zip(BUCKETS) {
            if secs <= le {
                *b += 1;
            }
        }
    }

    /// Per kind of operation: initiated and completed counts.
    pub fn op_counts(&self) -> Vec<OpCounts> {
        let initiated = self.initiated.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        initiated
            .into_iter()
            .map(|(op, n)| OpCounts {
                op,
                initiated: n,
                completed: ops.iter().filter(|((o, _), _)| *o == op).map(|(_, s)| s.count).sum(),
            })
            .collect()
    }

    /// Seconds since the server started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The Prometheus text exposition of every metric; `entries` is the store's size.
    pub fn render(&self, entries: usize) -> String {
        let mut out = String::new();
        let ops = self.ops.lock().unwrap_or_else(|p| p.into_inner()).clone();
        out.push_str("# HELP birch_operations_total LDAP operations finished, by operation and result code.\n");
        out.push_str("# TYPE birch_operations_total counter\n");
        for ((op, code), s) in &ops {
            let _ = writeln!(out, "birch_operations_total{{op=\"{op}\",result=\"{code}\"}} {}", s.count);
        }
        out.push_str("# HELP birch_operation_duration_seconds Time to answer an operation.\n");
        out.push_str("# TYPE birch_operation_duration_seconds histogram\n");
        let mut by_op: BTreeMap<&str, OpStats> = BTreeMap::new();
        for ((op, _), s) in &ops {
            let t = by_op.entry(op).or_default();
            t.count += s.count;
            t.sum_secs += s.sum_secs;
            for (a, b) in t.buckets.iter_mut().zip(s.buckets) {
                *a += b;
            }
        }
        for (op, s) in &by_op {
            for (le, n) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(out, "birch_operation_duration_seconds_bucket{{op=\"{op}\",le=\"{le}\"}} {n}");
            }
            let _ = writeln!(out, "birch_operation_duration_seconds_bucket{{op=\"{op}\",le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(out, "birch_operation_duration_seconds_sum{{op=\"{op}\"}} {}", s.sum_secs);
            let _ = writeln!(out, "birch_operation_duration_seconds_count{{op=\"{op}\"}} {}", s.count);
        }
        let gauges: [(&str, &str, &str, String); 10] = [
            (
                "birch_connections",
                "gauge",
                "Open client connections.",
                self.connections.load(Ordering::Relaxed).to_string(),
            ),
            (
                "birch_connections_total",
                "counter",
                "Client connections accepted.",
                self.connections_total.load(Ordering::Relaxed).to_string(),
            ),
            (
                "birch_bind_failures_total",
                "counter",
                "Failed binds.",
                self.bind_failures.load(Ordering::Relaxed).to_string(),
            ),
            (
                "birch_hash_queue",
                "gauge",
                "Password verifications waiting for the hashing pool.",
                self.hash_waiting.load(Ordering::Relaxed).max(0).to_string(),
            ),
            (
                "birch_password_hashes_total",
                "counter",
                "Passwords hashed for writes (argon2id).",
                self.password_hashes.load(Ordering::Relaxed).to_string(),
            ),
            (
                "birch_bind_cache_hits_total",
                "counter",
                "Binds answered from a remembered verification instead of a slow hash.",
                self.bind_cache_hits.load(Ordering::Relaxed).to_string(),
            ),
            (
                "birch_panics_total",
                "counter",
                "Panics caught (each ended one connection or operation); expected to stay 0.",
                crate::panics::COUNT.load(Ordering::Relaxed).to_string(),
            ),
            (
                "birch_store_errors_total",
                "counter",
                "Operations the store failed (answered with result 80, other).",
                STORE_ERRORS.load(Ordering::Relaxed).to_string(),
            ),
            ("birch_entries", "gauge", "Entries in the directory.", entries.to_string()),
            ("birch_uptime_seconds", "gauge", "Seconds since the server started.", self.uptime().as_secs().to_string()),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        self.replication.render(&mut out);
        out
    }
}

/// Serves `GET /metrics` on `listen` until the server stops. Hand-written: one fixed GET
/// endpoint does not need an HTTP framework; requests are bounded in size and time.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ctx: std::sync::Arc<crate::context::ServerCtx>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let (mut stream, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => match a {
                Ok(s) => s,
                Err(_) => continue,
            },
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while len < buf.len() {
                    match stream.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => len += n,
                    }
                    if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let request = String::from_utf8_lossy(&buf[..len]);
            let (status, body) = if request.starts_with("GET /metrics ") || request.starts_with("GET /metrics\r") {
                let mut text = ctx.metrics().render(ctx.store().len());
                let failed = u8::from(ctx.store().has_failed());
                let _ = writeln!(
                    text,
                    "# HELP birch_store_failed 1 when a storage failure made the store refuse writes until a restart.\n# TYPE birch_store_failed gauge\nbirch_store_failed {failed}"
                );
                ("200 OK", text)
            } else {
                ("404 Not Found", "not found\n".to_string())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_histograms() {
        let m = std::sync::Arc::new(Metrics::default());
        m.started("search");
        m.finished("search", 0, Duration::from_micros(300));
        m.started("bind");
        m.finished("bind", 49, Duration::from_millis(20));
        let _c = m.connection();
        let text = m.render(42);
        assert!(text.contains("birch_operations_total{op=\"search\",result=\"0\"} 1"), "{text}");
        assert!(text.contains("birch_operations_total{op=\"bind\",result=\"49\"} 1"), "{text}");
        assert!(text.contains("birch_operation_duration_seconds_bucket{op=\"search\",le=\"0.0005\"} 1"), "{text}");
        assert!(text.contains("birch_operation_duration_seconds_bucket{op=\"search\",le=\"0.00025\"} 0"), "{text}");
        assert!(text.contains("birch_connections 1") && text.contains("birch_entries 42"), "{text}");
        assert_eq!(m.op_counts()[0], OpCounts { op: "bind", initiated: 1, completed: 1 });
    }
}
