//! birch-acl: the access-control evaluator. Pure: no I/O, decisions from the inputs only.
//!
//! A [`Policy`] is an ordered list of rules in OpenLDAP's `olcAccess` syntax (see
//! [`rules`] and docs/acl.md). For a request — who ([`Requester`]), which entry
//! ([`Target`]), which attribute (or the pseudo-attributes `entry` and `children`), which
//! [`Privilege`] — the first rule whose target matches decides through its first `by`
//! clause that matches the subject (`continue` and `break` let evaluation go on when that
//! clause does not grant). No matching rule: denied. The root DN may do everything but
//! read, search or compare secret attributes ([`secret`]: `userPassword`, `authPassword`,
//! `pwdHistory`), which nobody may.
//!
//! Group membership is resolved by the caller once per bind (the requester carries its
//! groups), so evaluation needs no directory access.

// No panic reachable from the network, a config file or an LDIF file: tests may unwrap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod rules;
pub mod secret;

use birch_schema::ndn;
use rules::{Control, DnScope, Who};
pub use rules::{Resolver, Rule};
use std::collections::HashSet;
use std::net::IpAddr;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Not bound (or bound anonymously).
    Anonymous,
    /// The configured root DN.
    Root,
    /// A directory entry, by normalized DN.
    User(String),
}

/// The requester of an operation: subject, groups and connection properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// The bound subject.
    pub subject: Subject,
    /// Normalized DNs of the groups the subject belongs to (directly or through nested
    /// groups), of those the policy names.
    pub groups: HashSet<String>,
    /// The client's address.
    pub peer: Option<IpAddr>,
    /// Security strength of the connection (0 cleartext; TLS reports its cipher's).
    pub ssf: u32,
}

impl Requester {
    /// A requester with no groups, from nowhere in particular, in cleartext.
    pub fn new(subject: Subject) -> Requester {
        Requester { subject, groups: HashSet::new(), peer: None, ssf: 0 }
    }
}

/// One kind of access, as operations need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Privilege {
    /// Learn that the entry exists (from an error).
    Disclose,
    /// Use the attribute to authenticate (bind).
    Auth,
    /// Compare a value.
    Compare,
    /// Use the attribute in a search filter.
    Search,
    /// Read values.
    Read,
    /// Add values (or entries, on `entry`/`children`).
    Add,
    /// Delete values (or entries).
    Delete,
    /// Add one's own DN as a value (selfwrite).
    AddSelf,
    /// Delete one's own DN as a value (selfwrite).
    DeleteSelf,
}

/// An access level: a set of privileges. Each named level includes those below it
/// (`none < disclose < auth < compare < search < read < add|delete|selfwrite < write`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level(u16);

const D: u16 = 1;
const A: u16 = 2;
const C: u16 = 4;
const S: u16 = 8;
const R: u16 = 16;
const WADD: u16 = 32;
const WDEL: u16 = 64;
const SADD: u16 = 128;
const SDEL: u16 = 256;

impl Level {
    /// No access.
    pub const NONE: Level = Level(0);
    /// Errors may reveal the entry.
    pub const DISCLOSE: Level = Level(D);
    /// Bind with the attribute.
    pub const AUTH: Level = Level(D | A);
    /// Compare.
    pub const COMPARE: Level = Level(D | A | C);
    /// Search filters.
    pub const SEARCH: Level = Level(D | A | C | S);
    /// Read.
    pub const READ: Level = Level(D | A | C | S | R);
    /// Read and add.
    pub const ADD: Level = Level(D | A | C | S | R | WADD);
    /// Read and delete.
    pub const DELETE: Level = Level(D | A | C | S | R | WDEL);
    /// Read, add and delete.
    pub const WRITE: Level = Level(D | A | C | S | R | WADD | WDEL | SADD | SDEL);
    /// Read, and add or delete one's own DN only.
    pub const SELFWRITE: Level = Level(D | A | C | S | R | SADD | SDEL);

