//! `drkit demo`: a sample hosting tree and the main job run on it.

use std::path::Path;

use crate::exit::Exit;
use crate::i18n::Lang;

/// Builds the demo under `dir` and runs the main job on it.
pub fn run(_dir: &Path, _lang: Lang) -> Exit {
    Exit::Failed
}
