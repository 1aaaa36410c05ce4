//! The Birch server as a library: everything the `birch` command (src/main.rs) runs, so
//! that the command stays a thin CLI and the fuzz targets (`fuzz/`, see docs/testing.md)
//! can drive the same request path through the `fuzzing` module, which only the feature
//! `fuzzing` (enabled by the fuzz workspace) and unit tests compile. The modules are an
//! implementation detail of the `birch` binary, not a stable API.

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

pub mod access;
pub mod admin;
pub mod allocator;
pub mod audit;
pub mod backup;
pub mod bind_cache;
pub mod config;
pub mod context;
pub mod demo;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod hash_thread;
pub mod incoming;
pub mod limits;
pub mod logsafe;
pub mod memo;
pub mod metrics;
pub mod offline;
pub mod ops;
pub mod panics;
pub mod password;
pub mod passwords;
pub mod ppolicy;
pub mod private_files;
pub mod progress;
pub mod query;
#[cfg(unix)]
pub mod recovery;
pub mod replica;
pub mod responder;
pub mod result;
pub mod running;
pub mod server;
pub mod session;
pub mod startup;
pub mod tls;
pub mod web;
pub mod write;