    /// Whether the level grants a privilege.
    pub fn grants(self, p: Privilege) -> bool {
        let bits = match p {
            Privilege::Disclose => D,
            Privilege::Auth => A,
            Privilege::Compare => C,
            Privilege::Search => S,
            Privilege::Read => R,
            Privilege::Add => WADD,
            Privilege::Delete => WDEL,
            Privilege::AddSelf => SADD,
            Privilege::DeleteSelf => SDEL,
        };
        self.0 & bits != 0
    }
}

/// The entry a request is about, as the evaluator sees it.
pub trait Target {
    /// Its normalized DN.
    fn ndn(&self) -> &str;
    /// Whether it matches the policy's filter number `index` (see [`Resolver::filter`]).
    fn matches_filter(&self, index: usize) -> bool;
    /// Whether attribute `attr` (canonical) holds a DN value equal to `ndn` (normalized).
    fn has_dn_value(&self, attr: &str, ndn: &str) -> bool;
}

/// A decision of [`Policy::check_noting`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the access is granted.
    pub allowed: bool,
    /// Whether the decision holds for every target (it did not look at this one).
    pub general: bool,
}

/// A rule that could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} in ACL rule {rule:?}")]
pub struct RuleError {
    /// The rule text.
    pub rule: String,
    /// What is wrong.
    pub message: String,
}

/// A compiled access policy.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    groups: Vec<String>,
    dn_attributes: Vec<String>,
    /// The rules that apply to each attribute some rule names (`attrs=`), in order: those
    /// naming it and those for all attributes. [`Policy::check`] walks only these rather
    /// than comparing the attribute with every rule's list (a search checks a few
    /// attributes of every entry it returns).
    by_attr: foldhash::HashMap<String, Box<[usize]>>,
    /// The rules for all attributes, in order: those that apply to an attribute no rule
    /// names.
    for_all: Box<[usize]>,
}

impl Policy {
    /// Compiles rules, resolving names with `resolve`.
    pub fn compile<S: AsRef<str>>(texts: &[S], resolve: &mut dyn Resolver) -> Result<Policy, RuleError> {
        let rules = texts.iter().map(|t| rules::parse(t.as_ref(), resolve)).collect::<Result<Vec<_>, _>>()?;
        let mut groups: Vec<String> = rules
            .iter()
            .flat_map(|r| r.by.iter())
            .filter_map(|b| match &b.who {
                Who::Group(g) => Some(g.clone()),
                _ => None,
            })
            .collect();
        groups.sort();
        groups.dedup();
        let mut dn_attributes: Vec<String> = rules
            .iter()
            .flat_map(|r| r.by.iter())
            .filter_map(|b| match &b.who {
                Who::DnAttr(a) => Some(a.clone()),
                _ => None,
            })
            .collect();
        dn_attributes.sort();
        dn_attributes.dedup();
        let applies =
            |rule: &Rule, attr: &str| rule.what.attrs.as_ref().is_none_or(|list| list.iter().any(|a| a == attr));
        let for_all: Box<[usize]> = (0..rules.len()).filter(|&i| rules[i].what.attrs.is_none()).collect();
        let mut by_attr = foldhash::HashMap::default();
        for attr in rules.iter().filter_map(|r| r.what.attrs.as_ref()).flatten() {
            if !by_attr.contains_key(attr) {
                let order: Box<[usize]> = (0..rules.len()).filter(|&i| applies(&rules[i], attr)).collect();
                by_attr.insert(attr.clone(), order);
            }
        }
        Ok(Policy { rules, groups, dn_attributes, by_attr, for_all })
    }

    /// The attributes whose values `dnattr=` clauses look at (canonical names): a caller
    /// that reads only some attributes of an entry must read these too.
    pub fn dn_attributes(&self) -> &[String] {
        &self.dn_attributes
    }

