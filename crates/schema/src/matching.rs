//! Matching rules: value normalization for equality, ordering and substrings.

use crate::prep;
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
            Self::Integer => normalize_integer(std::str::from_utf8(value).ok()?).map(String::into_bytes),
            // A valid time is compared as an instant; anything else as before (as a
            // prepared string), so no stored value becomes unmatchable.
            Self::GeneralizedTime => {
                let s = std::str::from_utf8(value).ok()?;
                match crate::gtime::canonical(s) {
                    Some(c) => Some(c.into_bytes()),
                    None => prep::prepare(s, self.folds_case(), self.insignificant()).map(String::into_bytes),
                }
            }
            Self::CaseIgnore
            | Self::ObjectIdentifier
            | Self::CaseExact
            | Self::NumericString
            | Self::TelephoneNumber => {
                let s = std::str::from_utf8(value).ok()?;
                prep::prepare(s, self.folds_case(), self.insignificant()).map(String::into_bytes)
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

    /// Whether the stored `value` equals an assertion value already normalized with this
    /// rule (`normalize(value) == Some(normalized)`), without allocating for the common
    /// ASCII strings.
    pub fn matches_normalized(self, value: &[u8], normalized: &[u8]) -> bool {
        match self {
            Self::OctetString => value == normalized,
            Self::CaseIgnore
            | Self::ObjectIdentifier
            | Self::CaseExact
            | Self::NumericString
            | Self::TelephoneNumber
                if value.is_ascii() =>
            {
                prep::ascii_prepared_eq(value, self.folds_case(), self.insignificant(), normalized)
            }
            _ => self.normalize(value).is_some_and(|n| n == normalized),
        }
    }

    /// Whether the rule folds case (substring components are folded the same way).
    /// numericString has only digits and spaces; folding it is harmless and RFC 4518 asks
    /// for it.
    pub fn folds_case(self) -> bool {
        matches!(self, Self::CaseIgnore | Self::ObjectIdentifier | Self::TelephoneNumber | Self::NumericString)
    }

    /// Which characters the rule ignores (RFC 4518 section 2.6).
    pub fn insignificant(self) -> prep::Insignificant {
        match self {
            Self::NumericString => prep::Insignificant::AllSpaces,
            Self::TelephoneNumber => prep::Insignificant::SpacesAndHyphens,
            _ => prep::Insignificant::Space,
        }
    }

    /// Whether values go through RFC 4518 string preparation with insignificant-space
    /// handling, so substring assertions use the section 2.6.1 forms.
    pub fn is_spaced_string(self) -> bool {
        matches!(self, Self::CaseIgnore | Self::ObjectIdentifier | Self::CaseExact | Self::GeneralizedTime)
    }

    /// Orders two normalized values of this rule.
    pub fn compare_normalized(self, a: &[u8], b: &[u8]) -> Ordering {
        match self {
            Self::Integer => compare_integers(a, b),
            _ => a.cmp(b),
        }
    }
}

/// RFC 4518 preparation with insignificant-space handling, for a string that has no
/// matching rule of its own (e.g. a DN value that its rule rejects): prohibited code points
/// are kept as they are rather than refused.
pub fn fold_spaces(s: &str, fold_case: bool) -> String {
    prep::prepare(s, fold_case, prep::Insignificant::Space).unwrap_or_else(|| {
        let mut out = String::with_capacity(s.len());
        for w in s.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
        }
        if fold_case {
            out.to_lowercase()
        } else {
            out
        }
    })
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

    const ALL_RULES: [MatchingRule; 9] = [
        MatchingRule::CaseIgnore,
        MatchingRule::CaseExact,
        MatchingRule::Integer,
        MatchingRule::NumericString,
        MatchingRule::TelephoneNumber,
        MatchingRule::Boolean,
        MatchingRule::OctetString,
        MatchingRule::GeneralizedTime,
        MatchingRule::ObjectIdentifier,
    ];

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
        fn normalization_is_idempotent(s in "\\PC{0,20}|[ -~\u{00A0}-\u{036F}\u{1E00}-\u{1FFF}\u{2000}-\u{218F}\u{3000}-\u{3020}\u{FB00}-\u{FB06}\u{FF01}-\u{FF65}]{0,20}") {
            for r in ALL_RULES {
                if let Some(n) = r.normalize(s.as_bytes()) {
                    prop_assert_eq!(r.normalize(&n), Some(n.clone()), "{:?}", r);
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
