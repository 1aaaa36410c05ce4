//! The campus access policy as a matrix over TCP: subjects (anonymous, a user, another user,
//! a service account, the helpdesk, an admin) × targets (own entry, another user, a group, a
//! service entry) × operations (search each attribute, compare, modify, add, delete, rename,
//! password change), with slapd's result codes. Plus filters on hidden attributes, rules from
//! the configuration, and their reload.
mod common;

use common::demo::{ALICE, BOB, CHENWEI, GROUPS, NSLCD, PEOPLE, STAFF};
use common::{bounded, connect, connect_as, search, Server, OP_TIMEOUT, ROOT_DN, ROOT_PW, SUFFIX};
use ldap3::exop::PasswordModify;
use ldap3::{Ldap, Mod, Scope};
use std::collections::HashSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);
const HANA: &str = "uid=hana,ou=people,dc=example,dc=org";
const HELPDESK: &str = "cn=helpdesk,ou=groups,dc=example,dc=org";

fn set<'a>(v: &[&'a str]) -> HashSet<&'a str> {
    v.iter().copied().collect()
}

/// The demo plus a helpdesk member (hana), telephone numbers, a display name, and no
/// must-change after the resets the tests make.
async fn campus() -> Server {
    let s = Server::start_with("[ppolicy]\nmust_change = false\nmin_length = 4\n", true);
    let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
    let hana = vec![
        ("objectClass", set(&["inetOrgPerson", "posixAccount"])),
        ("uid", set(&["hana"])),
        ("cn", set(&["Hana Help"])),
        ("sn", set(&["Help"])),
        ("uidNumber", set(&["10009"])),
        ("gidNumber", set(&["10001"])),
        ("homeDirectory", set(&["/home/hana"])),
        ("userPassword", set(&["hana-secret"])),
    ];
    assert_eq!(root.add(HANA, hana).await.expect("add").rc, 0);
    let group = vec![("objectClass", set(&["groupOfNames"])), ("cn", set(&["helpdesk"])), ("member", set(&[HANA]))];
    assert_eq!(root.add(HELPDESK, group).await.expect("add").rc, 0);
    for (dn, tel) in [(BOB, "+1 555 0102"), (CHENWEI, "+86 10 5555 0103")] {
        let mods = vec![Mod::Add("telephoneNumber", set(&[tel])), Mod::Add("displayName", set(&["Display"]))];
        assert_eq!(root.modify(dn, mods).await.expect("modify").rc, 0);
    }
    s
}

/// Who is asking: name, DN and password (None: anonymous).
const SUBJECTS: &[(&str, Option<(&str, &str)>)] = &[
    ("anonymous", None),
    ("bob", Some((BOB, "bob-secret"))),
    ("nslcd", Some((NSLCD, "nslcd-secret"))),
    ("helpdesk", Some((HANA, "hana-secret"))),
    ("admin", Some((ALICE, "alice-secret"))),
];

async fn login(url: &str, who: Option<(&str, &str)>) -> Ldap {
    match who {
        None => connect(url).await,
        Some((dn, pw)) => connect_as(url, dn, pw).await,
    }
}

/// The attributes `l` reads of `dn` (lower-case names), or None when the entry is not visible.
async fn readable(l: &mut Ldap, dn: &str, attrs: &[&str]) -> Option<HashSet<String>> {
    let (es, res) = search(l, dn, Scope::Base, "(objectClass=*)", attrs).await;
    match res.rc {
        0 => {
            Some(es.first()?.attrs.keys().chain(es.first()?.bin_attrs.keys()).map(|k| k.to_ascii_lowercase()).collect())
        }
        32 => None,
        rc => panic!("search {dn}: unexpected rc {rc}: {res}"),
    }
}

const USER_ATTRS: &[&str] = &[
    "uid",
    "cn",
    "sn",
    "uidNumber",
    "homeDirectory",
    "loginShell",
    "mail",
    "telephoneNumber",
    "displayName",
    "userPassword",
    "pwdChangedTime",
];

