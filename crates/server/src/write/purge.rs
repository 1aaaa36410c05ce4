//! The tombstone purge's write ([`crate::replica::purge`] runs it periodically): the
//! store's [`Store::purge_tombstones`](birch_store::Store::purge_tombstones), which
//! batches itself under the writer lock and is durable when it returns.

use super::{WriteError, Writer};

impl Writer {
    /// Deletes the tombstones of deletes whose CSN sorts before `before`; returns how many.
    pub async fn purge_tombstones(&self, before: String) -> Result<usize, WriteError> {
        self.commit_if(false, move |store| Ok(store.purge_tombstones(&before)?)).await
    }
}
