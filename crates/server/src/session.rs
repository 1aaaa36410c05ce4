//! One client connection: reads requests, runs each operation (on the connection's task
//! when it finishes without waiting, otherwise as a task of its own, so a connection can
//! have several outstanding operations), and handles Abandon, Unbind and StartTLS.
//! Operations write their responses straight to the stream ([`Responder`]), in order of
//! completion.
//!
//! A connection runs over any byte stream (TCP, or TLS over TCP): StartTLS takes the
//! stream back and starts reader and responder again over TLS.

use crate::context::ServerCtx;
use crate::incoming::{Incoming, Requests, SizeLimit};
use crate::ops;
pub use crate::responder::Responder;
use crate::responder::{BoxIo, Writer};
use crate::running::Running;
use crate::tls::{self, Listener, TlsInfo};
use birch_acl::Subject;
use birch_proto::codec::{response_for_invalid, BirchCodec, Decoded, ProtoError};
use birch_proto::ldap3_proto::proto::{
    LdapExtendedRequest, LdapExtendedResponse, LdapMsg, LdapOp, LdapResult, LdapResultCode,
};
use futures_util::SinkExt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::FramedWrite;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Per-connection state shared by the connection's operations.
pub struct Session {
    /// The connection's number (in logs and audit records).
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// `peer` as text, formatted once when first needed (see [`Session::peer_text`]).
    peer_text: OnceLock<String>,
    /// Bound identity: the subject and the DN to report in WhoAmI.
    identity: Mutex<(Subject, String)>,
    /// Unanswered operations by message id, for Abandon and the per-connection limit.
    running: Arc<Running>,
    /// The bound user must change their password before anything else (pwdReset under
    /// pwdMustChange).
    must_change: std::sync::atomic::AtomicBool,
    /// The policy's groups the bound subject belongs to (resolved at bind).
    groups: Mutex<Arc<std::collections::HashSet<String>>>,
    /// Open paged searches (RFC 2696), by cookie.
    pub paged: ops::paged::PagedSearches,
    /// Access decisions that held for any entry, for the current requester.
    pub decisions: crate::access::Decisions,
    /// Persistent searches running on this connection.
    persistent: Arc<crate::limits::PersistentCount>,
    /// Set once TLS is established (LDAPS, or after StartTLS).
    tls: OnceLock<Arc<TlsInfo>>,
    /// Cancelled when the connection stops reading requests (closed by the client, idle,
    /// server shutdown): operations that would otherwise never end (a refreshAndPersist
    /// search) stop then.
    pub closing: CancellationToken,
}

impl Session {
    fn new(peer: SocketAddr) -> Session {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Session {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            peer,
            peer_text: OnceLock::new(),
            identity: Mutex::new((Subject::Anonymous, String::new())),
            running: Arc::default(),
            must_change: Default::default(),
            groups: Mutex::new(Arc::default()),
            paged: Default::default(),
            decisions: Default::default(),
            persistent: Arc::default(),
            tls: OnceLock::new(),
            closing: CancellationToken::new(),
        }
    }

    /// The client's address as text, for audit records (a connection binds many times;
    /// formatting an address costs more than the rest of the record).
    pub fn peer_text(&self) -> &str {
        self.peer_text.get_or_init(|| self.peer.to_string())
    }

    /// The requester of an operation on this connection, for access control.
    pub fn requester(&self) -> birch_acl::Requester {
        birch_acl::Requester {
            subject: self.subject(),
            groups: (**self.groups.lock().unwrap_or_else(|p| p.into_inner())).clone(),
            peer: Some(self.peer.ip()),
            // rustls offers only AEAD suites of 128 or 256 bits; ACL rules ask `ssf=N`
            // for "TLS required", so every TLS connection counts as 128.
            ssf: if self.is_tls() { 128 } else { 0 },
        }
    }

    /// Records the groups of the bound subject.
    pub fn set_groups(&self, groups: std::collections::HashSet<String>) {
        *self.groups.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(groups);
    }

