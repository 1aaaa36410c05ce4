//! Helpers over `ldap3_proto`'s decoded controls.

use ldap3_proto::control::LdapControl;

/// The OID of a decoded control.
pub fn control_oid(c: &LdapControl) -> String {
    match c {
        LdapControl::SyncRequest { .. } => "1.3.6.1.4.1.4203.1.9.1.1",
        LdapControl::SyncState { .. } => "1.3.6.1.4.1.4203.1.9.1.2",
        LdapControl::SyncDone { .. } => "1.3.6.1.4.1.4203.1.9.1.3",
        LdapControl::AdDirsync { .. } => "1.2.840.113556.1.4.841",
        LdapControl::SimplePagedResults { .. } => "1.2.840.113556.1.4.319",
        LdapControl::ManageDsaIT { .. } => "2.16.840.1.113730.3.4.2",
        LdapControl::ServerSort { .. } => "1.2.840.113556.1.4.473",
        LdapControl::ServerSortResult { .. } => "1.2.840.113556.1.4.474",
        LdapControl::PasswordPolicyRequest { .. } => "1.3.6.1.4.1.42.2.27.8.5.1",
        LdapControl::SearchOptions { .. } => "1.2.840.113556.1.4.1338",
        LdapControl::ShowDeleted { .. } => "1.2.840.113556.1.4.417",
        LdapControl::SdFlags { .. } => "1.2.840.113556.1.4.801",
        LdapControl::ExtendedDn { .. } => "1.2.840.113556.1.4.529",
        LdapControl::Unknown { oid, .. } => return oid.clone(),
    }
    .to_string()
}

/// Whether a control was marked critical. `ldap3_proto` drops the criticality of some
/// controls when decoding (paged results, sort, sync state/done); they count as
/// non-critical.
pub fn is_critical(c: &LdapControl) -> bool {
    match c {
        LdapControl::SyncRequest { criticality, .. }
        | LdapControl::ManageDsaIT { criticality }
        | LdapControl::PasswordPolicyRequest { criticality }
        | LdapControl::SearchOptions { criticality, .. }
        | LdapControl::ShowDeleted { criticality }
        | LdapControl::SdFlags { criticality, .. }
        | LdapControl::ExtendedDn { criticality, .. }
        | LdapControl::Unknown { criticality, .. } => *criticality,
        LdapControl::SyncState { .. }
        | LdapControl::SyncDone { .. }
        | LdapControl::AdDirsync { .. }
        | LdapControl::SimplePagedResults { .. }
        | LdapControl::ServerSort { .. }
        | LdapControl::ServerSortResult { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_controls_keep_oid_and_criticality() {
        let c = LdapControl::Unknown { oid: "1.2.3".into(), criticality: true, value: None };
        assert_eq!(control_oid(&c), "1.2.3");
        assert!(is_critical(&c));
        let m = LdapControl::ManageDsaIT { criticality: false };
        assert_eq!(control_oid(&m), "2.16.840.1.113730.3.4.2");
        assert!(!is_critical(&m));
    }
}
