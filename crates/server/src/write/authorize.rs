//! The pipeline's first stage: may this requester make this change? Only reads (the
//! target, its parent) and the pure evaluator run before it answers; nothing expensive
//! (hashing, policy, schema) runs for a requester it refuses.

use super::change::{Mod, ModOp};
use super::error::WriteError;
use crate::access::Access;
use birch_acl::{Privilege, Requester};
use birch_schema::{MatchingRule, Schema};
use birch_store::{Entry, Filter, Store, Tri};

/// Requires a privilege on an attribute (or `entry`/`children`) of an entry: a denial is
/// strongAuthRequired for anonymous clients and insufficientAccessRights otherwise.
pub fn require(access: &Access, who: &Requester, entry: &Entry, attr: &str, need: Privilege) -> Result<(), WriteError> {
    if access.check(who, entry, attr, need) {
        return Ok(());
    }
    Err(refusal(access, who, entry, &format!("insufficient access: {need:?} on {attr}")))
}

/// The answer to a requester refused on `entry`: as if the entry did not exist (32, with a
/// matchedDN it may know) when it may not learn that the entry exists (slapd's `disclose`),
/// else strongAuthRequired for anonymous clients and insufficientAccessRights otherwise.
pub fn refusal(access: &Access, who: &Requester, entry: &Entry, text: &str) -> WriteError {
    if !access.check(who, entry, "entry", Privilege::Disclose) {
        return WriteError::Store(birch_store::StoreError::NoSuchEntry(entry.ndn.clone()));
    }
    let res = crate::access::denied(who, text);
    WriteError::Ldap(res.code, res.message)
}

/// Requires `need` on `children` of the entry `parent_ndn` (adds and deletes below it). A
/// missing parent is left to the store (noSuchObject with the matched DN).
pub fn require_on_parent(
    store: &Store,
    access: &Access,
    who: &Requester,
    parent_ndn: &str,
    need: Privilege,
) -> Result<(), WriteError> {
    match store.get_by_ndn(parent_ndn)? {
        Some((_, parent)) => require(access, who, &parent, "children", need),
        None => Ok(()),
    }
}

/// May `who` add `entry` (add on the entry and on each of its attributes)?
pub fn add(access: &Access, who: &Requester, entry: &Entry) -> Result<(), WriteError> {
    require(access, who, entry, "entry", Privilege::Add)?;
    entry
        .attrs
        .iter()
        .try_for_each(|a| require(access, who, entry, birch_schema::desc::base(&a.canonical), Privilege::Add))
}

/// Checks that `who` may make every modification to `e` (before the changes): adding
/// values needs add, deleting needs delete, replacing and incrementing need both. Adding or
/// deleting only one's own DN is allowed under selfwrite.
pub fn modify(access: &Access, who: &Requester, e: &Entry, mods: &[Mod], schema: &Schema) -> Result<(), WriteError> {
    let own_dn = |vals: &[Vec<u8>]| match &who.subject {
        birch_acl::Subject::User(me) => {
            !vals.is_empty()
                && vals.iter().all(|v| {
                    schema.normalize_value(MatchingRule::DistinguishedName, v).is_some_and(|n| n == me.as_bytes())
                })
        }
        _ => false,
    };
    for m in mods {
        let Some(attr) = schema.attr(&m.attr).map(|t| t.canonical.as_str()) else {
            continue; // applying answers undefinedAttributeType
        };
        let needs: &[(Privilege, Privilege)] = match m.op {
            ModOp::Add => &[(Privilege::Add, Privilege::AddSelf)],
            ModOp::Delete => &[(Privilege::Delete, Privilege::DeleteSelf)],
            ModOp::Replace | ModOp::Increment => {
                &[(Privilege::Add, Privilege::Add), (Privilege::Delete, Privilege::Delete)]
            }
        };
        for &(need, as_self) in needs {
            let allowed = access.check(who, e, attr, need) || own_dn(&m.values) && access.check(who, e, attr, as_self);
            if !allowed {
                require(access, who, e, attr, need)?;
            }
        }
    }
    Ok(())
}

/// RFC 4528: the change goes ahead only if the entry matches the assertion (122
/// assertionFailed otherwise); attributes the requester may not search are Undefined.
pub fn assertion(
    assertion: Option<&Filter>,
    e: &Entry,
    schema: &Schema,
    access: &Access,
    who: &Requester,
) -> Result<(), WriteError> {
    match assertion {
        Some(f) if crate::query::filter::visible(f, e, access, who).eval(e, schema) != Tri::True => {
            Err(WriteError::ldap(
                birch_proto::ldap3_proto::proto::LdapResultCode::AssertionFailed,
                "assertion control failed",
            ))
        }
        _ => Ok(()),
    }
}
