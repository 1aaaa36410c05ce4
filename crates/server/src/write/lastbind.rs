//! The last-bind stage: pwdLastSuccess, the time of an account's last successful bind, as
//! OpenLDAP 2.5's `lastbind` keeps it ([`crate::ppolicy::Account::last_bind_due`] decides
//! when a bind rewrites it: once it is `[ppolicy] last_bind_precision` old).
//!
//! A bind whose password-policy bookkeeping writes anyway carries the time in that same
//! write ([`super::Bookkeeping::Success`]). Otherwise the time is queued here and written
//! off the answer path: the bind answers without waiting for a durable write, and a login
//! storm becomes one batch of writes sharing one fsync rather than one fsync per bind.
//! The queue holds each account once (the latest time) and at most [`MAX_PENDING`]
//! accounts; an account beyond that is skipped, and its next bind queues it again.
//!
//! The trade-off: a queued time not yet written when the server crashes is lost (the
//! account shows its previous last bind). A graceful shutdown writes the queue first
//! ([`super::Writer::flush_after_binds`]).

use crate::ppolicy::{self, Account};
use birch_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

/// Most accounts waiting for their pwdLastSuccess to be written.
pub const MAX_PENDING: usize = 10_000;

/// Most accounts written in one batch (one store fsync).
const BATCH: usize = 1_000;

/// The queue of last-bind times and its writer task.
pub struct LastBinds {
    /// `last_bind_precision`, when `last_bind` is on.
    precision: Option<Duration>,
    store: Store,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Tells the writer task there is work (or that it must stop).
    wake: Notify,
    /// Tells [`LastBinds::flush`] that the queue ran empty.
    idle: Notify,
}

