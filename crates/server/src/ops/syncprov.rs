//! The Content Synchronization provider (RFC 4533): a search with the Sync Request
//! control.
//!
//! Refresh: without a cookie, or with one older than the contextCSN, a present phase —
//! every entry in scope changed since the cookie is sent whole (state add), every other one
//! as present (DN and entryUUID only); the consumer deletes what it holds and was not
//! named, so deletes made while it was away (or entries moved out of scope) are found
//! without a change log. With a cookie at the contextCSN nothing changed: an empty delete
//! phase. refreshOnly then ends with Sync Done and the new cookie; refreshAndPersist sends
//! a Sync Info (refreshPresent / refreshDelete, refreshDone) and goes on with every
//! committed change from the store's change feed, each with its CSN as cookie, until the
//! client abandons it or the connection closes. The feed is subscribed to before the
//! refresh reads anything, so no change falls between the two stages; a consumer too slow
//! for the feed gets `e-syncRefreshRequired` (4096) and refreshes again with its cookie.
//!
//! On a multi-provider server the cookies carry the contextCSN set (one CSN per server
//! id): an entry is changed for a consumer unless its cookie has a CSN of the entry's
//! server id at least as new; changes made by the consumer's own server id (its cookie's
//! `sid`) are not sent back to it; each change goes out with the set as it was after that
//! change, and a delete with its CSN (as the entryCSN of the delete message).

use super::{result, store_failure};
use crate::context::ServerCtx;
use crate::query::attrs::Selection;
use crate::query::filter;
use crate::session::{Responder, Session};
use birch_acl::{Privilege, Requester};
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{
    LdapMsg, LdapOp, LdapResult, LdapResultCode, LdapSearchRequest, LdapSearchResultEntry, LdapSearchScope,
    SyncStateValue,
};
use birch_proto::sync::{Cookie, SyncInfo};
use birch_schema::Dn;
use birch_store::{ChangeSet, Entry, Filter, Scope, Tri};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// How many entries are sent between yields to the runtime and checks of abandon.
const CHECK_EVERY: usize = 64;

/// A decoded Sync Request control.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// refreshAndPersist (else refreshOnly).
    pub persist: bool,
    /// The consumer's cookie. (reloadHint is not kept: a refresh is a present phase
    /// whenever anything changed.)
    pub cookie: Option<Vec<u8>>,
}

/// What a sync search looks at: base, scope, filter, attributes, requester.
struct View<'a> {
    ctx: &'a ServerCtx,
    who: Requester,
    access: Arc<crate::access::Access>,
    base_ndn: String,
    scope: Scope,
    filter: Filter,
    sel: Selection,
    types_only: bool,
    /// The requester is the root DN or a `replication.replicators` DN: it gets the secret
    /// attributes ([`birch_acl::secret`]: userPassword, pwdHistory...) too, which no other
    /// search returns, so that a replica can authenticate users.
    secrets: bool,
}

impl View<'_> {
    /// Whether the consumer may be told that an entry left the view (a delete message with
    /// its DN and entryUUID): the root DN and the replicators always, anyone else only if
    /// it may read the entry as it is now (`now`), or, deleted, by its former name. An
    /// entry hidden from the requester is never named to it, not even as gone.
    fn may_name(&self, now: Option<&Entry>, old_ndn: &str) -> bool {
        self.secrets
            || match now {
                Some(e) => self.access.check(&self.who, e, "entry", Privilege::Read),
                None => self.access.check_dn(&self.who, old_ndn, "entry", Privilege::Read),
            }
    }

    /// The entry as a search result, if it is in the view and readable.
    fn result(&self, entry: &Entry) -> Option<LdapSearchResultEntry> {
        let schema = &self.ctx.schema();
        if !birch_schema::ndn::in_scope(&entry.ndn, &self.base_ndn, self.scope)
            || !self.access.check(&self.who, entry, "entry", Privilege::Read)
            || filter::visible(&self.filter, entry, &self.access, &self.who).eval(entry, schema) != Tri::True
        {
            return None;
        }
        let readable = |a: &str| {
            (self.secrets && birch_acl::secret::is_secret_type(a))
                || self.access.check(&self.who, entry, a, Privilege::Read)
        };
        let attributes = crate::query::attrs::project(entry, &self.sel, schema, &readable, self.types_only);
        Some(LdapSearchResultEntry { dn: entry.dn.clone(), attributes })
    }
}

