//! Accounts others cannot lock out: the service accounts (nslcd, SSSD, the mail server)
//! and the root DN. Anyone can send wrong passwords for a DN; for a person's account that
//! may lock it (the price of stopping guessing), but a locked or throttled service account
//! stops every workstation's logins, and a throttled root DN the administrator. Failed binds
//! to an exempt DN therefore neither count towards a lock (pwdFailureTime, pwdMaxFailure)
//! nor take from the per-DN bucket of [`super::ratelimit`]: they count against the source
//! address only, whose bucket still stops guessing from one place.
//!
//! The exempt DNs are `[ppolicy] lockout_exempt` (DNs; each covers its subtree), by
//! default the service-account subtree (`access.services`, `ou=services,<suffix>`) and the
//! root DN. See docs/passwords.md.

use crate::config::Config;
use birch_schema::Schema;

/// The exempt DNs as configured (not normalized): `[ppolicy] lockout_exempt`, or by
/// default the service-account subtree and the root DN.
pub fn configured(config: &Config) -> Vec<String> {
    match &config.ppolicy.lockout_exempt {
        Some(list) => list.clone(),
        None => vec![config.access.services_dn(&config.suffix), config.root_dn()],
    }
}

/// Whether the normalized DN `ndn` is one of the normalized `exempt` DNs or below one.
/// Pure.
pub fn covers<S: AsRef<str>>(exempt: &[S], ndn: &str) -> bool {
    exempt.iter().any(|base| !base.as_ref().is_empty() && birch_schema::ndn::is_under(ndn, base.as_ref()))
}

/// The exempt DNs normalized, once, for [`covers`] (the write pipeline keeps them). DNs that
/// do not parse (the configuration check refuses them) are left out.
pub fn normalize(dns: &[String], schema: &Schema) -> Vec<String> {
    dns.iter().filter_map(|dn| birch_schema::dn::normalize_str(dn, schema).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_exempt(config: &Config, schema: &Schema, ndn: &str) -> bool {
        covers(&normalize(&configured(config), schema), ndn)
    }

    #[test]
    fn a_dn_is_covered_at_and_below_an_exempt_dn() {
        let exempt = ["ou=services,dc=example,dc=org", "cn=admin,dc=example,dc=org"];
        assert!(covers(&exempt, "cn=nslcd,ou=services,dc=example,dc=org"));
        assert!(covers(&exempt, "ou=services,dc=example,dc=org"));
        assert!(covers(&exempt, "cn=admin,dc=example,dc=org"));
        assert!(!covers(&exempt, "uid=alice,ou=people,dc=example,dc=org"));
        assert!(!covers(&exempt, "cn=x,cn=admin2,dc=example,dc=org"), "a suffix of the value is not below");
        assert!(!covers(&exempt, "cn=x\\,ou=services,dc=example,dc=org"), "an escaped comma is inside a value");
        assert!(covers(&exempt, "cn=x\\\\,ou=services,dc=example,dc=org"), "an escaped backslash ends a value");
        assert!(!covers(&[] as &[&str], "cn=admin,dc=example,dc=org"), "an empty list exempts nobody");
    }

    #[test]
    fn the_default_is_the_services_subtree_and_the_root_dn() {
        let schema = Schema::builtin();
        let mut cfg = Config { suffix: "dc=Example,dc=org".into(), ..Config::default() };
        assert_eq!(configured(&cfg), vec!["ou=services,dc=Example,dc=org", "cn=admin,dc=Example,dc=org"]);
        assert!(is_exempt(&cfg, &schema, "cn=nslcd,ou=services,dc=example,dc=org"));
        assert!(is_exempt(&cfg, &schema, "cn=admin,dc=example,dc=org"));
        assert!(!is_exempt(&cfg, &schema, "uid=alice,ou=people,dc=example,dc=org"));
        cfg.access.services = Some("ou=Daemons,dc=example,dc=org".into());
        cfg.root_dn = Some("cn=Manager,dc=example,dc=org".into());
        assert!(is_exempt(&cfg, &schema, "cn=sssd,ou=daemons,dc=example,dc=org"));
        assert!(is_exempt(&cfg, &schema, "cn=manager,dc=example,dc=org"));
        assert!(!is_exempt(&cfg, &schema, "cn=nslcd,ou=services,dc=example,dc=org"));
    }

    #[test]
    fn a_configured_list_replaces_the_default() {
        let schema = Schema::builtin();
        let mut cfg = Config { suffix: "dc=example,dc=org".into(), ..Config::default() };
        cfg.ppolicy.lockout_exempt = Some(vec!["ou=Robots,dc=example,dc=org".into()]);
        assert!(is_exempt(&cfg, &schema, "cn=r2,ou=robots,dc=example,dc=org"));
        assert!(!is_exempt(&cfg, &schema, "cn=nslcd,ou=services,dc=example,dc=org"));
        assert!(!is_exempt(&cfg, &schema, "cn=admin,dc=example,dc=org"));
        cfg.ppolicy.lockout_exempt = Some(vec![]);
        assert!(!is_exempt(&cfg, &schema, "cn=admin,dc=example,dc=org"), "[] exempts nobody");
    }
}
