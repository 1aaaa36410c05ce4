//! LDIF (RFC 2849) as `birch import` and `ldapmodify`-style change files read it. Every
//! record read is written back; reading that text gives records that write the same text.

#![cfg_attr(feature = "libfuzzer", no_main)]

use birch_ldif::{write_record, LdifReader, LdifRecord};

fn write_all(records: &[LdifRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        if let Err(e) = write_record(&mut out, r) {
            panic!("writing {r:?}: {e}");
        }
    }
    out
}

birch_fuzz::target!(|data: &[u8]| {
    let mut records = Vec::new();
    for rec in LdifReader::new(data) {
        match rec {
            Ok(r) => records.push(r),
            Err(_) => break,
        }
    }
    for r in &records {
        assert!(r.line() >= 1, "record at line {}", r.line());
        let _ = r.dn();
    }
    let text = write_all(&records);
    let mut again = Vec::new();
    for rec in LdifReader::new(&text[..]) {
        match rec {
            Ok(r) => again.push(r),
            Err(e) => panic!("written LDIF does not read back: {e:?}\n{}", String::from_utf8_lossy(&text)),
        }
    }
    assert_eq!(write_all(&again), text, "LDIF written twice differs");
});
