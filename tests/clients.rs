//! Workstation and device login through Birch with Debian's real clients: nslcd (libnss-ldapd,
//! libpam-ldapd), SSSD (sssd-ldap) and FreeRADIUS (rlm_ldap), driven by getent, pamtester and
//! radtest/radclient. See tests/clients/support.rs for how they are kept off the host, and
//! docs/clients.md for the configurations (the same ones these tests write).
//!
//! These tests need root and the packages scripts/test installs; without them they fail.

mod common;
#[path = "clients/support.rs"]
mod support;

use common::{Server, ROOT_DN, ROOT_PW};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

/// How long a daemon may take to come up (or SSSD to finish its first enumeration).
const START: Duration = Duration::from_secs(90);

/// Lab users and groups added to the demo campus so that a page size of 4 takes several
/// pages; `lab-a` makes alice a member of a second (supplementary) group.
const EXTRA_LDIF: &str = "\
dn: uid=lab01,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: posixAccount
objectClass: shadowAccount
uid: lab01
cn: Lab User 1
sn: User
uidNumber: 20001
gidNumber: 10002
homeDirectory: /home/lab01
loginShell: /bin/sh

dn: uid=lab02,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: posixAccount
uid: lab02
cn: Lab User 2
sn: User
uidNumber: 20002
gidNumber: 10002
homeDirectory: /home/lab02
loginShell: /bin/sh

dn: uid=lab03,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: posixAccount
uid: lab03
cn: Lab User 3
sn: User
uidNumber: 20003
gidNumber: 10002
homeDirectory: /home/lab03
loginShell: /bin/sh

dn: uid=lab04,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: posixAccount
uid: lab04
cn: Lab User 4
sn: User
uidNumber: 20004
gidNumber: 10002
homeDirectory: /home/lab04
loginShell: /bin/sh

dn: uid=dave,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: posixAccount
uid: dave
cn: Dave Expired
sn: Expired
uidNumber: 20005
gidNumber: 10001
homeDirectory: /home/dave
loginShell: /bin/sh
userPassword: dave-secret
pwdEndTime: 20200101000000Z

dn: cn=lab-a,ou=groups,dc=example,dc=org
objectClass: posixGroup
cn: lab-a
gidNumber: 20001
memberUid: alice
memberUid: lab01

dn: cn=lab-b,ou=groups,dc=example,dc=org
objectClass: posixGroup
cn: lab-b
gidNumber: 20002
memberUid: lab02

dn: cn=lab-c,ou=groups,dc=example,dc=org
objectClass: posixGroup
cn: lab-c
gidNumber: 20003

dn: cn=it-admins,ou=groups,dc=example,dc=org
changetype: modify
add: member
member: uid=dave,ou=people,dc=example,dc=org

dn: uid=chenwei,ou=people,dc=example,dc=org
changetype: modify
add: pwdAccountLockedTime
pwdAccountLockedTime: 000001010000Z

dn: uid=bob,ou=people,dc=example,dc=org
changetype: modify
add: shadowLastChange
shadowLastChange: 100
";

/// Every account `getent passwd` must list (nslcd and SSSD print the same lines).
const PASSWD: &[&str] = &[
    "alice:*:10001:10001:Alice Liddell:/home/alice:/bin/bash",
    "bob:*:10002:10001:Bob Baker:/home/bob:/bin/bash",
    "chenwei:*:10003:10002:陈伟:/home/chenwei:/bin/zsh",
    "dave:*:20005:10001:Dave Expired:/home/dave:/bin/sh",
    "lab01:*:20001:10002:Lab User 1:/home/lab01:/bin/sh",
    "lab02:*:20002:10002:Lab User 2:/home/lab02:/bin/sh",
    "lab03:*:20003:10002:Lab User 3:/home/lab03:/bin/sh",
    "lab04:*:20004:10002:Lab User 4:/home/lab04:/bin/sh",
];

/// Every group `getent group` must list, members sorted (see [`normalise_groups`]).
const GROUPS: &[&str] = &[
    "lab-a:*:20001:alice,lab01",
    "lab-b:*:20002:lab02",
    "lab-c:*:20003:",
    "staff:*:10001:alice,bob",
    "students:*:10002:chenwei",
];

/// The demo campus with TLS (StartTLS on the plain port, LDAPS on another) and the lab
/// entries; the PKI's temporary directory lives as long as the server.
struct Campus {
    server: Server,
    ldaps_port: u16,
    ca_file: PathBuf,
    _pki: tempfile::TempDir,
}

impl Campus {
    /// The TLS configuration lines, the CA file and the LDAPS port, in `pki`.
    fn tls(pki: &Path) -> (String, PathBuf, u16) {
        let (ca_file, cert, key) = lab_pki(pki);
        let ldaps_port = free_port();
        let tls = format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nldaps_listen = \"127.0.0.1:{ldaps_port}\"\n",
            cert.display(),
            key.display()
        );
        (tls, ca_file, ldaps_port)
    }

    /// The demo campus plus [`EXTRA_LDIF`].
    fn start() -> Campus {
        let pki = tempfile::tempdir().expect("tempdir");
        let (tls, ca_file, ldaps_port) = Self::tls(pki.path());
        let server = Server::start_with(&tls, true);
        let ldif = pki.path().join("extra.ldif");
        std::fs::write(&ldif, EXTRA_LDIF).expect("ldif");
        let ldif = ldif.to_string_lossy().into_owned();
        let out = server.ldap_tool("ldapmodify", &["-x", "-a", "-D", ROOT_DN, "-w", ROOT_PW, "-f", &ldif]);
        assert!(out.status.success(), "{}", both(&out));
        Campus { server, ldaps_port, ca_file, _pki: pki }
    }

    /// One attribute of an entry, read as the root DN.
    fn attr(&self, dn: &str, attr: &str) -> Vec<String> {
        let out = self
            .server
            .ldap_tool("ldapsearch", &["-x", "-LLL", "-D", ROOT_DN, "-w", ROOT_PW, "-b", dn, "-s", "base", attr]);
        assert!(out.status.success(), "{}", both(&out));
        let prefix = format!("{attr}: ");
        stdout(&out).lines().filter_map(|l| l.strip_prefix(&prefix).map(String::from)).collect()
    }
}

