//! Password changes under a policy: the checks before the change (OpenLDAP ppolicy's result
//! codes and messages) and the state recorded with it.

use super::gentime;
use super::policy::Policy;
use super::state::{Account, Lock};
use crate::password::{self, Verification};
use birch_proto::ldap3_proto::proto::LdapResultCode;
use birch_proto::ppolicy::PolicyError;
use birch_store::Entry;
use std::time::{Duration, SystemTime};

/// Who changes a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changer {
    /// The account's owner.
    Owner,
    /// Someone else with write access (an administrator): a reset.
    Admin,
    /// The root DN: no policy check applies (only the bookkeeping).
    Root,
}

impl Changer {
    /// Who `subject` is to the entry `target_ndn`.
    pub fn of(subject: &birch_acl::Subject, target_ndn: &str) -> Changer {
        match subject {
            birch_acl::Subject::Root => Changer::Root,
            birch_acl::Subject::User(n) if n == target_ndn => Changer::Owner,
            _ => Changer::Admin,
        }
    }
}

/// A change the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The result code.
    pub code: LdapResultCode,
    /// The response control's error.
    pub error: PolicyError,
    /// The diagnostic message (OpenLDAP's wording, and what the policy asks for where a
    /// length is at fault).
    pub message: String,
}

fn refuse(code: LdapResultCode, error: PolicyError, message: impl Into<String>) -> Result<(), Refusal> {
    Err(Refusal { code, error, message: message.into() })
}

/// The checks that need no hashing: who may change, old password supplied, minimum age,
/// and quality of `new` (the value as the client sent it, cleartext or `{SCHEME}`-hashed).
pub fn check(
    policy: &Policy,
    account: &Account,
    changer: Changer,
    old_supplied: bool,
    new: &[u8],
    now: SystemTime,
) -> Result<(), Refusal> {
    use LdapResultCode::*;
    if changer == Changer::Root {
        return Ok(());
    }
    if changer == Changer::Owner {
        if !policy.allow_user_change {
            return refuse(
                InsufficentAccessRights,
                PolicyError::PasswordModNotAllowed,
                "User alteration of password is not allowed",
            );
        }
        if policy.safe_modify && !old_supplied {
            return refuse(
                UnwillingToPerform,
                PolicyError::MustSupplyOldPassword,
                "Must supply old password to be changed as well as new one",
            );
        }
        if let Some(changed) = account.changed {
            if policy.min_age > 0 && now < changed + Duration::from_secs(policy.min_age) {
                return refuse(ConstraintViolation, PolicyError::PasswordTooYoung, "Password is too young to change");
            }
        }
    }
    if policy.check_quality == 0 {
        return Ok(());
    }
    if password::is_hashed(new) {
        if policy.check_quality == 2 {
            return refuse(
                ConstraintViolation,
                PolicyError::InsufficientPasswordQuality,
                "Password fails quality checking policy",
            );
        }
        return Ok(());
    }
    let len = std::str::from_utf8(new).map_or(new.len(), |s| s.chars().count());
    if policy.min_length > 0 && len < policy.min_length as usize {
        let min = policy.min_length;
        let message = format!("Password fails quality checking policy: it must have at least {min} characters");
        return refuse(ConstraintViolation, PolicyError::PasswordTooShort, message);
    }
    if policy.max_length > 0 && len > policy.max_length as usize {
        let max = policy.max_length;
        let message = format!("Password fails quality checking policy: it must have at most {max} characters");
        return refuse(ConstraintViolation, PolicyError::PasswordTooLong, message);
    }
    Ok(())
}

