//! The matching rules and LDAP syntaxes Birch implements.
//!
//! Schema files name rules and syntaxes; only code can implement them, so (as in every LDAP
//! server) they are a table here rather than definitions in the files. Each rule maps to the
//! [`MatchingRule`] that implements its comparison; rules Birch approximates (the list and
//! first-component rules, the certificate rules) say so below.

use crate::matching::MatchingRule;

/// What a matching rule may be used for in an attribute type definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleUsage {
    /// An EQUALITY rule.
    Equality,
    /// An ORDERING rule.
    Ordering,
    /// A SUBSTR rule.
    Substrings,
}

/// A matching rule known to Birch (RFC 4512 section 4.1.3 description plus its implementation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchingRuleInfo {
    /// Numeric OID.
    pub oid: &'static str,
    /// The rule's name.
    pub name: &'static str,
    /// Where the rule may appear.
    pub usage: RuleUsage,
    /// The syntax OID of the rule's assertion value.
    pub syntax: &'static str,
    /// The comparison that implements it.
    pub kind: MatchingRule,
}

impl MatchingRuleInfo {
    /// The RFC 4512 `MatchingRuleDescription` of the rule, as published in `matchingRules`.
    pub fn description(&self) -> String {
        format!("( {} NAME '{}' SYNTAX {} )", self.oid, self.name, self.syntax)
    }
}

/// An LDAP syntax known to Birch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxInfo {
    /// Numeric OID.
    pub oid: &'static str,
    /// Description (RFC 4517 name).
    pub desc: &'static str,
    /// Whether values are binary (published with `X-NOT-HUMAN-READABLE 'TRUE'`).
    pub binary: bool,
    /// The comparison used for an attribute of this syntax that has no EQUALITY rule.
    pub fallback: MatchingRule,
}

impl SyntaxInfo {
    /// The RFC 4512 `SyntaxDescription`, as published in `ldapSyntaxes`.
    pub fn description(&self) -> String {
        let extra = if self.binary { " X-NOT-HUMAN-READABLE 'TRUE'" } else { "" };
        format!("( {} DESC '{}'{} )", self.oid, self.desc, extra)
    }
}

use MatchingRule as K;
const EQ: RuleUsage = RuleUsage::Equality;
const ORD: RuleUsage = RuleUsage::Ordering;
const SUB: RuleUsage = RuleUsage::Substrings;

const fn rule(
    oid: &'static str,
    name: &'static str,
    usage: RuleUsage,
    syntax: &'static str,
    kind: K,
) -> MatchingRuleInfo {
    MatchingRuleInfo { oid, name, usage, syntax, kind }
}

const fn syn(oid: &'static str, desc: &'static str, binary: bool, fallback: K) -> SyntaxInfo {
    SyntaxInfo { oid, desc, binary, fallback }
}

