//! `drkit peer trust NAME [--yes]` and `drkit peer check [NAME…]`: pinning
//! a node's SSH host key and checking that every node accepts drkit's key.

use std::fmt::Display;
use std::io::{BufRead, Write};
use std::time::Instant;

use clap::{Args, Subcommand};

use super::{texts, Context};
use crate::config::Node;
use crate::exit::Exit;
use crate::i18n::{self, Lang, Row};
use crate::transport::ssh::{self, known_hosts, HostKey, Lookup};

#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Connect to a node, show its host key and pin it in known_hosts after confirmation
    Trust(TrustArgs),
    /// Connect and log in to each node, and print its host key fingerprint and the time it took
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Node whose host key to pin: the NAME of a [nodes.NAME] section
    pub name: String,
    /// Pin the key without asking (for scripts); check the fingerprint another way first
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Nodes to check, by name [default: all]
    pub nodes: Vec<String>,
}

const TEXTS: &[Row] = &[
    ("no_nodes", "the config defines no [nodes.NAME] section; add one for each peer (see README.md, \"Peers over SSH\")", "la configuración no define ninguna sección [nodes.NOMBRE]; añada una por cada par (vea README.es.md, \"Pares por SSH\")"),
    ("unknown_node", "no node is named \"{name}\"; the config defines: {known}", "ningún nodo se llama \"{name}\"; la configuración define: {known}"),
    ("trust_host", "node \"{node}\": {target}, known_hosts name {host}", "nodo \"{node}\": {target}, nombre en known_hosts {host}"),
    ("trust_key", "host key: {key_type} {fingerprint}", "clave de host: {key_type} {fingerprint}"),
    ("trust_known", "this key is already pinned in {path} line {line}; nothing was changed", "esta clave ya está fijada en {path} línea {line}; no se cambió nada"),
    ("trust_changed", "WARNING: {path} line {line} pins ANOTHER key for this host: {key_type} {fingerprint}\n  This can be an attack (someone intercepting the connection) or a reinstalled host.\n  Compare the new fingerprint with the one on the peer itself (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) before you accept.", "AVISO: {path} línea {line} fija OTRA clave para este host: {key_type} {fingerprint}\n  Puede ser un ataque (alguien que intercepta la conexión) o un host reinstalado.\n  Compare la huella nueva con la del propio par (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) antes de aceptar."),
    ("ask_trust", "Trust this key? [y/N] ", "¿Confiar en esta clave? [s/N] "),
    ("ask_replace", "Replace the pinned key with this one? [y/N] ", "¿Sustituir la clave fijada por esta? [s/N] "),
    ("trust_declined", "nothing was written; the key is not trusted", "no se escribió nada; la clave no es de confianza"),
    ("trust_pinned", "pinned {host} {key_type} {fingerprint} in {path}", "fijada {host} {key_type} {fingerprint} en {path}"),
    ("trust_replaced", "removed the previous key of this host (line {lines})", "se quitó la clave anterior de este host (línea {lines})"),
    ("trust_write_failed", "cannot write {path}: {error}; nothing was pinned", "no se puede escribir {path}: {error}; no se fijó nada"),
    ("check_ok", "{node}: ok, {target}, {key_type} {fingerprint}, {ms} ms", "{node}: correcto, {target}, {key_type} {fingerprint}, {ms} ms"),
];

fn format(lang: Lang, key: &str, args: &[(&str, &dyn Display)]) -> String {
    i18n::format(TEXTS, lang, key, args)
}

fn say(lang: Lang, key: &str, args: &[(&str, &dyn Display)]) {
    println!("{}", format(lang, key, args));
}

pub fn execute(ctx: &mut Context, command: &PeerCommand) -> Exit {
    match command {
        PeerCommand::Trust(args) => trust(ctx, args),
        PeerCommand::Check(args) => check(ctx, args),
    }
}

/// Returns the named nodes (all when `names` is empty), or prints why not.
fn select_nodes<'a>(ctx: &'a Context, names: &[String]) -> Result<Vec<&'a Node>, Exit> {
    let nodes = &ctx.config.nodes;
    if nodes.is_empty() {
        texts::error(ctx.lang, i18n::text(TEXTS, ctx.lang, "no_nodes"));
        return Err(Exit::Usage);
    }
    if names.is_empty() {
        return Ok(nodes.values().collect());
    }
    let mut selected = Vec::new();
    for name in names {
        let Some(node) = nodes.get(name) else {
            let known = nodes.keys().cloned().collect::<Vec<_>>().join(", ");
            texts::error(
                ctx.lang,
                &format(ctx.lang, "unknown_node", &[("name", name), ("known", &known)]),
            );
            return Err(Exit::Usage);
        };
        selected.push(node);
    }
    Ok(selected)
}

