//! Search filters resolved against the schema, and their three-valued evaluation
//! (RFC 4511 section 4.5.1.7).

use crate::entry::Entry;
use birch_schema::{matching::fold_spaces, MatchingRule, Schema};
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
    /// Substrings; components normalized like values but not trimmed.
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
    /// Resolves an attribute name; `None` when the schema does not know it.
    fn resolve(schema: &Schema, attr: &str) -> Option<(String, MatchingRule)> {
        schema.attr(attr).map(|t| (t.canonical.clone(), t.rule))
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
        let norm = |v: &[u8]| -> Option<Vec<u8>> {
            match rule {
                MatchingRule::OctetString => Some(v.to_vec()),
                MatchingRule::NumericString | MatchingRule::TelephoneNumber => rule.normalize(v),
                _ => {
                    let s = std::str::from_utf8(v).ok()?;
                    Some(collapse_spaces(s, rule.folds_case()).into_bytes())
                }
            }
        };
        let initial = match initial.map(norm) {
            Some(None) => return Filter::Undefined,
            Some(Some(v)) => Some(v),
            None => None,
        };
        let fin = match fin.map(norm) {
            Some(None) => return Filter::Undefined,
            Some(Some(v)) => Some(v),
            None => None,
        };
        let mut anys = Vec::with_capacity(any.len());
        for a in any {
            match norm(a) {
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
                if attr == "objectclass" || entry.get(attr).is_some_and(|a| !a.values.is_empty()) {
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
            Filter::Equality { attr, rule, value } => {
                any_value(entry, attr, |v| schema.normalize_value(*rule, v).is_some_and(|n| &n == value))
            }
            Filter::GreaterOrEqual { attr, rule, value } => any_value(entry, attr, |v| {
                schema.normalize_value(*rule, v).is_some_and(|n| rule.compare_normalized(&n, value) != Ordering::Less)
            }),
            Filter::LessOrEqual { attr, rule, value } => any_value(entry, attr, |v| {
                schema
                    .normalize_value(*rule, v)
                    .is_some_and(|n| rule.compare_normalized(&n, value) != Ordering::Greater)
            }),
            Filter::Substring { attr, rule, initial, any, fin } => any_value(entry, attr, |v| {
                schema
                    .normalize_value(*rule, v)
                    .is_some_and(|n| substring_match(&n, initial.as_deref(), any, fin.as_deref()))
            }),
        }
    }
}

/// Collapses whitespace runs to one space, keeping leading/trailing ones (substring
/// components are not trimmed), optionally folding case.
fn collapse_spaces(s: &str, fold_case: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            last_space = false;
            if fold_case {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        }
    }
    // A component that is only spaces matches like a single space after value folding.
    if out.trim().is_empty() {
        return fold_spaces(&out, fold_case);
    }
    out
}

fn any_value(entry: &Entry, attr: &str, pred: impl Fn(&[u8]) -> bool) -> Tri {
    match entry.get(attr) {
        Some(a) if a.values.iter().any(|v| pred(v)) => Tri::True,
        _ => Tri::False,
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
    fn substring_components_in_order() {
        assert!(substring_match(b"abcdef", Some(b"ab"), &[b"cd".to_vec()], Some(b"ef")));
        assert!(!substring_match(b"abcdef", Some(b"abc"), &[b"cd".to_vec()], None));
        assert!(!substring_match(b"abc", Some(b"ab"), &[], Some(b"bc")));
    }
}
