//! Panic containment. No panic should be reachable from the network, but if one happens in
//! a connection's task or in one of its operations, it ends that connection only: it is
//! logged with the connection, counted (`birch_panics_total`), and the server keeps serving.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt;

/// Panics since start, anywhere in the process (`birch_panics_total`).
pub static COUNT: AtomicU64 = AtomicU64::new(0);

/// Counts every panic and logs it through `tracing` (with its location) once logging is set
/// up; before that, the standard hook prints it.
pub fn install_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        COUNT.fetch_add(1, Ordering::Relaxed);
        if tracing::dispatcher::has_been_set() {
            let location = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
            tracing::error!(message = message(info.payload()), location, "panic");
        } else {
            default(info);
        }
    }));
}

/// Runs `f`, turning a panic into `Err` with its message. The caller decides what the panic
/// ends; state shared with the panicking code is lock-free or behind mutexes that every
/// user recovers from poisoning, so unwinding across this boundary leaves nothing broken.
///
/// Not an `async fn`: that would hold `f` twice in its state (as its argument and inside the
/// wrapper it awaits), doubling the size of every spawned operation's future.
pub fn contain<F: Future>(f: F) -> impl Future<Output = Result<F::Output, String>> {
    AssertUnwindSafe(f).catch_unwind().map(|r| r.map_err(|payload| message(payload.as_ref()).to_string()))
}

/// The text of a panic payload.
fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
