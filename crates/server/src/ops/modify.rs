//! Modify (RFC 4511 section 4.6, RFC 4525 increment): all changes of one request are applied
//! to a copy of the entry and committed in one transaction, or none is.

use super::controls::RequestControls;
use super::result;
use super::write::{hash_cleartext, require, target_dn, write_failure, WriteError};
use crate::context::ServerCtx;
use crate::ppolicy::{self, change, Account, Changer, Policy};
use crate::session::Session;
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{LdapModify, LdapModifyRequest, LdapModifyType, LdapResult, LdapResultCode};
use birch_schema::{MatchingRule, Schema};
use birch_store::Entry;
use std::sync::Arc;

/// Handles a Modify. With Permissive Modify, adding a present value or deleting an absent
/// one is not an error; Assertion and Pre-/Post-Read apply.
pub async fn handle(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: LdapModifyRequest,
    controls: Arc<RequestControls>,
) -> (LdapResult, Vec<LdapControl>) {
    let (dn, ndn) = match target_dn(ctx, &req.dn) {
        Ok(t) => t,
        Err(r) => return (r, vec![]),
    };
    let mut changes = req.changes;
    let password = match password_changes(ctx, session, &ndn, &mut changes).await {
        Ok(p) => p,
        Err(r) => return (r, vec![]),
    };
    let owner_changes = matches!(password, Some((_, Changer::Owner)));
    let store = ctx.store.clone();
    let schema = ctx.schema.clone();
    let target = ndn.clone();
    let ctl = controls.clone();
    let by = session.bound_dn();
    let (who, access) = (session.requester(), ctx.access());
    let (who2, access2) = (who.clone(), access.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let changed = store.modify(&target, |e| {
            check_access(&access2, &who2, e, &changes, &schema)?;
            ctl.check_assertion(e, &schema, &access2, &who2)?;
            let before = structural_class(&schema, e);
            let old_password = e.get("userpassword").map(|a| a.values.clone()).unwrap_or_default();
            apply_changes(e, &changes, &schema, ctl.permissive)?;
            if let Some((policy, changer)) = &password {
                let new_password = e.get("userpassword").map(|a| a.values.clone()).unwrap_or_default();
                if new_password != old_password {
                    ppolicy::change::record(e, policy, *changer, &old_password, std::time::SystemTime::now());
                }
            }
            super::operational::on_modify(e, &by);
            let after = structural_class(&schema, e);
            if after.is_some() && after != before {
                return Err(WriteError::Ldap(
                    LdapResultCode::ObjectClassModsProhibited,
                    "structural object class modification not allowed".into(),
                ));
            }
            super::write::check_schema(&schema, e)?;
            Ok::<(), WriteError>(())
        })?;
        store.sync()?;
        Ok::<_, WriteError>(changed)
    })
    .await;
    match outcome {
        Ok(Ok((old, new))) => {
            audit_account_changes(session, &req.dn, &old, &new);
            if owner_changes {
                session.set_must_change(false);
            }
            let ctrls = controls.read_responses(ctx, &who, Some(&old), Some(&new));
            (result(LdapResultCode::Success, "", ""), ctrls)
        }
        Ok(Err(e)) => (write_failure(ctx, &dn, e), vec![]),
        Err(_) => (result(LdapResultCode::OperationsError, "", "internal error"), vec![]),
    }
}

/// Checks that `who` may make every change of a Modify to `e` (before the changes): adding
/// values needs add, deleting needs delete, replacing and incrementing need both. Adding or
/// deleting only one's own DN is allowed under selfwrite.
fn check_access(
    access: &crate::access::Access,
    who: &birch_acl::Requester,
    e: &Entry,
    changes: &[LdapModify],
    schema: &Schema,
) -> Result<(), WriteError> {
    use birch_acl::Privilege;
    let own_dn = |vals: &[Vec<u8>]| match &who.subject {
        birch_acl::Subject::User(me) => {
            !vals.is_empty()
                && vals.iter().all(|v| {
                    schema.normalize_value(MatchingRule::DistinguishedName, v).is_some_and(|n| n == me.as_bytes())
                })
        }
        _ => false,
    };
    for c in changes {
        let Some(attr) = schema.attr(&c.modification.atype).map(|t| t.canonical.clone()) else {
            continue; // apply_changes answers undefinedAttributeType
        };
        let vals = &c.modification.vals;
        let needs: &[(Privilege, Privilege)] = match c.operation {
            LdapModifyType::Add => &[(Privilege::Add, Privilege::AddSelf)],
            LdapModifyType::Delete => &[(Privilege::Delete, Privilege::DeleteSelf)],
            LdapModifyType::Replace | LdapModifyType::Increment => {
                &[(Privilege::Add, Privilege::Add), (Privilege::Delete, Privilege::Delete)]
            }
        };
        for &(need, as_self) in needs {
            let allowed = access.check(who, e, &attr, need) || own_dn(vals) && access.check(who, e, &attr, as_self);
            if !allowed {
                require(access, who, e, &attr, need)?;
            }
        }
    }
    Ok(())
}

