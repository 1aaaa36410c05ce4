//! Durability and the failed state: flushes, the group commit of [`Store::sync`], and
//! the refusal of writes after a storage failure.

#[cfg(feature = "failpoints")]
use super::injected;
use super::Store;
use crate::StoreError;
use std::sync::atomic::Ordering;

impl Store {
    /// Makes every change so far durable (fsync).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.refuse_if_failed()?;
        let r = self.inner.db.flush().map_err(StoreError::from);
        self.note_failure(r).map(drop)
    }

    /// Makes every change applied before the call durable, sharing flushes between
    /// concurrent callers (group commit): a caller whose change was covered by a flush that
    /// started after it does not flush again. Blocking; call it from a blocking thread.
    ///
    /// sled's own `flush_async` is not used: concurrent calls to it deadlock in sled 0.34
    /// (spacejam/sled#1308).
    pub fn sync(&self) -> Result<(), StoreError> {
        let ticket = self.inner.sync_requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut done = self.inner.sync_done.lock().unwrap_or_else(|p| p.into_inner());
        if *done >= ticket {
            return Ok(());
        }
        self.refuse_if_failed()?;
        let covers = self.inner.sync_requested.load(Ordering::SeqCst);
        let flushed = self.flush_for_sync();
        self.note_failure(flushed)?;
        *done = covers;
        Ok(())
    }

    /// sled's flush, for [`Store::sync`] (where a fault can be injected).
    fn flush_for_sync(&self) -> Result<usize, StoreError> {
        fail::fail_point!("store::sync", |_| Err(injected("store::sync")));
        Ok(self.inner.db.flush()?)
    }

    /// Refuses writes once a write or flush failed (see [`StoreError::Failed`]).
    pub(super) fn refuse_if_failed(&self) -> Result<(), StoreError> {
        match self.inner.failed.get() {
            Some(cause) => Err(StoreError::Failed(cause.clone())),
            None => Ok(()),
        }
    }

    /// Remembers an I/O failure of sled: after one, sled's log may be broken (a later flush
    /// can wait forever), so the store takes no more writes until it is opened again.
    pub(super) fn note_failure<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(StoreError::Sled(e)) = &r {
            if self.inner.failed.set(e.to_string()).is_ok() {
                tracing::error!(error = %e, "storage failure: the store refuses writes until birch is restarted");
                if let Some(free) = self.inner.path.get().and_then(|p| fs2::available_space(p).ok()) {
                    let _ = self.inner.free_at_failure.set(free);
                }
                // sled flushes when its last tree handle is dropped, and after an I/O error
                // that flush can wait forever: one leaked handle (it holds every tree) keeps
                // the process able to exit. Leaks once, when the store fails.
                std::mem::forget(self.inner.db.clone());
            }
        }
        r
    }

    /// Whether a storage failure made the store refuse writes (until it is opened again).
    pub fn has_failed(&self) -> bool {
        self.inner.failed.get().is_some()
    }

    /// Free space (bytes) on the store's disk at the moment of the storage failure, if there
    /// was one and it could be read: space coming back is measured against it.
    pub fn free_at_failure(&self) -> Option<u64> {
        self.inner.free_at_failure.get().copied()
    }

    /// The storage failure that made the store refuse writes, if any (sled's error text).
    pub fn failure(&self) -> Option<&str> {
        self.inner.failed.get().map(String::as_str)
    }
}
