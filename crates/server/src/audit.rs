//! The audit log: every event logged under the `birch::audit` tracing target (binds and
//! their failures, locks and unlocks, password changes, and one record per write operation
//! with its result code and duration) is appended as one JSON line to a file.
//!
//! - A tracing layer ([`AuditLayer`]) turns the events into JSON lines, whatever `BIRCH_LOG`
//!   filters out of the text log; it writes to the file the server opens at start.
//! - Durability follows the store's: a write operation's record is appended before the
//!   operation is acknowledged and [`AuditLog::sync`] makes it durable with the same group
//!   commit idea (concurrent callers share one fsync).
//! - The other records (binds and their failures, locks) are buffered and reach the file
//!   within [`FLUSH_DELAY`] (one thread, `audit-flush`, writes what gathered), not with a
//!   system call each: at tens of thousands of binds a second that call was a tenth of a
//!   bind's cost. A sync, a rotation and shutdown ([`AuditLog::flush`]) write them at once.
//! - Rotation: by size (`max_bytes`, keeping `keep` old files `audit.log.1`...), and a
//!   SIGHUP (`birch reload`) reopens the file, for logrotate.
//! - `birch audit` queries the files ([`query`]).

pub use crate::config::audit::AuditSection;
use crate::logsafe::{JsonLine, MAX_AUDIT_FIELD_BYTES};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock, Weak};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

struct Sink {
    out: BufWriter<File>,
    size: u64,
}

/// An open audit file.
pub struct AuditLog {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    sink: Mutex<Sink>,
    /// Records appended so far, and records known durable.
    appended: AtomicU64,
    synced: AtomicU64,
    sync_lock: Mutex<()>,
    /// The queue of [`AuditLog::sync_shared`]'s thread (started on first use; `None` when
    /// it could not be started).
    syncer: OnceLock<Option<mpsc::Sender<SyncWaiter>>>,
    /// Records are in the buffer that the `audit-flush` thread has not been asked to write.
    unflushed: std::sync::atomic::AtomicBool,
    /// Wakes the `audit-flush` thread (started on first use; `None` when it could not be
    /// started: then each record is written at once).
    flusher: OnceLock<Option<mpsc::SyncSender<()>>>,
}

/// How long a buffered record may wait before the `audit-flush` thread writes it to the
/// file (records gathered meanwhile share one write).
pub const FLUSH_DELAY: std::time::Duration = std::time::Duration::from_millis(2);

/// A caller of [`AuditLog::sync_shared`] waiting for its records to be durable.
type SyncWaiter = tokio::sync::oneshot::Sender<std::io::Result<()>>;

fn open(path: &Path) -> std::io::Result<Sink> {
    // Mode 0600: the records hold the changes (docs/security.md).
    let file = crate::private_files::create_options().append(true).open(path)?;
    let size = file.metadata()?.len();
    Ok(Sink { out: BufWriter::with_capacity(64 << 10, file), size })
}

impl AuditLog {
    /// Opens (creates) the audit file.
    pub fn open(path: &Path, cfg: &AuditSection) -> std::io::Result<AuditLog> {
        Ok(AuditLog {
            path: path.to_path_buf(),
            max_bytes: cfg.max_bytes,
            keep: cfg.keep,
            sink: Mutex::new(open(path)?),
            appended: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            sync_lock: Mutex::new(()),
            syncer: OnceLock::new(),
            unflushed: std::sync::atomic::AtomicBool::new(false),
            flusher: OnceLock::new(),
        })
    }

    /// Appends one line to the buffer, written to the file within [`FLUSH_DELAY`] by the
    /// `audit-flush` thread (made durable by [`sync`](Self::sync)).
    pub fn append(self: &Arc<Self>, line: &str) {
        if self.append_buffered(line) && !self.unflushed.swap(true, Ordering::SeqCst) {
            self.wake_flusher();
        }
    }

    /// Appends one line that a [`sync`](Self::sync) writes out right after (a write's
    /// record): the `audit-flush` thread is not woken for it.
    pub fn append_before_sync(&self, line: &str) {
        self.append_buffered(line);
    }

