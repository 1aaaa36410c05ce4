//! The writing side of a connection. Every operation writes its responses straight to the
//! connection's stream, one at a time under a lock, so a response costs no hand-off to
//! another task (and no wake-up of another thread): on two cores those hand-offs were a
//! fifth of a search's CPU. Entries of a search are queued in the stream's buffer and leave
//! together with the search's last message, in one write.
//!
//! A write that cannot finish within the connection's write timeout (a client that stopped
//! reading its results) or fails marks the connection dead; the connection then closes and
//! every later write fails at once.

use crate::running::Running;
use birch_proto::codec::{BirchCodec, ProtoError};
use birch_proto::ldap3_proto::proto::{LdapMsg, LdapOp};
use futures_util::SinkExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, WriteHalf};
use tokio_util::codec::FramedWrite;
use tokio_util::sync::CancellationToken;

/// A connection's byte stream: plain TCP or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}
/// A boxed connection stream.
pub(crate) type BoxIo = Box<dyn Io>;
/// The encoding writer over a connection's write half.
pub(crate) type Writer = FramedWrite<WriteHalf<BoxIo>, BirchCodec>;

/// The connection can no longer be written to (it failed, timed out or is closing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the connection's writer has stopped")]
pub struct Closed;

/// What one write hands to the stream.
enum Outgoing {
    One(LdapMsg),
    Many(Vec<LdapMsg>),
}

struct Shared {
    /// `None` once the stream failed or was taken back (StartTLS).
    writer: tokio::sync::Mutex<Option<Writer>>,
    /// How long one write may wait for the client to read.
    limit: Option<Duration>,
    /// Cancelled when a write failed or timed out: the connection closes.
    dead: CancellationToken,
    /// The connection's unanswered operations: a final response takes its operation out.
    running: Arc<Running>,
}

/// Writes responses of one connection (cheap to clone; one per running operation).
#[derive(Clone)]
pub struct Responder(Arc<Shared>);

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder").field("dead", &self.0.dead.is_cancelled()).finish()
    }
}

impl Responder {
    /// A responder writing through `writer`, each write waiting at most `limit` for the
    /// client; a final response marks its operation answered in `running`.
    pub(crate) fn new(writer: Writer, limit: Option<Duration>, running: Arc<Running>) -> Responder {
        let dead = CancellationToken::new();
        Responder(Arc::new(Shared { writer: tokio::sync::Mutex::new(Some(writer)), limit, dead, running }))
    }

    /// Writes one response and flushes it to the client. (The write functions return the
    /// write's future rather than being `async fn`s, which would carry the message twice in
    /// every caller's state.)
    pub fn send(&self, msg: LdapMsg) -> impl Future<Output = Result<(), Closed>> + '_ {
        self.write(Outgoing::One(msg), true)
    }

    /// Writes responses that leave in the same system call.
    pub fn send_many(&self, msgs: Vec<LdapMsg>) -> impl Future<Output = Result<(), Closed>> + '_ {
        self.write(Outgoing::Many(msgs), true)
    }

    /// Adds a response to the stream's buffer without flushing it: it leaves with the next
    /// flushed response, or as soon as the buffer is full. For the entries of a search,
    /// whose final message is always sent with [`Responder::send`].
    pub fn queue(&self, msg: LdapMsg) -> impl Future<Output = Result<(), Closed>> + '_ {
        self.write(Outgoing::One(msg), false)
    }

    /// Writes out whatever is buffered.
    pub async fn flush(&self) -> Result<(), Closed> {
        self.write(Outgoing::Many(Vec::new()), true).await
    }

    async fn write(&self, out: Outgoing, flush: bool) -> Result<(), Closed> {
        let shared = &*self.0;
        if shared.dead.is_cancelled() {
            return Err(Closed);
        }
        match &out {
            Outgoing::One(m) => self.answering(m),
            Outgoing::Many(ms) => ms.iter().for_each(|m| self.answering(m)),
        }
        let result = match shared.limit {
            None => self.write_now(out, flush).await,
            Some(limit) => match tokio::time::timeout(limit, self.write_now(out, flush)).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::info!(
                        timeout_s = limit.as_secs(),
                        "client does not read its results; closing the connection"
                    );
                    Err(Closed)
                }
            },
        };
        if result.is_err() {
            shared.dead.cancel();
        }
        result
    }

    /// Before a final response is written: its operation is answered (the client may send
    /// its next request as soon as it reads it).
    fn answering(&self, m: &LdapMsg) {
        let last = !matches!(
            m.op,
            LdapOp::SearchResultEntry(_) | LdapOp::SearchResultReference(_) | LdapOp::IntermediateResponse(_)
        );
        if last && m.msgid != 0 {
            self.0.running.answered(m.msgid);
        }
    }

    async fn write_now(&self, out: Outgoing, flush: bool) -> Result<(), Closed> {
        let mut guard = self.0.writer.lock().await;
        let w = guard.as_mut().ok_or(Closed)?;
        let r: Result<(), ProtoError> = async {
            match out {
                Outgoing::One(m) => w.feed(m).await?,
                Outgoing::Many(ms) => {
                    for m in ms {
                        w.feed(m).await?;
                    }
                }
            }
            if flush {
                w.flush().await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = r {
            tracing::debug!(error = %e, "writing to the client failed; closing the connection");
            *guard = None;
            return Err(Closed);
        }
        Ok(())
    }

    /// Whether writing has failed (the connection must close).
    pub(crate) fn dead(&self) -> &CancellationToken {
        &self.0.dead
    }

    /// Flushes what is buffered and takes the writer back; `None` if writing failed or
    /// another clone of this responder is still alive (an operation still running).
    pub(crate) async fn into_writer(self) -> Option<Writer> {
        self.flush().await.ok()?;
        let shared = Arc::try_unwrap(self.0).ok()?;
        shared.writer.into_inner()
    }
}
