//! userPassword values in OpenLDAP's `{SCHEME}value` form: argon2id hashing, and
//! verification of the schemes an OpenLDAP server leaves behind.
//!
//! Verified schemes (names case-insensitive): `{ARGON2}` (PHC strings of argon2id, argon2i
//! or argon2d with the parameters they carry), `{SHA}`, `{SSHA}`, `{SHA256}`, `{SSHA256}`,
//! `{SHA512}`, `{SSHA512}`, `{MD5}`, `{SMD5}`, `{CRYPT}` (md5/sha256/sha512-crypt, bcrypt),
//! `{PBKDF2}`/`{PBKDF2-SHA1}`/`{PBKDF2-SHA256}`/`{PBKDF2-SHA512}` (OpenLDAP pw-pbkdf2 and
//! 389-DS 2.x), `{PBKDF2_SHA256}` (389-DS 1.x), and cleartext (a value without a scheme):
//! the [`Scheme`]s. Every comparison is constant-time; a malformed stored value never
//! matches and never panics.

use crate::config::{Argon2Section, Config};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// argon2id cost parameters for new hashes.
///
/// The default (m = 19456 KiB, t = 2, p = 1) is OWASP's minimum recommendation for
/// argon2id; one hash costs about 20-25 ms of one core. (OpenLDAP's argon2 module defaults
/// to m = 4096 KiB, t = 3, p = 1; its hashes verify whatever the parameters here.)
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
    /// The defaults of the `[argon2]` section.
    fn default() -> Self {
        Argon2Params::from(&Argon2Section::default())
    }
}

impl From<&Argon2Section> for Argon2Params {
    /// The parameters the `[argon2]` section sets.
    fn from(cfg: &Argon2Section) -> Self {
        Argon2Params { m_cost_kib: cfg.m_cost_kib, t_cost: cfg.t_cost, p: cfg.parallelism }
    }
}

impl Config {
    /// argon2 parameters for new hashes (`[argon2]`); the same as
    /// `Argon2Params::from(&cfg.argon2)`. Defined here, not in `config`, because the
    /// configuration types depend on nothing else in the crate.
    pub fn argon2_params(&self) -> Argon2Params {
        Argon2Params::from(&self.argon2)
    }
}

/// A password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The argon2 parameters are out of range (e.g. m < 8 * p, t = 0).
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Outcome of checking a password against a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password is right.
    Match,
    /// The password is wrong, or the stored value is malformed.
    Mismatch,
    /// The stored value uses a scheme Birch cannot verify (`{SASL}`, DES crypt, ...).
    UnknownScheme,
}

/// Largest argon2 memory cost of a stored hash that is verified: 2 GiB, RFC 9106's
/// first recommended setting. A user who may write their own userPassword must not be
/// able to make a bind allocate without bound; such values never match.
pub const MAX_VERIFY_M_COST_KIB: u32 = 2 * 1024 * 1024;
/// Largest memory cost times passes (KiB) of a stored argon2 hash that is verified.
pub const MAX_VERIFY_WORK_KIB: u64 = 4 * 1024 * 1024;
/// Largest argon2 parallelism of a stored hash that is verified.
pub const MAX_VERIFY_LANES: u32 = 64;

/// Base64 as OpenLDAP writes it (standard alphabet), read leniently: padding optional and
/// non-zero trailing bits accepted, as other tools produce them.
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn hasher(params: &Argon2Params) -> Result<Argon2<'static>, PasswordError> {
    let p = Params::new(params.m_cost_kib, params.t_cost, params.p, None)
        .map_err(|e| PasswordError::Params(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
}

/// Hashes a password as `{ARGON2}$argon2id$v=19$m=..,t=..,p=..$salt$hash` with a random
/// 16-byte salt and a 32-byte output, a value OpenLDAP's argon2 module also verifies.
pub fn hash_argon2id(password: &[u8], params: &Argon2Params) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = hasher(params)?.hash_password(password, &salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(format!("{{ARGON2}}{hash}"))
}

/// Hashes a generated high-entropy secret as `{SSHA512}` (salted SHA-512, 16-byte random
/// salt), as OpenLDAP's slappasswd would. Only for secrets no one chose: a service
/// account's 32 random characters (about 190 bits) cannot be guessed however fast the hash,
/// so argon2's cost would buy nothing on every bind (docs/passwords.md, "Service accounts").
/// People's passwords are hashed with [`hash_argon2id`].
pub fn hash_generated_secret(secret: &[u8]) -> String {
    use argon2::password_hash::rand_core::RngCore;
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let mut raw = Sha512::new().chain_update(secret).chain_update(salt).finalize().to_vec();
    raw.extend_from_slice(&salt);
    format!("{{SSHA512}}{}", base64::engine::general_purpose::STANDARD.encode(raw))
}

/// Whether a stored value is in the scheme [`hash_generated_secret`] makes (or
/// `{SSHA256}`): on a service account such a value is kept by rehash-on-bind.
pub fn is_generated_secret_scheme(stored: &[u8]) -> bool {
    matches!(Scheme::parse(stored), Some(Scheme::Ssha512 | Scheme::Ssha256))
}

/// Whether a value carries a `{SCHEME}` prefix (is already hashed), as OpenLDAP decides
/// it: a `{`, a non-empty scheme name, then `}`.
pub fn is_hashed(value: &[u8]) -> bool {
    split_scheme(value).is_some()
}

/// Splits `{SCHEME}rest` into the scheme name (as written) and `rest`.
fn split_scheme(value: &[u8]) -> Option<(&str, &[u8])> {
    let inner = value.strip_prefix(b"{")?;
    let end = inner.iter().position(|&b| b == b'}')?;
    let scheme = std::str::from_utf8(&inner[..end]).ok()?;
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
        return None;
    }
    Some((scheme, &inner[end + 1..]))
}