    /// The groups the rules name: the caller resolves the requester's membership in these.
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is no rule (everything but the root DN is denied).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether `who` has `need` on attribute `attr` (canonical name, or `entry` /
    /// `children`) of `target`.
    pub fn check(&self, who: &Requester, target: &dyn Target, attr: &str, need: Privilege) -> bool {
        self.check_noting(who, target, attr, need).allowed
    }

    /// [`Policy::check`], noting whether the decision looked at the target at all: when it
    /// did not (no rule or clause on the way named an entry, a filter, `self` or a
    /// `dnattr`), the same requester gets the same answer for this attribute of any entry,
    /// and a caller may remember it for every entry of a search.
    pub fn check_noting(&self, who: &Requester, target: &dyn Target, attr: &str, need: Privilege) -> Decision {
        if matches!(need, Privilege::Read | Privilege::Search | Privilege::Compare) && secret::is_secret_type(attr) {
            return Decision { allowed: false, general: true };
        }
        if who.subject == Subject::Root {
            return Decision { allowed: true, general: true };
        }
        let mut looked = false;
        let order = self.by_attr.get(attr).unwrap_or(&self.for_all);
        let allowed = order
            .iter()
            .filter_map(|&i| self.rules.get(i))
            .find_map(|rule| self.decide(rule, who, target, need, &mut looked))
            .unwrap_or(false);
        Decision { allowed, general: !looked }
    }

    /// What `rule` (one that applies to the attribute) decides: `None` when its target does
    /// not match or a clause `break`s, so the next rule decides. `looked` is set when the
    /// target was looked at.
    fn decide(
        &self,
        rule: &Rule,
        who: &Requester,
        target: &dyn Target,
        need: Privilege,
        looked: &mut bool,
    ) -> Option<bool> {
        let ndn = target.ndn();
        let w = &rule.what;
        let mut captures: Vec<String> = Vec::new();
        if !matches!(w.dn, DnScope::Any) || w.filter.is_some() {
            *looked = true;
        }
        let dn_ok = match &w.dn {
            DnScope::Any => true,
            DnScope::Base(b) => ndn == b,
            DnScope::Subtree(b) => ndn::is_under(ndn, b),
            DnScope::Children(b) => ndn::is_below(ndn, b),
            DnScope::One(b) => ndn::is_child(ndn, b),
            DnScope::Regex(re) => match re.captures(ndn) {
                Some(c) => {
                    captures = c.iter().map(|m| m.map_or(String::new(), |m| m.as_str().to_string())).collect();
                    true
                }
                None => false,
            },
        };
        if !dn_ok || w.filter.is_some_and(|f| !target.matches_filter(f)) {
            return None;
        }
        for clause in &rule.by {
            if !self.who_matches(clause, who, target, &captures, looked) {
                continue;
            }
            if clause.level.grants(need) {
                return Some(true);
            }
            match clause.control {
                Control::Stop => return Some(false),
                Control::Continue => continue,
                Control::Break => return None,
            }
        }
        Some(false)
    }

    fn who_matches(
        &self,
        clause: &rules::By,
        who: &Requester,
        target: &dyn Target,
        captures: &[String],
        looked: &mut bool,
    ) -> bool {
        if clause.ssf > who.ssf {
            return false;
        }
        if let Some((net, bits)) = clause.peer {
            if !who.peer.is_some_and(|p| in_network(p, net, bits)) {
                return false;
            }
        }
        let me = match &who.subject {
            Subject::User(n) => Some(n.as_str()),
            _ => None,
        };
        if matches!(clause.who, Who::SelfEntry | Who::DnAttr(_)) {
            *looked = true;
        }
        match &clause.who {
            Who::Any => true,
            Who::Anonymous => who.subject == Subject::Anonymous,
            Who::Users => me.is_some(),
            Who::SelfEntry => me == Some(target.ndn()),
            Who::DnExact(d) if d.contains('$') => me.is_some_and(|m| m == substitute(d, captures)),
            Who::DnExact(d) => me == Some(d.as_str()),
            Who::DnSubtree(b) => me.is_some_and(|m| ndn::is_under(m, b)),
            Who::DnOne(b) => me.is_some_and(|m| ndn::is_child(m, b)),
            Who::Group(g) => me.is_some() && who.groups.contains(g),
            Who::DnAttr(a) => me.is_some_and(|m| target.has_dn_value(a, m)),
        }
    }
}

/// `$1`..`$9` replaced by the captures of a `dn.regex` target.
fn substitute(pattern: &str, captures: &[String]) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            if let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                chars.next();
                out.push_str(captures.get(d as usize).map_or("", String::as_str));
                continue;
            }
        }
        out.push(c);
    }
    out
}

fn in_network(addr: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
