//! `birch user import FILE`: a whole intake from a CSV file. The file is read and checked
//! first (nothing changes when its header or groups are wrong); then accounts that exist are
//! left alone ("existed": their passwords are not reset, so a second run is harmless), the
//! uidNumbers of the new ones are taken as one block from the counter, the accounts are
//! added over a few connections at once, each generated password is written to the password
//! file as soon as its account exists, and every group gets its new members in one modify.

use super::csvfile::{map_header, Column, CsvFile};
use super::pwfile::PasswordFile;
use super::ImportArgs;
use crate::admin::client::{escape, rdn_value, values, Client, Entry};
use crate::admin::error::{exit_for, Exit, Failure};
use crate::admin::group;
use crate::admin::ids::{self, Kind};
use crate::admin::output::{table, Out};
use crate::admin::secret;
use crate::admin::user::{fill, valid_uid};
use crate::progress::Progress;
use ldap3::{Mod, Scope};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// uids looked up per search.
const LOOKUP_CHUNK: usize = 100;
/// Values added to a group per modify (a group of a whole intake fits in one).
const GROUP_CHUNK: usize = 5000;
/// Tries of a group's modify when someone else changed its members meanwhile.
const GROUP_TRIES: u32 = 5;

/// A checked row of the file.
#[derive(Debug, Clone)]
struct Row {
    line: u64,
    uid: String,
    cn: String,
    sn: String,
    given: Option<String>,
    mail: Option<String>,
    groups: Vec<String>,
    primary: Option<String>,
    uid_number: Option<u32>,
    home: Option<String>,
    shell: Option<String>,
    extra: Vec<(String, String)>,
}

/// A row that was not imported.
#[derive(Debug, Clone)]
struct Failed {
    /// `file:line`.
    at: String,
    uid: String,
    reason: String,
}

/// Turns the fields of a line into a row (`Err`: why not, naming the column).
fn row_of(cols: &[Column], headers: &[String], line: u64, fields: Vec<String>, sep: char) -> Result<Row, String> {
    let mut r = Row {
        line,
        uid: String::new(),
        cn: String::new(),
        sn: String::new(),
        given: None,
        mail: None,
        groups: Vec::new(),
        primary: None,
        uid_number: None,
        home: None,
        shell: None,
        extra: Vec::new(),
    };
    for (i, (col, v)) in cols.iter().zip(fields).enumerate() {
        if v.is_empty() {
            continue;
        }
        let name = || format!("column {} {:?}", i + 1, headers.get(i).map(String::as_str).unwrap_or("?"));
        if v.chars().any(char::is_control) {
            return Err(format!("{}: a control character", name()));
        }
        match col {
            Column::Uid => {
                if !valid_uid(&v) {
                    return Err(format!(
                        "{}: uid {v:?}: use lower-case letters, digits, '.', '_' and '-' (a letter or '_' first, at most 32)",
                        name()
                    ));
                }
                r.uid = v;
            }
            Column::Cn => r.cn = v,
            Column::GivenName => r.given = Some(v),
            Column::Sn => r.sn = v,
            Column::Mail => {
                if !v.contains('@') || v.contains(char::is_whitespace) {
                    return Err(format!("{}: {v:?} is not a mail address", name()));
                }
                r.mail = Some(v);
            }
            Column::Groups => {
                r.groups = v.split(sep).map(str::trim).filter(|g| !g.is_empty()).map(String::from).collect();
            }
            Column::PrimaryGroup => r.primary = Some(v),
            Column::UidNumber => {
                r.uid_number = Some(v.parse::<u32>().map_err(|_| format!("{}: {v:?} is not a uidNumber", name()))?);
            }
            Column::Home => r.home = Some(v),
            Column::Shell => r.shell = Some(v),
            Column::Attr(a) => r.extra.push((a.clone(), v)),
            Column::Ignore => {}
        }
    }
    if r.uid.is_empty() {
        return Err("no uid".into());
    }
    if r.cn.is_empty() {
        r.cn = match (&r.given, r.sn.is_empty()) {
            (Some(g), false) => format!("{g} {}", r.sn),
            (None, false) => r.sn.clone(),
            _ => return Err("no name: give a cn (full name) or a surname".into()),
        };
    }
    if r.sn.is_empty() {
        let words: Vec<&str> = r.cn.split_whitespace().collect();
        if let Some((last, first)) = words.split_last() {
            r.sn = last.to_string();
            if r.given.is_none() && !first.is_empty() {
                r.given = Some(first.join(" "));
            }
        }
    }
    Ok(r)
}

