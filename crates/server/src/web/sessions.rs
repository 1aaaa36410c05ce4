//! Web sessions, in memory: a random 256-bit id in the `birch_session` cookie, kept here
//! only as its SHA-256 (a lookup never compares secrets), each with its CSRF token and its
//! in-process LDAP connection bound as the person. Bounded: at most `max_sessions`
//! (a login beyond it ends the session unused longest), and a session unused for the idle
//! timeout is gone.

use super::ldap::Conn;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the logged-in person may see beyond their own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// An ordinary person.
    User,
    /// A member of the helpdesk group: the helpdesk console.
    Helpdesk,
    /// A member of the admins group: the helpdesk console and the audit view.
    Admin,
}

/// One logged-in person.
pub struct WebSession {
    /// The login name shown on the pages (the uid, or the DN given).
    pub uid: String,
    /// The bound DN.
    pub dn: String,
    /// The CSRF token of this session's forms.
    pub csrf: String,
    /// What the person may see.
    pub role: Role,
    /// The LDAP connection bound as the person; one operation at a time.
    pub conn: tokio::sync::Mutex<Conn>,
    /// The password must be changed before anything else (pwdReset, or an expired
    /// password logged in with a grace login).
    must_change: std::sync::atomic::AtomicBool,
    /// A message for the next page (grace logins left, expiry warning).
    pub notice: Mutex<Option<String>>,
    last_used: Mutex<Instant>,
}

impl WebSession {
    /// A new session for a person bound on `conn`.
    pub fn new(uid: String, dn: String, role: Role, conn: Conn, must_change: bool) -> WebSession {
        WebSession {
            uid,
            dn,
            csrf: random_token(),
            role,
            conn: tokio::sync::Mutex::new(conn),
            must_change: must_change.into(),
            notice: Mutex::new(None),
            last_used: Mutex::new(Instant::now()),
        }
    }

    /// Whether the password must be changed first.
    pub fn must_change(&self) -> bool {
        self.must_change.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets or clears the must-change state.
    pub fn set_must_change(&self, on: bool) {
        self.must_change.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes the message for the next page.
    pub fn take_notice(&self) -> Option<String> {
        self.notice.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn last_used(&self) -> Instant {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(&self, now: Instant) {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }
}

/// 32 random bytes from the operating system, as 64 hex digits.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex(&b)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The key a session is held under: the SHA-256 of its id.
fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The sessions of the web listener.
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Arc<WebSession>>>,
    idle: Duration,
    max: usize,
}

impl Sessions {
    /// An empty store whose sessions end after `idle` unused; at most `max` at once.
    pub fn new(idle: Duration, max: usize) -> Sessions {
        Sessions { map: Mutex::new(HashMap::new()), idle, max: max.max(1) }
    }

    /// Stores a session; returns the id for the cookie.
    pub fn insert(&self, session: WebSession) -> String {
        self.insert_at(session, Instant::now())
    }

    fn insert_at(&self, session: WebSession, now: Instant) -> String {
        let id = random_token();
        session.touch(now);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| now.saturating_duration_since(s.last_used()) < self.idle);
        while map.len() >= self.max {
            let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_used()).map(|(k, _)| *k) else { break };
            map.remove(&oldest);
        }
        map.insert(key(&id), Arc::new(session));
        id
    }

    /// The session with cookie value `id`, if it exists and has not been idle too long
    /// (then it is removed); using it counts as activity.
    pub fn get(&self, id: &str) -> Option<Arc<WebSession>> {
        self.get_at(id, Instant::now())
    }

    fn get_at(&self, id: &str, now: Instant) -> Option<Arc<WebSession>> {
        let k = key(id);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.get(&k)?.clone();
        if now.saturating_duration_since(s.last_used()) >= self.idle {
            map.remove(&k);
            return None;
        }
        s.touch(now);
        Some(s)
    }

    /// Ends the session with cookie value `id`.
    pub fn remove(&self, id: &str) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(&key(id));
    }

    /// Ends every session of `dn` (normalized comparison by the caller's form: lower case).
    pub fn remove_dn(&self, dn: &str) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, s| !s.dn.eq_ignore_ascii_case(dn));
    }

    /// Drops the sessions idle too long (called now and then).
    pub fn sweep(&self) {
        let now = Instant::now();
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, s| now.saturating_duration_since(s.last_used()) < self.idle);
    }

    /// Sessions held now.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Conn {
        Conn::detached()
    }

    fn session(uid: &str) -> WebSession {
        WebSession::new(uid.into(), format!("uid={uid},ou=people,dc=example,dc=org"), Role::User, conn(), false)
    }

    #[tokio::test]
    async fn a_session_expires_after_the_idle_time() {
        let s = Sessions::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        let id = s.insert_at(session("alice"), t0);
        assert!(s.get_at(&id, t0 + Duration::from_secs(59)).is_some());
        // Using it moved the clock: 59 s later it still lives.
        assert!(s.get_at(&id, t0 + Duration::from_secs(118)).is_some());
        assert!(s.get_at(&id, t0 + Duration::from_secs(178)).is_none());
        assert!(s.is_empty());
    }

    #[tokio::test]
    async fn ids_are_random_and_stored_hashed() {
        let s = Sessions::new(Duration::from_secs(60), 10);
        let a = s.insert(session("alice"));
        let b = s.insert(session("bob"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(s.get("not-a-session").is_none());
        let map = s.map.lock().unwrap();
        assert!(map.contains_key(&key(&a)));
        assert!(!map.keys().any(|k| hex(k) == a));
    }

    #[tokio::test]
    async fn the_cap_ends_the_session_unused_longest() {
        let s = Sessions::new(Duration::from_secs(600), 2);
        let t0 = Instant::now();
        let a = s.insert_at(session("a"), t0);
        let b = s.insert_at(session("b"), t0 + Duration::from_secs(1));
        assert!(s.get_at(&a, t0 + Duration::from_secs(2)).is_some());
        let c = s.insert_at(session("c"), t0 + Duration::from_secs(3));
        assert_eq!(s.len(), 2);
        assert!(s.get_at(&b, t0 + Duration::from_secs(4)).is_none());
        assert!(s.get_at(&a, t0 + Duration::from_secs(4)).is_some());
        assert!(s.get_at(&c, t0 + Duration::from_secs(4)).is_some());
    }
}
