//! Password Modify extended operation (RFC 3062): a user changes their own password, the
//! root DN resets anyone's; without a new password the server generates one and returns it.
//! The password policy applies (ppolicy semantics): a wrong old password counts as a failed
//! bind, changes are checked for quality, age and reuse, and a reset marks the account for
//! a change at the next login.

use super::controls::RequestControls;
use super::result;
use super::write::{hash_cleartext, write_failure, WriteError};
use crate::context::ServerCtx;
use crate::password;
use crate::ppolicy::{self, change, Account, Changer};
use crate::session::Session;
use birch_acl::Subject;
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{
    LdapExtendedRequest, LdapExtendedResponse, LdapPasswordModifyRequest, LdapPasswordModifyResponse, LdapResult,
    LdapResultCode,
};
use birch_proto::ppolicy::PolicyResponse;
use birch_schema::Dn;
use std::sync::Arc;
use std::time::SystemTime;

/// A refused change: the result and the policy error, if the policy refused it.
type Refused = (LdapResult, Option<PolicyResponse>);

/// Handles a Password Modify request; the password policy response control goes back when
/// the request carried the request control.
pub async fn handle(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: &LdapExtendedRequest,
    controls: &RequestControls,
) -> (LdapExtendedResponse, Vec<LdapControl>) {
    let (resp, policy) = match change(ctx, session, req).await {
        Ok(generated) => {
            let res = result(LdapResultCode::Success, "", "");
            let resp = match generated {
                Some(pw) => LdapPasswordModifyResponse { res, gen_password: Some(pw) }.into(),
                // No generated password: no response value at all (RFC 3062 section 3).
                None => LdapExtendedResponse { res, name: None, value: None },
            };
            (resp, PolicyResponse::default())
        }
        Err((res, policy)) => (LdapExtendedResponse { res, name: None, value: None }, policy.unwrap_or_default()),
    };
    let ctrl = if controls.ppolicy { vec![policy.control()] } else { vec![] };
    (resp, ctrl)
}

fn plain(code: LdapResultCode, text: &str) -> Refused {
    (result(code, "", text), None)
}

