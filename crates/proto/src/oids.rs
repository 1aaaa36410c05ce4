//! Object identifiers of the extended operations, controls and features Birch knows.
//!
//! Extended operations and unsolicited notifications first, then controls, then the
//! `supportedFeatures` values of the root DSE.

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
/// Tree delete control (draft-armijo-ldap-treedelete).
pub const TREE_DELETE: &str = "1.2.840.113556.1.4.805";
/// Permissive modify control (Active Directory, also in OpenLDAP).
pub const PERMISSIVE_MODIFY: &str = "1.2.840.113556.1.4.1413";
/// Password policy control (draft-behera-ldap-password-policy).
pub const PASSWORD_POLICY: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
/// Content synchronization request control (RFC 4533).
pub const SYNC_REQUEST: &str = "1.3.6.1.4.1.4203.1.9.1.1";
/// Content synchronization state control (RFC 4533).
pub const SYNC_STATE: &str = "1.3.6.1.4.1.4203.1.9.1.2";
/// Content synchronization done control (RFC 4533).
pub const SYNC_DONE: &str = "1.3.6.1.4.1.4203.1.9.1.3";
/// Server-side sort request control (RFC 2891).
pub const SERVER_SORT: &str = "1.2.840.113556.1.4.473";
/// Server-side sort response control (RFC 2891).
pub const SERVER_SORT_RESULT: &str = "1.2.840.113556.1.4.474";
/// Feature: all operational attributes via `+` (RFC 3673).
pub const FEATURE_ALL_OPERATIONAL_ATTRIBUTES: &str = "1.3.6.1.4.1.4203.1.5.1";
/// Feature: attributes of an object class via `@objectClass` (RFC 4529).
pub const FEATURE_OC_AD_LISTS: &str = "1.3.6.1.4.1.4203.1.5.2";
/// Feature: absolute true `(&)` and false `(|)` filters (RFC 4526).
pub const FEATURE_TRUE_FALSE_FILTERS: &str = "1.3.6.1.4.1.4203.1.5.3";
/// Feature: language tag options (RFC 3866).
pub const FEATURE_LANGUAGE_TAG_OPTIONS: &str = "1.3.6.1.4.1.4203.1.5.4";
/// Feature: language range options (RFC 3866).
pub const FEATURE_LANGUAGE_RANGE_OPTIONS: &str = "1.3.6.1.4.1.4203.1.5.5";
/// Feature: the Modify-Increment extension (RFC 4525).
pub const FEATURE_MODIFY_INCREMENT: &str = "1.3.6.1.1.14";
