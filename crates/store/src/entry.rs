//! Directory entries and their compact binary encoding.
//!
//! Encoding (version 1): `0x01`, then length-prefixed (LEB128) fields: DN as written,
//! normalized DN, parent id, attribute count, and for each attribute its name as written,
//! its canonical name (empty when it equals the lower-cased name) and its values.
//! Hand-written because it is a few dozen lines and avoids a serde round trip on the
//! hottest read path.

use crate::StoreError;

/// An attribute of an entry: its name as the client wrote it and its values. Each attribute
/// description is its own attribute: `cn` and `cn;lang-en` are two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute description as written (e.g. `commonName`).
    pub name: String,
    /// Canonical description from the schema (e.g. `cn`, `cn;lang-en`: the type's lower-cased
    /// primary name, then its options normalized): the lookup key.
    pub canonical: String,
    /// Values, raw bytes.
    pub values: Vec<Vec<u8>>,
}

/// A directory entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// DN as written by its creator.
    pub dn: String,
    /// Schema-normalized DN.
    pub ndn: String,
    /// Id of the parent entry (0 for a suffix entry).
    pub parent: u64,
    /// Attributes in insertion order.
    pub attrs: Vec<Attribute>,
}

impl Entry {
    /// The attribute with this canonical description (`cn` finds untagged values only).
    pub fn get(&self, canonical: &str) -> Option<&Attribute> {
        self.attrs.iter().find(|a| a.canonical == canonical)
    }

    /// Mutable access to the attribute with this canonical name.
    pub fn get_mut(&mut self, canonical: &str) -> Option<&mut Attribute> {
        self.attrs.iter_mut().find(|a| a.canonical == canonical)
    }

    /// Adds values to the attribute `canonical` (created with `name` if absent).
    pub fn add_values(&mut self, name: &str, canonical: &str, values: impl IntoIterator<Item = Vec<u8>>) {
        match self.get_mut(canonical) {
            Some(a) => a.values.extend(values),
            None => self.attrs.push(Attribute {
                name: name.to_string(),
                canonical: canonical.to_string(),
                values: values.into_iter().collect(),
            }),
        }
    }

    /// Replaces the values of the attribute `canonical` (created with `name`); no values
    /// removes the attribute.
    pub fn replace_values(&mut self, name: &str, canonical: &str, values: impl IntoIterator<Item = Vec<u8>>) {
        self.attrs.retain(|a| a.canonical != canonical);
        let values: Vec<Vec<u8>> = values.into_iter().collect();
        if !values.is_empty() {
            self.add_values(name, canonical, values);
        }
    }

