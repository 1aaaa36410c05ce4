//! The change feed (stage 10 of the pipeline): every committed write, announced to the
//! provider's refreshAndPersist searches (RFC 4533) in commit order. The store tells it of
//! each commit while the writer lock is still held (it is a commit observer, see
//! [`birch_store::hooks`]); a subscription is taken under the same lock, so no commit is
//! missed or told twice.

use birch_store::{ChangeSet, CommitObserver, Store};
use std::sync::Arc;
use tokio::sync::broadcast;

/// How many change sets a slow listener may fall behind before it misses some (and must
/// start over with a refresh).
pub const FEED_CAPACITY: usize = 4096;

/// The change feed of one store; sent to only while someone listens.
pub struct Feed {
    tx: broadcast::Sender<Arc<ChangeSet>>,
}

impl Feed {
    /// A feed told of every commit of `store` from now on (for as long as it lives).
    pub fn on(store: &Store) -> Arc<Feed> {
        let (tx, _) = broadcast::channel(FEED_CAPACITY);
        let feed = Arc::new(Feed { tx });
        let observer: std::sync::Weak<dyn CommitObserver> = Arc::downgrade(&feed) as _;
        store.add_observer(observer);
        feed
    }

    /// Listens to the feed: every write `store` commits from now on, in commit order.
    pub fn subscribe(&self, store: &Store) -> broadcast::Receiver<Arc<ChangeSet>> {
        // Under the writer lock: a write either committed before (and a read after this
        // sees it) or is announced to the new listener.
        store.with_writer_lock(|| self.tx.subscribe())
    }
}

impl CommitObserver for Feed {
    fn listening(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    fn committed(&self, set: &Arc<ChangeSet>) {
        // No listener left since `listening` was asked: nobody to tell.
        let _ = self.tx.send(set.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use birch_schema::Schema;

    fn add(s: &Store, dn: &str, attrs: &[(&str, &str)]) {
        let attrs = attrs.iter().map(|(a, v)| (a.to_string(), vec![v.as_bytes().to_vec()])).collect();
        s.add(s.make_entry(dn, attrs).unwrap(), dn == "dc=x").unwrap();
    }

    #[test]
    fn a_subscriber_hears_every_commit_after_it_subscribed_in_order() {
        let s = Store::open_temporary(Arc::new(Schema::builtin()), birch_store::IndexConfig::default()).unwrap();
        let feed = Feed::on(&s);
        add(&s, "dc=x", &[("objectClass", "domain"), ("dc", "x")]);
        let mut rx = feed.subscribe(&s);
        for u in ["a", "b"] {
            add(&s, &format!("uid={u},dc=x"), &[("objectClass", "account"), ("uid", u)]);
        }
        let first = rx.try_recv().unwrap();
        let second = rx.try_recv().unwrap();
        assert!(rx.try_recv().is_err(), "the write before subscribing is not told");
        assert_eq!(first.items[0].new_ndn.as_deref(), Some("uid=a,dc=x"));
        assert_eq!(second.items[0].new_ndn.as_deref(), Some("uid=b,dc=x"));
        assert!(first.csn < second.csn);
        // A dropped feed is told nothing more (the store holds it weakly).
        drop(feed);
        add(&s, "uid=c,dc=x", &[("objectClass", "account"), ("uid", "c")]);
        assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Closed)));
    }
}
