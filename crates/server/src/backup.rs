//! Online backup and offline restore.
//!
//! The running server owns the store, so `birch backup` asks it through a local admin
//! socket (`birch.sock` in the data directory, mode 0600: only the server's user, or root,
//! can use it). The server takes a consistent snapshot of the store under its writer lock
//! ([`birch_store::Store::snapshot`]: no write is half in it) and streams it back as LDIF
//! with a header naming the suffix and schema profile and a trailer counting the entries;
//! the client writes it to a temporary file, checks the trailer, fsyncs and renames it into
//! place. `birch restore` imports such a file into a fresh data directory, checks the
//! result and only then swaps it in.

use crate::config::Config;
use anyhow::{bail, Context, Result};
use base64::Engine;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name of the admin socket inside the data directory.
pub const SOCKET: &str = "birch.sock";
/// First line of every backup file.
const MAGIC: &str = "# birch-backup 1";
/// Start of the last line of a complete backup file.
const TRAILER: &str = "# birch-backup-end entries: ";
/// Meta settings carried in a backup (the root password hash generated on first start).
const CARRIED_META: &[&str] = &["root_password_hash"];

/// What a backup header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The suffix of the directory.
    pub suffix: String,
    /// The schema profile in force when it was taken.
    pub schema_profile: String,
    /// When it was taken (RFC 3339).
    pub created: String,
    /// Number of entries.
    pub entries: usize,
    /// Meta settings (name, value).
    pub meta: Vec<(String, Vec<u8>)>,
}

impl Header {
    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "{MAGIC}")?;
        writeln!(out, "# suffix: {}", self.suffix)?;
        writeln!(out, "# schema_profile: {}", self.schema_profile)?;
        writeln!(out, "# created: {}", self.created)?;
        writeln!(out, "# entries: {}", self.entries)?;
        for (k, v) in &self.meta {
            writeln!(out, "# meta {k}: {}", base64::engine::general_purpose::STANDARD.encode(v))?;
        }
        Ok(())
    }

    /// Reads the header at the start of a backup file.
    pub fn read(input: &mut impl BufRead) -> Result<Header> {
        let mut first = String::new();
        input.read_line(&mut first)?;
        if first.trim_end() != MAGIC {
            bail!("not a birch backup (the first line is not {MAGIC:?})");
        }
        let mut h = Header {
            suffix: String::new(),
            schema_profile: String::new(),
            created: String::new(),
            entries: 0,
            meta: vec![],
        };
        let mut line = String::new();
        loop {
            line.clear();
            if input.read_line(&mut line)? == 0 {
                break;
            }
            let Some(rest) = line.trim_end().strip_prefix("# ") else { break };
            let Some((key, value)) = rest.split_once(": ") else { continue };
            match key {
                "suffix" => h.suffix = value.to_string(),
                "schema_profile" => h.schema_profile = value.to_string(),
                "created" => h.created = value.to_string(),
                "entries" => h.entries = value.parse().context("backup header: entries")?,
                k => {
                    if let Some(name) = k.strip_prefix("meta ") {
                        let v = base64::engine::general_purpose::STANDARD
                            .decode(value)
                            .with_context(|| format!("backup header: meta {name}"))?;
                        h.meta.push((name.to_string(), v));
                    }
                }
            }
        }
        if h.suffix.is_empty() || h.schema_profile.is_empty() {
            bail!("backup header lacks the suffix or the schema profile");
        }
        Ok(h)
    }
}

