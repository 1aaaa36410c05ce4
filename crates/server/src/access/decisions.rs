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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Most decisions remembered for one connection (then the memo starts over).
pub const MAX_DECISIONS: usize = 64;

/// The remembered decisions of one connection.
#[derive(Default)]
pub struct Decisions {
    inner: Mutex<Option<Known>>,
}

/// Decisions of one requester under one policy: (attribute, privilege, allowed), kept under
/// an epoch unique in the process, so that an operation of the connection's previous
/// requester still running cannot read or add to them.
struct Known {
    epoch: u64,
    policy: u64,
    who: Requester,
    list: Vec<(String, Privilege, bool)>,
}

impl Decisions {
    /// Starts using the memo for `who` under `policy` (once per operation: the requester is
    /// compared here, not at every decision): the epoch to pass to [`Decisions::get`] and
    /// [`Decisions::remember`]. Another requester or policy than the last starts over.
    pub fn begin(&self, policy: u64, who: &Requester) -> u64 {
        static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.as_ref() {
            Some(k) if k.policy == policy && k.who == *who => k.epoch,
            _ => {
                let epoch = NEXT_EPOCH.fetch_add(1, Ordering::Relaxed);
                *inner = Some(Known { epoch, policy, who: who.clone(), list: Vec::new() });
                epoch
            }
        }
    }

    /// The decision on `attr` remembered under `epoch`, if there is one.
    pub fn get(&self, epoch: u64, attr: &str, need: Privilege) -> Option<bool> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let known = inner.as_ref().filter(|k| k.epoch == epoch)?;
        known.list.iter().find(|(a, p, _)| a == attr && *p == need).map(|&(_, _, allowed)| allowed)
    }

    /// Remembers under `epoch` a decision that held for any entry (nothing when another
    /// requester began since).
    pub fn remember(&self, epoch: u64, attr: &str, need: Privilege, allowed: bool) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(known) = inner.as_mut().filter(|k| k.epoch == epoch) else { return };
        if known.list.len() >= MAX_DECISIONS {
            known.list.clear();
        }
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
        let e = memo.begin(1, &nslcd);
        memo.remember(e, "uid", Privilege::Read, true);
        assert_eq!(memo.begin(1, &nslcd), e, "the same requester and policy keep theirs");
        assert_eq!(memo.get(e, "uid", Privilege::Read), Some(true));
        assert_eq!(memo.get(e, "uid", Privilege::Search), None, "another privilege");
        assert_eq!(memo.get(e, "mail", Privilege::Read), None, "another attribute");
        let reload = memo.begin(2, &nslcd);
        assert_eq!(memo.get(reload, "uid", Privilege::Read), None, "another policy (a reload)");
        let over_tls = memo.begin(1, &tls);
        assert_eq!(memo.get(over_tls, "uid", Privilege::Read), None, "the same DN over TLS");
        // Another requester started over: the first one's epoch neither reads nor adds.
        memo.remember(over_tls, "uid", Privilege::Read, false);
        assert_eq!(memo.get(over_tls, "uid", Privilege::Read), Some(false));
        assert_eq!(memo.get(e, "uid", Privilege::Read), None);
        memo.remember(e, "cn", Privilege::Read, true);
        assert_eq!(memo.get(over_tls, "cn", Privilege::Read), None);
        let again = memo.begin(1, &nslcd);
        assert_ne!(again, e, "a requester that comes back starts over");
        assert_eq!(memo.get(again, "uid", Privilege::Read), None);
    }

    #[test]
    fn at_most_max_decisions_are_remembered() {
        let memo = Decisions::default();
        let who = Requester::new(Subject::Anonymous);
        let e = memo.begin(1, &who);
        for n in 0..MAX_DECISIONS * 3 {
            memo.remember(e, &format!("attr{n}"), Privilege::Read, true);
            let held = memo.inner.lock().unwrap().as_ref().map_or(0, |k| k.list.len());
            assert!(held <= MAX_DECISIONS, "{held}");
        }
    }
}
