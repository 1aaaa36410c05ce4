//! `/`, `/login` and `/logout`. A login is an LDAP simple bind on a new in-process
//! connection from the HTTP client's address: the bind's rate limits (per address and per
//! DN), lockout, password policy states and audit events are those of any LDAP bind. A uid
//! is turned into its entry's DN first (a name matching no single entry binds a DN that
//! does not exist, which fails like a wrong password and counts the same).

use crate::context::ServerCtx;
use crate::web::csrf;
use crate::web::i18n::fill;
use crate::web::ldap::Conn;
use crate::web::page::{redirect, Page, Visit, SESSION_COOKIE};
use crate::web::sessions::{random_token, Role, WebSession};
use crate::web::WebState;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Form;
use birch_proto::ldap3_proto::proto::LdapResultCode;
use birch_proto::ppolicy::{PolicyError, PolicyWarning};
use serde::Deserialize;
use std::sync::Arc;

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    username: String,
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    csrf: Option<String>,
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

/// `GET /`: to the account page when logged in, else to the login page.
pub async fn root(visit: Visit) -> Response {
    match visit.session {
        Some(_) => redirect("/account"),
        None => redirect("/login"),
    }
}

/// `GET /login`.
pub async fn show(visit: Visit) -> Response {
    if let Some(s) = &visit.session {
        return redirect(if s.must_change() { "/password" } else { "/account" });
    }
    login_page(visit, StatusCode::OK, String::new(), None)
}

/// The login page with a fresh double-submit token when the visitor has none.
fn login_page(mut visit: Visit, status: StatusCode, username: String, error: Option<&str>) -> Response {
    // The form always uses the login token, also for someone logged in already.
    visit.session = None;
    let fresh = visit.login_csrf.is_none().then(random_token);
    if let Some(t) = &fresh {
        visit.login_csrf = Some(t.clone());
    }
    let tr = visit.tr();
    let mut page = visit.page(tr.login_title);
    page.error = error.map(String::from);
    let mut res = visit.render(status, &LoginPage { page, username });
    if let Some(t) = fresh {
        res.headers_mut().append(header::SET_COOKIE, visit.cookie(csrf::LOGIN_COOKIE, &t, None));
    }
    res
}

/// The DN to bind for what was typed: a DN as it is, a uid as the DN of the one entry
/// with that uid (read from the uid index; nothing of it is shown), else a DN under
/// `ou=people` that does not exist, so that the bind fails as for a wrong password.
fn bind_dn(ctx: &ServerCtx, name: &str) -> String {
    if name.contains('=') {
        return name.to_string();
    }
    let schema = ctx.schema();
    let found = schema.normalize_value(schema.rule("uid"), name.as_bytes()).and_then(|key| {
        let ids = ctx.store().ids_with_value("uid", &key).ok()?;
        match ids.as_slice() {
            [id] => ctx.store().get(*id).ok().flatten().map(|e| e.dn),
            _ => None,
        }
    });
    found.unwrap_or_else(|| format!("uid={},ou=people,{}", crate::admin::client::rdn_value(name), ctx.config().suffix))
}

/// What the logged-in person may see beyond their account: by the groups the access policy
/// resolved for them (the same as the LDAP bind's).
fn role_of(ctx: &ServerCtx, ndn: &str) -> Role {
    let groups = ctx.access().groups_of(ctx.store(), ndn);
    let suffix = &ctx.config().suffix;
    let norm = |dn: String| birch_schema::dn::normalize_str(&dn, ctx.schema()).unwrap_or(dn);
    if groups.contains(&norm(ctx.config().access.admins_dn(suffix))) {
        Role::Admin
    } else if groups.contains(&norm(ctx.config().access.helpdesk_dn(suffix))) {
        Role::Helpdesk
    } else {
        Role::User
    }
}

