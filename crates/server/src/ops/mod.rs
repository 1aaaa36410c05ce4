//! Operation handlers, one module per operation.

pub mod audited;
pub mod bind;
pub mod compare;
pub mod controls;
pub mod extended;
pub mod moddn;
pub mod modify;
pub mod monitor;
pub mod paged;
pub mod passmod;
pub mod rootdse;
pub mod sasl_external;
pub mod search;
pub mod subschema;
pub mod syncprov;
pub mod write;

use crate::context::ServerCtx;
use crate::session::{Responder, Session};
use birch_proto::control::{control_oid, is_critical};
use birch_proto::ldap3_proto::proto::{LdapMsg, LdapOp, LdapResult, LdapResultCode};
use tokio_util::sync::CancellationToken;

/// Controls the server recognizes (advertised in the rootDSE).
pub const SUPPORTED_CONTROLS: &[&str] = &[
    birch_proto::oids::MANAGE_DSA_IT,
    birch_proto::oids::TREE_DELETE,
    birch_proto::oids::PERMISSIVE_MODIFY,
    birch_proto::oids::ASSERTION,
    birch_proto::oids::PRE_READ,
    birch_proto::oids::POST_READ,
    birch_proto::oids::PASSWORD_POLICY,
    birch_proto::oids::PAGED_RESULTS,
    birch_proto::oids::SYNC_REQUEST,
];

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
    let summary = audited::summarize(&msg.op, session);
    let kind = op_kind(&msg.op);
    let started = std::time::Instant::now();
    ctx.metrics().started(kind);
    let mut search_code = None;
    if let Some(res) = crate::tls::refusal(ctx, session, &msg.op).or_else(|| replica_referral(ctx, &msg.op)) {
        let op = response_op(&msg.op, res);
        if let Some(summary) = summary {
            audited::record(summary, session, op.as_ref()).await;
        }
        // Refused before it ran (confidentialityRequired, a replica's referral): counted
        // like any other answer.
        count_finished(ctx, kind, op.as_ref().and_then(audited::result_code).unwrap_or(-1), started);
        if let Some(op) = op {
            let _ = tx.send(LdapMsg { msgid, op, ctrl: vec![] }).await;
        }
        return;
    }
    let controls = match controls::RequestControls::parse(ctx, &msg.ctrl) {
        Ok(c) => std::sync::Arc::new(c),
        Err(res) => {
            let op = response_op(&msg.op, res);
            count_finished(ctx, kind, op.as_ref().and_then(audited::result_code).unwrap_or(-1), started);
            if let Some(op) = op {
                let _ = tx.send(LdapMsg { msgid, op, ctrl: vec![] }).await;
            }
            return;
        }
    };
    let (op, ctrl) = match msg.op {
        LdapOp::BindRequest(req) => {
            let (res, ctrl) = bind::handle(ctx, session, req, &controls).await;
            (Some(LdapOp::BindResponse(res)), ctrl)
        }
        ref op if session.must_change() && !allowed_before_change(op, session) => {
            let res = result(
                LdapResultCode::InsufficentAccessRights,
                "",
                "Operations are restricted to bind/unbind/abandon/StartTLS/modify password",
            );
            let ctrl = if controls.ppolicy {
                vec![birch_proto::ppolicy::PolicyResponse::error(birch_proto::ppolicy::PolicyError::ChangeAfterReset)
                    .control()]
            } else {
                vec![]
            };
            (response_op(op, res), ctrl)
        }
        LdapOp::SearchRequest(req) => {
            search_code = search::handle(ctx, session, msgid, req, tx, cancel, &controls).await;
            (None, vec![])
        }
        LdapOp::ExtendedRequest(req) => {
            let (res, ctrl) = extended::handle(ctx, session, req, &controls).await;
            (Some(LdapOp::ExtendedResponse(res)), ctrl)
        }
        LdapOp::AddRequest(req) => {
            let (res, ctrl) = write::add(ctx, session, req, controls).await;
            (Some(LdapOp::AddResponse(res)), ctrl)
        }
        LdapOp::DelRequest(dn) => {
            let (res, ctrl) = write::delete(ctx, session, &dn, controls).await;
            (Some(LdapOp::DelResponse(res)), ctrl)
        }
        LdapOp::ModifyRequest(req) => {
            let (res, ctrl) = modify::handle(ctx, session, req, controls).await;
            (Some(LdapOp::ModifyResponse(res)), ctrl)
        }
        LdapOp::ModifyDNRequest(req) => {
            let (res, ctrl) = moddn::handle(ctx, session, req, controls).await;
            (Some(LdapOp::ModifyDNResponse(res)), ctrl)
        }
        LdapOp::CompareRequest(req) => {
            (Some(LdapOp::CompareResult(compare::handle(ctx, session, req, controls).await)), vec![])
        }
        other => (
            response_op(&other, result(LdapResultCode::UnwillingToPerform, "", "operation not implemented yet")),
            vec![],
        ),
    };
    if let Some(summary) = summary {
        audited::record(summary, session, op.as_ref()).await;
    }
    let code = op.as_ref().and_then(audited::result_code).or(search_code).unwrap_or(-1);
    count_finished(ctx, kind, code, started);
    if let Some(op) = op {
        if !cancel.is_cancelled() {
            let _ = tx.send(LdapMsg { msgid, op, ctrl }).await;
        }
    }
}

