//! Simple Paged Results (RFC 2696): the request control, the per-connection state of
//! open paged searches and the response control.
//!
//! A paged search keeps its store iterator between pages, so each page continues where the
//! previous one stopped (a whole walk reads every candidate once). Cookies are 8 bytes, new
//! for every page, valid on their connection only and for the same search only.
//!
//! What parked searches hold is bounded: at most [`MAX_OPEN`] per connection, and in bytes
//! (an estimate from the request, see [`weigh`]) per connection and in the whole server
//! (`connections.max_paged_bytes_per_connection`, `connections.max_paged_bytes`). Parking
//! one more beyond a bound drops the oldest (of the connection, or of the server); a
//! dropped search's cookie answers like any unknown cookie (unwillingToPerform, as slapd).
//! A search too large for the bounds on its own is not parked at all.

pub use crate::limits::{PagedBudget, PagedCharge};
use birch_acl::Subject;
use birch_proto::ldap3_proto::control::LdapControl;
use birch_proto::ldap3_proto::proto::{LdapFilter, LdapSearchRequest, LdapSearchScope};
use birch_store::SearchIter;
use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

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
    inner: Arc<Mutex<Open>>,
}

#[derive(Default)]
struct Open {
    next_cookie: u64,
    /// Oldest first.
    searches: VecDeque<Parked>,
    /// What they weigh together.
    bytes: usize,
}

/// A parked search, its cookie and its share of the server's budget.
struct Parked {
    cookie: u64,
    search: PagedSearch,
    bytes: usize,
    _charge: PagedCharge,
}

/// About how many bytes a parked search holds: its key (the request's filter, attribute
/// list and base) and, in the store's iterator, the filter resolved against the schema. The
/// filter dominates: measured with OR filters of 15,000 equality terms, a parked search held
/// 1.28 times [`filter_bytes`] of its filter (3.7 MB for a 240 KB request); the estimate
/// counts 1.5 times, so it errs on the large side. The candidate ids an index lookup
/// produced (8 bytes per entry at most) are not counted.
pub fn weigh(key: &SearchKey) -> usize {
    /// The iterator, the cookie and the bookkeeping.
    const FIXED: usize = 2048;
    let strings = |v: &[String]| v.iter().map(|s| s.len() + std::mem::size_of::<String>()).sum::<usize>();
    FIXED + 2 * key.base.len() + 2 * strings(&key.attrs) + filter_bytes(&key.filter) * 3 / 2
}

/// About how many bytes a filter occupies in memory (as `ldap3_proto` decodes it).
pub fn filter_bytes(f: &LdapFilter) -> usize {
    /// An allocated string: its bytes, the allocator's rounding and its header.
    fn text(s: &str) -> usize {
        s.len() + 16 + std::mem::size_of::<String>()
    }
    let node = std::mem::size_of::<LdapFilter>();
    node + match f {
        LdapFilter::And(fs) | LdapFilter::Or(fs) => fs.iter().map(filter_bytes).sum(),
        LdapFilter::Not(f) => filter_bytes(f),
        LdapFilter::Equality(a, v)
        | LdapFilter::GreaterOrEqual(a, v)
        | LdapFilter::LessOrEqual(a, v)
        | LdapFilter::Approx(a, v) => text(a) + text(v),
        LdapFilter::Present(a) => text(a),
        LdapFilter::Substring(a, s) => {
            text(a)
                + s.initial.as_deref().map_or(0, text)
                + s.any.iter().map(|v| text(v)).sum::<usize>()
                + s.final_.as_deref().map_or(0, text)
        }
        LdapFilter::Extensible(m) => {
            m.matching_rule.as_deref().map_or(0, text) + m.type_.as_deref().map_or(0, text) + text(&m.match_value)
        }
    }
}

impl PagedSearches {
    /// Takes out the paged search a cookie names if it belongs to the search `key`. Taken
    /// out, it cannot be resumed twice at once; [`PagedSearches::park`] puts it back under a
    /// new cookie. A cookie naming another search is spent all the same.
    pub fn take(&self, cookie: &[u8], key: &SearchKey) -> Result<PagedSearch, CookieError> {
        let id = u64::from_be_bytes(cookie.try_into().map_err(|_| CookieError::Malformed)?);
        let parked = remove(&self.inner, id).ok_or(CookieError::Unknown)?;
        let search = parked.search;
        if search.key != *key {
            return Err(CookieError::Unknown);
        }
        Ok(search)
    }

