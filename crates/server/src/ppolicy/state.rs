//! The password policy state kept in a user's entry, and the decisions a bind takes from it.
//! Pure: the time is a parameter, so every rule is unit-tested without waiting.

use super::gentime;
use super::policy::Policy;
use birch_proto::ppolicy::{PolicyError, PolicyWarning};
use birch_store::Entry;
use std::time::{Duration, SystemTime};

/// How an account is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// pwdAccountLockedTime is 000001010000Z: disabled until an administrator unlocks it.
    Disabled,
    /// Locked at this time (by failures, or by an administrator).
    At(SystemTime),
}

/// An account's lock as it stands at a given time ([`Account::effective_lock`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effective {
    /// Disabled by an administrator (pwdAccountLockedTime 000001010000Z, or a value that is
    /// no time): until an administrator enables it.
    Disabled,
    /// Locked until an administrator unlocks it (pwdLockoutDuration 0).
    UntilUnlocked,
    /// Locked until this time, which is after the time asked about.
    Until(SystemTime),
}

/// The lock a pwdAccountLockedTime value sets: any value that is no time after 1970
/// (000001010000Z, or a malformed value) disables, so a malformed lock never unlocks.
pub fn lock_of(value: &[u8]) -> Lock {
    let text = String::from_utf8_lossy(value);
    match gentime::parse(&text) {
        Some(t) if text.trim() != gentime::DISABLED => Lock::At(t),
        _ => Lock::Disabled,
    }
}

/// Whether a pwdAccountLockedTime value disables the account (see [`lock_of`]).
pub fn is_disabled_value(value: &[u8]) -> bool {
    lock_of(value) == Lock::Disabled
}

/// The ppolicy attributes of one entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// pwdChangedTime.
    pub changed: Option<SystemTime>,
    /// pwdAccountLockedTime.
    pub lock: Option<Lock>,
    /// pwdFailureTime values, oldest first.
    pub failures: Vec<SystemTime>,
    /// pwdGraceUseTime values.
    pub grace_uses: usize,
    /// pwdReset is TRUE.
    pub reset: bool,
    /// pwdStartTime.
    pub start: Option<SystemTime>,
    /// pwdEndTime.
    pub end: Option<SystemTime>,
    /// pwdLastSuccess: the last successful bind (as recorded, see [`Account::last_bind_due`]).
    pub last_success: Option<SystemTime>,
}

