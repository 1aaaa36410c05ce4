//! Black-box transport security tests: LDAPS and StartTLS with ldap-utils and ldap3 over
//! rustls, `require_tls`, StartTLS sequencing, SASL EXTERNAL with client certificates,
//! certificate reload, garbage on either port, start-up errors. Certificates are made at
//! test time with rcgen.
mod common;

use common::demo::{ALICE, BOB};
use common::{bounded, Server, ROOT_DN, ROOT_PW};
use ldap3::exop::{Exop, WhoAmI};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope};
use ldap3_proto::proto::{LdapExtendedRequest, LdapMsg, LdapOp, LdapResultCode};
use ldap3_proto::LdapCodec;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Encoder, Framed};

const LIMIT: Duration = Duration::from_secs(60);
const STARTTLS_OID: &str = "1.3.6.1.4.1.1466.20037";
const OID_UID: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 1];

// ---------------------------------------------------------------------------------------
// A lab PKI made with rcgen
// ---------------------------------------------------------------------------------------

/// A certificate and its key, in DER and as PEM files.
struct Identity {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl Identity {
    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }
}

/// A CA, two server certificates (for reload) and client certificates, in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertificateDer<'static>,
    ca_file: PathBuf,
    server: Identity,
    server2: Identity,
    /// Subject UID=alice,OU=people,DC=example,DC=org: the subject rule maps it to alice.
    alice: Identity,
    /// CN=printer1,O=Campus: the search rule maps it to the device entry.
    printer: Identity,
    /// CN=ops-laptop,O=Campus: the map rule maps it to bob.
    laptop: Identity,
    /// CN=nobody,O=Campus: maps to nothing.
    stranger: Identity,
    /// Issued by a CA the server does not trust.
    rogue: Identity,
}

fn issue(
    dir: &Path,
    name: &str,
    subject: &[(DnType, &str)],
    sans: &[&str],
    server: bool,
    ca: &CertifiedIssuer<'_, KeyPair>,
) -> Identity {
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    for (t, v) in subject {
        params.distinguished_name.push(t.clone(), *v);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages =
        vec![if server { ExtendedKeyUsagePurpose::ServerAuth } else { ExtendedKeyUsagePurpose::ClientAuth }];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, ca).expect("sign");
    let (cert_file, key_file) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert_file, cert.pem()).expect("write cert");
    std::fs::write(&key_file, key.serialize_pem()).expect("write key");
    Identity { cert: cert.der().clone(), key: key.serialize_der(), cert_file, key_file }
}

/// A CA and its key in PEM.
fn new_ca(cn: &str) -> (CertifiedIssuer<'static, KeyPair>, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("key");
    let pem = key.serialize_pem();
    (CertifiedIssuer::self_signed(params, key).expect("CA"), pem)
}

