//! Modify DN (RFC 4511 section 4.9): rename, and move with newSuperior; a whole subtree
//! moves in one transaction.

use super::controls::RequestControls;
use super::modify::check_rdn_and_classes;
use super::result;
use super::write::{require, require_on_parent, target_dn, write_failure, WriteError};
use crate::context::ServerCtx;
use crate::session::Session;
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{LdapModifyDNRequest, LdapResult, LdapResultCode};
use birch_schema::{Dn, Rdn, Schema};
use birch_store::Entry;
use birch_store::StoreError;
use std::sync::Arc;

/// Handles a Modify DN (Assertion and Pre-/Post-Read apply).
pub async fn handle(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: LdapModifyDNRequest,
    controls: Arc<RequestControls>,
) -> (LdapResult, Vec<LdapControl>) {
    let (dn, ndn) = match target_dn(ctx, &req.dn) {
        Ok(t) => t,
        Err(r) => return (r, vec![]),
    };
    let r = rename(ctx, session, &req, &dn, &ndn, controls).await;
    r.unwrap_or_else(|e| (e, vec![]))
}

async fn rename(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: &LdapModifyDNRequest,
    dn: &Dn,
    ndn: &str,
    controls: Arc<RequestControls>,
) -> Result<(LdapResult, Vec<LdapControl>), LdapResult> {
    let new_rdn = match Dn::parse(&req.newrdn) {
        Ok(d) if d.rdns.len() == 1 => d.rdns[0].clone(),
        _ => return Err(result(LdapResultCode::InvalidDNSyntax, "", "invalid new RDN")),
    };
    for ava in &new_rdn.avas {
        match ctx.schema.attr(&ava.attr) {
            None => {
                return Err(result(
                    LdapResultCode::UndefinedAttributeType,
                    "",
                    &format!("{}: attribute type undefined", ava.attr),
                ))
            }
            Some(t) if t.no_user_modification => {
                return Err(result(
                    LdapResultCode::ConstraintViolation,
                    "",
                    &format!("{}: no user modification allowed", ava.attr),
                ))
            }
            Some(_) => {}
        }
    }
    if ndn == ctx.suffix_ndn {
        return Err(result(LdapResultCode::UnwillingToPerform, "", "cannot rename the suffix entry"));
    }
    let parent = match &req.new_superior {
        Some(s) => match Dn::parse(s) {
            Ok(p) => p,
            Err(_) => return Err(result(LdapResultCode::InvalidDNSyntax, "", "invalid new superior")),
        },
        None => dn.parent(),
    };
    let parent_ndn = parent.normalize(&ctx.schema);
    if !(parent_ndn == ctx.suffix_ndn || parent_ndn.ends_with(&format!(",{}", ctx.suffix_ndn))) {
        return Err(result(LdapResultCode::NoSuchObject, "", "new superior is outside the naming context"));
    }
    let (who, access) = (session.requester(), ctx.access());
    // Write on the entry, delete below the old parent, add below the new one (checked on
    // the entry inside the write).
    require_on_parent(ctx, &access, &who, &dn.parent().normalize(&ctx.schema), birch_acl::Privilege::Delete)
        .and_then(|()| require_on_parent(ctx, &access, &who, &parent_ndn, birch_acl::Privilege::Add))
        .map_err(|e| write_failure(ctx, dn, e))?;
    let mut new_dn = parent.clone();
    new_dn.rdns.insert(0, new_rdn.clone());
    let old_rdn = dn.rdns[0].clone();
    let delete_old = req.deleteoldrdn;
    let (store, schema, target, moved_to) = (ctx.store.clone(), ctx.schema.clone(), ndn.to_string(), new_dn.clone());
    let ctl = controls.clone();
    let by = session.bound_dn();
    let (who2, access2) = (who.clone(), access.clone());
    let tree = super::write::tree_write(ctx).await?;
    let outcome = tokio::task::spawn_blocking(move || {
        let _tree = tree;
        let changed = store.rename(&target, &moved_to, |e| {
            require(&access2, &who2, e, "entry", birch_acl::Privilege::Add)?;
            require(&access2, &who2, e, "entry", birch_acl::Privilege::Delete)?;
            ctl.check_assertion(e, &schema, &access2, &who2)?;
            super::operational::on_modify(e, &by);
            rename_attributes(e, &old_rdn, &new_rdn, delete_old, &moved_to, &schema)
        })?;
        store.sync()?;
        Ok::<_, WriteError>(changed)
    })
    .await;
    match outcome {
        Ok(Ok((old, new))) => {
            let ctrls = controls.read_responses(ctx, &who, Some(&old), Some(&new));
            Ok((result(LdapResultCode::Success, "", ""), ctrls))
        }
        Ok(Err(WriteError::Store(StoreError::NoParent(_)))) => {
            let matched = ctx.store.matched_dn(&new_dn).unwrap_or_default();
            Err(result(LdapResultCode::NoSuchObject, &matched, "new superior does not exist"))
        }
        Ok(Err(e)) => Err(write_failure(ctx, dn, e)),
        Err(_) => Err(result(LdapResultCode::OperationsError, "", "internal error")),
    }
}

/// Adjusts an entry's attributes for a new RDN: the new RDN's values are added, the old
/// RDN's values removed when `delete_old` (unless the new RDN keeps them); then checks the
/// entry under its new DN.
pub fn rename_attributes(
    e: &mut Entry,
    old_rdn: &Rdn,
    new_rdn: &Rdn,
    delete_old: bool,
    new_dn: &Dn,
    schema: &Schema,
) -> Result<(), WriteError> {
    let value_eq = |attr: &str, a: &[u8], b: &[u8]| {
        let rule = schema.rule(attr);
        schema.normalize_value(rule, a).unwrap_or_else(|| a.to_vec())
            == schema.normalize_value(rule, b).unwrap_or_else(|| b.to_vec())
    };
    if delete_old {
        for ava in &old_rdn.avas {
            let canonical = schema.canonical(&ava.attr);
            let kept_by_new = new_rdn.avas.iter().any(|n| {
                schema.canonical(&n.attr) == canonical && value_eq(&canonical, n.value.as_bytes(), ava.value.as_bytes())
            });
            if kept_by_new {
                continue;
            }
            if let Some(a) = e.get_mut(&canonical) {
                a.values.retain(|v| !value_eq(&canonical, v, ava.value.as_bytes()));
            }
        }
        e.attrs.retain(|a| !a.values.is_empty());
    }
    for ava in &new_rdn.avas {
        let canonical = schema.canonical(&ava.attr);
        let present =
            e.get(&canonical).is_some_and(|a| a.values.iter().any(|v| value_eq(&canonical, v, ava.value.as_bytes())));
        if !present {
            e.add_values(&ava.attr, &canonical, [ava.value.clone().into_bytes()]);
        }
    }
    let mut renamed = e.clone();
    renamed.dn = new_dn.to_string();
    check_rdn_and_classes(&renamed, schema)?;
    super::write::check_schema(schema, &renamed)
}