#[derive(Default)]
struct State {
    /// Normalized DN → the time of its latest successful bind.
    pending: HashMap<String, SystemTime>,
    /// A batch is being written.
    writing: bool,
    /// The writer task runs.
    running: bool,
    /// The pipeline is gone: the task writes what is queued and ends.
    closed: bool,
    /// Times skipped because the queue was full (logged now and then).
    skipped: u64,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LastBinds {
    /// The stage over `store`; `precision` None: `last_bind` is off (nothing is written).
    pub fn new(store: Store, precision: Option<Duration>) -> LastBinds {
        LastBinds { precision, store, shared: Arc::default() }
    }

    /// `last_bind_precision` when `last_bind` is on.
    pub fn precision(&self) -> Option<Duration> {
        self.precision
    }

    /// Queues `ndn`'s successful bind at `now` (the caller found it due). Starts the writer
    /// task on first use; without a Tokio runtime (no server) nothing is queued.
    pub fn note(&self, ndn: &str, now: SystemTime) {
        let Some(precision) = self.precision else { return };
        let mut state = self.shared.state();
        if !state.running {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
            state.running = true;
            runtime.spawn(run(self.shared.clone(), self.store.clone(), precision));
        }
        let full = state.pending.len() >= MAX_PENDING;
        match state.pending.get_mut(ndn) {
            Some(t) => *t = (*t).max(now),
            None if full => {
                state.skipped += 1;
                if state.skipped.is_power_of_two() {
                    tracing::warn!(
                        skipped = state.skipped,
                        "last-bind queue full: some pwdLastSuccess times are not recorded"
                    );
                }
                return;
            }
            None => {
                state.pending.insert(ndn.to_string(), now);
            }
        }
        drop(state);
        self.shared.wake.notify_one();
    }

    /// Waits until every queued time is written (a graceful shutdown, tests).
    pub async fn flush(&self) {
        loop {
            let idle = self.shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            {
                let state = self.shared.state();
                if !state.running || (state.pending.is_empty() && !state.writing) {
                    return;
                }
            }
            self.shared.wake.notify_one();
            idle.await;
        }
    }
}

impl Drop for LastBinds {
    fn drop(&mut self) {
        self.shared.state().closed = true;
        self.shared.wake.notify_one();
    }
}

/// What the writer task does next.
enum Next {
    /// Write this batch.
    Write(Vec<(String, SystemTime)>),
    /// Wait for more.
    Wait,
    /// The pipeline is gone and the queue is empty.
    Stop,
}

impl Shared {
    /// Takes the next batch, or notes that the queue ran empty.
    fn next(&self) -> Next {
        let mut state = self.state();
        if state.pending.is_empty() {
            state.writing = false;
            state.running = !state.closed;
            return if state.closed { Next::Stop } else { Next::Wait };
        }
        state.writing = true;
        let keys: Vec<String> = state.pending.keys().take(BATCH).cloned().collect();
        Next::Write(keys.into_iter().filter_map(|k| state.pending.remove_entry(&k)).collect())
    }
}

/// The writer task: takes what is queued, writes it as one batch, and waits for more.
async fn run(shared: Arc<Shared>, store: Store, precision: Duration) {
    loop {
        let wake = shared.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        let batch = match shared.next() {
            Next::Write(batch) => batch,
            Next::Wait => {
                shared.idle.notify_waiters();
                wake.await;
                continue;
            }
            Next::Stop => {
                shared.idle.notify_waiters();
                return;
            }
        };
        let store = store.clone();
        let written = tokio::task::spawn_blocking(move || write_batch(&store, batch, precision)).await;
        match written {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot record last binds (pwdLastSuccess)"),
            Err(e) => tracing::error!(error = %e, "cannot record last binds (pwdLastSuccess)"),
        }
    }
}

/// Why an account's time is not written.
enum Skip {
    /// Its pwdLastSuccess is recent enough already (another write came first).
    NotDue,
    /// The store refused.
    Store(StoreError),
}

impl From<StoreError> for Skip {
    fn from(e: StoreError) -> Skip {
        Skip::Store(e)
    }
}

/// Writes pwdLastSuccess of each account whose stored time is still due, then makes the
/// batch durable with one sync. Returns how many entries it wrote. Accounts deleted or
/// renamed meanwhile are skipped.
fn write_batch(store: &Store, batch: Vec<(String, SystemTime)>, precision: Duration) -> Result<usize, StoreError> {
    let mut written = 0;
    for (ndn, at) in batch {
        let outcome = store.modify(&ndn, |e| {
            if !Account::read(e).last_bind_due(Some(precision), at) {
                return Err(Skip::NotDue);
            }
            ppolicy::record_last_bind(e, at);
            Ok(())
        });
        match outcome {
            Ok(_) => written += 1,
            Err(Skip::NotDue | Skip::Store(StoreError::NoSuchEntry(_))) => {}
            Err(Skip::Store(e)) => return Err(e),
        }
    }
    if written > 0 {
        store.sync()?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use birch_store::IndexConfig;

    fn store_with(dns: &[&str]) -> Store {
        let schema = Arc::new(birch_schema::Schema::builtin());
        let index = IndexConfig::new(&schema, &[], &[], &[]);
        let store = Store::open_temporary(schema, index).expect("store");
        for (i, dn) in dns.iter().enumerate() {
            let attrs = vec![("objectClass".to_string(), vec![b"organizationalUnit".to_vec()])];
            let e = store.make_entry(dn, attrs).expect("entry");
            store.add(e, i == 0).expect("add");
        }
        store
    }

    fn last(store: &Store, ndn: &str) -> Option<SystemTime> {
        store.get_by_ndn(ndn).ok().flatten().and_then(|(_, e)| Account::read(&e).last_success)
    }

    #[tokio::test]
    async fn queued_times_are_written_once_per_precision() {
        let store = store_with(&["ou=a", "ou=b,ou=a"]);
        let q = LastBinds::new(store.clone(), Some(Duration::from_secs(60)));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        q.note("ou=b,ou=a", t0);
        q.note("ou=b,ou=a", t0 + Duration::from_secs(1));
        q.note("ou=gone,ou=a", t0);
        q.flush().await;
        let first = last(&store, "ou=b,ou=a").expect("written");
        assert_eq!(first, t0 + Duration::from_secs(1), "the latest time of the queued binds");
        // Within the precision, a queued time is not written again.
        q.note("ou=b,ou=a", t0 + Duration::from_secs(30));
        q.flush().await;
        assert_eq!(last(&store, "ou=b,ou=a"), Some(first));
        q.note("ou=b,ou=a", t0 + Duration::from_secs(61));
        q.flush().await;
        assert_eq!(last(&store, "ou=b,ou=a"), Some(t0 + Duration::from_secs(61)));
    }

    #[tokio::test]
    async fn off_writes_nothing_and_the_queue_is_bounded() {
        let store = store_with(&["ou=a", "ou=b,ou=a"]);
        let off = LastBinds::new(store.clone(), None);
        off.note("ou=b,ou=a", SystemTime::now());
        off.flush().await;
        assert_eq!(last(&store, "ou=b,ou=a"), None);
        let q = LastBinds::new(store.clone(), Some(Duration::from_secs(60)));
        {
            // Fill the queue without letting the task run (the test runtime is single-threaded).
            for i in 0..MAX_PENDING + 10 {
                q.note(&format!("uid={i},ou=a"), SystemTime::now());
            }
            let state = q.shared.state();
            assert_eq!((state.pending.len(), state.skipped), (MAX_PENDING, 10));
        }
        q.flush().await;
        assert!(q.shared.state().pending.is_empty());
    }
}