    /// Asks the `audit-flush` thread to write the buffer out after [`FLUSH_DELAY`].
    fn wake_flusher(self: &Arc<Self>) {
        match self.flusher() {
            Some(wake) => {
                let _ = wake.try_send(());
            }
            None => self.flush_logged(),
        }
    }

    /// Appends one line to the buffer; whether it went in.
    fn append_buffered(&self, line: &str) -> bool {
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        if self.max_bytes > 0 && sink.size + line.len() as u64 + 1 > self.max_bytes && sink.size > 0 {
            if let Err(e) = self.rotate(&mut sink) {
                eprintln!("birch: audit log rotation failed: {e}");
            }
        }
        // Written to the file by `flush` (within FLUSH_DELAY), fsync is left to `sync`.
        let written = sink.out.write_all(line.as_bytes()).and_then(|()| sink.out.write_all(b"\n"));
        if written.is_ok() {
            sink.size += line.len() as u64 + 1;
            self.appended.fetch_add(1, Ordering::SeqCst);
        }
        written.is_ok()
    }

    /// Writes the buffered records to the file (not durably: see [`sync`](Self::sync)).
    pub fn flush(&self) -> std::io::Result<()> {
        self.unflushed.store(false, Ordering::SeqCst);
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).out.flush()
    }

    /// [`flush`](Self::flush), a failure reported on standard error (the audit log cannot
    /// log its own failure).
    fn flush_logged(&self) {
        if let Err(e) = self.flush() {
            eprintln!("birch: cannot write the audit log: {e}");
        }
    }

    /// The `audit-flush` thread's wake-up, started on first use. The thread holds the log
    /// weakly and ends when the log is dropped (the wake-up with it).
    fn flusher(self: &Arc<Self>) -> Option<&mpsc::SyncSender<()>> {
        self.flusher
            .get_or_init(|| {
                let (tx, rx) = mpsc::sync_channel::<()>(1);
                let log = Arc::downgrade(self);
                let started = std::thread::Builder::new().name("audit-flush".into()).spawn(move || {
                    while rx.recv().is_ok() {
                        // Records appended meanwhile go out with the first one.
                        std::thread::sleep(FLUSH_DELAY);
                        let Some(log) = log.upgrade() else { break };
                        log.flush_logged();
                    }
                });
                started.ok().map(|_| tx)
            })
            .as_ref()
    }

    fn rotate(&self, sink: &mut Sink) -> std::io::Result<()> {
        sink.out.flush()?;
        sink.out.get_ref().sync_data()?;
        let name = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        for n in (1..self.keep).rev() {
            if name(n).exists() {
                std::fs::rename(name(n), name(n + 1))?;
            }
        }
        if self.keep > 0 {
            std::fs::rename(&self.path, name(1))?;
        } else {
            std::fs::remove_file(&self.path)?;
        }
        *sink = open(&self.path)?;
        Ok(())
    }

    /// Reopens the file (after logrotate moved it away).
    pub fn reopen(&self) -> std::io::Result<()> {
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        sink.out.flush()?;
        *sink = open(&self.path)?;
        Ok(())
    }

    /// Makes every record appended so far durable. Callers that arrive while an fsync runs
    /// find their records covered by the next one (or by it).
    pub fn sync(&self) -> std::io::Result<()> {
        let target = self.appended.load(Ordering::SeqCst);
        if self.synced.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        let _one = self.sync_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.synced.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        let (file, upto) = {
            let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
            sink.out.flush()?;
            (sink.out.get_ref().try_clone()?, self.appended.load(Ordering::SeqCst))
        };
        file.sync_data()?;
        self.synced.fetch_max(upto, Ordering::SeqCst);
        Ok(())
    }

    /// [`AuditLog::sync`] from async code: the callers queue for one thread (`audit-sync`),
    /// which makes everything appended so far durable with one fsync and answers every
    /// caller queued meanwhile. Costs no hand-off when the records are durable already.
    /// (A blocking-pool thread per caller, as before, took the pool's lock and woke a
    /// thread for each write; when the thread cannot be started, that is what it does.)
    pub async fn sync_shared(self: &Arc<Self>) -> std::io::Result<()> {
        if self.synced.load(Ordering::SeqCst) >= self.appended.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Some(queue) = self.syncer() {
            if queue.send(tx).is_ok() {
                return rx.await.unwrap_or_else(|_| Err(std::io::Error::other("the audit sync thread stopped")));
            }
        }
        let log = self.clone();
        tokio::task::spawn_blocking(move || log.sync()).await.map_err(std::io::Error::other)?
    }

    /// The queue of the `audit-sync` thread, started on first use. The thread holds the log
    /// weakly: it ends when the log is dropped (the queue with it).
    fn syncer(self: &Arc<Self>) -> Option<&mpsc::Sender<SyncWaiter>> {
        self.syncer
            .get_or_init(|| {
                let (tx, rx) = mpsc::channel::<SyncWaiter>();
                let log = Arc::downgrade(self);
                let started =
                    std::thread::Builder::new().name("audit-sync".into()).spawn(move || sync_thread(&log, &rx));
                started.ok().map(|_| tx)
            })
            .as_ref()
    }
}