/// Whether `subject` is the root DN or one of `replication.replicators`: it gets the
/// secret attributes and every delete message, and its persistent searches do not count
/// against the server-wide limits.
pub fn is_replicator(ctx: &ServerCtx, subject: &birch_acl::Subject) -> bool {
    match subject {
        birch_acl::Subject::Root => true,
        birch_acl::Subject::User(ndn) => ctx
            .config()
            .replication
            .replicators
            .iter()
            .any(|r| Dn::parse(r).is_ok_and(|d| d.normalize(ctx.schema()) == *ndn)),
        birch_acl::Subject::Anonymous => false,
    }
}

fn state_control(state: SyncStateValue, uuid: [u8; 16], cookie: Option<Vec<u8>>) -> LdapControl {
    LdapControl::SyncState { state, entry_uuid: uuid::Uuid::from_bytes(uuid), cookie }
}

/// Runs a sync search; returns the result code for metrics (`None`: abandoned or the
/// connection went away).
#[allow(clippy::too_many_arguments)]
pub async fn handle(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    msgid: i32,
    req: LdapSearchRequest,
    tx: &Responder,
    cancel: &CancellationToken,
    sync: &SyncRequest,
    paged: bool,
) -> Option<i32> {
    let done = |res: LdapResult, ctrl: Vec<LdapControl>| {
        let code = birch_proto::result::code_number(&res.code);
        (LdapMsg { msgid, op: LdapOp::SearchResultDone(res), ctrl }, code)
    };
    let (msg, code) = match run(ctx, session, msgid, req, tx, cancel, sync, paged).await {
        Outcome::Done(res, ctrl) => done(res, ctrl),
        Outcome::Gone => return None,
    };
    if !cancel.is_cancelled() {
        let _ = tx.send(msg).await;
    }
    Some(code)
}

enum Outcome {
    Done(LdapResult, Vec<LdapControl>),
    Gone,
}

fn fail(code: LdapResultCode, matched: &str, text: &str) -> Outcome {
    Outcome::Done(result(code, matched, text), vec![])
}

