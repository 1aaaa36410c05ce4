//! Access control in the server: compiles the configured rules (or the campus policy) with
//! the schema, shows entries to the pure evaluator of `birch-acl`, resolves the requester's
//! groups at bind time, and answers denied requests with slapd's result codes. See
//! docs/acl.md.

pub mod campus;
pub mod decisions;

pub use decisions::Decisions;

use crate::config::Config;
use birch_acl::{Policy, Privilege, Requester, Resolver, RuleError, Subject, Target};
use birch_proto::ldap3_proto::proto::{LdapResult, LdapResultCode};
use birch_schema::{Dn, MatchingRule, Schema};
use birch_store::{Entry, Filter, Store, Tri};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Most levels of nested groups followed when resolving membership.
const MAX_GROUP_DEPTH: usize = 16;

/// Most DNs whose groups are remembered between writes (then the memo starts over).
const GROUPS_MEMO_ENTRIES: usize = 50_000;

/// Most distinct (attribute list, filter attributes) combinations remembered by
/// [`Access::needed_types`] (then the memo starts over).
const SEARCH_SHAPES: usize = 1024;

/// A search's attribute list and its filter's attributes.
type SearchShape = (Vec<String>, Vec<String>);

/// The attribute types a search reads from each entry, and those of them only its filter
/// needs (see [`Access::needed_types`]).
pub type NeededTypes = (Arc<[String]>, Arc<[String]>);

/// The access policy in force, compiled against the schema.
pub struct Access {
    policy: Policy,
    filters: Vec<Filter>,
    schema: Arc<Schema>,
    /// [`Access::groups_of`] answers for the membership generation they were computed at.
    groups_memo: Mutex<GroupsMemo>,
    /// See [`Access::decision_types`].
    decision_types: Vec<String>,
    /// See [`Access::bind_types`].
    bind_types: Vec<String>,
    /// [`Access::needed_types`] answers, by attribute list and filter attributes.
    needed: crate::memo::Memo<SearchShape, Option<NeededTypes>>,
    /// This compiled policy among those of the process (a reload compiles another), for
    /// [`Decisions`].
    id: u64,
    /// Search bases read for decisions, remembered while the store is unchanged.
    bases: birch_store::Remembered,
    /// The admins group and the services subtree, normalized (for limits).
    admins_ndn: Option<String>,
    services_ndn: Option<String>,
}

/// What [`Access::groups_of`] remembers, valid for one membership generation
/// ([`Store::membership_generation`]).
#[derive(Default)]
struct GroupsMemo {
    generation: u64,
    /// The policy's groups of a DN.
    by_dn: HashMap<String, HashSet<String>>,
    /// The policy's groups a memberOf value (as stored) stands for: the group itself if the
    /// policy names it, and those above it.
    by_group: HashMap<Vec<u8>, HashSet<String>>,
}

/// Resolves names in rules through the schema and compiles their filters.
struct SchemaResolver<'a> {
    schema: &'a Schema,
    filters: Vec<Filter>,
}

impl Resolver for SchemaResolver<'_> {
    fn attr(&self, name: &str) -> Option<String> {
        self.schema.attr(name).map(|t| t.canonical.clone())
    }

    fn dn(&self, dn: &str) -> Result<String, String> {
        Dn::parse(dn).map(|d| d.normalize(self.schema)).map_err(|e| format!("{dn:?}: {e}"))
    }

    fn filter(&mut self, text: &str) -> Result<usize, String> {
        let parsed = birch_proto::ldap3_proto::parse_ldap_filter_str(text).map_err(|e| format!("{text}: {e:?}"))?;
        self.filters.push(crate::query::filter::convert(&parsed, self.schema, &|_| true));
        Ok(self.filters.len() - 1)
    }
}

/// An entry as the evaluator sees it.
struct EntryTarget<'a> {
    ndn: &'a str,
    entry: Option<&'a Entry>,
    access: &'a Access,
}

