//! Transport security: rustls server configurations built from the PEM files of `[tls]`
//! (TLS 1.2 and 1.3 only, ring's modern cipher suites), the handshakes of LDAPS and
//! StartTLS, certificate reload, the client certificate a handshake yields, and the
//! `[security] require_tls` rules.

use crate::config::{ClientCerts, RequireTls, TlsSection};
use crate::context::ServerCtx;
use crate::session::Session;
use arc_swap::ArcSwap;
use birch_acl::Subject;
use birch_proto::ldap3_proto::proto::{LdapBindCred, LdapOp, LdapResult, LdapResultCode};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the certificate, key or CA bundle could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{field} {path}: {error}")]
    Read {
        /// The config key naming the file.
        field: &'static str,
        /// The file.
        path: String,
        /// The cause (in the message, so that a logged reload failure says it too).
        error: std::io::Error,
    },
    /// A file holds no usable PEM item of the expected kind.
    #[error("{field} {path}: {message}")]
    Pem {
        /// The config key naming the file.
        field: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The private key does not belong to the certificate.
    #[error("tls.key_file {key} does not match the certificate in tls.cert_file {cert}")]
    Mismatch {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
    },
    /// rustls refused the certificate, key or CA bundle.
    #[error("tls: {0}")]
    Rustls(String),
}

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The plain LDAP listener (TLS via StartTLS).
    Ldap,
    /// The LDAPS listener (TLS from the first byte).
    Ldaps,
}

/// The server side of TLS: the current acceptors, swapped whole on reload.
pub struct Tls {
    section: TlsSection,
    current: ArcSwap<Acceptors>,
}

struct Acceptors {
    starttls: TlsAcceptor,
    ldaps: TlsAcceptor,
}

impl Tls {
    /// Loads the certificate, key and CA bundle named in `[tls]`; `None` when TLS is not
    /// configured.
    pub fn load(section: &TlsSection) -> Result<Option<Tls>, TlsError> {
        if !section.enabled() {
            return Ok(None);
        }
        let acceptors = build(section)?;
        Ok(Some(Tls { section: section.clone(), current: ArcSwap::from_pointee(acceptors) }))
    }

    /// Reads the files again; on any error the certificate in use stays. Connections
    /// already established keep the session they negotiated.
    pub fn reload(&self) -> Result<(), TlsError> {
        let acceptors = build(&self.section)?;
        self.current.store(Arc::new(acceptors));
        Ok(())
    }

    /// The acceptor for new handshakes on `listener`.
    pub fn acceptor(&self, listener: Listener) -> TlsAcceptor {
        let current = self.current.load();
        match listener {
            Listener::Ldap => current.starttls.clone(),
            Listener::Ldaps => current.ldaps.clone(),
        }
    }

    /// Whether some listener asks for client certificates (so SASL EXTERNAL can work).
    pub fn asks_client_certs(&self) -> bool {
        self.section.client_certs != ClientCerts::None || self.section.ldaps_client_certs() != ClientCerts::None
    }
}

fn build(section: &TlsSection) -> Result<Acceptors, TlsError> {
    let (Some(cert_path), Some(key_path)) = (&section.cert_file, &section.key_file) else {
        return Err(TlsError::Rustls("cert_file and key_file are needed".into()));
    };
    let chain = read_certs("tls.cert_file", cert_path)?;
    let key = read_key(key_path)?;
    let roots = match &section.ca_file {
        Some(p) => Some(read_roots(p)?),
        None => None,
    };
    let server = |mode: ClientCerts| server_config(mode, roots.clone(), chain.clone(), key.clone_key(), section);
    Ok(Acceptors {
        starttls: TlsAcceptor::from(server(section.client_certs)?),
        ldaps: TlsAcceptor::from(server(section.ldaps_client_certs())?),
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(
    mode: ClientCerts,
    roots: Option<Arc<RootCertStore>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    section: &TlsSection,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let verifier = match (mode, roots) {
        (ClientCerts::None, _) | (_, None) => WebPkiClientVerifier::no_client_auth(),
        (mode, Some(roots)) => {
            let b = WebPkiClientVerifier::builder_with_provider(roots, provider());
            let b = if mode == ClientCerts::Optional { b.allow_unauthenticated() } else { b };
            b.build().map_err(|e| TlsError::Rustls(format!("tls.ca_file: {e}")))?
        }
    };
    let shown = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let config = builder.with_client_cert_verifier(verifier).with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            TlsError::Mismatch { cert: shown(&section.cert_file), key: shown(&section.key_file) }
        }
        e => TlsError::Rustls(format!(
            "tls.cert_file {} / tls.key_file {}: {e}",
            shown(&section.cert_file),
            shown(&section.key_file)
        )),
    })?;
    Ok(Arc::new(config))
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read { field, path: path.display().to_string(), error })
}

fn read_certs(field: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |message: String| TlsError::Pem { field, path: path.display().to_string(), message };
    let bytes = read(field, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(pem_error("no PEM certificate (-----BEGIN CERTIFICATE-----) found".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read("tls.key_file", path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
        field: "tls.key_file",
        path: path.display().to_string(),
        message: match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no PEM private key found".into(),
            e => format!("bad PEM: {e}"),
        },
    })
}

fn read_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    roots_from("tls.ca_file", path).map(Arc::new)
}