#[allow(clippy::too_many_arguments)]
async fn run(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    msgid: i32,
    req: LdapSearchRequest,
    tx: &Responder,
    cancel: &CancellationToken,
    sync: &SyncRequest,
    paged: bool,
) -> Outcome {
    if paged {
        // RFC 4533 section 3.3: the Sync Request control does not combine with paging.
        return fail(LdapResultCode::UnwillingToPerform, "", "sync and paged results cannot be combined");
    }
    let schema = &ctx.schema();
    let Ok(base_dn) = Dn::parse(&req.base) else {
        return fail(LdapResultCode::InvalidDNSyntax, "", "invalid DN");
    };
    let who = session.requester();
    let secrets = is_replicator(ctx, &who.subject);
    let view = View {
        ctx,
        secrets,
        who,
        access: ctx.access(),
        base_ndn: base_dn.normalize(schema),
        scope: match req.scope {
            LdapSearchScope::Base => Scope::Base,
            LdapSearchScope::OneLevel => Scope::One,
            LdapSearchScope::Subtree => Scope::Sub,
            LdapSearchScope::Children => Scope::Children,
        },
        filter: filter::convert(&req.filter, schema, &|_| true),
        sel: Selection::new(&req.attrs, schema),
        types_only: req.typesonly,
    };
    // The base passes the checks of an ordinary search first, whatever the cookie: with
    // one at (or past) the contextCSN no refresh runs, and the persist stage must not
    // announce changes under a base the requester may not search.
    if let Err(o) = check_base(&view, &base_dn) {
        return o;
    }
    // Listen before reading anything: every change after this point is announced.
    let mut feed = sync.persist.then(|| ctx.writer().subscribe());
    let context = match ctx.store().context_csn() {
        Ok(c) => c,
        Err(e) => return Outcome::Done(store_failure(&e), vec![]),
    };
    let theirs = sync.cookie.as_deref().map(Cookie::parse).unwrap_or_default();
    let epoch = ctx.store().sync_epoch().ok().flatten();
    // A cookie from before the last offline load: a full refresh.
    let since =
        theirs.max_csn().map(str::to_string).filter(|s| epoch.as_ref().is_none_or(|e| s.as_str() >= e.as_str()));
    let multi = ctx.store().is_multi_provider();
    let set = if multi {
        match ctx.store().context_csns() {
            Ok(s) => s,
            Err(e) => return Outcome::Done(store_failure(&e), vec![]),
        }
    } else {
        Vec::new()
    };
    let since = match since {
        Some(_) if multi => Since::Set(theirs.csns.clone()),
        Some(s) => Since::After(s),
        None => Since::All,
    };
    if let (Since::Set(t), Some(sid)) = (&since, theirs.sid.filter(|_| multi)) {
        let who = format!("server id {sid} from {} bound as {:?}", session.peer_text(), session.bound_dn());
        crate::replica::purge::stale_peer(ctx, t, &who);
    }
    let up_to_date = match &since {
        Since::Set(t) => set.iter().all(|c| birch_store::csn::covers(t, c)),
        Since::After(s) => context.as_ref().is_some_and(|c| s >= c),
        Since::All => false,
    };
    let stats = &ctx.metrics().replication;
    stats.sync_searches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _active = crate::replica::stats::Gauge::enter(&stats.sync_active);
    tracing::debug!(msgid, persist = sync.persist, since = ?since, context = ?context, up_to_date, "sync search");
    if !up_to_date {
        let peer = multi && theirs.sid.is_some();
        match refresh(&view, msgid, tx, cancel, &since, &base_dn, peer).await {
            Ok(()) => {
                if tx.flush().await.is_err() {
                    return Outcome::Gone;
                }
            }
            Err(o) => return o,
        }
    }
    // What the refresh sent is durable before the consumer may store the cookie.
    if let Err(o) = durable(ctx).await {
        return o;
    }
    let cookie = if multi {
        Cookie { rid: theirs.rid, sid: Some(ctx.store().server_id()), csns: set }.format()
    } else {
        new_cookie(theirs.rid, context.as_deref())
    };
    let Some(feed) = feed.as_mut() else {
        let ctrl = LdapControl::SyncDone { cookie: Some(cookie), refresh_deletes: up_to_date };
        return Outcome::Done(result(LdapResultCode::Success, "", ""), vec![ctrl]);
    };
    let info = if up_to_date {
        SyncInfo::RefreshDelete { cookie: Some(cookie), done: true }
    } else {
        SyncInfo::RefreshPresent { cookie: Some(cookie), done: true }
    };
    if tx.send(LdapMsg { msgid, op: info.into_op(), ctrl: vec![] }).await.is_err() {
        return Outcome::Gone;
    }
    let echo = if multi { theirs.sid } else { None };
    persist(&view, msgid, tx, cancel, &session.closing, feed, theirs.rid, echo).await
}

/// What a consumer has seen, by its cookie.
#[derive(Debug)]
enum Since {
    /// Nothing: every entry is changed.
    All,
    /// Changes up to this CSN (a single-provider cookie).
    After(String),
    /// A contextCSN set (multi-provider): per server id.
    Set(Vec<String>),
}

impl Since {
    /// Whether an entry with this entryCSN is new to the consumer.
    fn changed(&self, csn: Option<&str>) -> bool {
        match (self, csn) {
            (Since::All, _) => true,
            (Since::After(s), Some(c)) => c > s.as_str(),
            (Since::Set(t), Some(c)) => !birch_store::csn::covers(t, c),
            (_, None) => false,
        }
    }
}

/// The base entry exists and the requester may search it, or the answer an ordinary search
/// gives (noSuchObject, or insufficientAccessRights where the policy discloses the entry).
fn check_base(view: &View<'_>, base_dn: &Dn) -> Result<(), Outcome> {
    let ctx = view.ctx;
    // matchedDN only of an entry the requester may know of, as an ordinary search answers.
    let missing = || {
        let matched = view.access.visible_matched(ctx.store(), &view.who, base_dn);
        Err(fail(LdapResultCode::NoSuchObject, &matched, ""))
    };
    let base = match ctx.store().get_by_ndn_only(&view.base_ndn, view.access.decision_types()) {
        Ok(Some((_, base))) => base,
        Ok(None) => return missing(),
        Err(e) => return Err(Outcome::Done(store_failure(&e), vec![])),
    };
    if view.access.check(&view.who, &base, "entry", Privilege::Search) {
        return Ok(());
    }
    if view.access.check(&view.who, &base, "entry", Privilege::Disclose) {
        return Err(fail(LdapResultCode::InsufficentAccessRights, "", ""));
    }
    missing()
}

