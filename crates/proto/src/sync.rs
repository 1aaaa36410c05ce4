//! LDAP Content Synchronization (RFC 4533) values: sync cookies in OpenLDAP's form, the
//! Sync Info intermediate response, and decoders of the Sync State and Sync Done controls
//! for a consumer.
//!
//! Hand-written rather than `ldap3_proto`'s: 0.9.0 encodes the `newcookie` choice as a
//! constructed tag (RFC 4533 makes it a primitive `[0] OCTET STRING`) and its decoders of
//! refreshPresent and Sync Done lose fields; `ldap3`'s own parsers panic on malformed input.

use bytes::BytesMut;
use ldap3_lber::common::TagClass;
use ldap3_lber::parse::Parser;
use ldap3_lber::structure::{StructureTag, PL};
use ldap3_lber::structures::{ASNTag, Boolean, OctetString, Sequence, Set, Tag};
use ldap3_proto::proto::{LdapIntermediateResponse, LdapOp};

/// The OID of the Sync Info intermediate response.
pub const SYNC_INFO: &str = "1.3.6.1.4.1.4203.1.9.1.4";

/// A sync cookie as OpenLDAP writes it: `rid=NNN,sid=SSS,csn=CSN[;CSN...]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cookie {
    /// The consumer's replica id (echoed back by the provider).
    pub rid: Option<u16>,
    /// The server id of the server that made the cookie.
    pub sid: Option<u16>,
    /// The CSNs (one per provider server id).
    pub csns: Vec<String>,
}

impl Cookie {
    /// Parses a cookie; unknown fields are ignored, so any byte string is some cookie.
    pub fn parse(bytes: &[u8]) -> Cookie {
        let text = String::from_utf8_lossy(bytes);
        let mut c = Cookie::default();
        for part in text.split(',') {
            let Some((k, v)) = part.split_once('=') else { continue };
            match k.trim() {
                "rid" => c.rid = v.trim().parse().ok(),
                "sid" => c.sid = u16::from_str_radix(v.trim(), 16).ok(),
                "csn" => c.csns = v.split(';').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
                _ => {}
            }
        }
        c
    }

    /// The cookie's bytes.
    pub fn format(&self) -> Vec<u8> {
        let mut parts = Vec::new();
        if let Some(rid) = self.rid {
            parts.push(format!("rid={rid:03}"));
        }
        if let Some(sid) = self.sid {
            parts.push(format!("sid={sid:03x}"));
        }
        if !self.csns.is_empty() {
            parts.push(format!("csn={}", self.csns.join(";")));
        }
        parts.join(",").into_bytes()
    }

    /// The cookie's CSN made by server `sid` (CSNs carry their server id).
    pub fn csn_of(&self, sid: u16) -> Option<&str> {
        self.csns
            .iter()
            .map(String::as_str)
            .find(|c| c.split('#').nth(2).and_then(|s| u16::from_str_radix(s, 16).ok()) == Some(sid))
    }

    /// The newest CSN of the cookie, whatever its server id.
    pub fn max_csn(&self) -> Option<&str> {
        self.csns.iter().map(String::as_str).max_by(|a, b| a.split('#').next().cmp(&b.split('#').next()))
    }
}

/// A Sync Info message (RFC 4533 section 2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncInfo {
    /// A new cookie.
    NewCookie(Vec<u8>),
    /// The end of a delete phase.
    RefreshDelete {
        /// The cookie, if any.
        cookie: Option<Vec<u8>>,
        /// Whether the refresh stage is over.
        done: bool,
    },
    /// The end of a present phase.
    RefreshPresent {
        /// The cookie, if any.
        cookie: Option<Vec<u8>>,
        /// Whether the refresh stage is over.
        done: bool,
    },
    /// A set of entryUUIDs, deleted (`refresh_deletes`) or present.
    IdSet {
        /// The cookie, if any.
        cookie: Option<Vec<u8>>,
        /// Whether the entries are deleted (else present).
        refresh_deletes: bool,
        /// The entryUUIDs.
        uuids: Vec<[u8; 16]>,
    },
}

fn octets(bytes: Vec<u8>) -> Tag {
    Tag::OctetString(OctetString { inner: bytes, ..Default::default() })
}

fn boolean(b: bool) -> Tag {
    Tag::Boolean(Boolean { inner: b, ..Default::default() })
}

