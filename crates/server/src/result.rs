//! LDAP results shared by every layer that answers a client: building an LDAPResult, the
//! response op of a request, and what a store failure answers.

use birch_proto::ldap3_proto::proto::{LdapOp, LdapResult, LdapResultCode};

/// Builds an LDAPResult.
pub fn result(code: LdapResultCode, matched: &str, message: &str) -> LdapResult {
    LdapResult { code, matcheddn: matched.to_string(), message: message.to_string(), referral: vec![] }
}

/// The response op matching a request op, carrying `res`; `None` for requests without a
/// response (unbind, abandon) or that are not requests.
pub fn response_op(req: &LdapOp, res: LdapResult) -> Option<LdapOp> {
    birch_proto::codec::response_op(birch_proto::codec::request_tag(req)?, res)
}

/// Maps a store failure to an LDAP result (and logs unexpected ones).
pub fn store_failure(e: &birch_store::StoreError) -> LdapResult {
    match e {
        birch_store::StoreError::NotUnique { attr, .. } => result(
            LdapResultCode::ConstraintViolation,
            "",
            &format!("{attr}: value is already in use by another entry"),
        ),
        birch_store::StoreError::Failed(_) => {
            crate::metrics::STORE_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(error = %e, "write refused");
            result(LdapResultCode::Other, "", &e.to_string())
        }
        _ => {
            crate::metrics::STORE_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(error = %e, "store error");
            // `other`, as slapd answers a failing database (e.g. a full disk): the client
            // learns this is no fault of its request.
            result(
                LdapResultCode::Other,
                "",
                &format!("the directory store failed ({e}); the change may not have been saved"),
            )
        }
    }
}
