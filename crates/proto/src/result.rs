//! Building `LDAPResult` values and reading their result codes.

use ldap3_proto::proto::{LdapResult, LdapResultCode};

/// An `LDAPResult` with `code`, matched DN `matched` and diagnostic `message`, and no
/// referrals.
pub fn ldap_result(code: LdapResultCode, matched: &str, message: &str) -> LdapResult {
    LdapResult { code, matcheddn: matched.to_string(), message: message.to_string(), referral: Vec::new() }
}

/// A plain `success` result.
pub fn success() -> LdapResult {
    ldap_result(LdapResultCode::Success, "", "")
}

/// A `protocolError` result carrying `message`.
pub fn protocol_error(message: &str) -> LdapResult {
    ldap_result(LdapResultCode::ProtocolError, "", message)
}

/// The numeric result code sent on the wire (RFC 4511 section 4.1.9), e.g. 32 for
/// `noSuchObject`; the form access logs print (`err=32`).
pub fn code_number(code: &LdapResultCode) -> i32 {
    // A field-less enum with explicit discriminants, all of which fit an i32 (largest: 4096).
    code.clone() as i32
}

/// Whether `code` reports success in the sense of RFC 4511 section 4.1.9: `success`,
/// and the non-error outcomes `compareFalse`, `compareTrue`, `referral` and
/// `saslBindInProgress`.
pub fn is_success(code: &LdapResultCode) -> bool {
    matches!(
        code,
        LdapResultCode::Success
            | LdapResultCode::CompareFalse
            | LdapResultCode::CompareTrue
            | LdapResultCode::Referral
            | LdapResultCode::SaslBindInProgress
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_results_and_numbers_codes() {
        let r = ldap_result(LdapResultCode::NoSuchObject, "dc=example,dc=org", "no such entry");
        assert_eq!(r.matcheddn, "dc=example,dc=org");
        assert_eq!(r.message, "no such entry");
        assert!(r.referral.is_empty());
        assert_eq!(code_number(&r.code), 32);
        assert_eq!(code_number(&success().code), 0);
        assert_eq!(code_number(&protocol_error("x").code), 2);
        assert_eq!(code_number(&LdapResultCode::InvalidCredentials), 49);
        assert_eq!(code_number(&LdapResultCode::AssertionFailed), 122);
        assert_eq!(code_number(&LdapResultCode::EsyncRefreshRequired), 4096);
        assert!(is_success(&LdapResultCode::CompareTrue));
        assert!(!is_success(&LdapResultCode::Other));
    }
}