/// The `audit-sync` thread: takes a waiting caller and every caller queued behind it, makes
/// the log durable once (that covers all their records: each appended before queueing),
/// and answers them all.
fn sync_thread(log: &Weak<AuditLog>, rx: &mpsc::Receiver<SyncWaiter>) {
    while let Ok(first) = rx.recv() {
        let mut waiting = vec![first];
        waiting.extend(rx.try_iter());
        let synced = match log.upgrade() {
            Some(log) => log.sync(),
            None => Err(std::io::Error::other("the audit log is closed")),
        };
        for w in waiting {
            let answer = match &synced {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            let _ = w.send(answer);
        }
    }
}

/// The audit log the layer writes to, set once the server has opened it.
static AUDIT: OnceLock<Arc<AuditLog>> = OnceLock::new();

/// Installs the audit log the [`AuditLayer`] writes to (once per process).
pub fn install(log: Arc<AuditLog>) {
    let _ = AUDIT.set(log);
}

/// The installed audit log, if any.
pub fn installed() -> Option<&'static Arc<AuditLog>> {
    AUDIT.get()
}

/// Writes the records the installed log still buffers (at the end of `birch serve`).
pub fn flush_installed() {
    if let Some(log) = AUDIT.get() {
        log.flush_logged();
    }
}

/// A tracing layer that writes `birch::audit` events as JSON lines to the installed log.
pub struct AuditLayer;

impl<S: Subscriber> Layer<S> for AuditLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "birch::audit" {
            return;
        }
        let Some(log) = AUDIT.get() else { return };
        if SYNC_FOLLOWS.get() {
            log.append_before_sync(&record(event));
        } else {
            log.append(&record(event));
        }
    }
}

