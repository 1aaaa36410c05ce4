//! The fuzz harness (used by the targets in `fuzz/`, docs/testing.md): a whole
//! server on a throw-away in-memory store that answers the bytes a client sends with the
//! bytes the server writes back, through the same reader, decoder, handlers and encoder a
//! TCP connection uses.
//!
//! Every call starts from the same directory (the suffix and the demo campus) with fresh
//! rate limits and sessions, so that a crash found by the fuzzer replays from its input
//! alone: after each call the store is put back as it was (entries added or moved are
//! deleted, changed ones restored, deleted ones added again), which is much cheaper than a
//! new sled database per call. Passwords are hashed with the cheapest argon2 parameters, so
//! a bind costs microseconds rather than the production tens of milliseconds.

use crate::config::Config;
use crate::context::ServerCtx;
use anyhow::{Context, Result};
use birch_proto::ldap3_proto::proto::LdapOp;
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
    suffix_ndn: String,
    /// The store every call runs against, restored after each.
    store: Store,
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
        // pwdLastSuccess is written off the answer path, after a call may have returned:
        // it would change the store behind the restore (every call must start the same).
        cfg.ppolicy.last_bind = false;
        let schema = Arc::new(cfg.schema()?);
        let index = IndexConfig::new(&schema, &cfg.index.equality, &cfg.index.substring, &cfg.index.unique);
        let access = Arc::new(crate::access::Access::compile(&cfg, &schema).context("access rules")?);
        let params = cfg.argon2_params();
        let root_hash = crate::password::hash_argon2id(ROOT_PASSWORD.as_bytes(), &params)?.into_bytes();
        let suffix_ndn = Dn::parse(&cfg.suffix)?.normalize(&schema);
        // The entries are made against a scratch store (make_entry needs one) and put into
        // a fresh store on every call.
        let scratch = Store::open_temporary(schema.clone(), index.clone())?;
        let suffix = Dn::parse(&cfg.suffix)?;
        let mut records = vec![(cfg.suffix.clone(), crate::demo::suffix_attrs(&suffix, &schema))];
        records.extend(crate::demo::records(&cfg.suffix)?);
        let mut entries = Vec::with_capacity(records.len());
        for (dn, attrs) in records {
            let mut entry = scratch.make_entry(&dn, attrs)?;
            crate::write::prepare_new_entry(&mut entry, &params, &cfg.root_dn())?;
            entries.push(entry);
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let store = Store::open_temporary(schema.clone(), index.clone())?;
        let mut h = Harness { cfg, schema, index, access, entries, root_hash, suffix_ndn, store, rt };
        h.store = h.fresh_store()?;
        // As stored (with their parents' ids), for comparing after each call.
        for e in &mut h.entries {
            if let Some((_, stored)) = h.store.get_by_ndn(&e.ndn)? {
                *e = stored;
            }
        }
        Ok(h)
    }

    /// Sends `request` (any bytes: normally a sequence of LDAP PDUs) on a new connection to
    /// a new server and returns everything the server wrote back. Like a real client, the
    /// harness sends one request at a time and waits for its final response (so that a bind
    /// is complete before the next request runs); bytes that do not frame as PDUs are sent
    /// as they are, then the sending side is closed.
    ///
    /// An error means the harness itself failed, or the server left a request unanswered
    /// for [`ANSWER_WAIT`].
    pub fn respond(&self, request: &[u8]) -> Result<Vec<u8>> {
        let ctx = self.server()?;
        let max_pdu = ctx.config().max_pdu_bytes;
        let out = self.rt.block_on(async move {
            let (client, server) = tokio::io::duplex(64 << 10);
            let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
            let served = tokio::spawn(crate::session::serve_stream(server, peer, ctx.clone()));
            let out = tokio::time::timeout(ANSWER_WAIT, converse(client, request, max_pdu))
                .await
                .map_err(|_| anyhow::anyhow!("the server left a request unanswered for {ANSWER_WAIT:?}"))??;
            served.await?;
            // What binds left running (rehash of a legacy hash) ends before the restore.
            ctx.writer().flush_after_binds().await;
            Ok::<_, anyhow::Error>(out)
        })?;
        self.restore()?;
        Ok(out)
    }

    /// Puts the store back into its initial state after a call (through the write
    /// pipeline, as the operator).
    fn restore(&self) -> Result<()> {
        let writer = self.writer(&self.store);
        let initial: std::collections::HashSet<String> = self.entries.iter().map(|e| e.ndn.clone()).collect();
        let entries = self.entries.iter().enumerate().map(|(i, e)| (e.clone(), i == 0)).collect();
        self.rt.block_on(async {
            writer.remove_except(initial).await.context("restoring: deleting what was added")?;
            writer.put_entries(entries).await.context("restoring the initial entries")
        })
    }

    /// A write pipeline over `store` with the harness's configuration.
    fn writer(&self, store: &Store) -> crate::write::Writer {
        let passwords = Arc::new(crate::passwords::Passwords::new(self.cfg.argon2_params(), 1, Arc::default()));
        let cfg = crate::write::WriterConfig::from_config(&self.cfg, &self.suffix_ndn);
        crate::write::Writer::new(store.clone(), passwords, cfg)
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
        let entries = self.entries.iter().enumerate().map(|(i, e)| (e.clone(), i == 0)).collect();
        self.rt.block_on(self.writer(&store).put_entries(entries))?;
        Ok(store)
    }

    /// A fresh server context over the harness's store.
    fn server(&self) -> Result<Arc<ServerCtx>> {
        let cfg = self.cfg.clone();
        Ok(Arc::new(ServerCtx::new(cfg, None, self.store.clone(), self.access.clone(), self.root_hash.clone(), None)?))
    }
}