/// The CA certificates of the PEM file `path` (named `field` in errors) as a root store.
fn roots_from(field: &'static str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(field, path)? {
        roots.add(cert).map_err(|e| TlsError::Pem {
            field,
            path: path.display().to_string(),
            message: format!("unusable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

/// A TLS client configuration trusting only the CA certificates in the PEM file `ca`
/// (`field` names the setting in errors): for the replication consumer and the admin
/// commands.
pub fn client_config(field: &'static str, ca: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let roots = roots_from(field, ca)?;
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// What a completed handshake established.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// The negotiated protocol version, e.g. `TLSv1_3`.
    pub version: String,
    /// The negotiated cipher suite.
    pub cipher: String,
    /// The verified client certificate, if the client presented one.
    pub client: Option<ClientCert>,
}

/// Runs the server side of a handshake over `io`, bounded by [`HANDSHAKE_TIMEOUT`].
pub async fn handshake<IO>(
    acceptor: TlsAcceptor,
    io: IO,
) -> std::io::Result<(tokio_rustls::server::TlsStream<IO>, TlsInfo)>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
    let conn = stream.get_ref().1;
    let info = TlsInfo {
        version: conn.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default(),
        cipher: conn.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_default(),
        client: conn.peer_certificates().and_then(|c| c.first()).and_then(|c| ClientCert::parse(c)),
    };
    Ok((stream, info))
}

/// The parts of a verified client certificate that identity mapping uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The subject as an RFC 4514 DN string, most specific RDN first.
    pub subject: String,
    /// The subject's attributes in the same order: (upper-case short name, value).
    pub attributes: Vec<(String, String)>,
    /// dNSName subject alternative names.
    pub dns_names: Vec<String>,
    /// rfc822Name subject alternative names.
    pub emails: Vec<String>,
}

impl ClientCert {
    /// Reads a DER certificate; `None` if it cannot be parsed.
    pub fn parse(der: &[u8]) -> Option<ClientCert> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut rdns = Vec::new();
        let mut attributes = Vec::new();
        for rdn in cert.subject().iter() {
            let mut avas = Vec::new();
            for ava in rdn.iter() {
                let Ok(value) = ava.as_str() else { continue };
                let name = short_name(&ava.attr_type().to_id_string());
                avas.push(birch_schema::dn::Ava { attr: name.clone(), value: value.to_string() });
                attributes.push((name.to_ascii_uppercase(), value.to_string()));
            }
            if !avas.is_empty() {
                rdns.push(birch_schema::dn::Rdn { avas });
            }
        }
        // X.509 lists the RDNs from the root down; an LDAP DN starts at the leaf.
        rdns.reverse();
        attributes.reverse();
        let subject = birch_schema::Dn { rdns }.to_string();
        let (mut dns_names, mut emails) = (Vec::new(), Vec::new());
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => dns_names.push(d.to_string()),
                    GeneralName::RFC822Name(e) => emails.push(e.to_string()),
                    _ => {}
                }
            }
        }
        Some(ClientCert { subject, attributes, dns_names, emails })
    }

    /// The first (most specific) value of subject attribute `name` (upper-case short name).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The LDAP name of a subject attribute type; the dotted OID for the rest.
fn short_name(oid: &str) -> String {
    match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.42" => "givenName",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "emailAddress",
        other => other,
    }
    .to_string()
}

/// The operations `[security] require_tls` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A simple bind with a name or a password.
    Bind,
    /// Add, delete, modify, modify DN.
    Write,
    /// Password Modify.
    PasswordModify,
}

impl Need {
    /// What `op` needs, if anything.
    pub fn of(op: &LdapOp) -> Option<Need> {
        match op {
            LdapOp::BindRequest(b) => match &b.cred {
                LdapBindCred::Simple(pw) if !b.dn.is_empty() || !pw.is_empty() => Some(Need::Bind),
                _ => None,
            },
            LdapOp::AddRequest(_) | LdapOp::DelRequest(_) | LdapOp::ModifyRequest(_) | LdapOp::ModifyDNRequest(_) => {
                Some(Need::Write)
            }
            LdapOp::ExtendedRequest(e) if e.name == birch_proto::oids::PASSWORD_MODIFY => Some(Need::PasswordModify),
            _ => None,
        }
    }

    fn required(self, r: &RequireTls) -> bool {
        match self {
            Need::Bind => r.bind,
            Need::Write => r.write,
            Need::PasswordModify => r.password_modify,
        }
    }
}

/// The confidentialityRequired (13) answer for `op` on a cleartext connection when
/// `[security] require_tls` asks for TLS; `None` to go ahead. A refused bind leaves the
/// connection anonymous, like any failed bind.
pub fn refusal(ctx: &ServerCtx, session: &Session, op: &LdapOp) -> Option<LdapResult> {
    let need = Need::of(op)?;
    if session.is_tls() || !need.required(&ctx.config().security.require_tls) {
        return None;
    }
    if need == Need::Bind {
        session.set_identity(Subject::Anonymous, String::new());
    }
    tracing::info!(target: "birch::audit", event = "refused_cleartext", peer = %session.peer, operation = ?need);
    Some(crate::result::result(LdapResultCode::ConfidentialityRequired, "", "TLS confidentiality required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_reads_leaf_first_with_ldap_names() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]), "org");
        dn.push(rcgen::DnType::OrganizationName, "Campus, Inc");
        dn.push(rcgen::DnType::CommonName, "printer1");
        params.distinguished_name = dn;
        params.subject_alt_names = vec![
            rcgen::SanType::DnsName("printer1.example.org".try_into().unwrap()),
            rcgen::SanType::Rfc822Name("ops@example.org".try_into().unwrap()),
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let c = ClientCert::parse(cert.der()).unwrap();
        assert_eq!(c.subject, "CN=printer1,O=Campus\\, Inc,DC=org");
        assert_eq!(c.attribute("CN"), Some("printer1"));
        assert_eq!(c.attribute("DC"), Some("org"));
        assert_eq!(c.dns_names, vec!["printer1.example.org"]);
        assert_eq!(c.emails, vec!["ops@example.org"]);
    }
}