/// `getent group` lines with their member lists sorted (SSSD and nslcd order them differently).
fn normalise_groups(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| match l.rsplit_once(':') {
            Some((head, members)) => {
                let mut m: Vec<&str> = members.split(',').filter(|s| !s.is_empty()).collect();
                m.sort();
                format!("{head}:{}", m.join(","))
            }
            None => l.to_string(),
        })
        .collect();
    v.sort();
    v
}

/// Checks name lookups through `getent -s <service>` in the namespace.
fn check_lookups(ns: &Namespace, service: &str) {
    let getent = |args: &[&str]| {
        let mut all = vec!["getent", "-s", service];
        all.extend_from_slice(args);
        ns.run(&all, "")
    };
    let o = getent(&["passwd", "alice"]);
    assert_eq!(stdout(&o).trim(), PASSWD[0], "{}", both(&o));
    let o = getent(&["passwd", "10003"]);
    assert_eq!(stdout(&o).trim(), PASSWD[2], "{}", both(&o));
    let o = getent(&["passwd", "nobody-here"]);
    assert_eq!(o.status.code(), Some(2), "an unknown user: {}", both(&o));
    let o = getent(&["group", "staff"]);
    assert_eq!(normalise_groups(&stdout(&o)), vec![GROUPS[3].to_string()], "{}", both(&o));
    let o = getent(&["group", "20002"]);
    assert_eq!(normalise_groups(&stdout(&o)), vec![GROUPS[1].to_string()], "{}", both(&o));
    // Supplementary groups: staff through memberUid, lab-a through memberUid.
    let o = getent(&["initgroups", "alice"]);
    let mut gids: Vec<String> = stdout(&o).split_whitespace().skip(1).map(String::from).collect();
    gids.sort();
    assert_eq!(gids, vec!["10001", "20001"], "{}", both(&o));
    // Full enumeration, page by page (page size 4).
    let o = getent(&["passwd"]);
    assert_eq!(sorted_lines(&stdout(&o)), sorted_lines(&PASSWD.join("\n")), "{}", both(&o));
    let o = getent(&["group"]);
    assert_eq!(normalise_groups(&stdout(&o)), normalise_groups(&GROUPS.join("\n")), "{}", both(&o));
}