thread_local! {
    /// Set while [`logged_before_sync`] logs an event: its record is synced right after.
    static SYNC_FOLLOWS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `log` (which logs a `birch::audit` event) telling the audit layer that the caller
/// syncs the log right after ([`AuditLog::sync_shared`]), so the record need not wake the
/// `audit-flush` thread: a write's record, which is durable before the write is answered.
pub fn logged_before_sync(log: impl FnOnce()) {
    SYNC_FOLLOWS.set(true);
    log();
    SYNC_FOLLOWS.set(false);
}

/// An audit event as one JSON object: time, level, then the event's fields, every value
/// escaped and cut at [`MAX_AUDIT_FIELD_BYTES`] but the `ldif` of a write (which
/// [`crate::ops::audited`] keeps whole only for an applied change).
fn record(event: &Event<'_>) -> String {
    let mut line = JsonLine::new(MAX_AUDIT_FIELD_BYTES, &["ldif"]);
    line.key("time");
    line.string(&humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(), usize::MAX);
    line.key("level");
    line.string(crate::logsafe::level_name_lowercase(event.metadata().level()), usize::MAX);
    event.record(&mut line);
    line.finish()
}

/// What `birch audit` selects.
#[derive(Debug, Default)]
pub struct Query {
    /// Records about this DN (compared as DNs: `uid=bob, ou=People` finds `uid=bob,ou=people`).
    pub dn: Option<String>,
    /// Records by this actor (the bound DN, `by` field), compared as DNs.
    pub actor: Option<String>,
    /// Records at or after this time.
    pub since: Option<std::time::SystemTime>,
    /// Print write records as LDIF change records instead of JSON.
    pub ldif: bool,
}

/// `birch audit`: the records of the audit log of `cfg` that match (`since`: RFC 3339, or
/// an age such as `2h`), printed to standard output.
pub fn command(
    cfg: &crate::config::Config,
    dn: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    ldif: bool,
) -> anyhow::Result<()> {
    let path = cfg.audit.path(&cfg.data_dir).ok_or_else(|| anyhow::anyhow!("audit.file: the audit log is off"))?;
    let since = match since {
        None => None,
        Some(s) => Some(match humantime::parse_rfc3339_weak(&s) {
            Ok(t) => t,
            Err(_) => {
                let age = humantime::parse_duration(&s)
                    .map_err(|e| anyhow::anyhow!("--since {s:?}: not a time or an age ({e})"))?;
                std::time::SystemTime::now().checked_sub(age).unwrap_or(std::time::UNIX_EPOCH)
            }
        }),
    };
    let schema = cfg.schema()?;
    let normalize =
        |dn: &str| birch_schema::dn::normalize_str(dn, &schema).unwrap_or_else(|_| dn.trim().to_ascii_lowercase());
    let q = Query { dn, actor, since, ldif };
    query_with(&path, &q, &normalize, &mut std::io::stdout().lock())?;
    Ok(())
}

/// Prints the records of the audit files (oldest rotated file first) that match `q`, DNs
/// compared case-insensitively.
pub fn query(path: &Path, q: &Query, out: &mut dyn Write) -> std::io::Result<usize> {
    query_with(path, q, &|dn: &str| dn.trim().to_ascii_lowercase(), out)
}

/// [`query`] with DNs compared by what `normalize` makes of them. With `q.ldif`, each
/// successful write is one LDIF change record (ldapmodify applies the output as it is),
/// after a comment saying when and by whom; secret values (passwords) were never logged:
/// a comment says what changed instead.
pub fn query_with(
    path: &Path,
    q: &Query,
    normalize: &dyn Fn(&str) -> String,
    out: &mut dyn Write,
) -> std::io::Result<usize> {
    let mut files: Vec<PathBuf> =
        (1..1000).map(|n| PathBuf::from(format!("{}.{n}", path.display()))).take_while(|p| p.exists()).collect();
    files.reverse();
    files.push(path.to_path_buf());
    let (dn, actor) = (q.dn.as_deref().map(normalize), q.actor.as_deref().map(normalize));
    let mut n = 0;
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        for line in text.lines() {
            let Ok(serde_json::Value::Object(rec)) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let raw = |k: &str| rec.get(k).and_then(|v| v.as_str()).unwrap_or("");
            if dn.as_ref().is_some_and(|d| normalize(raw("dn")) != *d)
                || actor.as_ref().is_some_and(|a| normalize(raw("by")) != *a)
            {
                continue;
            }
            if let Some(since) = q.since {
                let t = rec.get("time").and_then(|v| v.as_str()).and_then(|t| humantime::parse_rfc3339(t).ok());
                if t.is_none_or(|t| t < since) {
                    continue;
                }
            }
            if q.ldif {
                match rec.get("ldif").and_then(|v| v.as_str()) {
                    Some(l) if rec.get("result").and_then(|v| v.as_u64()) == Some(0) => {
                        write_change(out, raw("time"), raw("event"), raw("by"), raw("dn"), raw("attrs"), l)?;
                    }
                    _ => continue,
                }
            } else {
                writeln!(out, "{line}")?;
            }
            n += 1;
        }
    }
    Ok(n)
}

/// One successful write as an LDIF change record ending with an empty line. The attributes
/// whose values the audit log never holds (passwords) are named in a comment; a change that
/// is left with nothing else (a password change) is a comment only, which ldapmodify skips.
fn write_change(
    out: &mut dyn Write,
    time: &str,
    event: &str,
    by: &str,
    dn: &str,
    attrs: &str,
    ldif: &str,
) -> std::io::Result<()> {
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    writeln!(out, "# {} {} by {}", one_line(time), one_line(event), one_line(by))?;
    let secret: Vec<&str> = attrs.split(',').filter(|a| !a.is_empty() && birch_acl::secret::is_secret(a)).collect();
    let body = ldif.trim_end();
    if !secret.is_empty() || body.is_empty() {
        let what = if secret.is_empty() { "userPassword".to_string() } else { secret.join(", ") };
        writeln!(out, "# {what} of {} changed; the value is not in the audit log", one_line(dn))?;
    }
    if !body.is_empty() && !is_empty_modify(body) {
        writeln!(out, "{body}")?;
    }
    writeln!(out)
}

