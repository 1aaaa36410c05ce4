//! Password policy with OpenLDAP ppolicy semantics and attribute names
//! (draft-behera-ldap-password-policy): which policy applies to an entry, lockout, expiry,
//! grace binds, must-change after a reset, quality and history on changes, and the
//! failed-bind rate limits in front of the hashing. See docs/passwords.md.
//!
//! - [`policy`]: the settings, from a `pwdPolicy` entry or the `[ppolicy]` config section.
//! - [`state`]: the per-entry state (pwdFailureTime, pwdAccountLockedTime, ...) and what a
//!   bind decides from it (pure).
//! - [`change`]: checks and bookkeeping of password changes.
//! - [`ratelimit`]: token buckets of failed binds per address and per DN.
//! - [`exempt`]: the DNs others cannot lock out or throttle (service accounts, root DN).
//! - [`gentime`]: GeneralizedTime values.

pub mod change;
pub mod exempt;
pub mod gentime;
pub mod policy;
pub mod ratelimit;
pub mod state;

pub use change::Changer;
pub use policy::Policy;
pub use state::{Account, Success};

use crate::config::Config;
use birch_schema::{Dn, Schema};
use birch_store::{Entry, Store, StoreError};
use std::time::SystemTime;

/// The attributes of an account a bind needs: the password, the policy that applies
/// ([`policy_for`]) and the account's state ([`Account::read`]).
pub const BIND_TYPES: &[&str] = &[
    "userpassword",
    "pwdpolicysubentry",
    "pwdaccountlockedtime",
    "pwdchangedtime",
    "pwdfailuretime",
    "pwdgraceusetime",
    "pwdreset",
    "pwdstarttime",
    "pwdendtime",
];

/// The policy of an entry: the `pwdPolicy` entry its pwdPolicySubentry names, else the one
/// `ppolicy_default` names, else the `[ppolicy]` section. A named policy entry that is
/// missing (or is not a pwdPolicy) falls back to the next, with a warning.
pub fn policy_for(store: &Store, schema: &Schema, config: &Config, e: &Entry) -> Policy {
    let named =
        e.get("pwdpolicysubentry").and_then(|a| a.values.first()).map(|v| String::from_utf8_lossy(v).into_owned());
    for dn in named.iter().chain(config.ppolicy_default.iter()) {
        if let Some(p) = load(store, schema, dn) {
            return p;
        }
        tracing::warn!(policy = %dn, entry = %e.dn, "password policy entry missing or not a pwdPolicy; using the next policy");
    }
    config.ppolicy.clone()
}

fn load(store: &Store, schema: &Schema, dn: &str) -> Option<Policy> {
    let ndn = Dn::parse(dn).ok()?.normalize(schema);
    let (_, e) = store.get_by_ndn(&ndn).ok()??;
    let is_policy = e.get("objectclass")?.values.iter().any(|v| v.eq_ignore_ascii_case(b"pwdPolicy"));
    is_policy.then(|| Policy::from_entry(&e))
}

fn set(e: &mut Entry, name: &str, values: Vec<Vec<u8>>) {
    e.replace_values(name, &name.to_ascii_lowercase(), values);
}

/// Records a failed bind in the entry (when the policy locks) and locks the account when
/// the failures reach pwdMaxFailure. Returns whether this failure locked it. Durable before
/// it returns, like any write.
pub fn record_failure(store: &Store, ndn: &str, policy: &Policy, now: SystemTime) -> Result<bool, StoreError> {
    if !policy.locks() {
        return Ok(false);
    }
    let mut locked = false;
    store.modify(ndn, |e| {
        let account = Account::read(e);
        let (failures, lock) = account.after_failure(policy, now);
        set(e, "pwdFailureTime", failures.iter().map(|t| gentime::format(*t, true).into_bytes()).collect());
        if lock && account.lock.is_none() {
            set(e, "pwdAccountLockedTime", vec![gentime::format(now, false).into_bytes()]);
            locked = true;
        }
        Ok::<(), StoreError>(())
    })?;
    store.sync()?;
    Ok(locked)
}

/// Records what a successful bind changes: failures forgotten, an expired lock lifted, a
/// grace bind counted. Writes only when something changes.
pub fn record_success(store: &Store, ndn: &str, success: &Success, now: SystemTime) -> Result<(), StoreError> {
    if !success.writes() {
        return Ok(());
    }
    store.modify(ndn, |e| {
        if success.clear_failures {
            set(e, "pwdFailureTime", vec![]);
        }
        if success.clear_expired_lock && matches!(Account::read(e).lock, Some(state::Lock::At(_))) {
            set(e, "pwdAccountLockedTime", vec![]);
        }
        if success.use_grace {
            let mut uses: Vec<Vec<u8>> = e.get("pwdgraceusetime").map(|a| a.values.clone()).unwrap_or_default();
            uses.push(gentime::format(now, true).into_bytes());
            set(e, "pwdGraceUseTime", uses);
        }
        Ok::<(), StoreError>(())
    })?;
    store.sync()
}
