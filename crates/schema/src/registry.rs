//! The schema registry: attribute-type lookup by any name or OID, value normalization.

use crate::builtin;
use crate::matching::MatchingRule;
use std::collections::{HashMap, HashSet};

/// One attribute type.
#[derive(Debug, Clone)]
pub struct AttributeType {
    /// Numeric OID.
    pub oid: String,
    /// NAMEs, the first is the primary name.
    pub names: Vec<String>,
    /// Lower-cased primary name: the key under which the store keeps and indexes values.
    pub canonical: String,
    /// Equality (and ordering/substring) behaviour.
    pub rule: MatchingRule,
    /// SINGLE-VALUE.
    pub single_value: bool,
    /// Operational (USAGE other than userApplications).
    pub operational: bool,
    /// NO-USER-MODIFICATION.
    pub no_user_modification: bool,
}

/// Attribute types and object classes the server knows.
#[derive(Debug, Clone)]
pub struct Schema {
    types: Vec<AttributeType>,
    by_name: HashMap<String, usize>,
    object_classes: HashSet<String>,
}

impl Default for Schema {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Schema {
    /// The built-in standard schema.
    pub fn builtin() -> Schema {
        let mut types = Vec::new();
        for line in builtin::ATTRIBUTE_TYPES.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let names: Vec<String> = f[1].split(',').map(str::to_string).collect();
            let rule = MatchingRule::from_name(f[2]).unwrap_or(MatchingRule::CaseIgnore);
            types.push(AttributeType {
                oid: f[0].to_string(),
                canonical: names[0].to_ascii_lowercase(),
                names,
                rule,
                single_value: f[3].contains('s'),
                operational: f[3].contains('o'),
                no_user_modification: f[3].contains('n'),
            });
        }
        let object_classes = builtin::OBJECT_CLASSES.split_whitespace().map(str::to_ascii_lowercase).collect();
        Self::from_parts(types, object_classes)
    }

    /// Builds a schema from attribute types and object-class names.
    pub fn from_parts(types: Vec<AttributeType>, object_classes: HashSet<String>) -> Schema {
        let mut by_name = HashMap::new();
        for (i, t) in types.iter().enumerate() {
            by_name.insert(t.oid.clone(), i);
            for n in &t.names {
                by_name.insert(n.to_ascii_lowercase(), i);
            }
        }
        Schema { types, by_name, object_classes }
    }

    /// Looks up an attribute type by name or OID, case-insensitively. Attribute options
    /// (`;binary`, `;lang-en`) are ignored.
    pub fn attr(&self, name: &str) -> Option<&AttributeType> {
        let base = name.split(';').next().unwrap_or(name);
        if let Some(&i) = self.by_name.get(base) {
            return Some(&self.types[i]);
        }
        self.by_name.get(&base.to_ascii_lowercase()).map(|&i| &self.types[i])
    }

    /// The canonical (lower-cased primary) name of an attribute; unknown names are
    /// lower-cased as they are.
    pub fn canonical(&self, name: &str) -> String {
        match self.attr(name) {
            Some(t) => t.canonical.clone(),
            None => name.split(';').next().unwrap_or(name).to_ascii_lowercase(),
        }
    }

    /// The matching rule of an attribute; unknown attributes compare case-insensitively.
    pub fn rule(&self, canonical: &str) -> MatchingRule {
        self.attr(canonical).map_or(MatchingRule::CaseIgnore, |t| t.rule)
    }

    /// Whether the object class is known.
    pub fn has_object_class(&self, name: &str) -> bool {
        self.object_classes.contains(&name.to_ascii_lowercase())
    }

    /// Normalizes a value of the attribute for equality and index keys.
    pub fn normalize_value(&self, rule: MatchingRule, value: &[u8]) -> Option<Vec<u8>> {
        match rule {
            MatchingRule::DistinguishedName => {
                let s = std::str::from_utf8(value).ok()?;
                crate::dn::Dn::parse(s).ok().map(|d| d.normalize(self).into_bytes())
            }
            r => r.normalize(value),
        }
    }

    /// All attribute types.
    pub fn attribute_types(&self) -> &[AttributeType] {
        &self.types
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_oids_resolve_to_one_type() {
        let s = Schema::builtin();
        assert_eq!(s.canonical("commonName"), "cn");
        assert_eq!(s.canonical("2.5.4.3"), "cn");
        assert_eq!(s.canonical("CN;lang-en"), "cn");
        assert_eq!(s.canonical("memberuid"), "memberuid");
        assert_eq!(s.rule("uidnumber"), MatchingRule::Integer);
        assert!(s.has_object_class("PosixAccount"));
        assert!(!s.has_object_class("nonsense"));
    }
}
