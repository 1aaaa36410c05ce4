//! The shipped schema files, the profiles, site extensions and the errors of broken files.

use birch_schema::builtin::STANDARD_FILES;
use birch_schema::parse::{self, Definition};
use birch_schema::{MatchingRule, ObjectClassKind, Profile, Schema, StructuralError, Usage};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A directory holding the given files.
fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// The error of loading the standard schema plus one extension file named `site.schema`.
fn extension_error(text: &str) -> String {
    let dir = dir_with(&[("site.schema", text)]);
    let err = Schema::load(dir.path(), Profile::Rfc2307).unwrap_err();
    let path = dir.path().join("site.schema").display().to_string();
    let shown = err.to_string();
    assert!(shown.starts_with(&path), "{shown}");
    shown[path.len()..].to_string()
}

#[test]
fn every_shipped_file_parses_and_every_profile_resolves() {
    for (name, text) in STANDARD_FILES {
        let defs = parse::parse(name, text).unwrap_or_else(|e| panic!("{e}"));
        assert!(defs.len() > 5, "{name}");
    }
    for profile in [Profile::Rfc2307, Profile::Rfc2307bis] {
        let embedded = Schema::embedded(profile);
        let from_dir = Schema::load(&repo().join("schema"), profile).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(embedded.attribute_types().len(), from_dir.attribute_types().len());
        assert_eq!(embedded.object_classes().len(), from_dir.object_classes().len());
    }
    // The files in the repository are the ones built in.
    for (name, text) in STANDARD_FILES {
        assert_eq!(std::fs::read_to_string(repo().join("schema").join(name)).unwrap(), *text, "{name}");
    }
}

#[test]
fn every_standard_class_and_attribute_named_by_the_issue_is_there() {
    let s = Schema::builtin();
    for c in [
        "top",
        "alias",
        "country",
        "locality",
        "organization",
        "organizationalUnit",
        "person",
        "organizationalPerson",
        "organizationalRole",
        "groupOfNames",
        "groupOfUniqueNames",
        "residentialPerson",
        "applicationProcess",
        "device",
        "dcObject",
        "uidObject",
        "extensibleObject",
        "subschema",
        "domain",
        "account",
        "document",
        "room",
        "simpleSecurityObject",
        "inetOrgPerson",
        "posixAccount",
        "shadowAccount",
        "posixGroup",
        "ipHost",
        "ieee802Device",
        "bootableDevice",
        "nisNetgroup",
        "pwdPolicy",
        "groupOfURLs",
        "OpenLDAProotDSE",
        "labeledURIObject",
        "pkiUser",
        "referral",
        "subentry",
    ] {
        assert!(s.has_object_class(c), "{c}");
    }
    for a in [
        "entryUUID",
        "entryDN",
        "hasSubordinates",
        "numSubordinates",
        "structuralObjectClass",
        "subschemaSubentry",
        "createTimestamp",
        "modifyTimestamp",
        "creatorsName",
        "modifiersName",
        "memberOf",
        "pwdAttribute",
        "pwdMaxAge",
        "pwdLockout",
        "pwdAccountLockedTime",
        "pwdFailureTime",
        "pwdChangedTime",
        "pwdReset",
        "pwdPolicySubentry",
        "memberURL",
        "labeledURI",
        "mail",
        "dc",
        "uid",
        "userCertificate",
        "jpegPhoto",
    ] {
        assert!(s.attr(a).is_some(), "{a}");
    }
}

