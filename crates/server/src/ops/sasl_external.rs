//! SASL binds: EXTERNAL (RFC 4422 appendix A, RFC 4513 section 5.2.3) takes the identity
//! from the TLS client certificate, mapped to a DN by the `[[tls.sasl_external]]` rules.
//! Other mechanisms answer authMethodNotSupported.

use crate::config::ExternalRule;
use crate::context::ServerCtx;
use crate::query::filter;
use crate::result::{result, store_failure};
use crate::session::Session;
use crate::tls::ClientCert;
use birch_acl::Subject;
use birch_proto::ldap3_proto::parse_ldap_filter_str;
use birch_proto::ldap3_proto::proto::{LdapFilter, LdapResult, LdapResultCode, SaslCredentials};
use birch_schema::Dn;
use birch_store::{Scope, StoreError};

/// The SASL mechanism name.
pub const EXTERNAL: &str = "EXTERNAL";

/// Handles a SASL bind (the connection is already anonymous).
pub async fn bind(ctx: &ServerCtx, session: &Session, creds: SaslCredentials) -> LdapResult {
    // EXTERNAL exists only where some listener asks for client certificates (as the root
    // DSE's supportedSASLMechanisms says).
    let offered = ctx.tls().as_ref().is_some_and(|t| t.asks_client_certs());
    if !offered || !creds.mechanism.eq_ignore_ascii_case(EXTERNAL) {
        let text = format!("SASL mechanism {} is not supported", creds.mechanism);
        return result(LdapResultCode::AuthMethodNotSupported, "", &text);
    }
    let peer = session.peer;
    let Some(cert) = session.tls_info().and_then(|t| t.client.clone()) else {
        tracing::warn!(target: "birch::audit", event = "bind_failed", %peer, mech = EXTERNAL, reason = "no client certificate");
        return result(LdapResultCode::InappropriateAuthentication, "", "SASL EXTERNAL needs a TLS client certificate");
    };
    let (subject, dn) = match map_certificate(ctx, &cert) {
        Ok(Some(found)) => found,
        Ok(None) => {
            tracing::warn!(target: "birch::audit", event = "bind_failed", %peer, mech = EXTERNAL, cert_subject = %cert.subject, reason = "certificate maps to no entry");
            return result(LdapResultCode::InvalidCredentials, "", "the client certificate maps to no entry");
        }
        Err(e) => return store_failure(&e),
    };
    // An authorization identity, if given, must be the mapped one (no proxy authorization).
    if !creds.credentials.is_empty() && !same_authzid(ctx, &creds.credentials, &dn) {
        tracing::warn!(target: "birch::audit", event = "bind_failed", %peer, mech = EXTERNAL, dn = %dn, reason = "authorization identity differs");
        return result(LdapResultCode::InsufficentAccessRights, "", "authorization identity not allowed");
    }
    // A locked or disabled account binds by no method, certificates included.
    let mut groups = Default::default();
    if let birch_acl::Subject::User(ndn) = &subject {
        if let Ok(Some((_, entry))) = ctx.store().get_by_ndn(ndn) {
            let policy = ctx.writer().policy_for(&entry);
            let (account, now) = (crate::ppolicy::Account::read(&entry), std::time::SystemTime::now());
            if let Some(why) = account.locked(&policy, now) {
                tracing::warn!(target: "birch::audit", event = "bind_failed", %peer, mech = EXTERNAL, dn = %dn, reason = why);
                return result(LdapResultCode::InvalidCredentials, "", "");
            }
            // No password was checked: only the last-bind time (queued, off the answer path).
            if !ctx.config().replication.is_replica() {
                let none = crate::ppolicy::Success::default();
                if let Err(e) = ctx.writer().authenticated(ndn, &account, &none, now).await {
                    tracing::error!(error = %e, %dn, "cannot record a successful bind; it succeeds anyway");
                }
            }
        }
        groups = ctx.access().groups_of(ctx.store(), ndn);
    }
    tracing::info!(target: "birch::audit", event = "bind", %peer, mech = EXTERNAL, dn = %dn, cert_subject = %cert.subject);
    session.set_identity(subject, dn);
    session.set_groups(groups);
    result(LdapResultCode::Success, "", "")
}

fn same_authzid(ctx: &ServerCtx, authzid: &[u8], dn: &str) -> bool {
    let Ok(text) = std::str::from_utf8(authzid) else { return false };
    let Some(asked) = text.strip_prefix("dn:") else { return false };
    match (Dn::parse(asked), Dn::parse(dn)) {
        (Ok(a), Ok(b)) => a.normalize(ctx.schema()) == b.normalize(ctx.schema()),
        _ => false,
    }
}

