//! The configuration file (TOML): any text is read as `birch serve --config` reads it; a
//! configuration that is accepted yields its schema (when built in), its access rules and
//! its derived settings without panicking.

#![cfg_attr(feature = "libfuzzer", no_main)]

use birch_server::config::Config;
use std::sync::Arc;

birch_fuzz::target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(cfg) = Config::parse(text, "fuzz.toml") else { return };
    let _ = (cfg.root_dn(), cfg.argon2_params(), cfg.connections.idle(), cfg.connections.write());
    let _ = cfg.audit.path(&cfg.data_dir);
    let _ = (cfg.tls.enabled(), cfg.tls.ldaps_client_certs());
    if cfg.schema_dir.is_none() {
        if let Ok(schema) = cfg.schema() {
            let _ = birch_server::access::Access::compile(&cfg, &Arc::new(schema));
        }
    }
});
