//! IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501). [`parse`] reads commands (our own parser:
//! imap-codec lacks parts of rev2 that this server needs, and the grammar it needs is small);
//! [`session`] is the protocol as a state machine; [`server`] drives it over sockets.
//! Imports only `kontor-domain`.
//!
//! Served: reading (ENVELOPE, BODYSTRUCTURE, BINARY), flags, EXPUNGE, COPY/MOVE, APPEND,
//! IDLE, mailbox management, LIST-EXTENDED/LIST-STATUS, CONDSTORE/QRESYNC, ESEARCH, QUOTA, and
//! shared mailboxes with ACL (see [`session`]).

mod acl;
mod append;
mod fetch;
mod list;
mod names;
pub mod parse;
mod qresync;
mod quota;
mod rev2;
mod search;
mod select;
pub mod server;
pub mod session;
mod status;
mod store;
mod structure;

pub use server::connection;
