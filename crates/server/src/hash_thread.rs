//! Where expensive password hashing (argon2, crypt, PBKDF2) runs: on a thread of its own
//! that ends with the hash. An argon2 hash needs a 19 MiB work area; on a pooled thread the
//! allocator keeps the freed area for that thread until it exits (tokio's blocking threads
//! live on for ten seconds idle), so after a bind storm the server held one work area per
//! pool thread. A thread that ends returns its memory at once; starting one costs tens of
//! microseconds against an argon2 hash's tens of milliseconds. How many run at once is
//! bounded by the caller ([`crate::passwords::Passwords`]).

/// Runs `f` on a new thread and waits for its result without blocking the runtime; `None`
/// if the thread could not be started (then it runs on tokio's blocking pool instead) or
/// `f` panicked.
pub async fn run<T, F>(f: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job = move || {
        let _ = tx.send(f());
    };
    // The closure is handed back when the thread cannot be started.
    let job = std::sync::Arc::new(std::sync::Mutex::new(Some(job)));
    let on_thread = job.clone();
    let started = std::thread::Builder::new().name("birch-hash".into()).spawn(move || {
        let taken = on_thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(job) = taken {
            job();
        }
    });
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start a hashing thread; hashing on the blocking pool");
        let taken = job.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(job) = taken {
            let _ = tokio::task::spawn_blocking(job).await;
        }
    }
    rx.await.ok()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn returns_what_the_thread_computed() {
        let main = std::thread::current().id();
        let (value, thread) = super::run(move || (6 * 7, std::thread::current().id())).await.expect("ran");
        assert_eq!(value, 42);
        assert_ne!(thread, main);
    }

    #[tokio::test]
    async fn a_panicking_job_gives_none() {
        #[allow(clippy::panic)]
        let r: Option<u8> = super::run(|| panic!("boom")).await;
        assert_eq!(r, None);
    }
}
