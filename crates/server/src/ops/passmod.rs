//! Password Modify extended operation (RFC 3062): a user changes their own password, the
//! root DN resets anyone's; without a new password the server generates one and returns it.

use super::result;
use super::write::{hash_cleartext, write_failure, WriteError};
use crate::context::ServerCtx;
use crate::password;
use crate::session::Session;
use birch_acl::Subject;
use birch_proto::ldap3_proto::proto::{
    LdapExtendedRequest, LdapExtendedResponse, LdapPasswordModifyRequest, LdapPasswordModifyResponse, LdapResult,
    LdapResultCode,
};
use birch_schema::Dn;
use std::sync::Arc;

/// Handles a Password Modify request.
pub async fn handle(ctx: &Arc<ServerCtx>, session: &Session, req: &LdapExtendedRequest) -> LdapExtendedResponse {
    match change(ctx, session, req).await {
        Ok(generated) => {
            let res = result(LdapResultCode::Success, "", "");
            match generated {
                Some(pw) => LdapPasswordModifyResponse { res, gen_password: Some(pw) }.into(),
                // No generated password: no response value at all (RFC 3062 section 3).
                None => LdapExtendedResponse { res, name: None, value: None },
            }
        }
        Err(res) => LdapExtendedResponse { res, name: None, value: None },
    }
}

/// Changes the password; returns the generated one, if the server chose it.
async fn change(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: &LdapExtendedRequest,
) -> Result<Option<String>, LdapResult> {
    let pm = match &req.value {
        None => LdapPasswordModifyRequest { user_identity: None, old_password: None, new_password: None },
        Some(_) => LdapPasswordModifyRequest::try_from(req)
            .map_err(|_| result(LdapResultCode::ProtocolError, "", "malformed password modify request"))?,
    };
    let subject = session.subject();
    let target = match &pm.user_identity {
        Some(id) => id.strip_prefix("dn:").unwrap_or(id).to_string(),
        None if subject == Subject::Anonymous => {
            return Err(result(LdapResultCode::UnwillingToPerform, "", "only authenticated users may change passwords"))
        }
        None => session.bound_dn(),
    };
    let dn = Dn::parse(&target).map_err(|_| result(LdapResultCode::InvalidDNSyntax, "", "invalid user identity"))?;
    let ndn = dn.normalize(&ctx.schema);
    if ndn == ctx.root_ndn {
        return Err(result(
            LdapResultCode::UnwillingToPerform,
            "",
            "the root DN's password is set in the configuration",
        ));
    }
    let is_self = subject == Subject::User(ndn.clone());
    if !is_self && subject != Subject::Root {
        return Err(result(LdapResultCode::InsufficentAccessRights, "", "insufficient access to change this password"));
    }
    let peer = session.peer;
    if let Some(old) = pm.old_password {
        let stored = match ctx.store.get_by_ndn(&ndn) {
            Ok(found) => found.and_then(|(_, e)| e.get("userpassword").map(|a| a.values.clone())),
            Err(e) => return Err(super::store_failure(&e)),
        };
        if !ctx.verify_password(stored, old.into_bytes()).await {
            tracing::warn!(target: "birch::audit", event = "password_change_failed", %peer, dn = %target, by = %session.bound_dn(), reason = "wrong old password");
            return Err(result(LdapResultCode::UnwillingToPerform, "", "unwilling to verify old password"));
        }
    }
    let generated = pm.new_password.is_none().then(password::generate_password);
    let new = pm.new_password.or_else(|| generated.clone()).unwrap_or_default();
    let hashed = hash_cleartext(ctx, vec![new.into_bytes()]).await?;
    let (store, by) = (ctx.store.clone(), session.bound_dn());
    let outcome = tokio::task::spawn_blocking(move || {
        store.modify(&ndn, |e| {
            e.attrs.retain(|a| a.canonical != "userpassword");
            e.add_values("userPassword", "userpassword", hashed);
            super::operational::on_modify(e, &by);
            Ok::<(), WriteError>(())
        })?;
        store.sync()?;
        Ok::<(), WriteError>(())
    })
    .await;
    match outcome {
        Ok(Ok(())) => {
            let event = if is_self { "password_change" } else { "password_reset" };
            tracing::info!(target: "birch::audit", event, %peer, dn = %target, by = %session.bound_dn());
            Ok(generated)
        }
        Ok(Err(e)) => Err(write_failure(ctx, &dn, e)),
        Err(_) => Err(result(LdapResultCode::OperationsError, "", "internal error")),
    }
}
