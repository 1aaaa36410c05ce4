//! Connection and overload limits (`[connections]`): how many connections the server and
//! one source address may hold, how long a connection may sit idle or leave its responses
//! unread, how many operations one connection and the whole server may have outstanding,
//! how many persistent searches may run, how large a request may be before a bind and how
//! long one may take to arrive, and how much memory parked paged searches may hold.
//! Requests beyond the operation limits are answered busy (51) instead of queueing without
//! bound. See docs/configuration.md and docs/security.md.

pub use crate::config::connections::ConnectionsSection;
use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections` reached.
    Global,
    /// `max_per_address` reached for the client's address.
    PerAddress,
}

impl Refusal {
    /// The message sent in the notice of disconnection.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Global => "too many connections to this server",
            Refusal::PerAddress => "too many connections from your address",
        }
    }
}

/// The source an address counts as for every per-address limit (connections here, failed
/// binds in [`crate::ppolicy::ratelimit`]): an IPv4 address itself (an IPv4-mapped IPv6
/// address as that IPv4 address), an IPv6 address as its /64 network. A single IPv6 host
/// usually holds a whole /64 (SLAAC, privacy addresses), so counting addresses would give
/// it 2^64 budgets.
pub fn source_of(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// Counts open connections, globally and per source address.
pub struct ConnectionLimiter {
    max_total: usize,
    max_per_address: usize,
    counts: Arc<Mutex<Counts>>,
}

/// An admitted connection; dropping it frees its place.
pub struct Admission {
    addr: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl ConnectionLimiter {
    /// A limiter with the configured maxima (0 = no limit).
    pub fn new(cfg: &ConnectionsSection) -> ConnectionLimiter {
        ConnectionLimiter {
            max_total: cfg.max_connections,
            max_per_address: cfg.max_per_address,
            counts: Arc::default(),
        }
    }

    /// Admits a connection from `addr`, or says which limit refuses it. IPv6 addresses of
    /// one /64 count as one source ([`source_of`]).
    pub fn admit(&self, addr: IpAddr) -> Result<Admission, Refusal> {
        let addr = source_of(addr);
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if self.max_total > 0 && c.total >= self.max_total {
            return Err(Refusal::Global);
        }
        let mine = c.per_address.get(&addr).copied().unwrap_or(0);
        if self.max_per_address > 0 && mine >= self.max_per_address {
            return Err(Refusal::PerAddress);
        }
        c.total += 1;
        c.per_address.insert(addr, mine + 1);
        Ok(Admission { addr, counts: self.counts.clone() })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_address.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                c.per_address.remove(&self.addr);
            }
        }
    }
}

/// The server's bounded work queue: one permit per outstanding operation.
pub struct WorkQueue {
    permits: Option<Arc<tokio::sync::Semaphore>>,
}

/// A place in the work queue, held by an operation until it is answered.
pub struct Slot {
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl WorkQueue {
    /// A queue of `size` places (0 = unbounded).
    pub fn new(size: usize) -> WorkQueue {
        WorkQueue { permits: (size > 0).then(|| Arc::new(tokio::sync::Semaphore::new(size))) }
    }

    /// Takes a place without waiting; `None` when the queue is full.
    pub fn try_enter(&self) -> Option<Slot> {
        match &self.permits {
            None => Some(Slot { _permit: None }),
            Some(s) => s.clone().try_acquire_owned().ok().map(|p| Slot { _permit: Some(p) }),
        }
    }
}

/// The server-wide places for persistent searches, in all and for anonymous clients.
pub struct PersistentLimits {
    all: Option<Arc<tokio::sync::Semaphore>>,
    anonymous: Option<Arc<tokio::sync::Semaphore>>,
    per_connection: usize,
}

/// The persistent searches one connection runs now (in all, and those started anonymously).
#[derive(Default)]
pub struct PersistentCount {
    all: AtomicUsize,
    anonymous: AtomicUsize,
}

impl PersistentCount {
    /// Persistent searches started anonymously and still running on this connection.
    pub fn anonymous(&self) -> usize {
        self.anonymous.load(Ordering::Relaxed)
    }
}

/// Who starts a persistent search, for its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// An anonymous client: counts against `max_persistent_anonymous` and `max_persistent`.
    Anonymous,
    /// A bound user: counts against `max_persistent`.
    User,
    /// The root DN or a `replication.replicators` DN: only the per-connection limit applies,
    /// so that nobody else can keep the replicas from following.
    Replicator,
}

/// A running persistent search's places; dropping it frees them.
pub struct PersistentPermit {
    _all: Option<tokio::sync::OwnedSemaphorePermit>,
    _anonymous: Option<tokio::sync::OwnedSemaphorePermit>,
    count: Arc<PersistentCount>,
    anonymous: bool,
}

impl std::fmt::Debug for PersistentPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentPermit").field("anonymous", &self.anonymous).finish()
    }
}

impl Drop for PersistentPermit {
    fn drop(&mut self) {
        self.count.all.fetch_sub(1, Ordering::Relaxed);
        if self.anonymous {
            self.count.anonymous.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl PersistentLimits {
    /// The limits of `[connections]` (0 = no limit).
    pub fn new(cfg: &ConnectionsSection) -> PersistentLimits {
        let sem = |n: usize| (n > 0).then(|| Arc::new(tokio::sync::Semaphore::new(n)));
        PersistentLimits {
            all: sem(cfg.max_persistent),
            anonymous: sem(cfg.max_persistent_anonymous),
            per_connection: cfg.max_persistent_per_connection,
        }
    }

    /// Places for one more persistent search on a connection whose searches `count`
    /// counts, or why there is none.
    pub fn try_start(&self, count: &Arc<PersistentCount>, who: Requester) -> Result<PersistentPermit, &'static str> {
        let anonymous = who == Requester::Anonymous;
        let take = |s: &Option<Arc<tokio::sync::Semaphore>>| match s {
            None => Ok(None),
            Some(s) => s.clone().try_acquire_owned().map(Some).map_err(|_| ()),
        };
        if self.per_connection > 0 && count.all.load(Ordering::Relaxed) >= self.per_connection {
            return Err("too many persistent searches on this connection");
        }
        let anon = if anonymous {
            take(&self.anonymous).map_err(|_| "too many persistent searches by anonymous clients; bind first")?
        } else {
            None
        };
        let all = match who {
            Requester::Replicator => None,
            _ => take(&self.all).map_err(|_| "too many persistent searches on this server")?,
        };
        count.all.fetch_add(1, Ordering::Relaxed);
        if anonymous {
            count.anonymous.fetch_add(1, Ordering::Relaxed);
        }
        Ok(PersistentPermit { _all: all, _anonymous: anon, count: count.clone(), anonymous })
    }
}

/// The server-wide state of the limits beyond the work queue: persistent searches and
/// parked paged searches.
pub struct Budgets {
    /// Places for persistent searches.
    pub persistent: PersistentLimits,
    /// The memory parked paged searches hold, server-wide.
    pub paged: Arc<PagedBudget>,
}

impl Budgets {
    /// The budgets of `[connections]`.
    pub fn new(cfg: &ConnectionsSection) -> Budgets {
        Budgets {
            persistent: PersistentLimits::new(cfg),
            paged: Arc::new(PagedBudget::new(cfg.max_paged_bytes, cfg.max_paged_bytes_per_connection)),
        }
    }
}

/// The memory parked paged searches (`ops::paged`) may hold, and which search in the
/// server was parked first (the one dropped when the server's bound is reached).
pub struct PagedBudget {
    max_total: usize,
    max_per_connection: usize,
    state: Mutex<Ledger>,
}

/// A parked search somewhere in the server: its connection's parked searches (opaque here,
/// `ops::paged` knows what they are) and its cookie there.
pub type ParkedPlace = (Weak<dyn Any + Send + Sync>, u64);

#[derive(Default)]
struct Ledger {
    total: usize,
    next_seq: u64,
    /// Every parked search of the server, oldest first: its weight, its connection and
    /// its cookie there.
    order: BTreeMap<u64, (usize, ParkedPlace)>,
}

/// A parked search's entry in the [`PagedBudget`]; dropping it (the search is resumed,
/// dropped, or its connection closes) gives its bytes back.
pub struct PagedCharge {
    seq: u64,
    budget: Arc<PagedBudget>,
}

impl Drop for PagedCharge {
    fn drop(&mut self) {
        let mut ledger = self.budget.ledger();
        if let Some((bytes, _)) = ledger.order.remove(&self.seq) {
            ledger.total = ledger.total.saturating_sub(bytes);
        }
    }
}

impl PagedBudget {
    /// A budget of `max_total` bytes in the server and `max_per_connection` per connection
    /// (0 = no bound).
    pub fn new(max_total: usize, max_per_connection: usize) -> PagedBudget {
        PagedBudget { max_total, max_per_connection, state: Mutex::default() }
    }

    /// Bytes the parked searches of the server hold now (by `ops::paged::weigh`).
    pub fn total(&self) -> usize {
        self.ledger().total
    }

    /// Bytes the parked searches of one connection may hold (0 = no bound).
    pub fn max_per_connection(&self) -> usize {
        self.max_per_connection
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a search of `bytes` may be parked at all.
    pub fn fits(&self, bytes: usize) -> bool {
        (self.max_total == 0 || bytes <= self.max_total)
            && (self.max_per_connection == 0 || bytes <= self.max_per_connection)
    }

    /// Records a search parked under `cookie` on `conn`; returns its charge and the
    /// searches (connection, cookie) to drop so that the server stays within its bound,
    /// oldest first. Takes the ledger's lock only (never a connection's after it).
    pub fn charge(
        self: &Arc<Self>,
        bytes: usize,
        conn: Weak<dyn Any + Send + Sync>,
        cookie: u64,
    ) -> (PagedCharge, Vec<ParkedPlace>) {
        let mut ledger = self.ledger();
        let seq = ledger.next_seq;
        ledger.next_seq += 1;
        ledger.order.insert(seq, (bytes, (conn, cookie)));
        ledger.total += bytes;
        let mut victims = Vec::new();
        while self.max_total > 0 && ledger.total > self.max_total {
            let Some((_, (b, place))) = ledger.order.pop_first() else { break };
            ledger.total = ledger.total.saturating_sub(b);
            victims.push(place);
        }
        (PagedCharge { seq, budget: self.clone() }, victims)
    }
}

/// When a connection counts as idle: `limit` after the last request.
pub struct IdleClock {
    limit: Option<Duration>,
    last: tokio::time::Instant,
}

impl IdleClock {
    /// A clock started now (`None`: never idle).
    pub fn new(limit: Option<Duration>) -> IdleClock {
        IdleClock { limit, last: tokio::time::Instant::now() }
    }

    /// Restarts the clock (a request arrived).
    pub fn touch(&mut self) {
        self.last = tokio::time::Instant::now();
    }

    /// Completes once the connection has been idle for the limit; never without one.
    pub async fn expired(&self) {
        match self.limit {
            Some(d) => tokio::time::sleep_until(self.last + d).await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_counts_globally_and_per_address() {
        let cfg = ConnectionsSection { max_connections: 3, max_per_address: 2, ..Default::default() };
        let l = ConnectionLimiter::new(&cfg);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = l.admit(a).unwrap();
        let _a2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).err(), Some(Refusal::PerAddress));
        let _b1 = l.admit(b).unwrap();
        assert_eq!(l.admit(b).err(), Some(Refusal::Global));
        drop(a1);
        assert_eq!(l.open(), 2);
        assert!(l.admit(a).is_ok());
    }

    #[test]
    fn an_ipv6_slash_64_is_one_source() {
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        assert_eq!(source_of(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), ip("2001:db8:1:2::"));
        assert_eq!(source_of(ip("2001:db8:1:2::1")), source_of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_ne!(source_of(ip("2001:db8:1:2::1")), source_of(ip("2001:db8:1:3::1")));
        assert_eq!(source_of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"), "IPv4-mapped: the IPv4 address");
        assert_eq!(source_of(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_ne!(source_of(ip("192.0.2.7")), source_of(ip("192.0.2.8")), "IPv4 addresses stay apart");

        let cfg = ConnectionsSection { max_connections: 0, max_per_address: 2, ..Default::default() };
        let l = ConnectionLimiter::new(&cfg);
        let _a = l.admit(ip("2001:db8::1")).unwrap();
        let b = l.admit(ip("2001:db8::2")).unwrap();
        assert_eq!(l.admit(ip("2001:db8::3")).err(), Some(Refusal::PerAddress), "same /64");
        assert!(l.admit(ip("2001:db8:0:1::1")).is_ok(), "another /64");
        drop(b);
        assert!(l.admit(ip("2001:db8::ffff")).is_ok(), "a place freed in the /64");
        let _m = l.admit(ip("192.0.2.1")).unwrap();
        let _n = l.admit(ip("::ffff:192.0.2.1")).unwrap();
        assert_eq!(l.admit(ip("192.0.2.1")).err(), Some(Refusal::PerAddress), "mapped and plain IPv4 are one");
    }

    #[test]
    fn zero_means_unlimited() {
        let cfg = ConnectionsSection { max_connections: 0, max_per_address: 0, ..Default::default() };
        let l = ConnectionLimiter::new(&cfg);
        let a: IpAddr = "::1".parse().unwrap();
        let held: Vec<_> = (0..1000).map(|_| l.admit(a).unwrap()).collect();
        assert_eq!(l.open(), held.len());
        let q = WorkQueue::new(0);
        let slots: Vec<_> = (0..1000).map(|_| q.try_enter().unwrap()).collect();
        assert_eq!(slots.len(), 1000);
    }

    #[test]
    fn persistent_searches_are_bounded_per_connection_server_and_anonymous() {
        let cfg = ConnectionsSection {
            max_persistent: 5,
            max_persistent_anonymous: 2,
            max_persistent_per_connection: 3,
            ..Default::default()
        };
        let l = PersistentLimits::new(&cfg);
        let (c1, c2) = (Arc::new(PersistentCount::default()), Arc::new(PersistentCount::default()));
        let (anon, user) = (Requester::Anonymous, Requester::User);
        let a1 = l.try_start(&c1, anon).unwrap();
        let _a2 = l.try_start(&c2, anon).unwrap();
        assert!(l.try_start(&c1, anon).unwrap_err().contains("anonymous"));
        assert_eq!(c1.anonymous(), 1);
        let _b1 = l.try_start(&c1, user).unwrap();
        let _b2 = l.try_start(&c1, user).unwrap();
        assert!(l.try_start(&c1, user).unwrap_err().contains("connection"));
        let _b3 = l.try_start(&c2, user).unwrap();
        assert!(l.try_start(&c2, user).unwrap_err().contains("server"));
        // A replica still starts (on a connection with room).
        let c3 = Arc::new(PersistentCount::default());
        let _r = l.try_start(&c3, Requester::Replicator).unwrap();
        drop(a1);
        assert_eq!(c1.anonymous(), 0);
        assert!(l.try_start(&c2, anon).is_ok());
    }

    #[test]
    fn the_anonymous_pdu_limit_is_capped_by_the_general_one() {
        let cfg = ConnectionsSection::default();
        assert_eq!(cfg.anonymous_max_pdu(4 << 20), 262_143);
        assert_eq!(cfg.anonymous_max_pdu(4096), 4096);
        let off = ConnectionsSection { anonymous_max_pdu_bytes: 0, ..Default::default() };
        assert_eq!(off.anonymous_max_pdu(4 << 20), 4 << 20);
    }

    #[test]
    fn work_queue_is_bounded() {
        let q = WorkQueue::new(2);
        let s1 = q.try_enter().unwrap();
        let _s2 = q.try_enter().unwrap();
        assert!(q.try_enter().is_none());
        drop(s1);
        assert!(q.try_enter().is_some());
    }
}
