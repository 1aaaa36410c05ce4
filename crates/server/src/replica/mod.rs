//! Replication (RFC 4533 Content Synchronization): the consumer that makes this server a
//! read-only replica of a provider (configured by `crate::config::replication`) and the
//! figures both sides report.
//! The provider side is a search handler, [`crate::ops::syncprov`].

pub mod consumer;
pub mod stats;
