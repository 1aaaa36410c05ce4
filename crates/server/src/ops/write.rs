//! Add and Delete (the write issue completes modify, modify DN and compare).

use super::controls::RequestControls;
use super::operational;
use super::{result, store_failure};
use crate::context::ServerCtx;
use crate::password;
use crate::session::Session;
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{LdapAddRequest, LdapResult, LdapResultCode};
use birch_schema::Dn;
use birch_store::StoreError;
use std::sync::Arc;

/// Parses the target DN of a write and checks that the subject may write it: the DN and
/// its normalized form, or the result to answer.
pub(crate) fn writable_target(ctx: &ServerCtx, session: &Session, dn: &str) -> Result<(Dn, String), LdapResult> {
    let Ok(dn) = Dn::parse(dn) else {
        return Err(result(LdapResultCode::InvalidDNSyntax, "", "invalid DN"));
    };
    let ndn = dn.normalize(&ctx.schema);
    if !ctx.policy.may_write_entry(&session.subject(), &ndn) {
        return Err(result(LdapResultCode::InsufficentAccessRights, "", "no write access"));
    }
    Ok((dn, ndn))
}

/// Why a write failed: an LDAP result to answer, or a store error.
#[derive(Debug)]
pub enum WriteError {
    /// Answer with this code and message.
    Ldap(LdapResultCode, String),
    /// The store failed (or reported a missing or existing entry).
    Store(StoreError),
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}

/// Maps a failed write to its LDAP result; `dn` is the target (for matchedDN).
pub(crate) fn write_failure(ctx: &ServerCtx, dn: &Dn, e: WriteError) -> LdapResult {
    match e {
        WriteError::Ldap(code, text) => result(code, "", &text),
        WriteError::Store(StoreError::NoSuchEntry(_) | StoreError::NoParent(_)) => {
            let matched = ctx.store.matched_dn(dn).unwrap_or_default();
            result(LdapResultCode::NoSuchObject, &matched, "")
        }
        WriteError::Store(StoreError::AlreadyExists(_)) => result(LdapResultCode::EntryAlreadyExists, "", ""),
        WriteError::Store(StoreError::NotLeaf(_)) => {
            result(LdapResultCode::NotAllowedOnNonLeaf, "", "subordinate objects must be deleted first")
        }
        WriteError::Store(StoreError::Loop(_)) => {
            result(LdapResultCode::UnwillingToPerform, "", "cannot move an entry below itself")
        }
        WriteError::Store(e) => store_failure(&e),
    }
}

/// Checks an entry against the schema (OpenLDAP's result codes and messages).
pub fn check_schema(schema: &birch_schema::Schema, e: &birch_store::Entry) -> Result<(), WriteError> {
    check_schema_cached(schema, e, &mut birch_schema::ValidationCache::default())
}

/// [`check_schema`] reusing the object-class rules of earlier entries (for imports).
pub fn check_schema_cached(
    schema: &birch_schema::Schema,
    e: &birch_store::Entry,
    cache: &mut birch_schema::ValidationCache,
) -> Result<(), WriteError> {
    use birch_schema::Violation;
    let dn = Dn::parse(&e.dn).map_err(|err| WriteError::Store(err.into()))?;
    let view: Vec<birch_schema::AttrView<'_>> =
        e.attrs.iter().map(|a| (a.name.as_str(), a.canonical.as_str(), a.values.as_slice())).collect();
    cache.validate(schema, &dn, &view).map_err(|v| {
        let code = match v {
            Violation::UndefinedAttribute(_) => LdapResultCode::UndefinedAttributeType,
            Violation::Syntax(..) => LdapResultCode::InvalidAttributeSyntax,
            Violation::ObjectClass(_) => LdapResultCode::ObjectClassViolation,
            Violation::SingleValue(_) => LdapResultCode::ConstraintViolation,
            Violation::Naming(_) => LdapResultCode::NamingViolation,
        };
        WriteError::Ldap(code, v.to_string())
    })
}

/// Takes the tree lock exclusively for a subtree change, waiting at most
/// [`crate::context::TREE_LOCK_WAIT`] for running searches (51 busy after that).
pub(crate) async fn tree_write(ctx: &ServerCtx) -> Result<tokio::sync::OwnedRwLockWriteGuard<()>, LdapResult> {
    match tokio::time::timeout(crate::context::TREE_LOCK_WAIT, ctx.tree_lock.clone().write_owned()).await {
        Ok(g) => Ok(g),
        Err(_) => Err(result(LdapResultCode::Busy, "", "searches are running over this subtree; try again")),
    }
}