/// Prepares the userPassword changes of a Modify under the password policy: a delete of
/// the old password given in cleartext is turned into a delete of the stored value it
/// verifies against (as OpenLDAP does), new cleartext values are checked (quality, age,
/// reuse) and hashed. Returns the policy and who changes, when the password changes.
async fn password_changes(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    ndn: &str,
    changes: &mut [LdapModify],
) -> Result<Option<(Policy, Changer)>, LdapResult> {
    let touches = |c: &LdapModify| ctx.schema.canonical(&c.modification.atype) == "userpassword";
    if !changes.iter().any(touches) {
        return Ok(None);
    }
    let Ok(Some((_, entry))) = ctx.store.get_by_ndn(ndn) else {
        return Ok(None); // the modify itself answers noSuchObject
    };
    let policy = ppolicy::policy_for(&ctx.store, &ctx.schema, &ctx.config, &entry);
    let changer = Changer::of(&session.subject(), ndn);
    let account = Account::read(&entry);
    let stored = entry.get("userpassword").map(|a| a.values.clone()).unwrap_or_default();
    let mut old_supplied = false;
    for c in changes.iter_mut().filter(|c| touches(c)) {
        match c.operation {
            LdapModifyType::Delete => {
                for v in &mut c.modification.vals {
                    old_supplied = true;
                    if !stored.contains(v) {
                        let matched = ctx.verify_password(Some(stored.clone()), v.clone()).await;
                        if let Some(s) = matched.and_then(|i| stored.get(i)) {
                            v.clone_from(s);
                        }
                    }
                }
            }
            LdapModifyType::Add | LdapModifyType::Replace => {
                let now = std::time::SystemTime::now();
                for v in &c.modification.vals {
                    let refusal = match change::check(&policy, &account, changer, old_supplied, v, now) {
                        Err(r) => Some(r),
                        Ok(()) => match super::passmod::reuse_check(ctx, &policy, &entry, changer, v).await {
                            Ok(Ok(())) => None,
                            Ok(Err(r)) => Some(r),
                            Err((res, _)) => return Err(res),
                        },
                    };
                    if let Some(r) = refusal {
                        return Err(result(r.code, "", r.message));
                    }
                }
                c.modification.vals = hash_cleartext(ctx, std::mem::take(&mut c.modification.vals)).await?;
            }
            LdapModifyType::Increment => {}
        }
    }
    Ok(Some((policy, changer)))
}

/// Logs the account state changes an administrator makes by hand: a lock set (or the
/// disabling value) and a lock removed.
fn audit_account_changes(session: &Session, dn: &str, old: &Entry, new: &Entry) {
    let lock = |e: &Entry| e.get("pwdaccountlockedtime").and_then(|a| a.values.first().cloned());
    let (before, after) = (lock(old), lock(new));
    if before == after {
        return;
    }
    let (peer, by) = (session.peer, session.bound_dn());
    match after {
        Some(v) if v == ppolicy::gentime::DISABLED.as_bytes() => {
            tracing::warn!(target: "birch::audit", event = "account_disabled", %peer, %dn, %by);
        }
        Some(_) => tracing::warn!(target: "birch::audit", event = "account_locked", %peer, %dn, %by),
        None => tracing::info!(target: "birch::audit", event = "account_unlocked", %peer, %dn, %by),
    }
}

/// The canonical name of an entry's structural object class, if it has one.
fn structural_class(schema: &Schema, e: &Entry) -> Option<String> {
    let classes: Vec<String> =
        e.get("objectclass")?.values.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect();
    let names: Vec<&str> = classes.iter().map(String::as_str).collect();
    schema.structural_class(&names).ok().map(|c| c.canonical.clone())
}

fn fail(code: LdapResultCode, text: String) -> WriteError {
    WriteError::Ldap(code, text)
}

/// Normalized form of a value for equality under `rule` (raw bytes when invalid).
fn norm(schema: &Schema, rule: MatchingRule, v: &[u8]) -> Vec<u8> {
    schema.normalize_value(rule, v).unwrap_or_else(|| v.to_vec())
}

