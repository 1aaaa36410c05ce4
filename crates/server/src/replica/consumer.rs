//! The Content Synchronization consumer (RFC 4533): follows a provider (Birch, or slapd
//! with syncprov) with one refreshAndPersist search, reconnecting with backoff and resuming
//! from the stored cookie.
//!
//! The `ldap3` client carries the connection, the bind and the search; the sync values and
//! entries are decoded here from the raw messages (`birch_proto::sync`), never panicking on
//! what a provider sends. Entries are written through the write pipeline ([`crate::write::Writer::replicate`]) and
//! friends on blocking threads. During the refresh stage every entryUUID the provider names
//! (whole or present) is collected; at the end of a present phase whatever is held under
//! the base and was not named is deleted. Entries whose parent has not arrived yet (slapd
//! sends in id order) wait until the end of the refresh. The cookie is stored with the
//! change it came with, or on its own, and made durable before the next message is read
//! in the persist stage.
//!
//! A multi-provider server runs one such consumer per peer (`[[replication.providers]]`).
//! Its cookie is its own contextCSN set (one CSN per server id) and names its server id,
//! so a peer neither sends back this server's own changes nor what it has seen; each
//! change passes the conflict rule ([`super::conflict`], via
//! [`crate::write::Writer::replicate_peer`]) and the peer's contextCSN set (sent with every
//! change) is merged in the same durable write. A refresh's entries come in any order, so
//! they move no contextCSN: the peer's set is merged at the refresh's end.

use super::conflict::Resolution;
use super::stats::PeerStats;
use crate::config::replication::Upstream;
use crate::context::ServerCtx;
use crate::write::peer::PeerChange;
use crate::write::{Replicated, WriteError};
use anyhow::{anyhow, bail, Context as _, Result};
use birch_proto::sync::{self, Cookie, State, SyncInfo};
use birch_store::{Entry, Store, StoreError};
use ldap3::asn1::{StructureTag, PL};
use ldap3::controls::RawControl;
use ldap3::{LdapConnAsync, LdapConnSettings, Scope};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Attributes a replica never stores: computed on the fly here, or (contextCSN) kept in
/// the store's meta data.
const NOT_STORED: &[&str] =
    &["entrydn", "subschemasubentry", "hassubordinates", "numsubordinates", "structuralobjectclass", "contextcsn"];

/// Runs the consumers (one per provider or peer) until `shutdown`.
pub async fn run(ctx: Arc<ServerCtx>, shutdown: CancellationToken) {
    let ups = ctx.config().replication.upstreams();
    let mut tasks: Vec<_> =
        ups.into_iter().map(|up| tokio::spawn(follow_forever(ctx.clone(), up, shutdown.clone()))).collect();
    if ctx.store().is_multi_provider() {
        tasks.push(tokio::spawn(promote_shadows_forever(ctx.clone(), shutdown.clone())));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// How often a multi-provider server looks for shadowed entries whose DN is free.
const SHADOW_CHECK: Duration = Duration::from_secs(2);

/// Brings back add/add losers whose winner left their DN, every [`SHADOW_CHECK`] until
/// `shutdown` (a prefix scan of an index that is empty unless such conflicts happened).
async fn promote_shadows_forever(ctx: Arc<ServerCtx>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(SHADOW_CHECK) => {}
        }
        match ctx.writer().promote_shadows().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "entries shadowed by an add/add conflict took their DN back"),
            Err(e) => tracing::warn!(error = %e, "looking for shadowed entries failed"),
        }
    }
}

