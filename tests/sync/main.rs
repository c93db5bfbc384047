//! Integration tests of drkit's replication core: config validation, `drkit
//! sync` and `drkit verify` run as a user runs them, on real files in
//! temporary folders, with the results checked on disk.

#[path = "../common/mod.rs"]
mod common;

mod batch;
mod concurrency;
mod config_errors;
mod crash;
mod deletion_guard;
mod edge_cases;
mod language;
mod summary;
mod unstable;
mod verify;
mod versions;
