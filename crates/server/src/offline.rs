//! Offline commands: import (like slapadd), export (like slapcat), check.

use crate::config::Config;
use anyhow::{bail, Context, Result};
use birch_ldif::{self as ldif, LdifReader, LdifRecord};
use birch_schema::{Dn, Schema};
use birch_store::{IndexConfig, Store};
use std::collections::HashSet;
use std::io::{BufReader, Write};
use std::path::Path;
use std::sync::Arc;

mod checker;
use checker::SchemaChecker;

/// The most page cache an import uses (MiB). Every MiB the import touches is a fresh page
/// the kernel zeroes, and a load reads back little (figures: docs/performance.md, "Import
/// and export").
const IMPORT_CACHE_MB: u64 = 64;

/// The largest LDIF file (bytes) whose entries the import keeps in memory between its
/// passes (encoded, they take about the file's size): a larger file is read and its
/// entries built again by the second pass.
const KEEP_ENTRIES_MAX_BYTES: u64 = 512 << 20;

/// Opens the store named by the config; refuses a store left incomplete by an import.
pub fn open_store(cfg: &Config) -> Result<(Store, Arc<Schema>)> {
    open_store_with_cache(cfg, cfg.cache_mb << 20)
}

/// [`open_store`] with sled's page cache bounded to `cache_bytes`.
fn open_store_with_cache(cfg: &Config, cache_bytes: u64) -> Result<(Store, Arc<Schema>)> {
    let schema = Arc::new(cfg.schema()?);
    Ok((open_store_with_schema(cfg, schema.clone(), cache_bytes)?, schema))
}

/// Opens (or creates) the store named by the config with a schema already loaded, its page
/// cache bounded to `cache_bytes`; refuses a store left incomplete by an import and one
/// that holds another suffix than the config names.
pub fn open_store_with_schema(cfg: &Config, schema: Arc<Schema>, cache_bytes: u64) -> Result<Store> {
    use crate::startup::data_dir;
    let idx = IndexConfig::new(&schema, &cfg.index.equality, &cfg.index.substring, &cfg.index.unique);
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| data_dir::create_error(&cfg.data_dir, &e))?;
    let store = Store::open(&cfg.data_dir, schema.clone(), idx, cache_bytes)
        .map_err(|e| data_dir::open_error(&cfg.data_dir, e))?;
    store.set_server_id(cfg.replication.server_id);
    store.set_multi_provider(cfg.replication.is_multi_provider());
    if store.meta_get(birch_store::store::META_IMPORT_INCOMPLETE)?.is_some() {
        bail!("{}: an import was interrupted; remove the directory and import again", cfg.data_dir.display());
    }
    crate::startup::suffix::check(&store, cfg, &schema)?;
    Ok(store)
}

