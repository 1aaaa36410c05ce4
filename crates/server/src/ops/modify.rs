//! Modify (RFC 4511 section 4.6, RFC 4525 increment): the request in the write pipeline's
//! terms; all changes of one request are applied in one transaction, or none is
//! ([`crate::write`]).

use super::controls::RequestControls;
use crate::context::ServerCtx;
use crate::ppolicy;
use crate::session::Session;
use crate::write::{Change, Mod, ModOp};
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{LdapModify, LdapModifyRequest, LdapModifyType, LdapResult};
use birch_store::Entry;
use std::sync::Arc;

/// A Modify's changes in the pipeline's terms.
pub fn mods(changes: Vec<LdapModify>) -> Vec<Mod> {
    changes
        .into_iter()
        .map(|c| Mod {
            op: match c.operation {
                LdapModifyType::Add => ModOp::Add,
                LdapModifyType::Delete => ModOp::Delete,
                LdapModifyType::Replace => ModOp::Replace,
                LdapModifyType::Increment => ModOp::Increment,
            },
            attr: c.modification.atype,
            values: c.modification.vals,
        })
        .collect()
}

/// Handles a Modify. With Permissive Modify, adding a present value or deleting an absent
/// one is not an error; Assertion and Pre-/Post-Read apply.
pub async fn handle(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: LdapModifyRequest,
    controls: Arc<RequestControls>,
) -> (LdapResult, Vec<LdapControl>) {
    let dn = req.dn;
    let mods = mods(req.changes);
    let (res, ctrls, done) = super::write::run(ctx, session, Change::Modify { dn: dn.clone(), mods }, &controls).await;
    if let Ok(done) = done {
        if let (Some(old), Some(new)) = (&done.before, &done.after) {
            audit_account_changes(session, &dn, old, new);
            // The owner changed their own password: the session may do everything again.
            let own = matches!(session.subject(), birch_acl::Subject::User(me) if me == new.ndn);
            if own && old.get("userpassword").map(|a| &a.values) != new.get("userpassword").map(|a| &a.values) {
                session.set_must_change(false);
            }
        }
    }
    (res, ctrls)
}

/// Logs the account state changes an administrator makes by hand: an account disabled
/// (with the reason given) or enabled again, a lock set, a lock removed.
fn audit_account_changes(session: &Session, dn: &str, old: &Entry, new: &Entry) {
    let lock = |e: &Entry| e.get("pwdaccountlockedtime").and_then(|a| a.values.first().cloned());
    let (before, after) = (lock(old), lock(new));
    if before == after {
        return;
    }
    let (peer, by) = (session.peer, session.bound_dn());
    let disabled = |v: &Option<Vec<u8>>| v.as_deref().is_some_and(ppolicy::state::is_disabled_value);
    if disabled(&after) {
        let reason = new.get("birchdisabledreason").and_then(|a| a.values.first());
        let reason = reason.map(|r| crate::logsafe::cut(&String::from_utf8_lossy(r), 512).into_owned());
        let reason = reason.unwrap_or_default();
        tracing::warn!(target: "birch::audit", event = "account_disabled", %peer, %dn, %by, %reason);
        return;
    }
    match (disabled(&before), after) {
        (true, None) => tracing::warn!(target: "birch::audit", event = "account_enabled", %peer, %dn, %by),
        (_, Some(_)) => tracing::warn!(target: "birch::audit", event = "account_locked", %peer, %dn, %by),
        (false, None) => tracing::info!(target: "birch::audit", event = "account_unlocked", %peer, %dn, %by),
    }
}
