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
