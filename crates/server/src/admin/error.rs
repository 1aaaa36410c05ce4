//! Failures of the admin commands and the exit codes scripts can test (docs/admin.md).

use ldap3::LdapResult;

/// Exit codes of the admin commands. 2 is clap's code for a usage error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Any other error (a protocol error, a bad value, a local file).
    Error = 1,
    /// The user, group or service does not exist (LDAP 32 noSuchObject).
    NotFound = 3,
    /// Access control refused the operation (LDAP 50 insufficientAccessRights).
    Denied = 4,
    /// No connection, TLS failure, or the bind failed (LDAP 49 invalidCredentials...).
    Connection = 5,
    /// It exists already (LDAP 68 entryAlreadyExists, 20 attributeOrValueExists).
    Exists = 6,
    /// Refused by a rule: the password policy, the schema, or a campus rule the command
    /// checks (delete only a disabled account...). LDAP 19, 53, 65...
    Refused = 7,
}

/// A failed command: what to print and how to exit.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// The exit code.
    pub code: Exit,
    /// One line naming the operation, the LDAP result and its diagnostic.
    pub message: String,
}

impl Failure {
    /// A failure with a code and a message.
    pub fn new(code: Exit, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }

    /// Any other error.
    pub fn other(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Error, message)
    }

    /// `what` does not exist.
    pub fn not_found(what: impl std::fmt::Display) -> Failure {
        Failure::new(Exit::NotFound, format!("{what}: not found"))
    }

    /// A failed LDAP operation `what`, named by its result code and diagnostic.
    pub fn ldap(what: &str, r: &LdapResult) -> Failure {
        let mut message = format!("{what}: LDAP {} {}", r.rc, rc_name(r.rc));
        if !r.text.is_empty() {
            message.push_str(": ");
            message.push_str(&r.text);
        }
        Failure::new(exit_for(r.rc), message)
    }

    /// The connection failed or broke (`ldap3`'s error).
    pub fn connection(what: &str, e: ldap3::LdapError) -> Failure {
        Failure::new(Exit::Connection, format!("{what}: {e}"))
    }
}

/// The exit code of an LDAP result code.
pub fn exit_for(rc: u32) -> Exit {
    match rc {
        32 => Exit::NotFound,
        50 => Exit::Denied,
        7 | 8 | 13 | 48 | 49 | 51 | 52 => Exit::Connection,
        20 | 68 => Exit::Exists,
        19 | 21 | 53 | 64 | 65 | 66 | 67 | 69 => Exit::Refused,
        _ => Exit::Error,
    }
}

/// RFC 4511's name of a result code.
///
/// Hand-written: `ldap3_proto::LdapResultCode` has the codes, but its variant names are
/// Rust's (`StrongerAuthRequired`) and one is misspelt (`InsufficentAccessRights`), while
/// scripts and admins match on the RFC's spelling (`insufficientAccessRights`).
pub fn rc_name(rc: u32) -> &'static str {
    match rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        11 => "adminLimitExceeded",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        80 => "other",
        _ => "unknown result",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_map_to_exit_codes() {
        assert_eq!(exit_for(32), Exit::NotFound);
        assert_eq!(exit_for(50), Exit::Denied);
        assert_eq!(exit_for(49), Exit::Connection);
        assert_eq!(exit_for(68), Exit::Exists);
        assert_eq!(exit_for(19), Exit::Refused);
        assert_eq!(exit_for(80), Exit::Error);
    }

    #[test]
    fn message_names_code_and_diagnostic() {
        let r =
            LdapResult { rc: 50, matched: String::new(), text: "no write access".into(), refs: vec![], ctrls: vec![] };
        assert_eq!(Failure::ldap("add x", &r).message, "add x: LDAP 50 insufficientAccessRights: no write access");
    }
}
