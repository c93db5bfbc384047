//! Access to a replica: a local directory, or a peer reached over SSH where
//! `drkit agent` applies the changes. The primitives of `local` (temporary
//! files, durable renames, metadata) serve both.

pub mod agent;
pub mod local;
pub mod peer;
pub mod protocol;
pub mod ssh;
