//! Access to a replica. This release writes to a local directory. The
//! primitives here (temporary files, durable renames, metadata) serve any
//! replica side.

pub mod local;
pub mod ssh;
