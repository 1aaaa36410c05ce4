//! The password policy response control (draft-behera-ldap-password-policy section 6.2,
//! OID 1.3.6.1.4.1.42.2.27.8.5.1), as OpenLDAP's ppolicy overlay, pam_ldap and SSSD use it.
//!
//! ```text
//! PasswordPolicyResponseValue ::= SEQUENCE {
//!    warning [0] CHOICE {
//!       timeBeforeExpiration [0] INTEGER (0 .. maxInt),
//!       graceAuthNsRemaining [1] INTEGER (0 .. maxInt) } OPTIONAL,
//!    error   [1] ENUMERATED { passwordExpired (0), accountLocked (1), ... } OPTIONAL }
//! ```
//!
//! Encoded by hand: `ldap3_proto` does not know the control, and the value is three small
//! tagged integers, simpler to write directly than to build as generic BER structures.

use crate::oids;
use ldap3_proto::control::LdapControl;

/// The warning half of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyWarning {
    /// Seconds until the password expires.
    TimeBeforeExpiration(u32),
    /// Grace binds left after this one.
    GraceAuthNsRemaining(u32),
}

/// The error half of the response (the draft's enumeration; values are on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PolicyError {
    /// The password has expired and no grace binds are left.
    PasswordExpired = 0,
    /// The account is locked (failures, or disabled by an administrator).
    AccountLocked = 1,
    /// The password was reset by an administrator and must be changed first.
    ChangeAfterReset = 2,
    /// The policy does not let the user change their password.
    PasswordModNotAllowed = 3,
    /// The policy requires the old password with a change.
    MustSupplyOldPassword = 4,
    /// The new password fails the quality check.
    InsufficientPasswordQuality = 5,
    /// The new password is shorter than pwdMinLength.
    PasswordTooShort = 6,
    /// The password was changed less than pwdMinAge ago.
    PasswordTooYoung = 7,
    /// The new password is the current one or in the history.
    PasswordInHistory = 8,
    /// The new password is longer than pwdMaxLength.
    PasswordTooLong = 9,
}

impl PolicyError {
    fn from_wire(v: u8) -> Option<PolicyError> {
        use PolicyError::*;
        [
            PasswordExpired,
            AccountLocked,
            ChangeAfterReset,
            PasswordModNotAllowed,
            MustSupplyOldPassword,
            InsufficientPasswordQuality,
            PasswordTooShort,
            PasswordTooYoung,
            PasswordInHistory,
            PasswordTooLong,
        ]
        .into_iter()
        .find(|e| *e as u8 == v)
    }
}

/// A password policy response: an optional warning and an optional error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyResponse {
    /// Expiry warning or grace binds left.
    pub warning: Option<PolicyWarning>,
    /// Why the operation failed (or, for changeAfterReset, what the client must do).
    pub error: Option<PolicyError>,
}

/// BER INTEGER contents: big-endian two's complement, minimal, non-negative here.
fn int_bytes(v: u32) -> Vec<u8> {
    let mut b: Vec<u8> = v.to_be_bytes().to_vec();
    while b.len() > 1 && b[0] == 0 && b[1] & 0x80 == 0 {
        b.remove(0);
    }
    if b[0] & 0x80 != 0 {
        b.insert(0, 0);
    }
    b
}

impl PolicyResponse {
    /// The response carrying only `error`.
    pub fn error(error: PolicyError) -> PolicyResponse {
        PolicyResponse { warning: None, error: Some(error) }
    }

    /// The BER value (all lengths are short-form: the value is at most 13 bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        if let Some(w) = self.warning {
            let (tag, v) = match w {
                PolicyWarning::TimeBeforeExpiration(v) => (0x80, v),
                PolicyWarning::GraceAuthNsRemaining(v) => (0x81, v),
            };
            let n = int_bytes(v);
            body.extend([0xa0, n.len() as u8 + 2, tag, n.len() as u8]);
            body.extend(n);
        }
        if let Some(e) = self.error {
            body.extend([0x81, 1, e as u8]);
        }
        let mut out = vec![0x30, body.len() as u8];
        out.extend(body);
        out
    }

    /// Decodes a value made by [`encode`](Self::encode) or by another server (short-form
    /// lengths only, which is all this value ever needs).
    pub fn decode(value: &[u8]) -> Option<PolicyResponse> {
        let (&[0x30, len], mut rest) = value.split_first_chunk::<2>()? else { return None };
        if rest.len() != usize::from(len) {
            return None;
        }
        let mut out = PolicyResponse::default();
        while let Some((&[tag, len], tail)) = rest.split_first_chunk::<2>() {
            let body = tail.get(..usize::from(len))?;
            rest = &tail[usize::from(len)..];
            match tag {
                0xa0 => {
                    let (&[inner, n], v) = body.split_first_chunk::<2>()?;
                    if v.len() != usize::from(n) || v.is_empty() || v.len() > 5 {
                        return None;
                    }
                    let value = v.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
                    let value = u32::try_from(value).ok()?;
                    out.warning = Some(match inner {
                        0x80 => PolicyWarning::TimeBeforeExpiration(value),
                        0x81 => PolicyWarning::GraceAuthNsRemaining(value),
                        _ => return None,
                    });
                }
                0x81 if body.len() == 1 => out.error = Some(PolicyError::from_wire(body[0])?),
                _ => return None,
            }
        }
        rest.is_empty().then_some(out)
    }

    /// The response control.
    pub fn control(&self) -> LdapControl {
        LdapControl::Unknown { oid: oids::PASSWORD_POLICY.to_string(), criticality: false, value: Some(self.encode()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_as_openldap_does() {
        // OpenLDAP's accountLocked response: SEQUENCE { [1] 1 }.
        assert_eq!(PolicyResponse::error(PolicyError::AccountLocked).encode(), [0x30, 3, 0x81, 1, 1]);
        let grace = PolicyResponse { warning: Some(PolicyWarning::GraceAuthNsRemaining(2)), error: None };
        assert_eq!(grace.encode(), [0x30, 5, 0xa0, 3, 0x81, 1, 2]);
        let expiring = PolicyResponse { warning: Some(PolicyWarning::TimeBeforeExpiration(200)), error: None };
        assert_eq!(expiring.encode(), [0x30, 6, 0xa0, 4, 0x80, 2, 0, 200]);
        assert_eq!(PolicyResponse::default().encode(), [0x30, 0]);
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [&[][..], &[0x30], &[0x30, 3, 0x81, 1], &[0x30, 3, 0x81, 1, 42], &[0x31, 0], &[0x30, 2, 0x82, 0]] {
            assert_eq!(PolicyResponse::decode(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn round_trips(w in proptest::option::of((any::<bool>(), any::<u32>())), e in proptest::option::of(0u8..10)) {
            let warning = w.map(|(t, v)| if t { PolicyWarning::TimeBeforeExpiration(v) } else { PolicyWarning::GraceAuthNsRemaining(v) });
            let r = PolicyResponse { warning, error: e.and_then(PolicyError::from_wire) };
            prop_assert_eq!(PolicyResponse::decode(&r.encode()), Some(r));
        }
    }
}
