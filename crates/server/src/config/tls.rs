//! `[tls]` and `[security]`: certificates, the LDAPS listener, client certificates and the
//! SASL EXTERNAL mapping rules; which operations need a TLS-protected connection.

use birch_proto::ldap3_proto::parse_ldap_filter_str;
use serde::Deserialize;
use std::path::PathBuf;

/// `[tls]`: certificates and the LDAPS listener. Without `cert_file` there is no TLS at all
/// (no StartTLS, no LDAPS).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// PEM file with the server certificate followed by its intermediates.
    pub cert_file: Option<PathBuf>,
    /// PEM file with the server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// PEM bundle of the CAs that client certificates are verified against.
    pub ca_file: Option<PathBuf>,
    /// Address of the LDAPS listener (TLS from the first byte); unset: none.
    pub ldaps_listen: Option<String>,
    /// Client certificates on StartTLS connections (and on LDAPS unless overridden).
    pub client_certs: ClientCerts,
    /// Client certificates on the LDAPS listener; unset: as `client_certs`.
    pub ldaps_client_certs: Option<ClientCerts>,
    /// How SASL EXTERNAL maps a client certificate to an entry, first match wins; empty:
    /// the certificate subject is the entry's DN.
    pub sasl_external: Vec<ExternalRule>,
}

/// Whether a listener asks for client certificates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientCerts {
    /// Never asked for.
    #[default]
    None,
    /// Asked for; a client without one still connects, one with a bad one does not.
    Optional,
    /// A valid client certificate is needed to complete the handshake.
    Required,
}

/// One `[[tls.sasl_external]]` rule mapping a client certificate to a DN.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "rule", rename_all = "lowercase", deny_unknown_fields)]
pub enum ExternalRule {
    /// The certificate subject, read as an LDAP DN, names an existing entry (or the root DN).
    Subject {},
    /// A certificate with exactly this subject DN maps to `dn`.
    Map {
        /// The subject DN as an RFC 4514 string (compared attribute-type and case-insensitively).
        subject: String,
        /// The DN it stands for.
        dn: String,
    },
    /// A subtree search below `base` with `filter`, whose `{CN}`, `{UID}`, `{O}`, `{OU}`,
    /// `{EMAIL}`, `{DNS}` and `{SUBJECT}` are replaced by the certificate's values; exactly
    /// one entry must match.
    Search {
        /// The search base.
        base: String,
        /// The filter template, e.g. `(&(objectClass=device)(cn={CN}))`.
        filter: String,
    },
}

/// `[security]`: requirements on the connection.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySection {
    /// Operations refused with confidentialityRequired (13) on a cleartext connection.
    pub require_tls: RequireTls,
}

/// `security.require_tls`: what needs TLS. All off by default.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequireTls {
    /// Simple binds with a name or password (anonymous binds stay allowed).
    pub bind: bool,
    /// Add, delete, modify and modify DN.
    pub write: bool,
    /// The Password Modify extended operation.
    pub password_modify: bool,
}

impl TlsSection {
    /// Whether TLS is configured at all.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some()
    }

    /// The client certificate mode of the LDAPS listener.
    pub fn ldaps_client_certs(&self) -> ClientCerts {
        self.ldaps_client_certs.unwrap_or(self.client_certs)
    }

    /// Checks the combination of keys: the field at fault and why.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        let missing = |field, what: &str| Err((field, format!("{what} needs tls.cert_file and tls.key_file")));
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(("tls", "cert_file and key_file go together".into()));
        }
        if let Some(addr) = &self.ldaps_listen {
            if !self.enabled() {
                return missing("tls.ldaps_listen", "an LDAPS listener");
            }
            if let Err(e) = addr.parse::<std::net::SocketAddr>() {
                return Err(("tls.ldaps_listen", format!("{addr:?} is not an address:port ({e})")));
            }
        }
        let asks = self.client_certs != ClientCerts::None || self.ldaps_client_certs() != ClientCerts::None;
        if asks && !self.enabled() {
            return missing("tls.client_certs", "client certificates");
        }
        if asks && self.ca_file.is_none() {
            return Err(("tls.ca_file", "client certificates need a CA bundle to verify them".into()));
        }
        for rule in &self.sasl_external {
            match rule {
                ExternalRule::Subject {} => {}
                ExternalRule::Map { subject, dn } => {
                    birch_schema::Dn::parse(subject).map_err(|e| ("tls.sasl_external.subject", e.to_string()))?;
                    birch_schema::Dn::parse(dn).map_err(|e| ("tls.sasl_external.dn", e.to_string()))?;
                }
                ExternalRule::Search { base, filter } => {
                    birch_schema::Dn::parse(base).map_err(|e| ("tls.sasl_external.base", e.to_string()))?;
                    check_template(filter).map_err(|e| ("tls.sasl_external.filter", e))?;
                }
            }
        }
        Ok(())
    }
}

/// Placeholders a SASL EXTERNAL search template may use (filled in by
/// `ops::sasl_external::fill_template`).
pub const PLACEHOLDERS: &[&str] = &["CN", "UID", "O", "OU", "EMAIL", "DNS", "SUBJECT"];

/// Checks a filter template: it parses and uses only known placeholders.
pub fn check_template(template: &str) -> Result<(), String> {
    parse_ldap_filter_str(template).map_err(|e| format!("{template:?} is not a filter: {e}"))?;
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            return Err(format!("{template:?}: unclosed {{"));
        };
        let name = &rest[start + 1..start + len];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!("{template:?}: unknown placeholder {{{name}}} (known: {})", PLACEHOLDERS.join(", ")));
        }
        rest = &rest[start + len + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_checked() {
        assert!(check_template("(&(objectClass=device)(cn={CN}))").is_ok());
        assert!(check_template("(cn={NOPE})").unwrap_err().contains("unknown placeholder"));
        assert!(check_template("(cn={CN}").is_err());
    }
}
