//! The root DSE (RFC 4512 section 5.1): what the server supports, readable by anyone.

use crate::context::ServerCtx;
use birch_store::Entry;

/// Builds the root DSE entry.
pub fn entry(ctx: &ServerCtx) -> Entry {
    let mut e = Entry::default();
    let mut put = |name: &str, values: Vec<String>| {
        let canonical = ctx.schema().canonical(name);
        e.add_values(name, &canonical, values.into_iter().map(String::into_bytes));
    };
    let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    put("objectClass", v(&["top", "OpenLDAProotDSE"]));
    put("namingContexts", vec![ctx.config().suffix.clone()]);
    put("supportedLDAPVersion", v(&["3"]));
    put("supportedControl", v(super::SUPPORTED_CONTROLS));
    let mut extensions = v(super::extended::SUPPORTED_EXTENSIONS);
    if let Some(tls) = &ctx.tls() {
        extensions.push(birch_proto::oids::START_TLS.to_string());
        if tls.asks_client_certs() {
            put("supportedSASLMechanisms", v(&[super::sasl_external::EXTERNAL]));
        }
    }
    put("supportedExtension", extensions);
    put(
        "supportedFeatures",
        v(&[birch_proto::oids::FEATURE_ALL_OPERATIONAL_ATTRIBUTES, birch_proto::oids::FEATURE_LANGUAGE_TAG_OPTIONS]),
    );
    put("subschemaSubentry", v(&["cn=Subschema"]));
    put("vendorName", v(&["Birch"]));
    put("vendorVersion", vec![format!("Birch {}", env!("CARGO_PKG_VERSION"))]);
    e
}
