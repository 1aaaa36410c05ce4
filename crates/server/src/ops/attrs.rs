//! Attribute selection for search results (RFC 4511 section 4.5.1.8, RFC 3673 `+`).

use birch_proto::ldap3_proto::proto::LdapPartialAttribute;
use birch_schema::{desc, Schema};
use birch_store::Entry;
use std::collections::HashSet;

/// Which attributes a search asked for.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `*` or an empty list: all user attributes.
    pub all_user: bool,
    /// `+`: all operational attributes.
    pub all_operational: bool,
    /// Attributes asked for by name (canonical descriptions, `cn` or `cn;lang-en`; unknown
    /// names and refused options are ignored).
    pub names: HashSet<String>,
}

impl Selection {
    /// Parses the requested attribute list.
    pub fn new(requested: &[String], schema: &Schema) -> Selection {
        let mut s = Selection { all_user: requested.is_empty(), ..Selection::default() };
        for r in requested {
            match r.as_str() {
                "*" => s.all_user = true,
                "+" => s.all_operational = true,
                "1.1" => {}
                name => {
                    if schema.attr(name).is_some() && desc::options(name).is_ok() {
                        s.names.insert(schema.canonical(name));
                    }
                }
            }
        }
        s
    }

    /// Whether the attribute `canonical` (a canonical description) is selected: asked for
    /// by name, or by a description it is a subtype of (`cn` selects `cn;lang-en`, RFC 4512
    /// section 2.5.2), or by `*` / `+`.
    pub fn wants(&self, canonical: &str, schema: &Schema) -> bool {
        if self.names.contains(canonical) || self.names.iter().any(|n| desc::covers(n, canonical)) {
            return true;
        }
        let operational = schema.attr(canonical).is_some_and(|t| t.operational);
        if operational {
            self.all_operational
        } else {
            self.all_user
        }
    }
}

/// Builds the attributes of one search result entry: selected, `readable` (the access
/// policy's decision, asked about the type's canonical name without options, so a rule on
/// `cn` covers `cn;lang-en`), values dropped when `types_only`. Tagged attributes keep
/// their description as written.
pub fn project(
    entry: &Entry,
    sel: &Selection,
    schema: &Schema,
    readable: &dyn Fn(&str) -> bool,
    types_only: bool,
) -> Vec<LdapPartialAttribute> {
    entry
        .attrs
        .iter()
        .filter(|a| sel.wants(&a.canonical, schema) && readable(desc::base(&a.canonical)))
        .map(|a| LdapPartialAttribute {
            atype: a.name.clone(),
            vals: if types_only { Vec::new() } else { a.values.clone() },
        })
        .collect()
}