/// A client certificate for `subject` (openssl syntax, e.g. `/DC=org/DC=example/UID=x`)
/// made with the openssl command: rcgen cannot repeat an attribute type (two DCs).
fn issue_with_openssl(dir: &Path, name: &str, subject: &str) -> Identity {
    let key = KeyPair::generate().expect("key");
    let (cert_file, key_file) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let (csr, ext) = (dir.join(format!("{name}.csr")), dir.join("client.cnf"));
    std::fs::write(&key_file, key.serialize_pem()).expect("write key");
    std::fs::write(&ext, "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n")
        .expect("write ext");
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new("openssl").args(args).output().expect("openssl (apt-get install openssl)");
        assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    run(&[
        os("req"),
        os("-new"),
        os("-key"),
        key_file.as_os_str(),
        os("-subj"),
        subject.as_ref(),
        os("-out"),
        csr.as_os_str(),
    ]);
    let (ca, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
    run(&[
        os("x509"),
        os("-req"),
        os("-in"),
        csr.as_os_str(),
        os("-CA"),
        ca.as_os_str(),
        os("-CAkey"),
        ca_key.as_os_str(),
        os("-set_serial"),
        os("7"),
        os("-days"),
        os("2"),
        os("-extfile"),
        ext.as_os_str(),
        os("-out"),
        cert_file.as_os_str(),
    ]);
    let cert = CertificateDer::from_pem_file(&cert_file).expect("read cert");
    Identity { cert, key: key.serialize_der(), cert_file, key_file }
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let (ca, ca_key) = new_ca("Birch Test CA");
        let ca_file = d.join("ca.crt");
        std::fs::write(&ca_file, ca.pem()).expect("write CA");
        std::fs::write(d.join("ca.key"), ca_key).expect("write CA key");
        let sans = ["localhost", "127.0.0.1"];
        let server = issue(d, "server", &[(DnType::CommonName, "birch-one")], &sans, true, &ca);
        let server2 = issue(d, "server2", &[(DnType::CommonName, "birch-two")], &sans, true, &ca);
        let alice = issue_with_openssl(d, "alice", "/DC=org/DC=example/OU=people/UID=alice");
        let campus = |cn| [(DnType::OrganizationName, "Campus"), (DnType::CommonName, cn)];
        let printer = issue(d, "printer", &campus("printer1"), &[], false, &ca);
        let laptop = issue(d, "laptop", &campus("ops-laptop"), &[], false, &ca);
        let stranger = issue(d, "stranger", &campus("nobody"), &[], false, &ca);
        let alice_like =
            [(DnType::OrganizationalUnitName, "people"), (DnType::CustomDnType(OID_UID.to_vec()), "alice")];
        let rogue = issue(d, "rogue", &alice_like, &[], false, &new_ca("Rogue CA").0);
        Pki { ca: ca.der().clone(), dir, ca_file, server, server2, alice, printer, laptop, stranger, rogue }
    }

    /// The `[tls]` section for this PKI, plus `more` lines (ldaps_listen, rules...).
    fn tls_section(&self, more: &str) -> String {
        format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nca_file = \"{}\"\n{more}\n",
            self.dir.path().join("live.crt").display(),
            self.dir.path().join("live.key").display(),
            self.ca_file.display()
        )
    }

    /// Makes `id` the certificate the server's config names (live.crt / live.key).
    fn install(&self, id: &Identity) {
        std::fs::copy(&id.cert_file, self.dir.path().join("live.crt")).expect("copy cert");
        std::fs::copy(&id.key_file, self.dir.path().join("live.key")).expect("copy key");
    }

    /// A rustls client configuration trusting the lab CA, with an optional client cert.
    fn client(&self, id: Option<&Identity>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).expect("root");
        let b = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        Arc::new(match id {
            Some(id) => b.with_client_auth_cert(vec![id.cert.clone()], id.key_der()).expect("client cert"),
            None => b.with_no_client_auth(),
        })
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// A demo server with the PKI's server certificate, StartTLS and an LDAPS listener.
fn tls_server(pki: &Pki, more_tls: &str, top: &str) -> (Server, u16) {
    pki.install(&pki.server);
    let ldaps = free_port();
    let extra = format!("{top}\n{}", pki.tls_section(&format!("ldaps_listen = \"127.0.0.1:{ldaps}\"\n{more_tls}")));
    (Server::start_with(&extra, true), ldaps)
}

// ---------------------------------------------------------------------------------------
// Client helpers
// ---------------------------------------------------------------------------------------

/// An ldap3 connection over LDAPS (`ldaps = Some(port)`) or StartTLS on the plain port.
async fn tls_connect(s: &Server, ldaps: Option<u16>, config: Arc<rustls::ClientConfig>) -> ldap3::Ldap {
    let settings = LdapConnSettings::new()
        .set_conn_timeout(Duration::from_secs(10))
        .set_config(config)
        .set_starttls(ldaps.is_none());
    let url = match ldaps {
        Some(p) => format!("ldaps://127.0.0.1:{p}"),
        None => s.url(),
    };
    let (conn, ldap) = LdapConnAsync::with_settings(settings, &url).await.expect("TLS connect");
    ldap3::drive!(conn);
    ldap
}