/// What happened to each row, for the summary.
#[derive(Default)]
struct Tally {
    created: Vec<String>,
    existed: Vec<(String, String)>,
    failed: Vec<Failed>,
    groups: Vec<(String, usize)>,
    group_failures: Vec<String>,
}

/// Runs `user import`.
pub fn import(c: &mut Client, out: &Out, a: ImportArgs) -> Result<(), Failure> {
    let delimiter = super::delimiter(a.delimiter)?;
    let mut file = CsvFile::open(&a.file, delimiter)?;
    let name = file.name().to_string();
    let cols = map_header(&file.headers, &a.map)?;
    if !cols.contains(&Column::Uid) {
        return Err(Failure::other(format!("{name}: no uid column (a header uid, login or username; or --map)")));
    }
    if !cols.iter().any(|c| matches!(c, Column::Cn | Column::Sn)) {
        return Err(Failure::other(format!("{name}: no name column (cn, name or surname)")));
    }
    let headers = file.headers.clone();
    let mut tally = Tally::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut count = 0usize;
    while let Some(r) = file.next_row()? {
        count += 1;
        if count > a.max_rows {
            return Err(Failure::other(format!("{name}: more than {} rows (--max-rows)", a.max_rows)));
        }
        let (line, fields) = match r {
            Ok(r) => r,
            Err((line, reason)) => {
                tally.failed.push(Failed { at: format!("{name}:{line}"), uid: String::new(), reason });
                continue;
            }
        };
        // The uid as written, to name the row when it fails.
        let uid = cols.iter().position(|c| *c == Column::Uid).and_then(|i| fields.get(i)).cloned().unwrap_or_default();
        match row_of(&cols, &headers, line, fields, a.group_separator) {
            Ok(row) => rows.push(row),
            Err(reason) => tally.failed.push(Failed { at: format!("{name}:{line}"), uid, reason }),
        }
    }
    // A uid twice in the file: neither row is imported (two people may have been given one
    // name); the operator fixes the file and runs again.
    let mut lines_of: HashMap<String, Vec<u64>> = HashMap::new();
    for r in &rows {
        lines_of.entry(r.uid.clone()).or_default().push(r.line);
    }
    rows.retain(|r| match lines_of.get(&r.uid) {
        Some(ls) if ls.len() > 1 => {
            let list: Vec<String> = ls.iter().map(u64::to_string).collect();
            tally.failed.push(Failed {
                at: format!("{name}:{}", r.line),
                uid: r.uid.clone(),
                reason: format!("uid {} is in the file more than once (lines {})", r.uid, list.join(", ")),
            });
            false
        }
        _ => true,
    });

    // Every group named anywhere must exist before anything changes.
    let default_primary = a.primary_group.clone().or_else(|| c.accounts.primary_group.clone());
    let mut groups: HashMap<String, Entry> = HashMap::new();
    let mut wanted: Vec<(String, u64)> = Vec::new();
    for r in &rows {
        for g in r.groups.iter().chain(r.primary.iter()) {
            wanted.push((g.clone(), r.line));
        }
        if r.primary.is_none() && default_primary.is_none() {
            return Err(Failure::other(format!(
                "{name}:{}: no primary group: add a primary group column, --primary-group, or accounts.primary_group",
                r.line
            )));
        }
    }
    wanted.extend(a.groups.iter().chain(default_primary.iter()).map(|g| (g.clone(), 0)));
    for (g, line) in wanted {
        if groups.contains_key(&g) {
            continue;
        }
        match group::find(c, &g) {
            Ok(e) => {
                groups.insert(g, e);
            }
            Err(f) if f.code == Exit::NotFound => {
                let at = if line > 0 { format!("{name}:{line}: ") } else { String::new() };
                return Err(Failure::new(
                    Exit::NotFound,
                    format!(
                        "{at}group {g} does not exist: create it first (birch group add {g}); nothing was imported"
                    ),
                ));
            }
            Err(f) => return Err(f),
        }
    }
    let primary_gid = |r: &Row| -> Option<String> {
        let g = r.primary.as_ref().or(default_primary.as_ref())?;
        groups.get(g).and_then(|e| e.first("gidNumber")).map(String::from)
    };
    if let Some(r) = rows.iter().find(|r| primary_gid(r).is_none()) {
        return Err(Failure::other(format!(
            "{name}:{}: the primary group of {} has no gidNumber (not a posixGroup)",
            r.line, r.uid
        )));
    }

    // Accounts that exist are left alone; they still join the file's groups when they are the
    // same person (same cn), so a run cut short between adds and groups completes.
    let existing = lookup(c, rows.iter().map(|r| r.uid.as_str()))?;
    let mut to_create = Vec::new();
    // (row, DN of its account): who joins the groups.
    let mut members: Vec<(Row, String)> = Vec::new();
    for r in rows {
        match existing.get(&r.uid) {
            Some(e) => {
                let same = e.has_class("posixAccount") && e.has_value("cn", &r.cn);
                let note = if same {
                    String::from("exists")
                } else {
                    format!("exists as {} (another person?); groups left alone", e.dn)
                };
                tally.existed.push((r.uid.clone(), note));
                if same {
                    members.push((r, e.dn.clone()));
                }
            }
            None => to_create.push(r),
        }
    }

    let mut passwords = if to_create.is_empty() { None } else { Some(PasswordFile::create(&a.passwords, a.force)?) };
    let need = to_create.iter().filter(|r| r.uid_number.is_none()).count();
    let mut numbers = match need {
        0 => Vec::new(),
        _ => ids::allocate_many(c, Kind::Uid, need).inspect_err(|_| {
            passwords.take().and_then(PasswordFile::keep_if_written);
        })?,
    }
    .into_iter();
    let mut jobs = Vec::with_capacity(to_create.len());
    for r in to_create {
        let n = match r.uid_number {
            Some(n) => n,
            None => numbers.next().ok_or_else(|| Failure::other("fewer uidNumbers than accounts"))?,
        };
        let gid = primary_gid(&r).unwrap_or_default();
        let pw = secret::generate(secret::TEMPORARY_LEN);
        let (dn, attrs) = entry_of(c, &r, n, &gid, &pw);
        jobs.push(Job { row: r, dn, attrs, password: pw });
    }

    let mut progress = Progress::new("import");
    progress.pass("add", Some(jobs.len() as u64));
    let fatal =
        create(c, jobs, usize::from(a.connections), &name, &mut tally, &mut members, &mut passwords, &mut progress);
    progress.finish();
    if fatal.is_none() {
        join_groups(c, &members, &a.groups, default_primary.as_deref(), &mut groups, &mut tally)?;
    }
    let passwords = passwords.and_then(PasswordFile::keep_if_written);
    summary(out, &name, &tally, passwords.as_ref());
    if let Some(f) = fatal {
        return Err(f);
    }
    if !tally.failed.is_empty() || !tally.group_failures.is_empty() {
        return Err(Failure::other(format!(
            "{name}: {} rows not imported, {} groups not changed (see above)",
            tally.failed.len(),
            tally.group_failures.len()
        )));
    }
    Ok(())
}