/// A storage scheme of userPassword values that Birch verifies. Every fact about a scheme
/// lives here: the names and crypt(3) prefixes that select it ([`Scheme::split`]), whether
/// verifying it is expensive, whether a value in it is replaced on bind, and how it is
/// verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// A value without a `{SCHEME}` prefix, compared as it is.
    Cleartext,
    /// `{ARGON2}`: a PHC string of argon2id, argon2i or argon2d, with its parameters.
    Argon2,
    /// `{SHA}`: base64 of SHA-1(password).
    Sha,
    /// `{SSHA}`: base64 of SHA-1(password + salt) + salt.
    Ssha,
    /// `{SHA256}`.
    Sha256,
    /// `{SSHA256}`.
    Ssha256,
    /// `{SHA512}`.
    Sha512,
    /// `{SSHA512}`.
    Ssha512,
    /// `{MD5}`.
    Md5,
    /// `{SMD5}`.
    Smd5,
    /// `{CRYPT}$1$...`: md5-crypt.
    CryptMd5,
    /// `{CRYPT}$5$...`: sha256-crypt.
    CryptSha256,
    /// `{CRYPT}$6$...`: sha512-crypt.
    CryptSha512,
    /// `{CRYPT}$2a$...`, `$2b$`, `$2y$`: bcrypt.
    Bcrypt,
    /// `{PBKDF2}` or `{PBKDF2-SHA1}` (OpenLDAP pw-pbkdf2, 389-DS 2.x).
    Pbkdf2Sha1,
    /// `{PBKDF2-SHA256}` (OpenLDAP pw-pbkdf2, 389-DS 2.x).
    Pbkdf2Sha256,
    /// `{PBKDF2-SHA512}` (OpenLDAP pw-pbkdf2, 389-DS 2.x).
    Pbkdf2Sha512,
    /// `{PBKDF2_SHA256}` (389-DS 1.x: rounds, salt and key in one base64 string).
    Pbkdf2Sha256Ds389,
}

/// The `{SCHEME}` names (upper case) and the scheme each selects; `{CRYPT}` is not here, its
/// scheme depends on the value ([`CRYPT_PREFIXES`]).
const NAMES: [(&str, Scheme); 14] = [
    ("ARGON2", Scheme::Argon2),
    ("SHA", Scheme::Sha),
    ("SSHA", Scheme::Ssha),
    ("SHA256", Scheme::Sha256),
    ("SSHA256", Scheme::Ssha256),
    ("SHA512", Scheme::Sha512),
    ("SSHA512", Scheme::Ssha512),
    ("MD5", Scheme::Md5),
    ("SMD5", Scheme::Smd5),
    ("PBKDF2", Scheme::Pbkdf2Sha1),
    ("PBKDF2-SHA1", Scheme::Pbkdf2Sha1),
    ("PBKDF2-SHA256", Scheme::Pbkdf2Sha256),
    ("PBKDF2-SHA512", Scheme::Pbkdf2Sha512),
    ("PBKDF2_SHA256", Scheme::Pbkdf2Sha256Ds389),
];

/// The crypt(3) forms verified under `{CRYPT}`, by prefix (DES crypt and others are not).
const CRYPT_PREFIXES: [(&str, Scheme); 6] = [
    ("$1$", Scheme::CryptMd5),
    ("$5$", Scheme::CryptSha256),
    ("$6$", Scheme::CryptSha512),
    ("$2a$", Scheme::Bcrypt),
    ("$2b$", Scheme::Bcrypt),
    ("$2y$", Scheme::Bcrypt),
];

impl Scheme {
    /// Every scheme.
    pub const ALL: [Scheme; 18] = [
        Scheme::Cleartext,
        Scheme::Argon2,
        Scheme::Sha,
        Scheme::Ssha,
        Scheme::Sha256,
        Scheme::Ssha256,
        Scheme::Sha512,
        Scheme::Ssha512,
        Scheme::Md5,
        Scheme::Smd5,
        Scheme::CryptMd5,
        Scheme::CryptSha256,
        Scheme::CryptSha512,
        Scheme::Bcrypt,
        Scheme::Pbkdf2Sha1,
        Scheme::Pbkdf2Sha256,
        Scheme::Pbkdf2Sha512,
        Scheme::Pbkdf2Sha256Ds389,
    ];

    /// The scheme of a stored value: [`Scheme::Cleartext`] without a `{SCHEME}` prefix,
    /// `None` for a scheme Birch cannot verify (`{SASL}`, DES `{CRYPT}`, ...).
    pub fn parse(stored: &[u8]) -> Option<Scheme> {
        Self::split(stored).map(|(scheme, _)| scheme)
    }

    /// The scheme of a stored value and the part [`Scheme::verify`] reads: what follows the
    /// `{SCHEME}` prefix (scheme names are case-insensitive), or the whole cleartext value.
    pub fn split(stored: &[u8]) -> Option<(Scheme, &[u8])> {
        match split_scheme(stored) {
            None => Some((Scheme::Cleartext, stored)),
            Some((name, rest)) => Some((Self::named(name, rest)?, rest)),
        }
    }

    /// The scheme a `{SCHEME}` name (in any case) selects, given the rest of the value.
    fn named(name: &str, rest: &[u8]) -> Option<Scheme> {
        if name.eq_ignore_ascii_case("CRYPT") {
            return crypt_kind(rest);
        }
        NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, s)| *s)
    }

    /// The `{SCHEME}` name values in this scheme carry (the first of its aliases; empty for
    /// cleartext).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Cleartext => "",
            Scheme::CryptMd5 | Scheme::CryptSha256 | Scheme::CryptSha512 | Scheme::Bcrypt => "CRYPT",
            s => NAMES.iter().find(|(_, n)| *n == s).map_or("", |(name, _)| name),
        }
    }

    /// Whether verifying costs milliseconds (argon2, crypt(3), PBKDF2: deliberately slow
    /// hashes), so that it belongs on the bounded hashing pool rather than on an async
    /// worker. The digests and cleartext cost about a microsecond.
    pub fn expensive(self) -> bool {
        match self {
            Scheme::Argon2
            | Scheme::CryptMd5
            | Scheme::CryptSha256
            | Scheme::CryptSha512
            | Scheme::Bcrypt
            | Scheme::Pbkdf2Sha1
            | Scheme::Pbkdf2Sha256
            | Scheme::Pbkdf2Sha512
            | Scheme::Pbkdf2Sha256Ds389 => true,
            Scheme::Cleartext
            | Scheme::Sha
            | Scheme::Ssha
            | Scheme::Sha256
            | Scheme::Ssha256
            | Scheme::Sha512
            | Scheme::Ssha512
            | Scheme::Md5
            | Scheme::Smd5 => false,
        }
    }

    /// Whether a value in this scheme should be replaced by argon2id once its password is
    /// known (rehash on bind): every scheme but `{ARGON2}`, cleartext included. An argon2
    /// hash with other parameters is kept: it is as strong.
    pub fn legacy(self) -> bool {
        self != Scheme::Argon2
    }

    /// Checks `password` against `encoded`, the part of a stored value that
    /// [`Scheme::split`] gives. Comparisons are constant-time; a malformed value never
    /// matches.
    pub fn verify(self, encoded: &[u8], password: &[u8]) -> Verification {
        match self {
            Scheme::Cleartext => cleartext_match(encoded, password),
            Scheme::Argon2 => argon2_match(encoded, password),
            Scheme::Sha => digest_match::<Sha1>(encoded, password, false),
            Scheme::Ssha => digest_match::<Sha1>(encoded, password, true),
            Scheme::Sha256 => digest_match::<Sha256>(encoded, password, false),
            Scheme::Ssha256 => digest_match::<Sha256>(encoded, password, true),
            Scheme::Sha512 => digest_match::<Sha512>(encoded, password, false),
            Scheme::Ssha512 => digest_match::<Sha512>(encoded, password, true),
            Scheme::Md5 => digest_match::<md5::Md5>(encoded, password, false),
            Scheme::Smd5 => digest_match::<md5::Md5>(encoded, password, true),
            Scheme::CryptMd5 | Scheme::CryptSha256 | Scheme::CryptSha512 | Scheme::Bcrypt => {
                if crypt_kind(encoded) == Some(self) {
                    crypt_match(encoded, password)
                } else {
                    Verification::Mismatch
                }
            }
            Scheme::Pbkdf2Sha1 => pbkdf2_match(Prf::Sha1, encoded, password),
            Scheme::Pbkdf2Sha256 => pbkdf2_match(Prf::Sha256, encoded, password),
            Scheme::Pbkdf2Sha512 => pbkdf2_match(Prf::Sha512, encoded, password),
            Scheme::Pbkdf2Sha256Ds389 => pbkdf2_389_match(encoded, password),
        }
    }
}

