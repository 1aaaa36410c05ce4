//! `birch group`: posix groups (`memberUid`) and groupOfNames groups (`member`), with both
//! kept consistent when a group has both classes (rfc2307bis), and groups as members of
//! groupOfNames groups (nesting).

use super::client::{escape, rdn_value, values, Client, Entry};
use super::error::{Exit, Failure};
use super::ids::{self, Kind};
use super::output::{record, table, Out};
use clap::{Subcommand, ValueEnum};
use ldap3::{Mod, Scope};
use serde_json::json;

/// `birch group ...`.
#[derive(Subcommand, Debug)]
pub enum GroupCmd {
    /// Create a group: a posixGroup with the next free gidNumber (default), a groupOfNames
    /// (needs a first --member), or both (rfc2307bis schema only).
    Add {
        /// The group's name (cn).
        name: String,
        /// Kind of group.
        #[arg(long, value_enum, default_value_t = GroupKind::Posix)]
        kind: GroupKind,
        /// gidNumber to use instead of the next free one.
        #[arg(long)]
        gid: Option<u32>,
        /// A first member: a user's uid or a group's name (repeatable).
        #[arg(long = "member")]
        members: Vec<String>,
        /// Description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Show a group and its members.
    Show {
        /// The group's name.
        name: String,
    },
    /// List groups.
    List {
        /// Only groups whose name contains this.
        #[arg(long)]
        name: Option<String>,
    },
    /// Add users (uid) or groups (name) to a group.
    AddMember {
        /// The group's name.
        group: String,
        /// Users' uids or groups' names (a user is looked for first).
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Remove users or groups from a group.
    RemoveMember {
        /// The group's name.
        group: String,
        /// Users' uids or groups' names.
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Delete a group (refused while it is an account's primary group, unless --force).
    Delete {
        /// The group's name.
        name: String,
        /// Delete even if accounts have it as their primary group.
        #[arg(long)]
        force: bool,
    },
}

/// The object classes of a new group.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupKind {
    /// posixGroup: gidNumber and memberUid.
    Posix,
    /// groupOfNames: member DNs (users and groups).
    Names,
    /// Both (posixGroup auxiliary, as in rfc2307bis).
    Both,
}

/// A member to add or remove: a user or a group.
#[derive(Debug, Clone)]
pub enum Member {
    /// A posix account: its uid and DN.
    User {
        /// uid.
        uid: String,
        /// DN.
        dn: String,
    },
    /// A group: its name and DN.
    Group {
        /// cn.
        name: String,
        /// DN.
        dn: String,
    },
}

impl Member {
    fn dn(&self) -> &str {
        match self {
            Member::User { dn, .. } | Member::Group { dn, .. } => dn,
        }
    }
}

const GROUP_FILTER: &str = "(|(objectClass=posixGroup)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))";

/// The group named `name`.
pub fn find(c: &mut Client, name: &str) -> Result<Entry, Failure> {
    let base = c.groups();
    let filter = format!("(&{GROUP_FILTER}(cn={}))", escape(name));
    c.search(&base, Scope::Subtree, &filter, &["*"])?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::not_found(format!("group {name}")))
}

/// A user (by uid) or else a group (by name).
pub fn resolve(c: &mut Client, name: &str) -> Result<Member, Failure> {
    let people = c.people();
    let filter = format!("(&(objectClass=posixAccount)(uid={}))", escape(name));
    if let Some(e) = c.search(&people, Scope::Subtree, &filter, &["uid"])?.into_iter().next() {
        return Ok(Member::User { uid: e.first("uid").unwrap_or(name).to_string(), dn: e.dn });
    }
    match find(c, name) {
        Ok(g) => Ok(Member::Group { name: name.to_string(), dn: g.dn }),
        Err(f) if f.code == Exit::NotFound => Err(Failure::not_found(format!("user or group {name}"))),
        Err(f) => Err(f),
    }
}

fn holds_dns(g: &Entry) -> Option<&'static str> {
    if g.has_class("groupOfNames") {
        Some("member")
    } else if g.has_class("groupOfUniqueNames") {
        Some("uniqueMember")
    } else {
        None
    }
}

fn has_dn(g: &Entry, attr: &str, dn: &str) -> bool {
    let norm = |s: &str| s.split(',').map(|p| p.trim().to_ascii_lowercase()).collect::<Vec<_>>();
    g.get(attr).iter().any(|v| norm(v) == norm(dn))
}

/// The modifications that make `m` a member of `g` (`add`) or not (`!add`), in every
/// attribute the group has for it. Empty: nothing to do.
fn membership_mods(g: &Entry, m: &Member, add: bool) -> Result<Vec<Mod<String>>, Failure> {
    let mut mods = Vec::new();
    let change = |attr: &str, v: String| {
        if add {
            Mod::Add(attr.to_string(), values([v]))
        } else {
            Mod::Delete(attr.to_string(), values([v]))
        }
    };
    if let (true, Member::User { uid, .. }) = (g.has_class("posixGroup"), m) {
        if g.has_value("memberUid", uid) != add {
            mods.push(change("memberUid", uid.clone()));
        }
    }
    match holds_dns(g) {
        Some(attr) if has_dn(g, attr, m.dn()) != add => mods.push(change(attr, m.dn().to_string())),
        Some(_) => {}
        None if matches!(m, Member::Group { .. }) => {
            return Err(Failure::new(
                Exit::Refused,
                format!("{}: a posixGroup lists accounts only; nest groups in a groupOfNames", g.dn),
            ))
        }
        None => {}
    }
    Ok(mods)
}

/// Makes `m` a member of `g`; false when it was one already.
pub fn add_member(c: &mut Client, g: &Entry, m: &Member) -> Result<bool, Failure> {
    let mods = membership_mods(g, m, true)?;
    if mods.is_empty() {
        return Ok(false);
    }
    c.modify(&g.dn, mods)?;
    Ok(true)
}

/// Removes `m` from `g`; false when it was no member.
pub fn remove_member(c: &mut Client, g: &Entry, m: &Member) -> Result<bool, Failure> {
    let mods = membership_mods(g, m, false)?;
    if mods.is_empty() {
        return Ok(false);
    }
    c.modify(&g.dn, mods)?;
    Ok(true)
}

/// The group's kind as shown.
fn kind_of(g: &Entry) -> &'static str {
    match (g.has_class("posixGroup"), holds_dns(g).is_some()) {
        (true, true) => "both",
        (true, false) => "posix",
        _ => "names",
    }
}