/// The entries whose uid is one of `uids` (anywhere under the base), by uid.
fn lookup<'a>(c: &mut Client, uids: impl Iterator<Item = &'a str>) -> Result<HashMap<String, Entry>, Failure> {
    let all: Vec<&str> = uids.collect();
    let base = c.base.clone();
    let mut found = HashMap::new();
    for chunk in all.chunks(LOOKUP_CHUNK) {
        let any: String = chunk.iter().map(|u| format!("(uid={})", escape(u))).collect();
        for e in c.search(&base, Scope::Subtree, &format!("(|{any})"), &["uid", "cn", "objectClass"])? {
            for u in e.get("uid").to_vec() {
                found.entry(u.to_lowercase()).or_insert_with(|| e.clone());
            }
        }
    }
    // Looked up by the file's uid (lower-case by valid_uid).
    Ok(found)
}

/// The attributes of an add.
type Attrs = Vec<(String, HashSet<String>)>;

/// An account to add.
struct Job {
    row: Row,
    dn: String,
    attrs: Attrs,
    password: String,
}

/// The DN and attributes of a new account, as `user add` makes them.
fn entry_of(c: &Client, r: &Row, uid_number: u32, gid: &str, pw: &str) -> (String, Attrs) {
    let dn = format!("uid={},{}", rdn_value(&r.uid), c.people());
    let home = r.home.clone().unwrap_or_else(|| fill(&c.accounts.home, &r.uid));
    let shell = r.shell.clone().unwrap_or_else(|| c.accounts.shell.clone());
    let mail = r.mail.clone().or_else(|| c.accounts.mail.as_deref().map(|m| fill(m, &r.uid)));
    let mut attrs = vec![
        ("objectClass".to_string(), values(["inetOrgPerson", "posixAccount", "shadowAccount"])),
        ("uid".into(), values([r.uid.clone()])),
        ("cn".into(), values([r.cn.clone()])),
        ("sn".into(), values([r.sn.clone()])),
        ("uidNumber".into(), values([uid_number.to_string()])),
        ("gidNumber".into(), values([gid])),
        ("homeDirectory".into(), values([home])),
        ("loginShell".into(), values([shell])),
        ("userPassword".into(), values([pw])),
    ];
    if let Some(g) = &r.given {
        attrs.push(("givenName".into(), values([g.clone()])));
    }
    if let Some(m) = mail {
        attrs.push(("mail".into(), values([m])));
    }
    for (a, v) in &r.extra {
        attrs.push((a.clone(), values([v.clone()])));
    }
    (dn, attrs)
}

