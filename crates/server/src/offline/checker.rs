//! The schema check of an import's first pass, on a second thread: the reading thread
//! hands it records in chunks (in file order) and learns of the first failure at the end.
//! Checking a record (building the entry, validating it) costs more than reading it, so
//! this halves the first pass on two cores.

use anyhow::{anyhow, bail, Result};
use birch_schema::Schema;
use birch_store::ldif::LdifAttr;
use birch_store::Store;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// One content record: its line, DN and attributes.
type Record = (usize, String, Vec<LdifAttr>);

/// Records per hand-over (fewer wake-ups than one record at a time).
const CHUNK: usize = 256;

/// A running schema check (see the module documentation).
pub(super) struct SchemaChecker {
    tx: SyncSender<Vec<Record>>,
    handle: JoinHandle<Result<()>>,
    chunk: Vec<Record>,
}

impl SchemaChecker {
    /// Starts the checking thread; `shown` names the file in error messages.
    pub(super) fn start(store: Store, schema: Arc<Schema>, shown: String) -> Result<SchemaChecker> {
        let (tx, rx) = sync_channel::<Vec<Record>>(4);
        let handle = std::thread::Builder::new().name("birch-import-check".into()).spawn(move || {
            let mut validation = birch_schema::ValidationCache::default();
            for chunk in rx {
                for (line, dn, attrs) in chunk {
                    check(&store, &schema, &mut validation, &dn, attrs).map_err(|e| anyhow!("{shown}:{line}: {e}"))?;
                }
            }
            Ok(())
        })?;
        Ok(SchemaChecker { tx, handle, chunk: Vec::with_capacity(CHUNK) })
    }

    /// Queues a record. Fails when the checker has stopped at a failure (which
    /// [`SchemaChecker::finish`] returns), so that the reader need not read on.
    pub(super) fn check(&mut self, line: usize, dn: String, attrs: Vec<LdifAttr>) -> Result<()> {
        self.chunk.push((line, dn, attrs));
        if self.chunk.len() >= CHUNK {
            let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
            if self.tx.send(chunk).is_err() {
                bail!("the schema check stopped");
            }
        }
        Ok(())
    }

    /// Waits for every queued record to be checked; the first failure, in file order.
    pub(super) fn finish(self) -> Result<()> {
        // A failed send means the checker stopped at a failure, which join returns.
        let _ = self.tx.send(self.chunk);
        drop(self.tx);
        self.handle.join().map_err(|_| anyhow!("the schema check thread panicked"))?
    }
}

/// Builds the entry of one record and validates it against the schema.
fn check(
    store: &Store,
    schema: &Schema,
    validation: &mut birch_schema::ValidationCache,
    dn: &str,
    attrs: Vec<LdifAttr>,
) -> Result<()> {
    let grouped: Vec<(String, Vec<Vec<u8>>)> = attrs.into_iter().map(|(n, v)| (n, vec![v])).collect();
    let entry = store.make_entry(dn, grouped)?;
    if let Err(crate::ops::write::WriteError::Ldap(code, text)) =
        crate::ops::write::check_schema_cached(schema, &entry, validation)
    {
        bail!("dn {dn:?}: {text} ({code:?}; --no-schema-check skips this check)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (Store, Arc<Schema>) {
        let schema = Arc::new(Schema::builtin());
        let idx = birch_store::IndexConfig::default();
        (Store::open_temporary(schema.clone(), idx).unwrap(), schema)
    }

    fn person(cn: &str) -> Vec<LdifAttr> {
        vec![
            ("objectClass".into(), b"person".to_vec()),
            ("cn".into(), cn.as_bytes().to_vec()),
            ("sn".into(), b"x".to_vec()),
        ]
    }

    #[test]
    fn valid_records_pass() {
        let (store, schema) = store();
        let mut c = SchemaChecker::start(store, schema, "f.ldif".into()).unwrap();
        for i in 0..1000 {
            c.check(i, format!("cn=p{i},dc=x"), person(&format!("p{i}"))).unwrap();
        }
        c.finish().unwrap();
    }

    #[test]
    fn the_first_failure_in_file_order_is_reported() {
        let (store, schema) = store();
        let mut c = SchemaChecker::start(store, schema, "f.ldif".into()).unwrap();
        let mut stopped = false;
        for i in 0..3000 {
            let mut attrs = person(&format!("p{i}"));
            if i == 700 || i == 900 {
                attrs.pop(); // no sn: person requires it
            }
            if c.check(i, format!("cn=p{i},dc=x"), attrs).is_err() {
                stopped = true;
                break;
            }
        }
        let err = c.finish().unwrap_err().to_string();
        assert!(err.starts_with("f.ldif:700: dn \"cn=p700,dc=x\""), "{err}");
        assert!(stopped, "the reader learns that the checker stopped");
    }
}
