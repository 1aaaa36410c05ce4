//! Search filters resolved against the schema, and their three-valued evaluation
//! (RFC 4511 section 4.5.1.7).

use crate::entry::Entry;
use birch_schema::desc;
use birch_schema::prep::{self, Part};
use birch_schema::{MatchingRule, Schema};
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
    /// Equality (also approximate match and extensible match with a known rule).
    Equality { attr: String, rule: MatchingRule, value: Vec<u8> },
    /// Substrings; components prepared like values (RFC 4518), in the section 2.6.1 form
    /// for the rules with insignificant spaces (see [`spaced_substrings`]).
    Substring { attr: String, rule: MatchingRule, initial: Option<Vec<u8>>, any: Vec<Vec<u8>>, fin: Option<Vec<u8>> },
    /// `>=`.
    GreaterOrEqual { attr: String, rule: MatchingRule, value: Vec<u8> },
    /// `<=`.
    LessOrEqual { attr: String, rule: MatchingRule, value: Vec<u8> },
    /// Presence.
    Present { attr: String },
    /// Always Undefined (unknown attribute or object class, invalid assertion value).
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
            | Filter::Present { attr } => out.push(birch_schema::desc::base(attr)),
            Filter::Undefined => {}
        }
    }

    /// Resolves an attribute name; `None` when the schema does not know it.
    /// A description with options (`cn;lang-en`) resolves to its canonical description;
    /// refused options make it unknown, as slapd treats them.
    fn resolve(schema: &Schema, attr: &str) -> Option<(String, MatchingRule)> {
        let t = schema.attr(attr)?;
        desc::options(attr).ok()?;
        Some((schema.canonical(attr), t.rule))
    }

    /// Builds an equality filter, normalizing the assertion value with `rule` if given,
    /// else with the attribute's equality rule.
    pub fn equality(schema: &Schema, attr: &str, value: &[u8], rule: Option<MatchingRule>) -> Filter {
        let Some((attr, attr_rule)) = Self::resolve(schema, attr) else {
            return Filter::Undefined;
        };
        let rule = rule.unwrap_or(attr_rule);
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

    /// Builds a substring filter.
    pub fn substring(schema: &Schema, attr: &str, initial: Option<&[u8]>, any: &[&[u8]], fin: Option<&[u8]>) -> Filter {
        let Some((attr, rule)) = Self::resolve(schema, attr) else {
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

    /// Builds a `>=` (`ge = true`) or `<=` filter.
    pub fn ordering(schema: &Schema, attr: &str, value: &[u8], ge: bool) -> Filter {
        let Some((attr, rule)) = Self::resolve(schema, attr) else {
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
