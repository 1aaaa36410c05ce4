//! Helpers over `ldap3_proto`'s decoded controls.

use ldap3_proto::control::LdapControl;

use crate::oids;

/// The OID of a decoded control, the one `ldap3_proto` 0.9.0 maps to its variant (or the
/// one received, for controls it does not know).
pub fn control_oid(c: &LdapControl) -> String {
    match c {
        LdapControl::SyncRequest { .. } => oids::SYNC_REQUEST,
        LdapControl::SyncState { .. } => oids::SYNC_STATE,
        LdapControl::SyncDone { .. } => oids::SYNC_DONE,
        LdapControl::AdDirsync { .. } => "1.2.840.113556.1.4.841",
        LdapControl::SimplePagedResults { .. } => oids::PAGED_RESULTS,
        LdapControl::ManageDsaIT { .. } => oids::MANAGE_DSA_IT,
        LdapControl::ServerSort { .. } => oids::SERVER_SORT,
        LdapControl::ServerSortResult { .. } => oids::SERVER_SORT_RESULT,
        LdapControl::PasswordPolicyRequest { .. } => oids::PASSWORD_POLICY,
        LdapControl::SearchOptions { .. } => "1.2.840.113556.1.4.1338",
        LdapControl::ShowDeleted { .. } => "1.2.840.113556.1.4.417",
        LdapControl::SdFlags { .. } => "1.2.840.113556.1.4.801",
        LdapControl::ExtendedDn { .. } => "1.2.840.113556.1.4.529",
        LdapControl::Unknown { oid, .. } => return oid.clone(),
    }
    .to_string()
}

/// Whether a control was marked critical. `ldap3_proto` drops the criticality of some
/// controls when decoding (sync state/done, dirsync, paged results, sort request and
/// result); they count as non-critical.
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
    use ldap3_lber::structure::PL;
    use ldap3_lber::structures::{ASNTag, Tag};
    use ldap3_proto::control::{ServerSortRequet, ServerSortResult};
    use ldap3_proto::proto::{LdapResultCode, SyncRequestMode, SyncStateValue};

    /// One control of every variant.
    fn all_variants() -> Vec<LdapControl> {
        vec![
            LdapControl::SyncRequest {
                criticality: true,
                mode: SyncRequestMode::RefreshOnly,
                cookie: None,
                reload_hint: false,
            },
            LdapControl::SyncState { state: SyncStateValue::Add, entry_uuid: uuid::Uuid::nil(), cookie: None },
            LdapControl::SyncDone { cookie: None, refresh_deletes: false },
            LdapControl::AdDirsync { flags: 0, max_bytes: 0, cookie: None },
            LdapControl::SimplePagedResults { size: 10, cookie: vec![] },
            LdapControl::ManageDsaIT { criticality: false },
            LdapControl::ServerSort {
                sort_requests: vec![ServerSortRequet {
                    attribute_name: "cn".into(),
                    ordering_rule: None,
                    reverse_order: false,
                }],
            },
            LdapControl::ServerSortResult {
                sort_result: ServerSortResult { result_code: LdapResultCode::Success, attribute_type: None },
            },
            LdapControl::PasswordPolicyRequest { criticality: false },
            LdapControl::SearchOptions { criticality: true, flags: 2 },
            LdapControl::ShowDeleted { criticality: false },
            LdapControl::SdFlags { criticality: true, flags: 7 },
            LdapControl::ExtendedDn { criticality: false, format: 1 },
            LdapControl::Unknown { oid: "1.2.3".into(), criticality: true, value: None },
        ]
    }

    /// The OID `ldap3_proto` writes on the wire for a control.
    fn wire_oid(c: &LdapControl) -> String {
        let tag: Tag = c.clone().into();
        let PL::C(children) = tag.into_structure().payload else {
            panic!("a control is a SEQUENCE");
        };
        let PL::P(oid) = &children[0].payload else {
            panic!("the OID is an OCTET STRING");
        };
        String::from_utf8(oid.clone()).unwrap()
    }

    #[test]
    fn oids_match_what_ldap3_proto_encodes() {
        for c in all_variants() {
            assert_eq!(control_oid(&c), wire_oid(&c), "{c:?}");
        }
    }

    #[test]
    fn criticality_survives_where_ldap3_proto_keeps_it() {
        for c in all_variants() {
            let tag: Tag = c.clone().into();
            match LdapControl::try_from(tag.into_structure()) {
                Ok(decoded) => assert_eq!(is_critical(&decoded), is_critical(&c), "{c:?}"),
                // ldap3_proto 0.9.0 cannot decode the sort result control it encodes; a
                // server only sends that one.
                Err(e) => assert!(matches!(c, LdapControl::ServerSortResult { .. }), "{c:?}: {e:?}"),
            }
        }
        let u = LdapControl::Unknown { oid: "1.2.3".into(), criticality: true, value: None };
        assert_eq!(control_oid(&u), "1.2.3");
        assert!(is_critical(&u));
        assert!(!is_critical(&LdapControl::ManageDsaIT { criticality: false }));
        assert!(is_critical(&LdapControl::ManageDsaIT { criticality: true }));
    }
}