/// The crypt(3) form of a `{CRYPT}` value, by its prefix (leading blanks ignored).
fn crypt_kind(rest: &[u8]) -> Option<Scheme> {
    let rest = rest.trim_ascii_start();
    CRYPT_PREFIXES.iter().find(|(p, _)| rest.starts_with(p.as_bytes())).map(|(_, s)| *s)
}

/// The scheme name of a stored value Birch cannot verify (for `birch check`), if it is one.
pub fn unknown_scheme(stored: &[u8]) -> Option<String> {
    let (name, rest) = split_scheme(stored)?;
    Scheme::named(name, rest).is_none().then(|| name.to_ascii_uppercase())
}

/// Whether a stored value should be replaced by argon2id once its password is known
/// ([`Scheme::legacy`]; a value in a scheme Birch cannot verify counts as legacy too).
pub fn is_legacy(stored: &[u8]) -> bool {
    Scheme::parse(stored).is_none_or(Scheme::legacy)
}

/// Whether verifying this stored value is expensive ([`Scheme::expensive`]), so that it
/// belongs on the bounded hashing pool rather than on an async worker.
pub fn is_expensive(stored: &[u8]) -> bool {
    Scheme::parse(stored).is_some_and(Scheme::expensive)
}

/// Checks `password` against a stored userPassword value. Comparisons are constant-time;
/// malformed values (bad base64, too short, unparsable or oversized argon2 strings) give
/// [`Verification::Mismatch`], schemes Birch does not know [`Verification::UnknownScheme`].
pub fn verify(stored: &[u8], password: &[u8]) -> Verification {
    match Scheme::split(stored) {
        Some((scheme, encoded)) => scheme.verify(encoded, password),
        None => Verification::UnknownScheme,
    }
}

fn match_if(ok: bool) -> Verification {
    if ok {
        Verification::Match
    } else {
        Verification::Mismatch
    }
}

/// A cleartext value. `subtle`'s slice comparison returns early on a length difference,
/// so both sides are hashed first: the comparison then takes the same time whatever the
/// lengths and contents.
fn cleartext_match(stored: &[u8], password: &[u8]) -> Verification {
    match_if(Sha256::digest(stored).ct_eq(&Sha256::digest(password)).into())
}

/// `{ARGON2}`: a PHC string; argon2's verifier compares outputs in constant time.
fn argon2_match(phc: &[u8], password: &[u8]) -> Verification {
    let Ok(phc) = std::str::from_utf8(phc) else {
        return Verification::Mismatch;
    };
    let Ok(parsed) = PasswordHash::new(phc.trim_ascii()) else {
        return Verification::Mismatch;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return Verification::Mismatch;
    };
    let work = u64::from(params.m_cost()) * u64::from(params.t_cost());
    if params.m_cost() > MAX_VERIFY_M_COST_KIB || work > MAX_VERIFY_WORK_KIB || params.p_cost() > MAX_VERIFY_LANES {
        tracing::warn!(
            m = params.m_cost(),
            t = params.t_cost(),
            p = params.p_cost(),
            "stored argon2 hash exceeds the verification limits; it never matches"
        );
        return Verification::Mismatch;
    }
    match_if(Argon2::default().verify_password(password, &parsed).is_ok())
}

/// Highest bcrypt cost verified: each step doubles the work, and a stored hash must not
/// be able to make every bind take minutes.
const MAX_BCRYPT_COST: u32 = 16;

/// Most SHA-crypt (`$5$`, `$6$`) rounds verified: glibc's default is 5,000, and like
/// PBKDF2's cap this is about a second of one core.
const MAX_SHA_CRYPT_ROUNDS: u32 = 1_000_000;

/// `{CRYPT}`: the crypt(3) forms slapd leaves behind — MD5 (`$1$`), SHA-256 (`$5$`),
/// SHA-512 (`$6$`) and bcrypt (`$2a$`, `$2b$`, `$2y$`), verified by the `pwhash` crate.
fn crypt_match(hash: &[u8], password: &[u8]) -> Verification {
    let Ok(hash) = std::str::from_utf8(hash) else {
        return Verification::Mismatch;
    };
    let hash = hash.trim();
    // crypt(3) strings are printable ASCII; pwhash's bcrypt decoder underflows (a panic in
    // builds with overflow checks) on a control character.
    if !hash.bytes().all(|b| b.is_ascii_graphic()) {
        return Verification::Mismatch;
    }
    if let Some(rest) = hash.strip_prefix("$5$").or_else(|| hash.strip_prefix("$6$")) {
        // pwhash clamps the round count to 999,999,999 (minutes of work), not to our cap.
        let rounds = rest.strip_prefix("rounds=").and_then(|r| r.split('$').next()).and_then(|r| r.parse::<u64>().ok());
        if rounds.is_some_and(|r| r > u64::from(MAX_SHA_CRYPT_ROUNDS)) {
            return Verification::Mismatch;
        }
    }
    if hash.starts_with("$2") {
        let cost = hash.get(4..6).and_then(|c| c.parse::<u32>().ok());
        if cost.is_none_or(|c| c > MAX_BCRYPT_COST) {
            return Verification::Mismatch;
        }
    }
    // pwhash compares the computed and stored hashes itself; the inputs are public
    // (salt, cost) but for the password, whose timing it does not leak beyond the hash.
    match_if(pwhash::unix::verify(password, hash))
}

