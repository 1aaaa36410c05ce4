//! The campus policy: the rules Birch enforces when the configuration names none (and the
//! policy of `--demo`). docs/acl.md explains each rule.
//!
//! - `userPassword`: auth by anyone, write by its owner, the admins and the helpdesk, read
//!   by nobody (the evaluator never lets anyone read it).
//! - Account state (`pwdAccountLockedTime`, `pwdLastSuccess`, who disabled it...): the
//!   helpdesk may unlock, disable and give the reason; owners may look.
//! - Personal attributes: read by the owner, the admins and the service accounts.
//! - POSIX attributes and group memberships: read by service accounts and every
//!   authenticated user (and anonymously with `anonymous_posix`).
//! - A short list of self-service attributes the owner may change.
//! - Everything else: read by authenticated users. Anonymous: nothing (the rootDSE and
//!   cn=Subschema are always readable).
//! - The admins group may do everything.

use crate::config::Config;

/// Attributes with personal data: read by the owner, the admins and the service accounts
/// only. Reviewed against inetOrgPerson (RFC 2798) and the types it inherits
/// (organizationalPerson, person; RFC 4519) and the COSINE pilotPerson attributes (RFC 4524):
/// everything that reaches a person (contact numbers, addresses, mailboxes), identifies one
/// outside the directory (employee number, unique identifier, car licence), or is private
/// (photos, voice, title of address, signature, preferences, a PKCS #12 bundle with its
/// private key). Names (cn, sn, givenName, initials), organisational data (o, ou, title,
/// departmentNumber, employeeType, manager, secretary, businessCategory), certificates meant
/// for others (userCertificate, userSMIMECertificate) and the POSIX login attributes stay
/// readable by users; docs/acl.md lists the decision for each.
pub const PERSONAL: &[&str] = &[
    // Reaching the person.
    "mail",
    "otherMailbox",
    "textEncodedORAddress",
    "telephoneNumber",
    "mobile",
    "homePhone",
    "pager",
    "facsimileTelephoneNumber",
    "telexNumber",
    "teletexTerminalIdentifier",
    "internationaliSDNNumber",
    "x121Address",
    "postalAddress",
    "homePostalAddress",
    "registeredAddress",
    "postalCode",
    "postOfficeBox",
    "street",
    "physicalDeliveryOfficeName",
    "roomNumber",
    "destinationIndicator",
    "preferredDeliveryMethod",
    "labeledURI",
    // Identifying the person outside the directory.
    "employeeNumber",
    "carLicense",
    "x500UniqueIdentifier",
    // Private.
    "jpegPhoto",
    "photo",
    "audio",
    "displayName",
    "personalTitle",
    "personalSignature",
    "preferredLanguage",
    "mailPreferenceOption",
    "drink",
    "userPKCS12",
];

/// Attributes login needs (RFC 2307 accounts and groups).
pub const POSIX: &[&str] = &[
    "uid",
    "uidNumber",
    "gidNumber",
    "homeDirectory",
    "loginShell",
    "gecos",
    "memberUid",
    "member",
    "uniqueMember",
    "memberOf",
    "cn",
    "objectClass",
];

/// Password policy state: visible to the owner and the helpdesk.
const ACCOUNT_STATE: &[&str] = &[
    "pwdFailureTime",
    "pwdChangedTime",
    "pwdReset",
    "pwdGraceUseTime",
    "pwdPolicySubentry",
    "pwdStartTime",
    "pwdEndTime",
    "pwdLastSuccess",
    "birchDisabledBy",
    "birchDisabledTime",
];

/// The policy's rules for this configuration.
pub fn rules(cfg: &Config) -> Vec<String> {
    let suffix = &cfg.suffix;
    let admins = cfg.access.admins_dn(suffix);
    let helpdesk = cfg.access.helpdesk_dn(suffix);
    let services = cfg.access.services_dn(suffix);
    let is_self_service = |a: &&str| cfg.access.self_service.iter().any(|s| s.eq_ignore_ascii_case(a));
    let split = |list: &[&str]| -> (Vec<String>, Vec<String>) {
        let (mine, rest): (Vec<&str>, Vec<&str>) = list.iter().copied().partition(is_self_service);
        (mine.into_iter().map(String::from).collect(), rest.into_iter().map(String::from).collect())
    };
    let (personal_self, personal) = split(PERSONAL);
    let (posix_self, posix) = split(POSIX);
    let other_self: Vec<String> = cfg
        .access
        .self_service
        .iter()
        .filter(|a| !PERSONAL.iter().chain(POSIX).any(|p| p.eq_ignore_ascii_case(a)))
        .cloned()
        .collect();
    let anon = if cfg.access.anonymous_posix { " by anonymous read" } else { "" };
    let svc = format!("by dn.subtree=\"{services}\" read");
    let mut out = vec![
        format!("to * by group=\"{admins}\" write by * none break"),
        format!("to attrs=userPassword by self write by group=\"{helpdesk}\" write by anonymous auth by * none"),
        "to attrs=pwdHistory by * none".to_string(),
        format!(
            "to attrs=pwdAccountLockedTime,birchDisabledReason by group=\"{helpdesk}\" write by self read by * none"
        ),
        format!("to attrs={} by group=\"{helpdesk}\" read by self read by * none", ACCOUNT_STATE.join(",")),
    ];
    if !personal_self.is_empty() {
        out.push(format!("to attrs={} by self write {svc} by * none", personal_self.join(",")));
    }
    out.push(format!("to attrs={} by self read {svc} by * none", personal.join(",")));
    if !posix_self.is_empty() {
        out.push(format!("to attrs={} by self write {svc} by users read{anon} by * none", posix_self.join(",")));
    }
    out.push(format!("to attrs={} {svc} by users read{anon} by * none", posix.join(",")));
    if !other_self.is_empty() {
        out.push(format!("to attrs={} by self write by users read by * none", other_self.join(",")));
    }
    out.push(format!("to attrs=entry {svc} by users read{anon} by * none"));
    out.push("to * by users read by * none".to_string());
    out
}
