//! One audit record per write operation (add, delete, modify, modify DN, Password Modify):
//! who, from where, on which connection, the target, the attributes changed, the result code
//! and the duration, plus the change as an LDIF record for replay. Password values never
//! appear: changes of secret attributes ([`birch_acl::secret`]: userPassword, pwdHistory...)
//! are named in `attrs` and left out of the LDIF.

use crate::session::Session;
use birch_ldif::{self as ldif, LdifMod, LdifModOp, LdifRecord};
use birch_proto::ldap3_proto::proto::{LdapModifyType, LdapOp, LdapPasswordModifyRequest};
use birch_proto::oids;
use std::time::Instant;

/// What a write request was, captured before it runs.
pub struct WriteSummary {
    kind: &'static str,
    dn: String,
    attrs: Vec<String>,
    record: Option<LdifRecord>,
    started: Instant,
}

use birch_acl::secret::is_secret as secret;

fn attr_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(n)) {
            out.push(n.to_string());
        }
    }
    out
}

/// The summary of a request, if it is a write.
pub fn summarize(op: &LdapOp, session: &Session) -> Option<WriteSummary> {
    let started = Instant::now();
    let (kind, dn, attrs, record) = match op {
        LdapOp::AddRequest(r) => {
            let attrs = attr_names(r.attributes.iter().map(|a| a.atype.as_str()));
            let values = r
                .attributes
                .iter()
                .filter(|a| !secret(&a.atype))
                .flat_map(|a| a.vals.iter().map(move |v| (a.atype.clone(), v.clone())))
                .collect();
            ("add", r.dn.clone(), attrs, Some(LdifRecord::Add { line: 0, dn: r.dn.clone(), attrs: values }))
        }
        LdapOp::DelRequest(dn) => ("delete", dn.clone(), vec![], Some(LdifRecord::Delete { line: 0, dn: dn.clone() })),
        LdapOp::ModifyRequest(r) => {
            let attrs = attr_names(r.changes.iter().map(|c| c.modification.atype.as_str()));
            let mods: Vec<LdifMod> = r
                .changes
                .iter()
                .filter(|c| !secret(&c.modification.atype))
                .map(|c| LdifMod {
                    op: match c.operation {
                        LdapModifyType::Add => LdifModOp::Add,
                        LdapModifyType::Delete => LdifModOp::Delete,
                        LdapModifyType::Replace => LdifModOp::Replace,
                        LdapModifyType::Increment => LdifModOp::Increment,
                    },
                    attr: c.modification.atype.clone(),
                    values: c.modification.vals.clone(),
                })
                .collect();
            // A change of secret attributes only (a password) has no LDIF to replay.
            let record: Option<LdifRecord> =
                (!mods.is_empty()).then(|| LdifRecord::Modify { line: 0, dn: r.dn.clone(), mods });
            ("modify", r.dn.clone(), attrs, record)
        }
        LdapOp::ModifyDNRequest(r) => (
            "modrdn",
            r.dn.clone(),
            vec![],
            Some(LdifRecord::ModDn {
                line: 0,
                dn: r.dn.clone(),
                new_rdn: r.newrdn.clone(),
                delete_old_rdn: r.deleteoldrdn,
                new_superior: r.new_superior.clone(),
            }),
        ),
        LdapOp::ExtendedRequest(r) if r.name == oids::PASSWORD_MODIFY => {
            let target = LdapPasswordModifyRequest::try_from(r)
                .ok()
                .and_then(|p| p.user_identity)
                .map(|id| id.strip_prefix("dn:").unwrap_or(&id).to_string())
                .unwrap_or_else(|| session.bound_dn());
            ("password_modify", target, vec!["userPassword".to_string()], None)
        }
        _ => return None,
    };
    Some(WriteSummary { kind, dn, attrs, record, started })
}

/// The result code of a response op (bind, compare, writes, extended operations).
pub fn result_code(op: &LdapOp) -> Option<i32> {
    let res = match op {
        LdapOp::AddResponse(r) | LdapOp::DelResponse(r) | LdapOp::ModifyResponse(r) | LdapOp::ModifyDNResponse(r) => r,
        LdapOp::ExtendedResponse(r) => &r.res,
        LdapOp::BindResponse(r) => &r.res,
        LdapOp::CompareResult(r) => r,
        _ => return None,
    };
    Some(birch_proto::result::code_number(&res.code))
}

/// Logs the audit record of a finished write and makes it durable (with the audit log's
/// group commit) before the operation is acknowledged.
pub async fn record(summary: WriteSummary, session: &Session, response: Option<&LdapOp>) {
    let result = response.and_then(result_code).unwrap_or(-1);
    let mut ldif_text = Vec::new();
    if let Some(rec) = &summary.record {
        let _ = ldif::write_record(&mut ldif_text, rec);
    }
    let ldif_text = String::from_utf8_lossy(&ldif_text).trim_end().to_string();
    // The audit file keeps the LDIF of an applied change whole (for replay); a refused
    // request's is cut like any other value a client sends (docs/security.md).
    let ldif_text = if result == 0 {
        ldif_text
    } else {
        crate::logsafe::cut(&ldif_text, crate::logsafe::MAX_AUDIT_FIELD_BYTES).into_owned()
    };
    let duration_us = u64::try_from(summary.started.elapsed().as_micros()).unwrap_or(u64::MAX);
    // Synced just below: the record does not wake the audit-flush thread.
    crate::audit::logged_before_sync(|| {
        tracing::info!(
            target: "birch::audit",
            event = summary.kind,
            conn = session.id,
            peer = %session.peer,
            by = %session.bound_dn(),
            dn = %summary.dn,
            attrs = %summary.attrs.join(","),
            result,
            duration_us,
            ldif = %ldif_text,
        )
    });
    if let Some(log) = crate::audit::installed() {
        if let Err(e) = log.sync_shared().await {
            tracing::error!(error = %e, "cannot make the audit log durable");
        }
    }
}
