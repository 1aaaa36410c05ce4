//! The reading side of a connection: requests framed by [`BirchCodec`], with the two
//! limits that keep a client from making the server hold its bytes: the largest request
//! (smaller before a bind, see `connections.anonymous_max_pdu_bytes`), and the time a
//! request may take to arrive whole once its first bytes are in
//! (`connections.request_timeout`), which a client trickling a large request (or stopping
//! halfway) runs into long before the idle timeout.

use crate::responder::BoxIo;
use birch_proto::codec::{BirchCodec, Decoded, ProtoError};
use futures_util::Stream;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::ReadHalf;
use tokio_util::codec::FramedRead;

/// What the reader yields.
#[derive(Debug)]
pub enum Incoming {
    /// A whole request (or a well-framed undecodable one).
    Request(Decoded),
    /// The byte stream cannot go on (malformed, too large, the socket failed).
    Failed(ProtoError),
    /// A request began to arrive but was not whole within the request timeout.
    Stalled(Duration),
}

/// The largest request a connection accepts at the moment (asked again as each request
/// arrives: a bind that just completed raises it).
pub(crate) type SizeLimit = std::sync::Arc<dyn Fn() -> usize + Send + Sync>;

/// Requests read from a connection's read half.
pub(crate) struct Requests {
    frames: FramedRead<ReadHalf<BoxIo>, BirchCodec>,
    limit: SizeLimit,
    timeout: Option<Duration>,
    /// Set while a request is partly read: when it must be whole.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Requests {
    /// Reads requests of at most `limit()` bytes from `rd`, each whole within `timeout`
    /// of its first bytes (`None`: no limit).
    pub(crate) fn new(rd: ReadHalf<BoxIo>, limit: SizeLimit, timeout: Option<Duration>) -> Requests {
        let frames = FramedRead::new(rd, BirchCodec::new(limit()));
        Requests { frames, limit, timeout, deadline: None }
    }

    /// Brings the codec's size limit up to date.
    fn refresh_limit(&mut self) {
        let max_pdu = (self.limit)();
        if self.frames.decoder().max_pdu() != max_pdu {
            *self.frames.decoder_mut() = BirchCodec::new(max_pdu);
        }
    }

    /// Bytes read but not yet a whole request.
    pub(crate) fn read_buffer(&self) -> &bytes::BytesMut {
        self.frames.read_buffer()
    }

    /// The read half, for StartTLS (call only with an empty read buffer).
    pub(crate) fn into_inner(self) -> ReadHalf<BoxIo> {
        self.frames.into_inner()
    }

    /// The next request; `None` when the client closed the connection.
    pub(crate) async fn next(&mut self) -> Option<Incoming> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        // Every wake-up may bring a request's header: judge it by who the client is now.
        self.refresh_limit();
        if let Poll::Ready(item) = Pin::new(&mut self.frames).poll_next(cx) {
            self.deadline = None;
            return Poll::Ready(item.map(|r| match r {
                Ok(d) => Incoming::Request(d),
                Err(e) => Incoming::Failed(e),
            }));
        }
        // Nothing whole yet. The clock runs from the moment part of a request is buffered.
        let Some(limit) = self.timeout.filter(|_| !self.frames.read_buffer().is_empty()) else {
            self.deadline = None;
            return Poll::Pending;
        };
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.deadline = None;
                Poll::Ready(Some(Incoming::Stalled(limit)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