async fn whoami(l: &mut ldap3::Ldap) -> String {
    let (exop, res) = l.with_timeout(common::OP_TIMEOUT).extended(WhoAmI).await.expect("whoami").success().expect("rc");
    assert_eq!(res.rc, 0);
    String::from_utf8(exop.val.unwrap_or_default()).expect("utf-8")
}

async fn simple_bind_rc(l: &mut ldap3::Ldap, dn: &str, pw: &str) -> u32 {
    l.with_timeout(common::OP_TIMEOUT).simple_bind(dn, pw).await.expect("bind").rc
}

async fn start_tls_rc(l: &mut ldap3::Ldap) -> u32 {
    let exop = Exop { name: Some(STARTTLS_OID.into()), val: None };
    l.with_timeout(common::OP_TIMEOUT).extended(exop).await.expect("StartTLS").1.rc
}

/// The certificate a fresh LDAPS handshake presents, or the handshake error.
async fn served_cert(port: u16, config: Arc<rustls::ClientConfig>) -> Result<CertificateDer<'static>, String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())?;
    // TLS 1.3 client authentication fails after the client's handshake: read to see it.
    let cert = tls.get_ref().1.peer_certificates().and_then(|c| c.first().cloned()).ok_or("no certificate")?;
    let _ = tls.shutdown().await;
    Ok(cert)
}

/// Sends a WhoAmI over a fresh LDAPS connection and reads until the server closes (after
/// the answer, the client half-closes): the bytes received, or the error.
async fn whoami_over_tls(port: u16, config: Arc<rustls::ClientConfig>) -> Result<Vec<u8>, String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let mut tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| e.to_string())?;
    let unbind = LdapMsg { msgid: 2, op: LdapOp::UnbindRequest, ctrl: vec![] };
    tls.write_all(&encode(vec![ext_msg(1, "1.3.6.1.4.1.4203.1.11.3"), unbind])).await.map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    match tokio::time::timeout(Duration::from_secs(15), tls.read_to_end(&mut got)).await {
        Err(_) => Err("no close within 15 s".into()),
        Ok(Err(e)) if got.is_empty() => Err(e.to_string()),
        Ok(_) => Ok(got),
    }
}

/// Runs an ldap-utils tool with TLS settings in its environment only.
fn tool(tool: &str, args: &[&str], pki: &Pki, client: Option<&Identity>) -> std::process::Output {
    let mut cmd = Command::new(tool);
    cmd.args(args).env("LDAPTLS_CACERT", &pki.ca_file).env("LDAPTLS_REQCERT", "demand");
    if let Some(id) = client {
        cmd.env("LDAPTLS_CERT", &id.cert_file).env("LDAPTLS_KEY", &id.key_file);
    }
    cmd.output().unwrap_or_else(|e| panic!("{tool}: {e}"))
}

