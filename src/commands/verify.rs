//! `drkit verify [SET…]`.

use clap::Args;

use super::texts::{self, bytes, seconds};
use super::Context;
use crate::config::SyncSet;
use crate::exit::Exit;
use crate::i18n::Lang;
use crate::sync::VerifyReport;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Sets to verify, by name [default: every set]
    #[arg(value_name = "SET")]
    pub sets: Vec<String>,
    /// Print one JSON report per set on stdout instead of text
    #[arg(long)]
    pub json: bool,
}

/// Verifies the chosen sets; exits 1 when any replica differs from its source.
pub fn execute(ctx: &mut Context, args: &VerifyArgs) -> Exit {
    let Some(sets) = super::sync::select_sets(ctx, &args.sets) else {
        return Exit::Usage;
    };
    let run = super::own_run(ctx, "verify");
    let mut exit = Exit::Ok;
    let mut peers = super::peers::Peers::default();
    for set in &sets {
        exit = exit.worst(verify_one(ctx, set, args.json, run, &mut peers));
    }
    peers.close();
    super::finish_own_run(ctx, run, exit);
    crate::report::refresh(ctx);
    exit
}

/// Verifies one set against its local replica, or against its peer's.
fn verify_set(
    ctx: &mut Context,
    set: &SyncSet,
    peers: &mut super::peers::Peers,
) -> Result<VerifyReport, crate::sync::SyncError> {
    let Some(node) = ctx.config.node_of(set).cloned() else {
        return crate::sync::verify_set(&mut ctx.store, set);
    };
    let link = peers
        .link(&node, ctx.lang)
        .map_err(|message| crate::sync::SyncError::Peer {
            set: set.name.clone(),
            peer: node.name.clone(),
            message,
        })?;
    let wire = super::peers::wire(set, link, ctx.lang);
    let result = crate::sync::remote::verify_remote(&mut ctx.store, set, &mut link.agent, &wire);
    if matches!(result, Err(crate::sync::SyncError::Peer { .. })) {
        peers.forget(&node);
    }
    result
}

fn verify_one(ctx: &mut Context, set: &SyncSet, json: bool, run: Option<i64>, peers: &mut super::peers::Peers) -> Exit {
    tracing::info!(set = %set.name, "verify started");
    match verify_set(ctx, set, peers) {
        Ok(report) => {
            let status = if report.is_ok() { "ok" } else { "failed" };
            let data = serde_json::to_value(&report).unwrap_or_default();
            super::record(ctx, run, "verify", &set.name, status, &data);
            tracing::info!(set = %set.name, files_checked = report.files_checked, status, "verify finished");
            if json {
                println!("{data}");
            } else {
                print_report(ctx.lang, &report);
            }
            if report.is_ok() {
                Exit::Ok
            } else {
                Exit::Failed
            }
        }
        Err(e) => {
            let message = super::sync::sync_error_text(ctx.lang, &e);
            let data = serde_json::json!({ "set": set.name, "error": message });
            super::record(ctx, run, "verify", &set.name, "failed", &data);
            if json {
                println!("{data}");
            }
            texts::error(ctx.lang, &message);
            Exit::Failed
        }
    }
}

fn print_report(lang: Lang, r: &VerifyReport) {
    let common: [(&str, &dyn std::fmt::Display); 4] = [
        ("set", &r.set),
        ("files", &r.files_checked),
        ("bytes", &bytes(lang, r.bytes_hashed)),
        ("secs", &seconds(lang, r.duration_ms)),
    ];
    if r.is_ok() {
        texts::say(lang, "verify_ok", &common);
        return;
    }
    let mut args = common.to_vec();
    let (m, mi, e) = (r.mismatched.len(), r.missing.len(), r.extra.len());
    args.extend([
        ("mismatched", &m as &dyn std::fmt::Display),
        ("missing", &mi),
        ("extra", &e),
    ]);
    texts::say(lang, "verify_bad", &args);
    for path in &r.mismatched {
        texts::say(lang, "verify_mismatch", &[("path", path)]);
    }
    for path in &r.missing {
        texts::say(lang, "verify_missing", &[("path", path)]);
    }
    for path in &r.extra {
        texts::say(lang, "verify_extra", &[("path", path)]);
    }
    for item in &r.errors {
        texts::error(
            lang,
            texts::format(lang, "item_failed", &[("path", &item.path), ("error", &item.error)]).trim(),
        );
    }
    texts::say(lang, "verify_repair_hint", &[("set", &r.set)]);
}
