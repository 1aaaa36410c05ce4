//! Simple bind (RFC 4511 section 4.2, RFC 4513 section 5.1); SASL binds go to
//! [`crate::sasl_external`].

use super::{result, store_failure};
use crate::context::ServerCtx;
use crate::session::Session;
use birch_acl::Subject;
use birch_proto::ldap3_proto::proto::{LdapBindCred, LdapBindRequest, LdapBindResponse, LdapResultCode};
use birch_schema::Dn;
use std::sync::Arc;

/// Handles a bind request. A bind first resets the connection to anonymous.
pub async fn handle(ctx: &Arc<ServerCtx>, session: &Session, req: LdapBindRequest) -> LdapBindResponse {
    let res = bind(ctx, session, req).await;
    LdapBindResponse { res, saslcreds: None }
}

async fn bind(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: LdapBindRequest,
) -> birch_proto::ldap3_proto::proto::LdapResult {
    session.set_identity(Subject::Anonymous, String::new());
    if req.version != 3 {
        return result(LdapResultCode::ProtocolError, "", "requested protocol version not allowed");
    }
    let password = match req.cred {
        LdapBindCred::Simple(p) => p,
        LdapBindCred::SASL(creds) => return crate::sasl_external::bind(ctx, session, creds).await,
        LdapBindCred::Unsupported => {
            return result(LdapResultCode::AuthMethodNotSupported, "", "authentication method not supported");
        }
    };
    let peer = session.peer;
    if req.dn.is_empty() {
        if password.is_empty() {
            return result(LdapResultCode::Success, "", "");
        }
        // OpenLDAP's "disallow bind_anon_cred": a password with no name is refused, so a
        // client that lost its DN never silently becomes anonymous.
        tracing::warn!(target: "birch::audit", event = "bind_failed", %peer, dn = "", reason = "password without DN");
        return result(LdapResultCode::InvalidCredentials, "", "");
    }
    if password.is_empty() {
        return result(LdapResultCode::UnwillingToPerform, "", "unauthenticated bind (DN with no password) disallowed");
    }
    let Ok(dn) = Dn::parse(&req.dn) else {
        return result(LdapResultCode::InvalidDNSyntax, "", "invalid DN");
    };
    let ndn = dn.normalize(&ctx.schema);
    let (subject, stored) = if ndn == ctx.root_ndn {
        (Subject::Root, Some(vec![ctx.root_hash.clone()]))
    } else {
        let stored = match ctx.store.get_by_ndn(&ndn) {
            Ok(found) => found.and_then(|(_, e)| e.get("userpassword").map(|a| a.values.clone())),
            Err(e) => return store_failure(&e),
        };
        (Subject::User(ndn.clone()), stored)
    };
    if ctx.verify_password(stored, password.into_bytes()).await {
        tracing::info!(target: "birch::audit", event = "bind", %peer, dn = %req.dn);
        session.set_identity(subject, req.dn);
        result(LdapResultCode::Success, "", "")
    } else {
        tracing::warn!(target: "birch::audit", event = "bind_failed", %peer, dn = %req.dn, reason = "invalid credentials");
        result(LdapResultCode::InvalidCredentials, "", "")
    }
}
