//! userPassword values in OpenLDAP's `{SCHEME}value` form: argon2id hashing, and
//! verification of the schemes a campus slapd leaves behind.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// argon2id cost parameters. The default (m = 19456 KiB, t = 2, p = 1) is OWASP's minimum
/// recommendation and the `gen_campus_ldif.py --hash argon2` default; one hash costs about
/// 20-25 ms of one core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory cost in KiB.
    pub m_cost_kib: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Parallelism (lanes).
    pub p: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params { m_cost_kib: 19456, t_cost: 2, p: 1 }
    }
}

/// A password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

/// Outcome of checking a password against a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password is right.
    Match,
    /// The password is wrong (or the stored value is malformed).
    Mismatch,
    /// The stored value uses a scheme Birch cannot verify.
    UnknownScheme,
}

fn hasher(params: &Argon2Params) -> Result<Argon2<'static>, PasswordError> {
    let p = Params::new(params.m_cost_kib, params.t_cost, params.p, None).map_err(|e| PasswordError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
}

/// Hashes a password as `{ARGON2}$argon2id$v=19$m=..,t=..,p=..$salt$hash`.
pub fn hash_argon2id(password: &[u8], params: &Argon2Params) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = hasher(params)?.hash_password(password, &salt).map_err(|e| PasswordError(e.to_string()))?;
    Ok(format!("{{ARGON2}}{hash}"))
}

/// Whether a value carries a `{SCHEME}` prefix (is already hashed).
pub fn is_hashed(value: &[u8]) -> bool {
    split_scheme(value).is_some()
}

fn split_scheme(value: &[u8]) -> Option<(String, &[u8])> {
    if value.first() != Some(&b'{') {
        return None;
    }
    let end = value.iter().position(|&b| b == b'}')?;
    let scheme = std::str::from_utf8(&value[1..end]).ok()?;
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return None;
    }
    Some((scheme.to_ascii_uppercase(), &value[end + 1..]))
}

/// Checks `password` against a stored userPassword value in constant time per scheme.
pub fn verify(stored: &[u8], password: &[u8]) -> Verification {
    let Some((scheme, rest)) = split_scheme(stored) else {
        return match_if(stored.ct_eq(password).into());
    };
    match scheme.as_str() {
        "ARGON2" => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return Verification::Mismatch;
            };
            let Ok(parsed) = PasswordHash::new(s) else {
                return Verification::Mismatch;
            };
            match_if(Argon2::default().verify_password(password, &parsed).is_ok())
        }
        "SHA" => digest_match::<Sha1>(rest, password, false),
        "SSHA" => digest_match::<Sha1>(rest, password, true),
        "SHA256" => digest_match::<Sha256>(rest, password, false),
        "SSHA256" => digest_match::<Sha256>(rest, password, true),
        "SHA512" => digest_match::<Sha512>(rest, password, false),
        "SSHA512" => digest_match::<Sha512>(rest, password, true),
        _ => Verification::UnknownScheme,
    }
}

fn match_if(ok: bool) -> Verification {
    if ok {
        Verification::Match
    } else {
        Verification::Mismatch
    }
}

/// `{SHA*}`: base64(digest); `{SSHA*}`: base64(digest(password + salt) + salt).
fn digest_match<D: Digest>(b64: &[u8], password: &[u8], salted: bool) -> Verification {
    let Ok(raw) = STANDARD.decode(b64.trim_ascii()) else {
        return Verification::Mismatch;
    };
    let n = <D as Digest>::output_size();
    if raw.len() < n || (!salted && raw.len() != n) {
        return Verification::Mismatch;
    }
    let (expected, salt) = raw.split_at(n);
    let mut d = D::new();
    d.update(password);
    d.update(salt);
    match_if(d.finalize().as_slice().ct_eq(expected).into())
}

/// Spends the time of one argon2 verification and fails: a bind to an unknown DN must
/// cost what a bind to an existing argon2 account costs.
pub fn dummy_verify(params: &Argon2Params) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash_argon2id(b"birch-dummy-password", params).ok());
    if let Some(stored) = stored {
        let _ = verify(stored.as_bytes(), b"not-the-dummy-password");
    }
}

/// A random 20-character password (letters and digits) for the generated root password.
pub fn generate_password() -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::rngs::OsRng.sample_iter(&Alphanumeric).take(20).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by OpenLDAP's slappasswd 2.5 (from shared/fixtures/hash-vectors.tsv), cleartext "secret".
    const VECTORS: &[&str] = &[
        "{SSHA}i4gvXpGd4gYaurq5q0k//nw+lJlso9tr",
        "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
        "{SSHA256}zV7QJPBzLACp5MkbYFK9JhbmE9zYZjbfamTumUTqSa5qlL7G3i7UXA==",
        "{SSHA512}uMQfYTbGPcQfRAAVptMEng6nHutm+yejSnowQwPKdP5dj78SQtwtOhf7i4oJu51/t9wfsVHDDav83c7yQuG61+zXSzPyaNSc",
        "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
        "{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg==",
        "{ARGON2}$argon2i$v=19$m=4096,t=3,p=1$lLEJ2MWxVCM3FMAQVsT7vQ$b/GoW7vrrdqAsntUvDtTEWI60Dmye3K63kWfZc9Y+sE",
        "secret",
    ];

    #[test]
    fn slappasswd_vectors_verify() {
        for v in VECTORS {
            assert_eq!(verify(v.as_bytes(), b"secret"), Verification::Match, "{v}");
            assert_eq!(verify(v.as_bytes(), b"Secret"), Verification::Mismatch, "{v}");
        }
    }

    #[test]
    fn argon2id_round_trip() {
        let p = Argon2Params { m_cost_kib: 1024, t_cost: 1, p: 1 };
        let h = hash_argon2id(b"pw", &p).unwrap();
        assert!(h.starts_with("{ARGON2}$argon2id$v=19$m=1024,t=1,p=1$"), "{h}");
        assert_eq!(verify(h.as_bytes(), b"pw"), Verification::Match);
        assert_eq!(verify(h.as_bytes(), b"px"), Verification::Mismatch);
        assert!(is_hashed(h.as_bytes()));
        assert!(!is_hashed(b"plain"));
    }

    #[test]
    fn unknown_and_malformed_values() {
        assert_eq!(verify(b"{CRYPT}$1$EWaCQxmS$CBeJlxZxifst.N8v4JjWE.", b"secret"), Verification::UnknownScheme);
        assert_eq!(verify(b"{NOPE}xyz", b"secret"), Verification::UnknownScheme);
        assert_eq!(verify(b"{SSHA}!!!notbase64", b"secret"), Verification::Mismatch);
        assert_eq!(verify(b"{SSHA}AAAA", b"secret"), Verification::Mismatch);
        assert_eq!(verify(b"{ARGON2}garbage", b"secret"), Verification::Mismatch);
        assert_eq!(verify(b"{sha}5en6G6MezRroT3XKqkdPOmY/BfQ=", b"secret"), Verification::Match);
    }

    #[test]
    fn generated_passwords_differ() {
        let a = generate_password();
        assert_eq!(a.len(), 20);
        assert_ne!(a, generate_password());
    }
}