/// Finds the identity of a certificate: the subject and the DN (as stored) of the first
/// rule that yields exactly one entry (or the root DN).
pub fn map_certificate(ctx: &ServerCtx, cert: &ClientCert) -> Result<Option<(Subject, String)>, StoreError> {
    let default = [ExternalRule::Subject {}];
    let rules = if ctx.config().tls.sasl_external.is_empty() { &default[..] } else { &ctx.config().tls.sasl_external };
    for rule in rules {
        let found = match rule {
            ExternalRule::Subject {} => existing(ctx, &cert.subject)?,
            ExternalRule::Map { subject, dn } => {
                let normalize = |s: &str| Dn::parse(s).map(|d| d.normalize(ctx.schema())).ok();
                match (normalize(subject), normalize(&cert.subject)) {
                    (Some(a), Some(b)) if a == b => existing(ctx, dn)?,
                    _ => None,
                }
            }
            ExternalRule::Search { base, filter } => search(ctx, cert, base, filter)?,
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// The root DN, or an entry that exists.
fn existing(ctx: &ServerCtx, dn: &str) -> Result<Option<(Subject, String)>, StoreError> {
    let Ok(parsed) = Dn::parse(dn) else { return Ok(None) };
    let ndn = parsed.normalize(ctx.schema());
    if ndn == ctx.root_ndn() {
        return Ok(Some((Subject::Root, ctx.config().root_dn())));
    }
    Ok(ctx.store().get_by_ndn(&ndn)?.map(|(_, e)| (Subject::User(ndn), e.dn)))
}

fn search(
    ctx: &ServerCtx,
    cert: &ClientCert,
    base: &str,
    template: &str,
) -> Result<Option<(Subject, String)>, StoreError> {
    let Some(ldap_filter) = fill_template(template, cert) else { return Ok(None) };
    let Ok(base_dn) = Dn::parse(base) else { return Ok(None) };
    let Some((base_id, base_entry)) = ctx.store().get_by_ndn(&base_dn.normalize(ctx.schema()))? else {
        tracing::warn!(base, "tls.sasl_external: the search base does not exist");
        return Ok(None);
    };
    let f = filter::convert(&ldap_filter, ctx.schema(), &|_| true);
    let mut iter = ctx.store().search(base_id, &base_entry, Scope::Sub, f)?;
    let mut found = None;
    while let Some(step) = iter.step() {
        let Some(entry) = step? else { continue };
        if found.is_some() {
            tracing::warn!(cert_subject = %cert.subject, filter = template, "tls.sasl_external: more than one entry matches");
            return Ok(None);
        }
        found = Some((Subject::User(entry.ndn), entry.dn));
    }
    Ok(found)
}

/// The value of a placeholder for this certificate.
fn placeholder(cert: &ClientCert, name: &str) -> Option<String> {
    match name {
        "EMAIL" => cert.emails.first().map(String::as_str).or_else(|| cert.attribute("EMAILADDRESS")).map(String::from),
        "DNS" => cert.dns_names.first().cloned(),
        "SUBJECT" => Some(cert.subject.clone()),
        other => cert.attribute(other).map(String::from),
    }
}

/// Parses the template, then puts the certificate's values into the parsed assertion
/// values, so no value can change the filter's structure. `None` when the certificate
/// lacks a value the template needs.
pub fn fill_template(template: &str, cert: &ClientCert) -> Option<LdapFilter> {
    let mut f = parse_ldap_filter_str(template).ok()?;
    fill(&mut f, cert).then_some(f)
}

fn fill(f: &mut LdapFilter, cert: &ClientCert) -> bool {
    let value = |v: &mut String| fill_value(v, cert);
    match f {
        LdapFilter::And(fs) | LdapFilter::Or(fs) => fs.iter_mut().all(|f| fill(f, cert)),
        LdapFilter::Not(f) => fill(f, cert),
        LdapFilter::Equality(_, v)
        | LdapFilter::Approx(_, v)
        | LdapFilter::GreaterOrEqual(_, v)
        | LdapFilter::LessOrEqual(_, v) => value(v),
        LdapFilter::Substring(_, s) => {
            s.initial.as_mut().is_none_or(value) && s.any.iter_mut().all(value) && s.final_.as_mut().is_none_or(value)
        }
        LdapFilter::Extensible(m) => value(&mut m.match_value),
        LdapFilter::Present(_) => true,
    }
}

/// Replaces the placeholders of one assertion value; false if the certificate lacks one.
fn fill_value(v: &mut String, cert: &ClientCert) -> bool {
    let mut out = String::new();
    let mut rest = v.as_str();
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else { break };
        let Some(val) = placeholder(cert, &rest[start + 1..start + len]) else { return false };
        out.push_str(&rest[..start]);
        out.push_str(&val);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    *v = out;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> ClientCert {
        ClientCert {
            subject: "CN=sw1,OU=net,O=Campus".into(),
            attributes: vec![
                ("CN".into(), "sw1)(uid=*".into()),
                ("OU".into(), "net".into()),
                ("O".into(), "Campus".into()),
            ],
            dns_names: vec!["sw1.example.org".into()],
            emails: vec![],
        }
    }

    #[test]
    fn values_cannot_change_the_filter() {
        let f = fill_template("(&(objectClass=device)(cn={CN})(host={DNS}))", &cert()).unwrap();
        let LdapFilter::And(parts) = f else { panic!("not an and") };
        assert_eq!(parts[1], LdapFilter::Equality("cn".into(), "sw1)(uid=*".into()));
        assert_eq!(parts[2], LdapFilter::Equality("host".into(), "sw1.example.org".into()));
        assert!(fill_template("(mail={EMAIL})", &cert()).is_none());
    }
}
