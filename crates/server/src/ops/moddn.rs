//! Modify DN (RFC 4511 section 4.9): rename, and move with newSuperior; a whole subtree
//! moves in one transaction ([`crate::write`]).

use super::controls::RequestControls;
use crate::context::ServerCtx;
use crate::session::Session;
use crate::write::Change;
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{LdapModifyDNRequest, LdapResult};
use std::sync::Arc;

/// Handles a Modify DN (Assertion and Pre-/Post-Read apply).
pub async fn handle(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: LdapModifyDNRequest,
    controls: Arc<RequestControls>,
) -> (LdapResult, Vec<LdapControl>) {
    let change = Change::Rename {
        dn: req.dn,
        new_rdn: req.newrdn,
        delete_old: req.deleteoldrdn,
        new_superior: req.new_superior,
    };
    let (res, ctrls, _) = super::write::run(ctx, session, change, &controls).await;
    (res, ctrls)
}
