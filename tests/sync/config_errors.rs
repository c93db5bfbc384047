//! An invalid config stops every command with exit code 2, a message that
//! names the file, line, column, key and fix, and nothing created on disk.

use std::path::PathBuf;

use crate::common::{list_paths, Output, Site};

const SITE: &str = "[site]\nname = \"web1\"\ndata_dir = \"{root}/data\"\nreport_dir = \"{root}/reports\"\n";

/// Runs `drkit sync` on a config made of `text` and checks that it failed
/// as a config error that left only the config file behind.
fn rejected(text: &str) -> (Site, Output) {
    let site = Site::with_config_text(text);
    let out = site.drkit(&["sync"]);
    out.expect_code(2);
    assert!(out.stdout.is_empty(), "stdout should be empty: {}", out.stdout);
    assert_eq!(
        list_paths(site.root()),
        vec![PathBuf::from("drkit.toml")],
        "a rejected config must create nothing"
    );
    (site, out)
}

fn config_path(site: &Site) -> String {
    site.config_path().display().to_string()
}

#[test]
fn unknown_key_is_pinned() {
    let (site, out) = rejected(&format!("{SITE}colour = \"blue\"\n"));
    assert_eq!(
        out.stderr,
        format!(
            "error: {}:5:1: site.colour: unknown key `colour`; the keys accepted here are `name`, `data_dir`, `report_dir`, `language`\n  fix: remove the key or correct its spelling\n",
            config_path(&site)
        )
    );
}

#[test]
fn bad_duration_is_pinned() {
    let (site, out) = rejected(&format!("{SITE}\n[targets]\nrpo = \"60 seconds\"\n"));
    assert_eq!(
        out.stderr,
        format!(
            "error: {}:7:7: targets.rpo: invalid duration \"60 seconds\"\n  fix: write a number above zero with a unit (ms, s, m, h, d), such as \"15m\", \"60s\" or \"1h30m\"\n",
            config_path(&site)
        )
    );
}

#[test]
fn missing_key_names_it() {
    let (site, out) = rejected("[site]\nname = \"web1\"\nreport_dir = \"{root}/reports\"\n");
    assert_eq!(
        out.stderr,
        format!(
            "error: {}:1:1: site: the required key `data_dir` is missing\n  fix: add the key; README.md, \"Configuration\", lists every key\n",
            config_path(&site)
        )
    );
}

#[test]
fn relative_path_is_pinned() {
    let (site, out) = rejected("[site]\nname = \"web1\"\ndata_dir = \"data\"\nreport_dir = \"{root}/reports\"\n");
    assert_eq!(
        out.stderr,
        format!(
            "error: {}:3:12: site.data_dir: \"data\" is not an absolute path\n  fix: write the whole path from the root, such as \"/var/www\"\n",
            config_path(&site)
        )
    );
}

#[test]
fn target_inside_source_rejected() {
    let (site, out) = rejected(&format!(
        "{SITE}\n[[sync]]\nname = \"www\"\nsource = \"{{root}}/src\"\ntarget = \"{{root}}/src/replica\"\n"
    ));
    let root = site.root().display();
    assert_eq!(
        out.stderr,
        format!(
            "error: {}:9:10: sync.www.target: the target {root}/src/replica and the source {root}/src overlap\n  fix: put the replica outside the source tree, and the source outside the replica\n",
            config_path(&site)
        )
    );
}

#[test]
fn source_inside_target_rejected() {
    let (_site, out) = rejected(&format!(
        "{SITE}\n[[sync]]\nname = \"www\"\nsource = \"{{root}}/replica/src\"\ntarget = \"{{root}}/replica\"\n"
    ));
    assert!(out.stderr.contains(":9:10: sync.www.target: "), "{}", out.stderr);
    assert!(out.stderr.contains("overlap"), "{}", out.stderr);
    assert!(out.stderr.contains("  fix: "), "{}", out.stderr);
}

#[test]
fn overlapping_targets_rejected() {
    let (site, out) = rejected(&format!(
        "{SITE}\n[[sync]]\nname = \"www\"\nsource = \"{{root}}/www\"\ntarget = \"{{root}}/replica\"\n\n[[sync]]\nname = \"mail\"\nsource = \"{{root}}/mail\"\ntarget = \"{{root}}/replica/mail\"\n"
    ));
    let root = site.root().display();
    assert_eq!(
        out.stderr,
        format!(
            "error: {}:14:10: sync.mail.target: the target {root}/replica/mail overlaps the target {root}/replica of set \"www\"\n  fix: give every set its own replica folder, with no set inside another\n",
            config_path(&site)
        )
    );
}

#[test]
fn bad_max_delete_is_pinned() {
    let (site, out) = rejected(&format!(
        "{SITE}\n[[sync]]\nname = \"www\"\nsource = \"{{root}}/src\"\ntarget = \"{{root}}/replica\"\nmax_delete = \"lots\"\n"
    ));
    assert_eq!(
        out.stderr,
        format!(
            "error: {}:10:14: sync.www.max_delete: invalid limit \"lots\"\n  fix: write a percentage of the replica's files such as \"10%\", or a file count such as \"500\"\n",
            config_path(&site)
        )
    );
}

#[test]
fn max_delete_over_100_percent_rejected() {
    let (_site, out) = rejected(&format!(
        "{SITE}\n[[sync]]\nname = \"www\"\nsource = \"{{root}}/src\"\ntarget = \"{{root}}/replica\"\nmax_delete = \"150%\"\n"
    ));
    assert!(
        out.stderr
            .contains(":10:14: sync.www.max_delete: invalid limit \"150%\""),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_language_is_pinned() {
    let (site, out) = rejected(&format!("{SITE}language = \"fr\"\n"));
    assert_eq!(
        out.stderr,
        format!(
            "error: {}:5:12: site.language: unsupported language \"fr\"\n  fix: use \"en\" or \"es\"\n",
            config_path(&site)
        )
    );
}

#[test]
fn config_check_rejects_too() {
    let site = Site::with_config_text(&format!("{SITE}colour = \"blue\"\n"));
    let out = site.drkit(&["config", "check"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains(":5:1: site.colour: unknown key `colour`"),
        "{}",
        out.stderr
    );
    assert_eq!(list_paths(site.root()), vec![PathBuf::from("drkit.toml")]);
}

#[test]
fn verify_rejects_bad_config() {
    let site = Site::with_config_text(&format!("{SITE}\n[targets]\nrto = \"soon\"\n"));
    let out = site.drkit(&["verify"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains(":7:7: targets.rto: invalid duration \"soon\""),
        "{}",
        out.stderr
    );
    assert_eq!(list_paths(site.root()), vec![PathBuf::from("drkit.toml")]);
}

#[test]
fn missing_config_file_exit_2() {
    let site = Site::new();
    std::fs::remove_file(site.config_path()).unwrap();
    let out = site.drkit(&["sync"]);
    out.expect_code(2);
    assert!(out.stderr.contains(&config_path(&site)), "{}", out.stderr);
    assert!(out.stderr.contains("cannot read the config file"), "{}", out.stderr);
    assert!(!site.data_dir().exists());
}
