//! The access log: every action and decision, appended to a Merkle tree (keymgr's `merkle`)
//! in the same transaction as the action, each new tree head signed by the node's audit key.
//! Heads are also appended to a file beside the database so that rewriting the whole table is
//! caught by comparing heads: each transaction's last head is written there before the
//! transaction commits and marked committed after, so the file never lacks a head the database
//! has (a crash anywhere included), and `verify` fails when it does or when the file is gone.
//!
//! [`entry`] is what an entry holds, [`head`] a signed tree head, [`append`] the log's writer
//! (tree, heads, the heads file), [`batcher`] group commit for entries that stand alone,
//! [`verify`](mod@verify) the whole log's check, [`export`] the SIEM export and [`proof`]
//! inclusion proofs, [`checkpoint`] the heads as C2SP signed checkpoints with RFC 9162 proofs.

pub mod append;
pub mod batcher;
pub mod checkpoint;
pub mod entry;
pub mod export;
pub mod grouped;
pub mod head;
pub mod proof;
pub mod verify;

pub use append::AuditLog;
pub use batcher::Batcher;
pub use entry::{Entry, MAX_ENTRY};
pub use export::{Since, export};
pub use grouped::Grouped;
pub use head::TreeHead;
pub use proof::{Proof, entry_at, proof};
pub use verify::{Report, verify};

use crate::Error;

/// Whatever stops the log being read or written while appending: "the log is unavailable".
fn log_err(e: impl std::fmt::Display) -> Error {
    Error::LogUnavailable(e.to_string())
}
