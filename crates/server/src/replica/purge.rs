//! The tombstone purge of a multi-provider server: once at start and then hourly (or every
//! `replication.tombstone_lifetime_secs` when that is shorter), the tombstones of deletes
//! older than the lifetime are deleted through the write pipeline
//! ([`crate::write::Writer::purge_tombstones`]) and the tombstones kept are counted for
//! the figures (`birch_replication_tombstones`, cn=Monitor). A lifetime of 0 keeps them
//! for ever (they are still counted).
//!
//! A peer away for longer than the lifetime still converges: the present phase of its
//! refresh deletes what it holds and this server no longer names (see
//! `Store::apply_peer_absent`); what is lost is only the weighing of such a delete against
//! a change the peer made before it. [`stale_peer`] tells the provider side when a peer's
//! cookie shows it may be in that case.

use crate::context::ServerCtx;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// The longest time between two passes.
const EVERY: Duration = Duration::from_secs(3600);

/// Runs a purge pass at once and then periodically until `shutdown`.
pub async fn run(ctx: Arc<ServerCtx>, shutdown: CancellationToken) {
    loop {
        let lifetime = ctx.config().replication.tombstone_lifetime_secs;
        pass(&ctx, lifetime).await;
        let every = if lifetime == 0 { EVERY } else { EVERY.min(Duration::from_secs(lifetime)) };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// One pass: purge (unless `lifetime` is 0), then count what is kept.
async fn pass(ctx: &ServerCtx, lifetime: u64) {
    let stats = &ctx.metrics().replication;
    if lifetime > 0 {
        let cutoff = SystemTime::now().checked_sub(Duration::from_secs(lifetime)).unwrap_or(SystemTime::UNIX_EPOCH);
        let before = birch_store::csn::floor_at(cutoff);
        match ctx.writer().purge_tombstones(before.clone()).await {
            Ok(0) => {}
            Ok(purged) => {
                stats.tombstones_purged.fetch_add(purged as u64, Ordering::Relaxed);
                tracing::info!(purged, lifetime_secs = lifetime, before = %before, "tombstones purged");
            }
            Err(e) => tracing::warn!(error = %e, "tombstone purge failed; retried at the next pass"),
        }
    }
    let store = ctx.store().clone();
    match tokio::task::spawn_blocking(move || store.tombstone_counts()).await {
        Ok(Ok(counts)) => stats.set_tombstones(counts),
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot count the tombstones"),
        Err(_) => {}
    }
}

/// Provider side, at a peer's refresh: whether its cookie (contextCSN set `cookie`) misses
/// a delete whose tombstone was purged — it was away longer than the tombstone lifetime.
/// Logs a WARN naming the peer (`who`: its server id and bind DN) and counts it.
pub fn stale_peer(ctx: &ServerCtx, cookie: &[String], who: &str) -> bool {
    let purged = match ctx.store().purged_tombstones() {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the tombstone purge horizon");
            return false;
        }
    };
    let Some(missed) = purged.iter().find(|c| !birch_store::csn::covers(cookie, c)) else { return false };
    ctx.metrics().replication.stale_peer_refreshes.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        peer = %who,
        purged_delete_csn = %missed,
        lifetime_secs = ctx.config().replication.tombstone_lifetime_secs,
        "a peer refreshes from a cookie older than purged tombstones (away longer than the tombstone lifetime): \
         its deletes are found by the present phase, but an entry it changed before a purged delete comes back; \
         re-initialise it if that matters (docs/replication.md)"
    );
    true
}
