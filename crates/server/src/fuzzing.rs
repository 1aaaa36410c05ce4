//! The fuzz harness (used by the targets in `fuzz/`, docs/testing.md): a whole
//! server on a throw-away in-memory store that answers the bytes a client sends with the
//! bytes the server writes back, through the same reader, decoder, handlers and encoder a
//! TCP connection uses.
//!
//! Every call starts from the same state (a fresh store with the suffix and the demo
//! campus, fresh rate limits and sessions), so that a crash found by the fuzzer replays
//! from its input alone. Passwords are hashed with the cheapest argon2 parameters, so a
//! bind costs microseconds rather than the production tens of milliseconds.

use crate::config::Config;
use crate::context::ServerCtx;
use anyhow::{Context, Result};
use birch_schema::{Dn, Schema};
use birch_store::{Entry, IndexConfig, Store};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The root password of the harness's server (root DN `cn=admin,dc=example,dc=org`).
pub const ROOT_PASSWORD: &str = "fuzz-root-secret";

/// What every request sequence starts from; builds a fresh server per call.
pub struct Harness {
    cfg: Config,
    schema: Arc<Schema>,
    index: IndexConfig,
    access: Arc<crate::access::Access>,
    entries: Vec<Entry>,
    root_hash: Vec<u8>,
    root_ndn: String,
    suffix_ndn: String,
    rt: tokio::runtime::Runtime,
}