/// `POST /login`.
pub async fn submit(
    State(state): State<Arc<WebState>>,
    visit: Visit,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return crate::web::page::form_rejected(&visit, &e),
    };
    if !csrf::matches(visit.login_csrf.as_deref().unwrap_or(""), form.csrf.as_deref()) {
        return visit.csrf_refused();
    }
    let tr = visit.tr();
    let name = form.username.trim().to_string();
    if name.is_empty() || form.password.is_empty() || name.len() > 1024 || form.password.len() > 1024 {
        return login_page(visit, StatusCode::BAD_REQUEST, name, Some(tr.login_missing));
    }
    let ctx = &state.ctx;
    let dn = bind_dn(ctx, &name);
    let ndn = birch_schema::dn::normalize_str(&dn, ctx.schema()).unwrap_or_default();
    if ndn == ctx.root_ndn() {
        // The root DN has no account here; it is not even tried (no password oracle).
        return login_page(visit, StatusCode::UNAUTHORIZED, name, Some(tr.login_failed));
    }
    let mut conn = Conn::open(ctx, visit.peer.addr, visit.peer.tls.clone(), &state.shutdown);
    let answer = match conn.bind(&dn, &form.password).await {
        Ok(a) => a,
        Err(_) => return login_page(visit, StatusCode::SERVICE_UNAVAILABLE, name, Some(tr.unavailable)),
    };
    let policy = answer.policy.unwrap_or_default();
    if !answer.ok() {
        let (status, text) = match (answer.res.code, policy.error) {
            (_, Some(PolicyError::AccountLocked)) => (StatusCode::FORBIDDEN, tr.login_locked),
            (_, Some(PolicyError::PasswordExpired)) => (StatusCode::FORBIDDEN, tr.login_expired),
            (LdapResultCode::InvalidCredentials, _) if answer.res.message.contains("too many failed") => {
                (StatusCode::TOO_MANY_REQUESTS, tr.login_throttled)
            }
            (LdapResultCode::InvalidCredentials, _) => (StatusCode::UNAUTHORIZED, tr.login_failed),
            (LdapResultCode::ConfidentialityRequired, _) => (StatusCode::FORBIDDEN, tr.login_tls),
            (LdapResultCode::InvalidDNSyntax, _) => (StatusCode::UNAUTHORIZED, tr.login_failed),
            _ => (StatusCode::SERVICE_UNAVAILABLE, tr.unavailable),
        };
        return login_page(visit, status, name, Some(text));
    }
    let reset = policy.error == Some(PolicyError::ChangeAfterReset);
    let (grace, notice) = match policy.warning {
        Some(PolicyWarning::GraceAuthNsRemaining(n)) => (true, Some(fill(tr.grace_left, n))),
        Some(PolicyWarning::TimeBeforeExpiration(s)) => (false, Some(fill(tr.expires_in, duration(tr, s.into())))),
        // The password page says why (an alert) while the change is due.
        None => (false, None),
    };
    let uid = if name.contains('=') {
        name.split(',').next().and_then(|r| r.split_once('=')).map_or(name.clone(), |(_, v)| v.trim().to_string())
    } else {
        name
    };
    let session = WebSession::new(uid, dn, role_of(ctx, &ndn), conn, reset || grace);
    *session.notice.lock().unwrap_or_else(|p| p.into_inner()) = notice;
    // A new id at every login (no fixation): the old session, if any, ends.
    if let Some(old) = &visit.session_id {
        state.sessions.remove(old);
    }
    let id = state.sessions.insert(session);
    let mut res = redirect(if reset || grace { "/password" } else { "/account" });
    res.headers_mut().append(header::SET_COOKIE, visit.cookie(SESSION_COOKIE, &id, None));
    visit.finish(res)
}

/// `POST /logout`: ends the session (its LDAP connection closes) and goes to the login page.
pub async fn logout(
    State(state): State<Arc<WebState>>,
    visit: Visit,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return crate::web::page::form_rejected(&visit, &e),
    };
    let Some(session) = &visit.session else { return redirect("/login") };
    if !csrf::matches(&session.csrf, form.csrf.as_deref()) {
        return visit.csrf_refused();
    }
    if let Some(id) = &visit.session_id {
        state.sessions.remove(id);
    }
    let mut res = redirect("/login");
    res.headers_mut().append(header::SET_COOKIE, visit.cookie(SESSION_COOKIE, "", Some(0)));
    res
}

/// A duration for people: days when at least one, else hours, else minutes.
pub fn duration(tr: &crate::web::i18n::Texts, secs: u64) -> String {
    let days = secs / 86_400;
    if days > 0 {
        fill(tr.days, days)
    } else if secs >= 3600 {
        format!("{} h", secs / 3600)
    } else {
        format!("{} min", secs.div_ceil(60))
    }
}
