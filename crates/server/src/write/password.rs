//! The password stage: the expensive part of a password change, after the access check and
//! outside the store's writer lock — an old password verified, the policy's checks
//! (quality, age, reuse), new cleartext hashed with argon2id on the hashing pool — and the
//! bookkeeping recorded inside the write (`ppolicy::change::record`).

use super::error::WriteError;
use super::{Actor, Bookkeeping, Mod, ModOp, Writer};
use crate::ppolicy::{self, change, Account, Changer, Policy};
use birch_proto::ldap3_proto::proto::LdapResultCode;
use birch_store::Entry;
use std::time::SystemTime;

/// A password change prepared outside the store's lock, recorded inside it.
pub struct Prepared {
    /// The account's policy.
    pub policy: Policy,
    /// Who changes it.
    pub changer: Changer,
    /// Whether it is a reset ([`change::is_reset`]).
    pub reset: bool,
}

/// Whether an attribute description (name or OID, options allowed) is userPassword.
pub fn is_password_type(name: &str) -> bool {
    let base = birch_schema::desc::base(name);
    base.eq_ignore_ascii_case("userpassword") || base == "2.5.4.35"
}

fn hashing_failed(e: crate::passwords::HashError) -> WriteError {
    match e {
        crate::passwords::HashError::ShuttingDown => WriteError::ldap(LdapResultCode::Busy, "shutting down"),
        crate::passwords::HashError::Failed => {
            WriteError::ldap(LdapResultCode::OperationsError, "password hashing failed")
        }
    }
}

/// Takes a password change from the requester's allowance ([`crate::ppolicy::ratelimit::ChangeLimiter`])
/// before anything is hashed; users who are not administrators only.
fn allowance(w: &Writer, actor: &Actor) -> Result<(), WriteError> {
    let Some(u) = actor.user().filter(|_| actor.is_bounded()) else {
        return Ok(());
    };
    let who = match &u.requester.subject {
        birch_acl::Subject::User(ndn) => ndn.as_str(),
        _ => "",
    };
    if w.changes.take(who) {
        return Ok(());
    }
    tracing::warn!(target: "birch::audit", event = "password_change_throttled", by = %u.dn);
    Err(WriteError::ldap(LdapResultCode::Busy, "too many password changes; try again later"))
}

/// The history check (one verification per remembered password), on the hashing pool.
async fn reuse(w: &Writer, policy: &Policy, entry: &Entry, changer: Changer, new: &[u8]) -> Result<(), WriteError> {
    let (p, e, n) = (policy.clone(), entry.clone(), new.to_vec());
    match w.passwords.on_pool(move || change::reused(&p, &e, changer, &n)).await {
        Some(r) => r.map_err(WriteError::from),
        None => Err(WriteError::ldap(LdapResultCode::OperationsError, "internal error")),
    }
}

/// A new entry's userPassword: checked against its policy, hashed, and pwdChangedTime
/// (and pwdReset when the policy wants a change at first login) recorded.
pub(super) async fn on_add(w: &Writer, actor: &Actor, ndn: &str, entry: &mut Entry) -> Result<(), WriteError> {
    let Some(values) = entry.get("userpassword").map(|a| a.values.clone()) else {
        return Ok(());
    };
    allowance(w, actor)?;
    let policy = w.policy_for(entry);
    let changer = w.changer(actor, ndn);
    let now = SystemTime::now();
    for v in &values {
        change::check(&policy, &Account::default(), changer, false, v, now)?;
    }
    let reset = change::is_reset(changer, &values, w.is_service(ndn));
    let hashed = w.passwords.hash(values).await.map_err(hashing_failed)?;
    if let Some(a) = entry.get_mut("userpassword") {
        a.values = hashed;
    }
    change::record(entry, &policy, changer, reset, &[], now);
    Ok(())
}