    /// Encodes the entry in the compact binary form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        put_head(&mut out, &self.dn, &self.ndn, self.parent, self.attrs.len() as u64);
        for a in &self.attrs {
            put_attribute(&mut out, a);
        }
        out
    }

    /// The parts of an encoded entry (its DNs, and its attributes still encoded), without
    /// decoding the attributes.
    pub fn encoded_parts(buf: &[u8]) -> Result<EncodedParts<'_>, StoreError> {
        let mut r = Reader::open(buf)?;
        let dn = r.str()?;
        let ndn = r.str()?;
        r.varint()?;
        let count = r.varint()?;
        Ok(EncodedParts { dn, ndn, count, attrs: &buf[r.pos..] })
    }

    /// The parent id of an encoded entry, without decoding its attributes.
    pub fn decode_parent(buf: &[u8]) -> Result<u64, StoreError> {
        let mut r = Reader::open(buf)?;
        r.bytes()?;
        r.bytes()?;
        r.varint()
    }

    /// Decodes an entry keeping only the attributes whose type (canonical name without
    /// options) is in `types` (lower-case names); the others are skipped without being
    /// materialized. For searches that need a few attributes of large entries.
    pub fn decode_only(buf: &[u8], types: &[String]) -> Result<Entry, StoreError> {
        let mut r = Reader::open(buf)?;
        let dn = r.string()?;
        let ndn = r.string()?;
        let parent = r.varint()?;
        let n = r.varint()?;
        let mut attrs = Vec::new();
        // The lengths of the wanted names, as bits: most attributes are passed over on
        // their length alone (a user entry has a few dozen, a bind wants a dozen types).
        let lengths = types.iter().fold(0u64, |m, t| m | 1u64.checked_shl(t.len() as u32).unwrap_or(u64::MAX));
        // And the letters they start with (bit 63 for anything but a-z): of a user entry's
        // names of a wanted length, most start with another letter (`pwd…` for a bind).
        let initial = |b: Option<&u8>| match b.map(u8::to_ascii_lowercase) {
            Some(c @ b'a'..=b'z') => 1u64 << (c - b'a'),
            _ => 1u64 << 63,
        };
        let initials = types.iter().fold(0u64, |m, t| m | initial(t.as_bytes().first()));
        for _ in 0..n {
            let name = r.bytes()?;
            let stored = r.bytes()?;
            let described = if stored.is_empty() { name } else { stored };
            let base = described.split(|&b| b == b';').next().unwrap_or(described);
            let nv = r.varint()? as usize;
            let maybe = 1u64.checked_shl(base.len() as u32).is_none_or(|bit| lengths & bit != 0)
                && initials & initial(base.first()) != 0;
            if !maybe || !types.iter().any(|t| t.as_bytes().eq_ignore_ascii_case(base)) {
                for _ in 0..nv {
                    r.bytes()?;
                }
                continue;
            }
            let name = utf8(name)?;
            let canonical = if stored.is_empty() { name.to_ascii_lowercase() } else { utf8(stored)? };
            let mut values = Vec::with_capacity(nv.min(1024));
            for _ in 0..nv {
                values.push(r.bytes()?.to_vec());
            }
            attrs.push(Attribute { name, canonical, values });
        }
        Ok(Entry { dn, ndn, parent, attrs })
    }

    /// The values of one attribute (by canonical description) of an encoded entry, without
    /// decoding the others; `None` when the entry does not have it. A group's memberOf is
    /// read this way when a bind resolves nested groups, without materializing its hundreds
    /// of member values.
    pub fn decode_values(buf: &[u8], canonical: &str) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        let mut r = Reader::open(buf)?;
        r.bytes()?;
        r.bytes()?;
        r.varint()?;
        let n = r.varint()?;
        for _ in 0..n {
            let name = r.bytes()?;
            let stored = r.bytes()?;
            let found = if stored.is_empty() {
                name.eq_ignore_ascii_case(canonical.as_bytes())
            } else {
                stored == canonical.as_bytes()
            };
            let nv = r.varint()? as usize;
            if found {
                let mut values = Vec::with_capacity(nv.min(1024));
                for _ in 0..nv {
                    values.push(r.bytes()?.to_vec());
                }
                return Ok(Some(values));
            }
            for _ in 0..nv {
                r.bytes()?;
            }
        }
        Ok(None)
    }

    /// Decodes an entry encoded by [`Entry::encode`].
    pub fn decode(buf: &[u8]) -> Result<Entry, StoreError> {
        let mut r = Reader::open(buf)?;
        let dn = r.string()?;
        let ndn = r.string()?;
        let parent = r.varint()?;
        let n = r.varint()? as usize;
        let mut attrs = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let name = r.string()?;
            let canonical = match r.string()? {
                c if c.is_empty() => name.to_ascii_lowercase(),
                c => c,
            };
            let nv = r.varint()? as usize;
            let mut values = Vec::with_capacity(nv.min(1024));
            for _ in 0..nv {
                values.push(r.bytes()?.to_vec());
            }
            attrs.push(Attribute { name, canonical, values });
        }
        Ok(Entry { dn, ndn, parent, attrs })
    }
}

/// An encoded entry read in place: its DN and its values, borrowed from the encoding, without
/// building an [`Entry`] (no allocation per attribute or value). For export, which formats
/// every entry once. The normalized DN and the canonical names are skipped unread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryView<'a> {
    /// DN as written by its creator.
    pub dn: &'a str,
    /// Id of the parent entry (0 for a suffix entry).
    pub parent: u64,
    /// Every value with its attribute's name as written, attributes in order.
    pub values: Vec<(&'a str, &'a [u8])>,
}

