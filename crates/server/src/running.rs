//! The operations of one connection that have not been answered yet, by message id: what
//! Abandon cancels and what `connections.max_ops_per_connection` counts.
//!
//! An operation leaves the set at the moment its final response is handed to the stream
//! ([`Running::answered`], called by the responder), not when its task ends: the client
//! may send its next request as soon as it reads the answer, and that request must not
//! find the previous operation still counted.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// One registered operation: its cancellation token and a serial number that tells it
/// apart from a later operation reusing the same message id.
struct Op {
    serial: u64,
    cancel: CancellationToken,
}

/// The unanswered operations of a connection.
#[derive(Default)]
pub struct Running {
    ops: Mutex<HashMap<i32, Op>>,
    next_serial: std::sync::atomic::AtomicU64,
}

/// A registered operation's handle: cancelled by Abandon; [`Running::finish`] takes it out.
pub struct Registration {
    /// The message id.
    pub msgid: i32,
    serial: u64,
    /// Cancelled when the client abandons the operation.
    pub cancel: CancellationToken,
}

impl Running {
    fn ops(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Op>> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new operation.
    pub fn register(&self, msgid: i32) -> Registration {
        let serial = self.next_serial.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cancel = CancellationToken::new();
        self.ops().insert(msgid, Op { serial, cancel: cancel.clone() });
        Registration { msgid, serial, cancel }
    }

    /// The operation `msgid` has been answered (its final response is being written).
    pub fn answered(&self, msgid: i32) {
        self.ops().remove(&msgid);
    }

    /// The operation has ended (answered or not); a later operation that reused its
    /// message id stays registered.
    pub fn finish(&self, reg: &Registration) {
        let mut ops = self.ops();
        if ops.get(&reg.msgid).is_some_and(|op| op.serial == reg.serial) {
            ops.remove(&reg.msgid);
        }
    }

    /// Abandon: cancels the operation `msgid` if it is still unanswered.
    pub fn abandon(&self, msgid: i32) {
        if let Some(op) = self.ops().remove(&msgid) {
            op.cancel.cancel();
        }
    }

    /// How many operations are unanswered.
    pub fn len(&self) -> usize {
        self.ops().len()
    }

    /// Whether every operation has been answered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answered_operations_no_longer_count() {
        let r = Running::default();
        let a = r.register(1);
        let _b = r.register(2);
        assert_eq!(r.len(), 2);
        r.answered(1);
        assert_eq!(r.len(), 1);
        r.finish(&a);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn finishing_keeps_a_later_operation_with_the_same_message_id() {
        let r = Running::default();
        let first = r.register(7);
        r.answered(7);
        let second = r.register(7);
        r.finish(&first);
        assert_eq!(r.len(), 1);
        r.abandon(7);
        assert!(second.cancel.is_cancelled());
        assert!(!first.cancel.is_cancelled());
        assert!(r.is_empty());
    }

    #[test]
    fn abandon_cancels_only_unanswered_operations() {
        let r = Running::default();
        let a = r.register(1);
        r.answered(1);
        r.abandon(1);
        assert!(!a.cancel.is_cancelled());
        let b = r.register(2);
        r.abandon(2);
        assert!(b.cancel.is_cancelled());
        r.finish(&b);
        assert!(r.is_empty());
    }
}
