//! Request controls of write operations (and the Assertion control of search/compare):
//! Assertion (RFC 4528), Pre-/Post-Read (RFC 4527), Permissive Modify, Tree Delete; and
//! Simple Paged Results (RFC 2696) of search.

use super::paged::PagedRequest;
use super::result;
use crate::context::ServerCtx;
use crate::query::attrs::{self, Selection};
use crate::query::filter;
use birch_acl::{Privilege, Requester};
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{LdapResult, LdapResultCode, LdapSearchResultEntry};
use birch_proto::{control::control_oid, oids, values};
use birch_store::{Entry, Filter};

/// The controls of one request that change how it runs.
#[derive(Default)]
pub struct RequestControls {
    /// The Assertion control's filter, resolved.
    pub assertion: Option<Filter>,
    /// Pre-Read: the attributes to return as they were before the change.
    pub pre_read: Option<Selection>,
    /// Post-Read: the attributes to return as they are after the change.
    pub post_read: Option<Selection>,
    /// Permissive Modify.
    pub permissive: bool,
    /// Tree Delete.
    pub tree_delete: bool,
    /// The password policy request control: answer with the response control.
    pub ppolicy: bool,
    /// Simple Paged Results (search only; ignored by other operations).
    pub paged: Option<PagedRequest>,
    /// Content Synchronization (RFC 4533; search only).
    pub sync: Option<super::syncprov::SyncRequest>,
}

impl RequestControls {
    /// Decodes the controls; a malformed control value is a protocolError.
    pub fn parse(ctx: &ServerCtx, ctrls: &[LdapControl]) -> Result<RequestControls, LdapResult> {
        let mut rc = RequestControls::default();
        let bad = |what: &str| result(LdapResultCode::ProtocolError, "", &format!("{what} control value is malformed"));
        for c in ctrls {
            let oid = control_oid(c);
            let value = match c {
                LdapControl::Unknown { value, .. } => value.as_deref(),
                _ => None,
            };
            match oid.as_str() {
                oids::ASSERTION => {
                    let f = value.and_then(values::assertion_filter).ok_or_else(|| bad("assertion"))?;
                    // Access to the attributes is checked per entry, like a search filter's.
                    rc.assertion = Some(filter::convert(&f, ctx.schema(), &|_| true));
                }
                oids::PRE_READ | oids::POST_READ => {
                    let list = value.and_then(values::read_attributes).ok_or_else(|| bad("read entry"))?;
                    let sel = Some(Selection::new(&list, ctx.schema()));
                    if oid == oids::PRE_READ {
                        rc.pre_read = sel;
                    } else {
                        rc.post_read = sel;
                    }
                }
                oids::PERMISSIVE_MODIFY => rc.permissive = true,
                oids::TREE_DELETE => rc.tree_delete = true,
                oids::PASSWORD_POLICY if value.is_some_and(|v| !v.is_empty()) => {
                    return Err(result(
                        LdapResultCode::ProtocolError,
                        "",
                        "passwordPolicyRequest control value not empty",
                    ));
                }
                oids::PASSWORD_POLICY => rc.ppolicy = true,
                oids::SYNC_REQUEST => {
                    if let LdapControl::SyncRequest { mode, cookie, .. } = c {
                        rc.sync = Some(super::syncprov::SyncRequest {
                            persist: *mode == birch_proto::ldap3_proto::proto::SyncRequestMode::RefreshAndPersist,
                            cookie: cookie.clone(),
                        });
                    }
                }
                oids::PAGED_RESULTS => {
                    // ldap3_proto decodes this one itself (a malformed value makes the
                    // whole request undecodable, answered with protocolError).
                    if let LdapControl::SimplePagedResults { size, cookie } = c {
                        let p = PagedRequest::from_control(*size, cookie)
                            .map_err(|text| result(LdapResultCode::ProtocolError, "", text))?;
                        rc.paged = Some(p);
                    }
                }
                _ => {}
            }
        }
        Ok(rc)
    }

    /// The Pre-/Post-Read response controls for an entry before and after a change.
    pub fn read_responses(
        &self,
        ctx: &ServerCtx,
        who: &Requester,
        before: Option<&Entry>,
        after: Option<&Entry>,
    ) -> Vec<LdapControl> {
        let mut out = Vec::new();
        let mut one = |oid: &str, sel: &Option<Selection>, e: Option<&Entry>| {
            if let (Some(sel), Some(e)) = (sel, e) {
                let access = ctx.access();
                let readable = |a: &str| access.check(who, e, a, Privilege::Read);
                let attributes = attrs::project(e, sel, ctx.schema(), &readable, false);
                out.push(values::read_entry_control(oid, LdapSearchResultEntry { dn: e.dn.clone(), attributes }));
            }
        };
        one(oids::PRE_READ, &self.pre_read, before);
        one(oids::POST_READ, &self.post_read, after);
        out
    }
}
