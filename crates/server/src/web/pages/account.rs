//! `/account`: what the directory holds about me that I may read — my entry read by me
//! (`*` and `+`) on my own connection, so the access rules decide what shows — my groups
//! (a search by me), my password's age and expiry; and a form for the self-service
//! attributes the access rules let me change, saved as a modify by me through the write
//! pipeline.

use crate::context::ServerCtx;
use crate::ppolicy::gentime;
use crate::web::csrf;
use crate::web::i18n::{fill, Texts};
use crate::web::ldap::{Conn, ConnError, Found};
use crate::web::page::{form_rejected, Page, Visit};
use crate::web::sessions::WebSession;
use crate::web::WebState;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use birch_acl::{Privilege, Requester, Subject};
use birch_proto::ldap3_proto::proto::{LdapFilter, LdapModify, LdapModifyType, LdapPartialAttribute, LdapSearchScope};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Self-service attributes the pages never offer in the form: written by login tools or
/// the password page.
const NOT_IN_FORM: &[&str] = &["shadowLastChange", "userPassword"];

/// The account page.
#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    page: Page,
    dn: String,
    attrs: Vec<(String, Vec<String>)>,
    groups: Vec<String>,
    changed: String,
    age: String,
    expires: String,
    editable: Vec<(String, String)>,
}

/// The self-service attributes (`[access] self_service`) the access rules let `session`
/// replace in its own entry, judged as the LDAP modify will judge them.
pub fn editable(ctx: &ServerCtx, session: &WebSession, tls: bool, peer: std::net::IpAddr) -> Vec<String> {
    let Ok(ndn) = birch_schema::dn::normalize_str(&session.dn, ctx.schema()) else { return vec![] };
    let Ok(Some((_, entry))) = ctx.store().get_by_ndn(&ndn) else { return vec![] };
    let access = ctx.access();
    let me = Requester {
        subject: Subject::User(ndn.clone()),
        groups: access.groups_of(ctx.store(), &ndn),
        peer: Some(peer),
        ssf: if tls { 128 } else { 0 },
    };
    let schema = ctx.schema();
    ctx.config()
        .access
        .self_service
        .iter()
        .filter(|a| !NOT_IN_FORM.iter().any(|n| n.eq_ignore_ascii_case(a)))
        .filter(|a| {
            let c = schema.canonical(a);
            access.check(&me, &entry, &c, Privilege::Add) && access.check(&me, &entry, &c, Privilege::Delete)
        })
        .cloned()
        .collect()
}

/// My entry and groups, read by me.
async fn read_me(conn: &mut Conn, session: &WebSession, suffix: &str) -> Result<(Found, Vec<String>), ConnError> {
    let me = conn.read(&session.dn, &["*", "+"]).await?.unwrap_or_default();
    let uid = me.first("uid").unwrap_or(&session.uid).to_string();
    let filter = LdapFilter::Or(vec![
        LdapFilter::Equality("member".into(), session.dn.clone()),
        LdapFilter::Equality("uniqueMember".into(), session.dn.clone()),
        LdapFilter::Equality("memberUid".into(), uid),
    ]);
    let (found, _) = conn.search(suffix, LdapSearchScope::Subtree, filter, &["cn"], 200).await?;
    let mut groups: Vec<String> =
        found.iter().map(|g| g.first("cn").map_or_else(|| g.dn.clone(), String::from)).collect();
    groups.sort();
    groups.dedup();
    Ok((me, groups))
}

/// The account page with messages.
async fn page(
    state: &WebState,
    visit: &Visit,
    session: &WebSession,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let tr = visit.tr();
    let ctx = &state.ctx;
    let read = {
        let mut conn = session.conn.lock().await;
        read_me(&mut conn, session, &ctx.config().suffix).await
    };
    let Ok((me, groups)) = read else {
        visit.end_session(state);
        return visit.message(StatusCode::SERVICE_UNAVAILABLE, tr.login_title, tr.session_ended, true);
    };
    let (changed, age, expires) = password_times(ctx, tr, session, &me);
    let editable = editable(ctx, session, visit.peer.tls.is_some(), visit.peer.addr.ip())
        .into_iter()
        .flat_map(|a| {
            // One field per value (an attribute with several keeps them all), or one empty.
            let values = me.get(&a);
            let values = if values.is_empty() { vec![String::new()] } else { values.to_vec() };
            values.into_iter().map(move |v| (a.clone(), v))
        })
        .collect();
    let mut attrs = me.attrs.clone();
    attrs.sort_by_key(|(n, _)| n.to_ascii_lowercase());
    let mut page = visit.page(tr.account_title);
    page.error = error;
    page.notice = notice.or(page.notice);
    let t = AccountPage { page, dn: me.dn.clone(), attrs, groups, changed, age, expires, editable };
    visit.render(StatusCode::OK, &t)
}

