//! Schema files (OpenLDAP `.schema` syntax) as `schema_dir` loads them: the bytes are one
//! more file after the standard ones. The RFC 4512 form of every definition read (as the
//! subschema entry publishes it) reads back as one definition; a schema that builds
//! normalizes values with every attribute's matching rule.

#![cfg_attr(feature = "libfuzzer", no_main)]

use birch_schema::parse::{Definition, Parser};
use birch_schema::{Profile, Schema};
use std::sync::OnceLock;

fn standard() -> &'static Vec<Definition> {
    static D: OnceLock<Vec<Definition>> = OnceLock::new();
    D.get_or_init(|| {
        let mut parser = Parser::new();
        let mut defs = Vec::new();
        for name in Profile::Rfc2307.files() {
            let text = birch_schema::builtin::text(name).unwrap_or_default();
            defs.extend(parser.parse(name, text).unwrap_or_else(|e| panic!("{name}: {e}")));
        }
        defs
    })
}

fn rfc4512(d: &Definition) -> (&'static str, String) {
    match d {
        Definition::AttributeType(a) => ("attributetype", a.to_string()),
        Definition::ObjectClass(c) => ("objectclass", c.to_string()),
    }
}

birch_fuzz::target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(defs) = Parser::new().parse("fuzz.schema", text) else { return };
    for d in &defs {
        let (keyword, form) = rfc4512(d);
        let again = format!("{keyword} {form}\n");
        match Parser::new().parse("again.schema", &again) {
            Ok(mut back) => {
                assert_eq!(back.len(), 1, "{again:?} reads as {} definitions", back.len());
                match (&mut back[0], d) {
                    (Definition::AttributeType(b), Definition::AttributeType(a)) => {
                        (b.file, b.line) = (a.file.clone(), a.line);
                    }
                    (Definition::ObjectClass(b), Definition::ObjectClass(c)) => {
                        (b.file, b.line) = (c.file.clone(), c.line);
                    }
                    _ => panic!("{again:?} reads as another kind of definition"),
                }
                assert_eq!(&back[0], d, "{again:?} reads as another definition");
            }
            Err(e) => panic!("the RFC 4512 form {again:?} of a definition does not read back: {e}"),
        }
    }
    let mut all = standard().clone();
    all.extend(defs);
    let Ok(schema) = Schema::from_definitions(all) else { return };
    for t in schema.attribute_types() {
        for v in [&b"Some Value"[..], b"  x  ", b"20261123151500Z", b"123", b"cn=a,dc=b", b"\xff"] {
            let _ = schema.normalize_value(t.rule, v);
        }
        let _ = (schema.subtypes(&t.canonical), schema.canonical(&t.canonical));
    }
    for c in schema.object_classes() {
        let _ = schema.must_may(&[c.canonical.as_str()]);
        let _ = schema.structural_class(&[c.canonical.as_str(), "top"]);
        let _ = schema.superclasses(&c.canonical);
    }
});
