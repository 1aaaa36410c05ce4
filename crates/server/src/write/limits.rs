//! Bounds on what one write of a user who is not an administrator may carry, checked before
//! any other stage runs: `[limits]` `write_values_per_attribute` and `write_values` (beyond
//! them: 11 adminLimitExceeded), and one new userPassword value (19 constraintViolation,
//! as OpenLDAP's ppolicy answers).

use super::change::Change;
use super::error::WriteError;
use birch_proto::ldap3_proto::proto::LdapResultCode;

/// The bounds (0 turns one off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteLimits {
    /// Most values of one attribute in one request.
    pub values_per_attribute: usize,
    /// Most values in one request, all attributes together.
    pub values: usize,
}

impl Default for WriteLimits {
    fn default() -> Self {
        WriteLimits { values_per_attribute: 1000, values: 10_000 }
    }
}

/// Most userPassword values one request of a user may set (as OpenLDAP's ppolicy: a
/// password change carries one new password).
pub const PASSWORD_VALUES: usize = 1;

fn exceeded(text: String) -> WriteError {
    WriteError::Ldap(LdapResultCode::AdminLimitExceeded, text)
}

impl WriteLimits {
    /// Checks a change against the bounds.
    pub fn check(&self, change: &Change) -> Result<(), WriteError> {
        let lists: Vec<(&str, usize, bool)> = match change {
            Change::Add { attrs, .. } => attrs.iter().map(|(n, v)| (n.as_str(), v.len(), true)).collect(),
            Change::Modify { mods, .. } => mods
                .iter()
                .map(|m| (m.attr.as_str(), m.values.len(), matches!(m.op, super::ModOp::Add | super::ModOp::Replace)))
                .collect(),
            _ => return Ok(()),
        };
        let mut total = 0usize;
        let mut passwords = 0usize;
        for (name, n, sets) in lists {
            if self.values_per_attribute > 0 && n > self.values_per_attribute {
                return Err(exceeded(format!(
                    "{name}: {n} values in one request; at most {} are allowed",
                    self.values_per_attribute
                )));
            }
            total = total.saturating_add(n);
            if sets && super::password::is_password_type(birch_schema::desc::base(name)) {
                passwords += n;
            }
        }
        if self.values > 0 && total > self.values {
            return Err(exceeded(format!("{total} values in one request; at most {} are allowed", self.values)));
        }
        if passwords > PASSWORD_VALUES {
            // OpenLDAP ppolicy's answer and wording.
            return Err(WriteError::ldap(
                LdapResultCode::ConstraintViolation,
                "Password policy only allows one password value",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::{Mod, ModOp};

    fn modify(attr: &str, op: ModOp, n: usize) -> Change {
        Change::Modify {
            dn: "uid=bob,ou=people,dc=example,dc=org".into(),
            mods: vec![Mod { op, attr: attr.into(), values: (0..n).map(|i| i.to_string().into_bytes()).collect() }],
        }
    }

    #[test]
    fn bounds_values_per_attribute_and_per_request() {
        let l = WriteLimits { values_per_attribute: 10, values: 15 };
        assert!(l.check(&modify("telephoneNumber", ModOp::Replace, 10)).is_ok());
        assert!(matches!(
            l.check(&modify("telephoneNumber", ModOp::Replace, 11)),
            Err(WriteError::Ldap(LdapResultCode::AdminLimitExceeded, _))
        ));
        let two = Change::Add {
            dn: "cn=x".into(),
            attrs: vec![("a".into(), vec![vec![]; 8]), ("b".into(), vec![vec![]; 8])],
        };
        assert!(matches!(l.check(&two), Err(WriteError::Ldap(LdapResultCode::AdminLimitExceeded, _))));
        assert!(WriteLimits { values_per_attribute: 0, values: 0 }.check(&modify("cn", ModOp::Add, 100_000)).is_ok());
    }

    #[test]
    fn one_new_password_per_request() {
        let l = WriteLimits::default();
        assert!(l.check(&modify("userPassword", ModOp::Replace, 1)).is_ok());
        assert!(l.check(&modify("userPassword;x-y", ModOp::Add, 2)).is_err());
        // Deleting old values (e.g. the old password given in cleartext) is not bounded here.
        assert!(l.check(&modify("userPassword", ModOp::Delete, 2)).is_ok());
        assert!(l.check(&modify("2.5.4.35", ModOp::Replace, 2)).is_err());
    }
}