fn times(e: &Entry, name: &str) -> Vec<SystemTime> {
    let mut out: Vec<SystemTime> = e
        .get(name)
        .map(|a| a.values.iter().filter_map(|v| std::str::from_utf8(v).ok().and_then(gentime::parse)).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn one_time(e: &Entry, name: &str) -> Option<SystemTime> {
    times(e, name).into_iter().next()
}

impl Account {
    /// Reads the state from an entry (unparsable values are ignored, except that any
    /// pwdAccountLockedTime value locks: a malformed lock must not unlock an account).
    pub fn read(e: &Entry) -> Account {
        let lock = e.get("pwdaccountlockedtime").and_then(|a| a.values.first()).map(|v| lock_of(v));
        Account {
            changed: one_time(e, "pwdchangedtime"),
            lock,
            failures: times(e, "pwdfailuretime"),
            grace_uses: e.get("pwdgraceusetime").map_or(0, |a| a.values.len()),
            reset: e
                .get("pwdreset")
                .and_then(|a| a.values.first())
                .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"TRUE")),
            start: one_time(e, "pwdstarttime"),
            end: one_time(e, "pwdendtime"),
            last_success: one_time(e, "pwdlastsuccess"),
        }
    }

    /// The lock in force at `now`: a disabling value, or a lock whose pwdLockoutDuration
    /// has not run out (a lock that ran out is none, though its value stays until the next
    /// successful bind lifts it).
    pub fn effective_lock(&self, policy: &Policy, now: SystemTime) -> Option<Effective> {
        match self.lock? {
            Lock::Disabled => Some(Effective::Disabled),
            Lock::At(_) if policy.lockout_duration == 0 => Some(Effective::UntilUnlocked),
            Lock::At(t) => match t.checked_add(Duration::from_secs(policy.lockout_duration)) {
                Some(until) => (now < until).then_some(Effective::Until(until)),
                // A duration past any representable time never runs out.
                None => Some(Effective::UntilUnlocked),
            },
        }
    }

    /// The failure times that still count at `now` (within pwdFailureCountInterval, or all
    /// of them when it is 0), oldest first.
    pub fn recent_failures<'a>(&'a self, policy: &Policy, now: SystemTime) -> impl Iterator<Item = SystemTime> + 'a {
        let interval = Duration::from_secs(policy.failure_count_interval);
        let all = policy.failure_count_interval == 0;
        self.failures.iter().copied().filter(move |t| all || t.checked_add(interval).is_none_or(|end| end > now))
    }

    /// When the password expires under pwdMaxAge (None: it does not, or it was never
    /// changed since pwdChangedTime is kept).
    pub fn password_expires(&self, policy: &Policy) -> Option<SystemTime> {
        let changed = self.changed.filter(|_| policy.max_age > 0)?;
        changed.checked_add(Duration::from_secs(policy.max_age))
    }

    /// Whether a successful bind at `now` records itself in pwdLastSuccess: `precision` is
    /// `[ppolicy] last_bind_precision` (None: `last_bind` is off). As slapd's lastbind, the
    /// value is rewritten only once it is `precision` old, so a login storm costs one write
    /// per account, not one per bind.
    pub fn last_bind_due(&self, precision: Option<Duration>, now: SystemTime) -> bool {
        let Some(precision) = precision else { return false };
        self.last_success.is_none_or(|last| last.checked_add(precision).is_some_and(|next| next <= now))
    }

    /// Whether the account is locked now, and why (checked before the password is
    /// verified: a locked account costs no hash).
    pub fn locked(&self, policy: &Policy, now: SystemTime) -> Option<&'static str> {
        match self.effective_lock(policy, now) {
            Some(Effective::Disabled) => Some("account disabled by an administrator"),
            Some(Effective::UntilUnlocked) => Some("account locked until an administrator unlocks it"),
            Some(Effective::Until(_)) => Some("account locked"),
            None => self.outside_validity(now),
        }
    }

    fn outside_validity(&self, now: SystemTime) -> Option<&'static str> {
        if self.start.is_some_and(|s| now < s) {
            return Some("password not valid yet (pwdStartTime)");
        }
        if self.end.is_some_and(|e| now >= e) {
            return Some("password no longer valid (pwdEndTime)");
        }
        None
    }

    /// The failure times to keep after a failed bind at `now`, and whether the account
    /// becomes locked.
    pub fn after_failure(&self, policy: &Policy, now: SystemTime) -> (Vec<SystemTime>, bool) {
        let mut kept: Vec<SystemTime> = self.recent_failures(policy, now).collect();
        kept.push(now);
        let excess = kept.len().saturating_sub(policy.failures_kept());
        kept.drain(..excess);
        let lock = policy.locks() && kept.len() >= policy.max_failure as usize;
        (kept, lock)
    }

    /// What a successful password check leads to at `now`.
    pub fn after_success(&self, policy: &Policy, now: SystemTime) -> Success {
        let mut s = Success {
            clear_failures: !self.failures.is_empty(),
            clear_expired_lock: matches!(self.lock, Some(Lock::At(_))),
            must_change: self.reset && policy.must_change,
            ..Success::default()
        };
        if let Some(expires) = self.password_expires(policy) {
            if now >= expires {
                let limit = policy.grace_authn_limit as usize;
                if self.grace_uses < limit {
                    s.use_grace = true;
                    s.warning = Some(PolicyWarning::GraceAuthNsRemaining((limit - self.grace_uses - 1) as u32));
                } else {
                    s.refused = Some(PolicyError::PasswordExpired);
                }
            } else if policy.expire_warning > 0 {
                let left = expires.duration_since(now).unwrap_or_default();
                if left.as_secs() <= policy.expire_warning {
                    s.warning =
                        Some(PolicyWarning::TimeBeforeExpiration(u32::try_from(left.as_secs()).unwrap_or(u32::MAX)));
                }
            }
        }
        s
    }
}

/// The consequences of a bind with the right password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Success {
    /// The bind fails anyway (expired password without grace binds left).
    pub refused: Option<PolicyError>,
    /// A warning to return in the response control.
    pub warning: Option<PolicyWarning>,
    /// The session may only change its password (pwdReset with pwdMustChange).
    pub must_change: bool,
    /// pwdFailureTime values to delete.
    pub clear_failures: bool,
    /// A lock whose duration ran out, to delete.
    pub clear_expired_lock: bool,
    /// Record a grace bind.
    pub use_grace: bool,
}