/// Writes a consistent backup of the running server's store to `out` (blocking; run it on
/// a blocking thread). Returns the number of entries.
pub fn write_backup(ctx: &crate::context::ServerCtx, out: &mut impl Write) -> Result<usize> {
    let started = std::time::Instant::now();
    let snapshot = ctx.store().snapshot()?;
    let copied = started.elapsed();
    let meta = snapshot.meta.iter().filter(|(k, _)| CARRIED_META.contains(&k.as_str())).cloned().collect();
    let header = Header {
        suffix: ctx.config().suffix.clone(),
        schema_profile: ctx.config().schema_profile.clone(),
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        entries: snapshot.len(),
        meta,
    };
    header.write(out)?;
    birch_ldif::write_version(out)?;
    let mut written = 0usize;
    for e in snapshot.into_entries()? {
        let e = e?;
        let attrs: Vec<(&str, &[u8])> =
            e.attrs.iter().flat_map(|a| a.values.iter().map(move |v| (a.name.as_str(), v.as_slice()))).collect();
        birch_ldif::write_entry(out, &e.dn, &attrs)?;
        written += 1;
    }
    if written != header.entries {
        anyhow::bail!("the snapshot held {} entries but {written} were written", header.entries);
    }
    writeln!(out, "{TRAILER}{written}")?;
    out.flush()?;
    tracing::info!(
        entries = written,
        copy_ms = copied.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "backup written"
    );
    Ok(written)
}

/// The admin socket of a running server: accepts `backup` requests from local clients.
#[cfg(unix)]
pub struct AdminSocket {
    path: PathBuf,
}

#[cfg(unix)]
impl AdminSocket {
    /// Binds `birch.sock` in the data directory (mode 0600) and serves it until the
    /// returned value is dropped; `None` (with a warning) when it cannot.
    pub fn start(ctx: Arc<crate::context::ServerCtx>) -> Option<AdminSocket> {
        use std::os::unix::fs::PermissionsExt;
        let path = ctx.config().data_dir.join(SOCKET);
        // We hold the store's lock, so a socket left here belongs to a dead server.
        let _ = std::fs::remove_file(&path);
        let listener = match tokio::net::UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open the admin socket; `birch backup` will not reach this server");
                return None;
            }
        };
        if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot restrict the admin socket");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(serve_admin(stream, ctx.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "admin socket accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Some(AdminSocket { path })
    }
}

#[cfg(unix)]
impl Drop for AdminSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One admin request: a line naming the command; the answer is `ok` or `error: why` on
/// one line, then for `backup` the backup itself.
#[cfg(unix)]
async fn serve_admin(stream: tokio::net::UnixStream, ctx: Arc<crate::context::ServerCtx>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::io::AsyncReadExt::take(tokio::io::BufReader::new(rd), 256).read_line(&mut line),
    )
    .await;
    if !matches!(read, Ok(Ok(_))) {
        return;
    }
    if line.trim() != "backup" {
        let _ = wr.write_all(format!("error: unknown command {:?}\n", line.trim()).as_bytes()).await;
        return;
    }
    if wr.write_all(b"ok\n").await.is_err() {
        return;
    }
    // The snapshot and the LDIF are made on a blocking thread and streamed in chunks.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let job = tokio::task::spawn_blocking(move || {
        let mut out = std::io::BufWriter::with_capacity(1 << 18, ChunkSender(tx));
        write_backup(&ctx, &mut out)
    });
    while let Some(chunk) = rx.recv().await {
        if wr.write_all(&chunk).await.is_err() {
            tracing::warn!("backup client went away");
            break;
        }
    }
    drop(rx);
    match job.await {
        Ok(Ok(_)) => {
            let _ = wr.shutdown().await;
        }
        Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "backup failed"),
        Err(e) => tracing::error!(error = %e, "backup task failed"),
    }
}

/// Sends what is written to it to the admin connection, chunk by chunk.
struct ChunkSender(tokio::sync::mpsc::Sender<Vec<u8>>);

impl Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(buf.to_vec())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "backup client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether a server answers on the admin socket of `cfg`'s data directory (it serves that
/// directory).
#[cfg(unix)]
pub fn server_running(cfg: &Config) -> bool {
    std::os::unix::net::UnixStream::connect(cfg.data_dir.join(SOCKET)).is_ok()
}

/// Whether a server runs on `cfg`'s data directory (never known without Unix sockets).
#[cfg(not(unix))]
pub fn server_running(_: &Config) -> bool {
    false
}

/// Fails unless `target` can receive a backup: an existing directory, or a file name in an
/// existing directory. Checked before the server is asked for anything.
fn check_target(target: &Path) -> Result<()> {
    if target.is_dir() {
        return Ok(());
    }
    let shown = target.display();
    if target.as_os_str().to_string_lossy().ends_with('/') {
        bail!("{shown} does not exist: create the directory first, or name a file to write");
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!("{shown}: the directory {} does not exist; create it first", parent.display());
    }
    Ok(())
}

