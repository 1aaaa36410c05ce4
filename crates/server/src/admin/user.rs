//! `birch user`: people's accounts (inetOrgPerson + posixAccount + shadowAccount) and their
//! lifecycle: add, show, list, modify, rename, passwd, lock/unlock, disable/enable, expire,
//! delete; the semester workflows `import` and `retire` are in [`super::intake`].

use super::client::{escape, rdn_value, values, Client, Entry};
use super::error::{Exit, Failure};
use super::group::{self, Member};
use super::ids::{self, Kind};
use super::output::{record, table, Out};
use super::secret;
use crate::ppolicy::gentime;
use clap::Subcommand;
use ldap3::{Mod, Scope};
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The attribute holding why an account was disabled (schema/birch.schema).
pub const DISABLED_REASON: &str = "birchDisabledReason";

/// Attributes read for a user: the user attributes and the account state.
const USER_ATTRS: &[&str] = &[
    "*",
    "pwdAccountLockedTime",
    "pwdChangedTime",
    "pwdFailureTime",
    "pwdReset",
    "pwdEndTime",
    DISABLED_REASON,
    "memberOf",
];

/// `birch user ...`.
#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create an account with the next free uidNumber.
    Add {
        /// The login name (uid): lower-case letters, digits, `.`, `_`, `-`.
        uid: String,
        /// Full name (cn).
        #[arg(long)]
        name: String,
        /// Surname (default: the last word of --name).
        #[arg(long)]
        sn: Option<String>,
        /// Given name (default: the words of --name before the surname).
        #[arg(long)]
        given_name: Option<String>,
        /// Primary group, whose gidNumber the account gets (default: accounts.primary_group).
        #[arg(long)]
        primary_group: Option<String>,
        /// More groups to join (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Mail address (default: the accounts.mail template, if set).
        #[arg(long)]
        mail: Option<String>,
        /// Login shell (default: accounts.shell).
        #[arg(long)]
        shell: Option<String>,
        /// Home directory (default: the accounts.home template).
        #[arg(long)]
        home: Option<String>,
        /// Set a generated temporary password, shown once.
        #[arg(long, conflicts_with = "password_prompt")]
        password_generate: bool,
        /// Set a password typed by the operator (standard input when not a terminal).
        #[arg(long)]
        password_prompt: bool,
    },
    /// Show an account, its groups and its state.
    Show {
        /// The uid.
        uid: String,
    },
    /// List accounts, by name, group and status.
    #[command(alias = "search")]
    List {
        /// Only accounts whose uid or name contains this.
        #[arg(long)]
        name: Option<String>,
        /// Only members of this group (memberUid, member, or as primary group).
        #[arg(long)]
        group: Option<String>,
        /// Only accounts with this status: active, locked, disabled, expired, must-change.
        #[arg(long)]
        status: Option<String>,
    },
    /// Change attributes of an account.
    Modify {
        /// The uid.
        uid: String,
        /// Full name (cn).
        #[arg(long)]
        name: Option<String>,
        /// Surname.
        #[arg(long)]
        sn: Option<String>,
        /// Given name.
        #[arg(long)]
        given_name: Option<String>,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
        /// Mail address.
        #[arg(long)]
        mail: Option<String>,
        /// Login shell.
        #[arg(long)]
        shell: Option<String>,
        /// Home directory.
        #[arg(long)]
        home: Option<String>,
        /// Set any attribute: ATTR=VALUE (repeat an ATTR for several values).
        #[arg(long = "set", value_name = "ATTR=VALUE")]
        set: Vec<String>,
        /// Remove every value of an attribute.
        #[arg(long = "clear", value_name = "ATTR")]
        clear: Vec<String>,
    },
    /// Change an account's uid (group memberships follow).
    Rename {
        /// The current uid.
        uid: String,
        /// The new uid.
        new_uid: String,
    },
    /// Set a temporary password (generated and shown once) that must be changed at the next
    /// login, or with --prompt one typed by the operator.
    Passwd {
        /// The uid.
        uid: String,
        /// Set a password typed by the operator (standard input when not a terminal).
        #[arg(long)]
        prompt: bool,
    },
    /// Lock an account now, as failed binds would (lasts the policy's pwdLockoutDuration).
    Lock {
        /// The uid.
        uid: String,
    },
    /// Lift a lock (not a disable: use enable).
    Unlock {
        /// The uid.
        uid: String,
    },
    /// Disable an account until it is enabled again, recording why.
    Disable {
        /// The uid.
        uid: String,
        /// Why (stored in birchDisabledReason).
        #[arg(long)]
        reason: String,
    },
    /// Enable a disabled account.
    Enable {
        /// The uid.
        uid: String,
    },
    /// Make an account expire at a date (shadowExpire and pwdEndTime), or never.
    Expire {
        /// The uid.
        uid: String,
        /// YYYY-MM-DD (the start of that day, UTC) or an RFC 3339 time.
        #[arg(long, required_unless_present = "never")]
        at: Option<String>,
        /// Remove the expiry.
        #[arg(long, conflicts_with = "at")]
        never: bool,
    },
    /// Create the accounts listed in a CSV file (a semester's intake); restartable.
    Import(super::intake::ImportArgs),
    /// Disable the accounts listed in a file (a graduating class); restartable.
    Retire(super::intake::RetireArgs),
    /// Delete an account; it must be disabled first (campus rule).
    Delete {
        /// The uid.
        uid: String,
        /// Delete an account that is not disabled (only when bound as the root DN).
        #[arg(long)]
        force: bool,
    },
}

