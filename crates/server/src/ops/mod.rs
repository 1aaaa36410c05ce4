//! Operation handlers, one module per operation.

pub mod attrs;
pub mod bind;
pub mod compare;
pub mod extended;
pub mod filter;
pub mod moddn;
pub mod modify;
pub mod rootdse;
pub mod search;
pub mod write;

use crate::context::ServerCtx;
use crate::session::{Responder, Session};
use birch_proto::control::{control_oid, is_critical};
use birch_proto::ldap3_proto::proto::{LdapMsg, LdapOp, LdapResult, LdapResultCode};
use tokio_util::sync::CancellationToken;

/// Controls the server recognizes (advertised in the rootDSE).
pub const SUPPORTED_CONTROLS: &[&str] =
    &[birch_proto::oids::MANAGE_DSA_IT, birch_proto::oids::TREE_DELETE, birch_proto::oids::PERMISSIVE_MODIFY];

/// Runs one request and sends its response(s).
pub async fn dispatch(
    ctx: &std::sync::Arc<ServerCtx>,
    session: &Session,
    msg: LdapMsg,
    tx: &Responder,
    cancel: &CancellationToken,
) {
    let msgid = msg.msgid;
    if let Some(c) = msg.ctrl.iter().find(|c| is_critical(c) && !SUPPORTED_CONTROLS.contains(&control_oid(c).as_str()))
    {
        let text = format!("critical control {} is not supported", control_oid(c));
        if let Some(op) = response_op(&msg.op, result(LdapResultCode::UnavailableCriticalExtension, "", &text)) {
            let _ = tx.send(LdapMsg { msgid, op, ctrl: vec![] }).await;
        }
        return;
    }
    let op = match msg.op {
        LdapOp::BindRequest(req) => Some(LdapOp::BindResponse(bind::handle(ctx, session, req).await)),
        LdapOp::SearchRequest(req) => {
            search::handle(ctx, session, msgid, req, tx, cancel).await;
            None
        }
        LdapOp::ExtendedRequest(req) => Some(LdapOp::ExtendedResponse(extended::handle(ctx, session, req).await)),
        LdapOp::AddRequest(req) => Some(LdapOp::AddResponse(write::add(ctx, session, req).await)),
        LdapOp::DelRequest(dn) => {
            let tree = has_control(&msg.ctrl, birch_proto::oids::TREE_DELETE);
            Some(LdapOp::DelResponse(write::delete(ctx, session, &dn, tree).await))
        }
        LdapOp::ModifyRequest(req) => {
            let permissive = has_control(&msg.ctrl, birch_proto::oids::PERMISSIVE_MODIFY);
            Some(LdapOp::ModifyResponse(modify::handle(ctx, session, req, permissive).await))
        }
        LdapOp::ModifyDNRequest(req) => Some(LdapOp::ModifyDNResponse(moddn::handle(ctx, session, req).await)),
        LdapOp::CompareRequest(req) => Some(LdapOp::CompareResult(compare::handle(ctx, session, req).await)),
        other => response_op(&other, result(LdapResultCode::UnwillingToPerform, "", "operation not implemented yet")),
    };
    if let Some(op) = op {
        if !cancel.is_cancelled() {
            let _ = tx.send(LdapMsg { msgid, op, ctrl: vec![] }).await;
        }
    }
}

/// Whether the request carries the control `oid`.
fn has_control(ctrls: &[birch_proto::ldap3_proto::control::LdapControl], oid: &str) -> bool {
    ctrls.iter().any(|c| control_oid(c) == oid)
}

/// Builds an LDAPResult.
pub fn result(code: LdapResultCode, matched: &str, message: &str) -> LdapResult {
    LdapResult { code, matcheddn: matched.to_string(), message: message.to_string(), referral: vec![] }
}

/// The response op matching a request op, carrying `res`; `None` for requests without a
/// response (unbind, abandon) or that are not requests.
pub fn response_op(req: &LdapOp, res: LdapResult) -> Option<LdapOp> {
    birch_proto::codec::response_op(birch_proto::codec::request_tag(req)?, res)
}

/// Maps a store failure to an LDAP result (and logs unexpected ones).
pub fn store_failure(e: &birch_store::StoreError) -> LdapResult {
    match e {
        birch_store::StoreError::NotUnique { attr, .. } => result(
            LdapResultCode::ConstraintViolation,
            "",
            &format!("{attr}: value is already in use by another entry"),
        ),
        _ => {
            tracing::error!(error = %e, "store error");
            result(LdapResultCode::OperationsError, "", "internal storage error")
        }
    }
}