/// Runs a group command.
pub fn run(c: &mut Client, cmd: GroupCmd, out: &Out) -> Result<(), Failure> {
    match cmd {
        GroupCmd::Add { name, kind, gid, members, description } => add(c, out, &name, kind, gid, &members, description),
        GroupCmd::Show { name } => {
            let g = find(c, &name)?;
            let mut fields = vec![
                ("dn", vec![g.dn.clone()]),
                ("name", g.get("cn").to_vec()),
                ("kind", vec![kind_of(&g).to_string()]),
                ("gidNumber", g.get("gidNumber").to_vec()),
                ("description", g.get("description").to_vec()),
                ("memberUid", g.get("memberUid").to_vec()),
            ];
            if let Some(attr) = holds_dns(&g) {
                fields.push((attr, g.get(attr).to_vec()));
            }
            let mut j = g.to_json();
            j["kind"] = kind_of(&g).into();
            out.emit(record(&fields), j);
            Ok(())
        }
        GroupCmd::List { name } => {
            let base = c.groups();
            let filter = match &name {
                Some(n) => format!("(&{GROUP_FILTER}(cn=*{}*))", escape(n)),
                None => GROUP_FILTER.to_string(),
            };
            let mut gs = c.search(&base, Scope::Subtree, &filter, &["*"])?;
            gs.sort_by_key(|g| g.first("cn").unwrap_or_default().to_ascii_lowercase());
            let count = |g: &Entry| g.get("memberUid").len().max(holds_dns(g).map_or(0, |a| g.get(a).len()));
            let rows: Vec<Vec<String>> = gs
                .iter()
                .map(|g| {
                    vec![
                        g.first("cn").unwrap_or_default().to_string(),
                        kind_of(g).to_string(),
                        g.first("gidNumber").unwrap_or("-").to_string(),
                        count(g).to_string(),
                    ]
                })
                .collect();
            let j: Vec<_> = gs
                .iter()
                .map(|g| {
                    json!({"name": g.first("cn"), "dn": g.dn, "kind": kind_of(g),
                        "gidNumber": g.first("gidNumber").and_then(|v| v.parse::<u64>().ok()), "members": count(g)})
                })
                .collect();
            out.emit(table(&["NAME", "KIND", "GID", "MEMBERS"], &rows), j.into());
            Ok(())
        }
        GroupCmd::AddMember { group, members } => change_members(c, out, &group, &members, true),
        GroupCmd::RemoveMember { group, members } => change_members(c, out, &group, &members, false),
        GroupCmd::Delete { name, force } => {
            let g = find(c, &name)?;
            if let (Some(gid), false) = (g.first("gidNumber"), force) {
                let base = c.base.clone();
                let filter = format!("(&(objectClass=posixAccount)(gidNumber={}))", escape(gid));
                let users = c.search(&base, Scope::Subtree, &filter, &["uid"])?;
                if !users.is_empty() {
                    let uids: Vec<&str> = users.iter().filter_map(|u| u.first("uid")).collect();
                    return Err(Failure::new(
                        Exit::Refused,
                        format!("group {name} is the primary group of {} (use --force)", uids.join(", ")),
                    ));
                }
            }
            c.delete(&g.dn)?;
            out.emit(format!("deleted group {name} ({})", g.dn), json!({"deleted": g.dn}));
            Ok(())
        }
    }
}

