//! The sending side of a connection's response queue. Operations hand their responses to
//! the connection's writer task through it; several responses handed over at once (the
//! last entry of a search and its SearchResultDone) reach the socket in one write.

use birch_proto::ldap3_proto::proto::LdapMsg;
use futures_util::FutureExt;
use std::future::Future;
use tokio::sync::mpsc;

/// What the writer receives: one response, or several to be written together.
#[derive(Debug)]
pub enum Outgoing {
    /// A single response.
    One(LdapMsg),
    /// Responses written in one batch, in order.
    Many(Vec<LdapMsg>),
}

/// The writer has stopped (the connection failed or is closing); nothing more is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the connection's writer has stopped")]
pub struct Closed;

/// Sends responses of one connection (cheap to clone; one per running operation).
#[derive(Debug, Clone)]
pub struct Responder(mpsc::Sender<Outgoing>);

impl Responder {
    /// A responder and the writer's receiving end, queueing at most `depth` batches.
    pub fn channel(depth: usize) -> (Responder, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(depth);
        (Responder(tx), rx)
    }

    /// Queues one response; waits while the queue is full. (Plain functions returning the
    /// channel's future rather than `async fn`s, which would carry the message twice in
    /// every caller's state.)
    pub fn send(&self, msg: LdapMsg) -> impl Future<Output = Result<(), Closed>> + '_ {
        self.0.send(Outgoing::One(msg)).map(|r| r.map_err(|_| Closed))
    }

    /// Queues responses that go out in the same write.
    pub fn send_many(&self, msgs: Vec<LdapMsg>) -> impl Future<Output = Result<(), Closed>> + '_ {
        self.0.send(Outgoing::Many(msgs)).map(|r| r.map_err(|_| Closed))
    }
}
