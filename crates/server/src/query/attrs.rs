//! Attribute selection for search results (RFC 4511 section 4.5.1.8, RFC 3673 `+`).

use birch_proto::ldap3_proto::proto::LdapPartialAttribute;
use birch_schema::{desc, Schema};
use birch_store::Entry;

/// Which attributes a search asked for.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `*` or an empty list: all user attributes.
    pub all_user: bool,
    /// `+`: all operational attributes.
    pub all_operational: bool,
    /// Attributes asked for by name (canonical descriptions, `cn` or `cn;lang-en`; unknown
    /// names and refused options are ignored).
    pub names: foldhash::HashSet<String>,
}

impl Selection {
    /// Parses the requested attribute list.
    pub fn new(requested: &[String], schema: &Schema) -> Selection {
        let names = foldhash::HashSet::with_capacity_and_hasher(requested.len(), Default::default());
        let mut s = Selection { all_user: requested.is_empty(), all_operational: false, names };
        for r in requested {
            match r.as_str() {
                "*" => s.all_user = true,
                "+" => s.all_operational = true,
                "1.1" => {}
                // Without options (nearly always) one lookup gives the canonical name.
                name if !name.contains(';') => {
                    if let Some(t) = schema.attr(name) {
                        s.names.insert(t.canonical.clone());
                    }
                }
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
        if self.names.contains(canonical) {
            return true;
        }
        // Only a description with options can be covered by another name than its own.
        if canonical.contains(';') && self.names.iter().any(|n| desc::covers(n, canonical)) {
            return true;
        }
        if birch_acl::secret::by_name_only(canonical) {
            return false;
        }
        if self.all_user == self.all_operational {
            return self.all_user;
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
        .filter(|a| keeps(a, sel, schema, readable))
        .map(|a| LdapPartialAttribute {
            atype: a.name.clone(),
            vals: if types_only { Vec::new() } else { a.values.clone() },
        })
        .collect()
}

/// Which attributes of `entry` [`project`] would return, in order: decided while the
/// entry is borrowed (the access policy looks at it), so that [`project_owned`] can then
/// move the values out instead of copying them.
pub fn selection_mask(entry: &Entry, sel: &Selection, schema: &Schema, readable: &dyn Fn(&str) -> bool) -> Vec<bool> {
    entry.attrs.iter().map(|a| keeps(a, sel, schema, readable)).collect()
}

/// [`project`] for an entry that is not needed afterwards: the attributes `mask` keeps
/// (from [`selection_mask`]) are moved into the result.
pub fn project_owned(entry: Entry, mask: &[bool], types_only: bool) -> (String, Vec<LdapPartialAttribute>) {
    let attributes = entry
        .attrs
        .into_iter()
        .zip(mask)
        .filter(|(_, &keep)| keep)
        .map(|(a, _)| LdapPartialAttribute { atype: a.name, vals: if types_only { Vec::new() } else { a.values } })
        .collect();
    (entry.dn, attributes)
}

fn keeps(a: &birch_store::Attribute, sel: &Selection, schema: &Schema, readable: &dyn Fn(&str) -> bool) -> bool {
    sel.wants(&a.canonical, schema) && readable(desc::base(&a.canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_names_are_canonical() {
        let schema = Schema::builtin();
        let requested: Vec<String> =
            ["CN", "commonName", "2.5.4.4", "uidNumber", "cn;Lang-EN", "cn;x-bad", "noSuchAttr", "mail;binary", "+"]
                .map(String::from)
                .to_vec();
        let s = Selection::new(&requested, &schema);
        let mut names: Vec<&str> = s.names.iter().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["cn", "cn;lang-en", "mail", "sn", "uidnumber"]);
        assert!(s.all_operational && !s.all_user);
        // The same names as the general path (lookup, options check, canonical form).
        let general: foldhash::HashSet<String> = requested[..8]
            .iter()
            .filter(|r| schema.attr(r).is_some() && desc::options(r).is_ok())
            .map(|r| schema.canonical(r))
            .collect();
        assert_eq!(s.names, general);
    }
}