/// The answer to one add.
enum Done {
    /// The server's result.
    Result(ldap3::LdapResult),
    /// The connection failed.
    Broken(Failure),
}

/// Adds the accounts over `conns` connections, writing each password once its account
/// exists. Returns the failure that stopped the run (access denied, a broken connection),
/// if any; rows refused one by one are in the tally.
#[allow(clippy::too_many_arguments)]
fn create(
    c: &mut Client,
    jobs: Vec<Job>,
    conns: usize,
    name: &str,
    tally: &mut Tally,
    members: &mut Vec<(Row, String)>,
    passwords: &mut Option<PasswordFile>,
    progress: &mut Progress,
) -> Option<Failure> {
    if jobs.is_empty() {
        return None;
    }
    let conns = conns.clamp(1, jobs.len());
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        match c.another() {
            Ok(cl) => clients.push(cl),
            Err(f) => return Some(f),
        }
    }
    let stop = AtomicBool::new(false);
    let mut pending: HashMap<usize, Job> = HashMap::new();
    let work: Vec<(usize, String, Attrs)> =
        jobs.iter().enumerate().map(|(i, j)| (i, j.dn.clone(), j.attrs.clone())).collect();
    for (i, j) in jobs.into_iter().enumerate() {
        pending.insert(i, j);
    }
    let queue = std::sync::Mutex::new(work.into_iter());
    let (tx, rx) = mpsc::channel::<(usize, Done)>();
    let mut fatal = None;
    std::thread::scope(|s| {
        for mut cl in clients {
            let (tx, queue, stop) = (tx.clone(), &queue, &stop);
            s.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let next = match queue.lock() {
                    Ok(mut q) => q.next(),
                    Err(_) => None,
                };
                let Some((i, dn, attrs)) = next else { break };
                let done = match cl.try_add(&dn, attrs) {
                    Ok(r) => Done::Result(r),
                    Err(f) => Done::Broken(f),
                };
                if tx.send((i, done)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, done) in rx {
            progress.advance(None);
            let Some(job) = pending.remove(&i) else { continue };
            let at = format!("{name}:{}", job.row.line);
            match done {
                Done::Result(r) if r.rc == 0 => {
                    let written = match passwords.as_mut() {
                        Some(p) => p.write(&job.row.uid, &job.password),
                        None => Ok(()),
                    };
                    if let Err(f) = written {
                        stop.store(true, Ordering::Relaxed);
                        fatal.get_or_insert(Failure::other(format!(
                            "{}; {} was created: set a new password with birch user passwd {}",
                            f.message, job.row.uid, job.row.uid
                        )));
                    }
                    tally.created.push(job.row.uid.clone());
                    members.push((job.row, job.dn));
                }
                // Added meanwhile by someone else (or by a run at the same time): existed.
                Done::Result(r) if r.rc == 68 => {
                    tally.existed.push((job.row.uid.clone(), "exists (added meanwhile)".into()));
                }
                Done::Result(r) if matches!(exit_for(r.rc), Exit::Denied | Exit::Connection) => {
                    stop.store(true, Ordering::Relaxed);
                    fatal.get_or_insert(Failure::ldap(&format!("add {}", job.dn), &r));
                    tally.failed.push(Failed { at, uid: job.row.uid, reason: format!("LDAP {}: {}", r.rc, r.text) });
                }
                Done::Result(r) => {
                    let f = Failure::ldap("add", &r);
                    tally.failed.push(Failed { at, uid: job.row.uid, reason: f.message });
                }
                Done::Broken(f) => {
                    stop.store(true, Ordering::Relaxed);
                    tally.failed.push(Failed { at, uid: job.row.uid, reason: f.message.clone() });
                    fatal.get_or_insert(f);
                }
            }
        }
    });
    // Rows never sent because the run stopped.
    let mut left: Vec<Job> = pending.into_values().collect();
    left.sort_by_key(|j| j.row.line);
    for j in left {
        tally.failed.push(Failed {
            at: format!("{name}:{}", j.row.line),
            uid: j.row.uid,
            reason: "not tried (the run stopped)".into(),
        });
    }
    fatal
}