/// Most PBKDF2 iterations verified (about a second of one core for SHA-512): a stored
/// value must not be able to make every bind take minutes.
const MAX_PBKDF2_ROUNDS: u32 = 1_000_000;

/// "Adapted base64" of passlib and OpenLDAP's pw-pbkdf2 module: `.` for `+`, no padding.
fn ab64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let std: Vec<u8> = text.iter().map(|&b| if b == b'.' { b'+' } else { b }).collect();
    B64.decode(std).ok()
}

/// The HMAC digest of a PBKDF2 value.
#[derive(Clone, Copy)]
enum Prf {
    Sha1,
    Sha256,
    Sha512,
}

fn pbkdf2_check(prf: Prf, password: &[u8], salt: &[u8], rounds: u32, expected: &[u8]) -> Verification {
    if rounds == 0 || rounds > MAX_PBKDF2_ROUNDS || expected.is_empty() || expected.len() > 1024 {
        return Verification::Mismatch;
    }
    let mut out = vec![0u8; expected.len()];
    match prf {
        Prf::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, rounds, &mut out),
        Prf::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, rounds, &mut out),
        Prf::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, rounds, &mut out),
    }
    match_if(out.ct_eq(expected).into())
}

/// `{PBKDF2-SHA*}` as OpenLDAP's pw-pbkdf2 module and 389-DS 2.x write it:
/// `rounds$ab64(salt)$ab64(key)`.
fn pbkdf2_match(prf: Prf, rest: &[u8], password: &[u8]) -> Verification {
    let mut parts = rest.trim_ascii().split(|b| *b == b'$');
    let (Some(rounds), Some(salt), Some(key), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Verification::Mismatch;
    };
    let rounds = std::str::from_utf8(rounds).ok().and_then(|r| r.parse::<u32>().ok());
    match (rounds, ab64_decode(salt), ab64_decode(key)) {
        (Some(rounds), Some(salt), Some(key)) => pbkdf2_check(prf, password, &salt, rounds, &key),
        _ => Verification::Mismatch,
    }
}

/// 389-DS 1.x `{PBKDF2_SHA256}`: base64 of a 4-byte big-endian round count, a 64-byte
/// salt and a 256-byte key.
fn pbkdf2_389_match(rest: &[u8], password: &[u8]) -> Verification {
    let cleaned: Vec<u8> = rest.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let Ok(raw) = B64.decode(cleaned) else {
        return Verification::Mismatch;
    };
    if raw.len() != 4 + 64 + 256 {
        return Verification::Mismatch;
    }
    let rounds = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
    pbkdf2_check(Prf::Sha256, password, &raw[4..68], rounds, &raw[68..])
}

/// `{SHA*}`: base64(digest(password)); `{SSHA*}`: base64(digest(password + salt) + salt)
/// with a non-empty salt (as OpenLDAP requires).
fn digest_match<D: Digest>(b64: &[u8], password: &[u8], salted: bool) -> Verification {
    let Ok(raw) = B64.decode(b64.trim_ascii()) else {
        return Verification::Mismatch;
    };
    let n = <D as Digest>::output_size();
    let well_formed = if salted { raw.len() > n } else { raw.len() == n };
    if !well_formed {
        return Verification::Mismatch;
    }
    let (expected, salt) = raw.split_at(n);
    let mut d = D::new();
    d.update(password);
    d.update(salt);
    match_if(d.finalize().as_slice().ct_eq(expected).into())
}

