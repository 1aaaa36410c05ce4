//! birch-schema: attribute types, object classes, matching rules and DN normalization.
//!
//! This crate is pure (no I/O). The foundation ships a built-in table of the standard attribute
//! types and object classes (core, cosine, inetOrgPerson, nis); the schema issue replaces the table
//! with definitions parsed from `schema/` files, keeping this API.

pub mod builtin;
pub mod dn;
pub mod matching;
pub mod registry;

pub use dn::{Ava, Dn, DnError, Rdn};
pub use matching::MatchingRule;
pub use registry::{AttributeType, Schema};