/// Handles an Add: acknowledged only once the entry is durable.
pub async fn add(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: LdapAddRequest,
    controls: Arc<RequestControls>,
) -> (LdapResult, Vec<LdapControl>) {
    let (dn, ndn) = match writable_target(ctx, session, &req.dn) {
        Ok(t) => t,
        Err(r) => return (r, vec![]),
    };
    if controls.assertion.is_some() {
        return (result(LdapResultCode::ProtocolError, "", "the assertion control does not apply to add"), vec![]);
    }
    if !(ndn == ctx.suffix_ndn || ndn.ends_with(&format!(",{}", ctx.suffix_ndn))) {
        return (result(LdapResultCode::NoSuchObject, "", "the entry is outside the naming context"), vec![]);
    }
    if let Some(name) = operational::forbidden_in_add(req.attributes.iter().map(|a| a.atype.as_str()), &ctx.schema) {
        let text = format!("{name}: no user modification allowed");
        return (result(LdapResultCode::ConstraintViolation, "", &text), vec![]);
    }
    let mut attrs = Vec::with_capacity(req.attributes.len());
    for a in req.attributes {
        if a.vals.is_empty() {
            return (result(LdapResultCode::ProtocolError, "", &format!("{}: no values", a.atype)), vec![]);
        }
        attrs.push((a.atype, a.vals));
    }
    let mut entry = match ctx.store.make_entry(&req.dn, attrs) {
        Ok(e) => e,
        Err(e) => return (store_failure(&e), vec![]),
    };
    operational::on_add(&mut entry, &session.bound_dn());
    if let Err(r) = initial_password(ctx, session, &ndn, &mut entry).await {
        return (r, vec![]);
    }
    if let Err(e) = check_schema(&ctx.schema, &entry) {
        return (write_failure(ctx, &dn, e), vec![]);
    }
    let is_suffix = ndn == ctx.suffix_ndn;
    let store = ctx.store.clone();
    let added = entry.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        store.add(entry, is_suffix)?;
        store.sync()?;
        Ok::<_, WriteError>(())
    })
    .await;
    match outcome {
        Ok(Ok(())) => {
            tracing::info!(target: "birch::audit", event = "add", peer = %session.peer, by = %session.bound_dn(), dn = %req.dn);
            let ctrls = controls.read_responses(ctx, &session.subject(), None, Some(&added));
            (result(LdapResultCode::Success, "", ""), ctrls)
        }
        Ok(Err(e)) => (write_failure(ctx, &dn, e), vec![]),
        Err(_) => (result(LdapResultCode::OperationsError, "", "internal error"), vec![]),
    }
}

/// Checks a new entry's userPassword against its password policy, hashes it, and records
/// pwdChangedTime (and pwdReset when the policy wants a change at first login).
async fn initial_password(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    ndn: &str,
    entry: &mut birch_store::Entry,
) -> Result<(), LdapResult> {
    use crate::ppolicy::{self, change, Changer};
    let Some(values) = entry.get("userpassword").map(|a| a.values.clone()) else {
        return Ok(());
    };
    let policy = ppolicy::policy_for(&ctx.store, &ctx.schema, &ctx.config, entry);
    let changer = Changer::of(&session.subject(), ndn);
    let now = std::time::SystemTime::now();
    for v in &values {
        change::check(&policy, &ppolicy::Account::default(), changer, false, v, now)
            .map_err(|r| result(r.code, "", r.message))?;
    }
    let hashed = hash_cleartext(ctx, values).await?;
    if let Some(a) = entry.get_mut("userpassword") {
        a.values = hashed;
    }
    change::record(entry, &policy, changer, &[], now);
    Ok(())
}

/// Hashes cleartext password values with argon2id on the hashing pool; hashed values
/// (`{SCHEME}...`) are kept as they are.
pub(crate) async fn hash_cleartext(ctx: &Arc<ServerCtx>, vals: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, LdapResult> {
    let Ok(_permit) = ctx.hash_permits.acquire().await else {
        return Err(result(LdapResultCode::Busy, "", "shutting down"));
    };
    let params = ctx.argon2.clone();
    let hashed = tokio::task::spawn_blocking(move || {
        vals.into_iter()
            .map(|v| {
                if password::is_hashed(&v) {
                    Ok(v)
                } else {
                    password::hash_argon2id(&v, &params).map(String::into_bytes)
                }
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await;
    match hashed {
        Ok(Ok(v)) => Ok(v),
        _ => Err(result(LdapResultCode::OperationsError, "", "password hashing failed")),
    }
}

/// Handles a Delete (of a leaf, or of a subtree with Tree Delete): acknowledged only once
/// durable.
pub async fn delete(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    dn_str: &str,
    controls: Arc<RequestControls>,
) -> (LdapResult, Vec<LdapControl>) {
    let (dn, ndn) = match writable_target(ctx, session, dn_str) {
        Ok(t) => t,
        Err(r) => return (r, vec![]),
    };
    let tree = if controls.tree_delete {
        match tree_write(ctx).await {
            Ok(g) => Some(g),
            Err(r) => return (r, vec![]),
        }
    } else {
        None
    };
    let (store, schema, ctl) = (ctx.store.clone(), ctx.schema.clone(), controls.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let _tree = tree;
        let gone = store.delete_checked(&ndn, ctl.tree_delete, |e| ctl.check_assertion(e, &schema))?;
        store.sync()?;
        Ok::<_, WriteError>(gone)
    })
    .await;
    match outcome {
        Ok(Ok(gone)) => {
            tracing::info!(target: "birch::audit", event = "delete", peer = %session.peer, by = %session.bound_dn(), dn = %dn_str, subtree = controls.tree_delete);
            let ctrls = controls.read_responses(ctx, &session.subject(), Some(&gone), None);
            (result(LdapResultCode::Success, "", ""), ctrls)
        }
        Ok(Err(e)) => (write_failure(ctx, &dn, e), vec![]),
        Err(_) => (result(LdapResultCode::OperationsError, "", "internal error"), vec![]),
    }
}
