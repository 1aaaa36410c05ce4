//! The pages' paths, the security headers every response carries, the request body limit
//! and the stylesheet.

use super::pages::{account, audit, helpdesk, login, password};
use super::WebState;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// Largest request body: a form of a few fields fits many times.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The stylesheet, compiled in.
const STYLE: &str = include_str!("../../static/style.css");

/// No script, no inline style, no framing, forms only to this site.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The router of every page.
pub fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/", get(login::root))
        .route("/login", get(login::show).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/account", get(account::show).post(account::submit))
        .route("/password", get(password::show).post(password::submit))
        .route("/helpdesk", get(helpdesk::search))
        .route("/helpdesk/user/{uid}", get(helpdesk::person))
        .route("/helpdesk/user/{uid}/{action}", post(helpdesk::act))
        .route("/audit", get(audit::show))
        .route("/static/style.css", get(style))
        .fallback(super::page::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state.clone(), headers))
        .with_state(state)
}

/// Adds the security headers to every response (and `Cache-Control: no-store` to pages).
async fn headers(State(state): State<Arc<WebState>>, req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut res = next.run(req).await;
    secure(res.headers_mut(), state.https);
    if !is_static {
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// The security headers of every response (HSTS over HTTPS).
pub fn secure(h: &mut axum::http::HeaderMap, https: bool) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if https {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
}

/// `GET /static/style.css`.
async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLE)
        .into_response()
}

/// A plain-text response outside the router (a request past its time), with the security
/// headers.
pub fn plain(status: StatusCode, text: &'static str, https: bool) -> Response {
    let mut res = (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
    secure(res.headers_mut(), https);
    res
}