/// Spends the time of one argon2 verification: a bind to an unknown DN must cost what a
/// bind to an existing argon2 account costs. The hash verified against is made once, on
/// the first call, with that call's `params` (the configured ones, fixed for the life of
/// the process).
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

    #[test]
    fn generated_secrets_are_salted_sha512_and_verify() {
        let a = hash_generated_secret(b"0123456789abcdefghijABCDEFGHIJ01");
        let b = hash_generated_secret(b"0123456789abcdefghijABCDEFGHIJ01");
        assert!(a.starts_with("{SSHA512}"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert_eq!(verify(a.as_bytes(), b"0123456789abcdefghijABCDEFGHIJ01"), Verification::Match);
        assert_eq!(verify(a.as_bytes(), b"0123456789abcdefghijABCDEFGHIJ02"), Verification::Mismatch);
        assert!(is_generated_secret_scheme(a.as_bytes()));
        assert!(!is_generated_secret_scheme(b"{SSHA}abcd"));
        assert!(!is_expensive(a.as_bytes()));
    }

    #[test]
    fn only_slow_hashes_are_expensive() {
        assert!(is_expensive(b"{ARGON2}$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"));
        assert!(is_expensive(b"{argon2}$argon2i$x"));
        assert!(is_expensive(b"{CRYPT}$6$x$y"));
        assert!(is_expensive(b"{PBKDF2_SHA256}AAAA"));
        assert!(!is_expensive(b"{SSHA}i4gvXpGd4gYaurq5q0k//nw+lJlso9tr"));
        assert!(!is_expensive(b"secret"));
        // Unknown schemes are refused at once: nothing to put on the pool.
        assert!(!is_expensive(b"{CRYPT}abDES"));
        assert!(!is_expensive(b"{PBKDF2X}1$a$b"));
    }

    /// Which values select which scheme: names in any case, aliases, crypt(3) prefixes.
    #[test]
    fn each_scheme_is_parsed_from_its_values() {
        use Scheme::*;
        for (stored, scheme) in [
            (&b"secret"[..], Some(Cleartext)),
            (b"", Some(Cleartext)),
            (b"{}abc", Some(Cleartext)),
            (b"{ARGON2}$argon2id$v=19$", Some(Argon2)),
            (b"{argon2}x", Some(Argon2)),
            (b"{SHA}x", Some(Sha)),
            (b"{Ssha}x", Some(Ssha)),
            (b"{SHA256}x", Some(Sha256)),
            (b"{SSHA256}x", Some(Ssha256)),
            (b"{SHA512}x", Some(Sha512)),
            (b"{ssha512}x", Some(Ssha512)),
            (b"{MD5}x", Some(Md5)),
            (b"{SMD5}x", Some(Smd5)),
            (b"{CRYPT}$1$salt$hash", Some(CryptMd5)),
            (b"{CRYPT}$5$salt$hash", Some(CryptSha256)),
            (b"{crypt} $6$rounds=5000$salt$hash", Some(CryptSha512)),
            (b"{CRYPT}$2a$06$x", Some(Bcrypt)),
            (b"{CRYPT}$2b$06$x", Some(Bcrypt)),
            (b"{CRYPT}$2y$06$x", Some(Bcrypt)),
            (b"{PBKDF2}1$a$b", Some(Pbkdf2Sha1)),
            (b"{PBKDF2-SHA1}1$a$b", Some(Pbkdf2Sha1)),
            (b"{pbkdf2-sha256}1$a$b", Some(Pbkdf2Sha256)),
            (b"{PBKDF2-SHA512}1$a$b", Some(Pbkdf2Sha512)),
            (b"{PBKDF2_SHA256}AAAA", Some(Pbkdf2Sha256Ds389)),
            (b"{CRYPT}abDES", None),
            (b"{CRYPT}", None),
            (b"{CRYPT}$3$x", None),
            (b"{SASL}alice@EXAMPLE.ORG", None),
            (b"{K5KEY}x", None),
            (b"{PBKDF2-MD5}1$a$b", None),
        ] {
            let shown = String::from_utf8_lossy(stored);
            assert_eq!(Scheme::parse(stored), scheme, "{shown}");
            assert_eq!(unknown_scheme(stored).is_some(), scheme.is_none(), "{shown}");
        }
        // Every scheme's name selects it back (crypt(3) forms by their prefix, above).
        for scheme in Scheme::ALL {
            let stored = format!("{{{}}}x", scheme.name());
            match scheme {
                Cleartext => assert_eq!(Scheme::parse(stored.as_bytes()), Some(Cleartext), "{{}} is no scheme"),
                CryptMd5 | CryptSha256 | CryptSha512 | Bcrypt => assert_eq!(scheme.name(), "CRYPT"),
                _ => assert_eq!(Scheme::parse(stored.as_bytes()), Some(scheme), "{stored}"),
            }
        }
    }

    /// The fixture rows cover every scheme Birch verifies.
    #[test]
    fn the_vectors_cover_every_scheme() {
        let mut seen: Vec<Scheme> = vec![Scheme::Cleartext];
        for (_, stored) in VERIFIED.iter().chain(LEGACY).chain(PBKDF2) {
            let scheme = Scheme::parse(stored.as_bytes()).unwrap();
            assert_ne!(scheme, Scheme::Cleartext, "{stored}");
            seen.push(scheme);
        }
        for scheme in Scheme::ALL {
            assert!(seen.contains(&scheme), "no vector for {scheme:?}");
        }
    }

    /// What each scheme costs and whether bind replaces it: (scheme, expensive, legacy).
    #[test]
    fn expensive_and_legacy_classification() {
        use Scheme::*;
        let table = [
            (Cleartext, false, true),
            (Argon2, true, false),
            (Sha, false, true),
            (Ssha, false, true),
            (Sha256, false, true),
            (Ssha256, false, true),
            (Sha512, false, true),
            (Ssha512, false, true),
            (Md5, false, true),
            (Smd5, false, true),
            (CryptMd5, true, true),
            (CryptSha256, true, true),
            (CryptSha512, true, true),
            (Bcrypt, true, true),
            (Pbkdf2Sha1, true, true),
            (Pbkdf2Sha256, true, true),
            (Pbkdf2Sha512, true, true),
            (Pbkdf2Sha256Ds389, true, true),
        ];
        assert_eq!(table.map(|(s, _, _)| s), Scheme::ALL, "one row per scheme, in order");
        for (scheme, expensive, legacy) in table {
            assert_eq!((scheme.expensive(), scheme.legacy()), (expensive, legacy), "{scheme:?}");
        }
        // Values of unknown schemes: never expensive, always legacy.
        assert!(!is_expensive(b"{SASL}x") && is_legacy(b"{SASL}x"));
        assert!(is_legacy(b"secret") && !is_legacy(b"{argon2}$argon2id$x"));
    }
    use proptest::prelude::*;

    /// Rows of shared/fixtures/hash-vectors.tsv (OpenLDAP slappasswd 2.5) whose scheme
    /// Birch verifies: (cleartext, stored value).
    const VERIFIED: &[(&str, &str)] = &[
        ("secret", "{SSHA}i4gvXpGd4gYaurq5q0k//nw+lJlso9tr"),
        ("secret", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="),
        ("secret", "{SSHA256}zV7QJPBzLACp5MkbYFK9JhbmE9zYZjbfamTumUTqSa5qlL7G3i7UXA=="),
        (
            "secret",
            "{SSHA512}uMQfYTbGPcQfRAAVptMEng6nHutm+yejSnowQwPKdP5dj78SQtwtOhf7i4oJu51/t9wfsVHDDav83c7yQuG61+zXSzPyaNSc",
        ),
        ("secret", "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols="),
        ("secret", "{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg=="),
        (
            "secret",
            "{ARGON2}$argon2i$v=19$m=4096,t=3,p=1$lLEJ2MWxVCM3FMAQVsT7vQ$b/GoW7vrrdqAsntUvDtTEWI60Dmye3K63kWfZc9Y+sE",
        ),
        ("pw-user00001", "{SSHA}yEBK6f7xkTTMBXLqm+4E9pEcvIBdt8MT"),
        ("pw-user00001", "{SHA}HigW7lLYmNNY6H3Pqt2h1Yr5BSI="),
        ("pw-user00001", "{SSHA256}DUNr/vNaXXsVgz7CJHkdvsdEDO28+PAIXCji5Vdc5NpTek+mSeQVfw=="),
        (
            "pw-user00001",
            "{SSHA512}YYuE5rrhp2IJMloKuLTLCiKe6avECOzEWbOwI0DP9RNrxEhtEp96ZxjG0nUHpqjAw+fXd6FOOt8YYaRi3KN0xO1/w5nmUIdN",
        ),
        ("pw-user00001", "{SHA256}qroxAd4Xzegq/T7r1ZNl/Xwrk26pXBcz+rEZ2Y4sOC8="),
        (
            "pw-user00001",
            "{SHA512}BI9ClIK/3Tsy0R4QoXWfO28NOupqp1s92H9HGCBmLEfEK2z1WH/I6JJLYkMWPMPkInhiq4SX3wI740C2H9ZJ8Q==",
        ),
        (
            "pw-user00001",
            "{ARGON2}$argon2i$v=19$m=4096,t=3,p=1$w6p6/T6b/0VA6wItsPw3qw$gfY70IGXX5Bej69UwLXEfjgO+mW44bOkm2bP6v6kQTE",
        ),
        ("Ünïcødé-密码-1", "{SSHA}fBRnMz8rPA9EmIyB/Vg2pFa42CqWsvwj"),
        ("Ünïcødé-密码-1", "{SHA}8KbCxeK/ruDyKH7M2nvHQjkNaNI="),
        ("Ünïcødé-密码-1", "{SSHA256}wJljdhF5aWeRAMSUaSTyY1L8CPEgF4BXwYNAhPkdB05D7XBMUSPTjg=="),
        (
            "Ünïcødé-密码-1",
            "{SSHA512}7qRX32fYgNqVrGkrPhXhfhTVVlXOxO9yB5iBLImNV8VsRhRKliBCz6a2FBunUBEvSsHg0anAKTVBMKsDz5KQlRSl0vLBZIUk",
        ),
        ("Ünïcødé-密码-1", "{SHA256}yQQgKTZ258sK0+DimUm46bpXM9g70Wcuj5unBkRpZKQ="),
        (
            "Ünïcødé-密码-1",
            "{SHA512}u7QyrcBgcB2ELDEDCAUFX+0BM2DVGJrOgIWw8shewWZ/TOHhiQq05/sOs0Q9X6gI6UbrxTMPmoAHPgk9EzZl2w==",
        ),
        (
            "Ünïcødé-密码-1",
            "{ARGON2}$argon2i$v=19$m=4096,t=3,p=1$n2o6xKe8nA1H4T1ZnsUPkA$T8X9R4kVDKP6jb5L3uqRREhO2tq25qkiiDxN+FbNYUQ",
        ),
    ];

    /// The {CRYPT} (md5/sha256/sha512-crypt, bcrypt), {MD5} and {SMD5} rows of the fixture.
    const LEGACY: &[(&str, &str)] = &[
        ("secret", "{SMD5}QSjLq/J9454J9Pz5g6w5wpQxFqo="),
        ("secret", "{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ=="),
        ("secret", "{CRYPT}$1$EWaCQxmS$CBeJlxZxifst.N8v4JjWE."),
        ("secret", "{CRYPT}$5$vmWmW80f214HF9ik$kJTnUNPIjvTrk7Dr.EG7v6BDB8BFk5JuHtsYbKBVUj/"),
        ("secret", "{CRYPT}$6$IOZwqxLWykKHuhMj$sjkQaKROcMHbMCsXMrldpIFEAtLFm4ETHUpP5gITQrEGR9mjgoYhljg4PC7j.b6IUTnJv.4Cg1jzQJPWJpSGY0"),
        ("pw-user00001", "{SMD5}+OCTJMN96kXhdkbG/5B5RFMNa3s="),
        ("pw-user00001", "{MD5}ZvjKY0xhad0utCZ0Ltpy5w=="),
        ("pw-user00001", "{CRYPT}$1$GeTzkr8p$sSIuhyG/4vha28Eu6Qh8y/"),
        ("pw-user00001", "{CRYPT}$5$vQootdmU6rTPlaQt$N5hzSkxOCHWPukViIsehk.XD2yqu10p76cMKHdAJO24"),
        ("pw-user00001", "{CRYPT}$6$ccxD7fRqFhqYBNLb$Fsko.zUZ9Ut2AOhfcppQavZl98TeRLCs35S8dZcbeWYkda6zsuNKyp890r7/CrczpDKSbiz651pZegcy1wJXg0"),
        ("Ünïcødé-密码-1", "{SMD5}NEjDFUcvtWKjvxtQsqxpOXe1/Gg="),
        ("Ünïcødé-密码-1", "{MD5}z/z/kwtvvemZfoO2WaDicA=="),
        ("Ünïcødé-密码-1", "{CRYPT}$1$pv1CcF5U$VeWvcR16cMPOQuASfw.yy1"),
        ("Ünïcødé-密码-1", "{CRYPT}$5$qlCZEKWNcX9ytVek$WOmY6OE896lm67FXK/4lWTXiOj.THOBjFha8gr6jeP4"),
        ("Ünïcødé-密码-1", "{CRYPT}$6$FNwdKcd2WTuHRt17$LPMj4rRxvKTb7C7hZAf6eSAApY7QimaPPz1Yeijd0f.o8LwAxLQfA9Phv1egAyG4D9LU8zZDtZDfnYvxB9iOi."),
        ("secret", "{CRYPT}$2b$06$fHZAHgzPkyjNMoU7RkjISejDXerGQ1/qeIqDBaUPnrCsurwvbOHF2"),
        ("secret", "{CRYPT}$2a$06$ickYDgFbVJBAovjgShoQ1eMkayFctP8AU8qoaMhO2mILOsD.DlaUq"),
        ("pw-user00001", "{CRYPT}$2b$06$4A7Ia0vDNhAvDwX.nA.Nr.22jPbq9Wtvc4v8x3tcHmpBxkuG.dT2e"),
        ("pw-user00001", "{CRYPT}$2a$06$uNwCovjmj1oKyF2rFFjhuukwodoMNQROruhFc6Yu6iaTT8MeWEFHm"),
        ("Ünïcødé-密码-1", "{CRYPT}$2b$06$8lGF00lFZq/7YiGm3wHIE.hAWinxB70gKLRFQS0x5kj8arZSZDfCS"),
        ("Ünïcødé-密码-1", "{CRYPT}$2a$06$pQfsluzMNWL.mLxchZu4/ebwl42.dOCDkIQ2gwreh6UhWd1LK.T4e"),
    ];

    /// PBKDF2 values made with Python's hashlib (an independent implementation), in the
    /// forms of OpenLDAP's pw-pbkdf2 module, 389-DS 2.x and 389-DS 1.x.
    const PBKDF2: &[(&str, &str)] = &[
        ("secret", "{PBKDF2-SHA512}1000$AAECAwQFBgcICQoLDA0ODw$8ltlLe5cI6KNrWOmMFkTi2iE7fEXJKJJR9lhjd/xSn68.xOqzv2h20C4IDv/enqlx8f6AaRHE.6XnvHKXKhAjA"),
        ("secret", "{PBKDF2-SHA256}1200$AAECAwQFBgcICQoLDA0ODw$ozqfvH3vCQvPtLvRIHRRF8b8MpaoBebF2YHcpsec4kM"),
        ("secret", "{PBKDF2-SHA1}1000$AAECAwQFBgcICQoLDA0ODw$sFSyXPFcXgkxACFLfL2dSbbhY6k"),
        ("secret", "{PBKDF2}800$AAECAwQFBgcICQoLDA0ODw$f5ssqck39oZIiu9/TcLTLCR9j7U"),
        ("secret", "{PBKDF2_SHA256}AAAH0AAHDhUcIyoxOD9GTVRbYmlwd36FjJOaoaivtr3Ey9LZ4Ofu9fwDChEYHyYtNDtCSVBXXmVsc3qBiI+WnaSrsrl0isKz2hGwnPZJaaogW+kMzbT0DBarzafc1bIgd+v8a5da1cZSe8ZMj2FpKTofhBqFd6cGVSEH29Wbk2IcOMr9mlhjl+8aJ4VJqfwpnv8Es9aTDlQazgt8UXsi4HjD2FfqaFYzFtAbbKzImjf1HApK8VjrgeYZZevrmyfovlHTrpuk9ApOwIAfeqt623EHo8tFuLl9HIiacLX6uwT02m9JVfJmzAn/r4/4xUJoj3AGmqziX5taLUqyoNEJrkTRDEd8Yw054uVB3UBtyTdPpt2D92Q9UZbHpXIk5bk1f8IjDdGirhM+tpEEsWNv7aa+C2tjifDwKpwTNXsQSPAf23ro"),
    ];

    /// Cheap parameters for tests.
    const FAST: Argon2Params = Argon2Params { m_cost_kib: 1024, t_cost: 1, p: 1 };

    /// `value` with one character of its encoded part changed (to another base64 char).
    fn flipped(value: &str) -> String {
        let mut bytes = value.as_bytes().to_vec();
        let i = bytes.len() - 5;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn slappasswd_vectors_verify() {
        for (clear, stored) in VERIFIED {
            assert_eq!(verify(stored.as_bytes(), clear.as_bytes()), Verification::Match, "{stored}");
            assert_eq!(verify(stored.as_bytes(), b"wrong"), Verification::Mismatch, "{stored}");
            assert_eq!(verify(flipped(stored).as_bytes(), clear.as_bytes()), Verification::Mismatch, "{stored}");
            assert!(is_hashed(stored.as_bytes()));
        }
    }

    #[test]
    fn crypt_and_md5_vectors_verify() {
        for (clear, stored) in LEGACY {
            assert_eq!(verify(stored.as_bytes(), clear.as_bytes()), Verification::Match, "{stored}");
            assert_eq!(verify(stored.as_bytes(), b"wrong"), Verification::Mismatch, "{stored}");
            assert!(is_hashed(stored.as_bytes()));
        }
        assert!(is_expensive(b"{CRYPT}$6$x$y"));
        assert_eq!(
            verify(b"{CRYPT}$2b$31$fHZAHgzPkyjNMoU7RkjISejDXerGQ1/qeIqDBaUPnrCsurwvbOHF2", b"secret"),
            Verification::Mismatch
        );
    }

    /// Found by the `password` fuzz target: a control character in a bcrypt string made
    /// pwhash's decoder underflow (a panic in builds with overflow checks).
    #[test]
    fn crypt_strings_with_control_characters_never_match() {
        let stored = b"{CRYPT}$2b$04$abcdefghi\nklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui";
        assert_eq!(verify(stored, b"secret"), Verification::Mismatch);
        assert_eq!(verify(b"{CRYPT}$6$sa\x01lt$abc", b"secret"), Verification::Mismatch);
    }

    /// SHA-crypt round counts beyond the cap never match (and cost nothing): a stored value
    /// must not make every bind take minutes.
    #[test]
    fn sha_crypt_rounds_are_capped() {
        for stored in [
            "{CRYPT}$6$rounds=999999999$IOZwqxLWykKHuhMj$sjkQaKROcMHbMCsXMrldpIFEAtLFm4ETHUpP5gITQrE",
            "{CRYPT}$5$rounds=1000001$vmWmW80f214HF9ik$kJTnUNPIjvTrk7Dr.EG7v6BDB8BFk5JuHtsYbKBVUj/",
            "{CRYPT}$6$rounds=99999999999999999999$x$y",
        ] {
            assert_eq!(verify(stored.as_bytes(), b"secret"), Verification::Mismatch, "{stored}");
        }
        let within = pwhash::sha512_crypt::hash_with("$6$rounds=6000$saltsalt", "secret").unwrap();
        assert_eq!(verify(format!("{{CRYPT}}{within}").as_bytes(), b"secret"), Verification::Match, "{within}");
    }

    #[test]
    fn pbkdf2_vectors_verify() {
        for (clear, stored) in PBKDF2 {
            assert_eq!(verify(stored.as_bytes(), clear.as_bytes()), Verification::Match, "{stored}");
            assert_eq!(verify(stored.as_bytes(), b"wrong"), Verification::Mismatch, "{stored}");
            assert_eq!(verify(flipped(stored).as_bytes(), clear.as_bytes()), Verification::Mismatch, "{stored}");
            assert!(is_expensive(stored.as_bytes()) && is_legacy(stored.as_bytes()));
        }
        // Malformed values and round counts beyond the cap never match.
        for stored in [
            "{PBKDF2-SHA512}10000$abc$",
            "{pbkdf2}x",
            "{PBKDF2-SHA256}4000000000$AAECAwQ$AAECAwQ",
            "{PBKDF2_SHA256}AAAA",
        ] {
            assert_eq!(verify(stored.as_bytes(), b"secret"), Verification::Mismatch, "{stored}");
        }
    }

    #[test]
    fn other_schemes_are_unknown() {
        for (_, stored) in VERIFIED.iter().chain(LEGACY).chain(PBKDF2) {
            assert_eq!(unknown_scheme(stored.as_bytes()), None, "{stored}");
        }
        assert_eq!(unknown_scheme(b"cleartext"), None);
        for stored in ["{SASL}alice@EXAMPLE.ORG", "{K5KEY}x", "{NOPE}xyz", "{CRYPT}abDES"] {
            assert!(unknown_scheme(stored.as_bytes()).is_some(), "{stored}");
            assert_eq!(verify(stored.as_bytes(), b"secret"), Verification::UnknownScheme, "{stored}");
        }
    }

    #[test]
    fn scheme_names_are_case_insensitive() {
        assert_eq!(verify(b"{sha}5en6G6MezRroT3XKqkdPOmY/BfQ=", b"secret"), Verification::Match);
        assert_eq!(verify(b"{Ssha}i4gvXpGd4gYaurq5q0k//nw+lJlso9tr", b"secret"), Verification::Match);
        assert_eq!(
            verify(
                b"{argon2}$argon2i$v=19$m=4096,t=3,p=1$lLEJ2MWxVCM3FMAQVsT7vQ$b/GoW7vrrdqAsntUvDtTEWI60Dmye3K63kWfZc9Y+sE",
                b"secret"
            ),
            Verification::Match
        );
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        assert_eq!(verify(b"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ", b"secret"), Verification::Match);
    }

    #[test]
    fn cleartext_values_compare_exactly() {
        assert_eq!(verify(b"secret", b"secret"), Verification::Match);
        assert_eq!(verify(b"secret", b"secret "), Verification::Mismatch);
        assert_eq!(verify(b"secret", b"Secret"), Verification::Mismatch);
        assert_eq!(verify(b"", b""), Verification::Match);
        assert_eq!(verify(b"", b"x"), Verification::Mismatch);
        // Not a scheme prefix: cleartext.
        for v in [&b"{}abc"[..], b"{abc", b"{a b}c", b"\xff\xfe"] {
            assert!(!is_hashed(v));
            assert_eq!(verify(v, v), Verification::Match);
            assert_eq!(verify(v, b"other"), Verification::Mismatch);
        }
    }

    #[test]
    fn argon2id_round_trip() {
        let h = hash_argon2id(b"pw", &FAST).unwrap();
        assert!(h.starts_with("{ARGON2}$argon2id$v=19$m=1024,t=1,p=1$"), "{h}");
        // 16-byte salt and 32-byte output, unpadded base64.
        let parts: Vec<&str> = h.split('$').collect();
        assert_eq!(parts[4].len(), 22, "{h}");
        assert_eq!(parts[5].len(), 43, "{h}");
        assert_eq!(verify(h.as_bytes(), b"pw"), Verification::Match);
        assert_eq!(verify(h.as_bytes(), b"px"), Verification::Mismatch);
        assert_eq!(verify(h.as_bytes(), b""), Verification::Mismatch);
        assert!(is_hashed(h.as_bytes()));
        assert!(!is_hashed(b"plain"));
        assert_ne!(h, hash_argon2id(b"pw", &FAST).unwrap(), "salts differ");
        let utf8 = hash_argon2id("Ünïcødé-密码-1".as_bytes(), &FAST).unwrap();
        assert_eq!(verify(utf8.as_bytes(), "Ünïcødé-密码-1".as_bytes()), Verification::Match);
    }

    #[test]
    fn invalid_params_are_an_error() {
        assert!(matches!(
            hash_argon2id(b"pw", &Argon2Params { m_cost_kib: 1024, t_cost: 0, p: 1 }),
            Err(PasswordError::Params(_))
        ));
        assert!(hash_argon2id(b"pw", &Argon2Params { m_cost_kib: 1, t_cost: 1, p: 1 }).is_err());
    }

    #[test]
    fn malformed_values_mismatch() {
        for v in [
            &b"{SSHA}"[..],
            b"{SSHA}!!!notbase64",
            b"{SSHA}AAAA",
            // Exactly a SHA-1 digest long: no salt.
            b"{SSHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
            b"{SHA}",
            b"{SHA}AAAA",
            b"{SHA}i4gvXpGd4gYaurq5q0k//nw+lJlso9tr",
            b"{SHA256}5en6G6MezRroT3XKqkdPOmY/BfQ=",
            b"{SSHA512}\xff\xfe",
            b"{ARGON2}",
            b"{ARGON2}garbage",
            b"{ARGON2}\xff$argon2id",
            b"{ARGON2}$argon2id$v=19$m=4096,t=3,p=1$",
            b"{ARGON2}$argon2id$v=19$m=4096,t=3,p=1$lLEJ2MWxVCM3FMAQVsT7vQ",
            b"{ARGON2}$argon2id$v=19$m=1,t=3,p=1$lLEJ2MWxVCM3FMAQVsT7vQ$b/GoW7vrrdqAsntUvDtTEWI60Dmye3K63kWfZc9Y+sE",
            b"{ARGON2}$argon2id$v=19$m=4096,t=0,p=1$lLEJ2MWxVCM3FMAQVsT7vQ$b/GoW7vrrdqAsntUvDtTEWI60Dmye3K63kWfZc9Y+sE",
            b"{ARGON2}$argon2id$v=99$m=4096,t=3,p=1$lLEJ2MWxVCM3FMAQVsT7vQ$b/GoW7vrrdqAsntUvDtTEWI60Dmye3K63kWfZc9Y+sE",
            b"{ARGON2}$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
            b"{ARGON2}$argon2i$v=19$m=4096,t=3,p=1$lLEJ2MWxVCM3FMAQVsT7vQ$b/GoW7vrrdqAsntUvDtTEWI60Dmye3K63kWfZc9Y",
        ] {
            assert_eq!(verify(v, b"secret"), Verification::Mismatch, "{}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn oversized_argon2_costs_are_refused_without_hashing() {
        // 4 TiB of memory, or 2^32-1 passes: verifying would exhaust the machine.
        let salt_hash = "lLEJ2MWxVCM3FMAQVsT7vQ$b/GoW7vrrdqAsntUvDtTEWI60Dmye3K63kWfZc9Y+sE";
        for params in ["m=4294967295,t=1,p=1", "m=4096,t=4294967295,p=1", "m=2097152,t=3,p=1", "m=65536,t=3,p=1000"] {
            let v = format!("{{ARGON2}}$argon2id$v=19${params}${salt_hash}");
            let start = std::time::Instant::now();
            assert_eq!(verify(v.as_bytes(), b"secret"), Verification::Mismatch, "{v}");
            assert!(start.elapsed() < std::time::Duration::from_secs(1), "{v}");
        }
    }

    #[test]
    fn dummy_verify_runs() {
        dummy_verify(&FAST);
        dummy_verify(&FAST);
    }

    #[test]
    fn generated_passwords_differ() {
        let a = generate_password();
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, generate_password());
    }

    proptest! {
        #[test]
        fn arbitrary_stored_values_never_panic(
            scheme in prop_oneof![
                Just(""), Just("{SSHA}"), Just("{SHA}"), Just("{SHA256}"), Just("{SSHA512}"),
                Just("{ARGON2}"), Just("{ARGON2}$argon2id$v=19$"), Just("{X}"), Just("{CRYPT}"),
                Just("{CRYPT}$1$"), Just("{crypt}$2b$"), Just("{PBKDF2}"), Just("{PBKDF2_SHA256}")
            ],
            rest in proptest::collection::vec(any::<u8>(), 0..80),
            password in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let mut stored = scheme.as_bytes().to_vec();
            stored.extend_from_slice(&rest);
            let v = verify(&stored, &password);
            let _ = is_hashed(&stored);
            // One answer to "is this scheme known", whoever asks.
            let known = Scheme::parse(&stored).is_some();
            prop_assert_eq!(unknown_scheme(&stored).is_none(), known);
            prop_assert_eq!(v != Verification::UnknownScheme, known);
            prop_assert!(known || !is_expensive(&stored) && is_legacy(&stored));
        }
    }
}