impl<'a> EntryView<'a> {
    /// Reads an entry encoded by [`Entry::encode`]. Fails where [`Entry::decode`] fails,
    /// except on a normalized DN or canonical name that is not UTF-8 (they are not read).
    pub fn parse(buf: &'a [u8]) -> Result<EntryView<'a>, StoreError> {
        let mut r = Reader::open(buf)?;
        let dn = r.str()?;
        r.bytes()?;
        let parent = r.varint()?;
        let n = r.varint()?;
        let mut values = Vec::with_capacity(32);
        for _ in 0..n {
            let name = r.str()?;
            r.bytes()?;
            let nv = r.varint()?;
            for _ in 0..nv {
                values.push((name, r.bytes()?));
            }
        }
        Ok(EntryView { dn, parent, values })
    }
}

/// An encoded entry taken apart without decoding its attributes (see
/// [`Entry::encoded_parts`]): an import fills in the parent and appends attributes this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedParts<'a> {
    /// DN as written by its creator.
    pub dn: &'a str,
    /// Schema-normalized DN.
    pub ndn: &'a str,
    /// How many attributes it has.
    pub count: u64,
    /// The attributes, as encoded.
    pub attrs: &'a [u8],
}

impl EncodedParts<'_> {
    /// The encoding of the entry with `parent` as its parent id and `extra` after its own
    /// attributes: what [`Entry::encode`] gives for the entry so changed.
    pub fn encode_with(&self, parent: u64, extra: &[Attribute]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.dn.len() + self.ndn.len() + self.attrs.len() + 32 + 64 * extra.len());
        put_head(&mut out, self.dn, self.ndn, parent, self.count + extra.len() as u64);
        out.extend_from_slice(self.attrs);
        for a in extra {
            put_attribute(&mut out, a);
        }
        out
    }
}

/// Appends what precedes the attributes: the version byte, the DNs, the parent id and the
/// attribute count.
fn put_head(out: &mut Vec<u8>, dn: &str, ndn: &str, parent: u64, count: u64) {
    out.push(1);
    put_bytes(out, dn.as_bytes());
    put_bytes(out, ndn.as_bytes());
    put_varint(out, parent);
    put_varint(out, count);
}

/// Appends one attribute: its name as written, its canonical name (empty when it is the
/// lower-cased name), its values.
fn put_attribute(out: &mut Vec<u8>, a: &Attribute) {
    put_bytes(out, a.name.as_bytes());
    if a.name.eq_ignore_ascii_case(&a.canonical) && a.name.len() == a.canonical.len() {
        put_varint(out, 0);
    } else {
        put_bytes(out, a.canonical.as_bytes());
    }
    put_varint(out, a.values.len() as u64);
    for v in &a.values {
        put_bytes(out, v);
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader past the encoding version byte of an encoded entry (only version 1 exists).
    fn open(buf: &'a [u8]) -> Result<Reader<'a>, StoreError> {
        let mut r = Reader { buf, pos: 0 };
        if r.byte()? != 1 {
            return Err(StoreError::Corrupt("unknown entry encoding version".into()));
        }
        Ok(r)
    }

    fn byte(&mut self) -> Result<u8, StoreError> {
        let b = *self.buf.get(self.pos).ok_or_else(truncated)?;
        self.pos += 1;
        Ok(b)
    }
    /// A LEB128 integer; lengths under 128 (almost all) take the inlined one-byte path.
    #[inline]
    fn varint(&mut self) -> Result<u64, StoreError> {
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            _ => self.varint_long(),
        }
    }
    fn varint_long(&mut self) -> Result<u64, StoreError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(StoreError::Corrupt("varint too long".into()))
    }
    #[inline]
    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let len = self.varint()? as usize;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len()).ok_or_else(truncated)?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn string(&mut self) -> Result<String, StoreError> {
        utf8(self.bytes()?)
    }
    fn str(&mut self) -> Result<&'a str, StoreError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| not_utf8())
    }
}

fn utf8(b: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(b.to_vec()).map_err(|_| not_utf8())
}

fn not_utf8() -> StoreError {
    StoreError::Corrupt("non-UTF-8 name".into())
}

