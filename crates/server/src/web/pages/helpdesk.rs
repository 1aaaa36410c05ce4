//! The helpdesk console (`/helpdesk...`), for members of the helpdesk and admins groups:
//! search people, one person's status and groups, and the actions of `birch user` (reset,
//! unlock, disable with a reason, enable, group membership). Every read and change runs as
//! the logged-in person on their own connection, so the access rules decide exactly as for
//! the same requests over LDAP (never as the root DN); the changes are the admin commands'
//! (`crate::admin::user`, `crate::admin::secret`).

use crate::admin::secret;
use crate::admin::user::{self, DISABLED_REASON};
use crate::ppolicy::gentime;
use crate::web::csrf;
use crate::web::i18n::Texts;
use crate::web::ldap::{Answer, Conn, ConnError, Found};
use crate::web::page::{form_rejected, Page, Visit};
use crate::web::sessions::{Role, WebSession};
use crate::web::WebState;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use birch_proto::ldap3_proto::proto::{
    LdapFilter, LdapModify, LdapModifyType, LdapPartialAttribute, LdapSearchScope, LdapSubstringFilter,
};
use serde::Deserialize;
use std::sync::Arc;
use std::time::SystemTime;

/// Most people a search shows.
const MAX_FOUND: i32 = 50;

/// What the console reads of a person.
const PERSON_ATTRS: &[&str] =
    &["uid", "cn", "pwdAccountLockedTime", "pwdReset", "pwdEndTime", "shadowExpire", "pwdChangedTime", DISABLED_REASON];

/// One person in the results.
pub struct Row {
    /// The uid.
    pub uid: String,
    /// The common name.
    pub name: String,
    /// The status words.
    pub status: String,
}

/// One person's page.
pub struct Person {
    /// The uid.
    pub uid: String,
    /// The common name.
    pub name: String,
    /// The DN.
    pub dn: String,
    /// The status words.
    pub status: String,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// Why it is disabled.
    pub reason: Option<String>,
    /// When the password was last changed.
    pub changed: String,
    /// The groups (cn).
    pub groups: Vec<String>,
}

#[derive(Template)]
#[template(path = "helpdesk.html")]
struct SearchPage {
    page: Page,
    q: String,
    searched: bool,
    people: Vec<Row>,
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    page: Page,
    person: Person,
    temporary: Option<String>,
}

/// `?q=`.
#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// The action forms: the token and, per action, a reason or a group.
#[derive(Deserialize)]
pub struct ActionForm {
    csrf: Option<String>,
    #[serde(default)]
    reason: String,
    add: Option<String>,
    remove: Option<String>,
}

/// The session of a helpdesk member or admin, or the response for anyone else.
fn helpdesk_session(visit: &Visit) -> Result<Arc<WebSession>, Response> {
    let s = visit.require(false)?;
    if s.role < Role::Helpdesk {
        return Err(visit.forbidden());
    }
    Ok(s)
}

