//! The schema check of an import's first pass, on a second thread: the reading thread
//! hands it records in chunks (in file order) and learns of the first failure at the end.
//! Checking a record (building the entry, validating it) costs more than reading it, so
//! this halves the first pass on two cores. The checker can keep the entries it built, in
//! file order, prepared for writing ([`Prepare`]), so that the second pass need not read
//! and build them again. It keeps them encoded: a built entry is a few dozen small
//! allocations (about three times the record's size, all of it fresh memory the kernel must
//! zero), its encoding one buffer about the record's size, and the built entry's memory is
//! reused for the next record; the second pass adds memberOf and the parent to the encoding
//! and decodes only the attributes it indexes.

use anyhow::{anyhow, bail, Result};
use birch_schema::Schema;
use birch_store::ldif::LdifAttr;
use birch_store::{Entry, Store};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;

use super::Prepare;
use std::thread::JoinHandle;

/// One content record: its line, DN and attributes.
type Record = (usize, String, Vec<LdifAttr>);

/// Records per hand-over (fewer wake-ups than one record at a time).
const CHUNK: usize = 256;

/// A running schema check (see the module documentation).
pub(super) struct SchemaChecker {
    tx: SyncSender<Vec<Record>>,
    handle: JoinHandle<Result<Option<Kept>>>,
    chunk: Vec<Record>,
}

/// The entries a checker kept, encoded ([`Entry::encode`]): each with the line of its
/// record, in file order.
pub(super) type Kept = Vec<(usize, Vec<u8>)>;

impl SchemaChecker {
    /// Starts the checking thread; `shown` names the file in error messages. With `keep`,
    /// the entries it builds are prepared with it, kept and returned by
    /// [`SchemaChecker::finish`].
    pub(super) fn start(
        store: Store,
        schema: Arc<Schema>,
        shown: String,
        keep: Option<Arc<Prepare>>,
    ) -> Result<SchemaChecker> {
        let (tx, rx) = sync_channel::<Vec<Record>>(4);
        let handle = std::thread::Builder::new().name("birch-import-check".into()).spawn(move || {
            let mut validation = birch_schema::ValidationCache::default();
            // With `keep`: how entries are prepared, and those kept so far.
            let mut kept: Option<(Arc<Prepare>, Kept)> = keep.map(|p| (p, Vec::new()));
            for chunk in rx {
                for (line, dn, attrs) in chunk {
                    let at = |e: anyhow::Error| anyhow!("{shown}:{line}: {e}");
                    let mut entry = check(&store, &schema, &mut validation, &dn, attrs).map_err(at)?;
                    if let Some((prepare, kept)) = &mut kept {
                        prepare.apply(&mut entry).map_err(at)?;
                        kept.push((line, entry.encode()));
                    }
                }
            }
            Ok(kept.map(|(_, kept)| kept))
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

    /// Waits for every queued record to be checked; the first failure, in file order, or
    /// the entries kept (`None` unless the checker was started to keep them).
    pub(super) fn finish(self) -> Result<Option<Kept>> {
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
) -> Result<Entry> {
    let grouped: Vec<(String, Vec<Vec<u8>>)> = attrs.into_iter().map(|(n, v)| (n, vec![v])).collect();
    let entry = store.make_entry(dn, grouped)?;
    if let Err(crate::write::WriteError::Ldap(code, text)) =
        crate::write::schema_check::check_cached(schema, &entry, validation)
    {
        bail!("dn {dn:?}: {text} ({code:?}; --no-schema-check skips this check)");
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (Store, Arc<Schema>) {
        let schema = Arc::new(Schema::builtin());
        let idx = birch_store::IndexConfig::default();
        (Store::open_temporary(schema.clone(), idx).unwrap(), schema)
    }

    /// Cheap hash parameters: the tests hash a password or two.
    fn prepare() -> Arc<Prepare> {
        let params = crate::password::Argon2Params { m_cost_kib: 64, t_cost: 1, p: 1 };
        Arc::new(Prepare { params, creator: "cn=admin,dc=x".into() })
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
        let mut c = SchemaChecker::start(store, schema, "f.ldif".into(), None).unwrap();
        for i in 0..1000 {
            c.check(i, format!("cn=p{i},dc=x"), person(&format!("p{i}"))).unwrap();
        }
        c.finish().unwrap();
    }

    #[test]
    fn kept_entries_come_back_in_file_order_with_their_lines() {
        let (store, schema) = store();
        let mut c = SchemaChecker::start(store, schema, "f.ldif".into(), Some(prepare())).unwrap();
        for i in 0..1000 {
            c.check(10 + 5 * i, format!("cn=p{i},dc=x"), person(&format!("p{i}"))).unwrap();
        }
        let kept = c.finish().unwrap().expect("entries kept");
        assert_eq!(kept.len(), 1000);
        for (i, (line, encoded)) in kept.iter().enumerate() {
            let entry = Entry::decode(encoded).unwrap();
            assert_eq!((*line, entry.ndn.as_str()), (10 + 5 * i, format!("cn=p{i},dc=x").as_str()));
            assert_eq!(entry.get("sn").map(|a| a.values.clone()), Some(vec![b"x".to_vec()]));
        }
    }

    #[test]
    fn kept_entries_are_prepared_for_writing() {
        let (store, schema) = store();
        let mut c = SchemaChecker::start(store, schema, "f.ldif".into(), Some(prepare())).unwrap();
        let mut attrs = person("p");
        attrs.push(("userPassword".into(), b"secret".to_vec()));
        attrs.push(("userPassword".into(), b"{SSHA}DqV6XIETxOWeCUzhD82ZjaELq6YFektQNwEPpA==".to_vec()));
        c.check(1, "cn=p,dc=x".into(), attrs).unwrap();
        let kept = c.finish().unwrap().expect("entries kept");
        let entry = Entry::decode(&kept[0].1).unwrap();
        let values = |t: &str| entry.get(t).map(|a| a.values.clone()).unwrap_or_default();
        let passwords = values("userpassword");
        assert!(passwords[0].starts_with(b"{ARGON2}"), "{:?}", String::from_utf8_lossy(&passwords[0]));
        assert!(matches!(crate::password::verify(&passwords[0], b"secret"), crate::password::Verification::Match));
        assert_eq!(passwords[1], b"{SSHA}DqV6XIETxOWeCUzhD82ZjaELq6YFektQNwEPpA==".to_vec());
        assert_eq!(values("creatorsname"), vec![b"cn=admin,dc=x".to_vec()]);
        assert_eq!(values("entryuuid").len(), 1);
        assert_eq!(entry.parent, 0, "the parent is the second pass's");
    }

    #[test]
    fn the_first_failure_in_file_order_is_reported() {
        let (store, schema) = store();
        let mut c = SchemaChecker::start(store, schema, "f.ldif".into(), None).unwrap();
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
