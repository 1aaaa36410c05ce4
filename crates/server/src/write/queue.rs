//! The writer thread: the durable store writes of one pipeline ([`super::Writer::commit`])
//! run here, one after another, and the writes that queued while a batch ran share one
//! flush. It replaces a blocking-pool thread per write: the writes no longer take turns
//! at the store's writer lock and its group-commit mutex, nor hand off between blocking
//! threads, and at many connections one flush makes several writes durable.
//!
//! What a write is acknowledged with does not change: a write that fails is answered as
//! soon as it has failed; one that succeeds only after the flush that follows it (a failed
//! flush fails every write of its batch). Commits keep their order (the change feed is
//! told under the store's writer lock, as before). The thread holds no store between
//! batches: each job brings its own handle, so a dropped pipeline leaves nothing open.

use super::error::WriteError;
use birch_proto::ldap3_proto::proto::LdapResultCode;
use birch_store::{Store, StoreError};
use std::sync::mpsc;

/// At most this many writes share one flush (a bound on how long the first of a batch
/// waits behind the others).
const MAX_BATCH: usize = 64;

/// What a job leaves to do once its batch's flush is done: answer its caller.
type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// One store write: runs on the thread and hands back how to answer, or `None` when it has
/// answered already (it failed: nothing to make durable).
type Work = Box<dyn FnOnce(&Store) -> Option<Finish> + Send>;

struct Job {
    store: Store,
    work: Work,
}

/// The queue feeding the writer thread (started on the first write, so a pipeline that
/// never writes starts none).
#[derive(Default)]
pub struct WriteQueue {
    tx: std::sync::OnceLock<Option<mpsc::Sender<Job>>>,
}

impl WriteQueue {
    /// The queue; its thread starts with the first write.
    pub fn new() -> WriteQueue {
        WriteQueue::default()
    }

    /// The writer thread's queue, started on first use (`birch-writer`); `None` when the
    /// thread cannot be started: writes then run on the blocking pool as before.
    fn sender(&self) -> Option<&mpsc::Sender<Job>> {
        self.tx
            .get_or_init(|| {
                let (tx, rx) = mpsc::channel::<Job>();
                match std::thread::Builder::new().name("birch-writer".into()).spawn(move || run(&rx)) {
                    Ok(_) => Some(tx),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot start the writer thread; writes use the blocking pool");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// Runs `write` on the writer thread, then makes it durable (with the writes queued
    /// alongside it); answers once it is durable, or as soon as it failed.
    pub async fn commit<T: Send + 'static>(
        &self,
        store: &Store,
        write: impl FnOnce(&Store) -> Result<T, WriteError> + Send + 'static,
    ) -> Result<T, WriteError> {
        let Some(tx) = self.sender() else {
            return on_blocking_pool(store.clone(), write).await;
        };
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T, WriteError>>();
        let work: Work = Box::new(move |store: &Store| match write(store) {
            Ok(out) => Some(Box::new(move |synced: Result<(), StoreError>| {
                let _ = answer.send(synced.map(|()| out).map_err(WriteError::from));
            }) as Finish),
            Err(e) => {
                let _ = answer.send(Err(e));
                None
            }
        });
        if let Err(mpsc::SendError(job)) = tx.send(Job { store: store.clone(), work }) {
            // The thread is gone (it cannot be, short of a bug): the write runs here instead.
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(finish) = (job.work)(&job.store) {
                    finish(job.store.sync());
                }
            })
            .await;
        }
        // The sender is dropped unanswered only when the write panicked.
        answered.await.map_err(|_| internal())?
    }
}

fn internal() -> WriteError {
    WriteError::ldap(LdapResultCode::OperationsError, "internal error")
}

/// A write and its flush on the blocking pool (when there is no writer thread).
async fn on_blocking_pool<T: Send + 'static>(
    store: Store,
    write: impl FnOnce(&Store) -> Result<T, WriteError> + Send + 'static,
) -> Result<T, WriteError> {
    tokio::task::spawn_blocking(move || {
        let out = write(&store)?;
        store.sync()?;
        Ok(out)
    })
    .await
    .map_err(|_| internal())?
}

/// The writer thread: takes a job, and every job queued behind it (up to [`MAX_BATCH`]),
/// applies them in order, flushes once, then answers them.
fn run(rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let store = first.store.clone();
        let mut finishes: Vec<Finish> = Vec::new();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(job) = next.take() {
            taken += 1;
            // A panicking write drops its answer (its caller gets an internal error) and
            // leaves the thread serving the others.
            let Job { store: _own, work } = job;
            if let Ok(Some(finish)) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&store))) {
                finishes.push(finish);
            }
            if taken < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if finishes.is_empty() {
            continue;
        }
        let flushed = store.sync();
        let failed = flushed.is_err();
        let mut flushed = Some(flushed);
        for finish in finishes {
            // The first answer takes the flush's result; after a failed flush the store
            // refuses writes (StoreError::Failed), so asking again gives the others theirs.
            let r = match flushed.take() {
                Some(r) => r,
                None if failed => store.sync(),
                None => Ok(()),
            };
            finish(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use birch_schema::Schema;
    use std::sync::Arc;

    fn add(s: &Store, dn: &str, attrs: &[(&str, &str)]) -> Result<(), WriteError> {
        let attrs = attrs.iter().map(|(a, v)| (a.to_string(), vec![v.as_bytes().to_vec()])).collect();
        s.add(s.make_entry(dn, attrs)?, dn == "dc=x")?;
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_all_applied_and_a_failing_or_panicking_one_fails_alone() {
        let s = Store::open_temporary(Arc::new(Schema::builtin()), birch_store::IndexConfig::default()).unwrap();
        let q = Arc::new(WriteQueue::new());
        q.commit(&s, |s| add(s, "dc=x", &[("objectClass", "domain"), ("dc", "x")])).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (q, s) = (q.clone(), s.clone());
            tasks.push(tokio::spawn(async move {
                let uid = format!("u{i}");
                match i % 10 {
                    // An entry without a parent: the store refuses it.
                    3 => q.commit(&s, move |s| add(s, &format!("uid={uid},ou=none,dc=x"), &[])).await,
                    7 => q.commit(&s, |_| -> Result<(), WriteError> { panic!("a write that panics") }).await,
                    _ => {
                        let dn = format!("uid={uid},dc=x");
                        q.commit(&s, move |s| add(s, &dn, &[("objectClass", "account"), ("uid", &uid)])).await
                    }
                }
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.unwrap();
            match i % 10 {
                3 => assert!(matches!(r, Err(WriteError::Store(StoreError::NoParent(_)))), "{i}: {r:?}"),
                7 => assert!(matches!(r, Err(WriteError::Ldap(LdapResultCode::OperationsError, _))), "{i}: {r:?}"),
                _ => {
                    assert!(r.is_ok(), "{i}: {r:?}");
                    assert!(s.get_by_ndn(&format!("uid=u{i},dc=x")).unwrap().is_some(), "{i} applied");
                }
            }
        }
        // The thread still serves after the panics.
        q.commit(&s, |s| add(s, "uid=last,dc=x", &[("objectClass", "account"), ("uid", "last")])).await.unwrap();
    }
}