/// One link: follows `up` until `shutdown`, reconnecting with backoff.
async fn follow_forever(ctx: Arc<ServerCtx>, up: Upstream, shutdown: CancellationToken) {
    let cfg = &ctx.config().replication;
    let provider = up.url.clone();
    let peer = ctx.metrics().replication.peer(&provider);
    let initial = Duration::from_millis(cfg.retry_initial_ms);
    let max = Duration::from_millis(cfg.retry_max_ms);
    let mut wait = initial;
    loop {
        let mut connected = false;
        let outcome = follow(&ctx, &up, &peer, &shutdown, &mut connected).await;
        ctx.metrics().replication.connected.store(0, Ordering::Relaxed);
        peer.connected.store(0, Ordering::Relaxed);
        if shutdown.is_cancelled() {
            return;
        }
        match outcome {
            Ok(()) => tracing::info!(%provider, "the provider ended the sync search; reconnecting"),
            Err(e) => {
                tracing::warn!(%provider, error = %format!("{e:#}"), retry_in_ms = wait.as_millis() as u64, "replication interrupted")
            }
        }
        if connected {
            wait = initial;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(max);
    }
}

/// What one refresh stage has gathered so far.
struct Refresh {
    /// entryUUIDs the provider named in the present phase.
    present: HashSet<[u8; 16]>,
    /// Entries whose parent had not arrived.
    deferred: Vec<Entry>,
    /// Entries received, logged every few seconds (the total is not known in advance).
    progress: crate::progress::Progress,
}

impl Default for Refresh {
    fn default() -> Self {
        let mut progress = crate::progress::Progress::logs_only("replica refresh");
        progress.pass("receive", None);
        Refresh { present: HashSet::default(), deferred: Vec::new(), progress }
    }
}

/// What one connection works with: the server, the link's configuration and figures.
struct Link<'a> {
    ctx: &'a Arc<ServerCtx>,
    up: &'a Upstream,
    peer: &'a PeerStats,
}

/// One connection: bind, sync search, apply until it ends.
async fn follow(
    ctx: &Arc<ServerCtx>,
    up: &Upstream,
    peer: &PeerStats,
    shutdown: &CancellationToken,
    connected: &mut bool,
) -> Result<()> {
    let cfg = &ctx.config().replication;
    let provider = up.url.as_str();
    let link = Link { ctx, up, peer };
    let mut settings = LdapConnSettings::new().set_conn_timeout(Duration::from_secs(10));
    if let Some(ca) = &up.ca_file {
        settings = settings.set_config(crate::tls::client_config("replication.ca_file", ca)?);
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, provider).await.context("connecting")?;
    ldap3::drive!(conn);
    if let Some(dn) = &up.bind_dn {
        let pw = bind_password(up)?;
        ldap.simple_bind(dn, &pw).await.context("binding")?.success().context("binding")?;
    }
    *connected = true;
    let stats = &ctx.metrics().replication;
    stats.connected.store(1, Ordering::Relaxed);
    stats.connects.fetch_add(1, Ordering::Relaxed);
    peer.connected.store(1, Ordering::Relaxed);
    peer.contact();
    let store = ctx.store().clone();
    let cookie = if up.peer {
        let set = blocking(&store, |s| s.context_csns()).await?;
        let sid = store.server_id();
        Some(Cookie { rid: Some(up.rid), sid: Some(sid), csns: set }.format())
    } else {
        blocking(&store, |s| s.sync_cookie()).await?
    };
    let base = cfg.search_base.clone().unwrap_or_else(|| ctx.config().suffix.clone());
    let base_ndn = birch_schema::Dn::parse(&base)?.normalize(ctx.schema());
    tracing::info!(%provider, %base, cookie = ?cookie.as_deref().map(String::from_utf8_lossy), "following the provider");
    let control = RawControl {
        ctype: birch_proto::oids::SYNC_REQUEST.to_string(),
        crit: true,
        val: Some(sync::request_value(true, cookie.as_deref())),
    };
    let mut stream = ldap
        .with_controls(vec![control])
        .streaming_search(&base, Scope::Subtree, &cfg.filter, requested_attrs(&cfg.attrs, up.peer))
        .await?;
    let mut refresh = Some(Refresh::default());
    loop {
        let item = tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = stream.ldap_handle().unbind().await;
                return Ok(());
            }
            r = stream.next() => r.context("reading from the provider")?,
        };
        let Some(re) = item else { break };
        peer.contact();
        let live = refresh.is_none();
        if re.is_intermediate() {
            let info = intermediate_value(&re.0)
                .and_then(|v| SyncInfo::decode(&v))
                .ok_or_else(|| anyhow!("malformed Sync Info"))?;
            on_info(&link, &base_ndn, &mut refresh, info).await?;
        } else if re.is_ref() {
            continue;
        } else {
            let state =
                re.1.iter()
                    .find(|c| c.1.ctype == birch_proto::oids::SYNC_STATE)
                    .and_then(|c| c.1.val.as_deref())
                    .and_then(sync::decode_state)
                    .ok_or_else(|| anyhow!("entry without a valid Sync State control"))?;
            on_entry(&link, &mut refresh, state, &re.0, live).await?;
        }
    }
    let res = stream.finish().await;
    if let Some(done) = res.ctrls.iter().find(|c| c.1.ctype == birch_proto::oids::SYNC_DONE) {
        if let Some((Some(cookie), _)) = done.1.val.as_deref().and_then(sync::decode_done) {
            save_cookie(&link, cookie).await?;
        }
    }
    match res.rc {
        0 => Ok(()),
        4096 => bail!("the provider asks for a new refresh (e-syncRefreshRequired)"),
        rc => bail!("sync search ended with result {rc}: {}", res.text),
    }
}

