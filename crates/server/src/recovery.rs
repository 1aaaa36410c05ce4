//! Recovery from a full disk without an operator. After a storage failure sled cannot go
//! on, and it cannot be opened again in this process while its handle lives (the store
//! refuses writes from then on: see `birch_store::StoreError::Failed`). When the failure was
//! the disk filling up, this watcher waits for space to come back and then restarts birch
//! in place (exec of the same binary with the same arguments and environment: the process
//! id stays, every descriptor is closed on exec, the store is reopened and checked as at any
//! start). Clients lose their connections once and reconnect; nothing acknowledged is lost,
//! because every acknowledged write was durable before the failure.

use crate::context::ServerCtx;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the watcher looks at the store and the disk.
const EVERY: Duration = Duration::from_secs(1);

/// How much free space must have come back since the failure before restarting (bytes).
const MIN_GAIN: u64 = 1 << 20;

/// Watches for a storage failure caused by a full disk and restarts birch once space has
/// come back. Other failures (I/O errors) are left to the operator.
pub async fn watch(ctx: Arc<ServerCtx>, shutdown: CancellationToken) {
    let dir = ctx.config().data_dir.clone();
    let mut at_failure: Option<u64> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
        let Some(cause) = ctx.store().failure() else { continue };
        if !cause.contains("No space left on device") {
            continue;
        }
        let Ok(free) = fs2::available_space(&dir) else { continue };
        let before = *at_failure.get_or_insert_with(|| {
            let before = ctx.store().free_at_failure().unwrap_or(free);
            tracing::warn!(free_bytes = before, "the disk is full: birch restarts itself once space comes back");
            before
        });
        tracing::debug!(free_bytes = free, at_failure = before, "waiting for disk space");
        if free < before.saturating_add(MIN_GAIN) {
            continue;
        }
        tracing::warn!(free_bytes = free, "disk space is back: restarting birch to reopen the store");
        let error = restart();
        tracing::error!(error = %error, "could not restart birch; restart it by hand");
        return;
    }
}

/// Replaces this process with a fresh start of the same command; returns only on failure.
fn restart() -> std::io::Error {
    use std::os::unix::process::CommandExt;
    match std::env::current_exe() {
        Ok(exe) => std::process::Command::new(exe).args(std::env::args_os().skip(1)).exec(),
        Err(e) => e,
    }
}
