//! `birch user retire --from FILE`: disables every account the file lists, now, as
//! `birch user disable` does (pwdAccountLockedTime 000001010000Z and the reason; the server
//! records who and when). Group memberships stay until the account is deleted, so an
//! account retired by mistake comes back whole with `birch user enable`; after the grace
//! period `birch account purge --older-than 90d` deletes the disabled accounts (and their
//! memberships). Restartable: an account already disabled is left as it is.

use super::csvfile::{known, Column, CsvFile};
use super::RetireArgs;
use crate::admin::client::{escape, Client, Entry};
use crate::admin::error::{Exit, Failure};
use crate::admin::output::{table, Out};
use crate::admin::user::{self, is_disabled, DISABLED_REASON};
use crate::progress::Progress;
use ldap3::Scope;
use serde_json::json;
use std::collections::{HashMap, HashSet};

/// uids looked up per search.
const LOOKUP_CHUNK: usize = 100;

/// What `retire` reads from its file.
struct Listed {
    /// The file's name.
    name: String,
    /// The uids, in order, each once, with their lines.
    uids: Vec<(u64, String)>,
    /// Rows that name no uid (`file:line: why`).
    bad: Vec<String>,
}

/// The uids of the file.
fn read_uids(a: &RetireArgs) -> Result<Listed, Failure> {
    let mut file = CsvFile::open(&a.from, super::delimiter(a.delimiter)?)?;
    let name = file.name().to_string();
    let mapped: Vec<String> = a
        .map
        .iter()
        .filter_map(|m| m.split_once('='))
        .filter(|(_, t)| known(t) == Some(Column::Uid))
        .map(|(c, _)| c.trim().to_lowercase())
        .collect();
    let col = file
        .headers
        .iter()
        .position(|h| mapped.contains(&h.trim().to_lowercase()))
        .or_else(|| file.headers.iter().position(|h| known(h) == Some(Column::Uid)))
        .ok_or_else(|| {
            Failure::other(format!("{name}: no uid column (a header uid, login or username; or --map COL=uid)"))
        })?;
    let mut uids = Vec::new();
    let mut bad = Vec::new();
    let mut seen = HashSet::new();
    let mut count = 0usize;
    while let Some(r) = file.next_row()? {
        count += 1;
        if count > a.max_rows {
            return Err(Failure::other(format!("{name}: more than {} rows (--max-rows)", a.max_rows)));
        }
        match r {
            Ok((line, fields)) => {
                let uid = fields.get(col).cloned().unwrap_or_default();
                if uid.is_empty() || uid.chars().any(char::is_control) {
                    bad.push(format!("{name}:{line}: column {}: no uid", col + 1));
                } else if seen.insert(uid.to_lowercase()) {
                    uids.push((line, uid));
                }
            }
            Err((line, e)) => bad.push(format!("{name}:{line}: {e}")),
        }
    }
    Ok(Listed { name, uids, bad })
}

/// Runs `user retire`.
pub fn retire(c: &mut Client, out: &Out, a: RetireArgs) -> Result<(), Failure> {
    let Listed { name, uids, bad } = read_uids(&a)?;
    let reason = a.reason.clone().unwrap_or_else(|| {
        let today = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        format!("retired {}", today.get(..10).unwrap_or(&today))
    });
    // Look the accounts up in chunks (a people's account: posixAccount under people).
    let people = c.people();
    let mut found: HashMap<String, Entry> = HashMap::new();
    for chunk in uids.chunks(LOOKUP_CHUNK) {
        let any: String = chunk.iter().map(|(_, u)| format!("(uid={})", escape(u))).collect();
        let filter = format!("(&(objectClass=posixAccount)(|{any}))");
        for e in c.search(&people, Scope::Subtree, &filter, &["uid", "pwdAccountLockedTime", DISABLED_REASON])? {
            for u in e.get("uid").to_vec() {
                found.entry(u.to_lowercase()).or_insert_with(|| e.clone());
            }
        }
    }
    let mut progress = Progress::new("retire");
    progress.pass("disable", Some(uids.len() as u64));
    let (mut disabled, mut already, mut unknown, mut failed) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut fatal = None;
    for (line, uid) in &uids {
        progress.advance(None);
        let Some(e) = found.get(&uid.to_lowercase()) else {
            unknown.push(format!("{name}:{line}: {uid}"));
            continue;
        };
        if is_disabled(e) {
            already.push(uid.clone());
            continue;
        }
        match user::disable(c, &e.dn, &reason) {
            Ok(()) => disabled.push(uid.clone()),
            Err(f) if matches!(f.code, Exit::Denied | Exit::Connection) => {
                failed.push(format!("{name}:{line}: {uid}: {}", f.message));
                fatal = Some(f);
                break;
            }
            Err(f) => failed.push(format!("{name}:{line}: {uid}: {}", f.message)),
        }
    }
    progress.finish();
    failed.extend(bad);
    let mut human = format!(
        "{name}: {} disabled, {} already disabled, {} unknown, {} failed\n",
        disabled.len(),
        already.len(),
        unknown.len(),
        failed.len()
    );
    if !disabled.is_empty() {
        human.push_str(&format!("reason: {reason}\n"));
    }
    let rows: Vec<Vec<String>> = unknown
        .iter()
        .map(|u| vec!["unknown".to_string(), u.clone()])
        .chain(failed.iter().map(|f| vec!["failed".to_string(), f.clone()]))
        .collect();
    if !rows.is_empty() {
        human.push_str(&table(&["RESULT", "WHERE"], &rows));
    }
    let j = json!({"file": name, "reason": reason, "disabled": disabled, "alreadyDisabled": already,
        "unknown": unknown, "failed": failed});
    out.emit(human, j);
    if let Some(f) = fatal {
        return Err(f);
    }
    if !failed.is_empty() {
        return Err(Failure::other(format!("{name}: {} accounts not disabled (see above)", failed.len())));
    }
    if !unknown.is_empty() {
        return Err(Failure::new(Exit::NotFound, format!("{name}: {} uids are no account (see above)", unknown.len())));
    }
    Ok(())
}
