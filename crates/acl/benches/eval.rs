//! Cost of access decisions per returned entry under a campus-like policy:
//!     cargo bench -p birch-acl --bench eval
use birch_acl::{Policy, Privilege, Requester, Resolver, Subject, Target};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

struct Plain(usize);
impl Resolver for Plain {
    fn attr(&self, name: &str) -> Option<String> {
        Some(name.to_ascii_lowercase())
    }
    fn dn(&self, dn: &str) -> Result<String, String> {
        Ok(dn.to_ascii_lowercase())
    }
    fn filter(&mut self, _: &str) -> Result<usize, String> {
        self.0 += 1;
        Ok(self.0 - 1)
    }
}

struct Entry(String);
impl Target for Entry {
    fn ndn(&self) -> &str {
        &self.0
    }
    fn matches_filter(&self, _: usize) -> bool {
        false
    }
    fn has_dn_value(&self, _: &str, _: &str) -> bool {
        false
    }
}

/// The campus policy's shape (see crates/server/src/access/campus.rs).
const CAMPUS: &[&str] = &[
    r#"to * by group="cn=it-admins,ou=groups,dc=x" write by * none break"#,
    r#"to attrs=userPassword by self write by group="cn=helpdesk,ou=groups,dc=x" write by anonymous auth by * none"#,
    "to attrs=pwdHistory by * none",
    r#"to attrs=pwdAccountLockedTime by group="cn=helpdesk,ou=groups,dc=x" write by self read by * none"#,
    r#"to attrs=pwdFailureTime,pwdChangedTime,pwdReset by group="cn=helpdesk,ou=groups,dc=x" read by self read by * none"#,
    r#"to attrs=telephoneNumber,displayName by self write by dn.subtree="ou=services,dc=x" read by * none"#,
    r#"to attrs=mail,mobile,homePhone,postalAddress,jpegPhoto,employeeNumber by self read by dn.subtree="ou=services,dc=x" read by * none"#,
    r#"to attrs=loginShell by self write by dn.subtree="ou=services,dc=x" read by users read by * none"#,
    r#"to attrs=uid,uidNumber,gidNumber,homeDirectory,gecos,memberUid,member,cn,objectClass by dn.subtree="ou=services,dc=x" read by users read by * none"#,
    r#"to attrs=entry by dn.subtree="ou=services,dc=x" read by users read by * none"#,
    "to * by users read by * none",
];

/// What a search-uid result entry costs: `entry`, the filter's attribute and six attributes.
const ATTRS: &[&str] = &["entry", "uid", "cn", "uidnumber", "gidnumber", "homedirectory", "loginshell", "objectclass"];

fn bench(c: &mut Criterion) {
    let policy = Policy::compile(CAMPUS, &mut Plain(0)).expect("policy");
    let entry = Entry("uid=user00042,ou=people,dc=x".into());
    let nslcd = Requester::new(Subject::User("cn=nslcd,ou=services,dc=x".into()));
    let user = Requester::new(Subject::User("uid=user00001,ou=people,dc=x".into()));
    c.bench_function("campus_entry_8_attrs_service_account", |b| {
        b.iter(|| ATTRS.iter().filter(|a| policy.check(black_box(&nslcd), &entry, a, Privilege::Read)).count())
    });
    c.bench_function("campus_entry_8_attrs_user", |b| {
        b.iter(|| ATTRS.iter().filter(|a| policy.check(black_box(&user), &entry, a, Privilege::Read)).count())
    });
    c.bench_function("campus_one_personal_attr_denied", |b| {
        b.iter(|| policy.check(black_box(&user), &entry, "mail", Privilege::Read))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