/// Whether an LDIF change record is a modify with no modification left (its only ones were
/// of secret attributes).
fn is_empty_modify(record: &str) -> bool {
    let mut modify = false;
    for line in record.lines() {
        if line.starts_with(' ') || line.starts_with("dn:") {
            continue;
        }
        if line.eq_ignore_ascii_case("changetype: modify") {
            modify = true;
            continue;
        }
        return false;
    }
    modify
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects the records [`record`] makes of the events it sees.
    struct Collect(Arc<Mutex<Vec<String>>>);
    impl<S: Subscriber> Layer<S> for Collect {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            self.0.lock().unwrap().push(record(event));
        }
    }

    #[test]
    fn a_record_is_one_json_object_with_its_fields() {
        use tracing_subscriber::layer::SubscriberExt;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Collect(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let dn = "uid=a\"b\\,dc=example\n";
            let peer: std::net::SocketAddr = "127.0.0.1:389".parse().unwrap();
            tracing::warn!(target: "birch::audit", event = "bind_failed", dn = %dn, %peer, n = 3u64, ok = false, m = -1i64);
        });
        let lines = seen.lock().unwrap().clone();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["event"], "bind_failed");
        assert_eq!(v["dn"], "uid=a\"b\\,dc=example\n");
        assert_eq!(v["peer"], "127.0.0.1:389");
        assert_eq!((v["n"].as_u64(), v["ok"].as_bool(), v["m"].as_i64()), (Some(3), Some(false), Some(-1)));
        assert_eq!(v["level"], "warn");
        assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{v}");
        assert!(lines[0].starts_with("{\"time\":"), "{}", lines[0]);
    }

    #[test]
    fn values_are_cut_but_an_applied_change_is_whole() {
        use tracing_subscriber::layer::SubscriberExt;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Collect(seen.clone()));
        let big = "x".repeat(3 * MAX_AUDIT_FIELD_BYTES);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "birch::audit", event = "modify", dn = %big, ldif = %big);
        });
        let lines = seen.lock().unwrap().clone();
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        let dn = v["dn"].as_str().unwrap();
        assert!(dn.len() < MAX_AUDIT_FIELD_BYTES + 64 && dn.ends_with("more bytes cut]"), "{dn}");
        assert_eq!(v["ldif"].as_str(), Some(big.as_str()));
    }

    #[test]
    fn rotates_by_size_and_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = Arc::new(AuditLog::open(&path, &AuditSection { file: None, max_bytes: 100, keep: 2 }).unwrap());
        for i in 0..10 {
            log.append(&format!("{{\"n\":{i},\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}"));
        }
        log.sync().unwrap();
        assert!(path.exists() && dir.path().join("audit.log.1").exists() && dir.path().join("audit.log.2").exists());
        assert!(!dir.path().join("audit.log.3").exists(), "only `keep` old files");
        let mut out = Vec::new();
        let n = query(&path, &Query::default(), &mut out).unwrap();
        // Each record fills a file: the current one and `keep` old ones hold the last three.
        assert_eq!(n, 3);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("{\"n\":7,"), "{text}");
        assert!(
            text.ends_with("{\"n\":9,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n"),
            "oldest first, newest last"
        );
    }

    #[test]
    fn buffered_records_reach_the_file_soon_and_at_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = Arc::new(AuditLog::open(&path, &AuditSection::default()).unwrap());
        log.append(r#"{"event":"bind","n":1}"#);
        // The audit-flush thread writes it after FLUSH_DELAY, without a sync.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_to_string(&path).unwrap() != "{\"event\":\"bind\",\"n\":1}\n" {
            assert!(std::time::Instant::now() < deadline, "the record never reached the file");
            std::thread::sleep(FLUSH_DELAY);
        }
        // Records gathered later go out too; an explicit flush writes at once.
        for n in 2..=50 {
            log.append(&format!(r#"{{"event":"bind","n":{n}}}"#));
        }
        log.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 50);
    }

    #[test]
    fn a_record_synced_right_after_reaches_the_file_with_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = Arc::new(AuditLog::open(&path, &AuditSection::default()).unwrap());
        logged_before_sync(|| {
            assert!(SYNC_FOLLOWS.get());
            log.append_before_sync(r#"{"event":"modify"}"#);
        });
        assert!(!SYNC_FOLLOWS.get(), "only for the event logged inside");
        log.sync().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"event\":\"modify\"}\n");
    }

    #[test]
    fn queries_by_dn_actor_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = Arc::new(AuditLog::open(&path, &AuditSection::default()).unwrap());
        log.append(r#"{"time":"2026-01-01T00:00:00Z","event":"modify","dn":"uid=a,dc=x","by":"cn=admin,dc=x","result":0,"ldif":"dn: uid=a,dc=x\nchangetype: modify\nreplace: cn\ncn: A\n-"}"#);
        log.append(
            r#"{"time":"2026-06-01T00:00:00Z","event":"delete","dn":"uid=b,dc=x","by":"uid=a,dc=x","result":50}"#,
        );
        log.sync().unwrap();
        let run = |q: Query| {
            let mut out = Vec::new();
            let n = query(&path, &q, &mut out).unwrap();
            (n, String::from_utf8(out).unwrap())
        };
        assert_eq!(run(Query { dn: Some("UID=A,dc=x".into()), ..Query::default() }).0, 1);
        assert_eq!(run(Query { actor: Some("uid=a,dc=x".into()), ..Query::default() }).0, 1);
        let since = humantime::parse_rfc3339("2026-03-01T00:00:00Z").ok();
        assert_eq!(run(Query { since, ..Query::default() }).0, 1);
        let (n, text) = run(Query { ldif: true, ..Query::default() });
        assert_eq!(n, 1, "only successful writes as LDIF");
        assert!(text.contains("changetype: modify\nreplace: cn\ncn: A\n-\n\n"), "{text}");
    }

    #[test]
    fn ldif_records_are_separated_and_password_changes_are_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = Arc::new(AuditLog::open(&path, &AuditSection::default()).unwrap());
        // An old-style record of a password-only modify (no modification left), a mixed one,
        // a Password Modify (no LDIF at all) and a delete.
        log.append(r#"{"time":"t1","event":"modify","dn":"uid=a,dc=x","by":"cn=admin,dc=x","attrs":"userPassword","result":0,"ldif":"dn: uid=a,dc=x\nchangetype: modify"}"#);
        log.append(r#"{"time":"t2","event":"modify","dn":"uid=b,dc=x","by":"cn=admin,dc=x","attrs":"description,userPassword","result":0,"ldif":"dn: uid=b,dc=x\nchangetype: modify\nreplace: description\ndescription: d\n-"}"#);
        log.append(r#"{"time":"t3","event":"password_modify","dn":"uid=c,dc=x","by":"cn=admin,dc=x","attrs":"userPassword","result":0,"ldif":""}"#);
        log.append(r#"{"time":"t4","event":"delete","dn":"uid=d,dc=x","by":"cn=admin,dc=x","attrs":"","result":0,"ldif":"dn: uid=d,dc=x\nchangetype: delete"}"#);
        log.sync().unwrap();
        let mut out = Vec::new();
        assert_eq!(query(&path, &Query { ldif: true, ..Query::default() }, &mut out).unwrap(), 4);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "# t1 modify by cn=admin,dc=x\n# userPassword of uid=a,dc=x changed; the value is not in the audit log\n\n\
             # t2 modify by cn=admin,dc=x\n# userPassword of uid=b,dc=x changed; the value is not in the audit log\n\
             dn: uid=b,dc=x\nchangetype: modify\nreplace: description\ndescription: d\n-\n\n\
             # t3 password_modify by cn=admin,dc=x\n# userPassword of uid=c,dc=x changed; the value is not in the audit log\n\n\
             # t4 delete by cn=admin,dc=x\ndn: uid=d,dc=x\nchangetype: delete\n\n"
        );
    }
}