#[test]
fn names_aliases_and_oids_resolve_to_one_type() {
    let s = Schema::builtin();
    for n in ["cn", "commonName", "2.5.4.3", "CN", "COMMONNAME;lang-fr", "cn;binary"] {
        assert_eq!(s.attr(n).map(|t| t.oid.as_str()), Some("2.5.4.3"), "{n}");
        assert_eq!(birch_schema::desc::base(&s.canonical(n)), "cn");
    }
    assert_eq!(s.canonical("COMMONNAME;lang-fr"), "cn;lang-fr");
    assert_eq!(s.canonical("cn;binary"), "cn");
    assert_eq!(s.canonical("rfc822Mailbox"), "mail");
    assert_eq!(s.canonical("0.9.2342.19200300.100.1.1"), "uid");
    assert_eq!(s.canonical("userid"), "uid");
    assert_eq!(s.canonical("favouriteDrink"), "drink");
    assert_eq!(s.object_class("2.16.840.1.113730.3.2.2").map(|c| c.canonical.as_str()), Some("inetorgperson"));
    assert_eq!(s.object_class("newPilotPerson").map(|c| c.canonical.as_str()), Some("pilotperson"));
}

#[test]
fn rules_and_syntax_are_inherited_from_the_supertype() {
    let s = Schema::builtin();
    let given = s.attr("givenName").unwrap();
    assert_eq!(given.sup.as_deref(), Some("name"));
    assert_eq!(
        (given.equality, given.substr, given.ordering),
        (Some(MatchingRule::CaseIgnore), Some(MatchingRule::CaseIgnore), None)
    );
    assert_eq!(given.syntax, "1.3.6.1.4.1.1466.115.121.1.15");
    assert_eq!(given.definition.equality, None, "the definition is kept as written");
    // c overrides the syntax but inherits the rules.
    let c = s.attr("c").unwrap();
    assert_eq!(
        (c.syntax.as_str(), c.rule, c.single_value),
        ("1.3.6.1.4.1.1466.115.121.1.11", MatchingRule::CaseIgnore, true)
    );
    assert_eq!(s.rule("member"), MatchingRule::DistinguishedName);
    assert_eq!(s.rule("memberURL"), MatchingRule::CaseExact);
    assert_eq!(s.rule("registeredAddress"), MatchingRule::CaseIgnore);
    let uid_number = s.attr("uidNumber").unwrap();
    assert_eq!((uid_number.equality, uid_number.ordering), (Some(MatchingRule::Integer), Some(MatchingRule::Integer)));
    assert_eq!(s.attr("mail").unwrap().syntax_len, Some(256));
}

#[test]
fn subtypes_of_a_type_are_what_a_filter_on_it_matches() {
    let s = Schema::builtin();
    let name = s.subtypes("NAME");
    assert_eq!(name[0], "name");
    for sub in [
        "cn",
        "sn",
        "givenname",
        "c",
        "l",
        "o",
        "ou",
        "st",
        "title",
        "initials",
        "generationqualifier",
        "pseudonym",
        "ipserviceprotocol",
        "nismapname",
    ] {
        assert!(name.contains(&sub), "{sub} in {name:?}");
        assert!(s.is_subtype(sub, "name"));
    }
    assert!(!name.contains(&"mail"));
    assert_eq!(s.subtypes("cn"), ["cn"]);
    assert_eq!(s.subtypes("labeledURI"), ["labeleduri", "memberurl"]);
    let dn: BTreeSet<&str> = s.subtypes("distinguishedName").into_iter().collect();
    assert_eq!(dn, ["distinguishedname", "member", "owner", "roleoccupant", "seealso"].into_iter().collect());
    assert!(s.subtypes("nosuchattribute").is_empty());
    assert!(!s.is_subtype("name", "cn"));
}

