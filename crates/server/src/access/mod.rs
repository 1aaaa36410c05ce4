//! Access control in the server: compiles the configured rules (or the campus policy) with
//! the schema, shows entries to the pure evaluator of `birch-acl`, resolves the requester's
//! groups at bind time, and answers denied requests with slapd's result codes. See
//! docs/acl.md.

pub mod campus;

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

/// The access policy in force, compiled against the schema.
pub struct Access {
    policy: Policy,
    filters: Vec<Filter>,
    schema: Arc<Schema>,
    /// See [`Access::referenced_attributes`].
    referenced: Vec<String>,
    /// [`Access::groups_of`] answers for the store generation they were computed at.
    groups_memo: Mutex<(u64, HashMap<String, HashSet<String>>)>,
    /// See [`Access::decision_types`].
    decision_types: Vec<String>,
    /// The admins group and the services subtree, normalized (for limits).
    admins_ndn: Option<String>,
    services_ndn: Option<String>,
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
        self.filters.push(crate::ops::filter::convert(&parsed, self.schema, &|_| true));
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
        let mut referenced: Vec<&str> = Vec::new();
        for f in &resolver.filters {
            crate::ops::filter::attributes(f, &mut referenced);
        }
        referenced.extend(policy.dn_attributes().iter().map(|a| birch_schema::desc::base(a)));
        let mut referenced: Vec<String> = referenced.into_iter().map(str::to_string).collect();
        referenced.sort();
        referenced.dedup();
        let mut decision_types = referenced.clone();
        if !decision_types.iter().any(|t| t == "objectclass") {
            decision_types.push("objectclass".to_string());
        }
        Ok(Access {
            groups_memo: Mutex::new((0, HashMap::new())),
            referenced,
            decision_types,
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
        self.services_ndn.as_ref().is_some_and(|s| ndn.len() > s.len() && ndn.ends_with(&format!(",{s}")))
    }

    /// Whether `who` has `need` on `attr` (canonical, or `entry`/`children`) of `entry`.
    pub fn check(&self, who: &Requester, entry: &Entry, attr: &str, need: Privilege) -> bool {
        self.policy.check(who, &EntryTarget { ndn: &entry.ndn, entry: Some(entry), access: self }, attr, need)
    }

    /// The attribute types (canonical names without options) whose values the policy looks
    /// at to decide on an entry: those of its `filter=` clauses and `dnattr=` subjects.
    pub fn referenced_attributes(&self) -> &[String] {
        &self.referenced
    }

    /// [`Access::referenced_attributes`] and objectClass: what an entry must carry for
    /// decisions on it (see `birch_store::Entry::decode_only`).
    pub fn decision_types(&self) -> &[String] {
        &self.decision_types
    }

    /// The groups named by the policy that `ndn` belongs to, directly or through nested
    /// groups (followed through `memberOf`, which the store maintains).
    pub fn groups_of(&self, store: &Store, ndn: &str) -> HashSet<String> {
        let wanted = self.policy.groups();
        if wanted.is_empty() {
            return HashSet::new();
        }
        // Remembered per DN until the next write (a bind storm resolves the same accounts'
        // nested groups over and over; each resolution reads every group on the way).
        let generation = store.generation();
        let mut memo = self.groups_memo.lock().unwrap_or_else(|p| p.into_inner());
        if memo.0 != generation {
            *memo = (generation, HashMap::new());
        }
        if let Some(groups) = memo.1.get(ndn) {
            return groups.clone();
        }
        drop(memo);
        let groups = self.resolve_groups(store, ndn, wanted);
        let mut memo = self.groups_memo.lock().unwrap_or_else(|p| p.into_inner());
        if memo.0 == generation {
            if memo.1.len() >= GROUPS_MEMO_ENTRIES {
                memo.1.clear();
            }
            memo.1.insert(ndn.to_string(), groups.clone());
        }
        groups
    }

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

/// The answer to a denied write: strongAuthRequired (8) for an anonymous client,
/// insufficientAccessRights (50) otherwise, as slapd answers.
pub fn denied(who: &Requester, text: &str) -> LdapResult {
    let code = if who.subject == Subject::Anonymous {
        LdapResultCode::StrongerAuthRequired
    } else {
        LdapResultCode::InsufficentAccessRights
    };
    super::ops::result(code, "", text)
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
