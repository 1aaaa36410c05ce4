//! Secret attributes: the attribute types that hold passwords or password hashes (and one
//! of replication bookkeeping, below). Nobody
//! reads, searches or compares them, whatever the rules say (the root DN included): they are
//! never returned, never match in a filter, an assertion or a compare. This is the one list
//! the whole server consults (access decisions, the audit log's LDIF, sync searches).

/// The secret attribute types, as (canonical name, OID).
///
/// - `userPassword` (RFC 4519): the password, hashed.
/// - `authPassword` (RFC 3112): scheme-tagged password hashes.
/// - `pwdHistory` (draft-behera ppolicy): previous password hashes with their times.
/// - `birchAttrCSN`: multi-provider bookkeeping (when each attribute changed), which only
///   replication reads: kept out of every client's view like the rest of this list.
pub const SECRET_ATTRIBUTES: &[(&str, &str)] = &[
    ("userpassword", "2.5.4.35"),
    ("authpassword", "1.3.6.1.4.1.4203.1.3.4"),
    ("pwdhistory", "1.3.6.1.4.1.42.2.27.8.1.20"),
    ("birchattrcsn", "2.25.157981809880488326345928216692401146346.1.5"),
];

/// Secret attributes a replication peer receives only when it names them in its sync
/// search (not with `*` or `+`): types a consumer that is not Birch (slapd) would not know.
pub fn by_name_only(canonical: &str) -> bool {
    canonical == "birchattrcsn"
}

/// Whether an attribute description names a secret attribute type: a name in any case or
/// an OID (`OID.` prefix allowed), with or without options (`userPassword;x-old`).
pub fn is_secret(description: &str) -> bool {
    let base = description.split(';').next().unwrap_or(description).trim();
    let oid = base.strip_prefix("OID.").or_else(|| base.strip_prefix("oid.")).unwrap_or(base);
    SECRET_ATTRIBUTES.iter().any(|(name, number)| base.eq_ignore_ascii_case(name) || oid == *number)
}

/// Whether a canonical attribute type name (lower case, no options, as the schema gives
/// it) is secret: the exact comparison [`crate::Policy::check`] makes on every decision.
pub fn is_secret_type(canonical: &str) -> bool {
    SECRET_ATTRIBUTES.iter().any(|(name, _)| *name == canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_oids_and_options_are_recognized() {
        for d in [
            "userpassword",
            "userPassword",
            "USERPASSWORD;binary",
            "2.5.4.35",
            "OID.2.5.4.35",
            "pwdHistory",
            "1.3.6.1.4.1.42.2.27.8.1.20",
            "authPassword;x-tag",
        ] {
            assert!(is_secret(d), "{d}");
        }
        assert!(SECRET_ATTRIBUTES.iter().all(|(name, _)| is_secret_type(name)));
        assert!(!is_secret_type("userPassword"), "only canonical names");
        for d in ["cn", "pwdInHistory", "pwdChangedTime", "2.5.4.3", "userPasswordX", "", "mail"] {
            assert!(!is_secret(d), "{d}");
        }
    }
}
