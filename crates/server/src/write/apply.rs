//! Applying a change to a copy of the entry: modifications (RFC 4511 section 4.6, RFC 4525
//! increment) and the attribute side of a rename, with OpenLDAP's result codes. Value
//! comparisons use sets of normalized values, so a request with many values costs linear
//! time, not quadratic.

use super::change::{Mod, ModOp};
use super::error::WriteError;
use birch_proto::ldap3_proto::proto::LdapResultCode;
use birch_schema::{Dn, MatchingRule, Rdn, Schema};
use birch_store::Entry;
use std::collections::HashSet;

fn fail(code: LdapResultCode, text: String) -> WriteError {
    WriteError::Ldap(code, text)
}

/// Normalized form of a value for equality under `rule` (raw bytes when invalid).
fn norm(schema: &Schema, rule: MatchingRule, v: &[u8]) -> Vec<u8> {
    schema.normalize_value(rule, v).unwrap_or_else(|| v.to_vec())
}

/// Applies the modifications of one Modify to an entry.
pub fn modifications(e: &mut Entry, mods: &[Mod], schema: &Schema, permissive: bool) -> Result<(), WriteError> {
    for m in mods {
        let name = &m.attr;
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
        let vals = &m.values;
        let present = || -> HashSet<Vec<u8>> {
            e.get(&canonical).map(|a| a.values.iter().map(|v| norm(schema, rule, v)).collect()).unwrap_or_default()
        };
        match m.op {
            ModOp::Add => {
                if vals.is_empty() {
                    return Err(fail(LdapResultCode::ProtocolError, format!("modify/add: {name}: no values given")));
                }
                let mut seen = present();
                let mut new = Vec::with_capacity(vals.len());
                for (i, v) in vals.iter().enumerate() {
                    if !seen.insert(norm(schema, rule, v)) {
                        if permissive {
                            continue;
                        }
                        return Err(fail(
                            LdapResultCode::AttributeOrValueExists,
                            format!("modify/add: {name}: value #{i} already exists"),
                        ));
                    }
                    new.push(v.clone());
                }
                e.add_values(name, &canonical, new);
            }
            ModOp::Delete => {
                let present = present();
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
                let gone: HashSet<Vec<u8>> = vals.iter().map(|v| norm(schema, rule, v)).collect();
                if !permissive {
                    if let Some(i) = vals.iter().position(|v| !present.contains(&norm(schema, rule, v))) {
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
            ModOp::Replace => {
                e.attrs.retain(|a| a.canonical != canonical);
                let mut seen = HashSet::with_capacity(vals.len());
                for (i, v) in vals.iter().enumerate() {
                    if !seen.insert(norm(schema, rule, v)) {
                        return Err(fail(
                            LdapResultCode::AttributeOrValueExists,
                            format!("modify/replace: {name}: value #{i} provided more than once"),
                        ));
                    }
                }
                if !vals.is_empty() {
                    e.add_values(name, &canonical, vals.iter().cloned());
                }
            }
            ModOp::Increment => increment(e, name, &canonical, rule, vals)?,
        }
        e.attrs.retain(|a| !a.values.is_empty());
    }
    rdn_and_classes(e, schema)
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
pub fn rdn_and_classes(e: &Entry, schema: &Schema) -> Result<(), WriteError> {
    if e.get("objectclass").is_none() {
        return Err(fail(LdapResultCode::ObjectClassViolation, "no objectClass attribute".into()));
    }
    let dn = Dn::parse(&e.dn).map_err(|e| WriteError::Store(e.into()))?;
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

/// Adjusts an entry's attributes for a new RDN: the new RDN's values are added, the old
/// RDN's values removed when `delete_old` (unless the new RDN keeps them); then checks the
/// RDN under the new DN (the schema check follows as its own stage).
pub fn rename(
    e: &mut Entry,
    old_rdn: &Rdn,
    new_rdn: &Rdn,
    delete_old: bool,
    new_dn: &Dn,
    schema: &Schema,
) -> Result<(), WriteError> {
    let value_eq = |attr: &str, a: &[u8], b: &[u8]| {
        let rule = schema.rule(attr);
        norm(schema, rule, a) == norm(schema, rule, b)
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
    rdn_and_classes(&renamed, schema)
}

/// The canonical name of an entry's structural object class, if it has one.
pub fn structural_class(schema: &Schema, e: &Entry) -> Option<String> {
    let classes: Vec<String> =
        e.get("objectclass")?.values.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect();
    let names: Vec<&str> = classes.iter().map(String::as_str).collect();
    schema.structural_class(&names).ok().map(|c| c.canonical.clone())
}