/// Imports an LDIF file: a first pass checks every record (syntax, DNs, duplicates,
/// parents, inside the suffix); only then a second pass writes, in large batches. The
/// entries the first pass built for the schema check are kept for the second when the file
/// is small enough ([`KEEP_ENTRIES_MAX_BYTES`]); otherwise the second pass reads it again.
pub fn import(cfg: &Config, file: &Path, schema_check: bool) -> Result<()> {
    if crate::backup::server_running(cfg) {
        bail!(
            "a server is running on {}: `birch import` works offline; stop the server first, or load \
             the file over LDAP (ldapadd / ldapmodify -f)",
            cfg.data_dir.display()
        );
    }
    // A load writes in key order and reads back little: the page cache only needs to hold
    // what is being written (the server's default, a quarter of the memory, would let a
    // large import's RSS grow to it).
    let (store, schema) = open_store_with_cache(cfg, cfg.cache_mb.min(IMPORT_CACHE_MB) << 20)?;
    let suffix_ndn = Dn::parse(&cfg.suffix)?.normalize(&schema);
    let shown = file.display().to_string();
    // Bytes read so far, for the progress of the passes that read the file.
    let read_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let open = || -> Result<LdifReader<BufReader<Counted>>> {
        let f = std::fs::File::open(file).with_context(|| format!("cannot open {shown}"))?;
        read_bytes.store(0, std::sync::atomic::Ordering::Relaxed);
        Ok(LdifReader::new(BufReader::with_capacity(1 << 20, Counted { file: f, read: read_bytes.clone() })))
    };
    let file_len = std::fs::metadata(file).ok().map(|m| m.len());
    let position = || Some(read_bytes.load(std::sync::atomic::Ordering::Relaxed));
    let mut progress = crate::progress::Progress::new("import");
    progress.pass("pass 1/2, check", file_len);
    let started = std::time::Instant::now();
    // Pass 1: validate. The schema check runs on a second thread; its failure, when there
    // is one, comes from a record before any the reading loop fails at (only records that
    // passed the loop's checks are handed over), so it is the one reported.
    let prepare = Arc::new(Prepare { params: cfg.argon2_params(), creator: cfg.root_dn() });
    let keep = std::fs::metadata(file).is_ok_and(|m| m.len() <= KEEP_ENTRIES_MAX_BYTES);
    let mut checker = if schema_check {
        let prepare = keep.then(|| prepare.clone());
        Some(SchemaChecker::start(store.clone(), schema.clone(), shown.clone(), prepare)?)
    } else {
        None
    };
    // foldhash rather than SipHash: every DN is hashed here twice, a parent's once more.
    let mut seen: HashSet<String, foldhash::fast::RandomState> = HashSet::default();
    // memberOf of every member, gathered from the groups (which may come after their members).
    let mut member_of: std::collections::HashMap<String, Vec<String>, foldhash::fast::RandomState> = Default::default();
    let mut count = 0usize;
    let mut changes = false;
    // Nothing else writes to the store meanwhile: an empty one needs no lookups.
    let had_entries = !store.is_empty();
    let mut types = TypeOf::new(&schema);
    // The placeholder suffix entry of a server started once gives way to the file's
    // (see `write::placeholder`).
    let placeholder = crate::write::placeholder::is_placeholder(&store, &suffix_ndn)?;
    let read = (|| -> Result<()> {
        for rec in open()? {
            let rec = rec.map_err(|e| anyhow::anyhow!("{shown}:{}: {}", e.line, e.message))?;
            let LdifRecord::Content { line, dn, attrs } = rec else {
                changes = true;
                return Ok(());
            };
            let ndn = birch_schema::dn::normalize_str(&dn, &schema)
                .map_err(|e| anyhow::anyhow!("{shown}:{line}: dn {dn:?}: {e}"))?;
            if !birch_schema::ndn::is_under(&ndn, &suffix_ndn) {
                bail!("{shown}:{line}: dn {dn:?} is outside the suffix {}", cfg.suffix);
            }
            let replaces = placeholder && ndn == suffix_ndn;
            if seen.contains(&ndn) || had_entries && !replaces && store.id_of(&ndn)?.is_some() {
                bail!("{shown}:{line}: dn {dn:?}: entry already exists");
            }
            if ndn != suffix_ndn {
                let parent = birch_schema::ndn::parent(&ndn);
                if !seen.contains(parent) && (!had_entries || store.id_of(parent)?.is_none()) {
                    bail!("{shown}:{line}: dn {dn:?}: parent entry does not exist (parents must come before children)");
                }
            }
            for (name, value) in &attrs {
                if types.is(name, "member") || types.is(name, "uniquemember") {
                    if let Some(m) = schema.normalize_value(birch_schema::MatchingRule::DistinguishedName, value) {
                        member_of.entry(String::from_utf8_lossy(&m).into_owned()).or_default().push(dn.clone());
                    }
                }
            }
            seen.insert(ndn);
            count += 1;
            progress.advance(position());
            if let Some(c) = &mut checker {
                c.check(line, dn, attrs)?;
            }
        }
        Ok(())
    })();
    let checked = checker.map_or(Ok(None), SchemaChecker::finish);
    let kept = checked?;
    read?;
    let had_suffix = seen.contains(&suffix_ndn);
    drop(seen);
    if changes {
        progress.pass("changes", file_len);
        return apply_changes(cfg, &store, &schema, &shown, open()?, &mut progress, position);
    }
    if placeholder && had_suffix {
        crate::write::placeholder::remove(&store, &suffix_ndn)?;
    }
    let checked_at = started.elapsed();
    // Pass 2: write.
    progress.pass("pass 2/2, write", Some(count as u64));
    let mut loader = crate::write::bulk_loader(&store, 20_000);
    let member_of_attr = |groups: Vec<String>| birch_store::Attribute {
        name: "memberOf".into(),
        canonical: "memberof".into(),
        values: groups.into_iter().map(String::into_bytes).collect(),
    };
    match kept {
        // The entries the schema check built and prepared, encoded, in file order: only
        // their memberOf values (from the groups) and parent ids are added.
        Some(entries) => {
            for (line, encoded) in entries {
                let at = |e: birch_store::StoreError| anyhow::anyhow!("{shown}:{line}: {e}");
                let ndn = birch_store::Entry::encoded_parts(&encoded).map_err(at)?.ndn;
                let extra: Vec<_> = member_of.remove(ndn).map(member_of_attr).into_iter().collect();
                let is_suffix = ndn == suffix_ndn;
                loader.add_encoded(&encoded, extra, is_suffix).map_err(at)?;
                progress.advance(None);
            }
        }
        None => {
            for rec in open()? {
                let rec = rec.map_err(|e| anyhow::anyhow!("{shown}:{}: {}", e.line, e.message))?;
                let LdifRecord::Content { line, dn, attrs } = rec else {
                    continue;
                };
                let grouped: Vec<(String, Vec<Vec<u8>>)> = attrs.into_iter().map(|(n, v)| (n, vec![v])).collect();
                let mut entry = store.make_entry(&dn, grouped).map_err(|e| anyhow::anyhow!("{shown}:{line}: {e}"))?;
                prepare.apply(&mut entry).map_err(|e| anyhow::anyhow!("{shown}:{line}: {e}"))?;
                if let Some(groups) = member_of.remove(&entry.ndn) {
                    entry.attrs.push(member_of_attr(groups));
                }
                let is_suffix = entry.ndn == suffix_ndn;
                loader.add(entry, is_suffix).map_err(|e| anyhow::anyhow!("{shown}:{line}: {e}"))?;
                progress.advance(None);
            }
        }
    }
    loader.finish()?;
    progress.finish();
    let total = started.elapsed();
    eprintln!(
        "imported {count} entries from {shown} in {:.2}s (checked in {:.2}s, written in {:.2}s)",
        total.as_secs_f64(),
        checked_at.as_secs_f64(),
        (total - checked_at).as_secs_f64()
    );
    Ok(())
}