impl Success {
    /// Whether the entry needs a write.
    pub fn writes(&self) -> bool {
        self.refused.is_none() && (self.clear_failures || self.clear_expired_lock || self.use_grace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn policy() -> Policy {
        Policy { lockout: true, max_failure: 3, failure_count_interval: 60, lockout_duration: 300, ..Policy::default() }
    }

    #[test]
    fn failures_within_the_interval_lock() {
        let p = policy();
        let mut a = Account::default();
        for (i, t) in [0, 10, 20].into_iter().enumerate() {
            let (kept, lock) = a.after_failure(&p, at(t));
            assert_eq!(lock, i == 2, "failure {i}");
            a.failures = kept;
        }
        // Spread beyond the interval, old failures are forgotten.
        let a = Account { failures: vec![at(0), at(10)], ..Account::default() };
        let (kept, lock) = a.after_failure(&p, at(65));
        assert_eq!((kept, lock), (vec![at(10), at(65)], false));
    }

    #[test]
    fn locks_expire_unless_permanent() {
        let p = policy();
        let locked = Account { lock: Some(Lock::At(at(0))), ..Account::default() };
        assert!(locked.locked(&p, at(299)).is_some());
        assert!(locked.locked(&p, at(300)).is_none());
        assert!(locked.after_success(&p, at(300)).clear_expired_lock);
        let forever = Policy { lockout_duration: 0, ..p.clone() };
        assert!(locked.locked(&forever, at(1_000_000)).is_some());
        let disabled = Account { lock: Some(Lock::Disabled), ..Account::default() };
        assert!(disabled.locked(&Policy { lockout: false, ..p }, at(0)).is_some());
    }

    #[test]
    fn expiry_warns_then_grants_grace_then_refuses() {
        let p = Policy { max_age: 1000, expire_warning: 100, grace_authn_limit: 2, ..Policy::default() };
        let mut a = Account { changed: Some(at(0)), ..Account::default() };
        assert_eq!(a.after_success(&p, at(500)), Success::default());
        assert_eq!(a.after_success(&p, at(950)).warning, Some(PolicyWarning::TimeBeforeExpiration(50)));
        let s = a.after_success(&p, at(1000));
        assert_eq!((s.use_grace, s.warning), (true, Some(PolicyWarning::GraceAuthNsRemaining(1))));
        a.grace_uses = 2;
        assert_eq!(a.after_success(&p, at(1000)).refused, Some(PolicyError::PasswordExpired));
    }

    #[test]
    fn reset_requires_a_change_only_when_the_policy_says_so() {
        let a = Account { reset: true, ..Account::default() };
        assert!(a.after_success(&Policy::default(), at(0)).must_change);
        assert!(!a.after_success(&Policy { must_change: false, ..Policy::default() }, at(0)).must_change);
    }

    #[test]
    fn the_last_bind_is_rewritten_once_per_precision() {
        let hour = Some(Duration::from_secs(3600));
        let never = Account::default();
        assert!(never.last_bind_due(hour, at(0)));
        assert!(!never.last_bind_due(None, at(0)), "last_bind off");
        let recent = Account { last_success: Some(at(0)), ..Account::default() };
        assert!(!recent.last_bind_due(hour, at(3599)));
        assert!(recent.last_bind_due(hour, at(3600)));
        assert!(recent.last_bind_due(Some(Duration::ZERO), at(0)), "precision 0: every bind");
        assert!(!recent.last_bind_due(Some(Duration::MAX), at(1_000_000)));
    }

    #[test]
    fn validity_window() {
        let a = Account { start: Some(at(100)), end: Some(at(200)), ..Account::default() };
        let p = Policy::default();
        assert!(a.locked(&p, at(99)).is_some());
        assert!(a.locked(&p, at(150)).is_none());
        assert!(a.locked(&p, at(200)).is_some());
    }

    #[test]
    fn a_bind_reads_every_attribute_the_account_state_needs() {
        // The bind decodes only BIND_TYPES of the entry: reading the state from those must
        // give what reading it from the whole entry gives.
        let mut e = Entry { dn: "uid=x,dc=example".into(), ndn: "uid=x,dc=example".into(), parent: 0, attrs: vec![] };
        let t = |s: &str| vec![s.as_bytes().to_vec()];
        for (name, values) in [
            ("uid", t("x")),
            ("mail", t("x@example")),
            ("pwdChangedTime", t("20260101000000Z")),
            ("pwdAccountLockedTime", t("20260102000000Z")),
            ("pwdFailureTime", vec![b"20260103000000Z".to_vec(), b"20260104000000Z".to_vec()]),
            ("pwdGraceUseTime", t("20260105000000Z")),
            ("pwdReset", t("TRUE")),
            ("pwdStartTime", t("20250101000000Z")),
            ("pwdEndTime", t("20300101000000Z")),
            ("pwdLastSuccess", t("20260106000000Z")),
            ("pwdPolicySubentry", t("cn=policy,dc=example")),
            ("userPassword", t("{SSHA}xyz")),
        ] {
            e.replace_values(name, &name.to_ascii_lowercase(), values);
        }
        let types: Vec<String> = crate::ppolicy::BIND_TYPES.iter().map(|t| t.to_string()).collect();
        let partial = Entry::decode_only(&e.encode(), &types).expect("decodes");
        assert_eq!(Account::read(&partial), Account::read(&e));
        assert!(Account::read(&e).lock.is_some() && Account::read(&e).reset);
        assert!(Account::read(&e).last_success.is_some());
        assert_eq!(partial.get("pwdpolicysubentry").map(|a| a.values.clone()), Some(t("cn=policy,dc=example")));
        assert!(partial.get("userpassword").is_some() && partial.get("mail").is_none());
    }
}
