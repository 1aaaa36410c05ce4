//! birch-proto: LDAP messages over `ldap3_proto`.
//!
//! - [`codec`]: BER framing with a PDU size limit checked on the header, and undecodable
//!   requests surfaced as [`codec::Decoded::Invalid`] so the server can answer them.
//! - [`result`]: building `LDAPResult`s and reading result codes.
//! - [`control`]: OIDs and criticality of decoded controls.
//! - [`decode`]: a direct BER decoder for the common requests (same messages as
//!   `ldap3_proto`, which still decodes everything else).
//! - [`encode`]: a direct BER encoder for the common responses (same bytes as `ldap3_lber`).
//! - [`oids`]: OIDs of the controls, extended operations and features Birch knows.
//! - [`values`]: BER values of the Assertion and Pre-/Post-Read controls.
//! - [`ppolicy`]: the password policy response control.
//! - [`sync`]: Content Synchronization (RFC 4533) cookies, Sync Info, Sync State/Done.
//!
//! `ldap3_proto` is re-exported so that every crate uses the same message types.

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

pub mod codec;
pub mod control;
pub mod decode;
pub mod encode;
pub mod oids;
pub mod ppolicy;
pub mod result;
pub mod sync;
pub mod values;

pub use codec::{response_for_invalid, BirchCodec, Decoded, ProtoError};
pub use ldap3_lber;
pub use ldap3_proto;