impl Target for EntryTarget<'_> {
    fn ndn(&self) -> &str {
        self.ndn
    }

    fn matches_filter(&self, index: usize) -> bool {
        match (self.entry, self.access.filters.get(index)) {
            (Some(e), Some(f)) => f.eval(e, &self.access.schema) == Tri::True,
            _ => false,
        }
    }

    fn has_dn_value(&self, attr: &str, ndn: &str) -> bool {
        let Some(a) = self.entry.and_then(|e| e.get(attr)) else { return false };
        a.values.iter().any(|v| {
            self.access.schema.normalize_value(MatchingRule::DistinguishedName, v).is_some_and(|n| n == ndn.as_bytes())
        })
    }
}

impl Access {
    /// Compiles the configured rules, or the campus policy when none are configured.
    pub fn compile(cfg: &Config, schema: &Arc<Schema>) -> Result<Access, RuleError> {
        let source = match &cfg.access.rules {
            Some(rules) => rules.clone(),
            None => campus::rules(cfg),
        };
        let mut resolver = SchemaResolver { schema, filters: Vec::new() };
        let policy = Policy::compile(&source, &mut resolver)?;
        let ndn = |dn: String| Dn::parse(&dn).ok().map(|d| d.normalize(schema));
        let mut referenced: Vec<&str> = vec!["objectclass"];
        for f in &resolver.filters {
            f.attributes(&mut referenced);
        }
        referenced.extend(policy.dn_attributes().iter().map(|a| birch_schema::desc::base(a)));
        let mut decision_types: Vec<String> = referenced.into_iter().map(str::to_string).collect();
        decision_types.sort();
        decision_types.dedup();
        let mut bind_types = decision_types.clone();
        bind_types.extend(crate::ppolicy::BIND_TYPES.iter().map(|t| t.to_string()));
        bind_types.sort();
        bind_types.dedup();
        Ok(Access {
            groups_memo: Mutex::new(GroupsMemo::default()),
            decision_types,
            bind_types,
            needed: crate::memo::Memo::new(SEARCH_SHAPES),
            bases: birch_store::Remembered::default(),
            id: {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
            policy,
            filters: resolver.filters,
            schema: schema.clone(),
            admins_ndn: ndn(cfg.access.admins_dn(&cfg.suffix)),
            services_ndn: ndn(cfg.access.services_dn(&cfg.suffix)),
        })
    }

    /// Whether the requester is in the admins group.
    pub fn is_admin(&self, who: &Requester) -> bool {
        self.admins_ndn.as_ref().is_some_and(|g| who.groups.contains(g))
    }

    /// Whether `ndn` is a service account (below the services subtree).
    pub fn is_service(&self, ndn: &str) -> bool {
        self.services_ndn.as_ref().is_some_and(|s| birch_schema::ndn::is_below(ndn, s))
    }

    /// Whether `who` has `need` on `attr` (canonical, or `entry`/`children`) of `entry`.
    pub fn check(&self, who: &Requester, entry: &Entry, attr: &str, need: Privilege) -> bool {
        self.policy.check(who, &EntryTarget { ndn: &entry.ndn, entry: Some(entry), access: self }, attr, need)
    }

    /// [`Access::check`] for one operation of `who` through its connection's remembered
    /// decisions ([`Decisions`]): see [`Remembering::check`].
    pub fn remembering<'a>(&'a self, memo: &'a Decisions, who: &'a Requester) -> Remembering<'a> {
        Remembering { access: self, memo, who, epoch: memo.begin(self.id, who) }
    }

    /// Whether `who` has `need` on `attr` of the entry named `ndn`, judged by its name alone
    /// (clauses that look at the entry's attributes do not match): for an entry that no
    /// longer exists, as slapd judges a sync search's delete message.
    pub fn check_dn(&self, who: &Requester, ndn: &str, attr: &str, need: Privilege) -> bool {
        self.policy.check(who, &EntryTarget { ndn, entry: None, access: self }, attr, need)
    }

    /// The matchedDN `who` may be told for `dn`, which does not exist or which it may not
    /// learn of: the deepest existing entry at or above `dn` that it may `disclose`, else
    /// empty. So an entry hidden from a requester answers exactly as a missing one (slapd's
    /// `disclose`), and matchedDN never names an entry the requester may not know of.
    pub fn visible_matched(&self, store: &Store, who: &Requester, dn: &Dn) -> String {
        let mut cur = dn.clone();
        while !cur.rdns.is_empty() {
            if let Ok(Some((_, e))) = store.get_by_ndn(&cur.normalize(&self.schema)) {
                if self.check(who, &e, "entry", Privilege::Disclose) {
                    return e.dn;
                }
            }
            cur = cur.parent();
        }
        String::new()
    }

    /// A search's base entry with the types the policy decides on ([`Access::decision_types`])
    /// and its id, remembered while no write begins ([`birch_store::Remembered`]).
    pub fn search_base(&self, store: &Store, ndn: &str) -> Result<Option<(u64, Arc<Entry>)>, birch_store::StoreError> {
        self.bases.get(store, ndn, &self.decision_types)
    }

    /// The attribute types (canonical names without options) an entry must carry for
    /// decisions on it: objectClass, and those the policy's `filter=` clauses and `dnattr=`
    /// subjects look at (see `birch_store::Entry::decode_only`).
    pub fn decision_types(&self) -> &[String] {
        &self.decision_types
    }

    /// What a simple bind reads of the entry: the types the policy decides on (whether the
    /// password may be used to authenticate) and the password policy's
    /// ([`crate::ppolicy::BIND_TYPES`]).
    pub fn bind_types(&self) -> &[String] {
        &self.bind_types
    }

    /// The attribute types a search with this attribute list and filter must read from each
    /// entry (`make` computes them, see `ops::search`), remembered for this policy, whose
    /// decision types they include, per attribute list and the filter's attributes.
    pub fn needed_types(
        &self,
        attrs: &[String],
        filter: &Filter,
        make: impl FnOnce() -> Option<(Vec<String>, Vec<String>)>,
    ) -> Option<NeededTypes> {
        let mut used: Vec<&str> = Vec::new();
        filter.attributes(&mut used);
        let hash = crate::memo::hash_of(&(attrs, &used[..]));
        let matches =
            |(a, f): &SearchShape| a.as_slice() == attrs && f.iter().map(String::as_str).eq(used.iter().copied());
        let key = || (attrs.to_vec(), used.iter().map(|s| s.to_string()).collect());
        self.needed
            .get_or_make(hash, matches, || Some((key(), make().map(|(t, f)| (Arc::from(t), Arc::from(f))))))
            .flatten()
    }

    /// The groups named by the policy that `ndn` belongs to, directly or through nested
    /// groups (followed through `memberOf`, which the store maintains).
    pub fn groups_of(&self, store: &Store, ndn: &str) -> HashSet<String> {
        let wanted = self.policy.groups();
        if wanted.is_empty() {
            return HashSet::new();
        }
        // Remembered until the next committed write that changes a memberOf or adds, deletes
        // or renames an entry (not a last-bind time or a description: a login storm writes
        // those): per DN (the same service accounts bind over and over), and per group named
        // in a memberOf value (a bind storm of different users goes through the same few
        // hundred groups; each resolution reads every group on the way up and normalizes
        // its DNs).
        let generation = store.membership_generation();
        {
            let memo = self.memo(generation);
            if let Some(groups) = memo.by_dn.get(ndn) {
                return groups.clone();
            }
        }
        let member_of = store.values_by_ndn(ndn, "memberof").ok().flatten().unwrap_or_default();
        let mut groups = HashSet::new();
        for v in &member_of {
            let known = self.memo(generation).by_group.get(v).cloned();
            let above = match known {
                Some(above) => above,
                None => {
                    let Some(n) = self.schema.normalize_value(MatchingRule::DistinguishedName, v) else { continue };
                    let group = String::from_utf8_lossy(&n).into_owned();
                    let mut above = self.resolve_groups(store, &group, wanted);
                    if wanted.contains(&group) {
                        above.insert(group);
                    }
                    let mut memo = self.memo(generation);
                    if memo.generation == generation {
                        memo.by_group.insert(v.clone(), above.clone());
                    }
                    above
                }
            };
            groups.extend(above);
        }
        let mut memo = self.memo(generation);
        if memo.generation == generation {
            if memo.by_dn.len() >= GROUPS_MEMO_ENTRIES {
                memo.by_dn.clear();
            }
            memo.by_dn.insert(ndn.to_string(), groups.clone());
        }
        groups
    }

    /// The memo, emptied first if the store changed since it was filled.
    fn memo(&self, generation: u64) -> std::sync::MutexGuard<'_, GroupsMemo> {
        let mut memo = self.groups_memo.lock().unwrap_or_else(|p| p.into_inner());
        if memo.generation < generation {
            *memo = GroupsMemo { generation, ..GroupsMemo::default() };
        }
        memo
    }

    /// The policy's groups reachable from `ndn` through memberOf (not `ndn` itself).
    fn resolve_groups(&self, store: &Store, ndn: &str, wanted: &[String]) -> HashSet<String> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut frontier = vec![ndn.to_string()];
        for _ in 0..MAX_GROUP_DEPTH {
            let mut next = Vec::new();
            for dn in frontier {
                let Ok(Some(member_of)) = store.values_by_ndn(&dn, "memberof") else { continue };
                for v in &member_of {
                    let Some(n) = self.schema.normalize_value(MatchingRule::DistinguishedName, v) else { continue };
                    let group = String::from_utf8_lossy(&n).into_owned();
                    if seen.insert(group.clone()) {
                        next.push(group);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        seen.retain(|g| wanted.contains(g));
        seen
    }
}

/// One operation's access checks through its connection's remembered decisions (from
/// [`Access::remembering`]).
pub struct Remembering<'a> {
    access: &'a Access,
    memo: &'a Decisions,
    who: &'a Requester,
    epoch: u64,
}

impl Remembering<'_> {
    /// [`Access::check`]: a decision that did not look at the entry
    /// ([`birch_acl::Policy::check_noting`]) is remembered for this requester and policy and
    /// answers for every later entry.
    pub fn check(&self, entry: &Entry, attr: &str, need: Privilege) -> bool {
        if let Some(allowed) = self.memo.get(self.epoch, attr, need) {
            return allowed;
        }
        let target = EntryTarget { ndn: &entry.ndn, entry: Some(entry), access: self.access };
        let d = self.access.policy.check_noting(self.who, &target, attr, need);
        if d.general {
            self.memo.remember(self.epoch, attr, need, d.allowed);
        }
        d.allowed
    }
}

