//! Tree relations of normalized DNs, read off their strings: the parent, whether one is
//! below another, and search scopes. The one home of these helpers (the store, the ACL
//! evaluator and `cn=Monitor` use them).
//!
//! A normalized DN ([`crate::Dn::normalize`]) separates RDNs with `,` and escapes a `,`
//! inside a value as `\,` (and `\` as `\\`): a comma is a separator unless an odd number
//! of backslashes precede it. Every escape is a backslash and one more byte (a hex
//! escape such as `\2C` is read as `\2` followed by `C`, neither of them a comma).

/// A search scope (RFC 4511 section 4.5.1.2, with the subordinate scope of
/// draft-sermersheim-ldap-subordinate-scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The base entry only.
    Base,
    /// The base's immediate children.
    One,
    /// The base and all its descendants.
    Sub,
    /// All descendants, not the base.
    Children,
}

/// The normalized DN of the parent of `ndn` (empty for a top entry and for the root DSE).
pub fn parent(ndn: &str) -> &str {
    // The first unescaped ',' ends the RDN.
    let b = ndn.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b',' => return &ndn[i + 1..],
            _ => i += 1,
        }
    }
    ""
}

/// Whether `ndn` is a descendant of `base`, not `base` itself (every entry is below the
/// root DSE, `""`).
pub fn is_below(ndn: &str, base: &str) -> bool {
    if base.is_empty() {
        return !ndn.is_empty();
    }
    let Some(head) = ndn.strip_suffix(base).and_then(|h| h.strip_suffix(',')) else { return false };
    // The ',' before `base` must separate RDNs, not be an escaped one inside a value.
    let backslashes = head.bytes().rev().take_while(|&c| c == b'\\').count();
    !head.is_empty() && backslashes % 2 == 0
}

/// Whether `ndn` is `base` or one of its descendants.
pub fn is_under(ndn: &str, base: &str) -> bool {
    ndn == base || is_below(ndn, base)
}

/// Whether `ndn` is an immediate child of `base`.
pub fn is_child(ndn: &str, base: &str) -> bool {
    !ndn.is_empty() && parent(ndn) == base
}

/// Whether the entry `ndn` is within `scope` of the base `base`.
pub fn in_scope(ndn: &str, base: &str, scope: Scope) -> bool {
    match scope {
        Scope::Base => ndn == base,
        Scope::One => is_child(ndn, base),
        Scope::Sub => is_under(ndn, base),
        Scope::Children => is_below(ndn, base),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escaped_commas_are_inside_values() {
        assert_eq!(parent(r"cn=a\,b,ou=x"), "ou=x");
        assert_eq!(parent(r"cn=a\\,ou=x"), "ou=x");
        assert_eq!(parent(r"cn=a\\\,ou=x"), "");
        assert_eq!(parent("dc=x"), "");
        assert_eq!(parent(""), "");
        // The value "a,ou=x": one RDN, a top entry, not a child of ou=x.
        assert!(!is_below(r"cn=a\,ou=x", "ou=x"));
        assert!(!in_scope(r"cn=a\,ou=x", "ou=x", Scope::Sub));
        assert!(is_below(r"cn=a\\,ou=x", "ou=x"));
        assert!(!is_below(r"cn=a\\\,ou=x", "ou=x"));
        assert!(in_scope(r"cn=a\,b,ou=x", "ou=x", Scope::One));
        assert!(!in_scope(r"cn=c,cn=a\,b,ou=x", "ou=x", Scope::One));
    }

    #[test]
    fn scopes() {
        let (base, child, grandchild) = ("dc=x", "ou=p,dc=x", "uid=a,ou=p,dc=x");
        assert!(in_scope(base, base, Scope::Base) && !in_scope(child, base, Scope::Base));
        assert!(in_scope(child, base, Scope::One) && !in_scope(grandchild, base, Scope::One));
        assert!(!in_scope(base, base, Scope::One));
        assert!([base, child, grandchild].iter().all(|n| in_scope(n, base, Scope::Sub)));
        assert!(!in_scope(base, base, Scope::Children) && in_scope(grandchild, base, Scope::Children));
        assert!(!is_under("uid=a,dc=xx", "dc=x") && !is_under("dc=x", "uid=a,dc=x"));
        // The root DSE is above everything.
        assert!(is_under("dc=x", "") && is_under("", "") && !is_below("", ""));
        assert!(in_scope("dc=x", "", Scope::One) && !in_scope("ou=p,dc=x", "", Scope::One));
    }

    /// A normalized-looking RDN: `cn=` and an escaped value, from an alphabet rich in the
    /// characters that need escaping.
    fn rdn() -> impl Strategy<Value = String> {
        proptest::collection::vec(prop::sample::select(vec!['a', 'b', ',', '\\', '+', '=', ' ', '#', '"']), 1..4)
            .prop_map(|chars| {
                let mut out = String::from("cn=");
                crate::dn::escape_value_into(&chars.into_iter().collect::<String>(), &mut out);
                out
            })
    }

    fn join(rdns: &[String]) -> String {
        rdns.join(",")
    }

    proptest! {
        #[test]
        fn parent_of_a_child_is_the_dn(base in proptest::collection::vec(rdn(), 0..4), r in rdn()) {
            let x = join(&base);
            let child = if x.is_empty() { r.clone() } else { format!("{r},{x}") };
            prop_assert_eq!(parent(&child), x.as_str());
            prop_assert!(is_child(&child, &x));
            prop_assert!(is_below(&child, &x));
            prop_assert!(!is_below(&x, &child));
            prop_assert!(is_under(&x, &x) && !is_below(&x, &x));
        }

        /// `is_below` agrees with the RDN lists: `a` is below `b` iff `b`'s RDNs are a
        /// proper tail of `a`'s.
        #[test]
        fn below_is_a_proper_tail_of_rdns(
            a in proptest::collection::vec(rdn(), 0..4),
            b in proptest::collection::vec(rdn(), 0..3),
        ) {
            let tail = b.len() < a.len() && a[a.len() - b.len()..] == b[..];
            prop_assert_eq!(is_below(&join(&a), &join(&b)), tail);
            prop_assert_eq!(in_scope(&join(&a), &join(&b), Scope::One), b.len() + 1 == a.len() && tail);
        }
    }
}