/// The stored values of the history, oldest first (`time#syntax#length#value`, as OpenLDAP
/// writes pwdHistory).
fn history(e: &Entry) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = e
        .get("pwdhistory")
        .map(|a| {
            a.values
                .iter()
                .filter_map(|v| {
                    let mut parts = v.splitn(4, |b| *b == b'#');
                    let time = String::from_utf8_lossy(parts.next()?).into_owned();
                    let (_syntax, _len, value) = (parts.next()?, parts.next()?, parts.next()?);
                    Some((time, value.to_vec()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Whether the owner's new cleartext password is the current one or in the history
/// (expensive: one verification per value; run it on the hashing pool).
pub fn reused(policy: &Policy, e: &Entry, changer: Changer, new: &[u8]) -> Result<(), Refusal> {
    if changer != Changer::Owner || policy.check_quality == 0 && policy.in_history == 0 || password::is_hashed(new) {
        return Ok(());
    }
    let current = e.get("userpassword").map(|a| a.values.clone()).unwrap_or_default();
    if current.iter().any(|v| password::verify(v, new) == Verification::Match) {
        return refuse(
            LdapResultCode::ConstraintViolation,
            PolicyError::PasswordInHistory,
            "Password is not being changed from existing value",
        );
    }
    let old = history(e);
    let recent = old.iter().rev().take(policy.in_history as usize);
    for (_, v) in recent {
        if password::verify(v, new) == Verification::Match {
            return refuse(
                LdapResultCode::ConstraintViolation,
                PolicyError::PasswordInHistory,
                "Password is in history of old passwords",
            );
        }
    }
    Ok(())
}

fn set(e: &mut Entry, name: &str, values: Vec<Vec<u8>>) {
    e.replace_values(name, &name.to_ascii_lowercase(), values);
}

/// Whether a password change makes the owner change the password at the next login: set
/// by someone else, in cleartext (not a `{SCHEME}` value carried over from elsewhere), on
/// an account that is not a service's.
pub fn is_reset(changer: Changer, new_values: &[Vec<u8>], service_account: bool) -> bool {
    changer != Changer::Owner && !service_account && new_values.iter().any(|v| !password::is_hashed(v))
}

/// Records a password change in the entry (inside the write): pwdChangedTime, the old
/// values into pwdHistory, failures and grace binds forgotten, pwdReset cleared by the
/// owner's change and set by a `reset` under pwdMustChange. A lock set by failures is
/// lifted by someone else's change; a disabled account stays disabled.
///
/// A change by someone else is a reset (the owner must change the password at the next
/// login) only when it sets a cleartext password of a person: a pre-hashed value is a
/// migration and a service account's password is set by the one who configures the
/// service ([`is_reset`]).
pub fn record(e: &mut Entry, policy: &Policy, changer: Changer, reset: bool, old_values: &[Vec<u8>], now: SystemTime) {
    set(e, "pwdChangedTime", vec![gentime::format(now, false).into_bytes()]);
    set(e, "pwdFailureTime", vec![]);
    set(e, "pwdGraceUseTime", vec![]);
    if policy.in_history > 0 && !old_values.is_empty() {
        let mut kept: Vec<Vec<u8>> = history(e)
            .into_iter()
            .map(|(time, v)| {
                let mut out = format!("{time}#1.3.6.1.4.1.1466.115.121.1.40#{}#", v.len()).into_bytes();
                out.extend(v);
                out
            })
            .collect();
        let stamp = gentime::format(now, false);
        for v in old_values {
            let mut out = format!("{stamp}#1.3.6.1.4.1.1466.115.121.1.40#{}#", v.len()).into_bytes();
            out.extend(v);
            kept.push(out);
        }
        let excess = kept.len().saturating_sub(policy.in_history as usize);
        kept.drain(..excess);
        kept.dedup();
        set(e, "pwdHistory", kept);
    }
    match changer {
        Changer::Owner => set(e, "pwdReset", vec![]),
        Changer::Admin | Changer::Root => {
            if policy.must_change && reset {
                set(e, "pwdReset", vec![b"TRUE".to_vec()]);
            }
            if matches!(Account::read(e).lock, Some(Lock::At(_))) {
                set(e, "pwdAccountLockedTime", vec![]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn entry(pw: &str) -> Entry {
        let mut e = Entry { dn: "uid=a".into(), ndn: "uid=a".into(), parent: 0, attrs: vec![] };
        e.add_values("userPassword", "userpassword", [pw.as_bytes().to_vec()]);
        e
    }

    #[test]
    fn owner_checks_follow_the_policy() {
        let p = Policy::default();
        let a = Account::default();
        assert!(check(&p, &a, Changer::Owner, false, b"long-enough", now()).is_ok());
        let short = check(&p, &a, Changer::Owner, false, b"short", now()).unwrap_err();
        assert_eq!((short.code, short.error), (LdapResultCode::ConstraintViolation, PolicyError::PasswordTooShort));
        assert!(check(&p, &a, Changer::Root, false, b"x", now()).is_ok());
        assert!(check(&p, &a, Changer::Owner, false, b"{SSHA}abc", now()).is_ok());
        let strict = Policy { check_quality: 2, ..p.clone() };
        assert_eq!(
            check(&strict, &a, Changer::Owner, false, b"{SSHA}abc", now()).unwrap_err().error,
            PolicyError::InsufficientPasswordQuality
        );
        let locked_in = Policy { allow_user_change: false, ..p.clone() };
        assert_eq!(
            check(&locked_in, &a, Changer::Owner, true, b"long-enough", now()).unwrap_err().code,
            LdapResultCode::InsufficentAccessRights
        );
        assert!(check(&locked_in, &a, Changer::Admin, false, b"long-enough", now()).is_ok());
        let safe = Policy { safe_modify: true, ..p.clone() };
        assert_eq!(
            check(&safe, &a, Changer::Owner, false, b"long-enough", now()).unwrap_err().error,
            PolicyError::MustSupplyOldPassword
        );
        let young = Policy { min_age: 60, ..p };
        let fresh = Account { changed: Some(now() - Duration::from_secs(10)), ..a };
        assert_eq!(
            check(&young, &fresh, Changer::Owner, true, b"long-enough", now()).unwrap_err().error,
            PolicyError::PasswordTooYoung
        );
    }

    #[test]
    fn history_refuses_reuse_and_is_trimmed() {
        let p = Policy { in_history: 2, ..Policy::default() };
        let mut e = entry("first-pw");
        for next in ["second-pw", "third-pw", "fourth-pw"] {
            let old = e.get("userpassword").map(|a| a.values.clone()).unwrap_or_default();
            record(&mut e, &p, Changer::Owner, false, &old, now());
            set(&mut e, "userPassword", vec![next.as_bytes().to_vec()]);
        }
        assert_eq!(e.get("pwdhistory").map(|a| a.values.len()), Some(2));
        assert_eq!(
            reused(&p, &e, Changer::Owner, b"fourth-pw").unwrap_err().message,
            "Password is not being changed from existing value"
        );
        assert_eq!(reused(&p, &e, Changer::Owner, b"third-pw").unwrap_err().error, PolicyError::PasswordInHistory);
        assert!(reused(&p, &e, Changer::Owner, b"first-pw").is_ok(), "beyond the history");
        assert!(reused(&p, &e, Changer::Admin, b"third-pw").is_ok(), "resets are not checked");
    }

    #[test]
    fn resets_mark_the_entry_and_owner_changes_clear_it() {
        let p = Policy::default();
        let mut e = entry("pw");
        e.add_values("pwdAccountLockedTime", "pwdaccountlockedtime", [b"20260101000000Z".to_vec()]);
        record(&mut e, &p, Changer::Admin, true, &[], now());
        assert!(Account::read(&e).reset && Account::read(&e).lock.is_none());
        record(&mut e, &p, Changer::Owner, false, &[], now());
        assert!(!Account::read(&e).reset);
        e.add_values("pwdAccountLockedTime", "pwdaccountlockedtime", [gentime::DISABLED.as_bytes().to_vec()]);
        record(&mut e, &p, Changer::Admin, true, &[], now());
        assert_eq!(Account::read(&e).lock, Some(Lock::Disabled), "a reset does not re-enable a disabled account");
    }

    #[test]
    fn only_cleartext_set_by_others_on_people_is_a_reset() {
        let clear = [b"new-password".to_vec()];
        let hashed = [b"{SSHA}c2FsdGVkaGFzaHNhbHQ=".to_vec()];
        assert!(is_reset(Changer::Admin, &clear, false));
        assert!(is_reset(Changer::Root, &clear, false));
        assert!(!is_reset(Changer::Owner, &clear, false), "the owner's own change");
        assert!(!is_reset(Changer::Admin, &hashed, false), "a migrated hash");
        assert!(!is_reset(Changer::Root, &clear, true), "a service account");
        let p = Policy::default();
        let mut e = entry("pw");
        record(&mut e, &p, Changer::Root, false, &[], now());
        assert!(!Account::read(&e).reset, "no reset: no pwdReset");
    }
}