impl SyncInfo {
    /// The BER value of the message.
    pub fn encode(&self) -> Vec<u8> {
        let seq = |id: u64, inner: Vec<Tag>| Tag::Sequence(Sequence { class: TagClass::Context, id, inner });
        let tag = match self {
            SyncInfo::NewCookie(c) => {
                Tag::OctetString(OctetString { class: TagClass::Context, id: 0, inner: c.clone() })
            }
            SyncInfo::RefreshDelete { cookie, done } | SyncInfo::RefreshPresent { cookie, done } => {
                let id = if matches!(self, SyncInfo::RefreshDelete { .. }) { 1 } else { 2 };
                let mut inner: Vec<Tag> = cookie.iter().cloned().map(octets).collect();
                if !done {
                    inner.push(boolean(false));
                }
                seq(id, inner)
            }
            SyncInfo::IdSet { cookie, refresh_deletes, uuids } => {
                let mut inner: Vec<Tag> = cookie.iter().cloned().map(octets).collect();
                if *refresh_deletes {
                    inner.push(boolean(true));
                }
                inner.push(Tag::Set(Set {
                    inner: uuids.iter().map(|u| octets(u.to_vec())).collect(),
                    ..Default::default()
                }));
                seq(3, inner)
            }
        };
        let mut buf = BytesMut::new();
        // Writing into memory cannot fail.
        let _ = ldap3_lber::write::encode_into(&mut buf, tag.into_structure());
        buf.to_vec()
    }

    /// The intermediate response carrying the message.
    pub fn into_op(self) -> LdapOp {
        LdapOp::IntermediateResponse(LdapIntermediateResponse::Raw {
            name: Some(SYNC_INFO.to_string()),
            value: Some(self.encode()),
        })
    }

    /// Decodes the value of a Sync Info message.
    pub fn decode(value: &[u8]) -> Option<SyncInfo> {
        let tag = parse(value)?;
        if tag.class != TagClass::Context {
            return None;
        }
        if tag.id == 0 {
            return match tag.payload {
                PL::P(c) => Some(SyncInfo::NewCookie(c)),
                PL::C(_) => None,
            };
        }
        let PL::C(items) = tag.payload else { return None };
        let mut cookie = None;
        let mut flag = None;
        let mut uuids = Vec::new();
        for t in items {
            match (t.id, t.payload) {
                (4, PL::P(c)) => cookie = Some(c),
                (1, PL::P(b)) => flag = Some(b.first().is_some_and(|&x| x != 0)),
                (17, PL::C(set)) => {
                    for u in set {
                        let PL::P(bytes) = u.payload else { return None };
                        uuids.push(<[u8; 16]>::try_from(bytes.as_slice()).ok()?);
                    }
                }
                _ => return None,
            }
        }
        match tag.id {
            1 => Some(SyncInfo::RefreshDelete { cookie, done: flag.unwrap_or(true) }),
            2 => Some(SyncInfo::RefreshPresent { cookie, done: flag.unwrap_or(true) }),
            3 => Some(SyncInfo::IdSet { cookie, refresh_deletes: flag.unwrap_or(false), uuids }),
            _ => None,
        }
    }
}

fn parse(value: &[u8]) -> Option<StructureTag> {
    match Parser::new(16).parse(value) {
        Ok(([], tag)) => Some(tag),
        _ => None,
    }
}

/// The state a Sync State control gives an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Unchanged (present phase).
    Present,
    /// Added.
    Add,
    /// Changed.
    Modify,
    /// Deleted.
    Delete,
}

/// A decoded Sync State control value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncState {
    /// The entry's state.
    pub state: State,
    /// Its entryUUID.
    pub uuid: [u8; 16],
    /// A cookie, if the provider sent one.
    pub cookie: Option<Vec<u8>>,
}

/// Decodes a Sync State control value.
pub fn decode_state(value: &[u8]) -> Option<SyncState> {
    let PL::C(items) = parse(value)?.payload else { return None };
    let mut it = items.into_iter();
    let PL::P(state) = it.next()?.payload else { return None };
    let state = match state.as_slice() {
        [0] => State::Present,
        [1] => State::Add,
        [2] => State::Modify,
        [3] => State::Delete,
        _ => return None,
    };
    let PL::P(uuid) = it.next()?.payload else { return None };
    let uuid = <[u8; 16]>::try_from(uuid.as_slice()).ok()?;
    let cookie = match it.next().map(|t| t.payload) {
        Some(PL::P(c)) => Some(c),
        Some(PL::C(_)) => return None,
        None => None,
    };
    Some(SyncState { state, uuid, cookie })
}