#[test]
fn object_class_chains_and_must_may() {
    let s = Schema::builtin();
    let chain: Vec<&str> = s.superclasses("inetOrgPerson").iter().map(|c| c.canonical.as_str()).collect();
    assert_eq!(chain, ["inetorgperson", "organizationalperson", "person", "top"]);
    let chain: Vec<&str> = s.superclasses("pilotOrganization").iter().map(|c| c.canonical.as_str()).collect();
    assert_eq!(chain, ["pilotorganization", "organization", "organizationalunit", "top"]);
    // A class without SUP is a subclass of top.
    assert_eq!(s.object_class("subschema").unwrap().sup, ["top"]);
    assert!(s.object_class("top").unwrap().sup.is_empty());
    assert_eq!(s.object_class("top").unwrap().kind, ObjectClassKind::Abstract);

    let (must, may) = s.must_may(&["inetOrgPerson"]);
    assert_eq!(must, set(&["cn", "objectclass", "sn"]));
    for a in ["mail", "uid", "title", "telephonenumber", "userpassword", "ou", "labeleduri", "displayname"] {
        assert!(may.contains(a), "{a}");
    }
    let (must, may) = s.must_may(&["inetOrgPerson", "posixAccount", "shadowAccount", "nonsense"]);
    assert_eq!(must, set(&["cn", "gidnumber", "homedirectory", "objectclass", "sn", "uid", "uidnumber"]));
    assert!(!may.contains("uid") && may.contains("loginshell") && may.contains("shadowmax"));
    // ipProtocol lists description in MUST and MAY: it is required.
    let (must, may) = s.must_may(&["ipProtocol"]);
    assert!(must.contains("description") && !may.contains("description"));
}

#[test]
fn profiles_choose_the_posix_group_kind() {
    let nis = Schema::embedded(Profile::Rfc2307);
    let bis = Schema::embedded(Profile::Rfc2307bis);
    assert_eq!(Schema::builtin().object_classes().len(), nis.object_classes().len());
    assert_eq!(nis.object_class("posixGroup").unwrap().kind, ObjectClassKind::Structural);
    assert_eq!(bis.object_class("posixGroup").unwrap().kind, ObjectClassKind::Auxiliary);
    assert!(bis.has_object_class("groupOfMembers") && !nis.has_object_class("groupOfMembers"));
    assert!(bis.attr("automountKey").is_some() && nis.attr("automountKey").is_none());
    let group = ["top", "groupOfNames", "posixGroup"];
    assert_eq!(bis.structural_class(&group).unwrap().canonical, "groupofnames");
    assert_eq!(
        nis.structural_class(&group).unwrap_err(),
        StructuralError::Chains("groupOfNames".into(), "posixGroup".into())
    );
    assert_eq!(nis.structural_class(&["top", "posixAccount"]).unwrap_err(), StructuralError::Missing);
    assert_eq!(
        nis.structural_class(&["person", "inetOrgPerson", "top", "posixAccount", "organizationalPerson"])
            .unwrap()
            .canonical,
        "inetorgperson"
    );
    assert_eq!("RFC2307bis".parse::<Profile>(), Ok(Profile::Rfc2307bis));
    assert!("nis".parse::<Profile>().is_err());
}

#[test]
fn operational_attributes_have_their_usage() {
    let s = Schema::builtin();
    let t = s.attr("createTimestamp").unwrap();
    assert!(t.operational && t.no_user_modification && t.single_value);
    assert_eq!((t.usage, t.ordering), (Usage::DirectoryOperation, Some(MatchingRule::GeneralizedTime)));
    let t = s.attr("memberOf").unwrap();
    assert!(t.operational && t.no_user_modification && !t.single_value);
    assert_eq!((t.usage, t.rule), (Usage::DsaOperation, MatchingRule::DistinguishedName));
    let t = s.attr("pwdAccountLockedTime").unwrap();
    assert!(t.operational && !t.no_user_modification);
    assert!(s.attr("pwdChangedTime").unwrap().no_user_modification);
    assert!(!s.attr("pwdMaxAge").unwrap().operational);
    assert_eq!(s.attr("entryUUID").unwrap().syntax, "1.3.6.1.1.16.1");
    assert!(s.attr("ref").unwrap().operational);
    assert!(!s.attr("cn").unwrap().operational);
}

