//! Object identifiers used by the protocol layer.

/// WhoAmI extended operation (RFC 4532).
pub const WHOAMI: &str = "1.3.6.1.4.1.4203.1.11.3";
/// Password Modify extended operation (RFC 3062).
pub const PASSWORD_MODIFY: &str = "1.3.6.1.4.1.4203.1.11.1";
/// StartTLS extended operation (RFC 4511 section 4.14).
pub const START_TLS: &str = "1.3.6.1.4.1.1466.20037";
/// Notice of Disconnection unsolicited notification (RFC 4511 section 4.4.1).
pub const NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";
/// ManageDsaIT control (RFC 3296).
pub const MANAGE_DSA_IT: &str = "2.16.840.1.113730.3.4.2";
/// Simple paged results control (RFC 2696).
pub const PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
/// Assertion control (RFC 4528).
pub const ASSERTION: &str = "1.3.6.1.1.12";
/// Pre-read control (RFC 4527).
pub const PRE_READ: &str = "1.3.6.1.1.13.1";
/// Post-read control (RFC 4527).
pub const POST_READ: &str = "1.3.6.1.1.13.2";
/// Tree delete control.
pub const TREE_DELETE: &str = "1.2.840.113556.1.4.805";
/// Permissive modify control.
pub const PERMISSIVE_MODIFY: &str = "1.2.840.113556.1.4.1413";
/// Password policy control (draft-behera-ldap-password-policy).
pub const PASSWORD_POLICY: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
/// Content synchronization request control (RFC 4533).
pub const SYNC_REQUEST: &str = "1.3.6.1.4.1.4203.1.9.1.1";
/// Feature: all operational attributes via `+` (RFC 3673).
pub const FEATURE_ALL_OPERATIONAL_ATTRIBUTES: &str = "1.3.6.1.4.1.4203.1.5.1";
