//! One client connection: reads requests, runs each operation as its own task (so a
//! connection can have several outstanding operations), writes responses in order of
//! completion through one writer task, and handles Abandon and Unbind.

use crate::context::ServerCtx;
use crate::ops;
use birch_acl::Subject;
use birch_proto::codec::{response_for_invalid, BirchCodec, Decoded};
use birch_proto::ldap3_proto::proto::{LdapExtendedResponse, LdapMsg, LdapOp, LdapResult, LdapResultCode};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Per-connection state shared by the connection's operations.
pub struct Session {
    /// The client's address.
    pub peer: SocketAddr,
    /// Bound identity: the subject and the DN to report in WhoAmI.
    identity: Mutex<(Subject, String)>,
    /// Running operations by message id, for Abandon.
    running: Mutex<HashMap<i32, CancellationToken>>,
    /// The bound user must change their password before anything else (pwdReset under
    /// pwdMustChange).
    must_change: std::sync::atomic::AtomicBool,
    /// The policy's groups the bound subject belongs to (resolved at bind).
    groups: Mutex<Arc<std::collections::HashSet<String>>>,
    /// Open paged searches (RFC 2696), by cookie.
    pub paged: ops::paged::PagedSearches,
}

impl Session {
    fn new(peer: SocketAddr) -> Session {
        Session {
            peer,
            identity: Mutex::new((Subject::Anonymous, String::new())),
            running: Mutex::new(HashMap::new()),
            must_change: Default::default(),
            groups: Mutex::new(Arc::default()),
            paged: Default::default(),
        }
    }

    /// The requester of an operation on this connection, for access control.
    pub fn requester(&self) -> birch_acl::Requester {
        birch_acl::Requester {
            subject: self.subject(),
            groups: (**self.groups.lock().unwrap_or_else(|p| p.into_inner())).clone(),
            peer: Some(self.peer.ip()),
            ssf: 0,
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

    fn register(&self, msgid: i32) -> CancellationToken {
        let t = CancellationToken::new();
        self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(msgid, t.clone());
        t
    }

    fn finish(&self, msgid: i32) {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&msgid);
    }

    fn abandon(&self, msgid: i32) {
        if let Some(t) = self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&msgid) {
            t.cancel();
        }
    }
}

/// Sends responses of one connection.
pub type Responder = mpsc::Sender<LdapMsg>;

/// Serves one connection until the client leaves, sends garbage, or the server stops.
pub async fn serve_connection(stream: TcpStream, peer: SocketAddr, ctx: Arc<ServerCtx>, shutdown: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let max = ctx.config.max_pdu_bytes;
    let mut reader = FramedRead::new(rd, BirchCodec::new(max));
    let (tx, mut rx) = mpsc::channel::<LdapMsg>(256);
    let writer = tokio::spawn(async move {
        let mut w = FramedWrite::new(wr, BirchCodec::new(usize::MAX));
        while let Some(m) = rx.recv().await {
            if w.feed(m).await.is_err() {
                return;
            }
            // Batch whatever else is ready into one write.
            while let Ok(m) = rx.try_recv() {
                if w.feed(m).await.is_err() {
                    return;
                }
            }
            if w.flush().await.is_err() {
                return;
            }
        }
    });
    let session = Arc::new(Session::new(peer));
    let ops_tracker = TaskTracker::new();
    tracing::debug!(%peer, "connection opened");
    loop {
        let frame = tokio::select! {
            _ = shutdown.cancelled() => break,
            f = reader.next() => f,
        };
        match frame {
            None => break,
            Some(Err(e)) => {
                tracing::warn!(%peer, error = %e, "closing connection after bad input");
                let _ = tx.send(disconnect_notice(&e.to_string())).await;
                break;
            }
            Some(Ok(Decoded::Invalid { msgid, op_tag, reason })) => {
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
            Some(Ok(Decoded::Msg(msg))) => match msg.op {
                LdapOp::UnbindRequest => break,
                LdapOp::AbandonRequest(id) => session.abandon(id),
                _ => {
                    let msgid = msg.msgid;
                    let token = session.register(msgid);
                    let (ctx, session, tx) = (ctx.clone(), session.clone(), tx.clone());
                    ops_tracker.spawn(async move {
                        ops::dispatch(&ctx, &session, msg, &tx, &token).await;
                        session.finish(msgid);
                    });
                }
            },
        }
    }
    // Let in-flight operations finish and their responses go out.
    ops_tracker.close();
    ops_tracker.wait().await;
    drop(tx);
    let _ = writer.await;
    tracing::debug!(%peer, "connection closed");
}

/// RFC 4511 section 4.4.1 Notice of Disconnection.
fn disconnect_notice(message: &str) -> LdapMsg {
    LdapMsg {
        msgid: 0,
        op: LdapOp::ExtendedResponse(LdapExtendedResponse {
            res: LdapResult {
                code: LdapResultCode::ProtocolError,
                matcheddn: String::new(),
                message: message.to_string(),
                referral: vec![],
            },
            name: Some(birch_proto::oids::NOTICE_OF_DISCONNECTION.to_string()),
            value: None,
        }),
        ctrl: vec![],
    }
}