/// The account with uid `uid` (under the people subtree).
pub fn find(c: &mut Client, uid: &str) -> Result<Entry, Failure> {
    let people = c.people();
    let filter = format!("(&(objectClass=posixAccount)(uid={}))", escape(uid));
    c.search(&people, Scope::Subtree, &filter, USER_ATTRS)?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::not_found(format!("user {uid}")))
}

/// Whether the account is disabled (pwdAccountLockedTime 000001010000Z).
pub fn is_disabled(e: &Entry) -> bool {
    e.first("pwdAccountLockedTime").is_some_and(|v| v.trim() == gentime::DISABLED)
}

/// The account's status words at `now`: disabled, locked, expired, must-change; or active.
/// (A lock is shown while the entry holds it, even when its duration has run out.)
pub fn status(e: &Entry, now: SystemTime) -> Vec<&'static str> {
    let mut s = Vec::new();
    if is_disabled(e) {
        s.push("disabled");
    } else if e.first("pwdAccountLockedTime").is_some() {
        s.push("locked");
    }
    let days = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    let shadow = e.first("shadowExpire").and_then(|v| v.trim().parse::<i64>().ok()).filter(|d| *d >= 0);
    let end = e.first("pwdEndTime").and_then(gentime::parse);
    if shadow.is_some_and(|d| d as u64 <= days) || end.is_some_and(|t| t <= now) {
        s.push("expired");
    }
    if e.first("pwdReset").is_some_and(|v| v.eq_ignore_ascii_case("TRUE")) {
        s.push("must-change");
    }
    if s.is_empty() {
        s.push("active");
    }
    s
}

/// A uid Birch's commands create: portable POSIX login names.
pub(super) fn valid_uid(uid: &str) -> bool {
    let mut chars = uid.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
        && uid.len() <= 32
}

/// `{uid}` replaced in a template.
pub(super) fn fill(template: &str, uid: &str) -> String {
    template.replace("{uid}", uid)
}