fn add(
    c: &mut Client,
    out: &Out,
    name: &str,
    kind: GroupKind,
    gid: Option<u32>,
    members: &[String],
    description: Option<String>,
) -> Result<(), Failure> {
    let resolved = members.iter().map(|m| resolve(c, m)).collect::<Result<Vec<_>, _>>()?;
    let posix = kind != GroupKind::Names;
    let names = kind != GroupKind::Posix;
    if names && resolved.is_empty() {
        return Err(Failure::other("a groupOfNames needs a first --member"));
    }
    if let (false, Some(m)) = (names, resolved.iter().find(|m| matches!(m, Member::Group { .. }))) {
        return Err(Failure::new(
            Exit::Refused,
            format!("{}: a posixGroup lists accounts only; use --kind names for nested groups", m.dn()),
        ));
    }
    let base = c.groups();
    let filter = format!("(&{GROUP_FILTER}(cn={}))", escape(name));
    if !c.search(&base, Scope::Subtree, &filter, &["1.1"])?.is_empty() {
        return Err(Failure::new(Exit::Exists, format!("group {name}: already exists")));
    }
    let dn = format!("cn={},{}", rdn_value(name), c.groups());
    let mut classes = Vec::new();
    let mut attrs = vec![("cn".to_string(), values([name]))];
    let mut number = None;
    if posix {
        classes.push("posixGroup");
        let n = match gid {
            Some(n) => n,
            None => ids::allocate(c, Kind::Gid)?,
        };
        number = Some(n);
        attrs.push(("gidNumber".into(), values([n.to_string()])));
        let uids: Vec<String> = resolved
            .iter()
            .filter_map(|m| match m {
                Member::User { uid, .. } => Some(uid.clone()),
                Member::Group { .. } => None,
            })
            .collect();
        if !uids.is_empty() {
            attrs.push(("memberUid".into(), values(uids)));
        }
    }
    if names {
        classes.push("groupOfNames");
        attrs.push(("member".into(), values(resolved.iter().map(|m| m.dn().to_string()))));
    }
    if let Some(d) = description {
        attrs.push(("description".into(), values([d])));
    }
    attrs.push(("objectClass".into(), values(classes)));
    c.add(&dn, attrs)?;
    let fields = vec![
        ("dn", vec![dn.clone()]),
        ("gidNumber", number.map(|n| n.to_string()).into_iter().collect()),
        ("members", members.to_vec()),
    ];
    out.emit(record(&fields), json!({"dn": dn, "name": name, "gidNumber": number, "members": members}));
    Ok(())
}

fn change_members(c: &mut Client, out: &Out, group: &str, members: &[String], add: bool) -> Result<(), Failure> {
    let resolved = members.iter().map(|m| resolve(c, m)).collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    let mut j = Vec::new();
    for (name, m) in members.iter().zip(&resolved) {
        // Read again each time: every change is made against the group as it is now.
        let g = find(c, group)?;
        let changed = if add { add_member(c, &g, m)? } else { remove_member(c, &g, m)? };
        let what = match (add, changed) {
            (true, true) => "added",
            (true, false) => "already a member",
            (false, true) => "removed",
            (false, false) => "not a member",
        };
        rows.push(vec![name.clone(), what.to_string()]);
        j.push(json!({"member": name, "dn": m.dn(), "changed": changed, "result": what}));
    }
    out.emit(table(&["MEMBER", "RESULT"], &rows), j.into());
    Ok(())
}