/// Counts an operation refused before it was dispatched (busy: 51) as started and finished
/// with `code`.
pub fn count_refused(ctx: &ServerCtx, op: &LdapOp, code: LdapResultCode) {
    let kind = op_kind(op);
    ctx.metrics().started(kind);
    count_finished(ctx, kind, birch_proto::result::code_number(&code), std::time::Instant::now());
}

/// Counts a finished operation (and a failed bind) in the metrics.
fn count_finished(ctx: &ServerCtx, kind: &'static str, code: i32, started: std::time::Instant) {
    ctx.metrics().finished(kind, code, started.elapsed());
    if kind == "bind" && code != 0 {
        ctx.metrics().bind_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// On a read-only replica, the referral (10) to the provider a write gets (as slapd's
/// `updateref`); `None` for anything else.
fn replica_referral(ctx: &ServerCtx, op: &LdapOp) -> Option<LdapResult> {
    let url = ctx.config().replication.referral_url()?;
    let write = match op {
        LdapOp::AddRequest(_) | LdapOp::DelRequest(_) | LdapOp::ModifyRequest(_) | LdapOp::ModifyDNRequest(_) => true,
        LdapOp::ExtendedRequest(r) => r.name == birch_proto::oids::PASSWORD_MODIFY,
        _ => false,
    };
    write.then(|| LdapResult {
        code: LdapResultCode::Referral,
        matcheddn: String::new(),
        message: "this server is a read-only replica".to_string(),
        referral: vec![url],
    })
}

/// The kind of a request, as metrics name it.
fn op_kind(op: &LdapOp) -> &'static str {
    match op {
        LdapOp::BindRequest(_) => "bind",
        LdapOp::SearchRequest(_) => "search",
        LdapOp::ModifyRequest(_) => "modify",
        LdapOp::AddRequest(_) => "add",
        LdapOp::DelRequest(_) => "delete",
        LdapOp::ModifyDNRequest(_) => "modrdn",
        LdapOp::CompareRequest(_) => "compare",
        LdapOp::ExtendedRequest(_) => "extended",
        _ => "other",
    }
}

/// What a session that must change its password may still do (OpenLDAP ppolicy): bind,
/// WhoAmI, StartTLS, Password Modify, and a modify of its own userPassword only.
fn allowed_before_change(op: &LdapOp, session: &Session) -> bool {
    use birch_proto::oids;
    match op {
        LdapOp::ExtendedRequest(r) => [oids::PASSWORD_MODIFY, oids::WHOAMI, oids::START_TLS].contains(&r.name.as_str()),
        LdapOp::ModifyRequest(r) => {
            r.dn.eq_ignore_ascii_case(&session.bound_dn())
                && r.changes.iter().all(|c| c.modification.atype.eq_ignore_ascii_case("userPassword"))
        }
        _ => false,
    }
}

pub use crate::result::{response_op, result, store_failure};