/// Runs a user command.
pub fn run(c: &mut Client, cmd: UserCmd, out: &Out) -> Result<(), Failure> {
    match cmd {
        UserCmd::Add {
            uid,
            name,
            sn,
            given_name,
            primary_group,
            groups,
            mail,
            shell,
            home,
            password_generate,
            password_prompt,
        } => {
            let password = match (password_generate, password_prompt) {
                (true, _) => Some((secret::generate(secret::TEMPORARY_LEN), true)),
                (_, true) => Some((secret::read_new(&format!("New password for {uid}"))?, false)),
                _ => None,
            };
            let new = NewUser { uid, name, sn, given_name, primary_group, groups, mail, shell, home, password };
            add(c, out, new)
        }
        UserCmd::Show { uid } => show(c, out, &uid),
        UserCmd::List { name, group, status } => list(c, out, name, group, status),
        UserCmd::Modify { uid, name, sn, given_name, display_name, mail, shell, home, set, clear } => {
            let e = find(c, &uid)?;
            let mut mods: Vec<Mod<String>> = Vec::new();
            let named = [
                ("cn", name),
                ("sn", sn),
                ("givenName", given_name),
                ("displayName", display_name),
                ("mail", mail),
                ("loginShell", shell),
                ("homeDirectory", home),
            ];
            for (attr, v) in named {
                if let Some(v) = v {
                    mods.push(Mod::Replace(attr.to_string(), values([v])));
                }
            }
            let mut sets: Vec<(String, Vec<String>)> = Vec::new();
            for s in set {
                let (a, v) = s.split_once('=').ok_or_else(|| Failure::other(format!("--set {s:?}: use ATTR=VALUE")))?;
                match sets.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(a)) {
                    Some((_, vs)) => vs.push(v.to_string()),
                    None => sets.push((a.to_string(), vec![v.to_string()])),
                }
            }
            mods.extend(sets.into_iter().map(|(a, v)| Mod::Replace(a, values(v))));
            mods.extend(clear.into_iter().map(|a| Mod::Replace(a, values(Vec::<String>::new()))));
            if mods.is_empty() {
                return Err(Failure::other("nothing to change: give --mail, --shell, --set ATTR=VALUE..."));
            }
            c.modify(&e.dn, mods)?;
            out.emit(format!("modified {uid} ({})", e.dn), json!({"modified": e.dn}));
            Ok(())
        }
        UserCmd::Rename { uid, new_uid } => rename(c, out, &uid, &new_uid),
        UserCmd::Passwd { uid, prompt } => {
            let e = find(c, &uid)?;
            let (pw, generated) = if prompt {
                (secret::read_new(&format!("New password for {uid}"))?, false)
            } else {
                (secret::generate(secret::TEMPORARY_LEN), true)
            };
            c.modify(&e.dn, vec![Mod::Replace("userPassword".into(), values([pw.clone()]))])?;
            let must = must_change(c, &e.dn)?;
            let mut fields = vec![("dn", vec![e.dn.clone()])];
            if generated {
                fields.push(("password", vec![pw.clone()]));
            }
            fields.push(("must change", vec![yes_no(must)]));
            let j = json!({"dn": e.dn, "uid": uid, "password": generated.then_some(&pw), "mustChange": must});
            out.emit(record(&fields), j);
            Ok(())
        }
        UserCmd::Lock { uid } => {
            let e = find(c, &uid)?;
            if is_disabled(&e) {
                return Err(Failure::new(Exit::Refused, format!("user {uid} is disabled; a lock would replace that")));
            }
            let now = gentime::format(SystemTime::now(), false);
            c.modify(&e.dn, vec![Mod::Replace("pwdAccountLockedTime".into(), values([now.clone()]))])?;
            out.emit(format!("locked {uid} at {now}"), json!({"dn": e.dn, "locked": now}));
            Ok(())
        }
        UserCmd::Unlock { uid } => {
            let e = find(c, &uid)?;
            if is_disabled(&e) {
                return Err(Failure::new(Exit::Refused, format!("user {uid} is disabled, not locked: use enable")));
            }
            let was = e.first("pwdAccountLockedTime").is_some();
            if was {
                c.modify(&e.dn, vec![Mod::Delete("pwdAccountLockedTime".into(), values(Vec::<String>::new()))])?;
            }
            let msg = if was { format!("unlocked {uid}") } else { format!("{uid} was not locked") };
            out.emit(msg, json!({"dn": e.dn, "changed": was}));
            Ok(())
        }
        UserCmd::Disable { uid, reason } => {
            let e = find(c, &uid)?;
            disable(c, &e.dn, &reason)?;
            out.emit(format!("disabled {uid}: {reason}"), json!({"dn": e.dn, "disabled": true, "reason": reason}));
            Ok(())
        }
        UserCmd::Enable { uid } => {
            let e = find(c, &uid)?;
            let was = is_disabled(&e);
            if was {
                let mut mods = vec![Mod::Delete("pwdAccountLockedTime".into(), values(Vec::<String>::new()))];
                if e.first(DISABLED_REASON).is_some() {
                    mods.push(Mod::Delete(DISABLED_REASON.into(), values(Vec::<String>::new())));
                }
                c.modify(&e.dn, mods)?;
            }
            let msg = if was { format!("enabled {uid}") } else { format!("{uid} was not disabled") };
            out.emit(msg, json!({"dn": e.dn, "changed": was}));
            Ok(())
        }
        UserCmd::Expire { uid, at, never } => expire(c, out, &uid, at.as_deref(), never),
        UserCmd::Delete { uid, force } => delete(c, out, &uid, force),
        UserCmd::Import(args) => super::intake::import(c, out, args),
        UserCmd::Retire(args) => super::intake::retire(c, out, args),
    }
}