impl Harness {
    /// Prepares the configuration, schema, access rules and demo entries once.
    pub fn new() -> Result<Harness> {
        let mut cfg = Config::default();
        // The smallest argon2 parameters argon2 accepts: hashing on write and rehash on
        // bind stay cheap.
        cfg.argon2.m_cost_kib = 8;
        cfg.argon2.t_cost = 1;
        cfg.argon2.parallelism = 1;
        cfg.hash_threads = 1;
        let schema = Arc::new(cfg.schema()?);
        let index = IndexConfig::new(&schema, &cfg.index.equality, &cfg.index.substring, &cfg.index.unique);
        let access = Arc::new(crate::access::Access::compile(&cfg, &schema).context("access rules")?);
        let params = cfg.argon2_params();
        let root_hash = crate::password::hash_argon2id(ROOT_PASSWORD.as_bytes(), &params)?.into_bytes();
        let suffix_ndn = Dn::parse(&cfg.suffix)?.normalize(&schema);
        let root_ndn = Dn::parse(&cfg.root_dn())?.normalize(&schema);
        // The entries are made against a scratch store (make_entry needs one) and added to
        // a fresh store on every call.
        let scratch = Store::open_temporary(schema.clone(), index.clone())?;
        let mut entries = vec![suffix_entry(&scratch, &cfg)?];
        let text = crate::demo::DEMO_LDIF.replace("{suffix}", &cfg.suffix);
        for rec in birch_store::ldif::LdifReader::new(text.as_bytes()) {
            let birch_store::ldif::LdifRecord::Content { dn, attrs, .. } = rec? else {
                continue;
            };
            let mut grouped: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
            for (name, value) in attrs {
                let value = if name.eq_ignore_ascii_case("userPassword") {
                    crate::password::hash_argon2id(&value, &params)?.into_bytes()
                } else {
                    value
                };
                grouped.push((name, vec![value]));
            }
            let mut entry = scratch.make_entry(&dn, grouped)?;
            crate::ops::operational::on_add(&mut entry, &cfg.root_dn());
            entries.push(entry);
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(Harness { cfg, schema, index, access, entries, root_hash, root_ndn, suffix_ndn, rt })
    }

    /// Sends `request` (any bytes: normally a sequence of LDAP PDUs) on a new connection to
    /// a new server, closes the sending side and returns everything the server wrote back.
    pub fn respond(&self, request: &[u8]) -> Result<Vec<u8>> {
        let ctx = self.server()?;
        self.rt.block_on(async move {
            let (mut client, server) = tokio::io::duplex(64 << 10);
            let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
            let served = tokio::spawn(crate::session::serve_stream(server, peer, ctx));
            let (mut rd, mut wr) = tokio::io::split(&mut client);
            let send = async {
                // The server may close the connection before reading everything.
                let _ = wr.write_all(request).await;
                let _ = wr.shutdown().await;
            };
            let mut out = Vec::new();
            let (_, read) = tokio::join!(send, rd.read_to_end(&mut out));
            read?;
            served.await?;
            Ok(out)
        })
    }

    /// The schema in force (the built-in RFC 2307 profile).
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The configuration the server runs with (defaults, cheap argon2).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// A fresh in-memory store holding the suffix entry and the demo campus.
    pub fn fresh_store(&self) -> Result<Store> {
        let store = Store::open_temporary(self.schema.clone(), self.index.clone())?;
        for (i, e) in self.entries.iter().enumerate() {
            store.add(e.clone(), i == 0)?;
        }
        Ok(store)
    }

    /// A fresh server context over a fresh store holding the prepared entries.
    fn server(&self) -> Result<Arc<ServerCtx>> {
        let store = self.fresh_store()?;
        let cfg = self.cfg.clone();
        Ok(Arc::new(ServerCtx {
            argon2: cfg.argon2_params(),
            hash_permits: tokio::sync::Semaphore::new(cfg.hash_threads),
            tree_lock: Arc::new(tokio::sync::RwLock::new(())),
            limiter: crate::ppolicy::ratelimit::FailureLimiter::new(&cfg.rate_limit),
            work_queue: crate::limits::WorkQueue::new(cfg.connections.max_pending_ops),
            store,
            schema: self.schema.clone(),
            access: std::sync::RwLock::new(self.access.clone()),
            root_ndn: self.root_ndn.clone(),
            suffix_ndn: self.suffix_ndn.clone(),
            root_hash: self.root_hash.clone(),
            tls: None,
            config_path: None,
            metrics: Default::default(),
            config: cfg,
        }))
    }
}

/// The suffix entry `birch serve` creates on first start (`dc=example,dc=org`).
fn suffix_entry(store: &Store, cfg: &Config) -> Result<Entry> {
    let attrs = vec![
        ("objectClass".to_string(), vec![b"top".to_vec(), b"dcObject".to_vec(), b"organization".to_vec()]),
        ("dc".to_string(), vec![b"example".to_vec()]),
        ("o".to_string(), vec![b"example".to_vec()]),
    ];
    let mut entry = store.make_entry(&cfg.suffix, attrs)?;
    crate::ops::operational::on_add(&mut entry, &cfg.root_dn());
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use birch_proto::ldap3_lber::parse::Parser;
    use birch_proto::ldap3_proto::proto::{LdapMsg, LdapOp, LdapResultCode};

    fn messages(mut bytes: &[u8]) -> Vec<LdapMsg> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let (rest, tag) = Parser::new(64).parse(bytes).expect("BER");
            out.push(LdapMsg::try_from(tag).expect("an LDAP message"));
            bytes = rest;
        }
        out
    }

    /// An anonymous search of the rootDSE gets the rootDSE and success; the connection then
    /// ends with the client's end of input.
    #[test]
    fn answers_a_rootdse_search() {
        let h = Harness::new().expect("harness");
        // SearchRequest msgid 1, base "", scope base, (objectClass=*).
        let req = [
            0x30, 0x25, 0x02, 0x01, 0x01, 0x63, 0x20, 0x04, 0x00, 0x0a, 0x01, 0x00, 0x0a, 0x01, 0x00, 0x02, 0x01, 0x00,
            0x02, 0x01, 0x00, 0x01, 0x01, 0x00, 0x87, 0x0b, b'o', b'b', b'j', b'e', b'c', b't', b'C', b'l', b'a', b's',
            b's', 0x30, 0x00,
        ];
        let msgs = messages(&h.respond(&req).expect("respond"));
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(matches!(&msgs[0].op, LdapOp::SearchResultEntry(e) if e.dn.is_empty()), "{msgs:?}");
        assert!(matches!(&msgs[1].op, LdapOp::SearchResultDone(r) if r.code == LdapResultCode::Success), "{msgs:?}");
        assert!(msgs.iter().all(|m| m.msgid == 1));
    }

    /// Every call starts from the same directory: an entry deleted by one call is there
    /// in the next.
    #[test]
    fn every_call_starts_afresh() {
        let h = Harness::new().expect("harness");
        let store = h.fresh_store().expect("store");
        assert!(store.get_by_ndn("uid=alice,ou=people,dc=example,dc=org").expect("read").is_some());
        store.delete("uid=alice,ou=people,dc=example,dc=org").expect("delete");
        let again = h.fresh_store().expect("store");
        assert!(again.get_by_ndn("uid=alice,ou=people,dc=example,dc=org").expect("read").is_some());
    }
}
