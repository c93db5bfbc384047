//! Messages: their language (`--lang`, then the config's `site.language`)
//! and their form on a pipe.

use crate::common::*;

#[test]
fn spanish_source_empty_message() {
    let site = Site::new();
    let src = site.source("www");

    let out = site.drkit_lang("es", &["sync"]);

    out.expect_code(1);
    assert_eq!(
        out.stderr.lines().filter(|l| l.starts_with("error:")).collect::<Vec<_>>(),
        vec![format!(
            "error: conjunto \"www\": el origen {} está vacío. Así se ve un montaje ausente o un disco borrado, por eso no se cambió nada y se conservan todas las versiones. Monte o restaure el origen y vuelva a sincronizar.",
            src.display()
        )],
        "{}",
        out.stderr
    );
}

#[test]
fn spanish_from_config_language() {
    let site = Site::new();
    write(site.source("www").join("a"), "a");
    let config = std::fs::read_to_string(site.config_path()).unwrap();
    std::fs::write(
        site.config_path(),
        config.replacen("[site]\n", "[site]\nlanguage = \"es\"\n", 1),
    )
    .unwrap();

    let mut cmd = std::process::Command::new(drkit_bin());
    cmd.arg("--config")
        .arg(site.config_path())
        .arg("sync")
        .env("LANG", "C.UTF-8");
    let out = spawn_command({
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    })
    .wait(DEFAULT_TIMEOUT);

    out.expect_code(0);
    assert!(
        out.stdout
            .starts_with("www: archivos revisados: 1, cambiados: 1, borrados: 0, copiado: 1 B, tiempo: "),
        "{}",
        out.stdout
    );
}

#[test]
fn english_sync_line_pinned() {
    let site = Site::new();
    write(site.source("www").join("a"), "abc");
    let out = site.drkit(&["sync"]);
    out.expect_code(0);
    assert!(
        out.stdout
            .starts_with("www: files checked: 1, changed: 1, deleted: 0, copied: 3 B, time: "),
        "{}",
        out.stdout
    );
}

#[test]
fn piped_stderr_has_no_colour_codes() {
    let site = Site::new();
    nix::unistd::mkfifo(
        &site.source("www").join("pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    write(site.source("www").join("a"), "a");

    let out = site.drkit(&["sync"]);

    out.expect_code(0);
    assert!(out.stderr.contains("pipe"), "{}", out.stderr);
    assert!(
        !out.stderr.contains('\u{1b}'),
        "stderr holds terminal escape codes:\n{:?}",
        out.stderr
    );
}