/// The LDIF file an import reads, counting the bytes read (for its progress).
struct Counted {
    file: std::fs::File,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl std::io::Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// What the import does to every entry before it is written, but for its memberOf values
/// (known once every group is read) and its parent id.
pub(super) struct Prepare {
    params: crate::password::Argon2Params,
    /// The root DN: like slapadd, entries without them get creation stamps by it.
    creator: String,
}

impl Prepare {
    /// Hashes cleartext passwords (values keep their order and number), adds entryUUID and
    /// the creation stamps where missing, and drops the file's memberOf (the server's own,
    /// from the groups, replaces it).
    pub(super) fn apply(&self, entry: &mut birch_store::Entry) -> Result<()> {
        crate::write::prepare_new_entry(entry, &self.params, &self.creator)?;
        entry.attrs.retain(|a| birch_schema::desc::base(&a.canonical) != "memberof");
        Ok(())
    }
}

/// Answers "is this attribute description of type T" for every value of an import without
/// building strings, and looks a name up once for a run of values (LDIF lists the values of
/// an attribute one after another).
struct TypeOf<'a> {
    schema: &'a Schema,
    last: String,
    /// The canonical type of `last` (`None`: not in the schema).
    canonical: Option<&'a str>,
}

impl<'a> TypeOf<'a> {
    fn new(schema: &'a Schema) -> Self {
        TypeOf { schema, last: String::new(), canonical: None }
    }

