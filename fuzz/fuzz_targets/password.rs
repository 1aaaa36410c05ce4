//! Stored password values (`userPassword`, `root_password_hash`): every scheme's parser
//! (`{ARGON2}`, `{SSHA*}`/`{SHA*}`, `{SMD5}`/`{MD5}`, `{CRYPT}`, `{PBKDF2*}`, cleartext).
//! The bytes up to the first NUL are the stored value, the rest the password tried.
//! Expensive parameters are bounded by the verifier itself (a stored value must not make a
//! bind take minutes), so slow inputs here are findings too.

#![cfg_attr(feature = "libfuzzer", no_main)]

use birch_server::password::{is_expensive, is_hashed, is_legacy, unknown_scheme, verify, Scheme, Verification};

birch_fuzz::target!(|data: &[u8]| {
    let (stored, password) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"secret"[..]),
    };
    let v = verify(stored, password);
    let _ = (is_expensive(stored), is_hashed(stored), is_legacy(stored));
    // One answer to "is this scheme known", whoever asks.
    let known = Scheme::parse(stored).is_some();
    assert_eq!(unknown_scheme(stored).is_none(), known, "unknown_scheme and Scheme::parse disagree: {stored:?}");
    assert_eq!(v != Verification::UnknownScheme, known, "verify and Scheme::parse disagree: {stored:?}");
    // A cleartext value matches exactly itself.
    if !is_hashed(stored) {
        assert_eq!(v == Verification::Match, stored == password);
    }
});
