//! A password policy: OpenLDAP ppolicy's settings, read from a `pwdPolicy` entry or from the
//! `[ppolicy]` section of the configuration (the built-in default policy).

use birch_store::Entry;
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
    /// never throttle them by DN, whatever policy governs them ([`super::exempt`]). Unset:
    /// the service-account subtree and the root DN; `[]`: nobody.
    pub lockout_exempt: Option<Vec<String>>,
}

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
        }
    }
}

impl Policy {
    /// The policy a `pwdPolicy` entry defines; absent attributes take the values of
    /// draft-behera section 5.2 (everything off, user changes allowed), as in OpenLDAP.
    pub fn from_entry(e: &Entry) -> Policy {
        let text = |name: &str| {
            e.get(name).and_then(|a| a.values.first()).map(|v| String::from_utf8_lossy(v).trim().to_string())
        };
        let num = |name: &str| text(name).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
        let small = |name: &str| u32::try_from(num(name)).unwrap_or(u32::MAX);
        let flag = |name: &str, default: bool| text(name).map_or(default, |t| t.eq_ignore_ascii_case("TRUE"));
        Policy {
            lockout: flag("pwdlockout", false),
            max_failure: small("pwdmaxfailure"),
            failure_count_interval: num("pwdfailurecountinterval"),
            lockout_duration: num("pwdlockoutduration"),
            max_recorded_failure: small("pwdmaxrecordedfailure"),
            min_length: small("pwdminlength"),
            max_length: small("pwdmaxlength"),
            check_quality: u8::try_from(num("pwdcheckquality")).unwrap_or(2),
            in_history: small("pwdinhistory"),
            min_age: num("pwdminage"),
            max_age: num("pwdmaxage"),
            expire_warning: num("pwdexpirewarning"),
            grace_authn_limit: small("pwdgraceauthnlimit"),
            must_change: flag("pwdmustchange", false),
            allow_user_change: flag("pwdallowuserchange", true),
            safe_modify: flag("pwdsafemodify", false),
            lockout_exempt: None,
        }
    }

    /// Whether failed binds count towards a lock.
    pub fn locks(&self) -> bool {
        self.lockout && self.max_failure > 0
    }

    /// Most failure times to keep (OpenLDAP: pwdMaxRecordedFailure, else pwdMaxFailure,
    /// else 5).
    pub fn failures_kept(&self) -> usize {
        let n = if self.max_recorded_failure > 0 {
            self.max_recorded_failure.max(self.max_failure)
        } else {
            self.max_failure
        };
        usize::try_from(if n == 0 { 5 } else { n }).unwrap_or(usize::MAX).min(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_attributes_map_to_settings() {
        let mut e = Entry { dn: "cn=p".into(), ndn: "cn=p".into(), parent: 0, attrs: vec![] };
        for (n, v) in
            [("pwdLockout", "TRUE"), ("pwdMaxFailure", "3"), ("pwdInHistory", "2"), ("pwdAllowUserChange", "FALSE")]
        {
            e.add_values(n, &n.to_ascii_lowercase(), [v.as_bytes().to_vec()]);
        }
        let p = Policy::from_entry(&e);
        assert!(p.lockout && p.locks() && !p.allow_user_change && !p.must_change);
        assert_eq!((p.max_failure, p.in_history, p.min_length, p.max_age), (3, 2, 0, 0));
        let empty = Policy::from_entry(&Entry { dn: "cn=q".into(), ndn: "cn=q".into(), parent: 0, attrs: vec![] });
        assert!(!empty.locks() && empty.allow_user_change);
    }
}