    /// Whether `name` (options allowed) is of the type `canonical`: what
    /// `desc::base(&schema.canonical(name)) == canonical` says.
    fn is(&mut self, name: &str, canonical: &str) -> bool {
        if name != self.last || self.last.is_empty() {
            self.last.clear();
            self.last.push_str(name);
            self.canonical = self.schema.attr(name).map(|t| t.canonical.as_str());
        }
        match self.canonical {
            Some(c) => c == canonical,
            None => birch_schema::desc::base(name).eq_ignore_ascii_case(canonical),
        }
    }
}

/// Applies an LDIF file with change records (add/delete/modify/modrdn/moddn; content
/// records count as adds) record by record through the write pipeline as the operator
/// (every stage a write by the root DN over LDAP passes, so `ldapmodify -f` of the same
/// file as the root DN gives the same tree and the same errors), each in its own
/// transaction: the first failing record stops the import with `file:line`, and the
/// records before it stay applied.
fn apply_changes(
    cfg: &Config,
    store: &Store,
    schema: &Schema,
    shown: &str,
    records: LdifReader<BufReader<Counted>>,
    progress: &mut crate::progress::Progress,
    position: impl Fn() -> Option<u64>,
) -> Result<()> {
    use crate::write::{Actor, Change, Mod, ModOp, Options, Writer, WriterConfig};
    use birch_ldif::LdifModOp;

    let suffix_ndn = Dn::parse(&cfg.suffix)?.normalize(schema);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let passwords = Arc::new(crate::passwords::Passwords::new(cfg.argon2_params(), threads, Arc::default()));
    let writer = Writer::new(store.clone(), passwords, WriterConfig::from_config(cfg, &suffix_ndn));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut applied = 0usize;
    for rec in records {
        let rec = rec.map_err(|e| anyhow::anyhow!("{shown}:{}: {}", e.line, e.message))?;
        let line = rec.line();
        let change = match rec {
            LdifRecord::Content { dn, attrs, .. } | LdifRecord::Add { dn, attrs, .. } => {
                Change::Add { dn, attrs: attrs.into_iter().map(|(n, v)| (n, vec![v])).collect() }
            }
            LdifRecord::Delete { dn, .. } => Change::Delete { dn },
            LdifRecord::Modify { dn, mods, .. } => {
                let mods = mods
                    .into_iter()
                    .map(|m| Mod {
                        op: match m.op {
                            LdifModOp::Add => ModOp::Add,
                            LdifModOp::Delete => ModOp::Delete,
                            LdifModOp::Replace => ModOp::Replace,
                            LdifModOp::Increment => ModOp::Increment,
                        },
                        attr: m.attr,
                        values: m.values,
                    })
                    .collect();
                Change::Modify { dn, mods }
            }
            LdifRecord::ModDn { dn, new_rdn, delete_old_rdn, new_superior, .. } => {
                Change::Rename { dn, new_rdn, delete_old: delete_old_rdn, new_superior }
            }
        };
        let dn = change.dn().to_string();
        if let Err(e) = rt.block_on(writer.run(&Actor::Operator, change, &Options::default())) {
            let res = writer.failure(&Actor::Operator, &dn, &e);
            let matched =
                if res.matcheddn.is_empty() { String::new() } else { format!(" (matched {:?})", res.matcheddn) };
            bail!("{shown}:{line}: dn {dn:?}: {}{matched}", crate::write::error::describe(&res.code, &res.message));
        }
        applied += 1;
        progress.advance(position());
    }
    store.flush()?;
    eprintln!("applied {applied} change records from {shown}");
    Ok(())
}

