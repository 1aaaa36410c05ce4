//! The sending side of a connection's response queue. Operations hand their responses to
//! the connection's writer task through it; several responses handed over at once (the
//! last entry of a search and its SearchResultDone) reach the socket in one write.

use birch_proto::ldap3_proto::proto::LdapMsg;
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

    /// Queues one response; waits while the queue is full.
    pub async fn send(&self, msg: LdapMsg) -> Result<(), Closed> {
        self.0.send(Outgoing::One(msg)).await.map_err(|_| Closed)
    }

    /// Queues responses that go out in the same write.
    pub async fn send_many(&self, msgs: Vec<LdapMsg>) -> Result<(), Closed> {
        self.0.send(Outgoing::Many(msgs)).await.map_err(|_| Closed)
    }
}
