//! How a replica is reached. This release writes to a local directory; the
//! primitives here (temporary files, durable renames, metadata) are the ones
//! any replica side uses.

pub mod local;
