//! Simple Paged Results (RFC 2696): the request control, the per-connection state of
//! open paged searches and the response control.
//!
//! A paged search keeps its store iterator between pages, so each page continues where the
//! previous one stopped (a whole walk reads every candidate once). Cookies are 8 bytes, new
//! for every page, valid on their connection only and for the same search only.

use birch_acl::Subject;
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{LdapFilter, LdapSearchRequest, LdapSearchScope};
use birch_store::SearchIter;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Paged searches a connection may keep open; opening one more forgets the oldest.
pub const MAX_OPEN: usize = 8;

/// The Simple Paged Results request control of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagedRequest {
    /// Requested page size (0 abandons the paged search named by the cookie).
    pub size: usize,
    /// The cookie of the previous page; empty for the first page.
    pub cookie: Vec<u8>,
}

impl PagedRequest {
    /// Reads the control; a size outside 0..=maxInt is a protocolError (as slapd answers).
    /// (`ldap3_proto` 0.9 reads the INTEGER without sign extension, so a negative size on
    /// the wire arrives as a positive one.)
    pub fn from_control(size: i64, cookie: &[u8]) -> Result<PagedRequest, &'static str> {
        let size = i32::try_from(size)
            .ok()
            .and_then(|s| usize::try_from(s).ok())
            .ok_or("paged results control size invalid")?;
        Ok(PagedRequest { size, cookie: cookie.to_vec() })
    }
}

/// The response control of a page: `cookie` empty on the last page. The size (the
/// server's estimate of the total) is 0: unknown.
pub fn response(cookie: Vec<u8>) -> LdapControl {
    LdapControl::SimplePagedResults { size: 0, cookie }
}

/// What makes two requests the same search: a cookie is valid only for the search that
/// produced it (and for the same bound identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchKey {
    base: String,
    scope: LdapSearchScope,
    filter: LdapFilter,
    attrs: Vec<String>,
    types_only: bool,
    subject: Subject,
}

impl SearchKey {
    /// The key of `req` with its base normalized, run by `subject`.
    pub fn new(req: &LdapSearchRequest, base_ndn: &str, subject: &Subject) -> SearchKey {
        SearchKey {
            base: base_ndn.to_string(),
            scope: req.scope.clone(),
            filter: req.filter.clone(),
            attrs: req.attrs.clone(),
            types_only: req.typesonly,
            subject: subject.clone(),
        }
    }
}

/// A paged search between two pages.
pub struct PagedSearch {
    /// Which search this is.
    pub key: SearchKey,
    /// Where it stands: the next page starts with the iterator's next step.
    pub iter: SearchIter,
    /// Entries sent by the previous pages (the client's size limit counts all pages).
    pub sent: usize,
}

/// Why a cookie is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieError {
    /// Not a cookie this server hands out (protocolError, like slapd).
    Malformed,
    /// Unknown on this connection, already used, forgotten, or from another search
    /// (unwillingToPerform, like slapd).
    Unknown,
}

/// The open paged searches of one connection.
#[derive(Default)]
pub struct PagedSearches {
    inner: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    next_cookie: u64,
    /// Oldest first.
    searches: VecDeque<(u64, PagedSearch)>,
}

impl PagedSearches {
    /// Takes out the paged search a cookie names if it belongs to the search `key`. Taken
    /// out, it cannot be resumed twice at once; [`PagedSearches::park`] puts it back under a
    /// new cookie. A cookie naming another search is spent all the same.
    pub fn take(&self, cookie: &[u8], key: &SearchKey) -> Result<PagedSearch, CookieError> {
        let id = u64::from_be_bytes(cookie.try_into().map_err(|_| CookieError::Malformed)?);
        let mut open = self.lock();
        let pos = open.searches.iter().position(|(c, _)| *c == id).ok_or(CookieError::Unknown)?;
        let (_, search) = open.searches.remove(pos).ok_or(CookieError::Unknown)?;
        if search.key != *key {
            return Err(CookieError::Unknown);
        }
        Ok(search)
    }

    /// Keeps a paged search for its next page and returns the cookie naming it. Keeps at
    /// most [`MAX_OPEN`], forgetting the oldest.
    pub fn park(&self, search: PagedSearch) -> Vec<u8> {
        let mut open = self.lock();
        open.next_cookie += 1;
        let id = open.next_cookie;
        while open.searches.len() >= MAX_OPEN {
            open.searches.pop_front();
        }
        open.searches.push_back((id, search));
        id.to_be_bytes().to_vec()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_sizes_are_refused() {
        assert!(PagedRequest::from_control(-1, b"").is_err());
        assert!(PagedRequest::from_control(1 << 31, b"").is_err());
        assert_eq!(PagedRequest::from_control(5, b"ab"), Ok(PagedRequest { size: 5, cookie: b"ab".to_vec() }));
    }
}
