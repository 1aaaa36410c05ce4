//! The schema stage: the changed entry must satisfy the schema (OpenLDAP's result codes
//! and messages). Also what `birch check` and the import's checker run on every entry.

use super::error::WriteError;
use birch_proto::ldap3_proto::proto::LdapResultCode;
use birch_schema::Dn;
use birch_store::Entry;

/// Checks an entry against the schema (the rules of its object classes are remembered by
/// the schema, see [`birch_schema::Schema::validate_entry`]).
pub fn check(schema: &birch_schema::Schema, e: &Entry) -> Result<(), WriteError> {
    let dn = Dn::parse(&e.dn).map_err(|err| WriteError::Store(err.into()))?;
    let view: Vec<birch_schema::AttrView<'_>> =
        e.attrs.iter().map(|a| (a.name.as_str(), a.canonical.as_str(), a.values.as_slice())).collect();
    schema.validate_entry(&dn, &view).map_err(violation)
}

/// [`check`] reusing the object-class rules of earlier entries (for imports and checks).
pub fn check_cached(
    schema: &birch_schema::Schema,
    e: &Entry,
    cache: &mut birch_schema::ValidationCache,
) -> Result<(), WriteError> {
    let dn = Dn::parse(&e.dn).map_err(|err| WriteError::Store(err.into()))?;
    let view: Vec<birch_schema::AttrView<'_>> =
        e.attrs.iter().map(|a| (a.name.as_str(), a.canonical.as_str(), a.values.as_slice())).collect();
    cache.validate(schema, &dn, &view).map_err(violation)
}

/// A schema violation as the write's result (OpenLDAP's codes).
fn violation(v: birch_schema::Violation) -> WriteError {
    use birch_schema::Violation;
    let code = match v {
        Violation::UndefinedAttribute(_) | Violation::BadOption(..) => LdapResultCode::UndefinedAttributeType,
        Violation::Syntax(..) => LdapResultCode::InvalidAttributeSyntax,
        Violation::ObjectClass(_) => LdapResultCode::ObjectClassViolation,
        Violation::SingleValue(_) | Violation::NoOptions(_) => LdapResultCode::ConstraintViolation,
        Violation::Naming(_) => LdapResultCode::NamingViolation,
    };
    WriteError::Ldap(code, v.to_string())
}