/// Disables the account at `dn` until it is enabled again: `pwdAccountLockedTime:
/// 000001010000Z` and the reason; the server records who did it and when.
pub fn disable(c: &mut Client, dn: &str, reason: &str) -> Result<(), Failure> {
    let mods = vec![
        Mod::Replace("pwdAccountLockedTime".into(), values([gentime::DISABLED])),
        Mod::Replace(DISABLED_REASON.into(), values([reason])),
    ];
    c.modify(dn, mods)
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// Whether the entry is marked must-change (pwdReset) now.
fn must_change(c: &mut Client, dn: &str) -> Result<bool, Failure> {
    let e = c.read(dn, &["pwdReset"])?;
    Ok(e.is_some_and(|e| e.first("pwdReset").is_some_and(|v| v.eq_ignore_ascii_case("TRUE"))))
}

/// What `user add` creates.
struct NewUser {
    uid: String,
    name: String,
    sn: Option<String>,
    given_name: Option<String>,
    primary_group: Option<String>,
    groups: Vec<String>,
    mail: Option<String>,
    shell: Option<String>,
    home: Option<String>,
    /// The password and whether it was generated (then shown).
    password: Option<(String, bool)>,
}

fn add(c: &mut Client, out: &Out, u: NewUser) -> Result<(), Failure> {
    if !valid_uid(&u.uid) {
        return Err(Failure::other(format!(
            "uid {:?}: use lower-case letters, digits, '.', '_' and '-' (a letter or '_' first, at most 32)",
            u.uid
        )));
    }
    let name = u.name.trim().to_string();
    let words: Vec<&str> = name.split_whitespace().collect();
    let Some((last, first)) = words.split_last() else {
        return Err(Failure::other("--name must not be empty"));
    };
    let sn = u.sn.unwrap_or_else(|| last.to_string());
    let given = u.given_name.or_else(|| (!first.is_empty()).then(|| first.join(" ")));
    let primary_name = u.primary_group.or_else(|| c.accounts.primary_group.clone()).ok_or_else(|| {
        Failure::other("no primary group: give --primary-group or set accounts.primary_group in the client config")
    })?;
    let primary = group::find(c, &primary_name)?;
    let gid = primary
        .first("gidNumber")
        .map(String::from)
        .ok_or_else(|| Failure::other(format!("group {primary_name} has no gidNumber (not a posixGroup)")))?;
    let mut others = Vec::new();
    for g in &u.groups {
        others.push(group::find(c, g)?);
    }
    let (base, filter) = (c.base.clone(), format!("(uid={})", escape(&u.uid)));
    if !c.search(&base, Scope::Subtree, &filter, &["1.1"])?.is_empty() {
        return Err(Failure::new(Exit::Exists, format!("user {}: already exists", u.uid)));
    }
    let uid_number = ids::allocate(c, Kind::Uid)?;
    let dn = format!("uid={},{}", rdn_value(&u.uid), c.people());
    let home = u.home.unwrap_or_else(|| fill(&c.accounts.home, &u.uid));
    let shell = u.shell.unwrap_or_else(|| c.accounts.shell.clone());
    let mail = u.mail.or_else(|| c.accounts.mail.as_deref().map(|m| fill(m, &u.uid)));
    let mut attrs = vec![
        ("objectClass".to_string(), values(["inetOrgPerson", "posixAccount", "shadowAccount"])),
        ("uid".into(), values([u.uid.clone()])),
        ("cn".into(), values([name.clone()])),
        ("sn".into(), values([sn])),
        ("uidNumber".into(), values([uid_number.to_string()])),
        ("gidNumber".into(), values([gid.clone()])),
        ("homeDirectory".into(), values([home.clone()])),
        ("loginShell".into(), values([shell.clone()])),
    ];
    if let Some(g) = given {
        attrs.push(("givenName".into(), values([g])));
    }
    if let Some(m) = &mail {
        attrs.push(("mail".into(), values([m.clone()])));
    }
    if let Some((pw, _)) = &u.password {
        attrs.push(("userPassword".into(), values([pw.clone()])));
    }
    c.add(&dn, attrs)?;
    let member = Member::User { uid: u.uid.clone(), dn: dn.clone() };
    let mut joined = Vec::new();
    for g in std::iter::once(&primary).chain(&others) {
        group::add_member(c, g, &member)?;
        joined.push(g.first("cn").unwrap_or_default().to_string());
    }
    let must = u.password.is_some() && must_change(c, &dn)?;
    let shown = u.password.as_ref().filter(|(_, generated)| *generated).map(|(pw, _)| pw.clone());
    let mut fields = vec![
        ("dn", vec![dn.clone()]),
        ("uidNumber", vec![uid_number.to_string()]),
        ("gidNumber", vec![gid.clone()]),
        ("home", vec![home.clone()]),
        ("shell", vec![shell.clone()]),
        ("groups", joined.clone()),
    ];
    if let Some(pw) = &shown {
        fields.push(("password", vec![pw.clone()]));
    }
    if u.password.is_some() {
        fields.push(("must change", vec![yes_no(must)]));
    }
    let j = json!({"dn": dn, "uid": u.uid, "uidNumber": uid_number, "gidNumber": gid.parse::<u64>().ok(),
        "homeDirectory": home, "loginShell": shell, "mail": mail, "groups": joined, "password": shown,
        "mustChange": must});
    out.emit(record(&fields), j);
    Ok(())
}

/// Names of the groups `e` belongs to (memberUid, member, uniqueMember).
fn groups_of(c: &mut Client, e: &Entry) -> Result<Vec<String>, Failure> {
    let uid = e.first("uid").unwrap_or_default();
    let dn = escape(&e.dn);
    let filter = format!("(|(memberUid={})(member={dn})(uniqueMember={dn}))", escape(uid));
    let base = c.groups();
    let mut names: Vec<String> = c
        .search(&base, Scope::Subtree, &filter, &["cn"])?
        .iter()
        .filter_map(|g| g.first("cn"))
        .map(String::from)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

fn show(c: &mut Client, out: &Out, uid: &str) -> Result<(), Failure> {
    let e = find(c, uid)?;
    let groups = groups_of(c, &e)?;
    let st = status(&e, SystemTime::now());
    let v = |a: &str| e.get(a).to_vec();
    let expires: Vec<String> = e
        .first("shadowExpire")
        .and_then(|d| d.trim().parse::<u64>().ok())
        .map(|d| humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(d * 86_400)).to_string())
        .into_iter()
        .collect();
    let fields = vec![
        ("dn", vec![e.dn.clone()]),
        ("uid", v("uid")),
        ("name", v("cn")),
        ("displayName", v("displayName")),
        ("mail", v("mail")),
        ("uidNumber", v("uidNumber")),
        ("gidNumber", v("gidNumber")),
        ("home", v("homeDirectory")),
        ("shell", v("loginShell")),
        ("groups", groups.clone()),
        ("status", vec![st.join(", ")]),
        ("disabled reason", v(DISABLED_REASON)),
        ("locked at", if is_disabled(&e) { Vec::new() } else { v("pwdAccountLockedTime") }),
        ("password changed", v("pwdChangedTime")),
        (
            "failed binds",
            if e.get("pwdFailureTime").is_empty() {
                Vec::new()
            } else {
                vec![e.get("pwdFailureTime").len().to_string()]
            },
        ),
        ("account expires", expires),
        ("password end", v("pwdEndTime")),
    ];
    let mut j = e.to_json();
    j["status"] = st.into();
    j["groups"] = groups.into();
    out.emit(record(&fields), j);
    Ok(())
}

fn list(
    c: &mut Client,
    out: &Out,
    name: Option<String>,
    group: Option<String>,
    want: Option<String>,
) -> Result<(), Failure> {
    const STATUSES: &[&str] = &["active", "locked", "disabled", "expired", "must-change"];
    if let Some(w) = &want {
        if !STATUSES.contains(&w.as_str()) {
            return Err(Failure::other(format!("--status {w}: one of {}", STATUSES.join(", "))));
        }
    }
    let filter = match &name {
        Some(n) => {
            let n = escape(n);
            format!("(&(objectClass=posixAccount)(|(uid=*{n}*)(cn=*{n}*)(sn=*{n}*)(givenName=*{n}*)))")
        }
        None => "(objectClass=posixAccount)".to_string(),
    };
    let in_group = match &group {
        Some(g) => Some(group::find(c, g)?),
        None => None,
    };
    let people = c.people();
    let mut users = c.search(&people, Scope::Subtree, &filter, USER_ATTRS)?;
    if let Some(g) = &in_group {
        users.retain(|u| {
            let uid = u.first("uid").unwrap_or_default();
            g.has_value("memberUid", uid)
                || g.has_value("member", &u.dn)
                || g.has_value("uniqueMember", &u.dn)
                || (g.first("gidNumber").is_some() && g.first("gidNumber") == u.first("gidNumber"))
        });
    }
    let now = SystemTime::now();
    let mut rows = Vec::new();
    let mut j = Vec::new();
    users.sort_by_key(|u| u.first("uid").unwrap_or_default().to_string());
    for u in &users {
        let st = status(u, now);
        if want.as_deref().is_some_and(|w| !st.contains(&w)) {
            continue;
        }
        rows.push(vec![
            u.first("uid").unwrap_or_default().to_string(),
            u.first("uidNumber").unwrap_or("-").to_string(),
            u.first("cn").unwrap_or_default().to_string(),
            st.join(","),
        ]);
        j.push(json!({"uid": u.first("uid"), "dn": u.dn, "uidNumber": u.first("uidNumber").and_then(|v| v.parse::<u64>().ok()),
            "cn": u.first("cn"), "mail": u.first("mail"), "status": st}));
    }
    out.emit(table(&["UID", "UIDNUMBER", "NAME", "STATUS"], &rows), j.into());
    Ok(())
}

fn rename(c: &mut Client, out: &Out, uid: &str, new_uid: &str) -> Result<(), Failure> {
    if !valid_uid(new_uid) {
        return Err(Failure::other(format!("uid {new_uid:?}: use lower-case letters, digits, '.', '_' and '-'")));
    }
    let e = find(c, uid)?;
    let (base, filter) = (c.base.clone(), format!("(uid={})", escape(new_uid)));
    if !c.search(&base, Scope::Subtree, &filter, &["1.1"])?.is_empty() {
        return Err(Failure::new(Exit::Exists, format!("user {new_uid}: already exists")));
    }
    // The server rewrites memberUid values and member DNs pointing at the account
    // (write/groups.rs), in the same write.
    let by_uid = e.dn.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("uid="));
    let new_dn = if by_uid {
        c.rename(&e.dn, &format!("uid={}", rdn_value(new_uid)))?;
        let parent = e.dn.split_once(',').map(|(_, p)| p).unwrap_or_default();
        format!("uid={},{parent}", rdn_value(new_uid))
    } else {
        c.modify(&e.dn, vec![Mod::Replace("uid".into(), values([new_uid]))])?;
        e.dn.clone()
    };
    let old_home = fill(&c.accounts.home, uid);
    let mut home = e.first("homeDirectory").unwrap_or_default().to_string();
    if home == old_home {
        home = fill(&c.accounts.home, new_uid);
        c.modify(&new_dn, vec![Mod::Replace("homeDirectory".into(), values([home.clone()]))])?;
    }
    out.emit(
        record(&[
            ("renamed", vec![format!("{uid} -> {new_uid}")]),
            ("dn", vec![new_dn.clone()]),
            ("home", vec![home.clone()]),
        ]),
        json!({"dn": new_dn, "uid": new_uid, "homeDirectory": home}),
    );
    Ok(())
}