fn text(out: &std::process::Output) -> String {
    format!(
        "status {}\nstdout:\n{}stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn encode(msgs: Vec<LdapMsg>) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut codec = LdapCodec::default();
    for m in msgs {
        codec.encode(m, &mut buf).expect("encode");
    }
    buf.to_vec()
}

fn ext_msg(msgid: i32, name: &str) -> LdapMsg {
    LdapMsg { msgid, op: LdapOp::ExtendedRequest(LdapExtendedRequest { name: name.into(), value: None }), ctrl: vec![] }
}

const RULES: &str = r#"
client_certs = "optional"
[[tls.sasl_external]]
rule = "map"
subject = "CN=ops-laptop,O=Campus"
dn = "uid=bob,ou=people,dc=example,dc=org"
[[tls.sasl_external]]
rule = "subject"
[[tls.sasl_external]]
rule = "search"
base = "ou=services,dc=example,dc=org"
filter = "(&(objectClass=device)(cn={CN}))"
"#;

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn ldap_utils_over_starttls_and_ldaps_with_sasl_external() {
    let pki = Pki::new();
    let (s, ldaps) = tls_server(&pki, RULES, "");
    let ldaps_url = format!("ldaps://127.0.0.1:{ldaps}");

    // ldapsearch -ZZ (StartTLS required) and over ldaps://.
    for (url, starttls) in [(s.url(), true), (ldaps_url.clone(), false)] {
        let nslcd = "cn=nslcd,ou=services,dc=example,dc=org";
        let mut args = vec![
            "-x",
            "-D",
            nslcd,
            "-w",
            "nslcd-secret",
            "-LLL",
            "-H",
            &url,
            "-b",
            "dc=example,dc=org",
            "(uid=alice)",
            "uid",
        ];
        if starttls {
            args.insert(0, "-ZZ");
        }
        let out = tool("ldapsearch", &args, &pki, None);
        assert!(out.status.success(), "{url}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("dn: {ALICE}\nuid: alice\n\n"));
    }

    // The root DSE advertises StartTLS and EXTERNAL.
    let out = tool(
        "ldapsearch",
        &["-x", "-LLL", "-H", &s.url(), "-b", "", "-s", "base", "supportedSASLMechanisms", "supportedExtension"],
        &pki,
        None,
    );
    let dse = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(dse.contains("supportedSASLMechanisms: EXTERNAL\n"), "{dse}");
    assert!(dse.contains(&format!("supportedExtension: {STARTTLS_OID}\n")), "{dse}");

    // ldapwhoami -Y EXTERNAL with a client certificate, over StartTLS and LDAPS. -N: no
    // reverse lookup of 127.0.0.1, so the name checked against the certificate is the IP.
    for (url, starttls) in [(s.url(), true), (ldaps_url.clone(), false)] {
        let mut args = vec!["-N", "-Y", "EXTERNAL", "-H", &url];
        if starttls {
            args.insert(0, "-ZZ");
        }
        let out = tool("ldapwhoami", &args, &pki, Some(&pki.alice));
        assert!(out.status.success(), "{url}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("dn:{ALICE}\n"), "{url}");
    }

    // A certificate that maps to no entry: invalidCredentials (49).
    let out = tool("ldapwhoami", &["-N", "-Y", "EXTERNAL", "-H", &ldaps_url], &pki, Some(&pki.stranger));
    assert_eq!(out.status.code(), Some(49), "{}", text(&out));

    // Asking for another authorization identity is refused (no proxy authorization).
    let out = tool(
        "ldapwhoami",
        &["-N", "-Y", "EXTERNAL", "-X", &format!("dn:{BOB}"), "-H", &ldaps_url],
        &pki,
        Some(&pki.alice),
    );
    assert_eq!(out.status.code(), Some(50), "{}", text(&out));

    // Without trusting the lab CA the client refuses the server.
    let out = Command::new("ldapwhoami")
        .args(["-x", "-H", &ldaps_url])
        .env("LDAPTLS_CACERT", pki.dir.path().join("alice.crt"))
        .env("LDAPTLS_REQCERT", "demand")
        .output()
        .expect("ldapwhoami");
    assert!(!out.status.success(), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn ldap3_over_starttls_and_ldaps() {
    let pki = Pki::new();
    let (s, ldaps) = tls_server(&pki, RULES, "");
    bounded(LIMIT, async {
        for port in [None, Some(ldaps)] {
            let mut l = tls_connect(&s, port, pki.client(None)).await;
            assert_eq!(whoami(&mut l).await, "");
            assert_eq!(simple_bind_rc(&mut l, ALICE, "alice-secret").await, 0, "{port:?}");
            assert_eq!(whoami(&mut l).await, format!("dn:{ALICE}"));
            let (entries, res) =
                common::search(&mut l, "dc=example,dc=org", Scope::Subtree, "(uid=bob)", &["uid"]).await;
            assert_eq!((res.rc, entries.len()), (0, 1));
            let _ = l.unbind().await;
        }

        // The search rule needs a device entry; add it as the root DN over StartTLS.
        let mut root = tls_connect(&s, None, pki.client(None)).await;
        assert_eq!(simple_bind_rc(&mut root, ROOT_DN, ROOT_PW).await, 0);
        let device = "cn=printer1,ou=services,dc=example,dc=org";
        let res = root
            .with_timeout(common::OP_TIMEOUT)
            .add(device, vec![("objectClass", ["device"].into()), ("cn", ["printer1"].into())])
            .await
            .expect("add");
        assert_eq!(res.rc, 0, "{res}");

        // SASL EXTERNAL: each rule, over both listeners.
        let cases = [(&pki.alice, ALICE), (&pki.laptop, BOB), (&pki.printer, device)];
        for (id, dn) in cases {
            for port in [None, Some(ldaps)] {
                let mut l = tls_connect(&s, port, pki.client(Some(id))).await;
                let res = l.with_timeout(common::OP_TIMEOUT).sasl_external_bind().await.expect("EXTERNAL");
                assert_eq!(res.rc, 0, "{dn} {port:?}: {res}");
                assert_eq!(whoami(&mut l).await, format!("dn:{dn}"));
                let _ = l.unbind().await;
            }
        }
        // EXTERNAL without a client certificate: inappropriateAuthentication (48); the
        // connection stays anonymous and usable.
        let mut l = tls_connect(&s, Some(ldaps), pki.client(None)).await;
        let res = l.with_timeout(common::OP_TIMEOUT).sasl_external_bind().await.expect("EXTERNAL");
        assert_eq!(res.rc, 48, "{res}");
        assert_eq!(whoami(&mut l).await, "");
        // ...and on a cleartext connection.
        let mut plain = common::connect(&s.url()).await;
        let res = plain.with_timeout(common::OP_TIMEOUT).sasl_external_bind().await.expect("EXTERNAL");
        assert_eq!(res.rc, 48, "{res}");

        // A client certificate from an unknown CA is refused in the handshake: with TLS 1.3
        // the client finds out on its first read, and no LDAP answer ever comes.
        let got = whoami_over_tls(ldaps, pki.client(Some(&pki.rogue))).await;
        assert!(!matches!(&got, Ok(b) if b.first() == Some(&0x30)), "{got:?}");
        let got = whoami_over_tls(ldaps, pki.client(Some(&pki.alice))).await;
        assert!(matches!(&got, Ok(b) if b.first() == Some(&0x30)), "{got:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cleartext_is_refused_where_tls_is_required() {
    let pki = Pki::new();
    let top = "[security]\nrequire_tls = { bind = true, write = true, password_modify = true }\n";
    let (s, _) = tls_server(&pki, "", top);
    bounded(LIMIT, async {
        let mut l = common::connect(&s.url()).await;
        // Named simple binds: 13, and the connection stays anonymous.
        assert_eq!(simple_bind_rc(&mut l, ALICE, "alice-secret").await, 13);
        assert_eq!(simple_bind_rc(&mut l, ROOT_DN, "wrong").await, 13);
        assert_eq!(whoami(&mut l).await, "");
        // Anonymous bind, reads and the root DSE stay available.
        assert_eq!(simple_bind_rc(&mut l, "", "").await, 0);
        let (entries, res) = common::search(&mut l, "", Scope::Base, "(objectClass=*)", &["supportedExtension"]).await;
        assert_eq!((res.rc, entries.len()), (0, 1));
        // (Searches are not refused for want of TLS; the campus policy shows anonymous
        // clients nothing, hence 32 rather than 13.)
        let (entries, res) = common::search(&mut l, "dc=example,dc=org", Scope::Subtree, "(uid=alice)", &["uid"]).await;
        assert_eq!((res.rc, entries.len()), (32, 0));
        // Writes and Password Modify: 13.
        let res = l.with_timeout(common::OP_TIMEOUT).delete(BOB).await.expect("delete");
        assert_eq!(res.rc, 13, "{res}");
        assert_eq!(res.text, "TLS confidentiality required");
        let res = l
            .with_timeout(common::OP_TIMEOUT)
            .modify(BOB, vec![ldap3::Mod::Replace("description", ["x"].into())])
            .await
            .expect("modify");
        assert_eq!(res.rc, 13);
        let pm = ldap3::exop::PasswordModify { user_id: Some(ALICE), old_pass: None, new_pass: Some("new") };
        let res = l.with_timeout(common::OP_TIMEOUT).extended(pm).await.expect("passmod").1;
        assert_eq!(res.rc, 13);

        // After StartTLS all of it works.
        let mut t = tls_connect(&s, None, pki.client(None)).await;
        assert_eq!(simple_bind_rc(&mut t, ROOT_DN, ROOT_PW).await, 0);
        let res = t
            .with_timeout(common::OP_TIMEOUT)
            .modify(BOB, vec![ldap3::Mod::Replace("description", ["x"].into())])
            .await
            .expect("modify");
        assert_eq!(res.rc, 0, "{res}");
        let pm = ldap3::exop::PasswordModify { user_id: Some(ALICE), old_pass: None, new_pass: Some("new") };
        let res = t.with_timeout(common::OP_TIMEOUT).extended(pm).await.expect("passmod").1;
        assert_eq!(res.rc, 0, "{res}");
        let mut a = tls_connect(&s, None, pki.client(None)).await;
        assert_eq!(simple_bind_rc(&mut a, ALICE, "new").await, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_sequencing() {
    let pki = Pki::new();
    let (s, ldaps) = tls_server(&pki, "", "");
    let plain = Server::demo();
    bounded(LIMIT, async {
        // StartTLS on a TLS connection (after StartTLS, or on LDAPS): operationsError, and
        // the connection goes on working.
        for port in [None, Some(ldaps)] {
            let mut l = tls_connect(&s, port, pki.client(None)).await;
            assert_eq!(start_tls_rc(&mut l).await, 1, "{port:?}");
            assert_eq!(simple_bind_rc(&mut l, BOB, "bob-secret").await, 0);
            assert_eq!(whoami(&mut l).await, format!("dn:{BOB}"));
        }
        // A server without TLS: protocolError (RFC 4511 section 4.14.2), and no StartTLS
        // in its root DSE.
        let mut l = common::connect(&plain.url()).await;
        assert_eq!(start_tls_rc(&mut l).await, 2);
        let (entries, _) = common::search(
            &mut l,
            "",
            Scope::Base,
            "(objectClass=*)",
            &["supportedExtension", "supportedSASLMechanisms"],
        )
        .await;
        let exts = entries[0].attrs.get("supportedExtension").cloned().unwrap_or_default();
        assert!(!exts.iter().any(|e| e == STARTTLS_OID), "{exts:?}");
        assert!(!entries[0].attrs.contains_key("supportedSASLMechanisms"));
        // Where no listener asks for client certificates EXTERNAL does not exist: 7.
        let mut t = tls_connect(&s, Some(ldaps), pki.client(None)).await;
        let res = t.with_timeout(common::OP_TIMEOUT).sasl_external_bind().await.expect("EXTERNAL");
        assert_eq!(res.rc, 7, "{res}");

        // A request sent right behind StartTLS is outstanding: operationsError, and both it
        // and the connection carry on in cleartext.
        let tcp = TcpStream::connect(("127.0.0.1", s.port)).await.expect("connect");
        let mut raw = Framed::new(tcp, LdapCodec::new(Some(1 << 20), None));
        raw.get_mut()
            .write_all(&encode(vec![ext_msg(1, STARTTLS_OID), ext_msg(2, "1.3.6.1.4.1.4203.1.11.3")]))
            .await
            .expect("write");
        for want in [(1, LdapResultCode::OperationsError), (2, LdapResultCode::Success)] {
            let msg = tokio::time::timeout(Duration::from_secs(10), futures_util::StreamExt::next(&mut raw))
                .await
                .expect("response in time")
                .expect("a response")
                .expect("decodable");
            let LdapOp::ExtendedResponse(r) = msg.op else { panic!("{msg:?}") };
            assert_eq!((msg.msgid, &r.res.code), (want.0, &want.1), "{r:?}");
            if msg.msgid == 1 {
                assert_eq!(r.name.as_deref(), Some(STARTTLS_OID));
            }
        }

        // A StartTLS whose handshake fails closes that connection only.
        let mut bystander = common::connect_as(&s.url(), ALICE, "alice-secret").await;
        raw.get_mut().write_all(&encode(vec![ext_msg(3, STARTTLS_OID)])).await.expect("write");
        let msg = tokio::time::timeout(Duration::from_secs(10), futures_util::StreamExt::next(&mut raw))
            .await
            .expect("response in time")
            .expect("a response")
            .expect("decodable");
        let LdapOp::ExtendedResponse(r) = msg.op else { panic!("{msg:?}") };
        assert_eq!((msg.msgid, r.res.code), (3, LdapResultCode::Success));
        let mut tcp = raw.into_inner();
        tcp.write_all(b"this is not a TLS client hello").await.expect("write");
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut rest)).await.expect("closed in time").ok();
        assert!(rest.first() != Some(&0x30), "an LDAP message came back: {rest:?}");
        assert_eq!(whoami(&mut bystander).await, format!("dn:{ALICE}"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_swaps_the_certificate_for_new_connections_only() {
    let pki = Pki::new();
    let (s, ldaps) = tls_server(&pki, "", "");
    bounded(LIMIT, async {
        assert_eq!(served_cert(ldaps, pki.client(None)).await.expect("handshake"), pki.server.cert);
        let mut old = tls_connect(&s, Some(ldaps), pki.client(None)).await;
        assert_eq!(simple_bind_rc(&mut old, ALICE, "alice-secret").await, 0);

        pki.install(&pki.server2);
        let out = s.birch_bounded(&["reload"], Duration::from_secs(20));
        assert!(out.status.success(), "{}", text(&out));
        // The signal is handled asynchronously: wait (bounded) until new handshakes see it.
        let deadline = Instant::now() + Duration::from_secs(20);
        while served_cert(ldaps, pki.client(None)).await.expect("handshake") != pki.server2.cert {
            assert!(Instant::now() < deadline, "the new certificate was not served after `birch reload`");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // StartTLS uses it too, and the old connection still works.
        let mut fresh = tls_connect(&s, None, pki.client(None)).await;
        assert_eq!(whoami(&mut fresh).await, "");
        assert_eq!(whoami(&mut old).await, format!("dn:{ALICE}"));

        // A broken key keeps the certificate in use, and the server says why.
        std::fs::write(pki.dir.path().join("live.key"), "not a key\n").expect("write");
        let status = Command::new("kill").args(["-HUP", &s.pid().to_string()]).status().expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = std::fs::read_to_string(s.log_path()).unwrap_or_default();
            if log.contains("TLS reload failed") {
                assert!(log.contains("no PEM private key found"), "{log}");
                break;
            }
            assert!(Instant::now() < deadline, "no reload failure logged: {log}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(served_cert(ldaps, pki.client(None)).await.expect("handshake"), pki.server2.cert);
        assert_eq!(whoami(&mut old).await, format!("dn:{ALICE}"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_on_either_port_harms_no_one_else() {
    let pki = Pki::new();
    let (s, ldaps) = tls_server(&pki, "", "");
    bounded(LIMIT, async {
        let mut over_tls = tls_connect(&s, Some(ldaps), pki.client(None)).await;
        assert_eq!(simple_bind_rc(&mut over_tls, ALICE, "alice-secret").await, 0);
        let mut over_plain = common::connect_as(&s.url(), BOB, "bob-secret").await;

        // Plain LDAP to the LDAPS port: no LDAP answer, the connection closes.
        let mut tcp = TcpStream::connect(("127.0.0.1", ldaps)).await.expect("connect");
        tcp.write_all(&encode(vec![ext_msg(1, "1.3.6.1.4.1.4203.1.11.3")])).await.expect("write");
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut got)).await.expect("closed in time").ok();
        assert!(got.first() != Some(&0x30), "an LDAP message came back: {got:?}");

        // A TLS client hello to the plain port: the handshake fails, the connection closes.
        assert!(served_cert(s.port, pki.client(None)).await.is_err());

        // Everyone else carries on, and new connections work on both ports.
        assert_eq!(whoami(&mut over_tls).await, format!("dn:{ALICE}"));
        assert_eq!(whoami(&mut over_plain).await, format!("dn:{BOB}"));
        let mut again = tls_connect(&s, Some(ldaps), pki.client(None)).await;
        assert_eq!(whoami(&mut again).await, "");
    })
    .await;
}

#[test]
fn client_certificates_can_be_required_on_ldaps() {
    let pki = Pki::new();
    let (s, ldaps) = tls_server(&pki, "client_certs = \"optional\"\nldaps_client_certs = \"required\"\n", "");
    let url = format!("ldaps://127.0.0.1:{ldaps}");
    let out = tool("ldapwhoami", &["-x", "-H", &url], &pki, None);
    assert!(!out.status.success(), "no client certificate, yet: {}", text(&out));
    let out = tool("ldapwhoami", &["-x", "-H", &url], &pki, Some(&pki.rogue));
    assert!(!out.status.success(), "an untrusted client certificate, yet: {}", text(&out));
    let out = tool("ldapwhoami", &["-N", "-Y", "EXTERNAL", "-H", &url], &pki, Some(&pki.alice));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("dn:{ALICE}\n"), "{}", text(&out));
    // StartTLS stays optional: no certificate is fine there.
    let out = tool("ldapwhoami", &["-ZZ", "-x", "-H", &s.url()], &pki, None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "anonymous\n", "{}", text(&out));
}

#[test]
fn bad_certificate_files_stop_the_start_with_a_clear_error() {
    let pki = Pki::new();
    pki.install(&pki.server);
    let d = pki.dir.path();
    std::fs::write(d.join("empty.pem"), "").expect("write");
    let cases = [
        (d.join("missing.crt"), pki.server.key_file.clone(), "tls.cert_file"),
        (pki.server.cert_file.clone(), d.join("missing.key"), "tls.key_file"),
        (d.join("empty.pem"), pki.server.key_file.clone(), "no PEM certificate"),
        (pki.server.cert_file.clone(), d.join("empty.pem"), "no PEM private key"),
        (pki.server.cert_file.clone(), pki.alice.key_file.clone(), "does not match the certificate"),
    ];
    for (cert, key, want) in cases {
        let extra = format!("[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n", cert.display(), key.display());
        let s = Server::offline(&extra);
        let out = s.birch_bounded(&["serve"], Duration::from_secs(30));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{want}: {}", text(&out));
    }
    // Client certificates without a CA bundle is a configuration error.
    let extra = format!(
        "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_certs = \"required\"\n",
        pki.server.cert_file.display(),
        pki.server.key_file.display()
    );
    let out = Server::offline(&extra).birch_bounded(&["serve"], Duration::from_secs(30));
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("tls.ca_file"), "{}", text(&out));
}
