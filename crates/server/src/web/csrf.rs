//! CSRF tokens. A logged-in session has one token for all its forms (`WebSession::csrf`);
//! the login form, before there is a session, uses a double-submit token: the same random
//! value in the `birch_csrf` cookie (HttpOnly, SameSite=Strict) and in the form. Every POST
//! compares the form's `csrf` with the expected token in constant time; a mismatch is a 403
//! and nothing is done.

use subtle::ConstantTimeEq;

/// The cookie holding the login form's token.
pub const LOGIN_COOKIE: &str = "birch_csrf";

/// Whether the token a form sent matches the expected one (constant time; an empty
/// expected token never matches).
pub fn matches(expected: &str, sent: Option<&str>) -> bool {
    let Some(sent) = sent else { return false };
    !expected.is_empty() && expected.len() == sent.len() && bool::from(expected.as_bytes().ct_eq(sent.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_token_matches() {
        let t = super::super::sessions::random_token();
        assert!(matches(&t, Some(&t)));
        assert!(!matches(&t, None));
        assert!(!matches(&t, Some("")));
        assert!(!matches(&t, Some(&t[..63])));
        let mut other = t.clone().into_bytes();
        other[0] = if other[0] == b'a' { b'b' } else { b'a' };
        assert!(!matches(&t, Some(std::str::from_utf8(&other).unwrap())));
        assert!(!matches("", Some("")));
    }
}
