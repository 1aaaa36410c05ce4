//! One module per page (or group of pages).

pub mod account;
pub mod audit;
pub mod helpdesk;
pub mod login;
pub mod password;