/// `birch backup TARGET`: asks the running server for a backup and writes it to TARGET
/// (a file, or a directory that gets `birch-backup-<time>.ldif`), durably.
#[cfg(unix)]
pub fn backup(cfg: &Config, target: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    check_target(target)?;
    let socket = cfg.data_dir.join(SOCKET);
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).with_context(|| {
        format!("cannot reach the running server at {} (is `birch serve` running with this config?)", socket.display())
    })?;
    stream.write_all(b"backup\n")?;
    let mut input = BufReader::with_capacity(1 << 20, stream);
    let mut status = String::new();
    input.read_line(&mut status)?;
    match status.trim_end() {
        "ok" => {}
        "" => bail!("the server closed the admin connection"),
        other => bail!("the server refused: {other}"),
    }
    let file = if target.is_dir() {
        let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .chars()
            .filter(|c| !matches!(c, '-' | ':'))
            .collect();
        target.join(format!("birch-backup-{stamp}.ldif"))
    } else {
        target.to_path_buf()
    };
    let partial = partial_name(&file);
    // Whatever happens from here (an error, a failed rename, Ctrl-C, SIGTERM), no partial
    // file is left behind: only a complete backup appears, and only under its name.
    let guard = RemoveOnDrop(Some(partial.clone()));
    remove_on_signal(partial.clone());
    let entries = (|| -> Result<usize> {
        // A stale partial file (from a killed run), or anything else there, is replaced by
        // a new file of mode 0600: the backup holds hashes.
        let _ = std::fs::remove_file(&partial);
        let mut out = crate::private_files::create_options()
            .create_new(true)
            .open(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let mut tail = Tail::default();
        let mut buf = vec![0u8; 1 << 20];
        let mut progress = crate::progress::Progress::new("backup");
        let mut counter = EntryCounter::default();
        loop {
            let n = input.read(&mut buf).context("reading the backup from the server")?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).with_context(|| format!("writing {}", partial.display()))?;
            tail.push(&buf[..n]);
            counter.push(&buf[..n], &mut progress);
        }
        progress.finish();
        let entries = tail.entries().context("the backup stream ended early (see the server's log); nothing kept")?;
        out.sync_all().with_context(|| format!("fsync {}", partial.display()))?;
        std::fs::rename(&partial, &file).with_context(|| format!("cannot rename to {}", file.display()))?;
        Ok(entries)
    })()?;
    guard.keep();
    sync_parent(&file);
    eprintln!("backup: {entries} entries written to {} in {:.2}s", file.display(), started.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(not(unix))]
pub fn backup(_: &Config, _: &Path) -> Result<()> {
    bail!("`birch backup` needs a Unix system")
}

/// Removes the file it names when dropped, unless [`RemoveOnDrop::keep`] was called.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    /// The file stays (it has been renamed into place).
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// On SIGINT, SIGTERM or SIGHUP, removes `partial` and exits (status 130): an interrupted
/// backup leaves nothing behind. Returns once the handlers are in place.
#[cfg(unix)]
fn remove_on_signal(partial: PathBuf) {
    use tokio::signal::unix::{signal, SignalKind};
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_io().build() else {
            let _ = ready_tx.send(());
            return;
        };
        rt.block_on(async move {
            let kinds = [SignalKind::interrupt(), SignalKind::terminate(), SignalKind::hangup()];
            let mut streams: Vec<_> = kinds.into_iter().filter_map(|k| signal(k).ok()).collect();
            let _ = ready_tx.send(());
            let any = futures_any(&mut streams);
            any.await;
            let _ = std::fs::remove_file(&partial);
            eprintln!("backup: interrupted; nothing kept");
            std::process::exit(130);
        });
    });
    let _ = ready_rx.recv();
}

