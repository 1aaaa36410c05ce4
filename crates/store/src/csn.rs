//! Change sequence numbers in OpenLDAP's format (`YYYYMMDDHHMMSS.ffffffZ#cccccc#sid#000000`):
//! a UTC time with microseconds, a change count within that microsecond (hex), the server
//! id (hex) and a modifier count. CSNs of one server sort as strings in the order they were
//! made, which is what entryCSN, contextCSN and sync cookies rely on.
//!
//! Hand-written: no crate makes OpenLDAP CSNs; the time is a GeneralizedTime of
//! [`birch_schema::gtime`].

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest server id a CSN can carry (three hex digits, as slapd allows).
pub const MAX_SID: u16 = 0xfff;

/// A generator of strictly increasing CSNs for one server id.
#[derive(Debug)]
pub struct CsnClock {
    sid: AtomicU16,
    /// (microseconds since the epoch, change count) of the last CSN made.
    last: Mutex<(u64, u32)>,
}

impl CsnClock {
    /// A clock for server id `sid` (masked to [`MAX_SID`]).
    pub fn new(sid: u16) -> CsnClock {
        CsnClock { sid: AtomicU16::new(sid & MAX_SID), last: Mutex::new((0, 0)) }
    }

    /// The server id.
    pub fn sid(&self) -> u16 {
        self.sid.load(Ordering::Relaxed)
    }

    /// Sets the server id of later CSNs (masked to [`MAX_SID`]).
    pub fn set_sid(&self, sid: u16) {
        self.sid.store(sid & MAX_SID, Ordering::Relaxed);
    }

    /// Makes sure every later CSN sorts after `csn` (a stored contextCSN, so a clock set
    /// back across a restart cannot make CSNs go backwards).
    pub fn observe(&self, csn: &str) {
        if let Some((micros, count)) = parse_time_count(csn) {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if (micros, count) > *last {
                *last = (micros, count);
            }
        }
    }

    /// The next CSN: now, or just after the last one if the clock has not moved on.
    pub fn next(&self) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        *last = if now > last.0 { (now, 0) } else { (last.0, last.1 + 1) };
        format_csn(last.0, last.1, self.sid())
    }
}

/// Formats a CSN from microseconds since the epoch, a change count and a server id.
pub fn format_csn(micros: u64, count: u32, sid: u16) -> String {
    let time = birch_schema::gtime::format(UNIX_EPOCH + Duration::from_micros(micros), true);
    format!("{time}#{count:06x}#{sid:03x}#000000")
}

/// The smallest CSN of a moment (count 0, server id 0): every CSN made before `time`
/// sorts before it, every one made at or after it does not (a cutoff, as the tombstone
/// purge uses).
pub fn floor_at(time: SystemTime) -> String {
    let micros = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
    format_csn(micros, 0, 0)
}

/// The server id of a CSN.
pub fn sid_of(csn: &str) -> Option<u16> {
    let sid = csn.split('#').nth(2)?;
    u16::from_str_radix(sid, 16).ok()
}

/// The time of a CSN, if it is well formed.
pub fn time_of(csn: &str) -> Option<SystemTime> {
    let (micros, _) = parse_time_count(csn)?;
    Some(UNIX_EPOCH + Duration::from_micros(micros))
}

/// Merges `csn` into a contextCSN set (one CSN per server id, as slapd keeps contextCSN
/// in multi-provider setups): it replaces the set's CSN of its server id if newer.
/// Malformed CSNs are ignored. Returns whether the set changed.
pub fn merge_into(set: &mut Vec<String>, csn: &str) -> bool {
    let Some(sid) = sid_of(csn).filter(|_| parse_time_count(csn).is_some()) else { return false };
    match set.iter_mut().find(|c| sid_of(c) == Some(sid)) {
        Some(cur) if cur.as_str() >= csn => false,
        Some(cur) => {
            *cur = csn.to_string();
            true
        }
        None => {
            set.push(csn.to_string());
            set.sort_by_key(|c| sid_of(c));
            true
        }
    }
}