fn truncated() -> StoreError {
    StoreError::Corrupt("truncated entry".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_entry() -> impl Strategy<Value = Entry> {
        let attr = (
            "[a-zA-Z][a-zA-Z0-9-]{0,10}",
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..5),
        )
            .prop_map(|(name, values)| Attribute { canonical: name.to_ascii_lowercase(), name, values });
        ("\\PC{0,30}", "\\PC{0,30}", any::<u64>(), proptest::collection::vec(attr, 0..8))
            .prop_map(|(dn, ndn, parent, attrs)| Entry { dn, ndn, parent, attrs })
    }

    proptest! {
        #[test]
        fn encode_decode_round_trips(e in arb_entry()) {
            prop_assert_eq!(Entry::decode(&e.encode()).unwrap(), e);
        }

        #[test]
        fn the_view_agrees_with_decode(e in arb_entry()) {
            let buf = e.encode();
            let v = EntryView::parse(&buf).unwrap();
            prop_assert_eq!((v.dn, v.parent), (e.dn.as_str(), e.parent));
            let values: Vec<(&str, &[u8])> =
                e.attrs.iter().flat_map(|a| a.values.iter().map(move |x| (a.name.as_str(), x.as_slice()))).collect();
            prop_assert_eq!(v.values, values);
        }

        #[test]
        fn the_view_reads_what_decode_reads(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if Entry::decode(&bytes).is_ok() {
                prop_assert!(EntryView::parse(&bytes).is_ok());
            }
        }

        #[test]
        fn decode_values_agrees_with_decode(e in arb_entry()) {
            let buf = e.encode();
            for a in &e.attrs {
                prop_assert_eq!(Entry::decode_values(&buf, &a.canonical).unwrap(), e.get(&a.canonical).map(|x| x.values.clone()));
            }
            prop_assert_eq!(Entry::decode_values(&buf, "no-such-attr").unwrap(), None);
        }

        #[test]
        fn decode_only_keeps_the_named_types(e in arb_entry(), pick in proptest::collection::vec(any::<bool>(), 8)) {
            let types: Vec<String> = e.attrs.iter().zip(&pick).filter(|(_, &p)| p).map(|(a, _)| a.canonical.clone()).collect();
            let mut want = e.clone();
            want.attrs.retain(|a| types.contains(&a.canonical));
            prop_assert_eq!(Entry::decode_only(&e.encode(), &types).unwrap(), want);
        }

        #[test]
        fn encode_with_fills_in_the_parent_and_appends(e in arb_entry(), parent in any::<u64>(), extra in proptest::collection::vec(arb_entry(), 0..2)) {
            let extra: Vec<Attribute> = extra.into_iter().flat_map(|x| x.attrs).collect();
            let mut stored = e.clone();
            stored.parent = 0;
            let buf = stored.encode();
            let parts = Entry::encoded_parts(&buf).unwrap();
            prop_assert_eq!((parts.dn, parts.ndn, parts.count), (e.dn.as_str(), e.ndn.as_str(), e.attrs.len() as u64));
            let mut want = e.clone();
            want.parent = parent;
            want.attrs.extend(extra.iter().cloned());
            prop_assert_eq!(parts.encode_with(parent, &extra), want.encode());
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Entry::decode(&bytes);
        }
    }

    #[test]
    fn canonical_differs_from_name() {
        let e = Entry {
            dn: "cn=x".into(),
            ndn: "cn=x".into(),
            parent: 7,
            attrs: vec![
                Attribute { name: "commonName".into(), canonical: "cn".into(), values: vec![b"x".to_vec()] },
                Attribute { name: "cn;Lang-EN".into(), canonical: "cn;lang-en".into(), values: vec![b"y".to_vec()] },
                Attribute { name: "cn;lang-de".into(), canonical: "cn;lang-de".into(), values: vec![b"z".to_vec()] },
                Attribute {
                    name: "userCertificate;binary".into(),
                    canonical: "usercertificate".into(),
                    values: vec![],
                },
            ],
        };
        assert_eq!(Entry::decode(&e.encode()).unwrap(), e);
    }
}
