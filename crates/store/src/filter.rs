//! Search filters resolved against the schema, and their three-valued evaluation
//! (RFC 4511 section 4.5.1.7).

use crate::entry::Entry;
use birch_schema::desc;
use birch_schema::prep::{self, Part};
use birch_schema::{AttributeType, MatchingRule, MatchingRuleInfo, RuleUsage, Schema};
use std::cmp::Ordering;

/// Three-valued filter result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    /// The filter matches.
    True,
    /// The filter does not match.
    False,
    /// The filter cannot be evaluated (unknown attribute, invalid assertion).
    Undefined,
}

impl Tri {
    fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Undefined => Tri::Undefined,
        }
    }
}

/// A filter whose attribute names are canonical and whose assertion values are normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// All must match.
    And(Vec<Filter>),
    /// One must match.
    Or(Vec<Filter>),
    /// Negation.
    Not(Box<Filter>),
    /// Equality with the type's EQUALITY rule (also approximate match, and an extensible
    /// match on a type's values with an equality rule that applies to it).
    Equality { attr: String, rule: MatchingRule, value: Vec<u8> },
    /// Substrings with the type's SUBSTR rule; components prepared like values (RFC 4518),
    /// in the section 2.6.1 form for the rules with insignificant spaces (see
    /// [`spaced_substrings`]).
    Substring { attr: String, rule: MatchingRule, initial: Option<Vec<u8>>, any: Vec<Vec<u8>>, fin: Option<Vec<u8>> },
    /// `>=` with the type's ORDERING rule.
    GreaterOrEqual { attr: String, rule: MatchingRule, value: Vec<u8> },
    /// `<=` with the type's ORDERING rule.
    LessOrEqual { attr: String, rule: MatchingRule, value: Vec<u8> },
    /// Presence.
    Present { attr: String },
    /// An extensible match (RFC 4511 section 4.5.1.7.7) that is more than an equality on
    /// the values of `attr`: true when a value of `attr` matches `value` with `rule` (an
    /// equality rule: equal; an ORDERING rule, `less`: below the assertion, as X.501
    /// defines an ordering rule's match) and, with `dn` (`:dn:`), also when a value of
    /// `attr` in the entry's DN does.
    Extensible { attr: String, rule: MatchingRule, less: bool, value: Vec<u8>, dn: bool },
    /// Always Undefined (unknown attribute, object class or matching rule, a type without
    /// the rule the assertion needs, an invalid assertion value).
    Undefined,
}