    /// Keeps a paged search for its next page and returns the cookie naming it; `None`
    /// when the search alone is larger than the bounds of `budget` (it is dropped). Keeps
    /// at most [`MAX_OPEN`] and the budget's bytes, dropping the oldest (of this connection,
    /// then of the server).
    pub fn park(&self, search: PagedSearch, budget: &Arc<PagedBudget>) -> Option<Vec<u8>> {
        let bytes = weigh(&search.key);
        if !budget.fits(bytes) {
            return None;
        }
        let mut dropped = Vec::new();
        let (id, victims) = {
            let mut open = lock(&self.inner);
            open.next_cookie += 1;
            let id = open.next_cookie;
            while open.searches.len() >= MAX_OPEN
                || (budget.max_per_connection() > 0 && open.bytes + bytes > budget.max_per_connection())
            {
                let Some(old) = open.searches.pop_front() else { break };
                open.bytes = open.bytes.saturating_sub(old.bytes);
                dropped.push(old);
            }
            let (charge, victims) = budget.charge(bytes, self.place(), id);
            open.bytes += bytes;
            open.searches.push_back(Parked { cookie: id, search, bytes, _charge: charge });
            (id, victims)
        };
        // Outside every lock: the searches dropped for the server's bound, wherever they are
        // (the budget's places are the `Open` of connections, see `PagedSearches::place`).
        for (conn, cookie) in victims {
            if let Some(conn) = conn.upgrade().and_then(|c| c.downcast::<Mutex<Open>>().ok()) {
                dropped.extend(remove(&conn, cookie));
            }
        }
        if !dropped.is_empty() {
            tracing::debug!(
                dropped = dropped.len(),
                total = budget.total(),
                "parked paged searches dropped to stay within the memory bound"
            );
        }
        drop(dropped);
        Some(id.to_be_bytes().to_vec())
    }

    /// This connection's searches as a place in the server's [`PagedBudget`].
    fn place(&self) -> Weak<dyn Any + Send + Sync> {
        let weak: Weak<Mutex<Open>> = Arc::downgrade(&self.inner);
        weak
    }

    /// How many paged searches this connection has parked.
    pub fn len(&self) -> usize {
        lock(&self.inner).searches.len()
    }

    /// Whether this connection has no paged search parked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    open.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes the parked search `cookie` out of `open` (its charge is released when it drops,
/// after the connection's lock).
fn remove(open: &Mutex<Open>, cookie: u64) -> Option<Parked> {
    let mut open = lock(open);
    let pos = open.searches.iter().position(|p| p.cookie == cookie)?;
    let parked = open.searches.remove(pos)?;
    open.bytes = open.bytes.saturating_sub(parked.bytes);
    Some(parked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(filter: &str) -> SearchKey {
        let req = LdapSearchRequest {
            base: "ou=people,dc=example,dc=org".into(),
            scope: LdapSearchScope::Subtree,
            aliases: birch_proto::ldap3_proto::proto::LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: birch_proto::ldap3_proto::parse_ldap_filter_str(filter).unwrap(),
            attrs: vec!["uid".into(), "cn".into()],
        };
        SearchKey::new(&req, "ou=people,dc=example,dc=org", &Subject::Anonymous)
    }

    #[test]
    fn weight_follows_the_filter() {
        let small = weigh(&key("(&(objectClass=posixAccount)(uid=bob))"));
        assert!(small < 4096, "{small}");
        let terms = |n: usize| format!("(|{})", (0..n).map(|i| format!("(uid=u{i:06})")).collect::<String>());
        let (w1, w2) = (weigh(&key(&terms(1000))), weigh(&key(&terms(2000))));
        // Linear, and in the range measured (about 250 bytes per term held).
        assert!((250_000..400_000).contains(&(w1 - 2048)), "{w1}");
        assert!(w2 > 2 * w1 - 4096 && w2 < 2 * w1 + 4096, "{w1} {w2}");
    }

    #[test]
    fn parking_stays_within_the_connection_and_server_bounds() {
        let budget = Arc::new(PagedBudget::new(10_000, 6_000));
        let a = PagedSearches::default();
        let b = PagedSearches::default();
        // Without a store, account with bare charges: what `park` does around them.
        let charge = |p: &PagedSearches, bytes: usize, cookie: u64| {
            let (c, victims) = budget.charge(bytes, p.place(), cookie);
            (c, victims)
        };
        let (c1, v1) = charge(&a, 4_000, 1);
        let (c2, v2) = charge(&b, 4_000, 1);
        assert!(v1.is_empty() && v2.is_empty());
        assert_eq!(budget.total(), 8_000);
        let (_c3, v3) = charge(&b, 4_000, 2);
        // The oldest in the server (a's) must go.
        assert_eq!(v3.len(), 1);
        assert!(Weak::ptr_eq(&v3[0].0, &a.place()));
        assert_eq!(budget.total(), 8_000);
        drop(c1);
        assert_eq!(budget.total(), 8_000, "a dropped search is not given back twice");
        drop(c2);
        assert_eq!(budget.total(), 4_000);
        assert!(!budget.fits(6_001) && budget.fits(6_000));
        assert!(a.is_empty());
    }

    #[test]
    fn negative_sizes_are_refused() {
        assert!(PagedRequest::from_control(-1, b"").is_err());
        assert!(PagedRequest::from_control(1 << 31, b"").is_err());
        assert_eq!(PagedRequest::from_control(5, b"ab"), Ok(PagedRequest { size: 5, cookie: b"ab".to_vec() }));
    }
}
