//! Compare (RFC 4511 section 4.10): compareTrue (6) / compareFalse (5) by the attribute's
//! equality rule.

use super::controls::RequestControls;
use super::{result, store_failure};
use crate::context::ServerCtx;
use crate::session::Session;
use crate::write::{authorize, WriteError};
use birch_acl::Privilege;
use birch_proto::ldap3_proto::proto::{LdapCompareRequest, LdapResult, LdapResultCode};
use birch_schema::Dn;
use std::sync::Arc;

/// Handles a Compare.
pub async fn handle(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: LdapCompareRequest,
    controls: Arc<RequestControls>,
) -> LdapResult {
    let Ok(dn) = Dn::parse(&req.dn) else {
        return result(LdapResultCode::InvalidDNSyntax, "", "invalid DN");
    };
    let Some(t) = ctx.schema().attr(&req.atype) else {
        return result(LdapResultCode::UndefinedAttributeType, "", &format!("{}: attribute type undefined", req.atype));
    };
    if let Err(e) = birch_schema::desc::options(&req.atype) {
        return result(LdapResultCode::UndefinedAttributeType, "", &format!("{}: {e}", req.atype));
    }
    let ndn = dn.normalize(ctx.schema());
    let (who, access) = (session.requester(), ctx.access());
    let entry = match ctx.store().get_by_ndn(&ndn) {
        Ok(Some((_, e))) => e,
        Ok(None) => return result(LdapResultCode::NoSuchObject, &access.visible_matched(ctx.store(), &who, &dn), ""),
        Err(e) => return store_failure(&e),
    };
    if !access.check(&who, &entry, &t.canonical, Privilege::Compare) {
        // Without the right, the entry's existence is revealed only under `disclose`.
        if access.check(&who, &entry, "entry", Privilege::Disclose) {
            return result(LdapResultCode::InsufficentAccessRights, "", "");
        }
        return result(LdapResultCode::NoSuchObject, &access.visible_matched(ctx.store(), &who, &dn), "");
    }
    if let Err(WriteError::Ldap(code, text)) =
        authorize::assertion(controls.assertion.as_ref(), &entry, ctx.schema(), &access, &who)
    {
        return result(code, "", &text);
    }
    // A compare on `cn` reads `cn;lang-en` too; one on `cn;lang-en` only that (as slapd).
    let described = ctx.schema().canonical(&req.atype);
    let values: Vec<&Vec<u8>> = entry
        .attrs
        .iter()
        .filter(|a| birch_schema::desc::covers(&described, &a.canonical))
        .flat_map(|a| a.values.iter())
        .collect();
    if values.is_empty() {
        return result(LdapResultCode::NoSuchAttribute, "", "");
    }
    let Some(want) = ctx.schema().normalize_value(t.rule, &req.val) else {
        return result(LdapResultCode::CompareFalse, "", "");
    };
    let equal = values.iter().any(|v| ctx.schema().normalize_value(t.rule, v).is_some_and(|n| n == want));
    result(if equal { LdapResultCode::CompareTrue } else { LdapResultCode::CompareFalse }, "", "")
}
