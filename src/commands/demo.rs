//! `drkit demo [DIR]`.

use std::path::PathBuf;

use clap::Args;

use crate::exit::Exit;
use crate::i18n::Lang;
use crate::GlobalArgs;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder to build the demo in [default: ./drkit-demo]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn execute(global: &GlobalArgs, args: &DemoArgs) -> Exit {
    let lang = global
        .lang
        .as_deref()
        .and_then(Lang::from_code)
        .unwrap_or_else(Lang::from_env);
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("drkit-demo"));
    crate::demo::run(&dir, lang)
}
