//! An account's state as the IT office asks about it (`birch account status`): locked and
//! until when, disabled (by whom, when, why), expired, must change, password age, last
//! successful bind, failures, grace binds. Pure: computed from the entry, its policy and
//! the time. The decisions are the bind's own ([`Account`]: the same lock, expiry and
//! must-change rules), so the view never disagrees with what a bind would do.
//!
//! Also the search filters of the list views (`account locked`, `expiring`, `inactive`).
//! A filter names one policy's durations and cannot know each entry's policy, so it
//! pre-selects (it finds every account the view wants under that policy, and those of
//! other policies may differ); [`AccountStatus`] of each entry found decides exactly.

use super::gentime;
use super::policy::Policy;
use super::state::{Account, Effective};
use birch_store::Entry;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The attributes [`AccountStatus::from_entry`] reads (request them, as an administrator or
/// the helpdesk, to show an account's status): the bind's ones and the view's own.
pub const STATUS_TYPES: &[&str] = &[
    "pwdAccountLockedTime",
    "pwdChangedTime",
    "pwdFailureTime",
    "pwdGraceUseTime",
    "pwdReset",
    "pwdStartTime",
    "pwdEndTime",
    "pwdLastSuccess",
    "pwdPolicySubentry",
    "shadowExpire",
    "birchDisabledBy",
    "birchDisabledTime",
    "birchDisabledReason",
    "createTimestamp",
];

/// How long an effective lock lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockedUntil {
    /// Until this time (pwdAccountLockedTime + pwdLockoutDuration), after the time asked about.
    Time(SystemTime),
    /// Until an administrator unlocks it (pwdLockoutDuration 0).
    Unlocked,
}

/// A disabled account: pwdAccountLockedTime is 000001010000Z, and what the server recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disabled {
    /// birchDisabledBy: who disabled it (absent when disabled before Birch recorded it).
    pub by: Option<String>,
    /// birchDisabledTime: when.
    pub at: Option<SystemTime>,
    /// birchDisabledReason: why, as the administrator wrote it.
    pub reason: Option<String>,
}

/// The state of one account at one time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountStatus {
    /// An effective lock (failed binds, or an administrator): none once its duration ran
    /// out, and none for a disabled account (see `disabled`).
    pub locked: Option<LockedUntil>,
    /// Disabled by an administrator.
    pub disabled: Option<Disabled>,
    /// pwdStartTime, while it is still ahead: the password is not valid yet.
    pub valid_from: Option<SystemTime>,
    /// When the account itself expires: the earlier of pwdEndTime and shadowExpire's day.
    pub account_expires: Option<SystemTime>,
    /// `account_expires` has come.
    pub account_expired: bool,
    /// When the password expires (pwdChangedTime + pwdMaxAge).
    pub password_expires: Option<SystemTime>,
    /// `password_expires` has come (binds may still use grace binds).
    pub password_expired: bool,
    /// Grace binds used since the password expired (pwdGraceUseTime).
    pub grace_used: usize,
    /// Grace binds left, when the password has expired.
    pub grace_left: Option<u32>,
    /// The next bind may only change the password (pwdReset under pwdMustChange).
    pub must_change: bool,
    /// pwdChangedTime.
    pub password_changed: Option<SystemTime>,
    /// How old the password is (from pwdChangedTime).
    pub password_age: Option<Duration>,
    /// pwdLastSuccess: the last successful bind, as recorded (up to
    /// `last_bind_precision` earlier than the real last one).
    pub last_success: Option<SystemTime>,
    /// Failed binds that still count towards a lock (within pwdFailureCountInterval).
    pub failures: usize,
    /// The latest of those.
    pub last_failure: Option<SystemTime>,
    /// createTimestamp.
    pub created: Option<SystemTime>,
    /// Why a bind with the right password would be refused now, if it would.
    pub bind_refused: Option<&'static str>,
}

fn first_text(e: &Entry, name: &str) -> Option<String> {
    e.get(name).and_then(|a| a.values.first()).map(|v| String::from_utf8_lossy(v).trim().to_string())
}

fn first_time(e: &Entry, name: &str) -> Option<SystemTime> {
    first_text(e, name).as_deref().and_then(gentime::parse)
}