/// Exports every entry as LDIF, parents before children.
pub fn export(cfg: &Config, output: Option<&Path>) -> Result<()> {
    if crate::backup::server_running(cfg) {
        bail!(
            "a server is running on {}: `birch export` works offline; for a consistent copy of a running \
             server use `birch backup FILE` (or stop the server first)",
            cfg.data_dir.display()
        );
    }
    // The walk reads each page about once: a large cache only costs fresh memory
    // (docs/performance.md, "Import and export", "Export").
    let (store, _) = open_store_with_cache(cfg, cfg.cache_mb.min(EXPORT_CACHE_MB) << 20)?;
    let mut out: Box<dyn Write> = match output {
        Some(p) => Box::new(std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    // Each entry is formatted from its encoding (no decoded Entry) into one buffer, written
    // out a megabyte at a time.
    let mut buf = Vec::with_capacity(EXPORT_BUFFER + (64 << 10));
    ldif::write_version(&mut buf)?;
    let mut progress = crate::progress::Progress::new("export");
    progress.pass("write", Some(store.len() as u64));
    for item in store.walk_raw()? {
        let (_, raw) = item?;
        let e = birch_store::EntryView::parse(&raw)?;
        ldif::push_entry(&mut buf, e.dn, &e.values)?;
        progress.advance(None);
        if buf.len() >= EXPORT_BUFFER {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    progress.finish();
    Ok(())
}

/// How much LDIF an export gathers before each write, in bytes.
const EXPORT_BUFFER: usize = 1 << 20;

/// The most page cache an export gives sled, in MiB.
const EXPORT_CACHE_MB: u64 = 16;

/// Prints every userPassword value whose scheme Birch cannot verify (such an account
/// cannot bind until an administrator sets a new password); returns how many there are.
fn report_unknown_schemes(store: &birch_store::Store) -> Result<usize> {
    let mut n = 0;
    for e in store.walk()? {
        let e = e?;
        for v in e.get("userpassword").map(|a| a.values.as_slice()).unwrap_or_default() {
            if let Some(scheme) = crate::password::unknown_scheme(v) {
                println!("warning: {}: userPassword uses the unknown scheme {{{scheme}}}: it never verifies", e.dn);
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Everything wrong with the store of `cfg`: indexes that disagree with the entries,
/// entries whose parent is missing, roots other than the suffix, entries the schema
/// rejects. Empty when the store is sound.
pub fn verify(cfg: &Config, store: &Store, schema: &Schema) -> Result<Vec<String>> {
    let mut problems = store.check()?;
    let suffix_ndn = Dn::parse(&cfg.suffix)?.normalize(schema);
    let mut validation = birch_schema::ValidationCache::default();
    let mut progress = crate::progress::Progress::new("check");
    progress.pass("entries", Some(store.len() as u64));
    for e in store.walk()? {
        let e = e?;
        progress.advance(None);
        if e.parent == 0 && e.ndn != suffix_ndn {
            problems.push(format!("{:?} is a root entry but not the suffix {}", e.dn, cfg.suffix));
        }
        if let Err(crate::write::WriteError::Ldap(code, text)) =
            crate::write::schema_check::check_cached(schema, &e, &mut validation)
        {
            problems.push(format!("{:?}: schema: {text} ({code:?})", e.dn));
        }
    }
    progress.finish();
    Ok(problems)
}

/// `birch check`: the store must be sound (see [`verify`]); also lists userPassword values
/// with unknown schemes. Exits non-zero when something is wrong.
pub fn check(cfg: &Config) -> Result<()> {
    let (store, schema) = open_store(cfg)?;
    let problems = verify(cfg, &store, &schema)?;
    let unknown = report_unknown_schemes(&store)?;
    if problems.is_empty() {
        let note = match unknown {
            0 => String::new(),
            n => format!("; {n} userPassword value(s) with an unknown scheme never verify (listed above)"),
        };
        println!("ok: {} entries, indexes agree, every entry has its parent, schema valid{note}", store.len());
        return Ok(());
    }
    for p in &problems {
        println!("problem: {p}");
    }
    bail!("{} problem(s) found", problems.len())
}
