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

use crate::context::ServerCtx;
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

/// Runs the consumer until `shutdown`.
pub async fn run(ctx: Arc<ServerCtx>, shutdown: CancellationToken) {
    let cfg = &ctx.config().replication;
    let Some(provider) = cfg.provider.clone() else { return };
    let initial = Duration::from_millis(cfg.retry_initial_ms);
    let max = Duration::from_millis(cfg.retry_max_ms);
    let mut wait = initial;
    loop {
        let mut connected = false;
        let outcome = follow(&ctx, &provider, &shutdown, &mut connected).await;
        ctx.metrics().replication.connected.store(0, Ordering::Relaxed);
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

/// One connection: bind, sync search, apply until it ends.
async fn follow(
    ctx: &Arc<ServerCtx>,
    provider: &str,
    shutdown: &CancellationToken,
    connected: &mut bool,
) -> Result<()> {
    let cfg = &ctx.config().replication;
    let mut settings = LdapConnSettings::new().set_conn_timeout(Duration::from_secs(10));
    if let Some(ca) = &cfg.ca_file {
        settings = settings.set_config(crate::tls::client_config("replication.ca_file", ca)?);
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, provider).await.context("connecting")?;
    ldap3::drive!(conn);
    if let Some(dn) = &cfg.bind_dn {
        let pw = bind_password(cfg)?;
        ldap.simple_bind(dn, &pw).await.context("binding")?.success().context("binding")?;
    }
    *connected = true;
    let stats = &ctx.metrics().replication;
    stats.connected.store(1, Ordering::Relaxed);
    stats.connects.fetch_add(1, Ordering::Relaxed);
    let store = ctx.store().clone();
    let cookie = blocking(&store, |s| s.sync_cookie()).await?;
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
        .streaming_search(&base, Scope::Subtree, &cfg.filter, cfg.attrs.clone())
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
        let live = refresh.is_none();
        if re.is_intermediate() {
            let info = intermediate_value(&re.0)
                .and_then(|v| SyncInfo::decode(&v))
                .ok_or_else(|| anyhow!("malformed Sync Info"))?;
            on_info(ctx, &base_ndn, &mut refresh, info).await?;
        } else if re.is_ref() {
            continue;
        } else {
            let state =
                re.1.iter()
                    .find(|c| c.1.ctype == birch_proto::oids::SYNC_STATE)
                    .and_then(|c| c.1.val.as_deref())
                    .and_then(sync::decode_state)
                    .ok_or_else(|| anyhow!("entry without a valid Sync State control"))?;
            on_entry(ctx, &mut refresh, state, &re.0, live).await?;
        }
    }
    let res = stream.finish().await;
    if let Some(done) = res.ctrls.iter().find(|c| c.1.ctype == birch_proto::oids::SYNC_DONE) {
        if let Some((Some(cookie), _)) = done.1.val.as_deref().and_then(sync::decode_done) {
            save_cookie(ctx, cookie).await?;
        }
    }
    match res.rc {
        0 => Ok(()),
        4096 => bail!("the provider asks for a new refresh (e-syncRefreshRequired)"),
        rc => bail!("sync search ended with result {rc}: {}", res.text),
    }
}

async fn on_info(ctx: &Arc<ServerCtx>, base_ndn: &str, refresh: &mut Option<Refresh>, info: SyncInfo) -> Result<()> {
    match info {
        SyncInfo::NewCookie(c) => save_cookie(ctx, c).await?,
        SyncInfo::IdSet { cookie, refresh_deletes, uuids } => {
            if refresh_deletes {
                for u in uuids {
                    ctx.writer().replicate(Replicated::Delete { uuid: u, cookie: None }, false).await?;
                    ctx.metrics().replication.applied(None, false);
                }
            } else if let Some(r) = refresh.as_mut() {
                r.present.extend(uuids);
            }
            if let Some(c) = cookie {
                save_cookie(ctx, c).await?;
            }
        }
        SyncInfo::RefreshPresent { cookie, done } => {
            if let Some(r) = refresh.as_mut() {
                delete_not_present(ctx, base_ndn, std::mem::take(&mut r.present)).await?;
            }
            end_phase(ctx, refresh, cookie, done).await?;
        }
        SyncInfo::RefreshDelete { cookie, done } => end_phase(ctx, refresh, cookie, done).await?,
    }
    Ok(())
}

/// The end of a present phase: deletes what is held under the base and was not named.
async fn delete_not_present(ctx: &Arc<ServerCtx>, base_ndn: &str, present: HashSet<[u8; 16]>) -> Result<()> {
    let what = Replicated::DeleteAbsent { base_ndn: base_ndn.to_string(), present };
    let deleted = ctx.writer().replicate(what, false).await?;
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
async fn end_phase(
    ctx: &Arc<ServerCtx>,
    refresh: &mut Option<Refresh>,
    cookie: Option<Vec<u8>>,
    done: bool,
) -> Result<()> {
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
                let e2 = e.clone();
                match ctx
                    .writer()
                    .replicate(Replicated::Entry { entry: e2, cookie: None }, false)
                    .await
                    .map_err(anyhow::Error::from)
                {
                    Ok(_) => ctx.metrics().replication.applied(birch_store::changes::entry_csn(&e), false),
                    Err(err) if is_no_parent(&err) => still.push(e),
                    Err(err) => return Err(err),
                }
            }
            if still.len() == before {
                let first = still.first().map(|e| e.dn.clone()).unwrap_or_default();
                tracing::warn!(entries = still.len(), %first, "entries without a parent at the provider's end of refresh; skipped");
                break;
            }
            waiting = still;
        }
        ctx.metrics().replication.refreshes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(entries = r.progress.entries(), "refresh complete; following changes");
    }
    ctx.writer().sync().await?;
    if let Some(c) = cookie {
        save_cookie(ctx, c).await?;
    }
    Ok(())
}

async fn on_entry(
    ctx: &Arc<ServerCtx>,
    refresh: &mut Option<Refresh>,
    state: sync::SyncState,
    tag: &StructureTag,
    live: bool,
) -> Result<()> {
    let store = &ctx.store();
    let stats = &ctx.metrics().replication;
    if let Some(r) = refresh.as_mut() {
        r.present.insert(state.uuid);
        r.progress.advance(None);
    }
    match state.state {
        State::Present => {}
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
            let e2 = entry.clone();
            match ctx
                .writer()
                .replicate(Replicated::Entry { entry: e2, cookie }, live)
                .await
                .map_err(anyhow::Error::from)
            {
                Ok(_) => stats.applied(csn.as_deref(), live),
                Err(e) if is_no_parent(&e) && refresh.is_some() => {
                    if let Some(r) = refresh.as_mut() {
                        r.deferred.push(entry);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

fn is_no_parent(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<WriteError>(), Some(WriteError::Store(StoreError::NoParent(_))))
}

/// Stores a cookie (and the provider's CSN in it as the contextCSN), durably.
async fn save_cookie(ctx: &ServerCtx, cookie: Vec<u8>) -> Result<()> {
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
fn bind_password(cfg: &crate::config::ReplicationSection) -> Result<String> {
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