/// Parses `--at`: a day (its start, UTC) or an RFC 3339 time.
fn parse_at(at: &str) -> Result<SystemTime, Failure> {
    let text = if at.len() == 10 { format!("{at}T00:00:00Z") } else { at.to_string() };
    humantime::parse_rfc3339_weak(&text)
        .map_err(|e| Failure::other(format!("--at {at:?}: use YYYY-MM-DD or an RFC 3339 time ({e})")))
}

fn expire(c: &mut Client, out: &Out, uid: &str, at: Option<&str>, never: bool) -> Result<(), Failure> {
    let e = find(c, uid)?;
    let none = || values(Vec::<String>::new());
    let (mods, shown) = match (at, never) {
        (Some(at), false) => {
            let t = parse_at(at)?;
            let days = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
            let mut mods = Vec::new();
            if !e.has_class("shadowAccount") {
                mods.push(Mod::Add("objectClass".to_string(), values(["shadowAccount"])));
            }
            mods.push(Mod::Replace("shadowExpire".into(), values([days.to_string()])));
            mods.push(Mod::Replace("pwdEndTime".into(), values([gentime::format(t, false)])));
            (mods, Some(humantime::format_rfc3339_seconds(t).to_string()))
        }
        _ => (vec![Mod::Replace("shadowExpire".into(), none()), Mod::Replace("pwdEndTime".into(), none())], None),
    };
    c.modify(&e.dn, mods)?;
    let msg = match &shown {
        Some(t) => format!("{uid} expires at {t}"),
        None => format!("{uid} never expires"),
    };
    out.emit(msg, json!({"dn": e.dn, "expires": shown}));
    Ok(())
}