/// Applies the changes of one Modify request to an entry, with OpenLDAP's result codes.
pub fn apply_changes(
    e: &mut Entry,
    changes: &[LdapModify],
    schema: &Schema,
    permissive: bool,
) -> Result<(), WriteError> {
    for c in changes {
        let name = &c.modification.atype;
        let Some(t) = schema.attr(name) else {
            return Err(fail(LdapResultCode::UndefinedAttributeType, format!("{name}: attribute type undefined")));
        };
        if let Err(e) = birch_schema::desc::options(name) {
            return Err(fail(LdapResultCode::UndefinedAttributeType, format!("{name}: {e}")));
        }
        // The description's own attribute: a change of `cn;lang-en` touches only the tagged
        // values, a change of `cn` only the untagged ones (as slapd).
        let (canonical, rule) = (schema.canonical(name), t.rule);
        if t.no_user_modification {
            return Err(fail(LdapResultCode::ConstraintViolation, format!("{name}: no user modification allowed")));
        }
        let vals = &c.modification.vals;
        let present: Vec<Vec<u8>> =
            e.get(&canonical).map(|a| a.values.iter().map(|v| norm(schema, rule, v)).collect()).unwrap_or_default();
        match c.operation {
            LdapModifyType::Add => {
                if vals.is_empty() {
                    return Err(fail(LdapResultCode::ProtocolError, format!("modify/add: {name}: no values given")));
                }
                let mut seen = present.clone();
                let mut new = Vec::new();
                for (i, v) in vals.iter().enumerate() {
                    let n = norm(schema, rule, v);
                    if seen.contains(&n) {
                        if permissive {
                            continue;
                        }
                        return Err(fail(
                            LdapResultCode::AttributeOrValueExists,
                            format!("modify/add: {name}: value #{i} already exists"),
                        ));
                    }
                    seen.push(n);
                    new.push(v.clone());
                }
                e.add_values(name, &canonical, new);
            }
            LdapModifyType::Delete => {
                if present.is_empty() {
                    if permissive {
                        continue;
                    }
                    return Err(fail(
                        LdapResultCode::NoSuchAttribute,
                        format!("modify/delete: {name}: no such attribute"),
                    ));
                }
                if vals.is_empty() {
                    e.attrs.retain(|a| a.canonical != canonical);
                    continue;
                }
                let gone: Vec<Vec<u8>> = vals.iter().map(|v| norm(schema, rule, v)).collect();
                if let Some((i, _)) = gone.iter().enumerate().find(|(_, g)| !present.contains(g)) {
                    if !permissive {
                        return Err(fail(
                            LdapResultCode::NoSuchAttribute,
                            format!("modify/delete: {name}: value #{i} not found"),
                        ));
                    }
                }
                if let Some(a) = e.get_mut(&canonical) {
                    a.values.retain(|v| !gone.contains(&norm(schema, rule, v)));
                }
            }
            LdapModifyType::Replace => {
                e.attrs.retain(|a| a.canonical != canonical);
                let mut seen = Vec::new();
                let mut new = Vec::new();
                for (i, v) in vals.iter().enumerate() {
                    let n = norm(schema, rule, v);
                    if seen.contains(&n) {
                        return Err(fail(
                            LdapResultCode::AttributeOrValueExists,
                            format!("modify/replace: {name}: value #{i} provided more than once"),
                        ));
                    }
                    seen.push(n);
                    new.push(v.clone());
                }
                if !new.is_empty() {
                    e.add_values(name, &canonical, new);
                }
            }
            LdapModifyType::Increment => increment(e, name, &canonical, rule, vals)?,
        }
        e.attrs.retain(|a| !a.values.is_empty());
    }
    check_rdn_and_classes(e, schema)
}

/// RFC 4525: adds the (single, integer) value to every value of an integer attribute.
fn increment(
    e: &mut Entry,
    name: &str,
    canonical: &str,
    rule: MatchingRule,
    vals: &[Vec<u8>],
) -> Result<(), WriteError> {
    if rule != MatchingRule::Integer {
        return Err(fail(
            LdapResultCode::ConstraintViolation,
            format!("modify/increment: {name}: no integer ordering"),
        ));
    }
    let delta = match vals {
        [v] => std::str::from_utf8(v).ok().and_then(|s| s.trim().parse::<i128>().ok()),
        _ => None,
    };
    let Some(delta) = delta else {
        return Err(fail(LdapResultCode::InvalidAttributeSyntax, format!("modify/increment: {name}: invalid syntax")));
    };
    let Some(a) = e.get_mut(canonical) else {
        return Err(fail(LdapResultCode::NoSuchAttribute, format!("modify/increment: {name}: no such attribute")));
    };
    for v in &mut a.values {
        let cur = std::str::from_utf8(v).ok().and_then(|s| s.trim().parse::<i128>().ok());
        let Some(next) = cur.and_then(|c| c.checked_add(delta)) else {
            return Err(fail(
                LdapResultCode::ConstraintViolation,
                format!("modify/increment: {name}: value out of range"),
            ));
        };
        *v = next.to_string().into_bytes();
    }
    Ok(())
}

/// The values of the entry's RDN must stay in the entry (64 namingViolation, as slapd
/// answers) and it must keep an object class (65 objectClassViolation).
pub fn check_rdn_and_classes(e: &Entry, schema: &Schema) -> Result<(), WriteError> {
    if e.get("objectclass").is_none() {
        return Err(fail(LdapResultCode::ObjectClassViolation, "no objectClass attribute".into()));
    }
    let dn = birch_schema::Dn::parse(&e.dn).map_err(|e| WriteError::Store(e.into()))?;
    if let Some(rdn) = dn.rdns.first() {
        for ava in &rdn.avas {
            let canonical = schema.canonical(&ava.attr);
            let rule = schema.rule(&canonical);
            let want = norm(schema, rule, ava.value.as_bytes());
            let has = e.get(&canonical).is_some_and(|a| a.values.iter().any(|v| norm(schema, rule, v) == want));
            if !has {
                return Err(fail(
                    LdapResultCode::NamingViolation,
                    format!("value of naming attribute '{}' is not present in entry", ava.attr),
                ));
            }
        }
    }
    Ok(())
}
