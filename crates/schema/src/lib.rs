//! birch-schema: attribute types, object classes, matching rules and DN normalization.
//!
//! This crate does no I/O except [`Schema::load`], which reads a schema directory. The standard
//! schema is defined by the files of the repository's `schema/` directory (OpenLDAP `.schema`
//! syntax, see docs/schema.md), which are also built into the binary ([`Schema::builtin`]).

// No panic reachable from the network, a config file or an LDIF file: tests may unwrap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]
#![warn(missing_docs)]

pub mod builtin;
pub mod desc;
pub mod dn;
pub mod error;
pub mod gtime;
pub mod matching;
pub mod ndn;
pub mod parse;
pub mod prep;
pub mod registry;
pub mod rules;
pub mod validate;

pub use builtin::{Profile, UnknownProfile};
pub use desc::OptionError;
pub use dn::{Ava, Dn, DnError, Rdn};
pub use error::SchemaError;
pub use matching::MatchingRule;
pub use parse::{AttributeTypeDef, Definition, ObjectClassDef, ObjectClassKind, Usage};
pub use registry::{AttributeType, ObjectClass, Schema, StructuralError};
pub use rules::{MatchingRuleInfo, RuleUsage, SyntaxInfo};
pub use validate::{AttrView, ClassRules, ValidationCache, Violation};