impl Filter {
    /// The attribute types the filter asserts on (canonical names without options, with
    /// repeats).
    pub fn attributes<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Filter::And(fs) | Filter::Or(fs) => fs.iter().for_each(|f| f.attributes(out)),
            Filter::Not(f) => f.attributes(out),
            Filter::Equality { attr, .. }
            | Filter::Substring { attr, .. }
            | Filter::GreaterOrEqual { attr, .. }
            | Filter::LessOrEqual { attr, .. }
            | Filter::Extensible { attr, .. }
            | Filter::Present { attr } => out.push(birch_schema::desc::base(attr)),
            Filter::Undefined => {}
        }
    }

    /// Resolves an attribute name; `None` when the schema does not know it.
    /// A description with options (`cn;lang-en`) resolves to its canonical description;
    /// refused options make it unknown, as slapd treats them.
    fn resolve<'s>(schema: &'s Schema, attr: &str) -> Option<(String, &'s AttributeType)> {
        let t = schema.attr(attr)?;
        desc::options(attr).ok()?;
        Some((schema.canonical(attr), t))
    }

    /// Builds an equality filter, normalizing the assertion value with `rule` if given,
    /// else with the attribute's EQUALITY rule; Undefined for a type without one (RFC 4511
    /// section 4.5.1.7: the type does not define the matching rule).
    pub fn equality(schema: &Schema, attr: &str, value: &[u8], rule: Option<MatchingRule>) -> Filter {
        let Some((attr, t)) = Self::resolve(schema, attr) else {
            return Filter::Undefined;
        };
        let Some(rule) = rule.or(t.equality) else {
            return Filter::Undefined;
        };
        if attr == "objectclass" {
            // Object classes compare by class: names, aliases and OIDs resolve to the
            // class, and an entry matches its classes' superclasses too (slapd does the same).
            return match std::str::from_utf8(value).ok().and_then(|v| schema.object_class(v)) {
                Some(c) => Filter::Equality { attr, rule, value: c.canonical.clone().into_bytes() },
                None => Filter::Undefined,
            };
        }
        match schema.normalize_value(rule, value) {
            Some(value) => Filter::Equality { attr, rule, value },
            None => Filter::Undefined,
        }
    }

    /// Builds a substring filter with the attribute's SUBSTR rule; Undefined for a type
    /// without one (`(objectClass=posix*)`, `(loginShell=*zsh)`), as in slapd.
    pub fn substring(schema: &Schema, attr: &str, initial: Option<&[u8]>, any: &[&[u8]], fin: Option<&[u8]>) -> Filter {
        let Some((attr, t)) = Self::resolve(schema, attr) else {
            return Filter::Undefined;
        };
        let Some(rule) = t.substr else {
            return Filter::Undefined;
        };
        let norm = |v: &[u8], part: Part| -> Option<Vec<u8>> {
            match rule {
                MatchingRule::OctetString => Some(v.to_vec()),
                MatchingRule::NumericString | MatchingRule::TelephoneNumber => rule.normalize(v),
                _ => {
                    let s = std::str::from_utf8(v).ok()?;
                    let p = prep::prepare_component(s, rule.folds_case())?;
                    Some(prep::substring_component(&p, part).into_bytes())
                }
            }
        };
        let initial = match initial.map(|v| norm(v, Part::Initial)) {
            Some(None) => return Filter::Undefined,
            Some(Some(v)) => Some(v),
            None => None,
        };
        let fin = match fin.map(|v| norm(v, Part::Final)) {
            Some(None) => return Filter::Undefined,
            Some(Some(v)) => Some(v),
            None => None,
        };
        let mut anys = Vec::with_capacity(any.len());
        for a in any {
            match norm(a, Part::Any) {
                Some(v) => anys.push(v),
                None => return Filter::Undefined,
            }
        }
        Filter::Substring { attr, rule, initial, any: anys, fin }
    }

    /// Builds a `>=` (`ge = true`) or `<=` filter with the attribute's ORDERING rule;
    /// Undefined for a type without one (`(cn>=m)`, `(shadowWarning<=100)`), as in slapd.
    pub fn ordering(schema: &Schema, attr: &str, value: &[u8], ge: bool) -> Filter {
        let Some((attr, t)) = Self::resolve(schema, attr) else {
            return Filter::Undefined;
        };
        let Some(rule) = t.ordering else {
            return Filter::Undefined;
        };
        let Some(value) = schema.normalize_value(rule, value) else {
            return Filter::Undefined;
        };
        if ge {
            Filter::GreaterOrEqual { attr, rule, value }
        } else {
            Filter::LessOrEqual { attr, rule, value }
        }
    }

    /// Builds the term of an extensible match (RFC 4511 section 4.5.1.7.7) on one attribute
    /// type: with `rule` (which must apply to the type, [`Schema::rule_applies`]) or else the
    /// type's EQUALITY rule; `dn` also matches the values of the type in the entry's DN.
    /// A substrings rule, a rule that does not apply, a type without the rule or an invalid
    /// assertion value give Undefined. A plain equality on the values (no `:dn:`, an
    /// equality rule) is a [`Filter::Equality`], which indexes can answer.
    pub fn extensible(schema: &Schema, attr: &str, rule: Option<&MatchingRuleInfo>, value: &[u8], dn: bool) -> Filter {
        let Some((canonical, t)) = Self::resolve(schema, attr) else {
            return Filter::Undefined;
        };
        let (kind, less) = match rule {
            None => match t.equality {
                Some(kind) => (kind, false),
                None => return Filter::Undefined,
            },
            Some(r) if !schema.rule_applies(r, t) => return Filter::Undefined,
            Some(r) => match r.usage {
                RuleUsage::Equality => (r.kind, false),
                RuleUsage::Ordering => (r.kind, true),
                RuleUsage::Substrings => return Filter::Undefined,
            },
        };
        if canonical == "objectclass" && !less {
            // Classes compare by class (superclasses included); no DN names one.
            return Self::equality(schema, attr, value, Some(kind));
        }
        let Some(value) = schema.normalize_value(kind, value) else {
            return Filter::Undefined;
        };
        if !dn && !less {
            return Filter::Equality { attr: canonical, rule: kind, value };
        }
        Filter::Extensible { attr: canonical, rule: kind, less, value, dn }
    }

    /// Builds a presence filter.
    pub fn present(schema: &Schema, attr: &str) -> Filter {
        match Self::resolve(schema, attr) {
            Some((attr, _)) => Filter::Present { attr },
            None => Filter::Undefined,
        }
    }

    /// Evaluates the filter against an entry.
    pub fn eval(&self, entry: &Entry, schema: &Schema) -> Tri {
        match self {
            Filter::And(fs) => {
                let mut out = Tri::True;
                for f in fs {
                    match f.eval(entry, schema) {
                        Tri::False => return Tri::False,
                        Tri::Undefined => out = Tri::Undefined,
                        Tri::True => {}
                    }
                }
                out
            }
            Filter::Or(fs) => {
                let mut out = Tri::False;
                for f in fs {
                    match f.eval(entry, schema) {
                        Tri::True => return Tri::True,
                        Tri::Undefined => out = Tri::Undefined,
                        Tri::False => {}
                    }
                }
                out
            }
            Filter::Not(f) => f.eval(entry, schema).not(),
            Filter::Undefined => Tri::Undefined,
            Filter::Present { attr } => {
                if attr == "objectclass" || described(entry, attr).any(|a| !a.values.is_empty()) {
                    Tri::True
                } else {
                    Tri::False
                }
            }
            Filter::Equality { attr, value, .. } if attr == "objectclass" => {
                // Entries list their classes' superclasses too (RFC 4512 section 2.4.1), so
                // the class is nearly always there by its name: found without resolving
                // every class of the entry and its superclasses (a paged walk of
                // `(objectClass=posixAccount)` spent a seventh of its time there).
                if described(entry, attr).any(|a| a.values.iter().any(|v| v.eq_ignore_ascii_case(value))) {
                    return Tri::True;
                }
                let want = String::from_utf8_lossy(value);
                any_value(entry, attr, |v| {
                    let name = String::from_utf8_lossy(v);
                    schema.superclasses(&name).iter().any(|c| c.canonical == want)
                })
            }
            Filter::Equality { attr, rule, value } => any_value(entry, attr, |v| schema.value_matches(*rule, v, value)),
            Filter::GreaterOrEqual { attr, rule, value } => any_value(entry, attr, |v| {
                schema.normalize_value(*rule, v).is_some_and(|n| rule.compare_normalized(&n, value) != Ordering::Less)
            }),
            Filter::LessOrEqual { attr, rule, value } => any_value(entry, attr, |v| {
                schema
                    .normalize_value(*rule, v)
                    .is_some_and(|n| rule.compare_normalized(&n, value) != Ordering::Greater)
            }),
            Filter::Extensible { attr, rule, less, value, dn } => {
                let test = |v: &[u8]| {
                    if *less {
                        schema
                            .normalize_value(*rule, v)
                            .is_some_and(|n| rule.compare_normalized(&n, value) == Ordering::Less)
                    } else {
                        schema.value_matches(*rule, v, value)
                    }
                };
                if any_value(entry, attr, test) == Tri::True
                    || (*dn && dn_values(entry, schema, attr).any(|v| test(v.as_bytes())))
                {
                    Tri::True
                } else {
                    Tri::False
                }
            }
            Filter::Substring { attr, rule, initial, any, fin } => {
                let spaced = spaced_substrings(*rule);
                // Components without inner spaces match the prepared value as they match its
                // section 2.6.1 form: skip building that form (the common case).
                let plain = spaced.then(|| plain_components(initial.as_deref(), any, fin.as_deref())).flatten();
                any_value(entry, attr, |v| {
                    let Some(n) = schema.normalize_value(*rule, v) else { return false };
                    match plain {
                        Some((i, f)) => substring_match(&n, i, any, f),
                        None if spaced => {
                            let form = prep::substring_form(&String::from_utf8_lossy(&n));
                            substring_match(form.as_bytes(), initial.as_deref(), any, fin.as_deref())
                        }
                        None => substring_match(&n, initial.as_deref(), any, fin.as_deref()),
                    }
                })
            }
        }
    }
}