/// Waits until every change committed so far is durable.
async fn durable(ctx: &ServerCtx) -> Result<(), Outcome> {
    let store = ctx.store().clone();
    match tokio::task::spawn_blocking(move || store.sync()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Outcome::Done(store_failure(&e), vec![])),
        Err(_) => Err(fail(LdapResultCode::OperationsError, "", "internal error")),
    }
}

/// A cookie in OpenLDAP's form: the consumer's rid and our CSN.
fn new_cookie(rid: Option<u16>, csn: Option<&str>) -> Vec<u8> {
    Cookie { rid, sid: None, csns: csn.into_iter().map(str::to_string).collect() }.format()
}

/// The refresh stage's present phase: changed entries whole, the others as present.
async fn refresh(
    view: &View<'_>,
    msgid: i32,
    tx: &Responder,
    cancel: &CancellationToken,
    since: &Since,
    base_dn: &Dn,
    peer: bool,
) -> Result<(), Outcome> {
    let ctx = view.ctx;
    // Subtree moves and tree deletes wait for the refresh (not for the persist stage).
    let _tree = ctx.writer().read_tree().await;
    // The base was checked before (check_base); a change since answers the same way.
    let (base_id, base) = match ctx.store().get_by_ndn(&view.base_ndn) {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Err(check_base(view, base_dn).err().unwrap_or_else(|| fail(LdapResultCode::NoSuchObject, "", "")))
        }
        Err(e) => return Err(Outcome::Done(store_failure(&e), vec![])),
    };
    if !view.access.check(&view.who, &base, "entry", Privilege::Search) {
        return Err(check_base(view, base_dn).err().unwrap_or_else(|| fail(LdapResultCode::NoSuchObject, "", "")));
    }
    // The filter is applied per entry (View::result), with access to its attributes.
    let iter = match ctx.store().search(base_id, &base, view.scope, Filter::And(vec![])) {
        Ok(it) => it,
        Err(e) => return Err(Outcome::Done(store_failure(&e), vec![])),
    };
    for (n, entry) in iter.enumerate() {
        if n % CHECK_EVERY == CHECK_EVERY - 1 {
            if cancel.is_cancelled() {
                return Err(Outcome::Gone);
            }
            tokio::task::yield_now().await;
        }
        let entry = match entry {
            Ok(e) => e,
            Err(e) => return Err(Outcome::Done(store_failure(&e), vec![])),
        };
        let Some(uuid) = birch_store::changes::entry_uuid(&entry) else { continue };
        let Some(mut found) = view.result(&entry) else { continue };
        let changed = since.changed(birch_store::changes::entry_csn(&entry));
        let state = if changed {
            SyncStateValue::Add
        } else {
            found.attributes.clear();
            SyncStateValue::Present
        };
        let msg = LdapMsg { msgid, op: LdapOp::SearchResultEntry(found), ctrl: vec![state_control(state, uuid, None)] };
        // Buffered: the refresh's entries leave in large writes, flushed at its end.
        if tx.queue(msg).await.is_err() {
            return Err(Outcome::Gone);
        }
    }
    if peer {
        send_tombstones(view, msgid, tx, since).await?;
    }
    Ok(())
}

/// A multi-provider peer's refresh: the deletes it has not seen, from the tombstones, each
/// with the delete's CSN (as entryCSN) so its conflict rule can weigh it against a change
/// it made meanwhile. (A present phase alone would leave such an entry there: the peer's
/// change is newer than anything this server's contextCSN covers.)
async fn send_tombstones(view: &View<'_>, msgid: i32, tx: &Responder, since: &Since) -> Result<(), Outcome> {
    let tombs = match view.ctx.store().tombstones() {
        Ok(t) => t,
        Err(e) => return Err(Outcome::Done(store_failure(&e), vec![])),
    };
    for (uuid, csn) in tombs {
        // No CSN: a shadowed add/add loser, not a delete (every server shadows it itself).
        if csn.is_empty() || !since.changed(Some(&csn)) {
            continue;
        }
        let attributes = vec![birch_proto::ldap3_proto::proto::LdapPartialAttribute {
            atype: "entryCSN".into(),
            vals: vec![csn.into_bytes()],
        }];
        let msg = LdapMsg {
            msgid,
            op: LdapOp::SearchResultEntry(LdapSearchResultEntry { dn: String::new(), attributes }),
            ctrl: vec![state_control(SyncStateValue::Delete, uuid, None)],
        };
        if tx.queue(msg).await.is_err() {
            return Err(Outcome::Gone);
        }
    }
    Ok(())
}

