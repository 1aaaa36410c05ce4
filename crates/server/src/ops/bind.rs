//! Simple bind (RFC 4511 section 4.2, RFC 4513 section 5.1) under the password policy:
//! rate limits first (no hash spent on a throttled address or DN), then lock and validity
//! checks, the password, and what the policy makes of the outcome (failure counting and
//! lockout, expiry warnings and grace binds, must-change after a reset). Legacy hashes are
//! replaced by argon2id after a successful bind when `rehash_on_bind` is set. A recent
//! successful verification of a slow hash is remembered ([`crate::bind_cache`]).
//! SASL binds go to [`super::sasl_external`].

use super::controls::RequestControls;
use super::{result, store_failure};
use crate::context::ServerCtx;
use crate::password;
use crate::ppolicy::{self, Account};
use crate::session::Session;
use crate::write::Bookkeeping;
use birch_acl::Subject;
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{LdapBindCred, LdapBindRequest, LdapBindResponse, LdapResult, LdapResultCode};
use birch_proto::ppolicy::{PolicyError, PolicyResponse};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Handles a bind request. A bind first resets the connection to anonymous. The password
/// policy response control is returned when the request carried the request control.
pub async fn handle(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: LdapBindRequest,
    controls: &RequestControls,
) -> (LdapBindResponse, Vec<LdapControl>) {
    let (res, policy) = bind(ctx, session, req).await;
    let ctrl = if controls.ppolicy { vec![policy.control()] } else { vec![] };
    (LdapBindResponse { res, saslcreds: None }, ctrl)
}

fn invalid(policy: PolicyResponse) -> (LdapResult, PolicyResponse) {
    (result(LdapResultCode::InvalidCredentials, "", ""), policy)
}

