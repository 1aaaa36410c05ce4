//! `birch account`: the status views of the IT office (status, locked, disabled, expiring,
//! inactive) and `purge`, the second half of retiring accounts (delete those disabled for
//! longer than a grace period).
//!
//! Every decision is [`AccountStatus`]'s, the same as the bind's: a search filter only
//! pre-selects (one filter per password policy in use), and each entry found is decided
//! exactly. The policy of an account is the `pwdPolicy` entry its pwdPolicySubentry names,
//! else the client config's `ppolicy_default` entry, else the client config's `[ppolicy]`
//! section (the server's defaults when absent): the server's built-in `[ppolicy]` is not
//! published over LDAP (docs/admin.md, "Which policy").

use super::client::{escape, Client, ClientConfig, Entry};
use super::error::{Exit, Failure};
use super::output::{record, table, Out};
use super::user;
use crate::ppolicy::status::{self, AccountStatus, LockedUntil, STATUS_TYPES};
use crate::ppolicy::Policy;
use clap::Subcommand;
use ldap3::Scope;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// `birch account ...`.
#[derive(Subcommand, Debug)]
pub enum AccountCmd {
    /// An account's state: locked (until when), disabled (by whom, when, why), expired, must
    /// change, password age, last successful bind, failed binds.
    Status {
        /// The uid.
        uid: String,
    },
    /// Accounts under an effective lock now (not locks whose duration has run out).
    Locked {
        /// Also list disabled accounts.
        #[arg(long)]
        include_disabled: bool,
    },
    /// Disabled accounts, with who disabled them, when and why.
    Disabled,
    /// Accounts whose account or password expires within a time (e.g. 30d).
    Expiring {
        /// How far ahead: a duration such as 30d, 2w, 12h.
        #[arg(long, value_parser = humantime::parse_duration)]
        within: Duration,
    },
    /// Accounts without a successful bind for a time (e.g. 180d).
    Inactive {
        /// How long: a duration such as 180d.
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Duration,
    },
    /// Delete accounts disabled for longer than a grace period (restartable).
    Purge {
        /// The grace period: a duration such as 90d (birchDisabledTime older than this).
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: Duration,
        /// Only report what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The password policies of the accounts: the `pwdPolicy` entries by DN, and the default.
pub struct Policies {
    /// DN (lower case) of each readable `pwdPolicy` entry, and its policy.
    named: HashMap<String, Policy>,
    /// The policy of accounts that name none (or name one that cannot be read).
    default: Policy,
}

/// A `pwdPolicy` entry as the policy it defines.
fn policy_of(e: &Entry) -> Policy {
    let mut s = birch_store::Entry { dn: e.dn.clone(), ndn: e.dn.to_ascii_lowercase(), parent: 0, attrs: vec![] };
    for (n, v) in &e.attrs {
        s.add_values(n, &n.to_ascii_lowercase(), v.iter().map(|v| v.as_bytes().to_vec()));
    }
    Policy::from_entry(&s)
}

/// A DN in a form to compare: lower case, no spaces after commas.
fn dn_key(dn: &str) -> String {
    dn.split(',').map(str::trim).collect::<Vec<_>>().join(",").to_ascii_lowercase()
}

impl Policies {
    /// Reads the `pwdPolicy` entries under the base and the client config's default.
    pub fn load(c: &mut Client, cfg: &ClientConfig) -> Result<Policies, Failure> {
        let base = c.base.clone();
        let mut named = HashMap::new();
        for e in c.search_paged(&base, Scope::Subtree, "(objectClass=pwdPolicy)", &["*"])? {
            named.insert(dn_key(&e.dn), policy_of(&e));
        }
        let default = match cfg.ppolicy_default.as_deref() {
            Some(dn) => named.get(&dn_key(dn)).cloned().ok_or_else(|| {
                Failure::other(format!("ppolicy_default {dn}: no readable pwdPolicy entry (client config)"))
            })?,
            None => cfg.ppolicy.clone(),
        };
        Ok(Policies { named, default })
    }

    /// The policy of the account `e`.
    pub fn of(&self, e: &Entry) -> &Policy {
        e.first("pwdPolicySubentry").and_then(|dn| self.named.get(&dn_key(dn))).unwrap_or(&self.default)
    }

    /// Every policy in use: the default and the named ones.
    fn all(&self) -> impl Iterator<Item = &Policy> {
        std::iter::once(&self.default).chain(self.named.values())
    }
}

/// The status of `e` under its policy at `now`.
fn status_of(p: &Policies, e: &Entry, now: SystemTime) -> AccountStatus {
    let attrs = e.attrs.iter().map(|(n, v)| (n.as_str(), v.iter().map(|v| v.as_bytes().to_vec()).collect()));
    AccountStatus::from_attrs(&e.dn, attrs, p.of(e), now)
}

/// Attributes read for the views: the status ones and the names.
fn view_attrs() -> Vec<&'static str> {
    let mut a = vec!["uid", "cn"];
    a.extend_from_slice(STATUS_TYPES);
    a
}

/// A time for people (RFC 3339, seconds) and scripts (the same string).
fn when(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn opt_when(t: Option<SystemTime>) -> String {
    t.map_or_else(|| "-".to_string(), when)
}

fn ago(d: Duration) -> String {
    let days = d.as_secs() / 86_400;
    if days > 0 {
        format!("{days} days")
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

/// When the entry's lock was set (RFC 3339), unless it is the disabled value.
fn locked_at(e: &Entry) -> Option<String> {
    let v = e.first("pwdAccountLockedTime")?;
    Some(crate::ppolicy::gentime::parse(v).map_or_else(|| v.to_string(), when))
}

fn uid_of(e: &Entry) -> String {
    e.first("uid").map_or_else(|| e.dn.clone(), String::from)
}

fn locked_until(s: &AccountStatus) -> Option<String> {
    match s.locked? {
        LockedUntil::Time(t) => Some(when(t)),
        LockedUntil::Unlocked => Some("until unlocked".into()),
    }
}

/// The status as JSON.
fn status_json(e: &Entry, s: &AccountStatus) -> Value {
    let t = |t: Option<SystemTime>| t.map(when);
    json!({
        "dn": e.dn,
        "uid": e.first("uid"),
        "locked": s.is_locked(),
        "lockedAt": if s.disabled.is_some() { None } else { locked_at(e) },
        "lockedUntil": locked_until(s),
        "disabled": s.disabled.is_some(),
        "disabledBy": s.disabled.as_ref().and_then(|d| d.by.clone()),
        "disabledAt": t(s.disabled.as_ref().and_then(|d| d.at)),
        "disabledReason": s.disabled.as_ref().and_then(|d| d.reason.clone()),
        "expired": s.expired(),
        "accountExpires": t(s.account_expires),
        "passwordExpires": t(s.password_expires),
        "passwordExpired": s.password_expired,
        "graceLeft": s.grace_left,
        "mustChange": s.must_change,
        "passwordChanged": t(s.password_changed),
        "passwordAgeSeconds": s.password_age.map(|d| d.as_secs()),
        "lastSuccess": t(s.last_success),
        "failures": s.failures,
        "lastFailure": t(s.last_failure),
        "created": t(s.created),
        "bindRefused": s.bind_refused,
    })
}

/// Runs an account command.
pub fn run(c: &mut Client, cmd: AccountCmd, out: &Out) -> Result<(), Failure> {
    let cfg = ClientConfig::load()?;
    let policies = Policies::load(c, &cfg)?;
    let now = SystemTime::now();
    match cmd {
        AccountCmd::Status { uid } => show(c, out, &policies, &uid, now),
        AccountCmd::Locked { include_disabled } => {
            let f = any_of(policies.all().map(|p| status::locked_filter(p, now, include_disabled)));
            let rows = select(c, &policies, &f, now, |s| s.is_locked() || (include_disabled && s.disabled.is_some()))?;
            let human: Vec<Vec<String>> = rows
                .iter()
                .map(|(e, s)| {
                    let at =
                        if s.disabled.is_some() { "disabled" } else { e.first("pwdAccountLockedTime").unwrap_or("-") };
                    vec![
                        uid_of(e),
                        at.to_string(),
                        locked_until(s).unwrap_or_else(|| "until enabled".into()),
                        s.failures.to_string(),
                    ]
                })
                .collect();
            emit_list(out, &["UID", "LOCKED AT", "UNTIL", "FAILURES"], human, &rows);
            Ok(())
        }
        AccountCmd::Disabled => {
            let rows = select(c, &policies, &status::disabled_filter(), now, |s| s.disabled.is_some())?;
            let human = rows
                .iter()
                .map(|(e, s)| {
                    let d = s.disabled.clone().unwrap_or_default();
                    vec![uid_of(e), opt_when(d.at), d.by.unwrap_or_else(|| "-".into()), d.reason.unwrap_or_default()]
                })
                .collect();
            emit_list(out, &["UID", "DISABLED AT", "BY", "REASON"], human, &rows);
            Ok(())
        }
        AccountCmd::Expiring { within } => {
            let f = any_of(policies.all().map(|p| status::expiring_filter(p, now, within)));
            let rows = select(c, &policies, &f, now, |s| s.expires_within(now, within))?;
            let human = rows
                .iter()
                .map(|(e, s)| {
                    let upcoming = |t: Option<SystemTime>| t.filter(|t| *t >= now);
                    vec![uid_of(e), opt_when(upcoming(s.account_expires)), opt_when(upcoming(s.password_expires))]
                })
                .collect();
            emit_list(out, &["UID", "ACCOUNT EXPIRES", "PASSWORD EXPIRES"], human, &rows);
            Ok(())
        }
        AccountCmd::Inactive { since } => {
            let cutoff = now.checked_sub(since).unwrap_or(std::time::UNIX_EPOCH);
            let rows = select(c, &policies, &status::inactive_filter(now, since), now, |s| s.inactive_since(cutoff))?;
            let human = rows
                .iter()
                .map(|(e, s)| {
                    let last = s.last_success.map_or_else(|| "never".to_string(), when);
                    vec![uid_of(e), last, opt_when(s.created)]
                })
                .collect();
            emit_list(out, &["UID", "LAST BIND", "CREATED"], human, &rows);
            Ok(())
        }
        AccountCmd::Purge { older_than, dry_run } => purge(c, out, &policies, older_than, dry_run, now),
    }
}

/// `(|f1 f2 ...)` of distinct filters (one alone as it is).
fn any_of(filters: impl Iterator<Item = String>) -> String {
    let mut fs: Vec<String> = filters.collect();
    fs.sort();
    fs.dedup();
    match fs.len() {
        1 => fs.remove(0),
        _ => format!("(|{})", fs.concat()),
    }
}

/// Accounts under the people subtree matching `filter` that `keep` decides to list, by uid.
fn select(
    c: &mut Client,
    p: &Policies,
    filter: &str,
    now: SystemTime,
    keep: impl Fn(&AccountStatus) -> bool,
) -> Result<Vec<(Entry, AccountStatus)>, Failure> {
    let people = c.people();
    let mut rows: Vec<(Entry, AccountStatus)> = c
        .search_paged(&people, Scope::Subtree, filter, &view_attrs())?
        .into_iter()
        .map(|e| {
            let s = status_of(p, &e, now);
            (e, s)
        })
        .filter(|(_, s)| keep(s))
        .collect();
    rows.sort_by_key(|(e, _)| uid_of(e));
    Ok(rows)
}

fn emit_list(out: &Out, headers: &[&str], human: Vec<Vec<String>>, rows: &[(Entry, AccountStatus)]) {
    let j: Vec<Value> = rows.iter().map(|(e, s)| status_json(e, s)).collect();
    out.emit(table(headers, &human), j.into());
}

/// A filter true for every entry whose account state the operator may read: an assertion
/// on an attribute the operator may not read is Undefined, and so is this filter.
const STATE_READABLE: &str = "(|(pwdAccountLockedTime=*)(!(pwdAccountLockedTime=*)))";

fn show(c: &mut Client, out: &Out, p: &Policies, uid: &str, now: SystemTime) -> Result<(), Failure> {
    let people = c.people();
    let filter = format!("(&(objectClass=posixAccount)(uid={}))", escape(uid));
    let e = c
        .search(&people, Scope::Subtree, &filter, &view_attrs())?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::not_found(format!("user {uid}")))?;
    if c.search(&e.dn, Scope::Base, STATE_READABLE, &["1.1"])?.is_empty() {
        return Err(Failure::new(
            Exit::Denied,
            format!("user {uid}: no access to its account state (admins, the helpdesk and the owner have)"),
        ));
    }
    let s = status_of(p, &e, now);
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
    let one = |v: Option<String>| v.into_iter().collect::<Vec<_>>();
    let mut fields: Vec<(&str, Vec<String>)> = vec![("dn", vec![e.dn.clone()])];
    fields.push((
        "locked",
        vec![match locked_until(&s) {
            Some(u) if s.locked == Some(LockedUntil::Unlocked) => format!("yes, {u}"),
            Some(u) => format!("yes, until {u}"),
            None => "no".into(),
        }],
    ));
    if s.is_locked() {
        fields.push(("locked at", one(locked_at(&e))));
    }
    fields.push(("disabled", vec![yes(s.disabled.is_some())]));
    if let Some(d) = &s.disabled {
        fields.push(("disabled by", one(d.by.clone())));
        fields.push(("disabled at", one(d.at.map(when))));
        fields.push(("disabled reason", one(d.reason.clone())));
    }
    fields.push(("expired", vec![yes(s.expired())]));
    fields.push(("account expires", one(s.account_expires.map(when))));
    fields.push(("password expires", one(s.password_expires.map(when))));
    if let Some(g) = s.grace_left {
        fields.push(("grace binds left", vec![g.to_string()]));
    }
    fields.push(("must change", vec![yes(s.must_change)]));
    fields.push(("password changed", one(s.password_changed.map(when))));
    fields.push(("password age", one(s.password_age.map(ago))));
    fields.push(("last bind", vec![s.last_success.map_or_else(|| "never recorded".into(), when)]));
    fields.push(("failed binds", vec![s.failures.to_string()]));
    fields.push(("last failure", one(s.last_failure.map(when))));
    fields.push(("bind now", vec![s.bind_refused.map_or_else(|| "allowed".into(), |r| format!("refused: {r}"))]));
    out.emit(record(&fields), status_json(&e, &s));
    Ok(())
}

fn purge(
    c: &mut Client,
    out: &Out,
    p: &Policies,
    older_than: Duration,
    dry_run: bool,
    now: SystemTime,
) -> Result<(), Failure> {
    let cutoff = now.checked_sub(older_than).unwrap_or(std::time::UNIX_EPOCH);
    let candidates = select(c, p, &status::disabled_filter(), now, |s| s.disabled.is_some())?;
    let mut rows = Vec::new();
    let mut j = Vec::new();
    let mut first_failure: Option<Failure> = None;
    for (e, s) in candidates {
        let at = s.disabled.as_ref().and_then(|d| d.at);
        let reason = s.disabled.as_ref().and_then(|d| d.reason.clone()).unwrap_or_default();
        // Disabled before Birch recorded when: never purged (no grace period can be
        // measured); `user delete` removes it.
        let due = at.is_some_and(|t| t <= cutoff);
        if !due {
            continue;
        }
        let uid = uid_of(&e);
        let (result, left) = if dry_run {
            ("would delete".to_string(), Vec::new())
        } else {
            match user::remove_account(c, &e.dn, &uid) {
                Ok(left) => ("deleted".to_string(), left),
                Err(f) => {
                    let msg = f.message.clone();
                    first_failure.get_or_insert(f);
                    (format!("failed: {msg}"), Vec::new())
                }
            }
        };
        rows.push(vec![uid.clone(), opt_when(at), reason.clone(), result.clone()]);
        j.push(json!({"dn": e.dn, "uid": uid, "disabledAt": at.map(when), "reason": reason,
            "result": result, "leftGroups": left}));
    }
    out.emit(table(&["UID", "DISABLED AT", "REASON", "RESULT"], &rows), j.into());
    match first_failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_of_several_policies_are_ored_once() {
        assert_eq!(any_of(["(a=1)".to_string()].into_iter()), "(a=1)");
        assert_eq!(any_of(["(b=1)", "(a=1)", "(b=1)"].iter().map(|s| s.to_string())), "(|(a=1)(b=1))");
    }

    #[test]
    fn dns_compare_without_case_and_spaces() {
        assert_eq!(dn_key("cn=Default, ou=Policies,dc=X"), "cn=default,ou=policies,dc=x");
    }

    #[test]
    fn policy_entries_as_read() {
        let e = Entry {
            dn: "cn=p".into(),
            attrs: vec![
                ("pwdLockoutDuration".into(), vec!["0".into()]),
                ("pwdLockout".into(), vec!["TRUE".into()]),
                ("pwdMaxFailure".into(), vec!["3".into()]),
            ],
        };
        let p = policy_of(&e);
        assert_eq!((p.lockout_duration, p.max_failure, p.lockout), (0, 3, true));
    }
}