#[test]
fn the_campus_example_loads_with_the_standard_files() {
    let text = std::fs::read_to_string(repo().join("docs/examples/campus.schema")).unwrap();
    for profile in [Profile::Rfc2307, Profile::Rfc2307bis] {
        let dir = dir_with(&[("campus.schema", &text)]);
        let s = Schema::load(dir.path(), profile).unwrap_or_else(|e| panic!("{e}"));
        let t = s.attr("studentNumber").unwrap();
        assert_eq!(t.oid, "1.3.6.1.4.1.99999.2.1.1");
        assert_eq!((t.rule, t.single_value), (MatchingRule::NumericString, true));
        assert_eq!(s.normalize_value(t.rule, b"2026 1234"), Some(b"20261234".to_vec()));
        let c = s.object_class("campusPerson").unwrap();
        assert_eq!(c.kind, ObjectClassKind::Auxiliary);
        let (must, may) = s.must_may(&["inetOrgPerson", "campusPerson"]);
        assert!(must.contains("studentnumber") && may.contains("campusaffiliation") && may.contains("mail"));
        assert_eq!(s.structural_class(&["inetOrgPerson", "campusPerson"]).unwrap().canonical, "inetorgperson");
    }
}

#[test]
fn load_uses_built_in_copies_and_skips_the_other_profile() {
    // A directory with only the other profile's file and an extension: the standard files come
    // from the binary and rfc2307bis.schema (which conflicts with nis.schema) is not loaded.
    let bis = STANDARD_FILES.iter().find(|(n, _)| *n == "rfc2307bis.schema").unwrap().1;
    let dir = dir_with(&[
        ("rfc2307bis.schema", bis),
        ("b.schema", "attributetype ( 1.3.6.1.4.1.99999.9.2 NAME 'bee' SUP a-attr )"),
        (
            "a.schema",
            "objectidentifier siteOID 1.3.6.1.4.1.99999.9\nattributetype ( siteOID:1 NAME 'a-attr' SUP name )",
        ),
        ("notes.txt", "not a schema"),
    ]);
    let s = Schema::load(dir.path(), Profile::Rfc2307).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.object_class("posixGroup").unwrap().kind, ObjectClassKind::Structural);
    assert_eq!(s.subtypes("a-attr"), ["a-attr", "bee"]);
    let s = Schema::load(dir.path(), Profile::Rfc2307bis).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.object_class("posixGroup").unwrap().kind, ObjectClassKind::Auxiliary);
    // Extensions are read in name order: a.schema defines the macro b.schema would need.
    let dir = dir_with(&[
        ("a.schema", "attributetype ( siteOID:2 NAME 'x' SUP name )"),
        ("b.schema", "objectidentifier siteOID 1.3.6.1.4.1.99999.9"),
    ]);
    let err = Schema::load(dir.path(), Profile::Rfc2307).unwrap_err();
    assert_eq!(err.line, 1);
    assert!(err.file.ends_with("a.schema") && err.reason.contains("'siteOID:2' is neither"), "{err}");

    let missing = Schema::load(Path::new("/nonexistent/birch-schema"), Profile::Rfc2307).unwrap_err();
    assert_eq!((missing.file.as_str(), missing.line), ("/nonexistent/birch-schema", 0));
}