/// The userPassword modifications of a Modify under the password policy: a delete of the
/// old password given in cleartext becomes a delete of the stored value it verifies
/// against (as OpenLDAP does); new cleartext values are checked (quality, age, reuse) and
/// hashed. Returns the policy and who changes, when the password changes.
pub(super) async fn on_modify(
    w: &Writer,
    actor: &Actor,
    ndn: &str,
    entry: &Entry,
    mods: &mut [Mod],
) -> Result<Option<Prepared>, WriteError> {
    let touches = |m: &Mod| is_password_type(&w.schema.canonical(&m.attr));
    if !mods.iter().any(touches) {
        return Ok(None);
    }
    allowance(w, actor)?;
    let policy = w.policy_for(entry);
    let changer = w.changer(actor, ndn);
    let account = Account::read(entry);
    let stored = entry.get("userpassword").map(|a| a.values.clone()).unwrap_or_default();
    let mut old_supplied = false;
    let mut reset = false;
    for m in mods.iter_mut().filter(|m| touches(m)) {
        match m.op {
            ModOp::Delete => {
                for v in &mut m.values {
                    old_supplied = true;
                    if !stored.contains(v) {
                        let matched = w.passwords.verify(Some(stored.clone()), v.clone()).await;
                        if let Some(s) = matched.and_then(|i| stored.get(i)) {
                            v.clone_from(s);
                        }
                    }
                }
            }
            ModOp::Add | ModOp::Replace => {
                let now = SystemTime::now();
                for v in &m.values {
                    change::check(&policy, &account, changer, old_supplied, v, now)?;
                    reuse(w, &policy, entry, changer, v).await?;
                }
                reset |= change::is_reset(changer, &m.values, w.is_service(ndn));
                m.values = w.passwords.hash(std::mem::take(&mut m.values)).await.map_err(hashing_failed)?;
            }
            ModOp::Increment => {}
        }
    }
    Ok(Some(Prepared { policy, changer, reset }))
}

/// Password Modify: the old password verified when given (a wrong one counts as a failed
/// bind against the account), the new one checked and hashed. Returns what to record and
/// the new value to store.
pub(super) async fn on_set(
    w: &Writer,
    actor: &Actor,
    ndn: &str,
    entry: &Entry,
    old: Option<Vec<u8>>,
    new: Vec<u8>,
) -> Result<(Prepared, Vec<Vec<u8>>), WriteError> {
    allowance(w, actor)?;
    let policy = w.policy_for(entry);
    let changer = w.changer(actor, ndn);
    let account = Account::read(entry);
    let old_supplied = old.is_some();
    if let Some(old) = old {
        let stored = entry.get("userpassword").map(|a| a.values.clone());
        if w.passwords.verify(stored, old).await.is_none() {
            // A wrong old password is a guess like a failed bind: it counts the same way (and,
            // like a bind's, never against an account exempt from lockout).
            let now = SystemTime::now();
            let locked = if w.is_lockout_exempt(ndn) {
                false
            } else {
                w.record(ndn, Bookkeeping::Failure { policy: policy.clone(), now }).await.unwrap_or(false)
            };
            return Err(WriteError::WrongOldPassword { locked, failures: policy.max_failure });
        }
    }
    change::check(&policy, &account, changer, old_supplied, &new, SystemTime::now())?;
    reuse(w, &policy, entry, changer, &new).await?;
    let reset = change::is_reset(changer, std::slice::from_ref(&new), w.is_service(ndn));
    let hashed = w.passwords.hash(vec![new]).await.map_err(hashing_failed)?;
    Ok((Prepared { policy, changer, reset }, hashed))
}

/// Applies the server's bookkeeping to an account's entry; returns whether a failure
/// locked it.
pub(super) fn bookkeep(e: &mut Entry, what: &Bookkeeping) -> bool {
    match what {
        Bookkeeping::Failure { policy, now } => ppolicy::record_failure(e, policy, *now),
        Bookkeeping::Success { success, now, last_bind } => {
            ppolicy::record_success(e, success, *now);
            if *last_bind {
                ppolicy::record_last_bind(e, *now);
            }
            false
        }
        Bookkeeping::Rehash { old, new } => {
            if let Some(a) = e.get_mut("userpassword") {
                for v in a.values.iter_mut().filter(|v| *v == old) {
                    v.clone_from(new);
                }
            }
            false
        }
    }
}