/// Shows the node's host key and pins it after the user confirms.
fn trust(ctx: &mut Context, args: &TrustArgs) -> Exit {
    let lang = ctx.lang;
    let node = match select_nodes(ctx, std::slice::from_ref(&args.name)) {
        Ok(nodes) => nodes[0].clone(),
        Err(exit) => return exit,
    };
    let host = known_hosts::host_pattern(&node.address, node.port);
    let key = match ssh::fetch_host_key(&node) {
        Ok(key) => key,
        Err(e) => {
            texts::error(lang, &e.message(lang));
            return Exit::Failed;
        }
    };
    let target = ssh::Endpoint::of(&node);
    say(
        lang,
        "trust_host",
        &[("node", &node.name), ("target", &target), ("host", &host)],
    );
    say(
        lang,
        "trust_key",
        &[("key_type", &key.key_type), ("fingerprint", &key.fingerprint())],
    );

    let known = match known_hosts::KnownHosts::read(&node.known_hosts) {
        Ok(known) => known,
        Err(e) => {
            texts::error(
                lang,
                &format(
                    lang,
                    "trust_write_failed",
                    &[("path", &node.known_hosts.display()), ("error", &e)],
                ),
            );
            return Exit::Failed;
        }
    };
    let question = match known.check(&host, &key) {
        Lookup::Known { line } => {
            say(
                lang,
                "trust_known",
                &[("path", &node.known_hosts.display()), ("line", &line)],
            );
            return Exit::Ok;
        }
        Lookup::Revoked { line } => {
            let error = ssh::SshError::HostKeyRevoked {
                at: Box::new(target),
                key: Box::new(key),
                known_hosts: node.known_hosts.clone(),
                line,
            };
            texts::error(lang, &error.message(lang));
            return Exit::Failed;
        }
        Lookup::Changed { line, pinned } => {
            say(
                lang,
                "trust_changed",
                &[
                    ("path", &node.known_hosts.display()),
                    ("line", &line),
                    ("key_type", &pinned.key_type),
                    ("fingerprint", &pinned.fingerprint()),
                ],
            );
            "ask_replace"
        }
        Lookup::Unknown => "ask_trust",
    };

    if !args.yes && !confirm(lang, question) {
        say(lang, "trust_declined", &[]);
        return Exit::Failed;
    }
    pin(ctx, &node, &host, &key)
}

/// Writes the key to known_hosts and records the change in the audit log.
fn pin(ctx: &mut Context, node: &Node, host: &str, key: &HostKey) -> Exit {
    let lang = ctx.lang;
    let path = &node.known_hosts;
    let removed = match known_hosts::pin(path, host, key) {
        Ok(removed) => removed,
        Err(e) => {
            texts::error(
                lang,
                &format(lang, "trust_write_failed", &[("path", &path.display()), ("error", &e)]),
            );
            return Exit::Failed;
        }
    };
    if !removed.is_empty() {
        let lines = removed.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
        say(lang, "trust_replaced", &[("lines", &lines)]);
    }
    say(
        lang,
        "trust_pinned",
        &[
            ("host", &host),
            ("key_type", &key.key_type),
            ("fingerprint", &key.fingerprint()),
            ("path", &path.display()),
        ],
    );
    let subject = format!("{} {}", node.name, key.fingerprint());
    if let Err(e) = ctx
        .store
        .audit_append(&super::actor_name(), "peer_trust", &subject, "ok")
    {
        tracing::error!(error = %e, node = %node.name, "cannot append to the audit log");
    }
    Exit::Ok
}

/// Prints `question` and reads one line from stdin; true for y, yes, s, si
/// or sí in any case. End of input counts as no.
fn confirm(lang: Lang, question: &str) -> bool {
    print!("{}", i18n::text(TEXTS, lang, question));
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    println!();
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes" | "s" | "si" | "sí")
}

/// Connects to each node in parallel and prints one line per node, in order.
fn check(ctx: &mut Context, args: &CheckArgs) -> Exit {
    let lang = ctx.lang;
    let nodes = match select_nodes(ctx, &args.nodes) {
        Ok(nodes) => nodes,
        Err(exit) => return exit,
    };
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|node| {
                scope.spawn(move || {
                    let started = Instant::now();
                    let result: Result<ssh::Session, _> = ssh::connect(node);
                    (result, started.elapsed())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a peer check thread panicked"))
            .collect()
    });

    let mut exit = Exit::Ok;
    for (node, (result, elapsed)) in nodes.iter().zip(results) {
        match result {
            Ok(session) => {
                let key = session.host_key();
                say(
                    lang,
                    "check_ok",
                    &[
                        ("node", &node.name),
                        ("target", session.endpoint()),
                        ("key_type", &key.key_type),
                        ("fingerprint", &key.fingerprint()),
                        ("ms", &elapsed.as_millis()),
                    ],
                );
            }
            Err(e) => {
                tracing::info!(node = %node.name, error = %e, "peer check failed");
                texts::error(lang, &e.message(lang));
                exit = Exit::Failed;
            }
        }
    }
    exit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete() {
        i18n::check_table(TEXTS).unwrap();
    }
}