/// Every matching rule Birch knows (RFC 4517, RFC 4523, RFC 4530, RFC 3112, and the IA5
/// substrings rules OpenLDAP defines).
pub static MATCHING_RULES: &[MatchingRuleInfo] = &[
    rule("2.5.13.0", "objectIdentifierMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.38", K::ObjectIdentifier),
    rule("2.5.13.1", "distinguishedNameMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.12", K::DistinguishedName),
    rule("2.5.13.2", "caseIgnoreMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.15", K::CaseIgnore),
    rule("2.5.13.3", "caseIgnoreOrderingMatch", ORD, "1.3.6.1.4.1.1466.115.121.1.15", K::CaseIgnore),
    rule("2.5.13.4", "caseIgnoreSubstringsMatch", SUB, "1.3.6.1.4.1.1466.115.121.1.58", K::CaseIgnore),
    rule("2.5.13.5", "caseExactMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.15", K::CaseExact),
    rule("2.5.13.6", "caseExactOrderingMatch", ORD, "1.3.6.1.4.1.1466.115.121.1.15", K::CaseExact),
    rule("2.5.13.7", "caseExactSubstringsMatch", SUB, "1.3.6.1.4.1.1466.115.121.1.58", K::CaseExact),
    rule("2.5.13.8", "numericStringMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.36", K::NumericString),
    rule("2.5.13.9", "numericStringOrderingMatch", ORD, "1.3.6.1.4.1.1466.115.121.1.36", K::NumericString),
    rule("2.5.13.10", "numericStringSubstringsMatch", SUB, "1.3.6.1.4.1.1466.115.121.1.58", K::NumericString),
    // Approximation: the lines of a postal address are compared as one case-ignore string.
    rule("2.5.13.11", "caseIgnoreListMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.41", K::CaseIgnore),
    rule("2.5.13.12", "caseIgnoreListSubstringsMatch", SUB, "1.3.6.1.4.1.1466.115.121.1.58", K::CaseIgnore),
    rule("2.5.13.13", "booleanMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.7", K::Boolean),
    rule("2.5.13.14", "integerMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.27", K::Integer),
    rule("2.5.13.15", "integerOrderingMatch", ORD, "1.3.6.1.4.1.1466.115.121.1.27", K::Integer),
    rule("2.5.13.16", "bitStringMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.6", K::OctetString),
    rule("2.5.13.17", "octetStringMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.40", K::OctetString),
    rule("2.5.13.18", "octetStringOrderingMatch", ORD, "1.3.6.1.4.1.1466.115.121.1.40", K::OctetString),
    rule("2.5.13.20", "telephoneNumberMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.50", K::TelephoneNumber),
    rule("2.5.13.21", "telephoneNumberSubstringsMatch", SUB, "1.3.6.1.4.1.1466.115.121.1.58", K::TelephoneNumber),
    rule("2.5.13.22", "presentationAddressMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.43", K::CaseIgnore),
    // Approximation: the optional `#'bits'B` unique identifier is compared as part of the DN.
    rule("2.5.13.23", "uniqueMemberMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.34", K::DistinguishedName),
    rule("2.5.13.24", "protocolInformationMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.42", K::CaseIgnore),
    rule("2.5.13.25", "utcTimeMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.53", K::GeneralizedTime),
    rule("2.5.13.27", "generalizedTimeMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.24", K::GeneralizedTime),
    rule("2.5.13.28", "generalizedTimeOrderingMatch", ORD, "1.3.6.1.4.1.1466.115.121.1.24", K::GeneralizedTime),
    // Approximation: first-component rules compare whole values (descriptions), case folded.
    rule("2.5.13.29", "integerFirstComponentMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.27", K::CaseIgnore),
    rule("2.5.13.30", "objectIdentifierFirstComponentMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.38", K::ObjectIdentifier),
    rule("2.5.13.31", "directoryStringFirstComponentMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.15", K::CaseIgnore),
    rule("2.5.13.32", "wordMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.15", K::CaseIgnore),
    rule("2.5.13.33", "keywordMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.15", K::CaseIgnore),
    // RFC 4523. Approximation: certificates, pairs and lists are compared as the bytes stored.
    rule("2.5.13.34", "certificateExactMatch", EQ, "1.3.6.1.1.15.1", K::OctetString),
    rule("2.5.13.35", "certificateMatch", EQ, "1.3.6.1.1.15.2", K::OctetString),
    rule("2.5.13.36", "certificatePairExactMatch", EQ, "1.3.6.1.1.15.3", K::OctetString),
    rule("2.5.13.37", "certificatePairMatch", EQ, "1.3.6.1.1.15.4", K::OctetString),
    rule("2.5.13.38", "certificateListExactMatch", EQ, "1.3.6.1.1.15.5", K::OctetString),
    rule("2.5.13.39", "certificateListMatch", EQ, "1.3.6.1.1.15.6", K::OctetString),
    rule("2.5.13.40", "algorithmIdentifierMatch", EQ, "1.3.6.1.1.15.7", K::OctetString),
    rule("1.3.6.1.4.1.1466.109.114.1", "caseExactIA5Match", EQ, "1.3.6.1.4.1.1466.115.121.1.26", K::CaseExact),
    rule("1.3.6.1.4.1.1466.109.114.2", "caseIgnoreIA5Match", EQ, "1.3.6.1.4.1.1466.115.121.1.26", K::CaseIgnore),
    rule(
        "1.3.6.1.4.1.1466.109.114.3",
        "caseIgnoreIA5SubstringsMatch",
        SUB,
        "1.3.6.1.4.1.1466.115.121.1.58",
        K::CaseIgnore,
    ),
    rule("1.3.6.1.4.1.4203.1.2.1", "caseExactIA5SubstringsMatch", SUB, "1.3.6.1.4.1.1466.115.121.1.58", K::CaseExact),
    rule("1.3.6.1.4.1.4203.1.2.2", "authPasswordExactMatch", EQ, "1.3.6.1.4.1.1466.115.121.1.40", K::OctetString),
    // RFC 4530: UUIDs in their string form, compared case-insensitively (hex digits).
    rule("1.3.6.1.1.16.2", "uuidMatch", EQ, "1.3.6.1.1.16.1", K::CaseIgnore),
    rule("1.3.6.1.1.16.3", "uuidOrderingMatch", ORD, "1.3.6.1.1.16.1", K::CaseIgnore),
];