async fn bind(ctx: &Arc<ServerCtx>, session: &Session, req: LdapBindRequest) -> (LdapResult, PolicyResponse) {
    let none = PolicyResponse::default();
    session.set_identity(Subject::Anonymous, String::new());
    if req.version != 3 {
        return (result(LdapResultCode::ProtocolError, "", "requested protocol version not allowed"), none);
    }
    let password = match req.cred {
        LdapBindCred::Simple(p) => p,
        LdapBindCred::SASL(creds) => return (super::sasl_external::bind(ctx, session, creds).await, none),
        LdapBindCred::Unsupported => {
            return (result(LdapResultCode::AuthMethodNotSupported, "", "authentication method not supported"), none);
        }
    };
    let peer = session.peer;
    let at = session.peer_text();
    if req.dn.is_empty() {
        if password.is_empty() {
            return (result(LdapResultCode::Success, "", ""), none);
        }
        // OpenLDAP's "disallow bind_anon_cred": a password with no name is refused, so a
        // client that lost its DN never silently becomes anonymous.
        tracing::warn!(target: "birch::audit", event = "bind_failed", peer = at, dn = "", reason = "password without DN");
        return invalid(none);
    }
    if password.is_empty() {
        return (
            result(LdapResultCode::UnwillingToPerform, "", "unauthenticated bind (DN with no password) disallowed"),
            none,
        );
    }
    // Most bind DNs are plain (`uid=jdoe,ou=people,…`): normalized without being parsed.
    let Ok(ndn) = birch_schema::dn::normalize_str(&req.dn, ctx.schema()) else {
        return (result(LdapResultCode::InvalidDNSyntax, "", "invalid DN"), none);
    };
    // Service accounts and the root DN: others' failures neither lock nor throttle them
    // (they count against the address only; docs/passwords.md).
    let per_dn = (!ctx.writer().is_lockout_exempt(&ndn)).then_some(ndn.as_str());
    let fail = |reason: &str| {
        ctx.limiter().failed_from(peer.ip(), per_dn);
        tracing::warn!(target: "birch::audit", event = "bind_failed", peer = at, dn = req.dn.as_str(), reason);
    };
    if let Some(why) = ctx.limiter().refusal_from(peer.ip(), per_dn) {
        tracing::warn!(target: "birch::audit", event = "bind_throttled", peer = at, dn = req.dn.as_str(), reason = why);
        return (result(LdapResultCode::InvalidCredentials, "", "too many failed binds; try again later"), none);
    }
    let password = password.into_bytes();
    if ndn == ctx.root_ndn() {
        let root = Some(vec![ctx.root_hash().to_vec()]);
        if check_password(ctx, &ndn, &root, &password).await.is_none() {
            fail("invalid credentials");
            return invalid(none);
        }
        tracing::info!(target: "birch::audit", event = "bind", peer = at, dn = req.dn.as_str(), root = true);
        session.set_identity(Subject::Root, req.dn);
        return (result(LdapResultCode::Success, "", ""), none);
    }
    // The access policy decides who may authenticate with the entry's password (auth).
    let access = ctx.access();
    // Only what the bind looks at: a user's other attributes (memberOf, mail, …) stay
    // encoded.
    let entry = match ctx.store().get_by_ndn_only(&ndn, access.bind_types()) {
        Ok(found) => found.map(|(_, e)| e),
        Err(e) => return (store_failure(&e), none),
    };
    let Some(entry) = entry else {
        // Unknown DN: spend what a real verification costs, answer as for a wrong password.
        ctx.writer().passwords().verify(None, password).await;
        fail("no such entry");
        return invalid(none);
    };
    let mut anonymous = session.requester();
    anonymous.subject = Subject::Anonymous;
    let stored = if access.check(&anonymous, &entry, "userpassword", birch_acl::Privilege::Auth) {
        entry.get("userpassword").map(|a| a.values.clone())
    } else {
        None
    };
    let policy = ctx.writer().policy_for(&entry);
    let account = Account::read(&entry);
    if let Some(why) = account.locked(&policy, SystemTime::now()) {
        // The verification a bind of an unlocked account would cost, whatever its outcome:
        // a locked account answers in the same time as a wrong password or an unknown DN.
        let _ = ctx.writer().passwords().verify(stored, password).await;
        fail(why);
        return invalid(PolicyResponse::error(PolicyError::AccountLocked));
    }
    let Some(matched) = check_password(ctx, &ndn, &stored, &password).await else {
        fail("invalid credentials");
        if !ctx.config().replication.is_replica() && per_dn.is_some() {
            record_failure(ctx, &ndn, &req.dn, peer, &policy).await;
        }
        return invalid(none);
    };
    let now = SystemTime::now();
    let success = account.after_success(&policy, now);
    if let Some(error) = success.refused {
        fail("password expired");
        return invalid(PolicyResponse::error(error));
    }
    // A read-only replica keeps its data as the provider sends it: no bind bookkeeping
    // and no rehash here (as slapd's replicas without ppolicy update forwarding).
    let replica = ctx.config().replication.is_replica();
    // The policy's bookkeeping before the answer; pwdLastSuccess with it, or off the
    // answer path (crate::write::lastbind).
    if !replica {
        match ctx.writer().authenticated(&ndn, &account, &success, now).await {
            Ok(wrote) => {
                if wrote && success.clear_expired_lock {
                    tracing::info!(target: "birch::audit", event = "account_unlocked", peer = at, dn = req.dn.as_str(), reason = "lockout duration over");
                }
            }
            Err(e) if !success.use_grace => {
                tracing::error!(error = %e, dn = %req.dn, "cannot record a successful bind; it succeeds anyway");
            }
            Err(e) => return (ctx.writer().failure(&crate::write::Actor::Server, &req.dn, &e), none),
        }
    }
    // A legacy hash is replaced after the answer (crate::write::rehash), once per account
    // at a time and bounded; a bind past the bound is not rehashed (its next one is).
    if ctx.config().rehash_on_bind && !replica {
        // A service account's generated secret keeps its fast salted scheme (docs/passwords.md).
        let keep = |v: &Vec<u8>| ctx.writer().is_service(&ndn) && password::is_generated_secret_scheme(v);
        let legacy = stored.as_ref().and_then(|v| v.get(matched)).filter(|v| password::is_legacy(v) && !keep(v));
        if let Some(old) = legacy {
            if let Some(claim) = ctx.writer().rehashes().claim(&ndn) {
                let (task_ctx, ndn, dn, old) = (ctx.clone(), ndn.clone(), req.dn.clone(), old.clone());
                ctx.writer().rehashes().spawn(claim, async move { rehash(&task_ctx, &ndn, &dn, old, password).await });
            }
        }
    }
    tracing::info!(target: "birch::audit", event = "bind", peer = at, dn = req.dn.as_str(), must_change = success.must_change, grace = success.use_grace);
    let groups = access.groups_of(ctx.store(), &ndn);
    session.set_identity(Subject::User(ndn), req.dn);
    session.set_groups(groups);
    session.set_must_change(success.must_change);
    let error = success.must_change.then_some(PolicyError::ChangeAfterReset);
    (result(LdapResultCode::Success, "", ""), PolicyResponse { warning: success.warning, error })
}

