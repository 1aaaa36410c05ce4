//! Add and Delete (the write issue completes modify, modify DN and compare).

use super::controls::RequestControls;
use super::operational;
use super::{result, store_failure};
use crate::access::Access;
use crate::context::ServerCtx;
use crate::password;
use crate::session::Session;
use birch_acl::{Privilege, Requester};
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{LdapAddRequest, LdapResult, LdapResultCode};
use birch_schema::Dn;
use birch_store::StoreError;
use std::sync::Arc;

/// Parses the target DN of a write: the DN and its normalized form, or the result to answer.
pub(crate) fn target_dn(ctx: &ServerCtx, dn: &str) -> Result<(Dn, String), LdapResult> {
    let Ok(dn) = Dn::parse(dn) else {
        return Err(result(LdapResultCode::InvalidDNSyntax, "", "invalid DN"));
    };
    let ndn = dn.normalize(&ctx.schema);
    Ok((dn, ndn))
}

/// Requires a privilege on an attribute (or `entry`/`children`) of an entry: a denial is
/// strongAuthRequired for anonymous clients and insufficientAccessRights otherwise.
pub(crate) fn require(
    access: &Access,
    who: &Requester,
    entry: &birch_store::Entry,
    attr: &str,
    need: Privilege,
) -> Result<(), WriteError> {
    if access.check(who, entry, attr, need) {
        return Ok(());
    }
    let res = crate::access::denied(who, &format!("insufficient access: {need:?} on {attr}"));
    Err(WriteError::Ldap(res.code, res.message))
}

/// Requires `need` on `children` of the parent of `dn` (adds and deletes below it). A
/// missing parent is left to the store (noSuchObject with the matched DN).
pub(crate) fn require_on_parent(
    ctx: &ServerCtx,
    access: &Access,
    who: &Requester,
    parent_ndn: &str,
    need: Privilege,
) -> Result<(), WriteError> {
    match ctx.store.get_by_ndn(parent_ndn) {
        Ok(Some((_, parent))) => require(access, who, &parent, "children", need),
        Ok(None) => Ok(()),
        Err(e) => Err(WriteError::Store(e)),
    }
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
            Violation::UndefinedAttribute(_) | Violation::BadOption(..) => LdapResultCode::UndefinedAttributeType,
            Violation::Syntax(..) => LdapResultCode::InvalidAttributeSyntax,
            Violation::ObjectClass(_) => LdapResultCode::ObjectClassViolation,
            Violation::SingleValue(_) | Violation::NoOptions(_) => LdapResultCode::ConstraintViolation,
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
    let (dn, ndn) = match target_dn(ctx, &req.dn) {
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
    let (who, access) = (session.requester(), ctx.access());
    let allowed = require_on_parent(ctx, &access, &who, &dn.parent().normalize(&ctx.schema), Privilege::Add)
        .and_then(|()| require(&access, &who, &entry, "entry", Privilege::Add))
        .and_then(|()| {
            entry.attrs.iter().try_for_each(|a| {
                require(&access, &who, &entry, birch_schema::desc::base(&a.canonical), Privilege::Add)
            })
        });
    if let Err(e) = allowed {
        return (write_failure(ctx, &dn, e), vec![]);
    }
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
            let ctrls = controls.read_responses(ctx, &who, None, Some(&added));
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

/// Hashes cleartext password values with argon2id on a hashing thread; hashed values
/// (`{SCHEME}...`) are kept as they are.
pub(crate) async fn hash_cleartext(ctx: &Arc<ServerCtx>, vals: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, LdapResult> {
    let Ok(_permit) = ctx.hash_permits.acquire().await else {
        return Err(result(LdapResultCode::Busy, "", "shutting down"));
    };
    let params = ctx.argon2.clone();
    let hashed = crate::hash_thread::run(move || {
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
        Some(Ok(v)) => Ok(v),
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
    let (dn, ndn) = match target_dn(ctx, dn_str) {
        Ok(t) => t,
        Err(r) => return (r, vec![]),
    };
    let (who, access) = (session.requester(), ctx.access());
    if let Err(e) = require_on_parent(ctx, &access, &who, &dn.parent().normalize(&ctx.schema), Privilege::Delete) {
        return (write_failure(ctx, &dn, e), vec![]);
    }
    let tree = if controls.tree_delete {
        match tree_write(ctx).await {
            Ok(g) => Some(g),
            Err(r) => return (r, vec![]),
        }
    } else {
        None
    };
    let (store, schema, ctl) = (ctx.store.clone(), ctx.schema.clone(), controls.clone());
    let (who2, access2) = (who.clone(), access.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let _tree = tree;
        let gone = store.delete_checked(&ndn, ctl.tree_delete, |e| {
            require(&access2, &who2, e, "entry", Privilege::Delete)?;
            ctl.check_assertion(e, &schema, &access2, &who2)
        })?;
        store.sync()?;
        Ok::<_, WriteError>(gone)
    })
    .await;
    match outcome {
        Ok(Ok(gone)) => {
            let ctrls = controls.read_responses(ctx, &who, Some(&gone), None);
            (result(LdapResultCode::Success, "", ""), ctrls)
        }
        Ok(Err(e)) => (write_failure(ctx, &dn, e), vec![]),
        Err(_) => (result(LdapResultCode::OperationsError, "", "internal error"), vec![]),
    }
}
