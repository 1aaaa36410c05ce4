//! The password policy's GeneralizedTime values. Parsing and formatting have one home,
//! [`birch_schema::gtime`] (re-exported here); this module keeps ppolicy's own constant.

pub use birch_schema::gtime::{format, parse};

/// The pwdAccountLockedTime value that marks an account as disabled by an administrator
/// (OpenLDAP's "locked until an administrator unlocks it"). It is a valid GeneralizedTime
/// of year 0000, which [`parse`] does not turn into a time.
pub const DISABLED: &str = "000001010000Z";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_is_no_lock_time() {
        assert_eq!(parse(DISABLED), None);
        assert!(birch_schema::gtime::canonical(DISABLED).is_some());
    }
}