    /// Whether the session is restricted to changing its password.
    pub fn must_change(&self) -> bool {
        self.must_change.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Restricts (or frees) the session until the password is changed.
    pub fn set_must_change(&self, on: bool) {
        self.must_change.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The current authorization subject.
    pub fn subject(&self) -> Subject {
        self.identity.lock().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// Whether the connection is bound (to a user or the root DN; not anonymous).
    pub fn is_bound(&self) -> bool {
        !matches!(self.identity.lock().unwrap_or_else(|p| p.into_inner()).0, Subject::Anonymous)
    }

    /// The bound DN as the client gave it ("" when anonymous).
    pub fn bound_dn(&self) -> String {
        self.identity.lock().unwrap_or_else(|p| p.into_inner()).1.clone()
    }

    /// Sets the identity after a bind.
    pub fn set_identity(&self, subject: Subject, dn: String) {
        *self.identity.lock().unwrap_or_else(|p| p.into_inner()) = (subject, dn);
        self.set_must_change(false);
        self.set_groups(Default::default());
    }

    /// Whether the connection is protected by TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.get().is_some()
    }

    /// What the TLS handshake established (including the client certificate), if any.
    pub fn tls_info(&self) -> Option<Arc<TlsInfo>> {
        self.tls.get().cloned()
    }

    fn set_tls(&self, info: TlsInfo) {
        tracing::debug!(peer = %self.peer, version = %info.version, cipher = %info.cipher, client_cert = ?info.client.as_ref().map(|c| &c.subject), "TLS established");
        let _ = self.tls.set(Arc::new(info));
    }
}

/// A running connection over one stream: the request reader and the responder that
/// writes to the stream.
struct Wire {
    reader: Requests,
    tx: Responder,
}

impl Wire {
    fn start(io: BoxIo, limits: &crate::limits::ConnectionsSection, size: &SizeLimit, running: &Arc<Running>) -> Wire {
        let (rd, wr) = tokio::io::split(io);
        let out: Writer = FramedWrite::new(wr, BirchCodec::new(usize::MAX));
        let tx = Responder::new(out, limits.write(), running.clone());
        Wire { reader: Requests::new(rd, size.clone(), limits.request()), tx }
    }

    /// Writes what is buffered and hands the stream back; `None` if writing failed. Call
    /// only when no operation holds a responder any more.
    async fn into_stream(self) -> Option<BoxIo> {
        let writer = self.tx.into_writer().await?;
        Some(self.reader.into_inner().unsplit(writer.into_inner()))
    }

    /// Writes what is buffered.
    async fn close(self) {
        let _ = self.tx.flush().await;
    }
}

/// Serves one connection until the client leaves, sends garbage, or the server stops. On
/// the LDAPS listener the TLS handshake comes first.
pub async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<ServerCtx>,
    shutdown: CancellationToken,
    listener: Listener,
) {
    let _counted = ctx.metrics().connection();
    let _ = stream.set_nodelay(true);
    let session = Arc::new(Session::new(peer));
    let io: BoxIo = match (listener, &ctx.tls()) {
        (Listener::Ldap, _) => Box::new(stream),
        (Listener::Ldaps, None) => return,
        (Listener::Ldaps, Some(t)) => {
            let shake = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = tls::handshake(t.acceptor(Listener::Ldaps), stream) => r,
            };
            match shake {
                Ok((tls_stream, info)) => {
                    session.set_tls(info);
                    Box::new(tls_stream)
                }
                Err(e) => {
                    tracing::info!(%peer, error = %e, "LDAPS handshake failed; connection closed");
                    return;
                }
            }
        }
    };
    serve(io, session, ctx, shutdown).await;
}

/// Serves one connection over an in-memory stream, as if accepted on the plain listener
/// (the fuzz harness, `crate::fuzzing`); returns when the client side is closed and every
/// response is written.
pub async fn serve_stream<S>(io: S, peer: SocketAddr, ctx: Arc<ServerCtx>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    serve(Box::new(io), Arc::new(Session::new(peer)), ctx, CancellationToken::new()).await;
}

/// Serves one in-process connection of the web pages (`crate::web`): the requests of a
/// logged-in person, with `peer` the HTTP client's address (rate limits, audit records) and
/// `tls` what its HTTPS handshake established (`None` on plain HTTP); it ends when the web
/// session drops its side of the stream or `shutdown` is cancelled.
pub async fn serve_internal<S>(
    io: S,
    peer: SocketAddr,
    ctx: Arc<ServerCtx>,
    tls: Option<TlsInfo>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let session = Arc::new(Session::new(peer));
    if let Some(info) = tls {
        session.set_tls(info);
    }
    serve(Box::new(io), session, ctx, shutdown).await;
}

