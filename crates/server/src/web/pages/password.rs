//! `/password`: change my own password. The change is a Password Modify extended
//! operation by the person on their own connection, as `ldappasswd` would send it: the
//! policy's checks (length, quality, history, minimum age), the old password counted as a
//! bind when wrong, argon2id hashing and the audit record all happen in the write pipeline.
//! The policy is shown before typing; zxcvbn's strength estimate after submitting.

use crate::context::ServerCtx;
use crate::ppolicy::Policy;
use crate::web::csrf;
use crate::web::i18n::{fill, Texts};
use crate::web::page::{form_rejected, Page, Visit};
use crate::web::pages::login::duration;
use crate::web::WebState;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use birch_proto::ldap3_proto::proto::LdapResultCode;
use birch_proto::ppolicy::PolicyError;
use serde::Deserialize;
use std::sync::Arc;

/// The password page.
#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    page: Page,
    rules: Vec<String>,
    min_length: u32,
    /// zxcvbn's score (0-4), its name and hints, after a submit.
    strength: Option<(u8, &'static str, Vec<String>)>,
}

/// The password form.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
    csrf: Option<String>,
}

/// The policy governing the entry `dn` (its pwdPolicySubentry, the default entry, or
/// `[ppolicy]`), as the write pipeline will apply it.
fn policy_of(ctx: &ServerCtx, dn: &str) -> Policy {
    let ndn = birch_schema::dn::normalize_str(dn, ctx.schema()).unwrap_or_default();
    match ctx.store().get_by_ndn(&ndn) {
        Ok(Some((_, e))) => ctx.writer().policy_for(&e),
        _ => ctx.config().ppolicy.clone(),
    }
}

/// The policy's rules in plain words.
fn rules(tr: &Texts, p: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    if p.min_length > 0 {
        out.push(fill(tr.policy_min_length, p.min_length));
    }
    if p.max_length > 0 {
        out.push(fill(tr.policy_max_length, p.max_length));
    }
    if p.in_history > 0 {
        out.push(fill(tr.policy_history, p.in_history));
    }
    if p.check_quality > 0 && p.min_length == 0 {
        out.push(tr.policy_quality.to_string());
    }
    if p.min_age > 0 {
        out.push(fill(tr.policy_min_age, duration(tr, p.min_age)));
    }
    if p.max_age > 0 {
        out.push(fill(tr.policy_max_age, duration(tr, p.max_age)));
    }
    out.push(tr.policy_strength.to_string());
    out
}

/// zxcvbn's estimate of `password` (its first 100 characters: the estimate's cost grows
/// with the length), with the person's names as known words.
fn strength(tr: &Texts, password: &str, names: &[&str]) -> (u8, &'static str, Vec<String>) {
    let cut: String = password.chars().take(100).collect();
    let e = zxcvbn::zxcvbn(&cut, names);
    let score = u8::from(e.score());
    let label = [tr.strength_0, tr.strength_1, tr.strength_2, tr.strength_3, tr.strength_4]
        .get(usize::from(score))
        .copied()
        .unwrap_or(tr.strength_0);
    // zxcvbn's hints are in English only.
    let hints = match (tr.app == crate::web::i18n::EN.app, e.feedback()) {
        (true, Some(f)) => f
            .warning()
            .map(|w| w.to_string())
            .into_iter()
            .chain(f.suggestions().iter().map(|s| s.to_string()))
            .collect(),
        _ => Vec::new(),
    };
    (score, label, hints)
}

/// `GET /password`.
pub async fn show(State(state): State<Arc<WebState>>, visit: Visit) -> Response {
    let session = match visit.require(true) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let tr = visit.tr();
    let policy = policy_of(&state.ctx, &session.dn);
    let mut page = visit.page(tr.password_title);
    if session.must_change() && page.notice.is_none() {
        page.error = Some(tr.must_change.to_string());
    }
    let t = PasswordPage { page, rules: rules(tr, &policy), min_length: policy.min_length, strength: None };
    visit.render(StatusCode::OK, &t)
}

/// `POST /password`.
pub async fn submit(
    State(state): State<Arc<WebState>>,
    visit: Visit,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return form_rejected(&visit, &e),
    };
    let session = match visit.require(true) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !csrf::matches(&session.csrf, form.csrf.as_deref()) {
        return visit.csrf_refused();
    }
    let tr = visit.tr();
    let policy = policy_of(&state.ctx, &session.dn);
    let render = |status: StatusCode, error: Option<String>, notice: Option<String>, shown: bool| {
        let mut page = visit.page(tr.password_title);
        page.error = error;
        page.notice = notice.or(page.notice);
        let names = [session.uid.as_str(), "birch"];
        let strength = (shown && !form.new.is_empty()).then(|| strength(tr, &form.new, &names));
        let t = PasswordPage { page, rules: rules(tr, &policy), min_length: policy.min_length, strength };
        visit.render(status, &t)
    };
    if form.current.is_empty() || form.new.is_empty() {
        return render(StatusCode::BAD_REQUEST, Some(tr.login_missing.to_string()), None, false);
    }
    if form.new != form.confirm {
        return render(StatusCode::BAD_REQUEST, Some(tr.mismatch.to_string()), None, false);
    }
    let answer = {
        let mut conn = session.conn.lock().await;
        conn.password_modify(None, Some(&form.current), Some(&form.new)).await
    };
    let answer = match answer {
        Ok(a) => a,
        Err(_) => {
            visit.end_session(&state);
            return render(StatusCode::SERVICE_UNAVAILABLE, Some(tr.session_ended.to_string()), None, false);
        }
    };
    if answer.ok() {
        session.set_must_change(false);
        return render(StatusCode::OK, None, Some(tr.changed.to_string()), true);
    }
    let error = answer.policy.and_then(|p| p.error);
    let text = match (error, &answer.res.code) {
        (Some(PolicyError::PasswordTooShort), _) => {
            with_rule(tr.too_short, fill(tr.policy_min_length, policy.min_length))
        }
        (Some(PolicyError::PasswordTooLong), _) => {
            with_rule(tr.too_long, fill(tr.policy_max_length, policy.max_length))
        }
        (Some(PolicyError::PasswordInHistory), _) => tr.in_history.to_string(),
        (Some(PolicyError::InsufficientPasswordQuality), _) => with_rule(tr.quality, answer.res.message.clone()),
        (Some(PolicyError::PasswordTooYoung), _) => tr.too_young.to_string(),
        (Some(PolicyError::PasswordModNotAllowed), _) => tr.not_allowed.to_string(),
        (Some(PolicyError::MustSupplyOldPassword), _) => tr.wrong_current.to_string(),
        (_, LdapResultCode::UnwillingToPerform) if answer.res.message.contains("old password") => {
            tr.wrong_current.to_string()
        }
        _ => with_rule(tr.refused, answer.res.message.clone()),
    };
    render(StatusCode::BAD_REQUEST, Some(text), None, true)
}

fn with_rule(head: &str, detail: String) -> String {
    if detail.is_empty() {
        head.to_string()
    } else {
        format!("{head} {detail}")
    }
}