/// Whether substring assertions of the rule compare the RFC 4518 section 2.6.1 forms (one
/// leading and trailing space, two between words) rather than the prepared values.
pub fn spaced_substrings(rule: MatchingRule) -> bool {
    !matches!(rule, MatchingRule::OctetString | MatchingRule::NumericString | MatchingRule::TelephoneNumber)
}

/// The initial and final components without their section 2.6.1 outer space, when no
/// component has another space: matching those against a prepared value is the same as
/// matching the components against its section 2.6.1 form.
#[allow(clippy::type_complexity)]
fn plain_components<'a>(
    initial: Option<&'a [u8]>,
    any: &[Vec<u8>],
    fin: Option<&'a [u8]>,
) -> Option<(Option<&'a [u8]>, Option<&'a [u8]>)> {
    let word = |w: &[u8]| !w.is_empty() && !w.contains(&b' ');
    let i = match initial {
        Some(i) => Some(i.strip_prefix(b" ").filter(|w| word(w))?),
        None => None,
    };
    let f = match fin {
        Some(f) => Some(f.strip_suffix(b" ").filter(|w| word(w))?),
        None => None,
    };
    any.iter().all(|a| word(a)).then_some((i, f))
}

/// The entry's attributes an assertion on the canonical description `attr` reads: `cn`
/// reads `cn` and `cn;lang-en`, `cn;lang-en` only the latter (RFC 4512 section 2.5.2).
fn described<'a>(entry: &'a Entry, attr: &'a str) -> impl Iterator<Item = &'a crate::entry::Attribute> + 'a {
    entry.attrs.iter().filter(move |a| desc::covers(attr, &a.canonical))
}