/// pamtester `service user ops...` with `input` on standard input, as `uid` (0 = root).
fn pamtester(ns: &Namespace, service: &str, user: &str, ops: &[&str], input: &str, uid: u32) -> std::process::Output {
    let svc = format!("birch-test-{service}");
    let mut args: Vec<String> = Vec::new();
    if uid != 0 {
        args.extend(
            ["setpriv", &format!("--reuid={uid}"), &format!("--regid={uid}"), "--clear-groups"].map(String::from),
        );
    }
    args.extend(["pamtester", "-v", &svc, user].map(String::from));
    args.extend(ops.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ns.run(&refs, input)
}

/// Right, wrong and locked credentials, then a password change and a login with the new one.
fn check_pam(ns: &Namespace, campus: &Campus, service: &str, daemon_log: &Path, locked_says: &str, chauthtok_uid: u32) {
    let o = pamtester(ns, service, "alice", &["authenticate", "acct_mgmt"], "alice-secret\n", 0);
    assert!(o.status.success(), "alice, right password: {}", both(&o));
    let o = pamtester(ns, service, "alice", &["authenticate"], "not-her-password\n", 0);
    assert!(!o.status.success(), "alice, wrong password: {}", both(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Authentication failure"), "{}", both(&o));
    let o = pamtester(ns, service, "chenwei", &["authenticate"], "chenwei-secret\n", 0);
    assert!(!o.status.success(), "chenwei is locked: {}", both(&o));
    wait_for_log(daemon_log, locked_says, Duration::from_secs(5));

    let before = epoch_days();
    let o =
        pamtester(ns, service, "bob", &["chauthtok"], "bob-secret\nbob-new-pass-1\nbob-new-pass-1\n", chauthtok_uid);
    assert!(o.status.success(), "bob changes his password: {}", both(&o));
    let after = epoch_days();
    let o = pamtester(ns, service, "bob", &["authenticate"], "bob-new-pass-1\n", 0);
    assert!(o.status.success(), "bob with the new password: {}", both(&o));
    let o = pamtester(ns, service, "bob", &["authenticate"], "bob-secret\n", 0);
    assert!(!o.status.success(), "bob with the old password: {}", both(&o));
    // The client, bound as bob, wrote shadowLastChange itself (self-service in the campus policy).
    let last: Vec<u64> =
        campus.attr(common::demo::BOB, "shadowLastChange").iter().filter_map(|v| v.parse().ok()).collect();
    assert!(last.len() == 1 && (before..=after).contains(&last[0]), "shadowLastChange {last:?}, today {before}");
}

/// The nslcd configuration: LDAPS, the service account, pages of 4.
fn nslcd_conf(campus: &Campus, pagesize: u32) -> String {
    format!(
        "uri ldaps://127.0.0.1:{}/\nbase dc=example,dc=org\nbinddn cn=nslcd,ou=services,dc=example,dc=org\n\
         bindpw nslcd-secret\npam_authc_search NONE\ntls_reqcert demand\ntls_cacertfile {}\npagesize {pagesize}\n",
        campus.ldaps_port,
        campus.ca_file.display()
    )
}

/// Starts nslcd (foreground, debug log) in a namespace with a private /run and /etc/nslcd.conf.
fn start_nslcd(dir: &Path, conf: &str) -> (Namespace, PathBuf) {
    let (run, conf_file) = (dir.join("run"), dir.join("nslcd.conf"));
    mkdirs(&[(&run, 0o755)]);
    write_private(&conf_file, conf);
    let pam = pam_dir(
        dir,
        &[("nslcd", "auth required pam_ldap.so\naccount required pam_ldap.so\npassword required pam_ldap.so\n")],
    );
    let mut ns = Namespace::new(&[(&run, "/run"), (&conf_file, "/etc/nslcd.conf"), (&pam, "/etc/pam.d")]);
    let log = dir.join("nslcd.log");
    ns.daemon(&["nslcd", "-d"], &log);
    wait_for_path(&run.join("nslcd/socket"), START, "nslcd");
    ns.assert_daemons_alive();
    (ns, log)
}

#[test]
fn nslcd_lookups_logins_and_password_change() {
    require(&["nslcd", "getent", "pamtester", "setpriv"]);
    let campus = Campus::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (ns, log) = start_nslcd(dir.path(), &nslcd_conf(&campus, 4));
    check_lookups(&ns, "ldap");
    check_pam(&ns, &campus, "nslcd", &log, "Account locked", 0);
}

/// The SSSD configuration: StartTLS, the service account, pages of 4, enumeration.
fn sssd_conf(campus: &Campus, page_size: u32, extra: &str) -> String {
    sssd_conf_for(campus.server.port, &campus.ca_file, page_size, extra)
}

/// [`sssd_conf`] for the demo's suffix and service account on `port`, trusting `ca_file`.
fn sssd_conf_for(port: u16, ca_file: &Path, page_size: u32, extra: &str) -> String {
    format!(
        "[sssd]\nservices = nss, pam\ndomains = campus\n\n[nss]\n\n[pam]\n\n[domain/campus]\n\
         id_provider = ldap\nauth_provider = ldap\nchpass_provider = ldap\naccess_provider = permit\n\
         ldap_uri = ldap://127.0.0.1:{}\nldap_search_base = dc=example,dc=org\n\
         ldap_default_bind_dn = cn=nslcd,ou=services,dc=example,dc=org\nldap_default_authtok = nslcd-secret\n\
         ldap_id_use_start_tls = true\nldap_tls_reqcert = demand\nldap_tls_cacert = {}\n\
         ldap_page_size = {page_size}\nenumerate = true\ncache_credentials = false\n\
         ldap_chpass_update_last_change = true\nldap_pwd_policy = none\n{extra}",
        port,
        ca_file.display()
    )
}

/// Starts SSSD (`sssd -i`) in a namespace with private /run, /var/lib/sss, /var/log/sssd
/// and /etc/pam.d, and waits for its first enumeration to finish.
fn start_sssd(dir: &Path, conf: &str, debug: &str, limit: Duration) -> (Namespace, PathBuf) {
    let (run, sss, logs) = (dir.join("run"), dir.join("sss"), dir.join("sssd-logs"));
    let sub = |s: &str| sss.join(s);
    mkdirs(&[
        (&run, 0o755),
        (&logs, 0o700),
        (&sss, 0o755),
        (&sub("db"), 0o700),
        (&sub("pipes"), 0o755),
        (&sub("pipes/private"), 0o700),
        (&sub("mc"), 0o775),
        (&sub("pubconf"), 0o755),
        (&sub("gpo_cache"), 0o755),
        (&sub("deskprofile"), 0o751),
        (&sub("secrets"), 0o700),
    ]);
    let conf_file = dir.join("sssd.conf");
    write_private(&conf_file, conf);
    let pam = pam_dir(
        dir,
        &[("sss", "auth required pam_sss.so\naccount required pam_sss.so\npassword required pam_sss.so\n")],
    );
    let mut ns =
        Namespace::new(&[(&run, "/run"), (&sss, "/var/lib/sss"), (&logs, "/var/log/sssd"), (&pam, "/etc/pam.d")]);
    let log = dir.join("sssd.log");
    let conf_arg = conf_file.to_string_lossy().into_owned();
    ns.daemon(&["sssd", "-i", "-c", &conf_arg, "--logger=stderr", "-d", debug], &log);
    wait_for_log(&log, "Task [Enumeration [id] of campus]: finished successfully", limit);
    ns.assert_daemons_alive();
    (ns, log)
}

#[test]
fn sssd_lookups_logins_and_password_change() {
    require(&["sssd", "getent", "pamtester", "setpriv"]);
    let campus = Campus::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (ns, log) = start_sssd(dir.path(), &sssd_conf(&campus, 4, ""), "0x3ff0", START);
    check_lookups(&ns, "sss");
    // pam_sss refuses password changes requested by root ("Password reset by root is not
    // supported"): the user changes it, as on a workstation.
    check_pam(&ns, &campus, "sss", &log, "error [Account locked]", 65534);
}

/// A self-contained FreeRADIUS configuration: one client (127.0.0.1), rlm_ldap bound as the
/// service account, users found by uid, groups checked by `member=<DN>` or `memberUid`.
/// Device administrators (NAS-Identifier other than `wifi`) must be in `it-admins`
/// (groupOfNames, member); Wi-Fi users in `staff` (posixGroup, memberUid). The password is
/// checked by binding as the user, so Birch's password policy (locks, expiry) applies.
fn radiusd_conf(dir: &Path, ldap_port: u16, radius_port: u16) -> String {
    let d = dir.display();
    format!(
        r#"prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {d}
raddbdir = {d}
radacctdir = {d}
name = freeradius
confdir = {d}
modconfdir = {d}
run_dir = {d}
db_dir = {d}
libdir = /usr/lib/freeradius
pidfile = {d}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {{
	destination = stderr
	auth = yes
}}
security {{
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = no
}}
client localhost {{
	ipaddr = 127.0.0.1
	secret = birch-radius-secret
}}
thread pool {{
	start_servers = 1
	max_servers = 2
	min_spare_servers = 1
	max_spare_servers = 2
	max_requests_per_server = 0
}}
modules {{
	always reject {{
		rcode = reject
	}}
	ldap {{
		server = 'ldap://127.0.0.1:{ldap_port}'
		identity = 'cn=nslcd,ou=services,dc=example,dc=org'
		password = 'nslcd-secret'
		base_dn = 'dc=example,dc=org'
		user {{
			base_dn = 'ou=people,dc=example,dc=org'
			filter = "(&(objectClass=posixAccount)(uid=%{{%{{Stripped-User-Name}}:-%{{User-Name}}}}))"
		}}
		group {{
			base_dn = 'ou=groups,dc=example,dc=org'
			filter = '(|(objectClass=posixGroup)(objectClass=groupOfNames))'
			name_attribute = cn
			membership_filter = "(|(member=%{{control:LDAP-UserDn}})(memberUid=%{{%{{Stripped-User-Name}}:-%{{User-Name}}}}))"
			cacheable_name = no
			cacheable_dn = no
		}}
		options {{
			chase_referrals = no
			res_timeout = 10
			srv_timelimit = 5
			net_timeout = 3
		}}
		pool {{
			start = 1
			min = 1
			max = 4
			spare = 1
			uses = 0
			lifetime = 0
			idle_timeout = 60
			retry_delay = 1
		}}
	}}
}}
server default {{
	listen {{
		type = auth
		ipaddr = 127.0.0.1
		port = {radius_port}
	}}
	authorize {{
		ldap
		if (!ok && !updated) {{
			reject
		}}
		if (&NAS-Identifier && &NAS-Identifier == "wifi") {{
			if (!(LDAP-Group == "staff")) {{
				reject
			}}
		}}
		elsif (!(LDAP-Group == "it-admins")) {{
			reject
		}}
		update control {{
			&Auth-Type := ldap
		}}
	}}
	authenticate {{
		Auth-Type ldap {{
			ldap
		}}
	}}
}}
"#
    )
}

#[test]
fn freeradius_device_and_wifi_logins() {
    require(&["freeradius", "radtest", "radclient"]);
    let campus = Campus::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_udp_port();
    std::fs::write(dir.path().join("radiusd.conf"), radiusd_conf(dir.path(), campus.server.port, port))
        .expect("radiusd.conf");
    // No private paths needed: the namespace only gives radiusd the same life cycle as the others.
    let mut ns = Namespace::new(&[]);
    let log = dir.path().join("radiusd.log");
    let conf_dir = dir.path().to_string_lossy().into_owned();
    ns.daemon(&["freeradius", "-f", "-X", "-d", &conf_dir], &log);
    wait_for_log(&log, "Ready to process requests", START);
    let server = format!("127.0.0.1:{port}");
    let radtest = |user: &str, pw: &str| {
        let o = ns.run(&["radtest", user, pw, &server, "0", "birch-radius-secret"], "");
        stdout(&o)
    };
    let cases = [
        ("alice", "alice-secret", "Access-Accept", "an IT admin"),
        ("alice", "not-her-password", "Access-Reject", "a wrong password"),
        ("bob", "bob-secret", "Access-Reject", "not in it-admins"),
        ("dave", "dave-secret", "Access-Reject", "in it-admins, but expired (pwdEndTime)"),
        ("chenwei", "chenwei-secret", "Access-Reject", "locked and not an admin"),
        ("alice)(uid=*", "alice-secret", "Access-Reject", "a filter injection"),
        ("*", "alice-secret", "Access-Reject", "a wildcard user name"),
        ("nobody", "x", "Access-Reject", "an unknown user"),
    ];
    for (user, pw, want, why) in cases {
        let out = radtest(user, pw);
        assert!(out.contains(&format!("Received {want}")), "{user} ({why}): {out}");
    }
    // Wi-Fi: membership of the posixGroup staff through memberUid.
    let radclient = |user: &str, pw: &str| {
        let mut c = ns.command(&["radclient", &server, "auth", "birch-radius-secret"]);
        c.env("LC_ALL", "C");
        let o = ns
            .run_command(c, &format!("User-Name = \"{user}\", User-Password = \"{pw}\", NAS-Identifier = \"wifi\"\n"));
        format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr))
    };
    for (user, pw, want) in [
        ("bob", "bob-secret", "Access-Accept"),
        ("alice", "alice-secret", "Access-Accept"),
        ("lab01", "x", "Access-Reject"),
    ] {
        let out = radclient(user, pw);
        assert!(out.contains(&format!("Received {want}")), "wifi {user}: {out}");
    }
    ns.assert_daemons_alive();
    // The injection reached Birch escaped (\\29 for the parenthesis), as a uid that matches nothing.
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let searches: Vec<&str> = text.lines().filter(|l| l.contains("(uid=alice")).collect();
    assert!(searches.iter().any(|l| l.contains(r"(uid=alice\")), "{searches:#?}");
    assert!(!searches.iter().any(|l| l.contains("(uid=alice)(uid=*)")), "{searches:#?}");
}

/// The campus of issue #8: 10,000 users and their groups from shared/fixtures/gen_campus_ldif.py
/// (beside the repository, or at $BIRCH_CAMPUS_GEN), imported with `birch import`, enumerated
/// through nslcd and through SSSD with pages of 100: every user exactly once. It takes a few
/// minutes, so it is not part of scripts/test: `cargo test --test clients -- --ignored`.
#[test]
#[ignore = "several minutes: run by hand (cargo test -p birch-server --test clients -- --ignored)"]
fn campus_of_10000_enumerates_through_nslcd_and_sssd() {
    require(&["nslcd", "sssd", "getent", "python3"]);
    const USERS: usize = 10_000;
    let generator = std::env::var("BIRCH_CAMPUS_GEN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/gen_campus_ldif.py"));
    assert!(generator.exists(), "{} is missing (set BIRCH_CAMPUS_GEN)", generator.display());
    let pki = tempfile::tempdir().expect("tempdir");
    let (tls, ca_file, ldaps_port) = Campus::tls(pki.path());
    let mut server = Server::offline(&tls);
    let ldif = pki.path().join("campus.ldif");
    let out = std::process::Command::new("python3")
        .arg(&generator)
        .args(["--users", &USERS.to_string(), "--hash", "ssha", "--base", common::SUFFIX])
        .stdout(std::fs::File::create(&ldif).expect("ldif"))
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", both(&out));
    let out = server.birch_bounded(&["import", ldif.to_str().expect("utf-8")], Duration::from_secs(600));
    assert!(out.status.success(), "import: {}", both(&out));
    server.start_existing();
    let campus = Campus { server, ldaps_port, ca_file, _pki: pki };
    let expected: Vec<String> = (1..=USERS).map(|i| format!("user{i:05}")).collect();
    let users_of = |text: &str| {
        let mut names: Vec<String> = text
            .lines()
            .filter_map(|l| l.split(':').next())
            .filter(|n| n.starts_with("user"))
            .map(String::from)
            .collect();
        names.sort();
        names
    };

    let t = std::time::Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let (ns, _log) = start_nslcd(dir.path(), &nslcd_conf(&campus, 100));
    let o = ns.run(&["getent", "-s", "ldap", "passwd"], "");
    assert!(o.status.success(), "{}", both(&o));
    assert_eq!(users_of(&stdout(&o)), expected, "nslcd: every user exactly once");
    let groups = ns.run(&["getent", "-s", "ldap", "group"], "");
    eprintln!("nslcd: {} users and {} groups in {:?}", USERS, stdout(&groups).lines().count(), t.elapsed());
    drop(ns);

    let t = std::time::Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    // `timeout`: the back end's watchdog interval; storing 10,000 users in SSSD's cache keeps
    // it busy for longer than the default 10 s allows, and the watchdog would kill it.
    // The NSS responder, building the 10,000-line answer from its cache, needs the same.
    let conf = sssd_conf(&campus, 100, "timeout = 300\nldap_enumeration_search_timeout = 1200\n")
        .replace("[nss]\n", "[nss]\ntimeout = 300\n");
    let (ns, log) = start_sssd(dir.path(), &conf, "0x0470", Duration::from_secs(1200));
    let o = ns.run_command(ns.command_for("900", &["getent", "-s", "sss", "passwd"]), "");
    let tail =
        || std::fs::read_to_string(&log).unwrap_or_default().lines().rev().take(80).collect::<Vec<_>>().join("\n");
    assert!(o.status.success(), "{}\n{}", both(&o), tail());
    assert_eq!(users_of(&stdout(&o)), expected, "SSSD: every user exactly once");
    let groups = ns.run_command(ns.command_for("900", &["getent", "-s", "sss", "group"]), "");
    eprintln!("SSSD: {} users and {} groups in {:?}", USERS, stdout(&groups).lines().count(), t.elapsed());
}

/// Everything nslcd, SSSD and pam_ldap send on the wire besides searches, replayed with the
/// ldap3 crate on one connection (no packages needed): the answers docs/clients.md lists.
#[tokio::test(flavor = "multi_thread")]
async fn what_workstation_clients_send() {
    use common::demo::{ALICE, NSLCD, STAFF};
    use common::{bounded, search, OP_TIMEOUT};
    use ldap3::controls::RawControl;
    use ldap3::exop::{PasswordModify, WhoAmI, WhoAmIResp};
    use ldap3::{Mod, Scope};
    use std::collections::HashSet;
    let s = Server::demo();
    bounded(Duration::from_secs(90), async {
        let mut l = common::connect(&s.url()).await;
        // An anonymous rootDSE read before any bind.
        let (e, res) =
            search(&mut l, "", Scope::Base, "(objectClass=*)", &["supportedControl", "supportedExtension"]).await;
        assert_eq!(res.rc, 0);
        let ctrls = &e[0].attrs["supportedControl"];
        for oid in ["1.2.840.113556.1.4.319", "1.3.6.1.4.1.42.2.27.8.5.1"] {
            assert!(ctrls.iter().any(|c| c == oid), "{oid} in {ctrls:?}");
        }
        let exts = &e[0].attrs["supportedExtension"];
        for oid in ["1.3.6.1.4.1.4203.1.11.1", "1.3.6.1.4.1.4203.1.11.3"] {
            assert!(exts.iter().any(|c| c == oid), "{oid} in {exts:?}");
        }
        let whoami = |l: &mut ldap3::Ldap| {
            let mut l = l.clone();
            async move {
                let (r, _) = l.with_timeout(OP_TIMEOUT).extended(WhoAmI).await.expect("whoami").success().expect("rc");
                r.parse::<WhoAmIResp>().authzid
            }
        };
        // The service account, then the user, then back, on the same connection; the user
        // binds with the password policy request control.
        let ppolicy = RawControl { ctype: "1.3.6.1.4.1.42.2.27.8.5.1".into(), crit: false, val: None };
        assert_eq!(l.simple_bind(NSLCD, "nslcd-secret").await.expect("bind").rc, 0);
        assert_eq!(whoami(&mut l).await, format!("dn:{NSLCD}"));
        let res = l.with_controls(ppolicy.clone()).simple_bind(ALICE, "alice-secret").await.expect("bind");
        assert_eq!(res.rc, 0);
        assert!(res.ctrls.iter().any(|c| c.1.ctype == ppolicy.ctype), "a ppolicy response control");
        assert_eq!(whoami(&mut l).await, format!("dn:{ALICE}"));
        // Password Modify: new password only (nslcd), then old + new (SSSD), then the user's
        // own shadowLastChange.
        let pm = PasswordModify { user_id: None, old_pass: None, new_pass: Some("alice-second-pw") };
        assert_eq!(l.with_controls(ppolicy.clone()).extended(pm).await.expect("passmod").1.rc, 0);
        let pm = PasswordModify {
            user_id: Some(ALICE),
            old_pass: Some("alice-second-pw"),
            new_pass: Some("alice-third-pw"),
        };
        assert_eq!(l.with_controls(ppolicy.clone()).extended(pm).await.expect("passmod").1.rc, 0);
        let day = epoch_days().to_string();
        let res = l.modify(ALICE, vec![Mod::Replace("shadowLastChange", HashSet::from([day.as_str()]))]).await;
        assert_eq!(res.expect("modify").rc, 0);
        assert_eq!(l.simple_bind(NSLCD, "nslcd-secret").await.expect("bind").rc, 0);
        assert_eq!(whoami(&mut l).await, format!("dn:{NSLCD}"));
        // Abandon of a search that already finished: harmless, the connection goes on.
        let (_, res) = search(&mut l, SUFFIX_PEOPLE, Scope::Subtree, "(uid=alice)", &["uid"]).await;
        assert_eq!(res.rc, 0);
        let finished = l.last_id();
        l.abandon(finished).await.expect("abandon");
        l.abandon(finished + 1000).await.expect("abandon of an id never used");
        // Filters nslcd and SSSD send.
        let dns = |entries: Vec<ldap3::SearchEntry>| entries.into_iter().map(|e| e.dn).collect::<Vec<_>>();
        for (filter, want) in [
            ("(&(objectClass=posixAccount)(uid=alice))", vec![ALICE]),
            ("(&(objectClass=posixAccount)(uidNumber=10001))", vec![ALICE]),
            (&format!("(&(objectClass=posixGroup)(|(memberUid=alice)(member={ALICE})))"), vec![STAFF]),
            ("(&(objectClass=sudoRole)(|(sudoUser=alice)(sudoUser=ALL)))", vec![]),
            ("(&(objectClass=ipHost)(cn=printer1))", vec![]),
            ("(&(objectClass=ipService)(ipServicePort=22))", vec![]),
            ("(&(objectClass=nisNetgroup)(cn=*))", vec![]),
            ("(&(objectClass=automountMap)(automountMapName=auto.master))", vec![]),
        ] {
            let (e, res) = search(&mut l, SUFFIX, Scope::Subtree, filter, &["cn"]).await;
            assert_eq!((res.rc, dns(e)), (0, want.iter().map(|s| s.to_string()).collect()), "{filter}");
        }
        let (e, res) =
            search(&mut l, SUFFIX, Scope::Subtree, "(&(objectClass=posixAccount)(!(uidNumber=0)))", &["1.1"]).await;
        assert_eq!((res.rc, e.len()), (0, 3));
        assert!(e.iter().all(|e| e.attrs.is_empty() && e.bin_attrs.is_empty()), "1.1: no attributes");
        // SSSD's attribute list: ~40 names, many unknown, in mixed case.
        let attrs = [
            "objectClass",
            "UID",
            "userPassword",
            "uidnumber",
            "GIDNUMBER",
            "gecos",
            "homeDirectory",
            "loginshell",
            "krbPrincipalName",
            "cn",
            "modifyTimestamp",
            "entryUSN",
            "shadowLastChange",
            "shadowMin",
            "shadowMax",
            "shadowWarning",
            "shadowInactive",
            "shadowExpire",
            "shadowFlag",
            "krbLastPwdChange",
            "krbPasswordExpiration",
            "pwdAttribute",
            "authorizedService",
            "accountExpires",
            "userAccountControl",
            "nsAccountLock",
            "host",
            "rhost",
            "loginDisabled",
            "loginExpirationTime",
            "loginAllowedTimeMap",
            "sshPublicKey",
            "userCertificate;binary",
            "mail",
            "memberOf",
            "ipaUniqueID",
            "nsUniqueId",
            "objectSID",
            "PrimaryGroupID",
            "authorizedServices",
        ];
        let (e, res) = search(&mut l, ALICE, Scope::Base, "(objectClass=*)", &attrs).await;
        assert_eq!((res.rc, e.len()), (0, 1));
        let mut got: Vec<&str> = e[0].attrs.keys().map(String::as_str).collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                "cn",
                "gidNumber",
                "homeDirectory",
                "loginShell",
                "mail",
                "memberOf",
                "modifyTimestamp",
                "objectClass",
                "shadowLastChange",
                "uid",
                "uidNumber"
            ]
        );
        // A base search on the user's entry for the attribute `dn` (nslcd): the entry, no `dn`.
        let (e, res) = search(&mut l, ALICE, Scope::Base, "(objectClass=*)", &["dn"]).await;
        assert_eq!((res.rc, dns(e)), (0, vec![ALICE.to_string()]));
        // The dereference control: ignored when non-critical, 12 when critical.
        let deref = |crit| RawControl { ctype: "1.3.6.1.4.1.4203.666.5.16".into(), crit, val: None };
        let r = l.with_controls(deref(false)).search(STAFF, Scope::Base, "(objectClass=*)", vec!["cn"]).await;
        let ldap3::SearchResult(e, res) = r.expect("search");
        assert_eq!((res.rc, e.len()), (0, 1));
        let r = l.with_controls(deref(true)).search(STAFF, Scope::Base, "(objectClass=*)", vec!["cn"]).await;
        assert_eq!(r.expect("search").1.rc, 12);
    })
    .await;
}

/// The demo's people subtree.
const SUFFIX_PEOPLE: &str = common::demo::PEOPLE;
/// The demo suffix.
const SUFFIX: &str = common::SUFFIX;

/// The directory loaded into the server of [`the_packaged_example_config_serves_nslcd_and_sssd`]:
/// a person with a cleartext password set by the administrator (so `must_change` applies), a
/// posix group and the workstation service account.
const EXAMPLE_LDIF: &str = "\
dn: dc=campus,dc=example
objectClass: dcObject
objectClass: organization
dc: campus
o: Campus

dn: ou=people,dc=campus,dc=example
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=campus,dc=example
objectClass: organizationalUnit
ou: groups

dn: ou=services,dc=campus,dc=example
objectClass: organizationalUnit
ou: services

dn: uid=pat,ou=people,dc=campus,dc=example
objectClass: inetOrgPerson
objectClass: posixAccount
objectClass: shadowAccount
uid: pat
cn: Pat Example
sn: Example
uidNumber: 30001
gidNumber: 30001
homeDirectory: /home/pat
loginShell: /bin/bash
shadowLastChange: 100

dn: cn=pat,ou=groups,dc=campus,dc=example
objectClass: posixGroup
cn: pat
gidNumber: 30001

dn: cn=nslcd,ou=services,dc=campus,dc=example
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: nslcd
userPassword: nslcd-service-secret
";

/// `packaging/birch.toml.example` as shipped, with only what a test must change: the
/// listeners (free loopback ports), the data directory, the root password file and the TLS
/// certificate and key (a lab CA in `dir`). Returns the config text, the LDAPS port and the
/// CA file.
fn example_config(s: &Server, dir: &Path) -> (String, u16, PathBuf) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/birch.toml.example"))
        .expect("packaging/birch.toml.example");
    let mut cfg: toml::Table = text.parse().expect("the example is TOML");
    let (ca_file, cert, key) = lab_pki(dir);
    let root_pw = dir.join("root.pw");
    write_private(&root_pw, &format!("{ROOT_PW}\n"));
    let ldaps_port = free_port();
    let path = |p: &Path| toml::Value::String(p.display().to_string());
    cfg.insert("listen".into(), format!("127.0.0.1:{}", s.port).into());
    cfg.insert("data_dir".into(), path(&s.data_dir()));
    cfg.insert("root_password_file".into(), path(&root_pw));
    let tls = cfg.get_mut("tls").and_then(|t| t.as_table_mut()).expect("the example has [tls]");
    tls.insert("cert_file".into(), path(&cert));
    tls.insert("key_file".into(), path(&key));
    tls.insert("ldaps_listen".into(), format!("127.0.0.1:{ldaps_port}").into());
    (toml::to_string(&cfg).expect("TOML"), ldaps_port, ca_file)
}

/// The shipped example configuration works with the documented workstation clients: nslcd
/// (LDAPS, the service account) looks the user up, `passwd` through pam_ldap changes the
/// password and then writes `shadowLastChange` bound as the user; SSSD's sequence (StartTLS,
/// Password Modify with the old password, `shadowLastChange`) succeeds as well.
#[test]
fn the_packaged_example_config_serves_nslcd_and_sssd() {
    require(&["nslcd", "getent", "pamtester", "ldapsearch"]);
    const PAT: &str = "uid=pat,ou=people,dc=campus,dc=example";
    const ROOT: &str = "cn=admin,dc=campus,dc=example";
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Server::offline("");
    let (config, ldaps_port, ca_file) = example_config(&s, dir.path());
    s.write_config_text(&config);
    let ldif = dir.path().join("campus.ldif");
    std::fs::write(&ldif, EXAMPLE_LDIF).expect("ldif");
    let o = s.birch_bounded(&["import", &ldif.to_string_lossy()], Duration::from_secs(60));
    assert!(o.status.success(), "birch import: {}", both(&o));
    s.start_existing();
    // The administrator sets pat's first password over LDAPS (the example requires TLS).
    let ldaps = format!("ldaps://127.0.0.1:{ldaps_port}");
    let ldap = |tool: &str, args: &[&str]| {
        std::process::Command::new(tool)
            .args(["-x", "-H", &ldaps])
            .args(args)
            .env("LDAPTLS_CACERT", &ca_file)
            .env("LDAPTLS_REQCERT", "demand")
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"))
    };
    let o = ldap("ldappasswd", &["-D", ROOT, "-w", ROOT_PW, "-s", "Pat-first-pass-1", PAT]);
    assert!(o.status.success(), "the admin sets pat's password: {}", both(&o));

    // docs/clients.md's nslcd.conf: `pam_authc_search NONE`, or a user whose password was
    // reset (pwdReset, `must_change`) cannot authenticate to change it (nslcd's search after
    // the bind is refused until then, as slapd refuses it).
    let conf = format!(
        "uri {ldaps}/\nbase dc=campus,dc=example\nbinddn cn=nslcd,ou=services,dc=campus,dc=example\n\
         bindpw nslcd-service-secret\npam_authc_search NONE\ntls_reqcert demand\ntls_cacertfile {}\n",
        ca_file.display()
    );
    let (ns, log) = start_nslcd(dir.path(), &conf);
    let log = || std::fs::read_to_string(&log).unwrap_or_default();
    let o = ns.run(&["getent", "-s", "ldap", "passwd", "pat"], "");
    assert_eq!(stdout(&o).trim(), "pat:*:30001:30001:Pat Example:/home/pat:/bin/bash", "{}", both(&o));
    let before = epoch_days();
    let o =
        pamtester(&ns, "nslcd", "pat", &["chauthtok"], "Pat-first-pass-1\nPat-second-pass-2\nPat-second-pass-2\n", 0);
    assert!(o.status.success(), "pat changes the password through pam_ldap: {}\n{}", both(&o), log());
    let o = pamtester(&ns, "nslcd", "pat", &["authenticate", "acct_mgmt"], "Pat-second-pass-2\n", 0);
    assert!(o.status.success(), "pat logs in with the new password: {}", both(&o));
    let o = pamtester(&ns, "nslcd", "pat", &["authenticate"], "Pat-first-pass-1\n", 0);
    assert!(!o.status.success(), "the old password is refused: {}", both(&o));
    let o = ldap("ldapsearch", &["-LLL", "-D", ROOT, "-w", ROOT_PW, "-b", PAT, "-s", "base", "shadowLastChange"]);
    let last: Vec<u64> =
        stdout(&o).lines().filter_map(|l| l.strip_prefix("shadowLastChange: ")?.parse().ok()).collect();
    assert!(last.len() == 1 && last[0] >= before, "pam_ldap wrote shadowLastChange {last:?}: {}", both(&o));

    // SSSD (StartTLS on the plain port), after another reset by the administrator.
    let o = ldap("ldappasswd", &["-D", ROOT, "-w", ROOT_PW, "-s", "Pat-reset-pass-3", PAT]);
    assert!(o.status.success(), "the admin resets pat's password: {}", both(&o));
    drop(ns);
    let sssd_dir = dir.path().join("sssd");
    std::fs::create_dir(&sssd_dir).expect("mkdir");
    let conf = sssd_conf_for(s.port, &ca_file, 100, "")
        .replace("dc=example,dc=org", "dc=campus,dc=example")
        .replace("ldap_default_authtok = nslcd-secret", "ldap_default_authtok = nslcd-service-secret");
    let (ns, log) = start_sssd(&sssd_dir, &conf, "0x3ff0", START);
    let log = || std::fs::read_to_string(&log).unwrap_or_default();
    let o = ns.run(&["getent", "-s", "sss", "passwd", "pat"], "");
    assert_eq!(stdout(&o).trim(), "pat:*:30001:30001:Pat Example:/home/pat:/bin/bash", "{}", both(&o));
    let o =
        pamtester(&ns, "sss", "pat", &["chauthtok"], "Pat-reset-pass-3\nPat-fourth-pass-4\nPat-fourth-pass-4\n", 30001);
    assert!(o.status.success(), "pat changes the reset password through pam_sss: {}\n{}", both(&o), log());
    let o = pamtester(&ns, "sss", "pat", &["authenticate", "acct_mgmt"], "Pat-fourth-pass-4\n", 0);
    assert!(o.status.success(), "pat logs in with the new password: {}", both(&o));
    drop(ns);

    // SSSD's sequence on the plain port with StartTLS, replayed with ldap3.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(common::bounded(Duration::from_secs(60), async {
        use ldap3::exop::PasswordModify;
        use ldap3::{LdapConnAsync, LdapConnSettings, Mod};
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        use std::collections::HashSet;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(&ca_file).expect("CA")).expect("CA");
        let tls =
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        let settings = LdapConnSettings::new()
            .set_conn_timeout(Duration::from_secs(10))
            .set_config(std::sync::Arc::new(tls))
            .set_starttls(true);
        let (conn, mut l) = LdapConnAsync::with_settings(settings, &s.url()).await.expect("StartTLS");
        ldap3::drive!(conn);
        assert_eq!(l.simple_bind(PAT, "Pat-fourth-pass-4").await.expect("bind").rc, 0);
        let pm = PasswordModify {
            user_id: Some(PAT),
            old_pass: Some("Pat-fourth-pass-4"),
            new_pass: Some("Pat-fifth-pass-5"),
        };
        assert_eq!(l.extended(pm).await.expect("passmod").1.rc, 0, "Password Modify as pat");
        let day = epoch_days().to_string();
        let res = l.modify(PAT, vec![Mod::Replace("shadowLastChange", HashSet::from([day.as_str()]))]).await;
        assert_eq!(res.expect("modify").rc, 0, "pat writes shadowLastChange");
        assert_eq!(l.simple_bind(PAT, "Pat-fifth-pass-5").await.expect("bind").rc, 0, "the new password binds");
        assert_eq!(l.simple_bind(PAT, "Pat-fourth-pass-4").await.expect("bind").rc, 49, "the old one does not");
    }));
}