/// When my password was changed, its age and when it expires (under my policy).
fn password_times(ctx: &ServerCtx, tr: &Texts, session: &WebSession, me: &Found) -> (String, String, String) {
    let Some(changed) = me.first("pwdChangedTime").and_then(gentime::parse) else {
        return (tr.unknown.into(), tr.unknown.into(), tr.unknown.into());
    };
    let when = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
    let age = SystemTime::now().duration_since(changed).unwrap_or_default().as_secs() / 86_400;
    let ndn = birch_schema::dn::normalize_str(&session.dn, ctx.schema()).unwrap_or_default();
    let policy = match ctx.store().get_by_ndn(&ndn) {
        Ok(Some((_, e))) => ctx.writer().policy_for(&e),
        _ => ctx.config().ppolicy.clone(),
    };
    let expires =
        if policy.max_age > 0 { when(changed + Duration::from_secs(policy.max_age)) } else { tr.never.into() };
    (when(changed), fill(tr.days, age), expires)
}

/// `GET /account`.
pub async fn show(State(state): State<Arc<WebState>>, visit: Visit) -> Response {
    let session = match visit.require(false) {
        Ok(s) => s,
        Err(r) => return r,
    };
    page(&state, &visit, &session, None, None).await
}

/// `POST /account`: one field per value of each editable attribute; when the values sent
/// for an attribute differ from the stored ones they replace them (empty fields are
/// dropped; all empty removes the attribute).
pub async fn submit(
    State(state): State<Arc<WebState>>,
    visit: Visit,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return form_rejected(&visit, &e),
    };
    let session = match visit.require(false) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let sent = form.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str());
    if !csrf::matches(&session.csrf, sent) {
        return visit.csrf_refused();
    }
    let tr = visit.tr();
    let allowed = editable(&state.ctx, &session, visit.peer.tls.is_some(), visit.peer.addr.ip());
    let current = {
        let mut conn = session.conn.lock().await;
        conn.read(&session.dn, &allowed.iter().map(String::as_str).collect::<Vec<_>>()).await
    };
    let current = current.ok().flatten().unwrap_or_default();
    // The values sent per attribute, in the order of the form.
    let mut sent: Vec<(&String, Vec<&str>)> = Vec::new();
    for (name, value) in form.iter().filter(|(k, _)| k != "csrf") {
        let Some(attr) = allowed.iter().find(|a| a.eq_ignore_ascii_case(name)) else {
            let text = format!("{} {name}", tr.not_editable);
            return page(&state, &visit, &session, Some(text), None).await;
        };
        let value = value.trim();
        match sent.iter_mut().find(|(a, _)| *a == attr) {
            Some((_, values)) => values.push(value),
            None => sent.push((attr, vec![value])),
        }
    }
    let mut changes = Vec::new();
    for (attr, values) in sent {
        let mut values: Vec<&str> = values.into_iter().filter(|v| !v.is_empty()).collect();
        values.dedup();
        let now = current.get(attr);
        let same = now.len() == values.len() && values.iter().all(|v| now.iter().any(|n| n == v));
        if same {
            continue;
        }
        let vals = values.iter().map(|v| v.as_bytes().to_vec()).collect();
        changes.push(LdapModify {
            operation: LdapModifyType::Replace,
            modification: LdapPartialAttribute { atype: attr.clone(), vals },
        });
    }
    if changes.is_empty() {
        return page(&state, &visit, &session, None, Some(tr.nothing_changed.to_string())).await;
    }
    let answer = {
        let mut conn = session.conn.lock().await;
        conn.modify(&session.dn, changes).await
    };
    match answer {
        Ok(a) if a.ok() => page(&state, &visit, &session, None, Some(tr.saved.to_string())).await,
        Ok(a) => {
            let text = format!("{} {}", tr.refused, a.res.message);
            page(&state, &visit, &session, Some(text), None).await
        }
        Err(_) => {
            visit.end_session(&state);
            visit.message(StatusCode::SERVICE_UNAVAILABLE, tr.login_title, tr.session_ended, true)
        }
    }
}
