//! The standard schema files, built into the binary so that Birch runs without a schema
//! directory, and the profiles that choose among them.

use crate::registry::Schema;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// The standard schema files (name, text), from the repository's `schema/` directory.
pub const STANDARD_FILES: &[(&str, &str)] = &[
    ("core.schema", include_str!("../../../schema/core.schema")),
    ("cosine.schema", include_str!("../../../schema/cosine.schema")),
    ("inetorgperson.schema", include_str!("../../../schema/inetorgperson.schema")),
    ("nis.schema", include_str!("../../../schema/nis.schema")),
    ("rfc2307bis.schema", include_str!("../../../schema/rfc2307bis.schema")),
    ("birch.schema", include_str!("../../../schema/birch.schema")),
];

/// The text of a standard file by name.
pub fn text(name: &str) -> Option<&'static str> {
    STANDARD_FILES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Which POSIX account schema the directory uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// RFC 2307 (`nis.schema`): posixGroup is STRUCTURAL, members are memberUid names.
    #[default]
    Rfc2307,
    /// draft-howard-rfc2307bis (`rfc2307bis.schema`): posixGroup is AUXILIARY, so a group can
    /// also be a groupOfNames whose members are DNs.
    Rfc2307bis,
}

impl Profile {
    /// The standard files of the profile, in load order.
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Profile::Rfc2307 => &["core.schema", "cosine.schema", "inetorgperson.schema", "nis.schema", "birch.schema"],
            Profile::Rfc2307bis => {
                &["core.schema", "cosine.schema", "inetorgperson.schema", "rfc2307bis.schema", "birch.schema"]
            }
        }
    }

    /// The name used in configuration: `rfc2307` or `rfc2307bis`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Rfc2307 => "rfc2307",
            Profile::Rfc2307bis => "rfc2307bis",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A profile name that is neither `rfc2307` nor `rfc2307bis`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown schema profile {0:?} (expected rfc2307 or rfc2307bis)")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Profile, UnknownProfile> {
        match s.to_ascii_lowercase().as_str() {
            "rfc2307" => Ok(Profile::Rfc2307),
            "rfc2307bis" => Ok(Profile::Rfc2307bis),
            _ => Err(UnknownProfile(s.to_string())),
        }
    }
}

/// The embedded schema of a profile, parsed once per process.
#[allow(clippy::panic)] // the embedded files are tested by every build; see below
pub(crate) fn schema(profile: Profile) -> Schema {
    static RFC2307: OnceLock<Schema> = OnceLock::new();
    static RFC2307BIS: OnceLock<Schema> = OnceLock::new();
    let cell = match profile {
        Profile::Rfc2307 => &RFC2307,
        Profile::Rfc2307bis => &RFC2307BIS,
    };
    cell.get_or_init(|| {
        let sources = profile.files().iter().map(|name| (*name, text(name).unwrap_or_default()));
        // The embedded files are part of the build and every test parses them: a failure here is
        // a bug in the shipped files, never something a user's schema file can cause.
        Schema::from_sources(sources).unwrap_or_else(|e| panic!("built-in schema is broken: {e}"))
    })
    .clone()
}
