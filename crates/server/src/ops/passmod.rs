//! Password Modify extended operation (RFC 3062): a user changes their own password, the
//! root DN resets anyone's; without a new password the server generates one and returns it.
//! The password policy applies (ppolicy semantics): a wrong old password counts as a failed
//! bind, changes are checked for quality, age and reuse, and a reset marks the account for
//! a change at the next login.

use super::controls::RequestControls;
use super::result;
use crate::context::ServerCtx;
use crate::password;
use crate::ppolicy::Changer;
use crate::session::Session;
use crate::write::{Change, WriteError};
use birch_acl::Subject;
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{
    LdapExtendedRequest, LdapExtendedResponse, LdapPasswordModifyRequest, LdapPasswordModifyResponse, LdapResult,
    LdapResultCode,
};
use birch_proto::ppolicy::PolicyResponse;
use birch_schema::Dn;
use std::sync::Arc;

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
            return Err(plain(LdapResultCode::StrongerAuthRequired, "only authenticated users may change passwords"))
        }
        None => session.bound_dn(),
    };
    if subject == Subject::Anonymous {
        // As slapd: strongAuthRequired, whoever is named (and before anything is looked up).
        return Err(plain(LdapResultCode::StrongerAuthRequired, "only authenticated users may change passwords"));
    }
    let dn = Dn::parse(&target).map_err(|_| plain(LdapResultCode::InvalidDNSyntax, "invalid user identity"))?;
    let ndn = dn.normalize(ctx.schema());
    if ndn == ctx.root_ndn() {
        return Err(plain(LdapResultCode::UnwillingToPerform, "the root DN's password is set in the configuration"));
    }
    let changer = Changer::of(&subject, &ndn);
    let (peer, by) = (session.peer, session.bound_dn());
    let generated = pm.new_password.is_none().then(password::generate_password);
    let new = pm.new_password.or_else(|| generated.clone()).unwrap_or_default().into_bytes();
    let change = Change::SetPassword { dn: target.clone(), old: pm.old_password.map(String::into_bytes), new };
    let (res, _, done) = super::write::run(ctx, session, change, &RequestControls::default()).await;
    match done {
        Ok(_) => {
            let event = if changer == Changer::Owner { "password_change" } else { "password_reset" };
            tracing::info!(target: "birch::audit", event, %peer, dn = %target, %by);
            if changer == Changer::Owner {
                session.set_must_change(false);
            }
            Ok(generated)
        }
        Err(WriteError::WrongOldPassword { locked, failures }) => {
            tracing::warn!(target: "birch::audit", event = "password_change_failed", %peer, dn = %target, %by, reason = "wrong old password");
            let exempt = ctx.writer().is_lockout_exempt(&ndn);
            ctx.limiter().failed_from(peer.ip(), (!exempt).then_some(ndn.as_str()));
            if locked {
                tracing::warn!(target: "birch::audit", event = "account_locked", %peer, dn = %target, failures);
            }
            Err((res, None))
        }
        Err(e @ WriteError::Policy(..)) => {
            tracing::warn!(target: "birch::audit", event = "password_change_failed", %peer, dn = %target, %by, reason = %e);
            Err((res, e.policy_error().map(PolicyResponse::error)))
        }
        Err(_) => Err((res, None)),
    }
}