/// The CSN of server id `sid` in a contextCSN set.
pub fn of_sid(set: &[String], sid: u16) -> Option<&str> {
    set.iter().map(String::as_str).find(|c| sid_of(c) == Some(sid))
}

/// Whether a contextCSN set has seen `csn`: it holds a CSN of the same server id at
/// least as new (every change of that server up to it is here, or superseded).
pub fn covers(set: &[String], csn: &str) -> bool {
    sid_of(csn).and_then(|sid| of_sid(set, sid)).is_some_and(|c| c >= csn)
}

/// Parses a stored contextCSN set (`;`-separated).
pub fn parse_set(bytes: &[u8]) -> Vec<String> {
    let mut set = Vec::new();
    for c in String::from_utf8_lossy(bytes).split(';') {
        merge_into(&mut set, c.trim());
    }
    set
}

fn parse_time_count(csn: &str) -> Option<(u64, u32)> {
    let mut parts = csn.split('#');
    let time = parts.next()?;
    let count = u32::from_str_radix(parts.next()?, 16).ok()?;
    let (secs, frac) = time.strip_suffix('Z')?.split_once('.')?;
    if secs.len() != 14 || !secs.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = birch_schema::gtime::parse(time)?;
    Some((t.duration_since(UNIX_EPOCH).ok()?.as_micros() as u64, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_matches_openldap() {
        // 2026-11-23T15:03:21.000123Z
        let micros = 1_795_446_201_000_123;
        let csn = format_csn(micros, 0x1f, 1);
        assert_eq!(csn, "20261123150321.000123Z#00001f#001#000000");
        assert_eq!(parse_time_count(&csn), Some((micros, 0x1f)));
        assert_eq!(sid_of(&csn), Some(1));
    }

    #[test]
    fn csns_increase_and_survive_a_clock_set_back() {
        let clock = CsnClock::new(2);
        let a = clock.next();
        let b = clock.next();
        assert!(b > a, "{a} {b}");
        // A stored CSN from the future: later CSNs still sort after it.
        clock.observe("29991231235959.999999Z#000000#002#000000");
        let c = clock.next();
        assert_eq!(c, "29991231235959.999999Z#000001#002#000000");
        assert!(clock.next() > c);
    }

    #[test]
    fn context_sets_keep_the_newest_csn_per_server_id() {
        let a1 = format_csn(1_000_000, 0, 1);
        let a2 = format_csn(2_000_000, 0, 1);
        let b1 = format_csn(1_500_000, 0, 2);
        let mut set = Vec::new();
        assert!(merge_into(&mut set, &a2));
        assert!(!merge_into(&mut set, &a1));
        assert!(merge_into(&mut set, &b1));
        assert!(!merge_into(&mut set, "junk"));
        assert_eq!(set, vec![a2.clone(), b1.clone()]);
        assert!(covers(&set, &a1) && covers(&set, &b1));
        assert!(!covers(&set, &format_csn(1_600_000, 0, 2)));
        assert!(!covers(&set, &format_csn(1, 0, 3)));
        assert_eq!(parse_set(set.join(";").as_bytes()), set);
        assert_eq!(of_sid(&set, 2), Some(b1.as_str()));
    }

    #[test]
    fn a_floor_sorts_between_the_csns_before_and_after_it() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_446_201_000_123);
        let floor = floor_at(t);
        assert_eq!(floor, "20261123150321.000123Z#000000#000#000000");
        assert!(format_csn(1_795_446_201_000_122, 0xffffff, MAX_SID) < floor);
        assert!(format_csn(1_795_446_201_000_123, 0, 1) >= floor);
        assert!(floor_at(UNIX_EPOCH) < format_csn(1, 0, 0));
    }

    #[test]
    fn malformed_csns_are_ignored() {
        assert_eq!(parse_time_count("garbage"), None);
        assert_eq!(parse_time_count("2026112315164.1Z#0#1#0"), None);
        assert_eq!(sid_of("x#y"), None);
        let clock = CsnClock::new(1);
        clock.observe("nonsense");
        assert!(clock.next().ends_with("#000000#001#000000"));
    }
}
