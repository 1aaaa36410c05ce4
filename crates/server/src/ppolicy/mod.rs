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
//! - [`status`]: an account's state as the IT office asks about it, and the filters of the
//!   list views (pure; the same decisions as [`state`]).
//! - [`exempt`]: the DNs others cannot lock out or throttle (service accounts, root DN).
//! - [`gentime`]: the disabled-account value (GeneralizedTime parsing and formatting are
//!   [`birch_schema::gtime`]'s).

pub mod change;
pub mod exempt;
pub mod gentime;
pub mod policy;
pub mod ratelimit;
pub mod state;
pub mod status;

pub use change::Changer;
pub use policy::Policy;
pub use state::{Account, Success};

use birch_schema::{Dn, Schema};
use birch_store::{Entry, Store};
use std::time::SystemTime;

/// The attributes of an account a bind needs: the password, the policy that applies
/// ([`crate::write::Writer::policy_for`]) and the account's state ([`Account::read`]).
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
    "pwdlastsuccess",
];

/// The policy of an entry: the `pwdPolicy` entry its pwdPolicySubentry names, else the one
/// `default` (`ppolicy_default`) names, else `section` (`[ppolicy]`). A named policy entry
/// that is missing (or is not a pwdPolicy) falls back to the next, with a warning. The
/// server asks through [`crate::write::Writer::policy_for`], which holds both settings.
pub fn policy_with(store: &Store, schema: &Schema, section: &Policy, default: Option<&str>, e: &Entry) -> Policy {
    let named =
        e.get("pwdpolicysubentry").and_then(|a| a.values.first()).map(|v| String::from_utf8_lossy(v).into_owned());
    for dn in named.as_deref().into_iter().chain(default) {
        if let Some(p) = load(store, schema, dn) {
            return p;
        }
        tracing::warn!(policy = %dn, entry = %e.dn, "password policy entry missing or not a pwdPolicy; using the next policy");
    }
    section.clone()
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

/// Records a failed bind in the account's entry (when the policy locks) and locks it when
/// the failures reach pwdMaxFailure. Returns whether this failure locked it. (Written by
/// the write pipeline as the server's bookkeeping.)
pub fn record_failure(e: &mut Entry, policy: &Policy, now: SystemTime) -> bool {
    if !policy.locks() {
        return false;
    }
    let account = Account::read(e);
    let (failures, lock) = account.after_failure(policy, now);
    set(e, "pwdFailureTime", failures.iter().map(|t| gentime::format(*t, true).into_bytes()).collect());
    if lock && account.lock.is_none() {
        set(e, "pwdAccountLockedTime", vec![gentime::format(now, false).into_bytes()]);
        return true;
    }
    false
}

/// Records what a successful bind changes: failures forgotten, an expired lock lifted, a
/// grace bind counted.
pub fn record_success(e: &mut Entry, success: &Success, now: SystemTime) {
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
}

/// Records a successful bind at `now` in pwdLastSuccess (to the second, as slapd's
/// lastbind writes it). The write pipeline decides when ([`Account::last_bind_due`]).
pub fn record_last_bind(e: &mut Entry, now: SystemTime) {
    set(e, "pwdLastSuccess", vec![gentime::format(now, false).into_bytes()]);
}
