//! A password policy: OpenLDAP ppolicy's settings, read from a `pwdPolicy` entry or from the
//! `[ppolicy]` section of the configuration (the built-in default policy).

pub use crate::config::ppolicy::Policy;
use birch_store::Entry;

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
            // Server-wide settings of the `[ppolicy]` section; a policy entry has none.
            lockout_exempt: None,
            last_bind: true,
            last_bind_precision: crate::config::ppolicy::DEFAULT_LAST_BIND_PRECISION,
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