/// Puts the accounts into their groups: for each group one modify adding every missing
/// memberUid (posixGroup) and member DN (groupOfNames), as `group add-member` does.
fn join_groups(
    c: &mut Client,
    rows: &[(Row, String)],
    everyone: &[String],
    default_primary: Option<&str>,
    groups: &mut HashMap<String, Entry>,
    tally: &mut Tally,
) -> Result<(), Failure> {
    let mut by_group: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (r, dn) in rows {
        let primary = r.primary.as_deref().or(default_primary);
        let all = r.groups.iter().map(String::as_str).chain(everyone.iter().map(String::as_str)).chain(primary);
        let mut seen = HashSet::new();
        for g in all {
            if !seen.insert(g) {
                continue;
            }
            match by_group.iter_mut().find(|(n, _)| n == g) {
                Some((_, ms)) => ms.push((r.uid.clone(), dn.clone())),
                None => by_group.push((g.to_string(), vec![(r.uid.clone(), dn.clone())])),
            }
        }
    }
    // A few groups, one modify each: no progress bar for them.
    for (g, ms) in by_group {
        let Some(entry) = groups.get(&g).cloned() else { continue };
        match add_all(c, &entry, &ms) {
            Ok(n) => tally.groups.push((g, n)),
            Err(f) if f.code == Exit::Connection => return Err(f),
            Err(f) => tally.group_failures.push(format!("group {g}: {}", f.message)),
        }
    }
    Ok(())
}

/// Adds the missing ones of `ms` (uid, DN) to `g`; how many were added.
fn add_all(c: &mut Client, g: &Entry, ms: &[(String, String)]) -> Result<usize, Failure> {
    let name = g.first("cn").unwrap_or_default().to_string();
    let mut g = g.clone();
    for _ in 0..GROUP_TRIES {
        let posix = g.has_class("posixGroup");
        let dn_attr = if g.has_class("groupOfNames") {
            Some("member")
        } else if g.has_class("groupOfUniqueNames") {
            Some("uniqueMember")
        } else {
            None
        };
        let have_uid: HashSet<String> = g.get("memberUid").iter().map(|v| v.to_lowercase()).collect();
        let norm = |s: &str| s.split(',').map(|p| p.trim().to_ascii_lowercase()).collect::<Vec<_>>().join(",");
        let have_dn: HashSet<String> = dn_attr.map(|a| g.get(a).iter().map(|v| norm(v)).collect()).unwrap_or_default();
        let uids: Vec<String> =
            ms.iter().filter(|(u, _)| posix && !have_uid.contains(&u.to_lowercase())).map(|(u, _)| u.clone()).collect();
        let dns: Vec<String> = ms
            .iter()
            .filter(|(_, d)| dn_attr.is_some() && !have_dn.contains(&norm(d)))
            .map(|(_, d)| d.clone())
            .collect();
        let added = uids.len().max(dns.len());
        if added == 0 {
            return Ok(0);
        }
        let mut conflict = false;
        let steps = uids.len().div_ceil(GROUP_CHUNK).max(dns.len().div_ceil(GROUP_CHUNK));
        for k in 0..steps {
            let part =
                |v: &[String]| -> Vec<String> { v.iter().skip(k * GROUP_CHUNK).take(GROUP_CHUNK).cloned().collect() };
            let mut mods = Vec::new();
            let (u, d) = (part(&uids), part(&dns));
            if !u.is_empty() {
                mods.push(Mod::Add("memberUid".to_string(), values(u)));
            }
            if let (Some(a), false) = (dn_attr, d.is_empty()) {
                mods.push(Mod::Add(a.to_string(), values(d)));
            }
            let res = c.try_modify(&g.dn, mods)?;
            match res.rc {
                0 => {}
                // Someone added one of them meanwhile: read again and add the rest.
                20 => {
                    conflict = true;
                    break;
                }
                _ => return Err(Failure::ldap(&format!("modify {}", g.dn), &res)),
            }
        }
        if !conflict {
            return Ok(added);
        }
        g = group::find(c, &name)?;
    }
    Err(Failure::other(format!("group {name}: its members kept changing; run the import again")))
}

