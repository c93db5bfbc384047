//! `drkit watch SET`: replicate one set on every change, in one long-lived
//! process. The loop lives in `crate::watch`; this file checks the
//! arguments and connects the loop to a `Follower`.

use clap::Args;

use super::sync::{Batch, Follower, Output};
use super::{texts, Context};
use crate::exit::Exit;
use crate::watch::{self, Replica};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The set to watch, by name
    #[arg(value_name = "SET")]
    pub set: String,
    /// Seconds to wait after the first change of a batch for more changes; 0 syncs at once
    #[arg(long, value_name = "SECONDS", env = "DRKIT_WATCH_DEBOUNCE", default_value = "0.005")]
    pub debounce: String,
    /// Seconds between full syncs when no inotify watch can be set
    #[arg(long, value_name = "SECONDS", env = "DRKIT_WATCH_INTERVAL", default_value = "60")]
    pub interval: String,
}

/// Watches the set until SIGTERM, SIGINT or SIGHUP.
pub fn execute(ctx: &mut Context, args: &WatchArgs) -> Exit {
    let Some(set) = super::sync::select_sets(ctx, std::slice::from_ref(&args.set)).and_then(|mut s| s.pop()) else {
        return Exit::Usage;
    };
    let Some(debounce) = watch::parse_seconds(&args.debounce, true) else {
        texts::error(
            ctx.lang,
            &watch::text(ctx.lang, "bad_debounce", &[("value", &args.debounce)]),
        );
        return Exit::Usage;
    };
    let Some(interval) = watch::parse_seconds(&args.interval, false) else {
        texts::error(
            ctx.lang,
            &watch::text(ctx.lang, "bad_interval", &[("value", &args.interval)]),
        );
        return Exit::Usage;
    };
    let options = watch::Options {
        set: set.name.clone(),
        source: set.source.clone(),
        debounce,
        interval,
        lang: ctx.lang,
    };

    let mut replica = FollowerReplica {
        ctx,
        follower: Follower::new(set),
    };
    let exit = watch::run(&options, &mut replica);
    replica.follower.close();
    exit
}

/// Sends each batch through one `Follower`, so its SSH session stays open.
struct FollowerReplica<'a> {
    ctx: &'a mut Context,
    follower: Follower,
}

impl Replica for FollowerReplica<'_> {
    fn sync(&mut self, batch: Batch) -> Exit {
        self.follower.sync(self.ctx, batch, Output::Log)
    }

    fn refresh(&mut self) {
        crate::report::refresh(self.ctx);
    }
}