/// Completes when any of the signal streams receives a signal.
#[cfg(unix)]
async fn futures_any(streams: &mut [tokio::signal::unix::Signal]) {
    std::future::poll_fn(|cx| {
        for s in streams.iter_mut() {
            if s.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}

fn partial_name(file: &Path) -> PathBuf {
    let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    file.with_file_name(name)
}

/// fsyncs the directory holding `file`, so the rename is durable too.
fn sync_parent(file: &Path) {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Counts the entries of a backup stream as it arrives (each ends with an empty line), for
/// its progress; the header's entry count is the total.
#[derive(Default)]
struct EntryCounter {
    /// The header's first lines, until the entry count is read from them.
    head: Option<Vec<u8>>,
    started: bool,
    last: u8,
    /// Empty lines seen: the first ends `version: 1`, each other one an entry.
    blank: u64,
}

impl EntryCounter {
    fn push(&mut self, bytes: &[u8], progress: &mut crate::progress::Progress) {
        if !self.started {
            let head = self.head.get_or_insert_with(Vec::new);
            head.extend_from_slice(&bytes[..bytes.len().min(4096)]);
            let text = String::from_utf8_lossy(head);
            let total = text
                .split_inclusive('\n')
                .filter(|l| l.ends_with('\n'))
                .find_map(|l| l.strip_prefix("# entries: "))
                .and_then(|n| n.trim().parse().ok());
            if total.is_some() || head.len() >= 4096 {
                progress.pass("receive", total);
                self.started = true;
                self.head = None;
            }
        }
        for &b in bytes {
            if b == b'\n' && self.last == b'\n' {
                self.blank += 1;
                if self.blank > 1 {
                    progress.advance(None);
                }
            }
            self.last = b;
        }
    }
}

/// The last bytes of a stream, to find the trailer.
#[derive(Default)]
struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
        if self.0.len() > 4096 {
            self.0.drain(..self.0.len() - 256);
        }
    }

    /// The entry count of the trailer, if the stream ends with one.
    fn entries(&self) -> Option<usize> {
        trailer_count(&self.0)
    }
}

/// The entry count in the trailer that ends `bytes`, if any.
fn trailer_count(bytes: &[u8]) -> Option<usize> {
    let text = String::from_utf8_lossy(bytes);
    let last = text.trim_end_matches('\n').rsplit('\n').next()?;
    last.strip_prefix(TRAILER)?.trim().parse().ok()
}

/// Reads the header and checks the trailer of a backup file.
pub fn inspect(file: &Path) -> Result<Header> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let len = f.metadata()?.len();
    let header = Header::read(&mut BufReader::new(&f)).with_context(|| file.display().to_string())?;
    let mut tail = Vec::new();
    let mut f = f;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(len.saturating_sub(256)))?;
    f.read_to_end(&mut tail)?;
    match trailer_count(&tail) {
        Some(n) if n == header.entries => Ok(header),
        Some(n) => bail!("{}: the trailer counts {n} entries, the header {}", file.display(), header.entries),
        None => bail!("{}: incomplete backup (no trailer)", file.display()),
    }
}

