//! IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501). [`parse`] reads commands (our own parser:
//! imap-codec lacks parts of rev2 that this server needs, and the grammar it needs is small);
//! [`session`] is the protocol as a state machine; [`server`] drives it over sockets.
//! Imports only `kontor-domain`.
//!
//! So far: reading (with ENVELOPE and BODYSTRUCTURE), flags, EXPUNGE, COPY/MOVE, APPEND,
//! IDLE, mailbox management (see [`session`]); CONDSTORE/QRESYNC, ESEARCH, ACL, QUOTA and the
//! rest of rev2 come next.

mod append;
mod fetch;
pub mod parse;
mod search;
pub mod server;
pub mod session;
mod store;
mod structure;

pub use server::connection;