/// Checks the password against the stored values: the index of the value it matches. A
/// verification of a slow hash remembered by [`crate::bind_cache`] stands in for the
/// computation; a successful full verification of a slow hash is remembered.
async fn check_password(ctx: &ServerCtx, ndn: &str, stored: &Option<Vec<Vec<u8>>>, password: &[u8]) -> Option<usize> {
    let cache = ctx.bind_cache();
    let slow = |values: &Vec<Vec<u8>>| values.iter().any(|v| password::is_expensive(v));
    if let Some(values) = stored.as_ref().filter(|v| cache.enabled() && slow(v)) {
        if let Some(i) = cache.lookup(ndn, values, password, Instant::now()) {
            ctx.metrics().bind_cache_hits.fetch_add(1, Ordering::Relaxed);
            return Some(i);
        }
    }
    let matched = ctx.writer().passwords().verify(stored.clone(), password.to_vec()).await?;
    if let Some(value) = stored.as_ref().and_then(|v| v.get(matched)).filter(|v| password::is_expensive(v)) {
        cache.remember(ndn, value, password, Instant::now());
    }
    Some(matched)
}

/// Counts a failed bind against the entry (lockout) and logs a lock it causes.
async fn record_failure(
    ctx: &Arc<ServerCtx>,
    ndn: &str,
    dn: &str,
    peer: std::net::SocketAddr,
    policy: &ppolicy::Policy,
) {
    let what = Bookkeeping::Failure { policy: policy.clone(), now: SystemTime::now() };
    match ctx.writer().record(ndn, what).await {
        Ok(true) => {
            tracing::warn!(target: "birch::audit", event = "account_locked", %peer, %dn, failures = policy.max_failure);
        }
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, %dn, "cannot record a failed bind"),
    }
}

/// Replaces the legacy value that matched with an argon2id hash of the same password. A
/// failure is logged and leaves the old value (the bind has succeeded either way).
async fn rehash(ctx: &Arc<ServerCtx>, ndn: &str, dn: &str, old: Vec<u8>, password: Vec<u8>) {
    let hashed = ctx.writer().passwords().hash(vec![password]).await.ok().and_then(|v| v.into_iter().next());
    let Some(new) = hashed else {
        tracing::error!(%dn, "cannot rehash a legacy password");
        return;
    };
    match ctx.writer().record(ndn, Bookkeeping::Rehash { old, new }).await {
        Ok(_) => tracing::info!(target: "birch::audit", event = "password_rehashed", %dn, scheme = "ARGON2"),
        Err(e) => tracing::error!(error = %e, %dn, "cannot rehash a legacy password"),
    }
}