/// Every LDAP syntax Birch knows (RFC 4517, RFC 4523, RFC 4530, RFC 3672, RFC 3112, RFC 2307).
pub static SYNTAXES: &[SyntaxInfo] = &[
    syn("1.3.6.1.4.1.1466.115.121.1.3", "Attribute Type Description", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.4", "Audio", true, K::OctetString),
    syn("1.3.6.1.4.1.1466.115.121.1.5", "Binary", true, K::OctetString),
    syn("1.3.6.1.4.1.1466.115.121.1.6", "Bit String", false, K::OctetString),
    syn("1.3.6.1.4.1.1466.115.121.1.7", "Boolean", false, K::Boolean),
    syn("1.3.6.1.4.1.1466.115.121.1.8", "Certificate", true, K::OctetString),
    syn("1.3.6.1.4.1.1466.115.121.1.9", "Certificate List", true, K::OctetString),
    syn("1.3.6.1.4.1.1466.115.121.1.10", "Certificate Pair", true, K::OctetString),
    syn("1.3.6.1.4.1.1466.115.121.1.11", "Country String", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.12", "DN", false, K::DistinguishedName),
    syn("1.3.6.1.4.1.1466.115.121.1.14", "Delivery Method", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.15", "Directory String", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.16", "DIT Content Rule Description", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.17", "DIT Structure Rule Description", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.21", "Enhanced Guide", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.22", "Facsimile Telephone Number", false, K::TelephoneNumber),
    syn("1.3.6.1.4.1.1466.115.121.1.23", "Fax", true, K::OctetString),
    syn("1.3.6.1.4.1.1466.115.121.1.24", "Generalized Time", false, K::GeneralizedTime),
    syn("1.3.6.1.4.1.1466.115.121.1.25", "Guide", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.26", "IA5 String", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.27", "INTEGER", false, K::Integer),
    syn("1.3.6.1.4.1.1466.115.121.1.28", "JPEG", true, K::OctetString),
    syn("1.3.6.1.4.1.1466.115.121.1.30", "Matching Rule Description", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.31", "Matching Rule Use Description", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.34", "Name And Optional UID", false, K::DistinguishedName),
    syn("1.3.6.1.4.1.1466.115.121.1.35", "Name Form Description", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.36", "Numeric String", false, K::NumericString),
    syn("1.3.6.1.4.1.1466.115.121.1.37", "Object Class Description", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.38", "OID", false, K::ObjectIdentifier),
    syn("1.3.6.1.4.1.1466.115.121.1.39", "Other Mailbox", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.40", "Octet String", false, K::OctetString),
    syn("1.3.6.1.4.1.1466.115.121.1.41", "Postal Address", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.42", "Protocol Information", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.43", "Presentation Address", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.44", "Printable String", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.45", "Subtree Specification", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.49", "Supported Algorithm", true, K::OctetString),
    syn("1.3.6.1.4.1.1466.115.121.1.50", "Telephone Number", false, K::TelephoneNumber),
    syn("1.3.6.1.4.1.1466.115.121.1.51", "Teletex Terminal Identifier", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.52", "Telex Number", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.53", "UTC Time", false, K::GeneralizedTime),
    syn("1.3.6.1.4.1.1466.115.121.1.54", "LDAP Syntax Description", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.1466.115.121.1.58", "Substring Assertion", false, K::CaseIgnore),
    syn("1.3.6.1.1.15.1", "X.509 Certificate Exact Assertion", true, K::OctetString),
    syn("1.3.6.1.1.15.2", "X.509 Certificate Assertion", true, K::OctetString),
    syn("1.3.6.1.1.15.3", "X.509 Certificate Pair Exact Assertion", true, K::OctetString),
    syn("1.3.6.1.1.15.4", "X.509 Certificate Pair Assertion", true, K::OctetString),
    syn("1.3.6.1.1.15.5", "X.509 Certificate List Exact Assertion", true, K::OctetString),
    syn("1.3.6.1.1.15.6", "X.509 Certificate List Assertion", true, K::OctetString),
    syn("1.3.6.1.1.15.7", "X.509 Algorithm Identifier", true, K::OctetString),
    syn("1.3.6.1.1.16.1", "UUID", false, K::CaseIgnore),
    syn("1.3.6.1.1.1.0.0", "RFC 2307 NIS Netgroup Triple", false, K::CaseIgnore),
    syn("1.3.6.1.1.1.0.1", "RFC 2307 Boot Parameter", false, K::CaseIgnore),
    syn("1.3.6.1.4.1.4203.1.1.2", "RFC 3112 authPassword", false, K::OctetString),
];

/// The syntaxes besides its own that a rule also applies to, as slapd's matchingRuleUse
/// lists them: the Directory String rules apply to Country, Printable and Telephone Number
/// strings, the IA5 rules to Country strings.
fn compat_syntaxes(rule: &MatchingRuleInfo) -> &'static [&'static str] {
    const DIRECTORY: &[&str] =
        &["1.3.6.1.4.1.1466.115.121.1.11", "1.3.6.1.4.1.1466.115.121.1.44", "1.3.6.1.4.1.1466.115.121.1.50"];
    const IA5: &[&str] = &["1.3.6.1.4.1.1466.115.121.1.11"];
    match rule.name {
        "caseIgnoreMatch"
        | "caseIgnoreOrderingMatch"
        | "caseIgnoreSubstringsMatch"
        | "caseExactMatch"
        | "caseExactOrderingMatch"
        | "caseExactSubstringsMatch" => DIRECTORY,
        "caseIgnoreIA5Match" | "caseExactIA5Match" => IA5,
        _ => &[],
    }
}

impl MatchingRuleInfo {
    /// Whether the rule can compare values of the syntax `oid` (its own assertion syntax or a
    /// compatible one): with [`crate::Schema::rule_applies`], what decides the attribute types
    /// an extensible match with this rule reads (RFC 4511 section 4.5.1.7.7) and
    /// matchingRuleUse lists (RFC 4512 section 4.1.4).
    pub fn applies_to_syntax(&self, oid: &str) -> bool {
        self.syntax == oid || compat_syntaxes(self).contains(&oid)
    }
}

/// Looks up a matching rule by name or OID, case-insensitively.
pub fn matching_rule(name: &str) -> Option<&'static MatchingRuleInfo> {
    MATCHING_RULES.iter().find(|r| r.oid == name || r.name.eq_ignore_ascii_case(name))
}

/// Looks up a syntax by OID.
pub fn syntax(oid: &str) -> Option<&'static SyntaxInfo> {
    SYNTAXES.iter().find(|s| s.oid == oid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn tables_have_unique_oids_and_names_and_known_syntaxes() {
        let mut seen = HashSet::new();
        for r in MATCHING_RULES {
            assert!(seen.insert(r.oid), "{}", r.oid);
            assert!(seen.insert(r.name), "{}", r.name);
            assert!(syntax(r.syntax).is_some(), "{} has unknown syntax {}", r.name, r.syntax);
        }
        for s in SYNTAXES {
            assert!(seen.insert(s.oid), "{}", s.oid);
        }
    }

    #[test]
    fn rules_apply_to_their_syntax_and_the_compatible_ones() {
        let rule = |n: &str| matching_rule(n).unwrap();
        let (directory, ia5, country, telephone, integer) = (
            "1.3.6.1.4.1.1466.115.121.1.15",
            "1.3.6.1.4.1.1466.115.121.1.26",
            "1.3.6.1.4.1.1466.115.121.1.11",
            "1.3.6.1.4.1.1466.115.121.1.50",
            "1.3.6.1.4.1.1466.115.121.1.27",
        );
        assert!(rule("caseExactMatch").applies_to_syntax(directory));
        assert!(rule("caseExactMatch").applies_to_syntax(telephone));
        assert!(!rule("caseExactMatch").applies_to_syntax(ia5), "slapd: mail is not a Directory String");
        assert!(rule("caseIgnoreIA5Match").applies_to_syntax(country));
        assert!(!rule("caseIgnoreIA5Match").applies_to_syntax(directory));
        assert!(rule("integerOrderingMatch").applies_to_syntax(integer));
        assert!(!rule("integerMatch").applies_to_syntax(directory));
    }

    #[test]
    fn lookups_by_name_and_oid() {
        assert_eq!(matching_rule("CASEIGNOREMATCH").map(|r| r.oid), Some("2.5.13.2"));
        assert_eq!(matching_rule("2.5.13.14").map(|r| r.kind), Some(MatchingRule::Integer));
        assert!(matching_rule("nonsenseMatch").is_none());
        assert_eq!(
            syntax("1.3.6.1.4.1.1466.115.121.1.28").map(SyntaxInfo::description).as_deref(),
            Some("( 1.3.6.1.4.1.1466.115.121.1.28 DESC 'JPEG' X-NOT-HUMAN-READABLE 'TRUE' )")
        );
    }
}