/// The persist stage: every committed change in the view, as it happens (`echo`: the
/// consumer's server id on a multi-provider server, whose own changes are not sent back).
#[allow(clippy::too_many_arguments)]
async fn persist(
    view: &View<'_>,
    msgid: i32,
    tx: &Responder,
    cancel: &CancellationToken,
    closing: &CancellationToken,
    feed: &mut tokio::sync::broadcast::Receiver<Arc<ChangeSet>>,
    rid: Option<u16>,
    echo: Option<u16>,
) -> Outcome {
    let sid = view.ctx.store().server_id();
    loop {
        let change = tokio::select! {
            _ = cancel.cancelled() => return Outcome::Gone,
            _ = closing.cancelled() => return Outcome::Gone,
            c = feed.recv() => c,
        };
        let change = match change {
            Ok(c) => c,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(msgid, missed, "sync consumer fell behind the change feed; it must refresh");
                let res = LdapResult {
                    code: LdapResultCode::EsyncRefreshRequired,
                    matcheddn: String::new(),
                    message: "the consumer fell behind; refresh with the last cookie".into(),
                    referral: vec![],
                };
                return Outcome::Done(res, vec![]);
            }
            Err(RecvError::Closed) => return Outcome::Gone,
        };
        // Changes are announced at commit, before the writer's fsync: only what is durable
        // goes out, so a provider crash cannot leave a replica ahead of it. Concurrent
        // flushes are shared (group commit).
        if let Err(o) = durable(view.ctx).await {
            return o;
        }
        for item in &change.items {
            if echo.is_some() && birch_store::csn::sid_of(&item.csn) == echo {
                continue;
            }
            let cookie = if change.context.is_empty() {
                new_cookie(rid, Some(&item.csn))
            } else {
                Cookie { rid, sid: Some(sid), csns: change.context.clone() }.format()
            };
            let Some(uuid) = item.uuid else { continue };
            let was_in =
                item.old_ndn.as_deref().is_some_and(|o| birch_schema::ndn::in_scope(o, &view.base_ndn, view.scope));
            let now = match item.new_ndn {
                Some(_) => match view.ctx.store().get(item.id) {
                    Ok(e) => e,
                    Err(e) => return Outcome::Done(store_failure(&e), vec![]),
                },
                None => None,
            };
            let msg = match now.as_ref().and_then(|e| view.result(e)) {
                Some(found) => {
                    let state = if item.old_ndn.is_some() { SyncStateValue::Modify } else { SyncStateValue::Add };
                    LdapMsg {
                        msgid,
                        op: LdapOp::SearchResultEntry(found),
                        ctrl: vec![state_control(state, uuid, Some(cookie.clone()))],
                    }
                }
                // Deleted, moved out of the view or no longer matching: the consumer drops it
                // (if it may know the entry at all).
                None if was_in && view.may_name(now.as_ref(), item.old_ndn.as_deref().unwrap_or_default()) => {
                    let dn = now.as_ref().map(|e| e.dn.clone()).or_else(|| item.old_ndn.clone()).unwrap_or_default();
                    // A multi-provider peer learns the delete's CSN (its conflict rule
                    // compares it with the entry's).
                    let attributes = match (echo, now.is_none()) {
                        (Some(_), true) => vec![birch_proto::ldap3_proto::proto::LdapPartialAttribute {
                            atype: "entryCSN".into(),
                            vals: vec![item.csn.clone().into_bytes()],
                        }],
                        _ => vec![],
                    };
                    LdapMsg {
                        msgid,
                        op: LdapOp::SearchResultEntry(LdapSearchResultEntry { dn, attributes }),
                        ctrl: vec![state_control(SyncStateValue::Delete, uuid, Some(cookie.clone()))],
                    }
                }
                None => continue,
            };
            if tx.send(msg).await.is_err() {
                return Outcome::Gone;
            }
        }
    }
}
