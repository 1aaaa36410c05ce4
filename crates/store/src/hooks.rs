//! Commit hooks: stages above the store that run inside a commit, under the writer lock
//! (as slapd's overlays and kanidm's plugins do). The store knows what they are called for,
//! not what they do:
//! - a [`WriteSetHook`] extends the write set of a local write before it is lowered to
//!   tree writes, so what it adds is committed in the same transaction (the server's group
//!   maintenance: memberOf and referential integrity);
//! - a [`CommitObserver`] is told of each committed write, in commit order (the server's
//!   change feed).
//!
//! A hook sees the store only through its public read methods ([`Store::id_of`],
//! [`Store::get`], [`Store::ids_with_value`], ...) and the write set through
//! [`WriteSet`](crate::WriteSet)'s public methods.

use crate::changes::ChangeSet;
use crate::{Store, StoreError};
use std::sync::Arc;

/// Extends the write set of a local write (one a client of this server makes; a replica's
/// writes are stored as the provider sent them) before it is lowered: phase 1 of a commit,
/// under the writer lock. What it adds is committed in the same transaction; an error
/// refuses the whole write.
pub trait WriteSetHook: Send + Sync {
    /// Adds to `ws` the changes its entries call for (reading `store` as it is before the
    /// write).
    fn extend(&self, store: &Store, ws: &mut crate::WriteSet) -> Result<(), StoreError>;
}

/// Told of each committed write (local or replicated), in commit order: the last phase of
/// a commit, still under the writer lock.
pub trait CommitObserver: Send + Sync {
    /// Whether it wants to hear of the next commit (asked before the transaction; when no
    /// observer does, no change set is built).
    fn listening(&self) -> bool;

    /// A write was committed (called only if [`CommitObserver::listening`] said yes).
    /// Runs under the writer lock: it must be quick and must not write to the store.
    fn committed(&self, set: &Arc<ChangeSet>);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{attrs, store};
    use crate::WriteSet;
    use std::sync::Arc;

    /// Counts, in the description of `cn=count,dc=x`, the local writes to other entries;
    /// refuses entries whose DN contains "refuse" and gives the counter the uid of entries
    /// whose DN contains "steal" (uid is unique).
    struct Counter;

    impl WriteSetHook for Counter {
        fn extend(&self, store: &Store, ws: &mut WriteSet) -> Result<(), StoreError> {
            let Some(id) = store.id_of("cn=count,dc=x")? else { return Ok(()) };
            let touched: Vec<Entry> =
                ws.changes().filter(|(i, _, _)| *i != id).filter_map(|(_, _, n)| n.cloned()).collect();
            if touched.iter().any(|e| e.ndn.contains("refuse")) {
                return Err(StoreError::Corrupt("refused by the hook".into()));
            }
            let stolen = touched.iter().find(|e| e.ndn.contains("steal")).and_then(|e| e.get("uid")).cloned();
            ws.edit(store, id, |c| {
                let n: u32 = c
                    .get("description")
                    .and_then(|a| std::str::from_utf8(&a.values[0]).ok()?.parse().ok())
                    .unwrap_or(0);
                c.attrs.retain(|a| a.canonical != "description");
                c.add_values("description", "description", [(n + touched.len() as u32).to_string().into_bytes()]);
                if let Some(uid) = &stolen {
                    c.add_values("uid", "uid", uid.values.clone());
                }
                // A hook cannot move an entry.
                c.dn = "cn=moved,dc=x".into();
                c.ndn = "cn=moved,dc=x".into();
            })?;
            Ok(())
        }
    }

    use crate::Entry;

    fn count(s: &Store) -> String {
        let (_, c) = s.get_by_ndn("cn=count,dc=x").unwrap().unwrap();
        String::from_utf8(c.get("description").unwrap().values[0].clone()).unwrap()
    }