/// Prints the summary: counts, the password file, and every row not imported.
fn summary(out: &Out, name: &str, t: &Tally, pw: Option<&PasswordFile>) {
    let pw_path = pw.and_then(|p| p.path()).map(|p| p.display().to_string());
    let pw_lines = pw.map_or(0, PasswordFile::lines);
    let mut human =
        format!("{name}: {} created, {} existed, {} failed\n", t.created.len(), t.existed.len(), t.failed.len());
    match (&pw_path, pw) {
        (Some(p), _) => {
            human.push_str(&format!("passwords: {pw_lines} in {p} (mode 600): hand them out, then delete it\n"))
        }
        (None, Some(_)) => {}
        (None, None) => human.push_str("passwords: none (no new account)\n"),
    }
    if !t.groups.is_empty() {
        let rows: Vec<Vec<String>> = t.groups.iter().map(|(g, n)| vec![g.clone(), n.to_string()]).collect();
        human.push_str(&table(&["GROUP", "ADDED"], &rows));
    }
    let notable: Vec<&(String, String)> = t.existed.iter().filter(|(_, n)| n != "exists").collect();
    if !notable.is_empty() {
        let rows: Vec<Vec<String>> = notable.iter().map(|(u, n)| vec![u.clone(), n.clone()]).collect();
        human.push_str(&table(&["EXISTED", "NOTE"], &rows));
    }
    if !t.failed.is_empty() {
        let rows: Vec<Vec<String>> =
            t.failed.iter().map(|f| vec![f.at.clone(), f.uid.clone(), f.reason.clone()]).collect();
        human.push_str(&table(&["FAILED", "UID", "REASON"], &rows));
    }
    for g in &t.group_failures {
        human.push_str(&format!("not changed: {g}\n"));
    }
    let j = json!({
        "file": name,
        "created": t.created,
        "existed": t.existed.iter().map(|(u, n)| json!({"uid": u, "note": n})).collect::<Vec<_>>(),
        "failed": t.failed.iter().map(|f| json!({"at": f.at, "uid": f.uid, "reason": f.reason})).collect::<Vec<_>>(),
        "groups": t.groups.iter().map(|(g, n)| json!({"group": g, "added": n})).collect::<Vec<_>>(),
        "groupFailures": t.group_failures,
        "passwordFile": pw_path,
        "passwords": pw_lines,
    });
    // With `--passwords -` the passwords are on standard output: the summary goes to
    // standard error then.
    if pw.is_some() && pw_path.is_none() {
        eprint!("{human}");
    } else {
        out.emit(human, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(h: &[&str]) -> (Vec<Column>, Vec<String>) {
        let h: Vec<String> = h.iter().map(|s| s.to_string()).collect();
        (map_header(&h, &[]).expect("header"), h)
    }

    #[test]
    fn rows_fill_names_and_groups() {
        let (c, h) = cols(&["uid", "given name", "surname", "groups"]);
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let r = row_of(&c, &h, 2, f(&["s1", "Ada", "Lovelace", "cs; math"]), ';').expect("row");
        assert_eq!((r.cn.as_str(), r.sn.as_str()), ("Ada Lovelace", "Lovelace"));
        assert_eq!(r.groups, ["cs", "math"]);
        let e = row_of(&c, &h, 3, f(&["Bad Uid", "A", "B", ""]), ';').expect_err("bad uid");
        assert!(e.starts_with("column 1 \"uid\": uid"), "{e}");
        let (c, h) = cols(&["uid", "cn", "uidNumber"]);
        let e = row_of(&c, &h, 4, f(&["s2", "X Y", "12a"]), ';').expect_err("bad number");
        assert!(e.contains("column 3 \"uidNumber\""), "{e}");
    }
}
