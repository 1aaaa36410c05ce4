//! BER values of the controls `ldap3_proto` leaves undecoded: Assertion (RFC 4528) and
//! Pre-/Post-Read (RFC 4527).

use bytes::BytesMut;
use ldap3_lber::parse::Parser;
use ldap3_lber::structure::{StructureTag, PL};
use ldap3_lber::structures::{ASNTag, Tag};
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{LdapFilter, LdapOp, LdapSearchResultEntry};

fn parse(value: &[u8]) -> Option<StructureTag> {
    match Parser::new(64).parse(value) {
        Ok(([], tag)) => Some(tag),
        _ => None,
    }
}

/// The filter of an Assertion control's value.
pub fn assertion_filter(value: &[u8]) -> Option<LdapFilter> {
    LdapFilter::try_from(parse(value)?).ok()
}

/// The attribute list of a Pre-/Post-Read request control's value
/// (`SEQUENCE OF AttributeDescription`).
pub fn read_attributes(value: &[u8]) -> Option<Vec<String>> {
    let PL::C(items) = parse(value)?.payload else { return None };
    items
        .into_iter()
        .map(|t| match t.payload {
            PL::P(bytes) => String::from_utf8(bytes).ok(),
            PL::C(_) => None,
        })
        .collect()
}

/// A Pre-/Post-Read response control carrying `entry` (its value is a
/// SearchResultEntry).
pub fn read_entry_control(oid: &str, entry: LdapSearchResultEntry) -> LdapControl {
    let tag: Tag = LdapOp::SearchResultEntry(entry).into();
    let mut buf = BytesMut::new();
    // Writing into memory cannot fail.
    let _ = ldap3_lber::write::encode_into(&mut buf, tag.into_structure());
    LdapControl::Unknown { oid: oid.to_string(), criticality: false, value: Some(buf.to_vec()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::proto::LdapPartialAttribute;

    fn ber(tag: Tag) -> Vec<u8> {
        let mut buf = BytesMut::new();
        ldap3_lber::write::encode_into(&mut buf, tag.into_structure()).unwrap();
        buf.to_vec()
    }

    #[test]
    fn decodes_assertion_filters_and_attribute_lists() {
        let f = ldap3_proto::parse_ldap_filter_str("(&(uid=alice)(cn=*))").unwrap();
        let bytes = ber(f.clone().into());
        assert_eq!(assertion_filter(&bytes), Some(f));
        assert_eq!(assertion_filter(b"\x30\x00garbage"), None);
        use ldap3_lber::structures::{OctetString, Sequence};
        let seq = Tag::Sequence(Sequence {
            inner: vec![
                Tag::OctetString(OctetString { inner: b"cn".to_vec(), ..Default::default() }),
                Tag::OctetString(OctetString { inner: b"uidNumber".to_vec(), ..Default::default() }),
            ],
            ..Default::default()
        });
        assert_eq!(read_attributes(&ber(seq)), Some(vec!["cn".to_string(), "uidNumber".to_string()]));
    }

    #[test]
    fn read_entry_controls_carry_a_search_result_entry() {
        let e = LdapSearchResultEntry {
            dn: "uid=a,dc=x".into(),
            attributes: vec![LdapPartialAttribute { atype: "cn".into(), vals: vec![b"A".to_vec()] }],
        };
        let LdapControl::Unknown { value: Some(v), .. } = read_entry_control("1.3.6.1.1.13.2", e.clone()) else {
            panic!("not a raw control")
        };
        let tag = parse(&v).unwrap();
        assert_eq!(tag.id, 4);
        let PL::C(parts) = tag.payload else { panic!() };
        assert_eq!(parts[0].clone().expect_primitive().unwrap(), b"uid=a,dc=x");
    }
}
