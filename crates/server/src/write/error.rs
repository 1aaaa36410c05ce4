//! Why a write failed, and the LDAP result it answers (OpenLDAP's codes and messages).

use birch_proto::ldap3_proto::proto::LdapResultCode;
use birch_proto::ppolicy::PolicyError;
use birch_store::StoreError;

/// Why a write failed.
#[derive(Debug)]
pub enum WriteError {
    /// Answer with this code and message.
    Ldap(LdapResultCode, String),
    /// The password policy refused the change: the code, the response control's error and
    /// the message.
    Policy(LdapResultCode, PolicyError, String),
    /// Answer with this code, matched DN and message.
    Matched(LdapResultCode, String, String),
    /// Password Modify's old password did not verify (counted as a failed bind; `locked`:
    /// that failure locked the account after `failures`).
    WrongOldPassword {
        /// Whether this failure locked the account.
        locked: bool,
        /// pwdMaxFailure of the account's policy.
        failures: u32,
    },
    /// The store failed (or reported a missing or existing entry).
    Store(StoreError),
}

impl WriteError {
    /// An error answered with `code` and `text`.
    pub fn ldap(code: LdapResultCode, text: impl Into<String>) -> WriteError {
        WriteError::Ldap(code, text.into())
    }

    /// The password policy error to return in the response control, if any.
    pub fn policy_error(&self) -> Option<PolicyError> {
        match self {
            WriteError::Policy(_, e, _) => Some(*e),
            _ => None,
        }
    }
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}

impl From<crate::ppolicy::change::Refusal> for WriteError {
    fn from(r: crate::ppolicy::change::Refusal) -> Self {
        WriteError::Policy(r.code, r.error, r.message)
    }
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Ldap(code, text) | WriteError::Policy(code, _, text) | WriteError::Matched(code, _, text) => {
                write!(f, "{}", crate::write::error::describe(code, text))
            }
            WriteError::WrongOldPassword { .. } => write!(f, "unwilling to verify old password"),
            WriteError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WriteError {}

/// `Code: message` (or the code alone) as a file-based caller reports it.
pub fn describe(code: &LdapResultCode, text: &str) -> String {
    if text.is_empty() {
        format!("{code:?}")
    } else {
        format!("{code:?}: {text}")
    }
}
