//! `[ppolicy]`: the built-in default password policy. Its behaviour (reading a `pwdPolicy`
//! entry, the lockout decisions) is in `crate::ppolicy`.

use serde::Deserialize;

/// The settings of one password policy. Field names are the `pwd*` attributes without
/// the prefix, in snake case; durations are in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// pwdLockout: lock the account after `max_failure` failed binds.
    pub lockout: bool,
    /// pwdMaxFailure: failed binds that lock the account (0 = never).
    pub max_failure: u32,
    /// pwdFailureCountInterval: failures older than this are forgotten (0 = kept until a
    /// successful bind).
    pub failure_count_interval: u64,
    /// pwdLockoutDuration: how long a lock lasts (0 = until an administrator unlocks).
    pub lockout_duration: u64,
    /// pwdMaxRecordedFailure: most failure times kept in the entry.
    pub max_recorded_failure: u32,
    /// pwdMinLength: shortest new password, in characters (0 = any).
    pub min_length: u32,
    /// pwdMaxLength: longest new password, in characters (0 = any).
    pub max_length: u32,
    /// pwdCheckQuality: 0 no check, 1 check cleartext values (accept pre-hashed ones),
    /// 2 check and refuse values that cannot be checked (pre-hashed).
    pub check_quality: u8,
    /// pwdInHistory: previous passwords that may not be reused (0 = no history).
    pub in_history: u32,
    /// pwdMinAge: seconds before a user may change their password again.
    pub min_age: u64,
    /// pwdMaxAge: seconds a password is valid (0 = forever).
    pub max_age: u64,
    /// pwdExpireWarning: seconds before expiry from which binds carry a warning.
    pub expire_warning: u64,
    /// pwdGraceAuthNLimit: binds allowed with an expired password.
    pub grace_authn_limit: u32,
    /// pwdMustChange: after an administrator sets a password, the user must change it
    /// before doing anything else.
    pub must_change: bool,
    /// pwdAllowUserChange: users may change their own password.
    pub allow_user_change: bool,
    /// pwdSafeModify: a user's change must carry the old password.
    pub safe_modify: bool,
    /// Not a pwd* attribute, and only read from the `[ppolicy]` section (a pwdPolicy entry
    /// cannot set it): DNs, each with its subtree, whose failed binds never lock them and
    /// never throttle them by DN, whatever policy governs them ([`crate::ppolicy::exempt`]). Unset:
    /// the service-account subtree and the root DN; `[]`: nobody.
    pub lockout_exempt: Option<Vec<String>>,
    /// Not a pwd* attribute, only read from the `[ppolicy]` section: keep the time of each
    /// account's last successful bind in pwdLastSuccess (slapd's `lastbind on`).
    pub last_bind: bool,
    /// Not a pwd* attribute, only read from the `[ppolicy]` section: seconds within which a
    /// new successful bind does not rewrite pwdLastSuccess (slapd's `lastbind-precision`;
    /// 0 = every bind writes it).
    pub last_bind_precision: u64,
}

/// The default `last_bind_precision`: an hour, so that pwdLastSuccess costs at most one write
/// per account and hour however often it binds (slapd's default, 0, writes on every bind).
pub const DEFAULT_LAST_BIND_PRECISION: u64 = 3600;

/// Birch's built-in policy: the campus defaults (see docs/passwords.md). OpenLDAP's ppolicy
/// has no lockout unless configured; Birch locks by default because the campus requires
/// guessing to be stopped.
impl Default for Policy {
    fn default() -> Self {
        Policy {
            lockout: true,
            max_failure: 10,
            failure_count_interval: 600,
            lockout_duration: 900,
            max_recorded_failure: 20,
            min_length: 8,
            max_length: 0,
            check_quality: 1,
            in_history: 5,
            min_age: 0,
            max_age: 0,
            expire_warning: 0,
            grace_authn_limit: 0,
            must_change: true,
            allow_user_change: true,
            safe_modify: false,
            lockout_exempt: None,
            last_bind: true,
            last_bind_precision: DEFAULT_LAST_BIND_PRECISION,
        }
    }
}
