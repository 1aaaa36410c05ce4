//! What every page shares: the visit (language, session, peer) read from a request, the
//! common part of each template ([`Page`]), cookies, redirects and the message pages.

use super::i18n::{self, Lang, Texts};
use super::listener::Peer;
use super::sessions::{Role, WebSession};
use super::WebState;
use askama::Template;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The session cookie.
pub const SESSION_COOKIE: &str = "birch_session";

/// One request's visitor: language, session and connection.
pub struct Visit {
    /// The language of the page.
    pub lang: Lang,
    /// Whether `?lang=` chose it (then the cookie remembers it).
    pub lang_chosen: bool,
    /// The logged-in session, if the cookie names a live one.
    pub session: Option<Arc<WebSession>>,
    /// The session cookie's value (also when it names no live session).
    pub session_id: Option<String>,
    /// The login form's double-submit token from its cookie.
    pub login_csrf: Option<String>,
    /// The client's connection.
    pub peer: Peer,
    /// Whether the pages go over HTTPS.
    pub https: bool,
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The value of `lang` in a query string.
fn query_lang(query: Option<&str>) -> Option<&str> {
    query?.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == "lang").map(|(_, v)| v)
}

impl FromRequestParts<Arc<WebState>> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<WebState>) -> Result<Visit, Self::Rejection> {
        let headers = &parts.headers;
        let chosen = query_lang(parts.uri.query()).and_then(Lang::from_tag);
        let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        let lang = Lang::pick(chosen.map(Lang::tag), cookie(headers, i18n::COOKIE), accept);
        let session_id = cookie(headers, SESSION_COOKIE).filter(|v| v.len() <= 128).map(String::from);
        let session = session_id.as_deref().and_then(|id| state.sessions.get(id));
        let login_csrf = cookie(headers, super::csrf::LOGIN_COOKIE).filter(|v| v.len() <= 128).map(String::from);
        // Always there: the listener adds it to every request.
        let peer = parts
            .extensions
            .get::<Peer>()
            .cloned()
            .unwrap_or(Peer { addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)), tls: None });
        Ok(Visit { lang, lang_chosen: chosen.is_some(), session, session_id, login_csrf, peer, https: state.https })
    }
}

/// The part of every template the layout uses.
pub struct Page {
    /// The texts in the page's language.
    pub tr: &'static Texts,
    /// The language tag for `<html lang>`.
    pub lang: &'static str,
    /// The page's title.
    pub title: String,
    /// The logged-in person's uid (shown in `#whoami`); `None` before login.
    pub whoami: Option<String>,
    /// The CSRF token of the page's forms.
    pub csrf: String,
    /// Whether the helpdesk console is offered.
    pub helpdesk: bool,
    /// Whether the audit view is offered.
    pub admin: bool,
    /// An error message (class `error`, role `alert`).
    pub error: Option<String>,
    /// A success message (class `notice`, role `status`).
    pub notice: Option<String>,
}

impl Visit {
    /// Ends this visitor's session (its LDAP connection was closed: idle, shutdown).
    pub fn end_session(&self, state: &WebState) {
        if let Some(id) = &self.session_id {
            state.sessions.remove(id);
        }
    }

    /// The texts of the page's language.
    pub fn tr(&self) -> &'static Texts {
        self.lang.texts()
    }

    /// The common part of a page titled `title`.
    pub fn page(&self, title: &str) -> Page {
        let s = self.session.as_ref();
        let role = s.map(|s| s.role);
        Page {
            tr: self.tr(),
            lang: self.lang.tag(),
            title: title.to_string(),
            whoami: s.map(|s| s.uid.clone()),
            csrf: s.map(|s| s.csrf.clone()).or_else(|| self.login_csrf.clone()).unwrap_or_default(),
            helpdesk: role.is_some_and(|r| r >= Role::Helpdesk),
            admin: role == Some(Role::Admin),
            error: None,
            notice: s.and_then(|s| s.take_notice()),
        }
    }

    /// A `Set-Cookie` value with the attributes every cookie of the pages has.
    pub fn cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        if self.https {
            c.push_str("; Secure");
        }
        HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("birch_invalid=1"))
    }

    /// Adds the language cookie when `?lang=` chose the language.
    pub fn finish(&self, mut res: Response) -> Response {
        if self.lang_chosen {
            let c = self.cookie(i18n::COOKIE, self.lang.tag(), Some(365 * 86_400));
            res.headers_mut().append(header::SET_COOKIE, c);
        }
        res
    }

    /// Renders a template with `status`.
    pub fn render<T: Template>(&self, status: StatusCode, t: &T) -> Response {
        match t.render() {
            Ok(html) => {
                self.finish((status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
            }
            Err(e) => {
                tracing::error!(error = %e, "web: a template failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }

    /// A page with a message only: an error (`error` true) or a notice.
    pub fn message(&self, status: StatusCode, title: &str, text: &str, error: bool) -> Response {
        let mut page = self.page(title);
        if error {
            page.error = Some(text.to_string());
        } else {
            page.notice = Some(text.to_string());
        }
        self.render(status, &MessagePage { page })
    }

    /// 403 for a form without a valid CSRF token.
    pub fn csrf_refused(&self) -> Response {
        let tr = self.tr();
        self.message(StatusCode::FORBIDDEN, tr.forbidden, tr.csrf_refused, true)
    }

    /// 403 for a page the person may not see.
    pub fn forbidden(&self) -> Response {
        let tr = self.tr();
        self.message(StatusCode::FORBIDDEN, tr.forbidden, tr.forbidden, true)
    }

    /// The logged-in session, or the response sending the visitor to log in (or, while
    /// the password must be changed, to /password unless `changing` is set).
    pub fn require(&self, changing: bool) -> Result<Arc<WebSession>, Response> {
        match &self.session {
            None => Err(redirect("/login")),
            Some(s) if s.must_change() && !changing => Err(redirect("/password")),
            Some(s) => Ok(s.clone()),
        }
    }
}

/// A 303 redirect to `to`.
pub fn redirect(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

/// A page with only a message.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// The common part.
    pub page: Page,
}

/// 404 for any other path.
pub async fn not_found(visit: Visit, _req: Request) -> Response {
    let tr = visit.tr();
    visit.message(StatusCode::NOT_FOUND, tr.not_found, tr.not_found, true)
}

/// Whether a form rejection was the body limit (then 413, else 400).
pub fn form_rejected(visit: &Visit, e: &axum::extract::rejection::FormRejection) -> Response {
    let status = e.status();
    let tr = visit.tr();
    let text = if status == StatusCode::PAYLOAD_TOO_LARGE { tr.too_large } else { tr.csrf_refused };
    visit.message(status, tr.forbidden, text, true)
}