#[test]
fn broken_files_give_file_line_and_reason() {
    let cases: &[(&str, &str)] = &[
        (
            "# campus\nattributetype ( 1.3.6.1.4.1.99999.1 NAME 'x'\n\tSUP nosuch )",
            ":2: attributetype 'x': unknown SUP 'nosuch'",
        ),
        (
            "objectclass ( 1.3.6.1.4.1.99999.2 NAME 'y' SUP top AUXILIARY\n  MUST ( cn $ studentNumber ) )",
            ":1: objectclass 'y': unknown MUST attribute 'studentNumber'",
        ),
        ("objectclass ( 1.3.6.1.4.1.99999.2 NAME 'y' MAY bogus )", ":1: objectclass 'y': unknown MAY attribute 'bogus'"),
        ("objectclass ( 1.3.6.1.4.1.99999.2 NAME 'y' SUP nosuch )", ":1: objectclass 'y': unknown SUP 'nosuch'"),
        (
            "\n\nattributetype ( 2.5.4.3 NAME 'myCn' SUP name )",
            ":3: attributetype 'myCn': duplicate OID 2.5.4.3 (also attributetype 'cn' at core.schema:",
        ),
        (
            "attributetype ( 1.3.6.1.4.1.99999.1 NAME 'commonName' SUP name )",
            ":1: attributetype 'commonName': duplicate NAME 'commonName' (also attributetype 'cn' at core.schema:",
        ),
        (
            "attributetype ( 1.3.6.1.4.1.99999.1 NAME 'x' SUP name\nattributetype ( 1.3.6.1.4.1.99999.2 NAME 'y' SUP name )",
            ":1: attributetype 'x': unbalanced parentheses: missing ')'",
        ),
        (
            "attributetype ( 1.3.6.1.4.1.99999.1 NAME 'x'\n  EQUALITY caseIgnoreMatsh SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
            ":1: attributetype 'x': unknown matching rule 'caseIgnoreMatsh' in EQUALITY",
        ),
        (
            "attributetype ( 1.3.6.1.4.1.99999.1 NAME 'x' EQUALITY caseIgnoreSubstringsMatch SUP name )",
            ":1: attributetype 'x': 'caseIgnoreSubstringsMatch' is not an EQUALITY matching rule",
        ),
        ("attributetype ( 1.3.6.1.4.1.99999.1 NAME 'x' SYNTAX 1.2.3.4 )", ":1: attributetype 'x': unknown SYNTAX 1.2.3.4"),
        ("attributetype ( 1.3.6.1.4.1.99999.1 NAME 'x' )", ":1: attributetype 'x': has neither SYNTAX nor SUP"),
        (
            "attributetype ( 1.3.6.1.4.1.99999.1 NAME 'x' SUP y )\nattributetype ( 1.3.6.1.4.1.99999.2 NAME 'y' SUP x )",
            ":1: attributetype 'x': its SUP chain loops",
        ),
        (
            "objectclass ( 1.3.6.1.4.1.99999.2 NAME 'y' SUP posixAccount STRUCTURAL )",
            ":1: objectclass 'y': a STRUCTURAL class cannot have the AUXILIARY superclass 'posixaccount'",
        ),
        (
            "attributetype ( 1.3.6.1.4.1.99999.1 NAME 'x' SUP name NO-USER-MODIFICATION )",
            ":1: attributetype 'x': NO-USER-MODIFICATION requires an operational USAGE",
        ),
        (
            "attributetype ( 1.3.6.1.4.1.99999.1 NAME 'x' SUP name USAGE dSAOperation )",
            ":1: attributetype 'x': USAGE dSAOperation differs from that of its SUP 'name'",
        ),
        ("attributetype ( 1.3.6.1.4.1.99999.1 NAME 'x' SUP name ) )", ":1: attributetype 'x': unbalanced parentheses: unexpected ')'"),
    ];
    for (text, want) in cases {
        let got = extension_error(text);
        assert!(got.starts_with(want), "for {text:?}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn shipped_definitions_print_in_rfc4512_form_and_reload_from_ldif() {
    let s = Schema::embedded(Profile::Rfc2307bis);
    let mut ldif = String::from("dn: cn=schema\nobjectClass: top\nobjectClass: subschema\n");
    for t in s.attribute_types() {
        let printed = t.definition.to_string();
        let back = parse::parse("x", &format!("attributetype {printed}")).unwrap();
        let Definition::AttributeType(back) = &back[0] else { panic!() };
        assert_eq!(back.to_string(), printed);
        assert_eq!(
            (&back.oid, &back.names, &back.syntax),
            (&t.definition.oid, &t.definition.names, &t.definition.syntax)
        );
        // LDIF folding at 76 columns, as ldapsearch writes it.
        let line = format!("attributeTypes: {printed}");
        let chars: Vec<char> = line.chars().collect();
        for (i, chunk) in chars.chunks(76).enumerate() {
            ldif.push_str(if i == 0 { "" } else { " " });
            ldif.extend(chunk);
            ldif.push('\n');
        }
    }
    for c in s.object_classes() {
        ldif.push_str(&format!("objectClasses: {}\n", c.definition));
    }
    let back = Schema::from_sources([("subschema.ldif", ldif.as_str())]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.attribute_types().len(), s.attribute_types().len());
    assert_eq!(back.object_classes().len(), s.object_classes().len());
    assert_eq!(back.subtypes("name"), s.subtypes("name"));
    assert_eq!(
        s.object_class("person").unwrap().definition.to_string(),
        "( 2.5.6.6 NAME 'person' DESC 'RFC 4519: a person' SUP top STRUCTURAL MUST ( sn $ cn ) \
         MAY ( userPassword $ telephoneNumber $ seeAlso $ description ) )"
    );
}

fn known_names() -> Vec<String> {
    let s = Schema::builtin();
    s.attribute_types().iter().flat_map(|t| t.names.iter().cloned().chain([t.oid.clone()])).collect()
}

proptest! {
    #[test]
    fn canonical_is_idempotent(name in "[a-zA-Z0-9;.-]{0,16}") {
        let s = Schema::builtin();
        let c = s.canonical(&name);
        prop_assert_eq!(s.canonical(&c), c);
    }

    #[test]
    fn every_alias_in_any_case_with_options_is_one_type(i in any::<prop::sample::Index>(), upper: bool, option in "(;[a-z-]{1,8})?") {
        let s = Schema::builtin();
        let names = known_names();
        let name = &names[i.index(names.len())];
        let written = format!("{}{option}", if upper { name.to_ascii_uppercase() } else { name.to_ascii_lowercase() });
        let t = s.attr(&written).unwrap();
        let c = s.canonical(&written);
        prop_assert_eq!(&c, &format!("{}{}", t.canonical, birch_schema::desc::options_suffix(&written)));
        prop_assert_eq!(s.canonical(&c), c.clone());
        prop_assert_eq!(s.attr(&c).map(|x| &x.oid), Some(&t.oid));
        prop_assert_eq!(s.rule(&c), t.rule);
    }

    #[test]
    fn normalization_by_each_types_rule_is_idempotent(i in any::<prop::sample::Index>(), value in "\\PC{0,16}") {
        let s = Schema::builtin();
        let t = &s.attribute_types()[i.index(s.attribute_types().len())];
        if let Some(n) = s.normalize_value(t.rule, value.as_bytes()) {
            prop_assert_eq!(s.normalize_value(t.rule, &n), Some(n.clone()), "{}", t.canonical);
        }
    }
}

#[test]
fn subtype_and_superclass_relations_are_consistent() {
    for profile in [Profile::Rfc2307, Profile::Rfc2307bis] {
        let s = Schema::embedded(profile);
        for t in s.attribute_types() {
            let subs = s.subtypes(&t.canonical);
            assert_eq!(subs[0], t.canonical);
            for sub in &subs {
                assert!(s.is_subtype(sub, &t.canonical), "{sub} < {}", t.canonical);
                let st = s.attr(sub).unwrap();
                assert_eq!(st.usage, t.usage, "{sub}");
            }
            if t.equality.is_some() {
                assert_eq!(Some(t.rule), t.equality);
            }
        }
        for c in s.object_classes() {
            let chain = s.superclasses(&c.canonical);
            assert_eq!(chain[0].oid, c.oid);
            assert_eq!(chain.last().unwrap().canonical, "top", "{}", c.canonical);
            let (must, may) = s.must_may(&[&c.canonical]);
            assert!(must.contains("objectclass") && must.is_disjoint(&may));
        }
    }
}

/// RFC 2307 and OpenLDAP's nis.schema: the shadow and other integer attributes have
/// integerMatch and no ORDERING rule (a `>=` filter on them is Undefined); only uidNumber and
/// gidNumber, which slapd defines built in, have integerOrderingMatch.
#[test]
fn nis_integers_order_only_uid_and_gid_numbers() {
    let s = Schema::builtin();
    for name in [
        "shadowLastChange",
        "shadowMin",
        "shadowMax",
        "shadowWarning",
        "shadowInactive",
        "shadowExpire",
        "shadowFlag",
        "ipServicePort",
        "ipProtocolNumber",
        "oncRpcNumber",
    ] {
        let t = s.attr(name).unwrap();
        assert_eq!((t.equality, t.ordering, t.substr), (Some(MatchingRule::Integer), None, None), "{name}");
    }
    for name in ["uidNumber", "gidNumber"] {
        let t = s.attr(name).unwrap();
        assert_eq!((t.equality, t.ordering), (Some(MatchingRule::Integer), Some(MatchingRule::Integer)), "{name}");
    }
}

/// Every definition of nis.schema is the one of the nis.schema OpenLDAP ships (rules, syntax,
/// SUP, SINGLE-VALUE, kind, MUST and MAY; not the DESC wording), when that file is installed
/// (Debian's slapd package: /etc/ldap/schema/nis.schema). uidNumber and gidNumber, commented
/// out there (slapd defines them built in), are checked against slapd's built-in definitions.
#[test]
fn nis_schema_is_the_one_openldap_ships() {
    let Ok(theirs) = std::fs::read_to_string("/etc/ldap/schema/nis.schema") else {
        eprintln!("skipped: /etc/ldap/schema/nis.schema is not installed");
        return;
    };
    let builtin = "attributetype ( 1.3.6.1.1.1.1.0 NAME 'uidNumber' EQUALITY integerMatch \
                   ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )\n\
                   attributetype ( 1.3.6.1.1.1.1.1 NAME 'gidNumber' EQUALITY integerMatch \
                   ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )\n";
    let defs = |file: &str, text: &str| -> Vec<Definition> { parse::parse(file, text).unwrap() };
    let ours = defs("nis.schema", birch_schema::builtin::text("nis.schema").unwrap());
    let mut theirs = defs("openldap/nis.schema", &theirs);
    theirs.extend(defs("slapd built-in", builtin));
    // The fields that decide behaviour, with names compared case-insensitively.
    let lower = |v: &Option<String>| v.as_ref().map(|s| s.to_ascii_lowercase());
    let key = |d: &Definition| -> (String, String) {
        match d {
            Definition::AttributeType(a) => (
                a.oid.clone(),
                format!(
                    "{:?}",
                    (
                        &a.names,
                        lower(&a.sup),
                        lower(&a.equality),
                        lower(&a.ordering),
                        lower(&a.substr),
                        &a.syntax,
                        a.single_value,
                        a.usage,
                        a.no_user_modification
                    )
                ),
            ),
            Definition::ObjectClass(c) => {
                let names = |v: &[String]| v.iter().map(|n| n.to_ascii_lowercase()).collect::<BTreeSet<_>>();
                (c.oid.clone(), format!("{:?}", (&c.names, names(&c.sup), c.kind, names(&c.must), names(&c.may))))
            }
        }
    };
    let ours: std::collections::BTreeMap<_, _> = ours.iter().map(key).collect();
    let theirs: std::collections::BTreeMap<_, _> = theirs.iter().map(key).collect();
    assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "the same definitions");
    for (oid, def) in &ours {
        assert_eq!(Some(def), theirs.get(oid), "{oid}");
    }
}
