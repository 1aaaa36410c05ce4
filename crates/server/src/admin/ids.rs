//! uidNumber and gidNumber allocation. Each number comes from a counter entry
//! (`cn=uidNext,<base>` / `cn=gidNext,<base>`, object class birchCounter) whose
//! birchNextNumber holds the next free number. A client takes
//! number N with one modify that deletes the value N and adds N+1: the server applies a
//! modify atomically, so of two clients that read the same N only one succeeds; the other
//! gets 16 noSuchAttribute (the value N is gone) and tries again with the new value. This is
//! the usual LDAP idiom (as for sambaUnixIdPool). A number some entry already uses (added by
//! hand) is skipped. A missing counter is created from the highest number in use.

use super::client::{values, Client};
use super::error::{Exit, Failure};
use ldap3::{Mod, Scope};
use rand::Rng;
use std::time::Duration;

/// The counter's attribute (schema/birch.schema).
pub const COUNTER_ATTR: &str = "birchNextNumber";

/// How often to try before giving up (each failed try means another client just took a number).
const TRIES: u32 = 200;

/// Which number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// uidNumber of a posixAccount.
    Uid,
    /// gidNumber of a posixGroup.
    Gid,
}

impl Kind {
    /// The attribute holding the number.
    pub fn attr(self) -> &'static str {
        match self {
            Kind::Uid => "uidNumber",
            Kind::Gid => "gidNumber",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Kind::Uid => "posixAccount",
            Kind::Gid => "posixGroup",
        }
    }

    fn rdn(self) -> &'static str {
        match self {
            Kind::Uid => "cn=uidNext",
            Kind::Gid => "cn=gidNext",
        }
    }

    fn min(self, c: &Client) -> u32 {
        match self {
            Kind::Uid => c.accounts.uid_min,
            Kind::Gid => c.accounts.gid_min,
        }
    }
}

/// The counter entry's DN.
pub fn counter_dn(c: &Client, kind: Kind) -> String {
    format!("{},{}", kind.rdn(), c.base)
}

/// Takes the next free number of `kind`; no other client gets the same one (a block of
/// one: [`allocate_many`]).
pub fn allocate(c: &mut Client, kind: Kind) -> Result<u32, Failure> {
    allocate_many(c, kind, 1)?
        .first()
        .copied()
        .ok_or_else(|| Failure::other(format!("{}: no {} handed out", counter_dn(c, kind), kind.attr())))
}

/// Creates the counter at one past the highest number in use (at least the configured
/// minimum). Another client creating it at the same time is fine.
fn create_counter(c: &mut Client, kind: Kind, dn: &str) -> Result<(), Failure> {
    let base = c.base.clone();
    let attr = kind.attr();
    let filter = format!("(&(objectClass={})({attr}=*))", kind.class());
    let highest = c
        .search(&base, Scope::Subtree, &filter, &[attr])?
        .iter()
        .filter_map(|e| e.first(attr).and_then(|v| v.trim().parse::<u32>().ok()))
        .max();
    let start = highest.map_or(0, |h| h.saturating_add(1)).max(kind.min(c));
    let name = &kind.rdn()[3..];
    let attrs = vec![
        ("objectClass".to_string(), values(["birchCounter"])),
        ("cn".to_string(), values([name])),
        (COUNTER_ATTR.to_string(), values([start.to_string()])),
        ("description".to_string(), values([format!("next free {attr} (birch user/group add)")])),
    ];
    let res = c.try_add(dn, attrs)?;
    match res.rc {
        0 | 68 => Ok(()),
        _ => Err(Failure::ldap(&format!("create the {attr} counter {dn}"), &res)),
    }
}

/// Numbers checked against the directory per search in [`allocate_many`].
const CHECK_CHUNK: usize = 200;

/// Takes `n` free numbers of `kind` at once: one modify moves the counter past a whole
/// block (delete N, add N+n), atomically as in [`allocate`], so a concurrent `user add` (or
/// another import) never gets a number of the block. Numbers of the block that some entry
/// already has (set by hand) are skipped and made up with a further block. Ascending.
pub fn allocate_many(c: &mut Client, kind: Kind, n: usize) -> Result<Vec<u32>, Failure> {
    let dn = counter_dn(c, kind);
    let attr = COUNTER_ATTR;
    let mut got: Vec<u32> = Vec::with_capacity(n);
    let mut tries = 0;
    while got.len() < n {
        tries += 1;
        if tries > TRIES {
            return Err(Failure::other(format!(
                "{dn}: no {} after {TRIES} tries (too many clients at once?)",
                kind.attr()
            )));
        }
        let want = u32::try_from(n - got.len()).map_err(|_| Failure::other("too many numbers at once"))?;
        let current = match c.read(&dn, &[attr])? {
            Some(e) => e.first(attr).and_then(|v| v.trim().parse::<u32>().ok()).ok_or_else(|| {
                Failure::other(format!("{dn}: {attr} is missing or not a number; fix the counter by hand"))
            })?,
            None => {
                create_counter(c, kind, &dn)?;
                continue;
            }
        };
        let next =
            current.checked_add(want).ok_or_else(|| Failure::new(Exit::Refused, format!("{dn}: no {attr} left")))?;
        let mods = vec![
            Mod::Delete(attr.to_string(), values([current.to_string()])),
            Mod::Add(attr.to_string(), values([next.to_string()])),
        ];
        let res = c.try_modify(&dn, mods)?;
        match res.rc {
            0 => {
                let block: Vec<u32> = (current..next).collect();
                let used = used_of(c, kind, &block)?;
                got.extend(block.into_iter().filter(|v| !used.contains(v)));
            }
            16 => std::thread::sleep(Duration::from_millis(rand::rngs::OsRng.gen_range(1..20))),
            _ => return Err(Failure::ldap(&format!("take {want} {}s from {dn}", kind.attr()), &res)),
        }
    }
    Ok(got)
}

/// Which of `numbers` entries of the kind's class already have.
fn used_of(c: &mut Client, kind: Kind, numbers: &[u32]) -> Result<std::collections::HashSet<u32>, Failure> {
    let base = c.base.clone();
    let attr = kind.attr();
    let mut used = std::collections::HashSet::new();
    for chunk in numbers.chunks(CHECK_CHUNK) {
        let any: String = chunk.iter().map(|n| format!("({attr}={n})")).collect();
        let filter = format!("(&(objectClass={})(|{any}))", kind.class());
        for e in c.search(&base, Scope::Subtree, &filter, &[attr])? {
            used.extend(e.get(attr).iter().filter_map(|v| v.trim().parse::<u32>().ok()));
        }
    }
    Ok(used)
}
