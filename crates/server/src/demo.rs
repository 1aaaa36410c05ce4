//! The `--demo` campus: a few people, groups and a service account, so that `ldapsearch`
//! returns something at once. Passwords are listed in the README.

/// Demo entries as LDIF; `{suffix}` is replaced by the configured suffix.
pub const DEMO_LDIF: &str = "\
dn: ou=people,{suffix}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{suffix}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{suffix}
objectClass: organizationalUnit
ou: services

dn: uid=alice,ou=people,{suffix}
objectClass: inetOrgPerson
objectClass: posixAccount
objectClass: shadowAccount
uid: alice
cn: Alice Liddell
givenName: Alice
sn: Liddell
mail: alice@example.org
uidNumber: 10001
gidNumber: 10001
homeDirectory: /home/alice
loginShell: /bin/bash
userPassword: alice-secret

dn: uid=bob,ou=people,{suffix}
objectClass: inetOrgPerson
objectClass: posixAccount
objectClass: shadowAccount
uid: bob
cn: Bob Baker
givenName: Bob
sn: Baker
mail: bob@example.org
uidNumber: 10002
gidNumber: 10001
homeDirectory: /home/bob
loginShell: /bin/bash
userPassword: bob-secret

dn: uid=chenwei,ou=people,{suffix}
objectClass: inetOrgPerson
objectClass: posixAccount
objectClass: shadowAccount
uid: chenwei
cn:: 6ZmI5Lyf
cn: Chen Wei
givenName: Wei
sn: Chen
mail: chenwei@example.org
uidNumber: 10003
gidNumber: 10002
homeDirectory: /home/chenwei
loginShell: /bin/zsh
userPassword: chenwei-secret

dn: cn=staff,ou=groups,{suffix}
objectClass: posixGroup
cn: staff
gidNumber: 10001
memberUid: alice
memberUid: bob

dn: cn=students,ou=groups,{suffix}
objectClass: posixGroup
cn: students
gidNumber: 10002
memberUid: chenwei

dn: cn=it-admins,ou=groups,{suffix}
objectClass: groupOfNames
cn: it-admins
member: uid=alice,ou=people,{suffix}

dn: cn=nslcd,ou=services,{suffix}
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: nslcd
description: Workstation login service account
userPassword: nslcd-secret
";

/// A record to add: the DN and attribute descriptions with their values.
pub type AddRecord = (String, Vec<(String, Vec<Vec<u8>>)>);

/// The demo campus under `suffix`, as records to add in order (parents first).
pub fn records(suffix: &str) -> Result<Vec<AddRecord>, birch_store::ldif::LdifError> {
    let text = DEMO_LDIF.replace("{suffix}", suffix);
    let mut out = Vec::new();
    for rec in birch_store::ldif::LdifReader::new(text.as_bytes()) {
        if let birch_store::ldif::LdifRecord::Content { dn, attrs, .. } = rec? {
            out.push((dn, attrs.into_iter().map(|(n, v)| (n, vec![v])).collect()));
        }
    }
    Ok(out)
}

/// The attributes of the suffix entry Birch makes in an empty store: object classes by
/// the suffix's naming attribute (`dc` → dcObject + organization, `o`, `ou`, else
/// extensibleObject), its RDN value, and `o` for a `dc` suffix.
pub fn suffix_attrs(suffix: &birch_schema::Dn, schema: &birch_schema::Schema) -> Vec<(String, Vec<Vec<u8>>)> {
    let Some(rdn) = suffix.rdns.first().and_then(|r| r.avas.first()) else {
        return Vec::new();
    };
    let attr = schema.canonical(&rdn.attr);
    let classes: &[&str] = match attr.as_str() {
        "dc" => &["top", "dcObject", "organization"],
        "o" => &["top", "organization"],
        "ou" => &["top", "organizationalUnit"],
        _ => &["top", "extensibleObject"],
    };
    let mut attrs: Vec<(String, Vec<Vec<u8>>)> =
        vec![("objectClass".into(), classes.iter().map(|c| c.as_bytes().to_vec()).collect())];
    attrs.push((rdn.attr.clone(), vec![rdn.value.clone().into_bytes()]));
    if attr == "dc" {
        attrs.push(("o".into(), vec![rdn.value.clone().into_bytes()]));
    }
    attrs
}
