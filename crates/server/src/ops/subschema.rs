//! The subschema subentry `cn=Subschema` (RFC 4512 section 4.2): the schema in force,
//! readable by anyone, named by the root DSE and every entry's subschemaSubentry.

use birch_schema::Schema;
use birch_store::Entry;

/// The DN of the subschema subentry.
pub const DN: &str = "cn=Subschema";
/// Its normalized DN.
pub const NDN: &str = "cn=subschema";

/// Builds the subschema entry from the schema in force.
pub fn entry(schema: &Schema) -> Entry {
    let mut e = Entry { dn: DN.to_string(), ndn: NDN.to_string(), parent: 0, attrs: Vec::new() };
    let mut put = |name: &str, values: Vec<String>| {
        let canonical = schema.canonical(name);
        e.add_values(name, &canonical, values.into_iter().map(String::into_bytes));
    };
    put("objectClass", vec!["top".into(), "subentry".into(), "subschema".into(), "extensibleObject".into()]);
    put("cn", vec!["Subschema".into()]);
    put("ldapSyntaxes", schema.syntaxes().iter().map(|s| s.description()).collect());
    put("matchingRules", schema.matching_rules().iter().map(|r| r.description()).collect());
    put("matchingRuleUse", matching_rule_use(schema));
    put("attributeTypes", schema.attribute_types().iter().map(|t| t.definition.to_string()).collect());
    put("objectClasses", schema.object_classes().iter().map(|c| c.definition.to_string()).collect());
    e
}

/// matchingRuleUse: for each rule, the attribute types it applies to (RFC 4512 section 4.1.4):
/// the types that name it and those of a syntax it compares ([`Schema::rule_applies`]), which
/// are the types an extensible match with the rule and no type reads.
fn matching_rule_use(schema: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for rule in schema.matching_rules() {
        let users: Vec<String> = schema
            .attribute_types()
            .iter()
            .filter(|t| schema.rule_applies(rule, t))
            .map(|t| t.names.first().cloned().unwrap_or_else(|| t.oid.clone()))
            .collect();
        if !users.is_empty() {
            out.push(format!("( {} NAME '{}' APPLIES ( {} ) )", rule.oid, rule.name, users.join(" $ ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_every_definition() {
        let s = Schema::builtin();
        let e = entry(&s);
        let count = |a: &str| e.get(a).map_or(0, |a| a.values.len());
        assert_eq!(count("attributetypes"), s.attribute_types().len());
        assert_eq!(count("objectclasses"), s.object_classes().len());
        assert!(count("ldapsyntaxes") > 10 && count("matchingrules") > 10 && count("matchingruleuse") > 5);
        let uses = e.get("matchingruleuse").unwrap();
        assert!(uses.values.iter().any(|v| {
            let v = String::from_utf8_lossy(v);
            v.contains("'caseIgnoreMatch'") && v.contains(" cn ")
        }));
    }
}
