//! Offline commands: import (like slapadd), export (like slapcat), check.

use crate::config::Config;
use anyhow::{bail, Context, Result};
use birch_schema::{Dn, Schema};
use birch_store::ldif::{self, LdifReader, LdifRecord};
use birch_store::{IndexConfig, Store};
use std::collections::HashSet;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

/// Opens the store named by the config; refuses a store left incomplete by an import.
pub fn open_store(cfg: &Config) -> Result<(Store, Arc<Schema>)> {
    let schema = Arc::new(Schema::builtin());
    let idx = IndexConfig::new(&schema, &cfg.index.equality, &cfg.index.substring, &cfg.index.unique);
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("data_dir {}", cfg.data_dir.display()))?;
    let store = Store::open(&cfg.data_dir, schema.clone(), idx, cfg.cache_mb << 20)
        .with_context(|| format!("cannot open the store in {} (is another birch using it?)", cfg.data_dir.display()))?;
    if store.meta_get(birch_store::store::META_IMPORT_INCOMPLETE)?.is_some() {
        bail!("{}: an import was interrupted; remove the directory and import again", cfg.data_dir.display());
    }
    Ok((store, schema))
}

/// Imports an LDIF file: a first pass checks every record (syntax, DNs, duplicates,
/// parents, inside the suffix); only then a second pass writes, in large batches.
pub fn import(cfg: &Config, file: &Path) -> Result<()> {
    let (store, schema) = open_store(cfg)?;
    let suffix_ndn = Dn::parse(&cfg.suffix)?.normalize(&schema);
    let shown = file.display().to_string();
    let open = || -> Result<LdifReader<BufReader<std::fs::File>>> {
        let f = std::fs::File::open(file).with_context(|| format!("cannot open {shown}"))?;
        Ok(LdifReader::new(BufReader::with_capacity(1 << 20, f)))
    };
    let started = std::time::Instant::now();
    // Pass 1: validate.
    let mut seen: HashSet<String> = HashSet::new();
    let mut count = 0usize;
    for rec in open()? {
        let rec = rec.map_err(|e| anyhow::anyhow!("{shown}:{}: {}", e.line, e.message))?;
        let (line, dn) = match &rec {
            LdifRecord::Content { line, dn, .. } => (*line, dn),
            other => bail!("{shown}:{}: change records are not supported by import yet", other.line()),
        };
        let parsed = Dn::parse(dn).map_err(|e| anyhow::anyhow!("{shown}:{line}: dn {dn:?}: {e}"))?;
        let ndn = parsed.normalize(&schema);
        if ndn != suffix_ndn && !ndn.ends_with(&format!(",{suffix_ndn}")) {
            bail!("{shown}:{line}: dn {dn:?} is outside the suffix {}", cfg.suffix);
        }
        if seen.contains(&ndn) || store.id_of(&ndn)?.is_some() {
            bail!("{shown}:{line}: dn {dn:?}: entry already exists");
        }
        if ndn != suffix_ndn {
            let parent = parsed.parent().normalize(&schema);
            if !seen.contains(&parent) && store.id_of(&parent)?.is_none() {
                bail!("{shown}:{line}: dn {dn:?}: parent entry does not exist (parents must come before children)");
            }
        }
        seen.insert(ndn);
        count += 1;
    }
    drop(seen);
    // Pass 2: write.
    let params = cfg.argon2_params();
    let mut loader = store.bulk_loader(50_000);
    for rec in open()? {
        let rec = rec.map_err(|e| anyhow::anyhow!("{shown}:{}: {}", e.line, e.message))?;
        let LdifRecord::Content { line, dn, attrs } = rec else {
            continue;
        };
        let mut grouped: Vec<(String, Vec<Vec<u8>>)> = Vec::with_capacity(attrs.len());
        for (name, value) in attrs {
            let value = if schema.canonical(&name) == "userpassword" && !crate::password::is_hashed(&value) {
                crate::password::hash_argon2id(&value, &params)?.into_bytes()
            } else {
                value
            };
            grouped.push((name, vec![value]));
        }
        let entry = store.make_entry(&dn, grouped).map_err(|e| anyhow::anyhow!("{shown}:{line}: {e}"))?;
        let is_suffix = entry.ndn == suffix_ndn;
        loader.add(entry, is_suffix).map_err(|e| anyhow::anyhow!("{shown}:{line}: {e}"))?;
    }
    loader.finish()?;
    eprintln!("imported {count} entries from {shown} in {:.2}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Exports every entry as LDIF, parents before children.
pub fn export(cfg: &Config, output: Option<&Path>) -> Result<()> {
    let (store, _) = open_store(cfg)?;
    let out: Box<dyn Write> = match output {
        Some(p) => Box::new(std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, out);
    ldif::write_version(&mut out)?;
    for e in store.walk()? {
        let e = e?;
        let attrs: Vec<(&str, &[u8])> =
            e.attrs.iter().flat_map(|a| a.values.iter().map(move |v| (a.name.as_str(), v.as_slice()))).collect();
        ldif::write_entry(&mut out, &e.dn, &attrs)?;
    }
    out.flush()?;
    Ok(())
}

/// Checks index consistency; exits non-zero when something disagrees.
pub fn check(cfg: &Config) -> Result<()> {
    let (store, _) = open_store(cfg)?;
    let problems = store.check()?;
    if problems.is_empty() {
        println!("ok: {} entries, indexes agree", store.len());
        return Ok(());
    }
    for p in &problems {
        println!("problem: {p}");
    }
    bail!("{} problem(s) found", problems.len())
}
