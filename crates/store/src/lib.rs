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
pub use hooks::WriteSetHook;
pub use index::IndexConfig;
pub use plan::Plan;
pub use store::{BulkLoader, RawWalk, Scope, SearchIter, Snapshot, SnapshotEntries, Store, Walk, WriteSet};

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

    /// Attributes of one value each, for [`Store::make_entry`].
    pub(crate) fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, Vec<Vec<u8>>)> {
        pairs.iter().map(|(a, v)| (a.to_string(), vec![v.as_bytes().to_vec()])).collect()
    }
}