async fn on_info(link: &Link<'_>, base_ndn: &str, refresh: &mut Option<Refresh>, info: SyncInfo) -> Result<()> {
    let ctx = link.ctx;
    match info {
        SyncInfo::NewCookie(c) => save_cookie(link, c).await?,
        SyncInfo::IdSet { cookie, refresh_deletes, uuids } => {
            if refresh_deletes {
                for u in uuids {
                    if link.up.peer {
                        let what = PeerChange::Delete { uuid: u, csn: None, context: Vec::new() };
                        let r = ctx.writer().replicate_peer(what, false).await?;
                        report(link, &r, &uuid::Uuid::from_bytes(u).to_string());
                    } else {
                        ctx.writer().replicate(Replicated::Delete { uuid: u, cookie: None }, false).await?;
                    }
                    ctx.metrics().replication.applied(None, false);
                }
            } else if let Some(r) = refresh.as_mut() {
                r.present.extend(uuids);
            }
            if let Some(c) = cookie {
                save_cookie(link, c).await?;
            }
        }
        SyncInfo::RefreshPresent { cookie, done } => {
            if let Some(r) = refresh.as_mut() {
                let context = cookie.as_deref().map(|c| Cookie::parse(c).csns).unwrap_or_default();
                delete_not_present(link, base_ndn, std::mem::take(&mut r.present), context).await?;
            }
            end_phase(link, refresh, cookie, done).await?;
        }
        SyncInfo::RefreshDelete { cookie, done } => end_phase(link, refresh, cookie, done).await?,
    }
    Ok(())
}

/// The end of a present phase: deletes what is held under the base and was not named (a
/// peer's: only what its contextCSN set `context` shows it has seen).
async fn delete_not_present(
    link: &Link<'_>,
    base_ndn: &str,
    present: HashSet<[u8; 16]>,
    context: Vec<String>,
) -> Result<()> {
    let ctx = link.ctx;
    let deleted = if link.up.peer {
        let what = PeerChange::Absent { base_ndn: base_ndn.to_string(), present, context };
        ctx.writer().replicate_peer(what, false).await?.len()
    } else {
        let what = Replicated::DeleteAbsent { base_ndn: base_ndn.to_string(), present };
        ctx.writer().replicate(what, false).await?
    };
    if deleted > 0 {
        tracing::info!(deleted, "deleted entries the provider no longer has");
        for _ in 0..deleted {
            ctx.metrics().replication.applied(None, false);
        }
    }
    Ok(())
}

