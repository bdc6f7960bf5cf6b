//! IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501). [`parse`] reads commands (our own parser:
//! imap-codec lacks parts of rev2 that this server needs, and the grammar it needs is small);
//! [`session`] is the protocol as a state machine; [`server`] drives it over sockets.
//! Imports only `kontor-domain`.
//!
//! This first part serves reading (see [`session`]); changing commands, IDLE, CONDSTORE and
//! the rest of rev2 come next.

mod fetch;
pub mod parse;
pub mod server;
pub mod session;
mod store;

pub use server::serve;