/// Two multi-provider servers (issue #28) with TLS, the demo campus loaded on the first and
/// replicated to the second.
struct ProviderPair {
    a: Server,
    b: Server,
    ca_file: PathBuf,
    ldaps: [u16; 2],
    _pki: tempfile::TempDir,
}

impl ProviderPair {
    fn start() -> ProviderPair {
        let pki = tempfile::tempdir().expect("tempdir");
        let (tls_a, ca_file, ldaps_a) = Campus::tls(pki.path());
        let ldaps_b = common::free_port();
        let tls_b = tls_a.replace(&format!("127.0.0.1:{ldaps_a}"), &format!("127.0.0.1:{ldaps_b}"));
        let repl = |sid: u16, peer: &str| {
            format!(
                "\n[replication]\nserver_id = {sid}\nretry_initial_ms = 100\nretry_max_ms = 500\n[[replication.providers]]\nurl = \"{peer}\"\nbind_dn = \"{ROOT_DN}\"\nbind_password = \"{ROOT_PW}\"\n"
            )
        };
        let mut b = Server::offline(&tls_b);
        let a = Server::start_with(&format!("{tls_a}{}", repl(1, &b.url())), true);
        b.write_config_text(&format!("{}{}", b.default_config_text(), repl(2, &a.url())));
        b.start_existing();
        let pair = ProviderPair { a, b, ca_file, ldaps: [ldaps_a, ldaps_b], _pki: pki };
        pair.wait_for(1, common::demo::BOB, "bob-secret", "the demo campus did not reach the second server");
        pair
    }