#[tokio::test(flavor = "multi_thread")]
async fn what_each_subject_reads() {
    let s = campus().await;
    let url = s.url();
    // A password change so that pwdChangedTime exists on chenwei.
    let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
    let pm = PasswordModify { user_id: Some(CHENWEI), old_pass: None, new_pass: Some("chenwei-new") };
    assert_eq!(root.extended(pm).await.expect("passmod").1.rc, 0);
    let posix = ["uid", "cn", "sn", "uidnumber", "homedirectory", "loginshell"];
    let personal = ["mail", "telephonenumber", "displayname"];
    let all: Vec<&str> = posix.iter().chain(&personal).copied().collect();
    bounded(LIMIT, async {
        // (subject, target, attributes it must see). Everything else must be hidden.
        let cases: Vec<(&str, &str, Option<Vec<&str>>)> = vec![
            ("anonymous", CHENWEI, None),
            ("anonymous", BOB, None),
            ("bob", BOB, Some(all.clone())),
            ("bob", CHENWEI, Some(posix.to_vec())),
            ("nslcd", CHENWEI, Some(all.clone())),
            ("helpdesk", CHENWEI, Some([&posix[..], &["pwdchangedtime"]].concat())),
            ("admin", CHENWEI, Some([&all[..], &["pwdchangedtime"]].concat())),
        ];
        for (name, target, want) in cases {
            let who = SUBJECTS.iter().find(|(n, _)| *n == name).expect("subject").1;
            let mut l = login(&url, who).await;
            let got = readable(&mut l, target, USER_ATTRS).await;
            let want: Option<HashSet<String>> = want.map(|w| w.iter().map(|a| a.to_string()).collect());
            assert_eq!(got, want, "{name} reading {target}");
        }
        // Groups and service entries: users see them, anonymous clients do not.
        for (name, who) in SUBJECTS {
            let mut l = login(&url, *who).await;
            let group = readable(&mut l, STAFF, &["memberUid", "gidNumber"]).await;
            let service = readable(&mut l, NSLCD, &["description", "userPassword"]).await;
            if who.is_none() {
                assert_eq!((group, service), (None, None), "{name}");
            } else {
                assert_eq!(
                    group,
                    Some(set(&["memberuid", "gidnumber"]).iter().map(|s| s.to_string()).collect()),
                    "{name}"
                );
                assert_eq!(service, Some(HashSet::from(["description".to_string()])), "{name}");
            }
        }
        // The rootDSE and the subschema are for everyone.
        let mut anon = connect(&url).await;
        assert!(readable(&mut anon, "", &["namingContexts"]).await.is_some_and(|a| a.contains("namingcontexts")));
        assert!(readable(&mut anon, "cn=Subschema", &["objectClasses"])
            .await
            .is_some_and(|a| a.contains("objectclasses")));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn what_each_subject_may_change() {
    let s = campus().await;
    let url = s.url();
    bounded(LIMIT, async {
        // (subject, target, attribute, value, expected result code of a replace)
        let cases: &[(&str, &str, &str, &str, u32)] = &[
            // Anonymous clients may not learn that bob exists: the answer is a missing entry's
            // (issue #23 item 10; slapd's `disclose`).
            ("anonymous", BOB, "loginShell", "/bin/sh", 32),
            ("bob", BOB, "loginShell", "/bin/zsh", 0),
            ("bob", BOB, "telephoneNumber", "+1 555 0199", 0),
            ("bob", BOB, "displayName", "Bobby", 0),
            ("bob", BOB, "shadowLastChange", "19876", 0),
            ("bob", CHENWEI, "shadowLastChange", "19876", 50),
            ("bob", BOB, "mail", "bobby@example.org", 50),
            ("bob", BOB, "uidNumber", "0", 50),
            ("bob", BOB, "gidNumber", "0", 50),
            ("bob", BOB, "cn", "Robert Baker", 50),
            ("bob", CHENWEI, "loginShell", "/bin/sh", 50),
            ("bob", STAFF, "memberUid", "bob", 50),
            ("nslcd", CHENWEI, "loginShell", "/bin/sh", 50),
            ("helpdesk", CHENWEI, "loginShell", "/bin/sh", 50),
            ("helpdesk", CHENWEI, "pwdAccountLockedTime", "000001010000Z", 0),
            ("admin", CHENWEI, "sn", "Chen-Admin", 0),
            ("admin", STAFF, "memberUid", "chenwei", 0),
        ];
        for (name, target, attr, value, rc) in cases {
            let who = SUBJECTS.iter().find(|(n, _)| n == name).expect("subject").1;
            let mut l = login(&url, who).await;
            let res = l.with_timeout(OP_TIMEOUT).modify(target, vec![Mod::Replace(*attr, set(&[value]))]).await;
            let res = res.expect("modify");
            assert_eq!(res.rc, *rc, "{name} replacing {attr} of {target}: {res}");
        }
        // The helpdesk unlocks what it locked.
        let mut hana = connect_as(&url, HANA, "hana-secret").await;
        let res = hana.modify(CHENWEI, vec![Mod::Delete("pwdAccountLockedTime", HashSet::new())]).await.expect("mod");
        assert_eq!(res.rc, 0, "{res}");
        // Nobody but the admins adds, deletes or renames entries.
        let eve = "uid=eve,ou=people,dc=example,dc=org";
        let entry = || {
            vec![
                ("objectClass", set(&["inetOrgPerson"])),
                ("uid", set(&["eve"])),
                ("cn", set(&["Eve"])),
                ("sn", set(&["Eve"])),
            ]
        };
        for (name, who) in SUBJECTS {
            let mut l = login(&url, *who).await;
            // Anonymous clients may not learn that ou=people exists: its answers are a
            // missing entry's (issue #23 item 10).
            let want = match *name {
                "anonymous" => 32,
                "admin" => 0,
                _ => 50,
            };
            assert_eq!(l.add(eve, entry()).await.expect("add").rc, want, "{name} adding");
            let renamed =
                l.modifydn(if want == 0 { eve } else { CHENWEI }, "uid=eve2", true, None).await.expect("modrdn");
            assert_eq!(renamed.rc, want, "{name} renaming");
            let gone = l.delete(if want == 0 { "uid=eve2,ou=people,dc=example,dc=org" } else { CHENWEI }).await;
            assert_eq!(gone.expect("delete").rc, want, "{name} deleting");
        }
        // Bob may not rename himself either.
        let mut bob = connect_as(&url, BOB, "bob-secret").await;
        assert_eq!(bob.modifydn(BOB, "uid=bobby", true, None).await.expect("modrdn").rc, 50);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn who_may_change_which_password() {
    let s = campus().await;
    let url = s.url();
    bounded(LIMIT, async {
        let change = |who: Option<(&'static str, &'static str)>,
                      user: &'static str,
                      old: Option<&'static str>,
                      new: &'static str| {
            let url = url.clone();
            async move {
                let mut l = login(&url, who).await;
                let pm = PasswordModify { user_id: Some(user), old_pass: old, new_pass: Some(new) };
                let res = l.with_timeout(OP_TIMEOUT).extended(pm).await.expect("passmod").1;
                eprintln!("passmod by {who:?} for {user}: {res}");
                res.rc
            }
        };
        let bob = Some((BOB, "bob-secret"));
        assert_eq!(change(bob, BOB, Some("bob-secret"), "bob-own-1").await, 0, "self");
        let bob = Some((BOB, "bob-own-1"));
        assert_eq!(change(bob, CHENWEI, None, "not-yours").await, 50, "another user's");
        assert_eq!(change(Some((NSLCD, "nslcd-secret")), CHENWEI, None, "not-yours").await, 50, "service account");
        assert_eq!(change(Some((HANA, "hana-secret")), CHENWEI, None, "reset-by-help").await, 0, "helpdesk reset");
        assert_eq!(bind_rc(&url, CHENWEI, "reset-by-help").await, 0);
        assert_eq!(change(Some((ALICE, "alice-secret")), CHENWEI, None, "reset-by-admin").await, 0, "admin reset");
        assert_eq!(bind_rc(&url, CHENWEI, "reset-by-admin").await, 0);
        // Self change through a plain modify of userPassword (as `passwd` via pam_ldap may do).
        let mut b = connect_as(&url, BOB, "bob-own-1").await;
        let res = b.modify(BOB, vec![Mod::Replace("userPassword", set(&["bob-own-2"]))]).await.expect("modify");
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(bind_rc(&url, BOB, "bob-own-2").await, 0);
        // Nobody reads or compares a password, the root DN included.
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        for l in [&mut root, &mut b] {
            let res = l.compare(BOB, "userPassword", "bob-own-2").await.expect("compare");
            assert_eq!(res.0.rc, 50);
        }
    })
    .await;
}

async fn bind_rc(url: &str, dn: &str, pw: &str) -> u32 {
    common::bind_rc(url, dn, pw).await
}

#[tokio::test(flavor = "multi_thread")]
async fn compare_follows_read_access() {
    let s = campus().await;
    let url = s.url();
    bounded(LIMIT, async {
        let cases: &[(&str, &str, &str, &str, u32)] = &[
            ("anonymous", CHENWEI, "uid", "chenwei", 32),
            ("bob", CHENWEI, "uid", "chenwei", 6),
            ("bob", CHENWEI, "mail", "chenwei@example.org", 50),
            ("bob", BOB, "mail", "bob@example.org", 6),
            ("nslcd", CHENWEI, "mail", "chenwei@example.org", 6),
            ("helpdesk", CHENWEI, "mail", "chenwei@example.org", 50),
            ("admin", CHENWEI, "mail", "chenwei@example.org", 6),
        ];
        for (name, target, attr, value, rc) in cases {
            let who = SUBJECTS.iter().find(|(n, _)| n == name).expect("subject").1;
            let mut l = login(&url, who).await;
            let res = l.with_timeout(OP_TIMEOUT).compare(target, attr, *value).await.expect("compare");
            assert_eq!(res.0.rc, *rc, "{name} comparing {attr} of {target}");
        }
    })
    .await;
}

/// A filter on an attribute the subject may not search evaluates as Undefined for that
/// entry: no oracle for other people's mail addresses.
#[tokio::test(flavor = "multi_thread")]
async fn filters_on_hidden_attributes_are_undefined() {
    let s = campus().await;
    let url = s.url();
    bounded(LIMIT, async {
        let mut bob = connect_as(&url, BOB, "bob-secret").await;
        let dns = |es: Vec<ldap3::SearchEntry>| -> Vec<String> {
            let mut v: Vec<String> = es.into_iter().map(|e| e.dn).collect();
            v.sort();
            v
        };
        let (es, _) = search(&mut bob, PEOPLE, Scope::OneLevel, "(mail=chenwei@example.org)", &["1.1"]).await;
        assert!(es.is_empty(), "bob found chenwei by mail");
        let (es, _) = search(&mut bob, PEOPLE, Scope::OneLevel, "(mail=bob@example.org)", &["1.1"]).await;
        assert_eq!(dns(es), vec![BOB.to_string()], "his own mail is searchable");
        // (!(mail=x)): True for bob's own entry; Undefined (not returned) for the others.
        let (es, _) = search(&mut bob, PEOPLE, Scope::OneLevel, "(!(mail=nobody@example.org))", &["1.1"]).await;
        assert_eq!(dns(es), vec![BOB.to_string()]);
        // The same filter with a visible attribute returns everyone.
        let (es, _) = search(&mut bob, PEOPLE, Scope::OneLevel, "(!(uid=nobody))", &["1.1"]).await;
        assert_eq!(es.len(), 4, "alice, bob, chenwei, hana");
        // An indexed term next to a hidden one inside an Or: the index answers uid and the
        // store reads the entry without it, but the masked filter (uid true, mail Undefined,
        // cn=* true) is decided on the whole entry.
        for filter in ["(&(uid=chenwei)(|(mail=nobody@example.org)(cn=*)))", "(&(uid=chenwei)(|(mail=x)(uid=chenwei)))"]
        {
            let (es, _) = search(&mut bob, PEOPLE, Scope::OneLevel, filter, &["1.1"]).await;
            assert_eq!(dns(es), vec![CHENWEI.to_string()], "{filter}");
        }
        let (es, _) = search(&mut bob, PEOPLE, Scope::OneLevel, "(&(uid=chenwei)(|(mail=x)(uid=bob)))", &["1.1"]).await;
        assert!(es.is_empty(), "{es:?}");
        // The service account sees mail everywhere.
        let mut nslcd = common::reader(&url).await;
        let (es, _) = search(&mut nslcd, SUFFIX, Scope::Subtree, "(mail=chenwei@example.org)", &["1.1"]).await;
        assert_eq!(dns(es), vec![CHENWEI.to_string()]);
        // Anonymous: the base itself is not visible.
        let mut anon = connect(&url).await;
        let (es, res) = search(&mut anon, GROUPS, Scope::Subtree, "(objectClass=*)", &["1.1"]).await;
        assert_eq!((res.rc, es.len()), (32, 0));
    })
    .await;
}

/// The server remembers what it derives from a search's attribute list, base and filter
/// attributes (ops/search.rs, memo.rs): searches repeating one of them and differing in the
/// others must each get their own answer.
#[tokio::test(flavor = "multi_thread")]
async fn repeated_search_shapes_get_their_own_answers() {
    let s = campus().await;
    let url = s.url();
    bounded(LIMIT, async {
        let mut nslcd = common::reader(&url).await;
        let one = |es: &[ldap3::SearchEntry]| -> Vec<(String, Vec<String>)> {
            es.iter().map(|e| (e.dn.clone(), e.attrs.get("cn").cloned().unwrap_or_default())).collect()
        };
        for _ in 0..2 {
            // Same attribute list and base, filters on different attributes (read from
            // the entry only because the filter needs them).
            for (filter, dn) in [
                ("(uid=bob)", BOB),
                ("(mail=chenwei@example.org)", CHENWEI),
                ("(telephoneNumber=+1 555 0102)", BOB),
                ("(&(objectClass=posixAccount)(uidNumber=10009))", HANA),
            ] {
                let (es, res) = search(&mut nslcd, PEOPLE, Scope::OneLevel, filter, &["cn"]).await;
                assert_eq!(res.rc, 0, "{filter}: {res}");
                assert_eq!(one(&es).len(), 1, "{filter}: {es:?}");
                assert_eq!(es[0].dn, dn, "{filter}");
                assert_eq!(es[0].attrs.len(), 1, "{filter}: only cn: {:?}", es[0].attrs);
            }
            // Same filter and base, different attribute lists.
            let (es, _) = search(&mut nslcd, PEOPLE, Scope::OneLevel, "(uid=bob)", &["uidNumber"]).await;
            assert_eq!(es[0].attrs.keys().collect::<Vec<_>>(), vec!["uidNumber"]);
            let (es, _) = search(&mut nslcd, PEOPLE, Scope::OneLevel, "(uid=bob)", &["uidNumber", "mail"]).await;
            assert_eq!(es[0].attrs.len(), 2, "{:?}", es[0].attrs);
            // The base in other spellings names the same entry; an invalid one stays invalid.
            for base in ["OU=People,DC=Example,DC=Org", "ou=people, dc=example, dc=org"] {
                let (es, res) = search(&mut nslcd, base, Scope::OneLevel, "(uid=bob)", &["cn"]).await;
                assert_eq!((res.rc, es.len()), (0, 1), "{base}: {res}");
            }
            let (_, res) = search(&mut nslcd, "ou=people,,dc=example", Scope::OneLevel, "(uid=bob)", &["cn"]).await;
            assert_eq!(res.rc, 34, "{res}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_posix_lookups_when_enabled() {
    let s = Server::start_with("[access]\nanonymous_posix = true\n", true);
    bounded(LIMIT, async {
        let mut anon = connect(&s.url()).await;
        let got = readable(&mut anon, CHENWEI, USER_ATTRS).await;
        let want: HashSet<String> =
            ["uid", "cn", "uidnumber", "homedirectory", "loginshell"].iter().map(|s| s.to_string()).collect();
        assert_eq!(got, Some(want));
        let (es, res) =
            search(&mut anon, SUFFIX, Scope::Subtree, "(&(objectClass=posixGroup)(memberUid=alice))", &["cn"]).await;
        assert_eq!((res.rc, es.len()), (0, 1));
        // Still no writes.
        let res = anon.modify(BOB, vec![Mod::Replace("loginShell", set(&["/bin/sh"]))]).await.expect("modify");
        assert_eq!(res.rc, 8);
    })
    .await;
}

/// Rules from the configuration replace the campus policy; a department admin manages only
/// ou=physics; `birch reload` swaps new rules in, and a broken rule keeps the old ones.
#[tokio::test(flavor = "multi_thread")]
async fn configured_rules_and_reload() {
    let rules = r#"[access]
rules = [
  'to dn.subtree="ou=physics,dc=example,dc=org" by dn.exact="uid=bob,ou=people,dc=example,dc=org" write by * none break',
  'to attrs=userPassword by self write by anonymous auth by * none',
  'to * by users read by * none',
]
"#;
    let s = Server::start_with(rules, true);
    let url = s.url();
    let physics = "ou=physics,dc=example,dc=org";
    bounded(LIMIT, async {
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let ou = vec![("objectClass", set(&["organizationalUnit"])), ("ou", set(&["physics"]))];
        assert_eq!(root.add(physics, ou).await.expect("add").rc, 0);
        let mut bob = connect_as(&url, BOB, "bob-secret").await;
        let lab = vec![("objectClass", set(&["organizationalUnit"])), ("ou", set(&["lab"]))];
        assert_eq!(bob.add("ou=lab,ou=physics,dc=example,dc=org", lab.clone()).await.expect("add").rc, 0);
        assert_eq!(bob.add("ou=lab,ou=people,dc=example,dc=org", lab).await.expect("add").rc, 50);
        // Under these rules every user reads mail (no campus privacy rule).
        let (es, _) = search(&mut bob, CHENWEI, Scope::Base, "(objectClass=*)", &["mail"]).await;
        assert!(es[0].attrs.contains_key("mail"));
    })
    .await;
    // A broken rule: reload keeps the rules in force.
    let text = s.default_config_text().replace("by * none break", "by * nonsense break");
    s.write_config_text(&text);
    let out = s.birch(&["reload"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url2 = url.clone();
    bounded(LIMIT, async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut bob = connect_as(&url2, BOB, "bob-secret").await;
        let lab2 = vec![("objectClass", set(&["organizationalUnit"])), ("ou", set(&["lab2"]))];
        assert_eq!(bob.add("ou=lab2,ou=physics,dc=example,dc=org", lab2).await.expect("add").rc, 0);
    })
    .await;
    // Rules without bob's clause: after reload bob may no longer add there.
    let text =
        s.default_config_text().replace("by * nonsense break", "by * none break").replace("uid=bob,", "uid=nobody,");
    s.write_config_text(&text);
    let out = s.birch(&["reload"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    bounded(LIMIT, async move {
        let mut rc = 0;
        for _ in 0..50 {
            let mut bob = connect_as(&url, BOB, "bob-secret").await;
            let lab3 = vec![("objectClass", set(&["organizationalUnit"])), ("ou", set(&["lab3"]))];
            rc = bob.add("ou=lab3,ou=physics,dc=example,dc=org", lab3).await.expect("add").rc;
            if rc == 50 {
                break;
            }
            let _ = bob.delete("ou=lab3,ou=physics,dc=example,dc=org").await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(rc, 50, "the reloaded rules never applied");
    })
    .await;
    let log = std::fs::read_to_string(s.log_path()).unwrap_or_default();
    assert!(log.contains("nonsense"), "the broken rule is not logged:\n{log}");
}

/// Group memberships are resolved at bind and remembered between writes: joining or leaving
/// the helpdesk takes effect at the next bind (the remembered answer is dropped by the
/// membership change itself).
#[tokio::test(flavor = "multi_thread")]
async fn joining_and_leaving_a_group_takes_effect_at_the_next_bind() {
    bounded(LIMIT, async {
        let s = campus().await;
        let reset = |pw: &'static str| vec![Mod::Replace("userPassword", set(&[pw]))];
        let attempt = |pw: &'static str| {
            let url = s.url();
            async move {
                let mut bob = connect_as(&url, BOB, "bob-secret").await;
                bob.with_timeout(OP_TIMEOUT).modify(CHENWEI, reset(pw)).await.expect("modify").rc
            }
        };
        assert_eq!(attempt("chenwei-1").await, 50, "bob is not in the helpdesk");
        // Resolved once more and remembered: still not a member.
        assert_eq!(attempt("chenwei-2").await, 50);
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let join = root.modify(HELPDESK, vec![Mod::Add("member", set(&[BOB]))]).await.expect("modify");
        assert_eq!(join.rc, 0);
        assert_eq!(attempt("chenwei-3").await, 0, "bob joined the helpdesk");
        let leave = root.modify(HELPDESK, vec![Mod::Delete("member", set(&[BOB]))]).await.expect("modify");
        assert_eq!(leave.rc, 0);
        assert_eq!(attempt("chenwei-4").await, 50, "bob left the helpdesk");
    })
    .await;
}

/// The access decisions a connection remembers (those that hold for every entry) follow
/// its identity and never stand in for one that looks at the entry: on one connection, bob
/// reads his own mail and nobody else's, the service account everyone's, bob again only
/// his own; filters on mail match only what the identity may search. Each search twice, so
/// the second one runs on remembered decisions.
#[tokio::test(flavor = "multi_thread")]
async fn remembered_decisions_follow_the_identity_and_each_entry() {
    let s = campus().await;
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = connect(&url).await;
        let mails = |es: &[ldap3::SearchEntry]| -> Vec<(String, Vec<String>)> {
            let mut v: Vec<(String, Vec<String>)> =
                es.iter().filter_map(|e| e.attrs.get("mail").map(|m| (e.dn.to_ascii_lowercase(), m.clone()))).collect();
            v.sort();
            v
        };
        let everyone = vec![
            (ALICE.to_string(), vec!["alice@example.org".to_string()]),
            (BOB.to_string(), vec!["bob@example.org".to_string()]),
            (CHENWEI.to_string(), vec!["chenwei@example.org".to_string()]),
        ];
        for (dn, pw, want) in [
            (BOB, "bob-secret", vec![(BOB.to_string(), vec!["bob@example.org".to_string()])]),
            (NSLCD, "nslcd-secret", everyone.clone()),
            (BOB, "bob-secret", vec![(BOB.to_string(), vec!["bob@example.org".to_string()])]),
        ] {
            let res = l.with_timeout(OP_TIMEOUT).simple_bind(dn, pw).await.expect("bind");
            assert_eq!(res.rc, 0, "bind {dn}: {res}");
            for round in 0..2 {
                let (es, res) = search(&mut l, PEOPLE, Scope::OneLevel, "(uid=*)", &["uid", "mail"]).await;
                assert_eq!(res.rc, 0, "{dn}: {res}");
                assert!(es.len() >= 4, "{dn} sees the people: {es:?}");
                assert!(es.iter().all(|e| e.attrs.contains_key("uid")), "{dn} reads everyone's uid");
                assert_eq!(mails(&es), want, "{dn}, search {round}");
                // A filter on mail is Undefined where the identity may not search it.
                let (es, _) = search(&mut l, PEOPLE, Scope::OneLevel, "(mail=chenwei@example.org)", &["uid"]).await;
                assert_eq!(es.len(), usize::from(dn == NSLCD), "{dn}: chenwei's mail as a filter: {es:?}");
                let (es, _) = search(&mut l, PEOPLE, Scope::OneLevel, "(mail=bob@example.org)", &["uid"]).await;
                assert_eq!(es.len(), 1, "{dn}: bob's mail as a filter: {es:?}");
            }
        }
        // Anonymous again (a bind with no name): no people at all.
        let res = l.with_timeout(OP_TIMEOUT).simple_bind("", "").await.expect("bind");
        assert_eq!(res.rc, 0);
        let (es, _) = search(&mut l, PEOPLE, Scope::OneLevel, "(uid=*)", &["uid", "mail"]).await;
        assert!(es.is_empty(), "anonymous: {es:?}");
    })
    .await;
}

/// A search base is remembered only while nothing is written: the same connection finds a
/// new entry as a base, then not once it is deleted (noSuchObject, matchedDN its parent),
/// and finds it under its new name after a rename.
#[tokio::test(flavor = "multi_thread")]
async fn a_remembered_search_base_follows_adds_deletes_and_renames() {
    let s = campus().await;
    let url = s.url();
    bounded(LIMIT, async {
        const TEMP: &str = "uid=temp,ou=people,dc=example,dc=org";
        const MOVED: &str = "uid=moved,ou=people,dc=example,dc=org";
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let mut nslcd = common::reader(&url).await;
        let base = |l: &mut Ldap, dn: &'static str| {
            let l = l.clone();
            async move {
                let mut l = l;
                let (es, res) = search(&mut l, dn, Scope::Base, "(objectClass=*)", &["uid"]).await;
                (res.rc, res.matched, es.len())
            }
        };
        assert_eq!(base(&mut nslcd, TEMP).await.0, 32);
        let temp = vec![("objectClass", set(&["account"])), ("uid", set(&["temp"]))];
        assert_eq!(root.add(TEMP, temp).await.expect("add").rc, 0);
        for _ in 0..2 {
            assert_eq!(base(&mut nslcd, TEMP).await, (0, String::new(), 1));
        }
        assert_eq!(root.modifydn(TEMP, "uid=moved", true, None).await.expect("modrdn").rc, 0);
        assert_eq!(base(&mut nslcd, TEMP).await, (32, PEOPLE.to_string(), 0));
        assert_eq!(base(&mut nslcd, MOVED).await, (0, String::new(), 1));
        assert_eq!(root.delete(MOVED).await.expect("delete").rc, 0);
        assert_eq!(base(&mut nslcd, MOVED).await, (32, PEOPLE.to_string(), 0));
    })
    .await;
}
