//! `/audit`: the audit log for admins, filtered by person, actor and time — the reader of
//! `birch audit` (`crate::audit::query_with`), showing the latest matching records.

use crate::web::i18n::fill;
use crate::web::page::{Page, Visit};
use crate::web::sessions::Role;
use crate::web::WebState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::Arc;

/// Most records the page shows (the latest ones).
const MAX_SHOWN: usize = 200;

/// One record as a row.
pub struct Record {
    /// When.
    pub time: String,
    /// What (`modify`, `bind_failed`, `password_reset`...).
    pub event: String,
    /// Who did it (the bound DN).
    pub by: String,
    /// The entry it was about.
    pub dn: String,
    /// The result code (or the reason).
    pub result: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    page: Page,
    person: String,
    actor: String,
    since: String,
    shown: Option<String>,
    records: Vec<Record>,
}

/// The filters.
#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    person: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    since: String,
}

/// Keeps the last [`MAX_SHOWN`] lines written to it.
#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    partial: Vec<u8>,
}

impl std::io::Write for Tail {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            if b == b'\n' {
                let line = String::from_utf8_lossy(&self.partial).into_owned();
                self.partial.clear();
                if self.lines.len() == MAX_SHOWN {
                    self.lines.pop_front();
                }
                self.lines.push_back(line);
            } else if self.partial.len() < 64 * 1024 {
                self.partial.push(b);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A record line as a row.
fn record(line: &str) -> Option<Record> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let s = |k: &str| match v.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let result = match s("result") {
        r if r.is_empty() => s("reason"),
        r => r,
    };
    Some(Record { time: s("time"), event: s("event"), by: s("by"), dn: s("dn"), result })
}

/// When `since` means: an RFC 3339 time, or an age such as `2h`.
fn since_time(since: &str) -> Option<std::time::SystemTime> {
    humantime::parse_rfc3339_weak(since).ok().or_else(|| {
        let age = humantime::parse_duration(since).ok()?;
        Some(std::time::SystemTime::now().checked_sub(age).unwrap_or(std::time::UNIX_EPOCH))
    })
}

/// `GET /audit?person=&actor=&since=`.
pub async fn show(State(state): State<Arc<WebState>>, visit: Visit, Query(q): Query<AuditQuery>) -> Response {
    let session = match visit.require(false) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if session.role != Role::Admin {
        return visit.forbidden();
    }
    let tr = visit.tr();
    let mut page = visit.page(tr.audit_title);
    let cfg = state.ctx.config();
    let Some(path) = cfg.audit.path(&cfg.data_dir) else {
        page.error = Some(tr.audit_off.to_string());
        let t = AuditPage { page, person: q.person, actor: q.actor, since: q.since, shown: None, records: vec![] };
        return visit.render(StatusCode::OK, &t);
    };
    let since = match q.since.trim() {
        "" => None,
        s => match since_time(s) {
            Some(t) => Some(t),
            None => {
                page.error = Some(tr.audit_bad_since.to_string());
                let t =
                    AuditPage { page, person: q.person, actor: q.actor, since: q.since, shown: None, records: vec![] };
                return visit.render(StatusCode::BAD_REQUEST, &t);
            }
        },
    };
    let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let query = crate::audit::Query { dn: nonempty(&q.person), actor: nonempty(&q.actor), since, ldif: false };
    let schema = state.ctx.schema().clone();
    let read = tokio::task::spawn_blocking(move || {
        let normalize =
            |dn: &str| birch_schema::dn::normalize_str(dn, &schema).unwrap_or_else(|_| dn.trim().to_ascii_lowercase());
        let mut tail = Tail::default();
        // Up to this moment: the records still buffered (binds) first.
        crate::audit::flush_installed();
        crate::audit::query_with(&path, &query, &normalize, &mut tail).map(|_| tail.lines)
    })
    .await;
    let records: Vec<Record> = match read {
        Ok(Ok(lines)) => lines.iter().rev().filter_map(|l| record(l)).collect(),
        _ => Vec::new(),
    };
    let shown = Some(fill(tr.audit_latest, records.len()));
    let t = AuditPage { page, person: q.person, actor: q.actor, since: q.since, shown, records };
    visit.render(StatusCode::OK, &t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_tail_keeps_the_latest_lines() {
        let mut t = Tail::default();
        for i in 0..(MAX_SHOWN + 5) {
            writeln!(t, "{i}").unwrap();
        }
        assert_eq!(t.lines.len(), MAX_SHOWN);
        assert_eq!(t.lines.front().map(String::as_str), Some("5"));
    }

    #[test]
    fn a_record_becomes_a_row() {
        let r = record(r#"{"time":"2026-01-01T00:00:00Z","event":"modify","by":"uid=hana","dn":"uid=bob","result":0}"#)
            .unwrap();
        assert_eq!(
            (r.event.as_str(), r.by.as_str(), r.dn.as_str(), r.result.as_str()),
            ("modify", "uid=hana", "uid=bob", "0")
        );
    }
}