/// Longest wait for the server to answer a request.
pub const ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the client waits for after sending one piece of the input.
enum Expect {
    /// The final response to this message id (or the end of the connection).
    Answer(i32),
    /// Nothing (Abandon).
    Nothing,
    /// The end of the connection (Unbind, or input the server must hang up on).
    Hangup,
}

/// Splits the input into PDUs as the server frames them, each with what it should get.
fn pieces(mut input: &[u8], max_pdu: usize) -> Vec<(&[u8], Expect)> {
    use tokio_util::codec::Decoder;
    let mut out = Vec::new();
    let mut codec = birch_proto::BirchCodec::new(max_pdu);
    while !input.is_empty() {
        let mut buf = bytes::BytesMut::from(input);
        let decoded = codec.decode(&mut buf);
        let used = input.len() - buf.len();
        let expect = match decoded {
            Ok(Some(birch_proto::Decoded::Msg(m))) => match m.op {
                LdapOp::UnbindRequest => Expect::Hangup,
                LdapOp::AbandonRequest(_) => Expect::Nothing,
                _ => Expect::Answer(m.msgid),
            },
            Ok(Some(birch_proto::Decoded::Invalid { msgid: Some(id), op_tag, reason })) => {
                match birch_proto::response_for_invalid(id, op_tag, &reason) {
                    Some(_) => Expect::Answer(id),
                    None => Expect::Hangup,
                }
            }
            // Bad framing, an incomplete PDU or an invalid message id: the rest goes as it is.
            _ => {
                out.push((input, Expect::Hangup));
                break;
            }
        };
        out.push((&input[..used], expect));
        input = &input[used..];
    }
    out
}

/// Whether a response ends its operation.
fn is_final(op: &LdapOp) -> bool {
    !matches!(op, LdapOp::SearchResultEntry(_) | LdapOp::SearchResultReference(_) | LdapOp::IntermediateResponse(_))
}

