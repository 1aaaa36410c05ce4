//! The web pages' way into the directory: an in-process LDAP connection per web session,
//! served by the same connection code as a TCP client (`session::serve_internal`), so that
//! every page runs its operations as the logged-in person through the normal request path:
//! limits, the password policy, rate limits, access control, the write pipeline and the
//! audit log all apply exactly as they do over LDAP. The peer address is the HTTP client's.

use crate::context::ServerCtx;
use crate::tls::TlsInfo;
use birch_proto::codec::{BirchCodec, Decoded, ProtoError};
use birch_proto::ldap3_lber::common::TagClass;
use birch_proto::ldap3_lber::parse::{Parser, DEFAULT_MAX_BER_DEPTH};
use birch_proto::ldap3_lber::structure::{StructureTag, PL};
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapDerefAliases, LdapExtendedRequest, LdapFilter, LdapMsg, LdapOp,
    LdapPartialAttribute, LdapResult, LdapResultCode, LdapSearchRequest, LdapSearchScope,
};
use birch_proto::ppolicy::PolicyResponse;
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::DuplexStream;
use tokio_util::codec::Framed;
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::CancellationToken;

/// How long one operation may take before the page gives up (the connection is then closed).
const OP_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response PDU the web side reads (a search entry with a photo fits).
const MAX_RESPONSE: usize = 4 << 20;

/// Why an operation produced no LDAP result.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The server side closed the connection (idle timeout, shutdown, a Notice of
    /// Disconnection) or answered something that was not a response.
    #[error("the directory connection is closed")]
    Closed,
    /// No answer within the time allowed.
    #[error("the directory did not answer in time")]
    Timeout,
}

/// One search entry as the pages show it: its DN and attributes with text values (the
/// admin commands' entry type, so their status functions apply).
pub type Found = crate::admin::client::Entry;

/// The final answer of an operation with the response controls.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The LDAP result.
    pub res: LdapResult,
    /// The password policy response control, when the server sent one.
    pub policy: Option<PolicyResponse>,
    /// The extended response's value (Password Modify: the generated password).
    pub value: Option<Vec<u8>>,
}

impl Answer {
    /// Whether the operation succeeded.
    pub fn ok(&self) -> bool {
        self.res.code == LdapResultCode::Success
    }
}