async fn serve(io: BoxIo, session: Arc<Session>, ctx: Arc<ServerCtx>, shutdown: CancellationToken) {
    let peer = session.peer;
    let max = ctx.config().max_pdu_bytes;
    let limits = &ctx.config().connections;
    // Before a bind only small requests (slapd's sockbuf_max_incoming), after one any up
    // to max_pdu_bytes (sockbuf_max_incoming_auth).
    let anonymous_max = limits.anonymous_max_pdu(max);
    let size: SizeLimit = {
        let session = session.clone();
        Arc::new(move || if session.is_bound() { max } else { anonymous_max })
    };
    let mut wire = Wire::start(io, limits, &size, &session.running);
    let ops_tracker = TaskTracker::new();
    let mut idle = crate::limits::IdleClock::new(limits.idle());
    tracing::debug!(%peer, tls = session.is_tls(), "connection opened");
    loop {
        let frame = tokio::select! {
            _ = shutdown.cancelled() => break,
            // Writing failed (the stream, or a client that left its results unread past
            // the write timeout): the connection closes.
            _ = wire.tx.dead().cancelled() => break,
            _ = idle.expired() => {
                // Waiting for its own operations is not idleness, except for persistent
                // searches begun anonymously: they do not keep a connection open.
                if ops_tracker.len() <= session.persistent.anonymous() {
                    tracing::debug!(%peer, "idle timeout; closing the connection");
                    break;
                }
                idle.touch();
                continue;
            }
            f = wire.reader.next() => f,
        };
        idle.touch();
        let tx = &wire.tx;
        match frame {
            None => break,
            // A TLS client that hangs up without close_notify (many do, after Unbind) is
            // just gone; what it might have sent is lost either way.
            Some(Incoming::Failed(ProtoError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                tracing::debug!(%peer, "TLS connection closed without close_notify");
                break;
            }
            Some(Incoming::Failed(ProtoError::TooLarge { len, max: allowed })) if allowed < max => {
                tracing::warn!(%peer, len, allowed, "request too large before a bind; closing the connection");
                let text = format!("request of {len} bytes exceeds the {allowed} bytes allowed before a bind");
                let _ = tx.send(disconnect_notice(&text)).await;
                break;
            }
            Some(Incoming::Failed(e)) => {
                tracing::warn!(%peer, error = %e, "closing connection after bad input");
                let _ = tx.send(disconnect_notice(&e.to_string())).await;
                break;
            }
            Some(Incoming::Stalled(limit)) => {
                let buffered = wire.reader.read_buffer().len();
                tracing::info!(%peer, buffered, timeout_s = limit.as_secs(), "request incomplete past the request timeout; closing the connection");
                let text = format!("the request did not arrive whole within {} s", limit.as_secs());
                let _ = tx.send(disconnect_notice(&text)).await;
                break;
            }
            Some(Incoming::Request(Decoded::Invalid { msgid, op_tag, reason })) => {
                tracing::warn!(%peer, ?msgid, reason = %reason, "undecodable request");
                match msgid.and_then(|id| response_for_invalid(id, op_tag, &reason)) {
                    Some(resp) => {
                        if tx.send(resp).await.is_err() {
                            break;
                        }
                    }
                    None => {
                        let _ = tx.send(disconnect_notice(&reason)).await;
                        break;
                    }
                }
            }
            // RFC 4511 section 4.1.1: a protocolOp that is not a request (a response, sent
            // by a client) ends the session with a Notice of Disconnection.
            Some(Incoming::Request(Decoded::Msg(msg))) if birch_proto::codec::request_tag(&msg.op).is_none() => {
                tracing::warn!(%peer, msgid = msg.msgid, "not a request; closing the connection");
                let _ = tx.send(disconnect_notice("the protocolOp is not a request")).await;
                break;
            }
            Some(Incoming::Request(Decoded::Msg(msg))) => match msg.op {
                LdapOp::UnbindRequest => break,
                LdapOp::AbandonRequest(id) => session.running.abandon(id),
                LdapOp::ExtendedRequest(ref req) if req.name == birch_proto::oids::START_TLS => {
                    let refusal = start_tls_refusal(&ctx, &session, req, &wire);
                    let res = refusal.clone().unwrap_or_else(|| ops::result(LdapResultCode::Success, "", ""));
                    if tx.send(start_tls_response(msg.msgid, res)).await.is_err() {
                        break;
                    }
                    if refusal.is_some() {
                        continue;
                    }
                    // Every operation has been answered, so the response above is the last
                    // cleartext PDU; tasks still ending let go of the stream first.
                    ops_tracker.close();
                    ops_tracker.wait().await;
                    ops_tracker.reopen();
                    match start_tls(wire, &session, &ctx, &shutdown).await {
                        Some(upgraded) => wire = Wire::start(upgraded, limits, &size, &session.running),
                        None => {
                            tracing::debug!(%peer, "connection closed");
                            return;
                        }
                    }
                }
                _ => {
                    // tests/faults.rs makes this panic: a panic in the connection's own task.
                    fail::fail_point!("session::request");
                    let slot = match admit_operation(&ctx, &session, &msg) {
                        Ok(slot) => slot,
                        Err(text) => {
                            // One line per refused operation only at DEBUG: under overload the
                            // log would add to it; birch_operations_total counts them (51).
                            tracing::debug!(%peer, msgid = msg.msgid, reason = text, "operation refused: busy");
                            ops::count_refused(&ctx, &msg.op, LdapResultCode::Busy);
                            let res = ops::result(LdapResultCode::Busy, "", text);
                            if let Some(op) = ops::response_op(&msg.op, res) {
                                if tx.send(LdapMsg { msgid: msg.msgid, op, ctrl: vec![] }).await.is_err() {
                                    break;
                                }
                            }
                            continue;
                        }
                    };
                    let msgid = msg.msgid;
                    let reg = session.running.register(msgid);
                    let (ctx, session, tx) = (ctx.clone(), session.clone(), tx.clone());
                    // Cancelling `shutdown` (this connection's own token) closes only this connection.
                    let close = shutdown.clone();
                    let mut op = Box::pin(async move {
                        if let Err(panic) =
                            crate::panics::contain(ops::dispatch(&ctx, &session, msg, &tx, &reg.cancel)).await
                        {
                            tracing::error!(conn = session.id, %peer, msgid, panic, "operation panicked; closing the connection");
                            let _ = tx.send(notice_of_disconnection(LdapResultCode::Other, "internal error")).await;
                            close.cancel();
                        }
                        session.running.finish(&reg);
                        drop(slot);
                    });
                    // Most operations (an indexed search, a bind with a legacy hash) finish
                    // without ever waiting: run them here, on the connection's own task,
                    // and hand only those that wait (for the disk, the hashing pool, a slow
                    // client) to a task of their own, so that this connection keeps reading
                    // (Abandon, further requests) while they run.
                    if poll_once(op.as_mut()).await.is_pending() {
                        ops_tracker.spawn(op);
                    }
                }
            },
        }
    }
    // Let in-flight operations finish and their responses go out; persistent searches end.
    session.closing.cancel();
    ops_tracker.close();
    ops_tracker.wait().await;
    wire.close().await;
    tracing::debug!(%peer, "connection closed");
}

/// Polls `fut` once on the current task.
async fn poll_once<F: std::future::Future + ?Sized>(mut fut: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await
}

/// What admitted an operation; held until it ends.
enum Admission {
    /// A place in the server's work queue.
    Queued(#[allow(dead_code)] crate::limits::Slot),
    /// A persistent search's places (it never takes one of the work queue: it may run for
    /// days).
    Persistent(#[allow(dead_code)] crate::limits::PersistentPermit),
}

/// A place for one more operation of this connection, or why there is none: the
/// connection's own limit, the server's work queue, or for a persistent search the limits
/// on those.
fn admit_operation(ctx: &ServerCtx, session: &Session, msg: &LdapMsg) -> Result<Admission, &'static str> {
    let per_connection = ctx.config().connections.max_ops_per_connection;
    if per_connection > 0 && session.running.len() >= per_connection {
        return Err("too many outstanding operations on this connection");
    }
    if is_persistent_search(msg) {
        use crate::limits::Requester;
        let subject = session.subject();
        let who = if subject == Subject::Anonymous {
            Requester::Anonymous
        } else if ops::syncprov::is_replicator(ctx, &subject) {
            Requester::Replicator
        } else {
            Requester::User
        };
        return ctx.budgets().persistent.try_start(&session.persistent, who).map(Admission::Persistent);
    }
    ctx.work_queue().try_enter().map(Admission::Queued).ok_or("the server is busy; try again")
}

/// Whether a request is a refreshAndPersist sync search (RFC 4533), which runs until it is
/// abandoned or the connection closes.
fn is_persistent_search(msg: &LdapMsg) -> bool {
    use birch_proto::ldap3_proto::control::LdapControl;
    use birch_proto::ldap3_proto::proto::SyncRequestMode;
    matches!(msg.op, LdapOp::SearchRequest(_))
        && msg
            .ctrl
            .iter()
            .any(|c| matches!(c, LdapControl::SyncRequest { mode: SyncRequestMode::RefreshAndPersist, .. }))
}

/// Why a StartTLS request must be refused (RFC 4511 section 4.14.2), if it must.
fn start_tls_refusal(ctx: &ServerCtx, session: &Session, req: &LdapExtendedRequest, wire: &Wire) -> Option<LdapResult> {
    let refuse = |code, text: &str| Some(ops::result(code, "", text));
    if ctx.tls().is_none() {
        return refuse(LdapResultCode::ProtocolError, "StartTLS is not configured on this server");
    }
    if req.value.is_some() {
        return refuse(LdapResultCode::ProtocolError, "StartTLS takes no request value");
    }
    if session.is_tls() {
        return refuse(LdapResultCode::OperationsError, "TLS already started");
    }
    if !session.running.is_empty() || !wire.reader.read_buffer().is_empty() {
        return refuse(LdapResultCode::OperationsError, "cannot start TLS with operations outstanding");
    }
    None
}

/// Hands the stream over to TLS after the StartTLS response is written; `None` when the
/// handshake failed (only this connection closes) or the server is stopping.
async fn start_tls(wire: Wire, session: &Session, ctx: &ServerCtx, shutdown: &CancellationToken) -> Option<BoxIo> {
    let peer = session.peer;
    let acceptor = ctx.tls().as_ref()?.acceptor(Listener::Ldap);
    let io = wire.into_stream().await?;
    let shake = tokio::select! {
        _ = shutdown.cancelled() => return None,
        r = tls::handshake(acceptor, io) => r,
    };
    match shake {
        Ok((stream, info)) => {
            session.set_tls(info);
            Some(Box::new(stream))
        }
        Err(e) => {
            tracing::info!(%peer, error = %e, "StartTLS handshake failed; connection closed");
            None
        }
    }
}

/// The StartTLS extended response: its responseName is the StartTLS OID.
fn start_tls_response(msgid: i32, res: LdapResult) -> LdapMsg {
    let name = Some(birch_proto::oids::START_TLS.to_string());
    LdapMsg { msgid, op: LdapOp::ExtendedResponse(LdapExtendedResponse { res, name, value: None }), ctrl: vec![] }
}

/// Turns away a connection the limits do not admit: on the plain listener a Notice of
/// Disconnection with busy (51) saying why, on LDAPS (where cleartext would be garbage)
/// nothing; then the connection is closed. Bounded in time, so a client that does not
/// read cannot hold it.
pub async fn refuse_connection(mut stream: TcpStream, listener: Listener, message: &str) {
    if listener == Listener::Ldap {
        let mut out = FramedWrite::new(&mut stream, BirchCodec::new(usize::MAX));
        let notice = notice_of_disconnection(LdapResultCode::Busy, message);
        let _ = tokio::time::timeout(Duration::from_secs(5), out.send(notice)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncWriteExt::shutdown(&mut stream)).await;
}

/// RFC 4511 section 4.4.1 Notice of Disconnection (protocolError).
fn disconnect_notice(message: &str) -> LdapMsg {
    notice_of_disconnection(LdapResultCode::ProtocolError, message)
}

/// A Notice of Disconnection with `code`.
fn notice_of_disconnection(code: LdapResultCode, message: &str) -> LdapMsg {
    LdapMsg {
        msgid: 0,
        op: LdapOp::ExtendedResponse(LdapExtendedResponse {
            res: LdapResult { code, matcheddn: String::new(), message: message.to_string(), referral: vec![] },
            name: Some(birch_proto::oids::NOTICE_OF_DISCONNECTION.to_string()),
            value: None,
        }),
        ctrl: vec![],
    }
}