/// The end of a refresh phase; when the refresh stage is done, the waiting entries go in
/// and the cookie is stored.
async fn end_phase(link: &Link<'_>, refresh: &mut Option<Refresh>, cookie: Option<Vec<u8>>, done: bool) -> Result<()> {
    let ctx = link.ctx;
    if !done {
        return Ok(());
    }
    if let Some(r) = refresh.take() {
        let mut waiting = r.deferred;
        // Parents may come after their children: retry while that makes progress.
        while !waiting.is_empty() {
            let before = waiting.len();
            let mut still = Vec::new();
            for e in waiting {
                match apply_entry(link, e.clone(), None, false).await {
                    Ok(()) => ctx.metrics().replication.applied(birch_store::changes::entry_csn(&e), false),
                    Err(err) if is_no_parent(&err) => still.push(e),
                    Err(err) => return Err(err),
                }
            }
            if still.len() == before {
                let first = still.first().map(|e| e.dn.clone()).unwrap_or_default();
                tracing::warn!(entries = still.len(), %first, "entries without a parent at the provider's end of refresh; skipped");
                if link.up.peer {
                    for e in &still {
                        parent_gone(link, e, "no parent entry");
                    }
                }
                break;
            }
            waiting = still;
        }
        ctx.metrics().replication.refreshes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(entries = r.progress.entries(), "refresh complete; following changes");
    }
    ctx.writer().sync().await?;
    if let Some(c) = cookie {
        save_cookie(link, c).await?;
    }
    Ok(())
}

/// Applies a provider's or peer's entry; a peer's passes the conflict rule, whose verdict
/// is reported. `cookie`: the one that came with it (persist stage).
async fn apply_entry(link: &Link<'_>, entry: Entry, cookie: Option<Vec<u8>>, live: bool) -> Result<()> {
    let ctx = link.ctx;
    if !link.up.peer {
        ctx.writer().replicate(Replicated::Entry { entry, cookie }, live).await?;
        return Ok(());
    }
    let dn = entry.dn.clone();
    let context = cookie.as_deref().map(|c| Cookie::parse(c).csns).unwrap_or_default();
    let keep_ppolicy_state = !ctx.config().replication.replicate_ppolicy_state;
    let r = ctx.writer().replicate_peer(PeerChange::Entry { entry, context, keep_ppolicy_state }, live).await?;
    report(link, &r, &dn);
    Ok(())
}

/// Logs and counts what the conflict rule decided.
fn report(link: &Link<'_>, rs: &[Resolution], dn: &str) {
    for r in rs {
        match r {
            Resolution::Conflict { reason, kept, dropped, applied, attrs } => {
                link.peer.conflicts.fetch_add(1, Ordering::Relaxed);
                let attrs = attrs.join(",");
                tracing::warn!(peer = %link.up.url, %dn, kept_csn = %kept, dropped_csn = %dropped, applied, %attrs, "replication conflict: {reason}");
            }
            Resolution::Duplicate => {
                link.peer.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            Resolution::Apply => {}
        }
    }
}

/// A peer's entry this server cannot hold (its parent was deleted here by a later change,
/// or it clashes with another entry): dropped, logged and counted.
fn parent_gone(link: &Link<'_>, e: &Entry, why: &str) {
    link.peer.conflicts.fetch_add(1, Ordering::Relaxed);
    let csn = birch_store::changes::entry_csn(e).unwrap_or_default();
    tracing::warn!(peer = %link.up.url, dn = %e.dn, dropped_csn = %csn, %why, "replication conflict: the entry is dropped");
}

/// A store refusal that concerns one entry only (a unique value held by another entry, a
/// move below itself): on a multi-provider server, a conflict, not a broken link.
fn is_refused_here(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<WriteError>(),
        Some(WriteError::Store(StoreError::NotUnique { .. } | StoreError::Loop(_)))
    )
}