/// An in-process LDAP connection; one operation at a time.
pub struct Conn {
    framed: Framed<DuplexStream, ClientCodec>,
    next_id: i32,
    stop: CancellationToken,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Conn {
    /// Opens a connection as if `peer` had connected (over TLS when `tls` is given).
    pub fn open(ctx: &Arc<ServerCtx>, peer: SocketAddr, tls: Option<TlsInfo>, shutdown: &CancellationToken) -> Conn {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let stop = shutdown.child_token();
        tokio::spawn(crate::session::serve_internal(server, peer, ctx.clone(), tls, stop.clone()));
        Conn { framed: Framed::new(client, ClientCodec(BirchCodec::new(MAX_RESPONSE))), next_id: 1, stop }
    }

    /// A connection to nothing (unit tests of the session store).
    #[cfg(test)]
    pub fn detached() -> Conn {
        let (client, _server) = tokio::io::duplex(64);
        Conn {
            framed: Framed::new(client, ClientCodec(BirchCodec::new(MAX_RESPONSE))),
            next_id: 1,
            stop: CancellationToken::new(),
        }
    }

    /// Sends one request and collects the search entries and the final response.
    async fn call(&mut self, op: LdapOp, ctrl: Vec<LdapControl>) -> Result<Reply, ConnError> {
        let msgid = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let run = async {
            self.framed.send(LdapMsg { msgid, op, ctrl }).await.map_err(|_| ConnError::Closed)?;
            let mut entries = Vec::new();
            loop {
                let (msg, policy) = match self.framed.next().await {
                    Some(Ok((Decoded::Msg(m), policy))) => (m, policy),
                    _ => return Err(ConnError::Closed),
                };
                if msg.msgid != msgid {
                    // msgid 0: a Notice of Disconnection.
                    return Err(ConnError::Closed);
                }
                match msg.op {
                    LdapOp::SearchResultEntry(e) => entries.push(found(e.dn, e.attributes)),
                    LdapOp::SearchResultReference(_) => {}
                    _ => return Ok((entries, msg, policy)),
                }
            }
        };
        tokio::time::timeout(OP_TIMEOUT, run).await.map_err(|_| ConnError::Timeout)?
    }

    /// A simple bind with the password policy request control.
    pub async fn bind(&mut self, dn: &str, password: &str) -> Result<Answer, ConnError> {
        let op = LdapOp::BindRequest(LdapBindRequest {
            version: 3,
            dn: dn.to_string(),
            cred: LdapBindCred::Simple(password.to_string()),
        });
        let (_, msg, policy) = self.call(op, vec![policy_request()]).await?;
        Ok(answer(msg, policy))
    }

    /// A search; the entries found and the final result.
    pub async fn search(
        &mut self,
        base: &str,
        scope: LdapSearchScope,
        filter: LdapFilter,
        attrs: &[&str],
        size_limit: i32,
    ) -> Result<(Vec<Found>, LdapResult), ConnError> {
        let op = LdapOp::SearchRequest(LdapSearchRequest {
            base: base.to_string(),
            scope,
            aliases: LdapDerefAliases::Never,
            sizelimit: size_limit,
            timelimit: 10,
            typesonly: false,
            filter,
            attrs: attrs.iter().map(|a| a.to_string()).collect(),
        });
        let (entries, msg, _) = self.call(op, vec![]).await?;
        Ok((entries, answer(msg, None).res))
    }

    /// Reads one entry (base scope) with `attrs`; `None` when it cannot be read.
    pub async fn read(&mut self, dn: &str, attrs: &[&str]) -> Result<Option<Found>, ConnError> {
        let filter = LdapFilter::Present("objectClass".to_string());
        let (mut entries, _) = self.search(dn, LdapSearchScope::Base, filter, attrs, 1).await?;
        Ok(entries.pop())
    }

    /// A modify request.
    pub async fn modify(
        &mut self,
        dn: &str,
        changes: Vec<birch_proto::ldap3_proto::proto::LdapModify>,
    ) -> Result<Answer, ConnError> {
        let op =
            LdapOp::ModifyRequest(birch_proto::ldap3_proto::proto::LdapModifyRequest { dn: dn.to_string(), changes });
        let (_, msg, policy) = self.call(op, vec![policy_request()]).await?;
        Ok(answer(msg, policy))
    }

    /// A Password Modify extended operation (RFC 3062) with the password policy control.
    pub async fn password_modify(
        &mut self,
        user: Option<&str>,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<Answer, ConnError> {
        let req = birch_proto::ldap3_proto::proto::LdapPasswordModifyRequest {
            user_identity: user.map(String::from),
            old_password: old.map(String::from),
            new_password: new.map(String::from),
        };
        let op = LdapOp::ExtendedRequest(LdapExtendedRequest::from(req));
        let (_, msg, policy) = self.call(op, vec![policy_request()]).await?;
        Ok(answer(msg, policy))
    }
}

/// What a request got back: the search entries, the final response and its password policy
/// response control.
type Reply = (Vec<Found>, LdapMsg, Option<PolicyResponse>);

/// The client side's codec: BirchCodec, and the password policy response control's value,
/// which ldap3_proto's decoder drops (it reads that OID as the request control).
struct ClientCodec(BirchCodec);

impl Decoder for ClientCodec {
    type Item = (Decoded, Option<PolicyResponse>);
    type Error = ProtoError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, ProtoError> {
        let policy = match frame_len(buf) {
            Some(total) => buf.get(..total).and_then(policy_of_frame),
            None => None,
        };
        Ok(self.0.decode(buf)?.map(|d| (d, policy)))
    }
}

impl Encoder<LdapMsg> for ClientCodec {
    type Error = ProtoError;

    fn encode(&mut self, msg: LdapMsg, buf: &mut BytesMut) -> Result<(), ProtoError> {
        self.0.encode(msg, buf)
    }
}

/// The length of the BER SEQUENCE at the start of `buf` (header included), if its header
/// is there.
fn frame_len(buf: &[u8]) -> Option<usize> {
    let (&tag, rest) = buf.split_first()?;
    let (&first, rest) = rest.split_first()?;
    if tag != 0x30 {
        return None;
    }
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let len = rest.get(..n)?.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Some(2 + n + len)
}

/// The password policy response control in a whole LDAPMessage frame, if it has one.
fn policy_of_frame(frame: &[u8]) -> Option<PolicyResponse> {
    // The OID's encoding, to skip parsing twice the frames that do not have it.
    let oid = birch_proto::oids::PASSWORD_POLICY.as_bytes();
    if !frame.windows(oid.len()).any(|w| w == oid) {
        return None;
    }
    let (_, tag) = Parser::new(DEFAULT_MAX_BER_DEPTH).parse(frame).ok()?;
    let PL::C(parts) = tag.payload else { return None };
    let controls = parts.into_iter().find(|t| t.class == TagClass::Context && t.id == 0)?;
    let PL::C(controls) = controls.payload else { return None };
    controls.into_iter().find_map(|c: StructureTag| {
        let PL::C(fields) = c.payload else { return None };
        let octets = |t: &StructureTag| match &t.payload {
            PL::P(b) if t.class == TagClass::Universal && t.id == 4 => Some(b.clone()),
            _ => None,
        };
        let name = fields.first().and_then(octets)?;
        if name != oid {
            return None;
        }
        fields.iter().skip(1).find_map(octets).and_then(|v| PolicyResponse::decode(&v))
    })
}

/// The password policy request control (no value).
fn policy_request() -> LdapControl {
    LdapControl::Unknown { oid: birch_proto::oids::PASSWORD_POLICY.to_string(), criticality: false, value: None }
}

/// The result, policy control and extended value of a final response.
fn answer(msg: LdapMsg, policy: Option<PolicyResponse>) -> Answer {
    let (res, value) = match msg.op {
        LdapOp::BindResponse(r) => (r.res, None),
        LdapOp::SearchResultDone(r) | LdapOp::ModifyResponse(r) | LdapOp::AddResponse(r) => (r, None),
        LdapOp::ExtendedResponse(r) => (r.res, r.value),
        _ => (
            LdapResult {
                code: LdapResultCode::Other,
                matcheddn: String::new(),
                message: "unexpected response".to_string(),
                referral: vec![],
            },
            None,
        ),
    };
    Answer { res, policy, value }
}

/// A search entry with its values as text.
fn found(dn: String, attrs: Vec<LdapPartialAttribute>) -> Found {
    let attrs = attrs
        .into_iter()
        .map(|a| {
            let values = a
                .vals
                .into_iter()
                .map(|v| String::from_utf8(v).unwrap_or_else(|v| format!("({} bytes)", v.as_bytes().len())))
                .collect();
            (a.atype, values)
        })
        .collect();
    Found { dn, attrs }
}