/// Deletes the account `dn` (login name `uid`) and its memberUid values; returns the names
/// of the groups it left. No campus-rule check: the caller's (`user delete`, `account purge`).
pub(crate) fn remove_account(c: &mut Client, dn: &str, uid: &str) -> Result<Vec<String>, Failure> {
    c.delete(dn)?;
    // The server removes member DNs pointing at a deleted entry; memberUid values are names,
    // which it leaves: remove them here.
    let base = c.groups();
    let filter = format!("(&(objectClass=posixGroup)(memberUid={}))", escape(uid));
    let mut left = Vec::new();
    for g in c.search(&base, Scope::Subtree, &filter, &["memberUid", "cn"])? {
        c.modify(&g.dn, vec![Mod::Delete("memberUid".into(), values([uid]))])?;
        left.push(g.first("cn").unwrap_or_default().to_string());
    }
    Ok(left)
}

fn delete(c: &mut Client, out: &Out, uid: &str, force: bool) -> Result<(), Failure> {
    let e = find(c, uid)?;
    if !is_disabled(&e) {
        if !force {
            return Err(Failure::new(
                Exit::Refused,
                format!("user {uid} is not disabled: disable it first (birch user disable {uid} --reason ...)"),
            ));
        }
        if !c.bound_as_root()? {
            return Err(Failure::new(
                Exit::Refused,
                "--force: only the root DN may delete an account that is not disabled",
            ));
        }
    }
    let left = remove_account(c, &e.dn, uid)?;
    out.emit(
        record(&[("deleted", vec![e.dn.clone()]), ("left groups", left.clone())]),
        json!({"deleted": e.dn, "leftGroups": left}),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(attrs: &[(&str, &str)]) -> Entry {
        Entry { dn: "uid=x".into(), attrs: attrs.iter().map(|(n, v)| (n.to_string(), vec![v.to_string()])).collect() }
    }

    #[test]
    fn statuses() {
        let now = UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + 5);
        assert_eq!(status(&entry(&[]), now), ["active"]);
        assert_eq!(status(&entry(&[("pwdAccountLockedTime", "000001010000Z")]), now), ["disabled"]);
        assert_eq!(status(&entry(&[("pwdAccountLockedTime", "20260101000000Z")]), now), ["locked"]);
        assert_eq!(status(&entry(&[("shadowExpire", "20000")]), now), ["expired"]);
        assert_eq!(status(&entry(&[("shadowExpire", "20001")]), now), ["active"]);
        assert_eq!(status(&entry(&[("pwdReset", "TRUE")]), now), ["must-change"]);
    }

    #[test]
    fn uids() {
        assert!(valid_uid("s1234567"));
        assert!(valid_uid("jan.de-vries"));
        assert!(!valid_uid("Alice"));
        assert!(!valid_uid("1x"));
        assert!(!valid_uid("a,b"));
        assert!(!valid_uid(""));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_at("1970-01-02").ok(), Some(UNIX_EPOCH + Duration::from_secs(86_400)));
        assert!(parse_at("tomorrow").is_err());
    }
}