/// The status words of an entry, in the page's language.
fn status_text(tr: &Texts, e: &Found) -> String {
    user::status(e, SystemTime::now())
        .into_iter()
        .map(|w| match w {
            "disabled" => tr.status_disabled,
            "locked" => tr.status_locked,
            "expired" => tr.status_expired,
            "must-change" => tr.status_must_change,
            _ => tr.status_active,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn contains(attr: &str, q: &str) -> LdapFilter {
    LdapFilter::Substring(attr.into(), LdapSubstringFilter { initial: None, any: vec![q.into()], final_: None })
}

/// `GET /helpdesk?q=`: people whose uid, name or mail contains `q`.
pub async fn search(State(state): State<Arc<WebState>>, visit: Visit, Query(query): Query<SearchQuery>) -> Response {
    let session = match helpdesk_session(&visit) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let tr = visit.tr();
    let q: String = query.q.trim().chars().take(100).collect();
    let mut people = Vec::new();
    if !q.is_empty() {
        let filter = LdapFilter::And(vec![
            LdapFilter::Equality("objectClass".into(), "posixAccount".into()),
            LdapFilter::Or(vec![contains("uid", &q), contains("cn", &q), contains("mail", &q)]),
        ]);
        let found = {
            let mut conn = session.conn.lock().await;
            let base = state.ctx.config().suffix.clone();
            conn.search(&base, LdapSearchScope::Subtree, filter, PERSON_ATTRS, MAX_FOUND).await
        };
        match found {
            Ok((found, _)) => {
                people = found
                    .iter()
                    .filter_map(|e| {
                        Some(Row {
                            uid: e.first("uid")?.to_string(),
                            name: e.first("cn").unwrap_or("").to_string(),
                            status: status_text(tr, e),
                        })
                    })
                    .collect();
                people.sort_by(|a, b| a.uid.cmp(&b.uid));
            }
            Err(_) => {
                visit.end_session(&state);
                return visit.message(StatusCode::SERVICE_UNAVAILABLE, tr.login_title, tr.session_ended, true);
            }
        }
    }
    let page = visit.page(tr.helpdesk_title);
    visit.render(StatusCode::OK, &SearchPage { page, searched: !q.is_empty(), q, people })
}

/// The person with `uid` as the logged-in person sees them, with their groups.
async fn find(conn: &mut Conn, suffix: &str, uid: &str) -> Result<Option<(Found, Vec<Found>)>, ConnError> {
    let filter = LdapFilter::And(vec![
        LdapFilter::Equality("objectClass".into(), "posixAccount".into()),
        LdapFilter::Equality("uid".into(), uid.into()),
    ]);
    let (mut found, _) = conn.search(suffix, LdapSearchScope::Subtree, filter, PERSON_ATTRS, 2).await?;
    let Some(e) = found.pop().filter(|_| found.is_empty()) else { return Ok(None) };
    let groups = LdapFilter::Or(vec![
        LdapFilter::Equality("member".into(), e.dn.clone()),
        LdapFilter::Equality("uniqueMember".into(), e.dn.clone()),
        LdapFilter::Equality("memberUid".into(), uid.into()),
    ]);
    let (g, _) = conn.search(suffix, LdapSearchScope::Subtree, groups, &["cn", "objectClass"], 500).await?;
    Ok(Some((e, g)))
}

fn person_of(tr: &Texts, e: &Found, groups: &[Found]) -> Person {
    let mut names: Vec<String> = groups.iter().filter_map(|g| g.first("cn").map(String::from)).collect();
    names.sort();
    names.dedup();
    Person {
        uid: e.first("uid").unwrap_or("").to_string(),
        name: e.first("cn").unwrap_or("").to_string(),
        dn: e.dn.clone(),
        status: status_text(tr, e),
        disabled: user::is_disabled(e),
        reason: e.first(DISABLED_REASON).map(String::from),
        changed: e
            .first("pwdChangedTime")
            .and_then(gentime::parse)
            .map_or_else(|| tr.unknown.to_string(), |t| humantime::format_rfc3339_seconds(t).to_string()),
        groups: names,
    }
}

/// The person page with messages (and the temporary password after a reset).
async fn person_page(
    state: &WebState,
    visit: &Visit,
    session: &WebSession,
    uid: &str,
    error: Option<String>,
    notice: Option<String>,
    temporary: Option<String>,
) -> Response {
    let tr = visit.tr();
    let found = {
        let mut conn = session.conn.lock().await;
        find(&mut conn, &state.ctx.config().suffix, uid).await
    };
    let (e, groups) = match found {
        Ok(Some(f)) => f,
        Ok(None) => return visit.message(StatusCode::NOT_FOUND, tr.helpdesk_title, tr.no_such_person, true),
        Err(_) => {
            visit.end_session(state);
            return visit.message(StatusCode::SERVICE_UNAVAILABLE, tr.login_title, tr.session_ended, true);
        }
    };
    let mut page = visit.page(&format!("{} · {uid}", tr.helpdesk_title));
    page.error = error;
    page.notice = notice.or(page.notice);
    visit.render(StatusCode::OK, &PersonPage { page, person: person_of(tr, &e, &groups), temporary })
}

/// `GET /helpdesk/user/{uid}`.
pub async fn person(State(state): State<Arc<WebState>>, visit: Visit, Path(uid): Path<String>) -> Response {
    let session = match helpdesk_session(&visit) {
        Ok(s) => s,
        Err(r) => return r,
    };
    person_page(&state, &visit, &session, &uid, None, None, None).await
}

fn replace(attr: &str, values: &[&str]) -> LdapModify {
    LdapModify {
        operation: LdapModifyType::Replace,
        modification: LdapPartialAttribute {
            atype: attr.into(),
            vals: values.iter().map(|v| v.as_bytes().to_vec()).collect(),
        },
    }
}

fn delete(attr: &str) -> LdapModify {
    LdapModify {
        operation: LdapModifyType::Delete,
        modification: LdapPartialAttribute { atype: attr.into(), vals: vec![] },
    }
}

fn value_change(op: LdapModifyType, attr: &str, value: &str) -> LdapModify {
    LdapModify {
        operation: op,
        modification: LdapPartialAttribute { atype: attr.into(), vals: vec![value.as_bytes().to_vec()] },
    }
}

/// What an action did: a notice, an error, and the temporary password of a reset.
struct Outcome {
    error: Option<String>,
    notice: Option<String>,
    temporary: Option<String>,
}

impl Outcome {
    fn of(tr: &Texts, a: Answer) -> Outcome {
        if a.ok() {
            Outcome { error: None, notice: Some(tr.done.into()), temporary: None }
        } else {
            Outcome::error(format!("{} {}", tr.refused, a.res.message))
        }
    }

    fn error(text: impl Into<String>) -> Outcome {
        Outcome { error: Some(text.into()), notice: None, temporary: None }
    }
}

/// `POST /helpdesk/user/{uid}/{action}`: reset, unlock, disable, enable, groups.
pub async fn act(
    State(state): State<Arc<WebState>>,
    visit: Visit,
    Path((uid, action)): Path<(String, String)>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return form_rejected(&visit, &e),
    };
    let session = match helpdesk_session(&visit) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !csrf::matches(&session.csrf, form.csrf.as_deref()) {
        return visit.csrf_refused();
    }
    let tr = visit.tr();
    let suffix = state.ctx.config().suffix.clone();
    let (outcome, target) = {
        let mut conn = session.conn.lock().await;
        let found = match find(&mut conn, &suffix, &uid).await {
            Ok(Some(f)) => f,
            Ok(None) => return visit.message(StatusCode::NOT_FOUND, tr.helpdesk_title, tr.no_such_person, true),
            Err(_) => {
                drop(conn);
                visit.end_session(&state);
                return visit.message(StatusCode::SERVICE_UNAVAILABLE, tr.login_title, tr.session_ended, true);
            }
        };
        match run(&mut conn, tr, &suffix, &found.0, &action, &form).await {
            Ok(Some(o)) => (o, found.0.dn),
            Ok(None) => return visit.message(StatusCode::NOT_FOUND, tr.not_found, tr.not_found, true),
            Err(_) => {
                drop(conn);
                visit.end_session(&state);
                return visit.message(StatusCode::SERVICE_UNAVAILABLE, tr.login_title, tr.session_ended, true);
            }
        }
    };
    if outcome.error.is_none() && action == "disable" {
        // A disabled person's open web sessions end with it.
        state.sessions.remove_dn(&target);
    }
    let status = if outcome.error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let mut res = person_page(&state, &visit, &session, &uid, outcome.error, outcome.notice, outcome.temporary).await;
    if res.status() == StatusCode::OK {
        *res.status_mut() = status;
    }
    res
}

/// Runs one action on the person `e`; `None` for an unknown action.
async fn run(
    conn: &mut Conn,
    tr: &Texts,
    suffix: &str,
    e: &Found,
    action: &str,
    form: &ActionForm,
) -> Result<Option<Outcome>, ConnError> {
    let dn = e.dn.as_str();
    let outcome = match action {
        // As `birch user passwd`: a generated password set by the helpdesk, which the
        // policy marks must-change (pwdReset).
        "reset" => {
            let pw = secret::generate(secret::TEMPORARY_LEN);
            let a = conn.modify(dn, vec![replace("userPassword", &[&pw])]).await?;
            let mut o = Outcome::of(tr, a);
            if o.error.is_none() {
                o.temporary = Some(pw);
            }
            o
        }
        "unlock" if user::is_disabled(e) => Outcome::error(tr.status_disabled),
        "unlock" if e.first("pwdAccountLockedTime").is_none() => {
            Outcome { error: None, notice: Some(tr.done.into()), temporary: None }
        }
        "unlock" => Outcome::of(tr, conn.modify(dn, vec![delete("pwdAccountLockedTime")]).await?),
        "disable" => {
            let reason = form.reason.trim();
            if reason.is_empty() {
                Outcome::error(tr.reason_needed)
            } else {
                let mods =
                    vec![replace("pwdAccountLockedTime", &[gentime::DISABLED]), replace(DISABLED_REASON, &[reason])];
                Outcome::of(tr, conn.modify(dn, mods).await?)
            }
        }
        "enable" if !user::is_disabled(e) => Outcome { error: None, notice: Some(tr.done.into()), temporary: None },
        "enable" => {
            let mut mods = vec![delete("pwdAccountLockedTime")];
            if e.first(DISABLED_REASON).is_some() {
                mods.push(delete(DISABLED_REASON));
            }
            Outcome::of(tr, conn.modify(dn, mods).await?)
        }
        "groups" => {
            let (name, op) = match (&form.add, &form.remove) {
                (Some(a), _) if !a.trim().is_empty() => (a.trim(), LdapModifyType::Add),
                (_, Some(r)) if !r.trim().is_empty() => (r.trim(), LdapModifyType::Delete),
                _ => return Ok(Some(Outcome::error(tr.no_such_group))),
            };
            membership(conn, tr, suffix, e, name, op).await?
        }
        _ => return Ok(None),
    };
    Ok(Some(outcome))
}

/// Adds `e` to (or removes it from) the group named `cn`: `memberUid` of a posixGroup,
/// `member` of a groupOfNames, `uniqueMember` of a groupOfUniqueNames.
async fn membership(
    conn: &mut Conn,
    tr: &Texts,
    suffix: &str,
    e: &Found,
    cn: &str,
    op: LdapModifyType,
) -> Result<Outcome, ConnError> {
    let filter = LdapFilter::And(vec![
        LdapFilter::Equality("cn".into(), cn.into()),
        LdapFilter::Or(vec![
            LdapFilter::Equality("objectClass".into(), "posixGroup".into()),
            LdapFilter::Equality("objectClass".into(), "groupOfNames".into()),
            LdapFilter::Equality("objectClass".into(), "groupOfUniqueNames".into()),
        ]),
    ]);
    let (found, _) = conn.search(suffix, LdapSearchScope::Subtree, filter, &["objectClass"], 2).await?;
    let [g] = found.as_slice() else { return Ok(Outcome::error(tr.no_such_group)) };
    let uid = e.first("uid").unwrap_or("");
    let mut mods = Vec::new();
    if g.has_class("posixGroup") {
        mods.push(value_change(op.clone(), "memberUid", uid));
    }
    if g.has_class("groupOfNames") {
        mods.push(value_change(op.clone(), "member", &e.dn));
    }
    if g.has_class("groupOfUniqueNames") {
        mods.push(value_change(op, "uniqueMember", &e.dn));
    }
    Ok(Outcome::of(tr, conn.modify(&g.dn, mods).await?))
}
