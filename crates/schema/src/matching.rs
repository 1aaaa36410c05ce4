//! Matching rules: value normalization for equality, ordering and substrings.

use std::cmp::Ordering;

/// The matching behaviour of an attribute type (a simplified RFC 4517 matching-rule set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchingRule {
    /// caseIgnoreMatch / caseIgnoreIA5Match: insignificant spaces, case folded.
    CaseIgnore,
    /// caseExactMatch / caseExactIA5Match: insignificant spaces, case kept.
    CaseExact,
    /// integerMatch: numeric comparison of decimal integers.
    Integer,
    /// numericStringMatch: spaces are insignificant.
    NumericString,
    /// telephoneNumberMatch: spaces and hyphens insignificant, case folded.
    TelephoneNumber,
    /// distinguishedNameMatch: DN normalization.
    DistinguishedName,
    /// booleanMatch: TRUE / FALSE.
    Boolean,
    /// octetStringMatch: bytes as they are.
    OctetString,
    /// generalizedTimeMatch: compared as normalized strings.
    GeneralizedTime,
    /// objectIdentifierMatch: OIDs and names, case folded.
    ObjectIdentifier,
}

impl MatchingRule {
    /// Resolves a matching-rule name or OID (any rule of [`crate::rules::MATCHING_RULES`]:
    /// equality, ordering or substrings) to the comparison that implements it.
    pub fn from_name(name: &str) -> Option<MatchingRule> {
        crate::rules::matching_rule(name).map(|r| r.kind)
    }

    /// Normalizes a value for equality and indexing; `None` if the value is not valid for
    /// the rule (such a value never matches).
    pub fn normalize(self, value: &[u8]) -> Option<Vec<u8>> {
        match self {
            Self::OctetString => Some(value.to_vec()),
            Self::CaseIgnore | Self::ObjectIdentifier => {
                let s = std::str::from_utf8(value).ok()?;
                Some(fold_spaces(s, true).into_bytes())
            }
            Self::CaseExact | Self::GeneralizedTime => {
                let s = std::str::from_utf8(value).ok()?;
                Some(fold_spaces(s, false).into_bytes())
            }
            Self::Integer => normalize_integer(std::str::from_utf8(value).ok()?).map(String::into_bytes),
            Self::NumericString => {
                let s = std::str::from_utf8(value).ok()?;
                Some(s.chars().filter(|c| *c != ' ').collect::<String>().into_bytes())
            }
            Self::TelephoneNumber => {
                let s = std::str::from_utf8(value).ok()?;
                Some(
                    s.chars()
                        .filter(|c| *c != ' ' && *c != '-')
                        .flat_map(char::to_lowercase)
                        .collect::<String>()
                        .into_bytes(),
                )
            }
            Self::Boolean => {
                let s = std::str::from_utf8(value).ok()?.trim();
                if s.eq_ignore_ascii_case("TRUE") {
                    Some(b"TRUE".to_vec())
                } else if s.eq_ignore_ascii_case("FALSE") {
                    Some(b"FALSE".to_vec())
                } else {
                    None
                }
            }
            Self::DistinguishedName => None, // needs the schema: see Schema::normalize_value
        }
    }

    /// Whether the rule folds case (substring components are folded the same way).
    pub fn folds_case(self) -> bool {
        matches!(self, Self::CaseIgnore | Self::ObjectIdentifier | Self::TelephoneNumber)
    }

    /// Orders two normalized values of this rule.
    pub fn compare_normalized(self, a: &[u8], b: &[u8]) -> Ordering {
        match self {
            Self::Integer => compare_integers(a, b),
            _ => a.cmp(b),
        }
    }
}

/// RFC 4518 insignificant-space handling: trims and collapses runs of whitespace to one
/// space; optionally folds case (full Unicode lower-casing).
pub fn fold_spaces(s: &str, fold_case: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if fold_case {
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else {
                out.extend(c.to_lowercase());
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Canonical decimal form of an integer (no leading zeros, no `+`, `-0` is `0`).
fn normalize_integer(s: &str) -> Option<String> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        return Some("0".to_string());
    }
    Some(if neg { format!("-{trimmed}") } else { trimmed.to_string() })
}

/// Compares two canonical decimal integers without parsing (they may exceed i128).
fn compare_integers(a: &[u8], b: &[u8]) -> Ordering {
    let an = a.first() == Some(&b'-');
    let bn = b.first() == Some(&b'-');
    match (an, bn) {
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
        (true, true) => b.len().cmp(&a.len()).then_with(|| b[1..].cmp(&a[1..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn case_ignore_folds_spaces_and_case() {
        let r = MatchingRule::CaseIgnore;
        assert_eq!(r.normalize(b"  John   SMITH ").unwrap(), b"john smith");
        assert_eq!(r.normalize("ÉCOLE".as_bytes()).unwrap(), "école".as_bytes());
    }

    #[test]
    fn integers_normalize_and_order() {
        let r = MatchingRule::Integer;
        assert_eq!(r.normalize(b"007").unwrap(), b"7");
        assert_eq!(r.normalize(b"-0").unwrap(), b"0");
        assert!(r.normalize(b"12a").is_none());
        let n = |s: &str| r.normalize(s.as_bytes()).unwrap();
        assert_eq!(r.compare_normalized(&n("-10"), &n("-9")), Ordering::Less);
        assert_eq!(r.compare_normalized(&n("100"), &n("99")), Ordering::Greater);
    }

    proptest! {
        #[test]
        fn normalization_is_idempotent(s in "\\PC{0,20}") {
            for r in [MatchingRule::CaseIgnore, MatchingRule::CaseExact, MatchingRule::TelephoneNumber] {
                if let Some(n) = r.normalize(s.as_bytes()) {
                    prop_assert_eq!(r.normalize(&n).unwrap(), n);
                }
            }
        }

        #[test]
        fn integer_order_agrees_with_i64(a in any::<i64>(), b in any::<i64>()) {
            let r = MatchingRule::Integer;
            let na = r.normalize(a.to_string().as_bytes()).unwrap();
            let nb = r.normalize(b.to_string().as_bytes()).unwrap();
            prop_assert_eq!(r.compare_normalized(&na, &nb), a.cmp(&b));
        }
    }
}