/// `birch restore FILE`: imports a backup into a fresh data directory, checks it, then
/// puts it in place of `data_dir` (an existing non-empty one only with `force`; it is kept
/// as `<data_dir>.before-restore-<time>`). The server must be stopped.
pub fn restore(cfg: &Config, file: &Path, force: bool, schema_check: bool) -> Result<()> {
    let header = inspect(file)?;
    let schema = cfg.schema()?;
    let ours = birch_schema::Dn::parse(&cfg.suffix)?.normalize(&schema);
    let theirs = birch_schema::Dn::parse(&header.suffix).map(|d| d.normalize(&schema)).unwrap_or_default();
    if ours != theirs {
        bail!(
            "{}: the backup is of suffix {:?}, the configuration serves {:?}",
            file.display(),
            header.suffix,
            cfg.suffix
        );
    }
    if header.schema_profile != cfg.schema_profile {
        bail!(
            "{}: the backup was taken with schema_profile {:?}, the configuration says {:?}",
            file.display(),
            header.schema_profile,
            cfg.schema_profile
        );
    }
    let dir = &cfg.data_dir;
    if server_running(cfg) {
        bail!(
            "a server is running on {}: stop it first (`birch restore` replaces its data directory, offline; \
             to copy a running server's data, use `birch backup`)",
            dir.display()
        );
    }
    let occupied = std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false);
    if occupied {
        if !force {
            bail!("{} is not empty; restore into a new data_dir, or pass --force to replace it", dir.display());
        }
        // Opening takes the store's lock: this fails while a server runs on it.
        crate::offline::open_store(cfg).with_context(|| format!("{} is in use", dir.display()))?;
    }
    let staging = sibling(dir, ".restoring");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("cannot clear {}", staging.display()))?;
    }
    let mut staged_cfg = cfg.clone();
    staged_cfg.data_dir.clone_from(&staging);
    crate::offline::import(&staged_cfg, file, schema_check)?;
    let problems = {
        let (store, schema) = crate::offline::open_store(&staged_cfg)?;
        for (k, v) in &header.meta {
            store.meta_set(k, v)?;
        }
        store.flush()?;
        if store.len() != header.entries {
            bail!("restored {} entries, the backup holds {}", store.len(), header.entries);
        }
        crate::offline::verify(&staged_cfg, &store, &schema)?
    };
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("problem: {p}");
        }
        bail!("the restored store in {} fails its check; {} left untouched", staging.display(), dir.display());
    }
    if occupied {
        let stamp =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let old = sibling(dir, &format!(".before-restore-{stamp}"));
        std::fs::rename(dir, &old).with_context(|| format!("cannot move {} aside", dir.display()))?;
        eprintln!("restore: the previous data directory is kept as {}", old.display());
    } else if dir.exists() {
        std::fs::remove_dir(dir).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::rename(&staging, dir)
        .with_context(|| format!("cannot move {} to {}", staging.display(), dir.display()))?;
    sync_parent(dir);
    eprintln!(
        "restore: {} entries from {} (taken {}) are in {}",
        header.entries,
        file.display(),
        header.created,
        dir.display()
    );
    Ok(())
}

/// `dir` with `suffix` appended to its last component.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let trimmed: PathBuf = dir.components().collect();
    let mut name = trimmed.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "birch-data".into());
    name.push(suffix);
    trimmed.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = Header {
            suffix: "dc=example,dc=org".into(),
            schema_profile: "rfc2307bis".into(),
            created: "2026-01-01T00:00:00Z".into(),
            entries: 42,
            meta: vec![("root_password_hash".into(), b"{ARGON2}$argon2id$x".to_vec())],
        };
        let mut out = Vec::new();
        h.write(&mut out).unwrap();
        out.extend_from_slice(b"version: 1\n\n");
        assert_eq!(Header::read(&mut &out[..]).unwrap(), h);
        assert!(Header::read(&mut &b"version: 1\n"[..]).is_err());
    }

    #[test]
    fn the_entry_counter_counts_entries_across_chunks() {
        let mut progress = crate::progress::Progress::logs_only("backup");
        let mut counter = EntryCounter::default();
        let stream = b"# birch-backup 1\n# suffix: dc=x\n# entries: 31\nversion: 1\n\ndn: dc=x\ndc: x\n\ndn: cn=a,dc=x\ncn: a\n\ndn: cn=b,dc=x\ncn: b\n\n# birch-backup-end entries: 3\n";
        for chunk in stream.chunks(7) {
            counter.push(chunk, &mut progress);
        }
        assert_eq!(progress.entries(), 3);
        assert_eq!(progress.total(), Some(31), "the header's count, not a part of it");
    }

    #[test]
    fn trailer_is_found_only_at_the_end() {
        assert_eq!(trailer_count(b"dn: x\n\n# birch-backup-end entries: 7\n"), Some(7));
        assert_eq!(trailer_count(b"# birch-backup-end entries: 7\ndn: x\n"), None);
        let mut t = Tail::default();
        for _ in 0..1000 {
            t.push(b"dn: cn=x,dc=example,dc=org\n\n");
        }
        t.push(b"# birch-backup-end ");
        t.push(b"entries: 1000\n");
        assert_eq!(t.entries(), Some(1000));
    }

    #[test]
    fn siblings_sit_next_to_the_directory() {
        assert_eq!(sibling(Path::new("/var/lib/birch/"), ".restoring"), PathBuf::from("/var/lib/birch.restoring"));
        assert_eq!(sibling(Path::new("data"), ".x"), PathBuf::from("data.x"));
    }
}