    /// Whether `dn` binds with `pw` on server 0 (a) or 1 (b).
    fn binds(&self, which: usize, dn: &str, pw: &str) -> bool {
        let s = if which == 0 { &self.a } else { &self.b };
        s.ldap_tool("ldapwhoami", &["-x", "-D", dn, "-w", pw]).status.success()
    }

    fn wait_for(&self, which: usize, dn: &str, pw: &str, what: &str) {
        let deadline = std::time::Instant::now() + START;
        while !self.binds(which, dn, pw) {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// pamtester until it succeeds (a client notices a dead server and fails over), at most
/// [`START`].
fn pam_until_ok(ns: &Namespace, service: &str, user: &str, ops: &[&str], input: &str, uid: u32, what: &str) {
    let deadline = std::time::Instant::now() + START;
    loop {
        let o = pamtester(ns, service, user, ops, input, uid);
        if o.status.success() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {}", both(&o));
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// nslcd with `uri a b`: with the first server killed, logins and a password change go to
/// the second; the first, restarted, has the new password.
#[test]
fn nslcd_with_two_providers_logs_in_and_changes_passwords_while_one_is_down() {
    require(&["nslcd", "getent", "pamtester", "setpriv"]);
    let mut pair = ProviderPair::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = format!(
        "uri ldaps://127.0.0.1:{}/ ldaps://127.0.0.1:{}/\nbase dc=example,dc=org\n\
         binddn cn=nslcd,ou=services,dc=example,dc=org\nbindpw nslcd-secret\npam_authc_search NONE\n\
         tls_reqcert demand\ntls_cacertfile {}\nbind_timelimit 3\nreconnect_retrytime 1\n",
        pair.ldaps[0],
        pair.ldaps[1],
        pair.ca_file.display()
    );
    let (ns, _log) = start_nslcd(dir.path(), &conf);
    let o = pamtester(&ns, "nslcd", "alice", &["authenticate"], "alice-secret\n", 0);
    assert!(o.status.success(), "alice with both servers up: {}", both(&o));
    pair.a.kill9();
    pam_until_ok(
        &ns,
        "nslcd",
        "alice",
        &["authenticate", "acct_mgmt"],
        "alice-secret\n",
        0,
        "alice, first server down",
    );
    let chpw = "bob-secret\nbob-new-pass-1\nbob-new-pass-1\n";
    pam_until_ok(&ns, "nslcd", "bob", &["chauthtok"], chpw, 0, "bob changes his password on the second server");
    pam_until_ok(&ns, "nslcd", "bob", &["authenticate"], "bob-new-pass-1\n", 0, "bob with the new password");
    assert!(pair.binds(1, common::demo::BOB, "bob-new-pass-1"));
    // The first server comes back and catches up: the new password holds there too.
    pair.a.start_existing();
    pair.wait_for(0, common::demo::BOB, "bob-new-pass-1", "the first server did not catch up");
}

/// SSSD with `ldap_uri = a, b`: the same, through pam_sss (the user changes the password).
#[test]
fn sssd_with_two_providers_logs_in_and_changes_passwords_while_one_is_down() {
    require(&["sssd", "getent", "pamtester", "setpriv"]);
    let mut pair = ProviderPair::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = sssd_conf_for(pair.a.port, &pair.ca_file, 4, "").replace(
        &format!("ldap_uri = ldap://127.0.0.1:{}", pair.a.port),
        &format!("ldap_uri = ldap://127.0.0.1:{}, ldap://127.0.0.1:{}", pair.a.port, pair.b.port),
    );
    let (ns, _log) = start_sssd(dir.path(), &conf, "0x3ff0", START);
    let o = pamtester(&ns, "sss", "alice", &["authenticate"], "alice-secret\n", 0);
    assert!(o.status.success(), "alice with both servers up: {}", both(&o));
    pair.a.kill9();
    pam_until_ok(&ns, "sss", "alice", &["authenticate", "acct_mgmt"], "alice-secret\n", 0, "alice, first server down");
    let chpw = "bob-secret\nbob-new-pass-1\nbob-new-pass-1\n";
    pam_until_ok(&ns, "sss", "bob", &["chauthtok"], chpw, 65534, "bob changes his password on the second server");
    pam_until_ok(&ns, "sss", "bob", &["authenticate"], "bob-new-pass-1\n", 0, "bob with the new password");
    assert!(pair.binds(1, common::demo::BOB, "bob-new-pass-1"));
    pair.a.start_existing();
    pair.wait_for(0, common::demo::BOB, "bob-new-pass-1", "the first server did not catch up");
}