    #[test]
    fn what_the_write_set_hook_adds_is_committed_with_the_write() {
        let (_d, s) = store();
        assert!(s.set_write_set_hook(Arc::new(Counter)));
        assert!(!s.set_write_set_hook(Arc::new(Counter)), "a store has one hook");
        s.add(s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true).unwrap();
        let counter = attrs(&[("objectClass", "applicationProcess"), ("cn", "count"), ("description", "0")]);
        s.add(s.make_entry("cn=count,dc=x", counter).unwrap(), false).unwrap();
        let a = s.make_entry("uid=a,dc=x", attrs(&[("objectClass", "account"), ("uid", "a")])).unwrap();
        s.add(a, false).unwrap();
        assert_eq!(count(&s), "1");
        // The hook's error refuses the whole write.
        let r = s.make_entry("uid=refuse,dc=x", attrs(&[("objectClass", "account"), ("uid", "r")])).unwrap();
        assert!(matches!(s.add(r, false), Err(StoreError::Corrupt(_))));
        assert!(s.get_by_ndn("uid=refuse,dc=x").unwrap().is_none());
        // So does a conflict in what it adds: the unique uid given to the counter too.
        let steal = s.make_entry("uid=steal,dc=x", attrs(&[("objectClass", "account"), ("uid", "steal")])).unwrap();
        assert!(matches!(s.add(steal, false), Err(StoreError::NotUnique { .. })));
        assert!(s.get_by_ndn("uid=steal,dc=x").unwrap().is_none());
        assert_eq!(count(&s), "1");
        // A modify counts too.
        s.modify("uid=a,dc=x", |_| Ok::<(), StoreError>(())).unwrap();
        assert_eq!(count(&s), "2");
        assert!(s.get_by_ndn("cn=moved,dc=x").unwrap().is_none(), "the hook's edit keeps the DN");
        assert!(s.check().unwrap().is_empty());
    }

    #[test]
    fn replicated_writes_pass_no_write_set_hook() {
        let (_d, s) = store();
        s.set_write_set_hook(Arc::new(Counter));
        s.add(s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true).unwrap();
        let counter = attrs(&[("objectClass", "applicationProcess"), ("cn", "count"), ("description", "0")]);
        s.add(s.make_entry("cn=count,dc=x", counter).unwrap(), false).unwrap();
        let uuid = "11111111-2222-3333-4444-555555555555";
        let e = s
            .make_entry("uid=b,dc=x", attrs(&[("objectClass", "account"), ("uid", "b"), ("entryUUID", uuid)]))
            .unwrap();
        s.apply_entry(e, Some(b"cookie")).unwrap();
        assert!(s.get_by_ndn("uid=b,dc=x").unwrap().is_some());
        assert_eq!(count(&s), "0");
    }

    /// Hears of commits only while `on` is set.
    struct Sometimes(std::sync::atomic::AtomicBool, std::sync::Mutex<Vec<String>>);

    impl CommitObserver for Sometimes {
        fn listening(&self) -> bool {
            self.0.load(std::sync::atomic::Ordering::SeqCst)
        }

        fn committed(&self, set: &Arc<ChangeSet>) {
            self.1.lock().unwrap().push(set.csn.clone());
        }
    }

    #[test]
    fn commit_observers_hear_of_commits_in_order_while_they_listen_and_live() {
        let (_d, s) = store();
        let all = crate::testing::Recorder::on(&s);
        let some = Arc::new(Sometimes(true.into(), Default::default()));
        s.add_observer(Arc::downgrade(&some) as std::sync::Weak<dyn CommitObserver>);
        s.add(s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true).unwrap();
        for u in ["a", "b", "c"] {
            s.add(
                s.make_entry(&format!("uid={u},dc=x"), attrs(&[("objectClass", "account"), ("uid", u)])).unwrap(),
                false,
            )
            .unwrap();
        }
        // A write that fails is not told.
        let dup = s.make_entry("uid=a,dc=x", attrs(&[("objectClass", "account"), ("uid", "a")])).unwrap();
        assert!(s.add(dup, false).is_err());
        some.0.store(false, std::sync::atomic::Ordering::SeqCst);
        s.delete("uid=b,dc=x").unwrap();
        let sets = all.take();
        let dns: Vec<_> =
            sets.iter().map(|c| c.items[0].old_ndn.clone().or(c.items[0].new_ndn.clone()).unwrap()).collect();
        assert_eq!(dns, ["dc=x", "uid=a,dc=x", "uid=b,dc=x", "uid=c,dc=x", "uid=b,dc=x"]);
        assert!(sets.windows(2).all(|w| w[0].csn < w[1].csn), "in commit order");
        assert_eq!(sets.last().unwrap().items[0].new_ndn, None, "the delete");
        let heard = some.1.lock().unwrap().clone();
        assert_eq!(heard, sets[..4].iter().map(|c| c.csn.clone()).collect::<Vec<_>>());
        // Held weakly: a dropped observer hears nothing more (and is forgotten).
        drop(all);
        s.delete("uid=c,dc=x").unwrap();
        assert_eq!(s.observers().len(), 2);
        s.add_observer(Arc::downgrade(&some) as std::sync::Weak<dyn CommitObserver>);
        assert_eq!(s.observers().len(), 2);
    }
}
