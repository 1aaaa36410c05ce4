//! Add and Delete, and what every LDAP write handler shares: the session's user as the
//! write pipeline's actor, the request's controls as its options, the answer with
//! Pre-/Post-Read. The pipeline itself is [`crate::write`].

use super::controls::RequestControls;
use super::result;
use crate::context::ServerCtx;
use crate::session::Session;
use crate::write::{Actor, Change, Done, Options, User, WriteError};
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{LdapAddRequest, LdapResult, LdapResultCode};
use std::sync::Arc;

/// The write options the request's controls ask for.
pub(crate) fn options(controls: &RequestControls) -> Options {
    Options {
        assertion: controls.assertion.clone(),
        permissive: controls.permissive,
        tree_delete: controls.tree_delete,
    }
}

/// Runs a change through the write pipeline as the session's user: the result, the
/// Pre-/Post-Read controls, and what was done (for the handler's own follow-up).
pub(crate) async fn run(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    change: Change,
    controls: &RequestControls,
) -> (LdapResult, Vec<LdapControl>, Result<Done, WriteError>) {
    let who = session.requester();
    let actor =
        Actor::User(User { requester: who.clone(), access: ctx.access(), dn: session.bound_dn(), conn: session.id });
    let dn = change.dn().to_string();
    match ctx.writer().run(&actor, change, &options(controls)).await {
        Ok(done) => {
            let ctrls = controls.read_responses(ctx, &who, done.before.as_ref(), done.after.as_ref());
            (result(LdapResultCode::Success, "", ""), ctrls, Ok(done))
        }
        Err(e) => (ctx.writer().failure(&actor, &dn, &e), vec![], Err(e)),
    }
}

/// Handles an Add: acknowledged only once the entry is durable.
pub async fn add(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: LdapAddRequest,
    controls: Arc<RequestControls>,
) -> (LdapResult, Vec<LdapControl>) {
    if controls.assertion.is_some() {
        return (result(LdapResultCode::ProtocolError, "", "the assertion control does not apply to add"), vec![]);
    }
    let attrs = req.attributes.into_iter().map(|a| (a.atype, a.vals)).collect();
    let (res, ctrls, _) = run(ctx, session, Change::Add { dn: req.dn, attrs }, &controls).await;
    (res, ctrls)
}

/// Handles a Delete (of a leaf, or of a subtree with Tree Delete): acknowledged only once
/// durable.
pub async fn delete(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    dn: &str,
    controls: Arc<RequestControls>,
) -> (LdapResult, Vec<LdapControl>) {
    let (res, ctrls, _) = run(ctx, session, Change::Delete { dn: dn.to_string() }, &controls).await;
    (res, ctrls)
}