/// Changes the password; returns the generated one, if the server chose it.
async fn change(ctx: &Arc<ServerCtx>, session: &Session, req: &LdapExtendedRequest) -> Result<Option<String>, Refused> {
    let pm = match &req.value {
        None => LdapPasswordModifyRequest { user_identity: None, old_password: None, new_password: None },
        Some(_) => LdapPasswordModifyRequest::try_from(req)
            .map_err(|_| plain(LdapResultCode::ProtocolError, "malformed password modify request"))?,
    };
    let subject = session.subject();
    let target = match &pm.user_identity {
        Some(id) => id.strip_prefix("dn:").unwrap_or(id).to_string(),
        None if subject == Subject::Anonymous => {
            return Err(plain(LdapResultCode::UnwillingToPerform, "only authenticated users may change passwords"))
        }
        None => session.bound_dn(),
    };
    let dn = Dn::parse(&target).map_err(|_| plain(LdapResultCode::InvalidDNSyntax, "invalid user identity"))?;
    let ndn = dn.normalize(&ctx.schema);
    if ndn == ctx.root_ndn {
        return Err(plain(LdapResultCode::UnwillingToPerform, "the root DN's password is set in the configuration"));
    }
    let changer = Changer::of(&subject, &ndn);
    let entry = match ctx.store.get_by_ndn(&ndn) {
        Ok(Some((_, e))) => e,
        Ok(None) => {
            return Err((write_failure(ctx, &dn, WriteError::Store(birch_store::StoreError::NoSuchEntry(ndn))), None))
        }
        Err(e) => return Err((super::store_failure(&e), None)),
    };
    // Changing a password is writing the entry's userPassword: under the campus policy its
    // owner, the helpdesk and the admins may.
    let (who, access) = (session.requester(), ctx.access());
    if !access.check(&who, &entry, "userpassword", birch_acl::Privilege::Add) {
        return Err(plain(LdapResultCode::InsufficentAccessRights, "insufficient access to change this password"));
    }
    let policy = ppolicy::policy_for(&ctx.store, &ctx.schema, &ctx.config, &entry);
    let account = Account::read(&entry);
    let peer = session.peer;
    let by = session.bound_dn();
    let old_supplied = pm.old_password.is_some();
    if let Some(old) = pm.old_password {
        let stored = entry.get("userpassword").map(|a| a.values.clone());
        if ctx.verify_password(stored, old.into_bytes()).await.is_none() {
            tracing::warn!(target: "birch::audit", event = "password_change_failed", %peer, dn = %target, %by, reason = "wrong old password");
            // A wrong old password is a guess like a failed bind: it counts the same way.
            ctx.limiter.failed(peer.ip(), &ndn);
            let (store, t, p) = (ctx.store.clone(), ndn.clone(), policy.clone());
            if let Ok(Ok(true)) =
                tokio::task::spawn_blocking(move || ppolicy::record_failure(&store, &t, &p, SystemTime::now())).await
            {
                tracing::warn!(target: "birch::audit", event = "account_locked", %peer, dn = %target, failures = policy.max_failure);
            }
            return Err(plain(LdapResultCode::UnwillingToPerform, "unwilling to verify old password"));
        }
    }
    let generated = pm.new_password.is_none().then(password::generate_password);
    let new = pm.new_password.or_else(|| generated.clone()).unwrap_or_default().into_bytes();
    let refused = |r: change::Refusal| {
        tracing::warn!(target: "birch::audit", event = "password_change_failed", %peer, dn = %target, %by, reason = r.message);
        (result(r.code, "", r.message), Some(PolicyResponse::error(r.error)))
    };
    change::check(&policy, &account, changer, old_supplied, &new, SystemTime::now()).map_err(refused)?;
    reuse_check(ctx, &policy, &entry, changer, &new).await?.map_err(refused)?;
    let hashed = hash_cleartext(ctx, vec![new]).await.map_err(|r| (r, None))?;
    let (store, by_dn, target_ndn) = (ctx.store.clone(), by.clone(), ndn.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        store.modify(&target_ndn, |e| {
            let old = e.get("userpassword").map(|a| a.values.clone()).unwrap_or_default();
            e.attrs.retain(|a| a.canonical != "userpassword");
            e.add_values("userPassword", "userpassword", hashed);
            change::record(e, &policy, changer, &old, SystemTime::now());
            super::operational::on_modify(e, &by_dn);
            Ok::<(), WriteError>(())
        })?;
        store.sync()?;
        Ok::<(), WriteError>(())
    })
    .await;
    match outcome {
        Ok(Ok(())) => {
            let event = if changer == Changer::Owner { "password_change" } else { "password_reset" };
            tracing::info!(target: "birch::audit", event, %peer, dn = %target, %by);
            if changer == Changer::Owner {
                session.set_must_change(false);
            }
            Ok(generated)
        }
        Ok(Err(e)) => Err((write_failure(ctx, &dn, e), None)),
        Err(_) => Err(plain(LdapResultCode::OperationsError, "internal error")),
    }
}

/// Runs the history check (one verification per remembered password) on the hashing pool.
pub(crate) async fn reuse_check(
    ctx: &Arc<ServerCtx>,
    policy: &ppolicy::Policy,
    entry: &birch_store::Entry,
    changer: Changer,
    new: &[u8],
) -> Result<Result<(), change::Refusal>, Refused> {
    let Ok(_permit) = ctx.hash_permits.acquire().await else {
        return Err(plain(LdapResultCode::Busy, "shutting down"));
    };
    let (p, e, n) = (policy.clone(), entry.clone(), new.to_vec());
    crate::hash_thread::run(move || change::reused(&p, &e, changer, &n))
        .await
        .ok_or_else(|| plain(LdapResultCode::OperationsError, "internal error"))
}