async fn on_entry(
    link: &Link<'_>,
    refresh: &mut Option<Refresh>,
    state: sync::SyncState,
    tag: &StructureTag,
    live: bool,
) -> Result<()> {
    let ctx = link.ctx;
    let store = &ctx.store();
    let stats = &ctx.metrics().replication;
    if let Some(r) = refresh.as_mut() {
        r.present.insert(state.uuid);
        r.progress.advance(None);
    }
    match state.state {
        State::Present => {}
        State::Delete if link.up.peer => {
            // A Birch peer names the delete's CSN as the entryCSN of the delete message.
            let (dn, attrs) = search_entry(tag).unwrap_or_default();
            let csn = attrs
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case("entryCSN"))
                .and_then(|(_, v)| v.first())
                .and_then(|v| String::from_utf8(v.clone()).ok());
            let context = state.cookie.as_deref().map(|c| Cookie::parse(c).csns).unwrap_or_default();
            let r = ctx.writer().replicate_peer(PeerChange::Delete { uuid: state.uuid, csn, context }, live).await?;
            report(link, &r, &dn);
            stats.applied(state.cookie.as_deref().map(Cookie::parse).as_ref().and_then(|c| c.max_csn()), live);
        }
        State::Delete => {
            let (uuid, cookie) = (state.uuid, state.cookie.clone());
            ctx.writer().replicate(Replicated::Delete { uuid, cookie }, live).await?;
            stats.applied(state.cookie.as_deref().map(Cookie::parse).as_ref().and_then(|c| c.max_csn()), live);
        }
        State::Add | State::Modify => {
            let (dn, attrs) = search_entry(tag).ok_or_else(|| anyhow!("malformed entry"))?;
            let attrs: Vec<(String, Vec<Vec<u8>>)> = attrs
                .into_iter()
                .filter(|(name, _)| !NOT_STORED.contains(&name.to_ascii_lowercase().as_str()))
                .collect();
            let mut entry = store.make_entry(&dn, attrs).with_context(|| format!("entry {dn:?}"))?;
            // The Sync State control's entryUUID is the one that counts (RFC 4533 2.2).
            entry.replace_values(
                "entryUUID",
                "entryuuid",
                [uuid::Uuid::from_bytes(state.uuid).to_string().into_bytes()],
            );
            let csn = birch_store::changes::entry_csn(&entry).map(str::to_string);
            let cookie = state.cookie.clone();
            match apply_entry(link, entry.clone(), cookie.clone(), live).await {
                Ok(()) => {
                    stats.applied(csn.as_deref(), live);
                    if live {
                        if let Some(c) = csn.as_deref() {
                            link.peer.applied(c);
                        }
                    }
                }
                Err(e) if is_no_parent(&e) && refresh.is_some() => {
                    if let Some(r) = refresh.as_mut() {
                        r.deferred.push(entry);
                    }
                }
                Err(e) if link.up.peer && (is_no_parent(&e) || is_refused_here(&e)) => {
                    // Live: the parent was deleted here by a later change, or the entry
                    // clashes with another one here (a unique value, a move below itself).
                    parent_gone(link, &entry, &format!("{e:#}"));
                    if let Some(c) = cookie {
                        save_cookie(link, c).await?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// The attributes a sync search asks for: the configured ones, and from a Birch peer the
/// per-attribute CSNs its conflict rule needs (a secret type, sent only when named).
fn requested_attrs(configured: &[String], peer: bool) -> Vec<String> {
    let mut attrs = configured.to_vec();
    if peer && !attrs.iter().any(|a| a.eq_ignore_ascii_case(birch_store::attr_csn::NAME)) {
        attrs.push(birch_store::attr_csn::NAME.to_string());
    }
    attrs
}

fn is_no_parent(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<WriteError>(), Some(WriteError::Store(StoreError::NoParent(_))))
}

/// Stores a cookie (and the provider's CSN in it as the contextCSN), durably; from a
/// peer, merges its contextCSN set.
async fn save_cookie(link: &Link<'_>, cookie: Vec<u8>) -> Result<()> {
    let ctx = link.ctx;
    if link.up.peer {
        let Cookie { sid, csns: set, .. } = Cookie::parse(&cookie);
        if let Some(sid) = sid {
            link.peer.server_id.store(u64::from(sid), Ordering::Relaxed);
        }
        if !set.is_empty() {
            ctx.writer().replicate_peer(PeerChange::Context(set), true).await?;
        }
        return Ok(());
    }
    let csn = Cookie::parse(&cookie).max_csn().map(str::to_string);
    ctx.writer().replicate(Replicated::Cookie { cookie, csn }, true).await?;
    Ok(())
}

/// Runs a store call on a blocking thread.
async fn blocking<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T> {
    let s = store.clone();
    Ok(tokio::task::spawn_blocking(move || f(&s)).await??)
}

/// The value of an IntermediateResponse (`[APPLICATION 25] { [0] name, [1] value }`).
fn intermediate_value(tag: &StructureTag) -> Option<Vec<u8>> {
    let PL::C(items) = &tag.payload else { return None };
    items.iter().find(|t| t.id == 1).and_then(|t| match &t.payload {
        PL::P(v) => Some(v.clone()),
        PL::C(_) => None,
    })
}

/// The DN and attributes of a SearchResultEntry (`[APPLICATION 4] { DN, attributes }`).
#[allow(clippy::type_complexity)]
fn search_entry(tag: &StructureTag) -> Option<(String, Vec<(String, Vec<Vec<u8>>)>)> {
    let PL::C(items) = &tag.payload else { return None };
    let PL::P(dn) = &items.first()?.payload else { return None };
    let PL::C(attrs) = &items.get(1)?.payload else { return None };
    let mut out = Vec::with_capacity(attrs.len());
    for a in attrs {
        let PL::C(parts) = &a.payload else { return None };
        let PL::P(name) = &parts.first()?.payload else { return None };
        let PL::C(vals) = &parts.get(1)?.payload else { return None };
        let mut values = Vec::with_capacity(vals.len());
        for v in vals {
            let PL::P(v) = &v.payload else { return None };
            values.push(v.clone());
        }
        out.push((String::from_utf8(name.clone()).ok()?, values));
    }
    Some((String::from_utf8(dn.clone()).ok()?, out))
}

/// The bind password: `bind_password`, or the first line of `bind_password_file`.
fn bind_password(cfg: &Upstream) -> Result<String> {
    if let Some(p) = &cfg.bind_password {
        return Ok(p.clone());
    }
    match &cfg.bind_password_file {
        Some(f) => {
            let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            Ok(text.lines().next().unwrap_or_default().to_string())
        }
        None => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3::asn1::{ASNTag, OctetString, Sequence, Set, Tag, TagClass};

    fn octets(b: &[u8]) -> Tag {
        Tag::OctetString(OctetString { inner: b.to_vec(), ..Default::default() })
    }

    #[test]
    fn entries_and_intermediates_decode_without_panicking() {
        let attr = Tag::Sequence(Sequence {
            inner: vec![octets(b"cn"), Tag::Set(Set { inner: vec![octets(b"A"), octets(b"B")], ..Default::default() })],
            ..Default::default()
        });
        let entry = Tag::Sequence(Sequence {
            class: TagClass::Application,
            id: 4,
            inner: vec![octets(b"cn=a,dc=x"), Tag::Sequence(Sequence { inner: vec![attr], ..Default::default() })],
        })
        .into_structure();
        let (dn, attrs) = search_entry(&entry).unwrap();
        assert_eq!(dn, "cn=a,dc=x");
        assert_eq!(attrs, vec![("cn".to_string(), vec![b"A".to_vec(), b"B".to_vec()])]);
        // Anything else is refused, not a panic.
        assert!(search_entry(&octets(b"x").into_structure()).is_none());
        let info = Tag::Sequence(Sequence {
            class: TagClass::Application,
            id: 25,
            inner: vec![
                Tag::OctetString(OctetString {
                    class: TagClass::Context,
                    id: 0,
                    inner: b"1.3.6.1.4.1.4203.1.9.1.4".to_vec(),
                }),
                Tag::OctetString(OctetString { class: TagClass::Context, id: 1, inner: vec![0x80, 1, b'c'] }),
            ],
        })
        .into_structure();
        let v = intermediate_value(&info).unwrap();
        assert_eq!(SyncInfo::decode(&v), Some(SyncInfo::NewCookie(b"c".to_vec())));
        assert!(intermediate_value(&octets(b"x").into_structure()).is_none());
    }
}