/// The client side of one connection: sends the pieces one at a time, waiting for each
/// answer; returns all the bytes received.
async fn converse(client: tokio::io::DuplexStream, input: &[u8], max_pdu: usize) -> Result<Vec<u8>> {
    use tokio_util::codec::Decoder;
    let (mut rd, mut wr) = tokio::io::split(client);
    let mut out = Vec::new();
    let mut buf = bytes::BytesMut::new();
    let mut codec = birch_proto::BirchCodec::new(usize::MAX);
    let mut open = true;
    for (bytes, expect) in pieces(input, max_pdu) {
        // The server may have closed the connection already.
        if wr.write_all(bytes).await.is_err() {
            break;
        }
        let Expect::Answer(id) = expect else { continue };
        'answer: while open {
            while let Some(d) = codec.decode(&mut buf)? {
                if let birch_proto::Decoded::Msg(m) = d {
                    if m.msgid == id && is_final(&m.op) {
                        break 'answer;
                    }
                }
            }
            let before = buf.len();
            open = rd.read_buf(&mut buf).await? > 0;
            out.extend_from_slice(&buf[before..]);
        }
    }
    let _ = wr.shutdown().await;
    rd.read_to_end(&mut out).await?;
    Ok(out)
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

    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        assert!(body.len() < 0x80);
        [&[tag, body.len() as u8][..], body].concat()
    }

    /// Found by the `request` fuzz target: a response PDU sent by the client (here a
    /// SearchResultReference) was silently ignored; RFC 4511 section 4.1.1 wants a Notice of
    /// Disconnection with protocolError and the end of the session.
    #[test]
    fn a_response_from_the_client_ends_the_session() {
        let h = Harness::new().expect("harness");
        let reference = tlv(0x30, &[tlv(0x02, &[1]), tlv(0x73, &tlv(0x04, b"ldap://x/"))].concat());
        let search = [
            0x30, 0x25, 0x02, 0x01, 0x02, 0x63, 0x20, 0x04, 0x00, 0x0a, 0x01, 0x00, 0x0a, 0x01, 0x00, 0x02, 0x01, 0x00,
            0x02, 0x01, 0x00, 0x01, 0x01, 0x00, 0x87, 0x0b, b'o', b'b', b'j', b'e', b'c', b't', b'C', b'l', b'a', b's',
            b's', 0x30, 0x00,
        ];
        let msgs = messages(&h.respond(&[reference, search.to_vec()].concat()).expect("respond"));
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert_eq!(msgs[0].msgid, 0);
        match &msgs[0].op {
            LdapOp::ExtendedResponse(r) => {
                assert_eq!(r.res.code, LdapResultCode::ProtocolError);
                assert_eq!(r.name.as_deref(), Some("1.3.6.1.4.1.1466.20036"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Every call starts from the same directory: the root deletes alice in one call, and
    /// deleting her again in the next call succeeds too.
    #[test]
    fn every_call_starts_afresh() {
        let h = Harness::new().expect("harness");
        let bind = tlv(
            0x30,
            &[
                tlv(0x02, &[1]),
                tlv(
                    0x60,
                    &[tlv(0x02, &[3]), tlv(0x04, b"cn=admin,dc=example,dc=org"), tlv(0x80, ROOT_PASSWORD.as_bytes())]
                        .concat(),
                ),
            ]
            .concat(),
        );
        let delete = tlv(0x30, &[tlv(0x02, &[2]), tlv(0x4a, b"uid=alice,ou=people,dc=example,dc=org")].concat());
        let request = [bind, delete].concat();
        for _ in 0..2 {
            let msgs = messages(&h.respond(&request).expect("respond"));
            assert_eq!(msgs.len(), 2, "{msgs:?}");
            assert!(
                matches!(&msgs[0].op, LdapOp::BindResponse(r) if r.res.code == LdapResultCode::Success),
                "{msgs:?}"
            );
            assert!(matches!(&msgs[1].op, LdapOp::DelResponse(r) if r.code == LdapResultCode::Success), "{msgs:?}");
        }
        let alice = h.store.get_by_ndn("uid=alice,ou=people,dc=example,dc=org").expect("read").expect("alice");
        let orig = h.entries.iter().find(|e| e.ndn.starts_with("uid=alice,")).expect("alice at start");
        assert!(crate::write::same_content(&alice.1.attrs, &orig.attrs), "{:?} vs {:?}", alice.1.attrs, orig.attrs);
    }
}
