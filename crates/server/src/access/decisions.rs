//! Access decisions that held for any entry, remembered per connection. Most of what a
//! search checks for each entry it returns (may the requester read the entry, each
//! attribute, search with the filter's attributes) is decided by rules that name no entry:
//! the service account reads `uid` of every person alike. Such a decision
//! ([`birch_acl::Decision::general`]) is remembered for the requester and policy it was made
//! for and answers for every later entry, instead of walking the rules again (a paged walk
//! checked seven of them per entry).
//!
//! Valid only for the same requester (subject, groups, address, TLS) and the same compiled
//! policy: a bind, StartTLS or a reload of the rules starts over. Bounded to
//! [`MAX_DECISIONS`] (then it starts over), whatever attribute lists a client sends.

use birch_acl::{Privilege, Requester};
use std::sync::Mutex;

/// Most decisions remembered for one connection (then the memo starts over).
pub const MAX_DECISIONS: usize = 64;

/// The remembered decisions of one connection.
#[derive(Default)]
pub struct Decisions {
    inner: Mutex<Option<Known>>,
}

/// Decisions of one requester under one policy: (attribute, privilege, allowed).
struct Known {
    policy: u64,
    who: Requester,
    list: Vec<(String, Privilege, bool)>,
}

impl Decisions {
    /// The remembered decision of `policy` for `who` on `attr`, if there is one.
    pub fn get(&self, policy: u64, who: &Requester, attr: &str, need: Privilege) -> Option<bool> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let known = inner.as_ref().filter(|k| k.policy == policy && k.who == *who)?;
        known.list.iter().find(|(a, p, _)| a == attr && *p == need).map(|&(_, _, allowed)| allowed)
    }

    /// Remembers a decision of `policy` for `who` that held for any entry.
    pub fn remember(&self, policy: u64, who: &Requester, attr: &str, need: Privilege, allowed: bool) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let known = match inner.as_mut() {
            Some(k) if k.policy == policy && k.who == *who && k.list.len() < MAX_DECISIONS => k,
            _ => inner.insert(Known { policy, who: who.clone(), list: Vec::new() }),
        };
        known.list.push((attr.to_string(), need, allowed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use birch_acl::Subject;

    #[test]
    fn decisions_answer_only_for_their_requester_and_policy() {
        let memo = Decisions::default();
        let nslcd = Requester::new(Subject::User("cn=nslcd,ou=services,dc=x".into()));
        let mut tls = nslcd.clone();
        tls.ssf = 128;
        memo.remember(1, &nslcd, "uid", Privilege::Read, true);
        assert_eq!(memo.get(1, &nslcd, "uid", Privilege::Read), Some(true));
        assert_eq!(memo.get(1, &nslcd, "uid", Privilege::Search), None, "another privilege");
        assert_eq!(memo.get(1, &nslcd, "mail", Privilege::Read), None, "another attribute");
        assert_eq!(memo.get(2, &nslcd, "uid", Privilege::Read), None, "another policy (a reload)");
        assert_eq!(memo.get(1, &tls, "uid", Privilege::Read), None, "the same DN over TLS");
        // Another requester starts over.
        memo.remember(1, &tls, "uid", Privilege::Read, false);
        assert_eq!(memo.get(1, &tls, "uid", Privilege::Read), Some(false));
        assert_eq!(memo.get(1, &nslcd, "uid", Privilege::Read), None);
    }

    #[test]
    fn at_most_max_decisions_are_remembered() {
        let memo = Decisions::default();
        let who = Requester::new(Subject::Anonymous);
        for n in 0..MAX_DECISIONS * 3 {
            memo.remember(1, &who, &format!("attr{n}"), Privilege::Read, true);
            let held = memo.inner.lock().unwrap().as_ref().map_or(0, |k| k.list.len());
            assert!(held <= MAX_DECISIONS, "{held}");
        }
    }
}
