//! Stored password values (`userPassword`, `root_password_hash`): every scheme's parser
//! (`{ARGON2}`, `{SSHA*}`/`{SHA*}`, `{SMD5}`/`{MD5}`, `{CRYPT}`, `{PBKDF2*}`, cleartext).
//! The bytes up to the first NUL are the stored value, the rest the password tried.
//! Expensive parameters are bounded by the verifier itself (a stored value must not make a
//! bind take minutes), so slow inputs here are findings too.

#![cfg_attr(feature = "libfuzzer", no_main)]

use birch_server::password::{is_expensive, is_hashed, is_legacy, unknown_scheme, verify, Verification};

birch_fuzz::target!(|data: &[u8]| {
    let (stored, password) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"secret"[..]),
    };
    let v = verify(stored, password);
    let _ = (is_expensive(stored), is_hashed(stored), is_legacy(stored));
    let unknown = unknown_scheme(stored);
    if v == Verification::UnknownScheme {
        assert!(unknown.is_some(), "verify says unknown scheme but unknown_scheme says known: {stored:?}");
    }
    // A cleartext value matches exactly itself.
    if !is_hashed(stored) {
        assert_eq!(v == Verification::Match, stored == password);
    }
});