/// Decodes a Sync Done control value: (cookie, refreshDeletes).
pub fn decode_done(value: &[u8]) -> Option<(Option<Vec<u8>>, bool)> {
    let PL::C(items) = parse(value)?.payload else { return None };
    let mut cookie = None;
    let mut deletes = false;
    for t in items {
        match (t.id, t.payload) {
            (4, PL::P(c)) => cookie = Some(c),
            (1, PL::P(b)) => deletes = b.first().is_some_and(|&x| x != 0),
            _ => return None,
        }
    }
    Some((cookie, deletes))
}

/// The BER value of a Sync Request control (for a consumer).
pub fn request_value(persist: bool, cookie: Option<&[u8]>) -> Vec<u8> {
    let mut inner = vec![Tag::Enumerated(ldap3_lber::structures::Enumerated {
        inner: if persist { 3 } else { 1 },
        ..Default::default()
    })];
    if let Some(c) = cookie {
        inner.push(octets(c.to_vec()));
    }
    let mut buf = BytesMut::new();
    let _ = ldap3_lber::write::encode_into(
        &mut buf,
        Tag::Sequence(Sequence { inner, ..Default::default() }).into_structure(),
    );
    buf.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_round_trip_in_openldap_form() {
        let c = Cookie::parse(
            b"rid=001,sid=00a,csn=20261123150321.000123Z#000000#001#000000;20261123150321.000124Z#000000#002#000000",
        );
        assert_eq!(c.rid, Some(1));
        assert_eq!(c.sid, Some(10));
        assert_eq!(c.csns.len(), 2);
        assert_eq!(c.csn_of(2), Some("20261123150321.000124Z#000000#002#000000"));
        assert_eq!(c.max_csn(), Some("20261123150321.000124Z#000000#002#000000"));
        assert_eq!(Cookie::parse(&c.format()), c);
        assert_eq!(Cookie::parse(b"\xff garbage"), Cookie::default());
    }

    #[test]
    fn sync_info_messages_round_trip() {
        let u = [7u8; 16];
        for m in [
            SyncInfo::NewCookie(b"csn=1".to_vec()),
            SyncInfo::RefreshDelete { cookie: Some(b"c".to_vec()), done: true },
            SyncInfo::RefreshPresent { cookie: None, done: false },
            SyncInfo::RefreshPresent { cookie: Some(b"c".to_vec()), done: true },
            SyncInfo::IdSet { cookie: None, refresh_deletes: true, uuids: vec![u, [1; 16]] },
            SyncInfo::IdSet { cookie: Some(b"x".to_vec()), refresh_deletes: false, uuids: vec![] },
        ] {
            assert_eq!(SyncInfo::decode(&m.encode()), Some(m.clone()), "{m:?}");
        }
        // newcookie is a primitive [0] (RFC 4533), not a sequence.
        assert_eq!(SyncInfo::NewCookie(b"ab".to_vec()).encode(), vec![0x80, 2, b'a', b'b']);
        assert_eq!(SyncInfo::decode(b"\x30\x00"), None);
        assert_eq!(SyncInfo::decode(b""), None);
    }

    #[test]
    fn state_and_done_controls_decode_what_ldap3_proto_encodes() {
        use ldap3_proto::control::LdapControl;
        use ldap3_proto::proto::SyncStateValue;
        let value = |c: LdapControl| {
            let tag: Tag = c.into();
            let PL::C(children) = tag.into_structure().payload else { panic!() };
            let PL::P(v) = children.last().unwrap().payload.clone() else { panic!() };
            v
        };
        let u = uuid::Uuid::from_bytes([9; 16]);
        let v =
            value(LdapControl::SyncState { state: SyncStateValue::Delete, entry_uuid: u, cookie: Some(b"k".to_vec()) });
        assert_eq!(
            decode_state(&v),
            Some(SyncState { state: State::Delete, uuid: [9; 16], cookie: Some(b"k".to_vec()) })
        );
        let v = value(LdapControl::SyncDone { cookie: None, refresh_deletes: true });
        assert_eq!(decode_done(&v), Some((None, true)));
        assert_eq!(decode_state(b"\x30\x03\x0a\x01\x09"), None);
    }
}
