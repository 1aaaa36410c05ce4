//! Names mimalloc's `mi_option_purge_delay` for src/main.rs. libmimalloc-sys (0.1.49)
//! exports no constant for it, and mimalloc's option numbers differ between its v2 and v3
//! headers, so the number is read from the very `mimalloc.h` that the linked library is
//! compiled from (libmimalloc-sys gives its directory as `DEP_MIMALLOC_INCLUDE_DIR`) and
//! written to `$OUT_DIR/mimalloc_options.rs`. A header this cannot read fails the build.

use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_MIMALLOC_INCLUDE_DIR");
    let header = PathBuf::from(std::env::var("DEP_MIMALLOC_INCLUDE_DIR")?).join("mimalloc.h");
    println!("cargo:rerun-if-changed={}", header.display());
    let text = std::fs::read_to_string(&header).map_err(|e| format!("{}: {e}", header.display()))?;
    let name = "mi_option_purge_delay";
    let value =
        option_value(&text, name).ok_or_else(|| format!("{}: no {name} in enum mi_option_e", header.display()))?;
    let code = format!(
        "/// `{name}` of the linked mimalloc ({value}; read from its mimalloc.h by build.rs).\n\
         const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = {value};\n"
    );
    std::fs::write(PathBuf::from(std::env::var("OUT_DIR")?).join("mimalloc_options.rs"), code)?;
    Ok(())
}

/// The value of the enumerator `name` of `typedef enum mi_option_e { ... }`, counted as C
/// does (from 0, one more than the previous, or `= number` / `= earlier_name`). `None` if it
/// is missing or the enum holds what this does not read (preprocessor lines, `/*`).
fn option_value(header: &str, name: &str) -> Option<i64> {
    let body = &header[header.find("typedef enum mi_option_e")?..];
    let body = &body[body.find('{')? + 1..];
    let body = &body[..body.find('}')?];
    let mut known: Vec<(&str, i64)> = Vec::new();
    let mut next = 0;
    for line in body.lines() {
        let code = line.split("//").next().unwrap_or_default();
        if code.trim_start().starts_with('#') || code.contains("/*") {
            return None;
        }
        for item in code.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (enumerator, value) = match item.split_once('=') {
                None => (item, next),
                Some((n, v)) => {
                    let v = v.trim();
                    let value = v.parse().ok().or_else(|| known.iter().find(|(k, _)| *k == v).map(|(_, x)| *x))?;
                    (n.trim(), value)
                }
            };
            if !enumerator.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return None;
            }
            if enumerator == name {
                return Some(value);
            }
            known.push((enumerator, value));
            next = value + 1;
        }
    }
    None
}