/// The answer to a denied write: strongAuthRequired (8) for an anonymous client,
/// insufficientAccessRights (50) otherwise, as slapd answers.
pub fn denied(who: &Requester, text: &str) -> LdapResult {
    let code = if who.subject == Subject::Anonymous {
        LdapResultCode::StrongerAuthRequired
    } else {
        LdapResultCode::InsufficentAccessRights
    };
    crate::result::result(code, "", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dn: &str) -> Entry {
        Entry { dn: dn.into(), ndn: dn.into(), parent: 0, attrs: vec![] }
    }

    fn user(ndn: &str, groups: &[&str]) -> Requester {
        let mut r = Requester::new(Subject::User(ndn.into()));
        r.groups = groups.iter().map(|g| g.to_string()).collect();
        r
    }

    #[test]
    fn the_campus_policy_compiles_and_decides() {
        let schema = Arc::new(Schema::builtin());
        let access = Access::compile(&Config::default(), &schema).expect("campus policy compiles");
        let chenwei = entry("uid=chenwei,ou=people,dc=example,dc=org");
        let help = user("uid=hana,ou=people,dc=example,dc=org", &["cn=helpdesk,ou=groups,dc=example,dc=org"]);
        assert!(access.check(&help, &chenwei, "userpassword", Privilege::Add));
        assert!(!access.check(&help, &chenwei, "userpassword", Privilege::Read));
        assert!(access.check(&help, &chenwei, "pwdaccountlockedtime", Privilege::Delete));
        assert!(!access.check(&help, &chenwei, "mail", Privilege::Read));
        let bob = user("uid=bob,ou=people,dc=example,dc=org", &[]);
        assert!(!access.check(&bob, &chenwei, "userpassword", Privilege::Add));
        assert!(access.check(&bob, &chenwei, "uid", Privilege::Read));
        let anon = Requester::new(Subject::Anonymous);
        assert!(access.check(&anon, &chenwei, "userpassword", Privilege::Auth));
        assert!(!access.check(&anon, &chenwei, "entry", Privilege::Read));
    }
}
