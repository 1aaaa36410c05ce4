//! birch-proto: LDAP messages over `ldap3_proto`.
//!
//! - [`codec`]: BER framing with a PDU size limit checked on the header, and undecodable
//!   requests surfaced as [`codec::Decoded::Invalid`] so the server can answer them.
//! - [`control`]: OIDs and criticality of decoded controls.
//! - [`oids`]: OIDs of the controls, extended operations and features Birch knows.

pub mod codec;
pub mod control;
pub mod oids;

pub use ldap3_proto;
