//! birch-store: the directory tree on sled.
//!
//! Entries live under stable 64-bit ids; a normalized-DN index, a parent → children index
//! and attribute indexes (equality, presence, substring trigrams) are kept in the same
//! sled transaction as the entry. See `docs/architecture.md` for the on-disk layout.

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

pub mod attr_csn;
pub mod changes;
pub mod csn;
pub mod entry;
pub mod error;
pub mod filter;
pub mod hooks;
pub mod index;
pub mod packs;
pub mod plan;
pub mod postings;
pub mod replica;
pub mod store;

pub use changes::{ChangeItem, ChangeSet};
pub use entry::{Attribute, EncodedParts, Entry, EntryView};
pub use error::StoreError;
pub use filter::{Filter, Tri};
pub use hooks::{CommitObserver, WriteSetHook};
pub use index::IndexConfig;
pub use plan::Plan;
pub use store::{
    BulkLoader, RawWalk, Remembered, Scope, SearchIter, Seen, Snapshot, SnapshotEntries, Store, Walk, WriteSet,
};

/// What the unit tests of several modules share.
#[cfg(test)]
pub(crate) mod testing {
    use crate::{IndexConfig, Store};
    use birch_schema::Schema;
    use std::sync::Arc;

    /// A fresh store in a temporary directory (kept while the returned guard lives).
    pub(crate) fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), Arc::new(Schema::builtin()), IndexConfig::default(), 16 << 20).unwrap();
        (dir, s)
    }

    /// A commit observer that keeps every change set it hears of.
    #[derive(Default)]
    pub(crate) struct Recorder(pub(crate) std::sync::Mutex<Vec<Arc<crate::ChangeSet>>>);

    impl crate::CommitObserver for Recorder {
        fn listening(&self) -> bool {
            true
        }

        fn committed(&self, set: &Arc<crate::ChangeSet>) {
            self.0.lock().unwrap().push(set.clone());
        }
    }

    impl Recorder {
        /// A recorder told of every commit of `s` from now on.
        pub(crate) fn on(s: &Store) -> Arc<Recorder> {
            let r = Arc::new(Recorder::default());
            let weak: std::sync::Weak<dyn crate::CommitObserver> = Arc::downgrade(&r) as _;
            s.add_observer(weak);
            r
        }

        /// The change sets heard of since the last call.
        pub(crate) fn take(&self) -> Vec<Arc<crate::ChangeSet>> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    /// Attributes of one value each, for [`Store::make_entry`].
    pub(crate) fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, Vec<Vec<u8>>)> {
        pairs.iter().map(|(a, v)| (a.to_string(), vec![v.as_bytes().to_vec()])).collect()
    }
}