/// The first moment of shadowExpire's day (days since 1970-01-01; negative: never). As
/// pam_unix, the account is expired from that day on.
fn shadow_expire(e: &Entry) -> Option<SystemTime> {
    let days = first_text(e, "shadowexpire")?.parse::<i64>().ok()?;
    let secs = u64::try_from(days).ok()?.checked_mul(86_400)?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

fn earliest(a: Option<SystemTime>, b: Option<SystemTime>) -> Option<SystemTime> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

impl AccountStatus {
    /// The status of the account `e` under `policy` at `now`. `e` holds at least
    /// [`STATUS_TYPES`] (others are ignored; names in lower case, as [`Entry`] keeps them).
    pub fn from_entry(e: &Entry, policy: &Policy, now: SystemTime) -> AccountStatus {
        let account = Account::read(e);
        let lock = account.effective_lock(policy, now);
        let disabled = (lock == Some(Effective::Disabled)).then(|| Disabled {
            by: first_text(e, "birchdisabledby"),
            at: first_time(e, "birchdisabledtime"),
            reason: first_text(e, "birchdisabledreason"),
        });
        let locked = match lock {
            Some(Effective::Until(t)) => Some(LockedUntil::Time(t)),
            Some(Effective::UntilUnlocked) => Some(LockedUntil::Unlocked),
            Some(Effective::Disabled) | None => None,
        };
        let account_expires = earliest(account.end, shadow_expire(e));
        let password_expires = account.password_expires(policy);
        let password_expired = password_expires.is_some_and(|t| now >= t);
        let limit = policy.grace_authn_limit as usize;
        let recent: Vec<SystemTime> = account.recent_failures(policy, now).collect();
        // What a bind with the right password would decide now: the same functions.
        let success = account.after_success(policy, now);
        // (shadowExpire is PAM's to enforce: a bind does not look at it.)
        let bind_refused =
            account.locked(policy, now).or(success.refused.map(|_| "password expired, no grace binds left"));
        AccountStatus {
            locked,
            disabled,
            valid_from: account.start.filter(|s| now < *s),
            account_expires,
            account_expired: account_expires.is_some_and(|t| now >= t),
            password_expires,
            password_expired,
            grace_used: account.grace_uses,
            grace_left: password_expired.then(|| u32::try_from(limit.saturating_sub(account.grace_uses)).unwrap_or(0)),
            must_change: success.must_change,
            password_changed: account.changed,
            password_age: account.changed.map(|c| now.duration_since(c).unwrap_or_default()),
            last_success: account.last_success,
            failures: recent.len(),
            last_failure: recent.last().copied(),
            created: first_time(e, "createtimestamp"),
            bind_refused,
        }
    }

    /// [`AccountStatus::from_entry`] of attributes as an LDAP client receives them (any
    /// case of the names).
    pub fn from_attrs<I, N>(dn: &str, attrs: I, policy: &Policy, now: SystemTime) -> AccountStatus
    where
        I: IntoIterator<Item = (N, Vec<Vec<u8>>)>,
        N: AsRef<str>,
    {
        let mut e = Entry { dn: dn.to_string(), ndn: dn.to_ascii_lowercase(), parent: 0, attrs: vec![] };
        for (name, values) in attrs {
            let name = name.as_ref();
            e.add_values(name, &name.to_ascii_lowercase(), values);
        }
        AccountStatus::from_entry(&e, policy, now)
    }

    /// Whether an effective lock holds (not counting a disabled account).
    pub fn is_locked(&self) -> bool {
        self.locked.is_some()
    }

    /// Whether the account or its password has expired.
    pub fn expired(&self) -> bool {
        self.account_expired || self.password_expired
    }

    /// The first expiry ahead or past: account or password.
    pub fn expires(&self) -> Option<SystemTime> {
        earliest(self.account_expires, self.password_expires)
    }

    /// Whether the account or its password expires between `now` and `now + within`
    /// (`birch account expiring --within`); what has expired already is not expiring.
    pub fn expires_within(&self, now: SystemTime, within: Duration) -> bool {
        let end = now.checked_add(within);
        [self.account_expires, self.password_expires]
            .into_iter()
            .flatten()
            .any(|t| t >= now && end.is_none_or(|end| t <= end))
    }

    /// Whether the account has not bound since `cutoff` (`birch account inactive --since`):
    /// its last recorded bind is older, or it never bound and was created before then.
    pub fn inactive_since(&self, cutoff: SystemTime) -> bool {
        match self.last_success {
            Some(t) => t < cutoff,
            None => self.created.is_some_and(|c| c < cutoff),
        }
    }
}

/// A time as a filter's assertion value, to the microsecond.
fn at(t: SystemTime) -> String {
    gentime::format(t, true)
}

/// The filter of disabled accounts.
pub fn disabled_filter() -> String {
    format!("(pwdAccountLockedTime={})", gentime::DISABLED)
}

/// The filter of accounts under an effective lock at `now` under `policy` (`birch account
/// locked`): locks younger than pwdLockoutDuration (every lock when it is 0), and disabled
/// accounts too when `disabled` is set. `(pwdAccountLockedTime=*)` would also list locks
/// whose duration ran out. Relies on generalizedTimeOrderingMatch, which
/// pwdAccountLockedTime has (000001010000Z orders before every real time).
pub fn locked_filter(policy: &Policy, now: SystemTime, disabled: bool) -> String {
    let locks = if policy.lockout_duration == 0 {
        format!("(&(pwdAccountLockedTime=*)(!{}))", disabled_filter())
    } else {
        // Effective while lock + duration > now: lock > now - duration, that is
        // lock >= now - duration + 1µs (stored times have microseconds at most).
        let since = now
            .checked_sub(Duration::from_secs(policy.lockout_duration))
            .and_then(|t| t.checked_add(Duration::from_micros(1)))
            .unwrap_or(UNIX_EPOCH);
        format!("(pwdAccountLockedTime>={})", at(since))
    };
    if disabled {
        format!("(|{locks}{})", disabled_filter())
    } else {
        locks
    }
}

/// The filter of accounts whose account or password expires between `now` and
/// `now + within` under `policy` (`birch account expiring --within`): pwdEndTime in that
/// window, pwdChangedTime such that pwdMaxAge ends in it, and every shadowExpire (it has no
/// ORDERING rule in RFC 2307: [`AccountStatus::expires_within`] decides).
pub fn expiring_filter(policy: &Policy, now: SystemTime, within: Duration) -> String {
    let end = now.checked_add(within).unwrap_or(now);
    let mut parts = vec![format!("(&(pwdEndTime>={})(pwdEndTime<={}))", at(now), at(end))];
    if policy.max_age > 0 {
        let age = Duration::from_secs(policy.max_age);
        let from = now.checked_sub(age).unwrap_or(UNIX_EPOCH);
        let to = end.checked_sub(age).unwrap_or(UNIX_EPOCH);
        parts.push(format!("(&(pwdChangedTime>={})(pwdChangedTime<={}))", at(from), at(to)));
    }
    parts.push("(shadowExpire=*)".to_string());
    format!("(|{})", parts.concat())
}

/// The filter of accounts that have not bound since `now - since` (`birch account inactive
/// --since`): pwdLastSuccess older, or none and created before then. pwdLastSuccess is
/// up to `last_bind_precision` behind the last bind, and accounts that bound only before
/// `last_bind` was on have none (they count by their creation time).
pub fn inactive_filter(now: SystemTime, since: Duration) -> String {
    let cutoff = at(now.checked_sub(since).unwrap_or(UNIX_EPOCH));
    format!("(|(pwdLastSuccess<={cutoff})(&(!(pwdLastSuccess=*))(createTimestamp<={cutoff})))")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn entry(attrs: &[(&str, &str)]) -> Entry {
        let mut e = Entry { dn: "uid=x,dc=example".into(), ndn: "uid=x,dc=example".into(), parent: 0, attrs: vec![] };
        for (n, v) in attrs {
            e.add_values(n, &n.to_ascii_lowercase(), [v.as_bytes().to_vec()]);
        }
        e
    }

    fn g(secs: u64) -> String {
        gentime::format(t(secs), false)
    }

    fn policy() -> Policy {
        Policy { lockout: true, max_failure: 3, failure_count_interval: 60, lockout_duration: 300, ..Policy::default() }
    }

    #[test]
    fn a_lock_holds_for_its_duration_only() {
        let e = entry(&[("pwdAccountLockedTime", &g(0)), ("pwdFailureTime", &g(0))]);
        let s = AccountStatus::from_entry(&e, &policy(), t(100));
        assert_eq!(s.locked, Some(LockedUntil::Time(t(300))));
        assert_eq!((s.disabled, s.bind_refused), (None, Some("account locked")));
        assert_eq!((s.failures, s.last_failure), (0, None), "failures older than the interval do not count");
        let s = AccountStatus::from_entry(&e, &policy(), t(300));
        assert_eq!((s.locked, s.bind_refused), (None, None));
        let forever = Policy { lockout_duration: 0, ..policy() };
        assert_eq!(AccountStatus::from_entry(&e, &forever, t(1_000_000)).locked, Some(LockedUntil::Unlocked));
    }

    #[test]
    fn a_disabled_account_says_by_whom_when_and_why() {
        let e = entry(&[
            ("pwdAccountLockedTime", gentime::DISABLED),
            ("birchDisabledBy", "uid=alice,ou=people,dc=example"),
            ("birchDisabledTime", &g(5)),
            ("birchDisabledReason", "left the university"),
        ]);
        let s = AccountStatus::from_entry(&e, &policy(), t(10));
        assert_eq!(s.locked, None);
        assert_eq!(
            s.disabled,
            Some(Disabled {
                by: Some("uid=alice,ou=people,dc=example".into()),
                at: Some(t(5)),
                reason: Some("left the university".into()),
            })
        );
        assert_eq!(s.bind_refused, Some("account disabled by an administrator"));
        // A reason on an account that is not disabled is no disabled state.
        let e = entry(&[("birchDisabledReason", "old")]);
        assert_eq!(AccountStatus::from_entry(&e, &policy(), t(0)).disabled, None);
    }

    #[test]
    fn expiry_of_the_account_and_of_the_password() {
        let p = Policy { max_age: 1000, grace_authn_limit: 2, ..policy() };
        // shadowExpire: day 20834 starts at 1_800_057_600.
        let e = entry(&[("pwdChangedTime", &g(0)), ("pwdGraceUseTime", &g(1001)), ("shadowExpire", "20834")]);
        let s = AccountStatus::from_entry(&e, &p, t(500));
        assert_eq!((s.password_expires, s.password_expired, s.grace_left), (Some(t(1000)), false, None));
        assert_eq!(s.password_age, Some(Duration::from_secs(500)));
        assert_eq!(s.account_expires, Some(UNIX_EPOCH + Duration::from_secs(20834 * 86400)));
        assert!(
            s.expires_within(t(500), Duration::from_secs(500)) && !s.expires_within(t(500), Duration::from_secs(499))
        );
        let s = AccountStatus::from_entry(&e, &p, t(2000));
        assert!(s.password_expired && s.expired() && !s.expires_within(t(2000), Duration::from_secs(10)));
        assert_eq!((s.grace_used, s.grace_left, s.bind_refused), (1, Some(1), None));
        let used_up = entry(&[("pwdChangedTime", &g(0)), ("pwdGraceUseTime", &g(1001)), ("pwdGraceUseTime", &g(1002))]);
        let s = AccountStatus::from_entry(&used_up, &p, t(2000));
        assert_eq!((s.grace_left, s.bind_refused), (Some(0), Some("password expired, no grace binds left")));
        let ended = entry(&[("pwdEndTime", &g(100)), ("shadowExpire", "-1")]);
        let s = AccountStatus::from_entry(&ended, &p, t(100));
        assert!(s.account_expired && s.bind_refused.is_some());
        assert_eq!(s.account_expires, Some(t(100)));
    }

    #[test]
    fn must_change_last_bind_and_inactivity() {
        let e = entry(&[("pwdReset", "TRUE"), ("pwdLastSuccess", &g(50)), ("createTimestamp", &g(0))]);
        let s = AccountStatus::from_entry(&e, &Policy::default(), t(100));
        assert!(s.must_change);
        assert!(!AccountStatus::from_entry(&e, &Policy { must_change: false, ..policy() }, t(100)).must_change);
        assert_eq!((s.last_success, s.created), (Some(t(50)), Some(t(0))));
        assert!(s.inactive_since(t(51)) && !s.inactive_since(t(50)));
        let never = AccountStatus::from_entry(&entry(&[("createTimestamp", &g(0))]), &policy(), t(100));
        assert!(never.inactive_since(t(1)) && !never.inactive_since(t(0)));
    }

    #[test]
    fn attributes_from_a_client_in_any_case() {
        let attrs = vec![("PWDACCOUNTLOCKEDTIME", vec![gentime::DISABLED.as_bytes().to_vec()])];
        let s = AccountStatus::from_attrs("uid=x,dc=example", attrs, &policy(), t(0));
        assert!(s.disabled.is_some());
    }

    #[test]
    fn filters_name_the_windows() {
        let now = t(1000);
        assert_eq!(
            locked_filter(&policy(), now, true),
            format!(
                "(|(pwdAccountLockedTime>={})(pwdAccountLockedTime=000001010000Z))",
                at(t(700) + Duration::from_micros(1))
            )
        );
        assert_eq!(
            locked_filter(&Policy { lockout_duration: 0, ..policy() }, now, false),
            "(&(pwdAccountLockedTime=*)(!(pwdAccountLockedTime=000001010000Z)))"
        );
        let f = expiring_filter(&Policy { max_age: 100, ..policy() }, now, Duration::from_secs(10));
        assert_eq!(
            f,
            format!(
                "(|(&(pwdEndTime>={})(pwdEndTime<={}))(&(pwdChangedTime>={})(pwdChangedTime<={}))(shadowExpire=*))",
                at(t(1000)),
                at(t(1010)),
                at(t(900)),
                at(t(910))
            )
        );
        assert_eq!(
            inactive_filter(now, Duration::from_secs(1000)),
            format!("(|(pwdLastSuccess<={0})(&(!(pwdLastSuccess=*))(createTimestamp<={0})))", at(t(0)))
        );
        // Every filter parses.
        for f in [locked_filter(&policy(), now, false), expiring_filter(&policy(), now, Duration::MAX)] {
            assert!(birch_proto::ldap3_proto::parse_ldap_filter_str(&f).is_ok(), "{f}");
        }
    }

    proptest! {
        /// A lock is reported exactly while it holds: locked_until is after now iff the
        /// account is locked, and the bind refuses exactly then.
        #[test]
        fn locked_until_is_ahead_iff_locked(lock in 0u64..10_000, now in 0u64..20_000, duration in 0u64..5_000) {
            let p = Policy { lockout_duration: duration, ..policy() };
            let e = entry(&[("pwdAccountLockedTime", &g(lock))]);
            let s = AccountStatus::from_entry(&e, &p, t(now));
            let holds = duration == 0 || now < lock + duration;
            prop_assert_eq!(s.is_locked(), holds);
            match s.locked {
                Some(LockedUntil::Time(until)) => prop_assert!(until > t(now)),
                Some(LockedUntil::Unlocked) => prop_assert_eq!(duration, 0),
                None => {}
            }
            prop_assert_eq!(s.bind_refused.is_some(), holds);
        }

        /// The lock filter's time bound selects exactly the locks the status calls locked.
        #[test]
        fn the_lock_filter_agrees_with_the_status(lock_us in 0u64..10_000_000, now_us in 0u64..20_000_000, duration in 1u64..5) {
            let p = Policy { lockout_duration: duration, ..policy() };
            let (lock, now) = (t(0) + Duration::from_micros(lock_us), t(0) + Duration::from_micros(now_us));
            let e = entry(&[("pwdAccountLockedTime", &gentime::format(lock, true))]);
            let f = locked_filter(&p, now, false);
            let bound = f.trim_start_matches("(pwdAccountLockedTime>=").trim_end_matches(')');
            let selected = birch_schema::gtime::canonical(&gentime::format(lock, true)) >= birch_schema::gtime::canonical(bound);
            prop_assert_eq!(selected, AccountStatus::from_entry(&e, &p, now).is_locked());
        }

        /// The failures reported are those a bind would count towards a lock.
        #[test]
        fn failures_are_the_bind_s(times in proptest::collection::vec(0u64..1000, 0..10), now in 0u64..1200) {
            let p = policy();
            let mut e = entry(&[]);
            e.add_values("pwdFailureTime", "pwdfailuretime", times.iter().map(|s| gentime::format(t(*s), true).into_bytes()));
            let s = AccountStatus::from_entry(&e, &p, t(now));
            let (kept, _) = Account::read(&e).after_failure(&Policy { max_recorded_failure: 1000, ..p.clone() }, t(now));
            // after_failure keeps the recent ones plus the new failure.
            prop_assert_eq!(s.failures, kept.len() - 1);
        }
    }
}