/// The values of the attribute type `attr` (a canonical name) in the entry's DN, for the
/// `:dn:` of an extensible match: every AVA of every RDN (RFC 4511 section 4.5.1.7.7). A
/// description with options names no AVA.
fn dn_values<'a>(entry: &Entry, schema: &'a Schema, attr: &'a str) -> impl Iterator<Item = String> + 'a {
    let avas = birch_schema::Dn::parse(&entry.dn).map(|d| d.rdns).unwrap_or_default();
    avas.into_iter()
        .flat_map(|r| r.avas)
        .filter(move |a| schema.attr(&a.attr).is_some_and(|t| t.canonical == attr))
        .map(|a| a.value)
}

fn any_value(entry: &Entry, attr: &str, pred: impl Fn(&[u8]) -> bool) -> Tri {
    if described(entry, attr).any(|a| a.values.iter().any(|v| pred(v))) {
        Tri::True
    } else {
        Tri::False
    }
}

/// Matches `initial*any*...*final` against a normalized value.
pub fn substring_match(v: &[u8], initial: Option<&[u8]>, any: &[Vec<u8>], fin: Option<&[u8]>) -> bool {
    let mut rest = v;
    if let Some(i) = initial {
        match rest.strip_prefix(i) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    let mut tail_len = 0;
    if let Some(f) = fin {
        if rest.len() < f.len() || !rest.ends_with(f) {
            return false;
        }
        tail_len = f.len();
    }
    let mut middle = &rest[..rest.len() - tail_len];
    for a in any {
        if a.is_empty() {
            continue;
        }
        match find(middle, a) {
            Some(pos) => middle = &middle[pos + a.len()..],
            None => return false,
        }
    }
    true
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Attribute;

    fn entry() -> Entry {
        let a = |n: &str, vs: &[&str]| Attribute {
            name: n.into(),
            canonical: n.to_ascii_lowercase(),
            values: vs.iter().map(|v| v.as_bytes().to_vec()).collect(),
        };
        Entry {
            dn: "uid=alice,dc=x".into(),
            ndn: "uid=alice,dc=x".into(),
            parent: 1,
            attrs: vec![
                a("objectClass", &["top", "inetOrgPerson", "posixAccount"]),
                a("uid", &["alice"]),
                a("cn", &["Alice  Liddell"]),
                a("uidNumber", &["1001"]),
                a("memberUid", &["Bob"]),
            ],
        }
    }

    #[test]
    fn equality_substring_ordering() {
        let s = Schema::builtin();
        let e = entry();
        assert_eq!(Filter::equality(&s, "UID", b"ALICE", None).eval(&e, &s), Tri::True);
        assert_eq!(Filter::equality(&s, "commonName", b"alice liddell", None).eval(&e, &s), Tri::True);
        assert_eq!(Filter::equality(&s, "memberuid", b"bob", None).eval(&e, &s), Tri::False, "caseExactIA5");
        assert_eq!(Filter::substring(&s, "cn", Some(b"ali"), &[b"e l"], Some(b"DELL")).eval(&e, &s), Tri::True);
        assert_eq!(Filter::substring(&s, "cn", Some(b"lid"), &[], None).eval(&e, &s), Tri::False);
        assert_eq!(Filter::ordering(&s, "uidNumber", b"999", true).eval(&e, &s), Tri::True);
        assert_eq!(Filter::ordering(&s, "uidNumber", b"999", false).eval(&e, &s), Tri::False);
        assert_eq!(Filter::present(&s, "mail").eval(&e, &s), Tri::False);
    }

    #[test]
    fn object_classes_match_by_name_in_any_case_and_through_superclasses() {
        let s = Schema::builtin();
        let e = entry();
        let oc = |name: &str| Filter::equality(&s, "objectClass", name.as_bytes(), None).eval(&e, &s);
        // Listed (in any case, or by another spelling the schema resolves).
        assert_eq!(oc("POSIXACCOUNT"), Tri::True);
        assert_eq!(oc("inetorgperson"), Tri::True);
        // Not listed, but a superclass of a listed class.
        assert_eq!(oc("person"), Tri::True);
        assert_eq!(oc("organizationalPerson"), Tri::True);
        // Neither.
        assert_eq!(oc("groupOfNames"), Tri::False);
        assert_eq!(oc("shadowAccount"), Tri::False);
        // A class listed in another case than the schema's is still resolved.
        let mut shouting = e.clone();
        shouting.attrs[0].values = vec![b"INETORGPERSON".to_vec()];
        assert_eq!(Filter::equality(&s, "objectClass", b"person", None).eval(&shouting, &s), Tri::True);
    }

    #[test]
    fn unknown_attributes_are_undefined_and_so_is_their_negation() {
        let s = Schema::builtin();
        let e = entry();
        let f = Filter::equality(&s, "noSuchAttr", b"x", None);
        assert_eq!(f.eval(&e, &s), Tri::Undefined);
        assert_eq!(Filter::Not(Box::new(f.clone())).eval(&e, &s), Tri::Undefined);
        let oc = Filter::equality(&s, "objectClass", b"noSuchClass", None);
        assert_eq!(Filter::Not(Box::new(oc)).eval(&e, &s), Tri::Undefined);
        let or = Filter::Or(vec![f, Filter::present(&s, "uid")]);
        assert_eq!(or.eval(&e, &s), Tri::True);
    }

    #[test]
    fn items_whose_type_lacks_the_rule_are_undefined_and_so_is_their_negation() {
        let s = Schema::builtin();
        let mut e = entry();
        e.add_values("loginShell", "loginshell", [b"/bin/zsh".to_vec()]);
        e.add_values("shadowMax", "shadowmax", [b"99999".to_vec()]);
        let undefined = |f: Filter| {
            assert_eq!(f.eval(&e, &s), Tri::Undefined, "{f:?}");
            assert_eq!(Filter::Not(Box::new(f.clone())).eval(&e, &s), Tri::Undefined, "!{f:?}");
        };
        undefined(Filter::ordering(&s, "cn", b"m", true));
        undefined(Filter::ordering(&s, "shadowMax", b"100", false));
        undefined(Filter::ordering(&s, "loginShell", b"/bin/c", true));
        undefined(Filter::substring(&s, "loginShell", None, &[], Some(b"zsh")));
        undefined(Filter::substring(&s, "objectClass", Some(b"posix"), &[], None));
        undefined(Filter::substring(&s, "uidNumber", Some(b"1"), &[], None));
        undefined(Filter::equality(&s, "jpegPhoto", b"x", None));
        assert_eq!(Filter::equality(&s, "shadowMax", b"99999", None).eval(&e, &s), Tri::True);
        assert_eq!(Filter::substring(&s, "memberUid", Some(b"B"), &[], None).eval(&e, &s), Tri::True);
        assert_eq!(Filter::substring(&s, "memberUid", Some(b"b"), &[], None).eval(&e, &s), Tri::False, "case-exact");
    }

    #[test]
    fn extensible_match_reads_the_dn_with_dn_attributes() {
        let s = Schema::builtin();
        let e = entry();
        let rule = |n: &str| birch_schema::rules::matching_rule(n);
        let ext = |a: &str, r: Option<&str>, v: &[u8], dn: bool| {
            Filter::extensible(&s, a, r.and_then(rule), v, dn).eval(&e, &s)
        };
        assert_eq!(ext("dc", None, b"X", true), Tri::True, "dc=x is in the DN");
        assert_eq!(ext("dc", None, b"x", false), Tri::False, "the entry has no dc value");
        assert_eq!(ext("uid", Some("caseExactMatch"), b"alice", true), Tri::True);
        assert_eq!(ext("uid", Some("caseExactMatch"), b"Alice", true), Tri::False);
        assert_eq!(ext("cn", Some("caseExactMatch"), b"Alice Liddell", false), Tri::True);
        assert_eq!(ext("uidNumber", Some("integerOrderingMatch"), b"1002", false), Tri::True, "1001 < 1002");
        assert_eq!(ext("uidNumber", Some("integerOrderingMatch"), b"1001", false), Tri::False);
        assert_eq!(ext("cn", Some("integerMatch"), b"1", false), Tri::Undefined, "not a rule for cn");
        assert_eq!(ext("cn", Some("caseIgnoreSubstringsMatch"), b"a", false), Tri::Undefined);
        assert!(matches!(
            Filter::extensible(&s, "uid", rule("caseExactMatch"), b"alice", false),
            Filter::Equality { rule: MatchingRule::CaseExact, .. }
        ));
    }

    #[test]
    fn assertions_on_a_type_read_its_tagged_values() {
        let s = Schema::builtin();
        let mut e = entry();
        e.attrs.push(Attribute {
            name: "cn;Lang-EN".into(),
            canonical: "cn;lang-en".into(),
            values: vec![b"Alicia".to_vec()],
        });
        let eq = |a: &str, v: &[u8]| Filter::equality(&s, a, v, None).eval(&e, &s);
        assert_eq!(eq("cn", b"alicia"), Tri::True, "cn covers cn;lang-en");
        assert_eq!(eq("commonName;LANG-en", b"ALICIA"), Tri::True);
        assert_eq!(eq("cn;lang-en", b"alice liddell"), Tri::False, "the tagged type reads only tagged values");
        assert_eq!(eq("cn;lang-de", b"alicia"), Tri::False);
        assert_eq!(eq("cn;x-unknown", b"alicia"), Tri::Undefined);
        assert_eq!(Filter::present(&s, "cn;lang-en").eval(&e, &s), Tri::True);
        assert_eq!(Filter::present(&s, "uid;lang-en").eval(&e, &s), Tri::False);
        assert_eq!(Filter::substring(&s, "cn;lang-en", Some(b"ali"), &[], Some(b"cia")).eval(&e, &s), Tri::True);
    }

    #[test]
    fn substring_components_in_order() {
        assert!(substring_match(b"abcdef", Some(b"ab"), &[b"cd".to_vec()], Some(b"ef")));
        assert!(!substring_match(b"abcdef", Some(b"abc"), &[b"cd".to_vec()], None));
        assert!(!substring_match(b"abc", Some(b"ab"), &[], Some(b"bc")));
    }
}
