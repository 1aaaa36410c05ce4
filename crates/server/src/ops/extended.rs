//! Extended operations: WhoAmI (RFC 4532), Password Modify (RFC 3062); anything else is a
//! protocolError.

use super::result;
use crate::context::ServerCtx;
use crate::session::Session;
use birch_acl::Subject;
use birch_proto::ldap3_proto::proto::{LdapExtendedRequest, LdapExtendedResponse, LdapResultCode};
use birch_proto::oids;
use std::sync::Arc;

/// Extended operations the server supports (advertised in the rootDSE).
pub const SUPPORTED_EXTENSIONS: &[&str] = &[oids::WHOAMI, oids::PASSWORD_MODIFY];

/// Handles an extended request; returns the response and its controls.
pub async fn handle(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: LdapExtendedRequest,
    controls: &super::controls::RequestControls,
) -> (LdapExtendedResponse, Vec<birch_proto::ldap3_proto::control::LdapControl>) {
    // tests/faults.rs makes this panic to prove a panic ends only its connection.
    fail::fail_point!("ops::extended");
    if req.name == oids::PASSWORD_MODIFY {
        return super::passmod::handle(ctx, session, &req, controls).await;
    }
    (answer(ctx, session, req), vec![])
}

/// The authorization identity WhoAmI answers (RFC 4532): as slapd, the DN of the bound
/// entry as stored, whatever case and spacing the client bound with (`UID=Alice, OU=People,…`
/// gives `dn:uid=alice,ou=people,…`); the configured root DN for the root; empty when
/// anonymous.
fn authzid(ctx: &ServerCtx, session: &Session) -> String {
    match session.subject() {
        Subject::Anonymous => String::new(),
        Subject::Root => format!("dn:{}", ctx.config().root_dn()),
        Subject::User(ndn) => match ctx.store().get_by_ndn_only(&ndn, &[]) {
            Ok(Some((_, entry))) => format!("dn:{}", entry.dn),
            // Deleted since the bind, or unreadable: the normalized DN bound with.
            _ => format!("dn:{ndn}"),
        },
    }
}

fn answer(ctx: &ServerCtx, session: &Session, req: LdapExtendedRequest) -> LdapExtendedResponse {
    if req.name == oids::WHOAMI {
        let authzid = authzid(ctx, session);
        return LdapExtendedResponse {
            res: result(LdapResultCode::Success, "", ""),
            name: None,
            value: Some(authzid.into_bytes()),
        };
    }
    LdapExtendedResponse {
        res: result(LdapResultCode::ProtocolError, "", &format!("{}: extended operation not supported", req.name)),
        name: None,
        value: None,
    }
}
