//! Replication (RFC 4533 Content Synchronization): the consumer that makes this server a
//! read-only replica of a provider, or one of several writable providers following its
//! peers (configured by `crate::config::replication`), the conflict rule of the latter,
//! the purge of its tombstones, and the figures both sides report.
//! The provider side is a search handler, [`crate::ops::syncprov`].

pub mod conflict;
pub mod consumer;
pub mod merge;
pub mod purge;
pub mod stats;
