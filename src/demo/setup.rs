//! The demo's `drkit.toml` and its job files.

use std::path::Path;

use super::folder::Layout;
use super::texts::TEXTS;
use super::{write_file, Action, FileError};
use crate::i18n::{self, Lang};

/// One sync set of the demo: name, folder under `primary/` and `replica/`, excludes.
pub struct DemoSet {
    pub name: &'static str,
    pub folder: &'static str,
    pub exclude: &'static [&'static str],
}

pub const SETS: [DemoSet; 3] = [
    DemoSet {
        name: "home",
        folder: "home",
        exclude: &["*.tmp", "cache/"],
    },
    DemoSet {
        name: "apache",
        folder: "etc/apache2",
        exclude: &["*.tmp", "*~"],
    },
    DemoSet {
        name: "webmin",
        folder: "etc/webmin",
        exclude: &["*.tmp", "*.pid"],
    },
];

/// Versions kept per set.
pub const KEEP_VERSIONS: u32 = 7;

/// A job file the demo wrote.
pub struct JobFile {
    pub file: String,
    pub kind: &'static str,
    pub schedule: &'static str,
    pub timeout: &'static str,
}

/// Writes `drkit.toml` into the demo folder; every path in it is absolute.
pub fn write_config(layout: &Layout, lang: Lang) -> Result<(), FileError> {
    let path = |p: &Path| quote_path(p);
    let mut text = format!(
        "# Written by `drkit demo`: every path lies inside the demo folder.\n\n\
         [site]\nname = \"demo\"\ndata_dir = {}\nreport_dir = {}\nlanguage = \"{}\"\n\n\
         [targets]\nrto = \"15m\"\nrpo = \"10m\"\n\n\
         [jobs]\ndir = {}\n",
        path(&layout.data())?,
        path(&layout.reports())?,
        lang.code(),
        path(&layout.jobs())?,
    );
    for set in &SETS {
        let exclude: Vec<String> = set.exclude.iter().map(|p| toml_string(p)).collect();
        text.push_str(&format!(
            "\n[[sync]]\nname = \"{}\"\nsource = {}\ntarget = {}\nexclude = [{}]\nkeep_versions = {KEEP_VERSIONS}\n",
            set.name,
            path(&layout.primary().join(set.folder))?,
            path(&layout.replica().join(set.folder))?,
            exclude.join(", "),
        ));
    }
    write_file(&layout.config(), text)
}

/// Writes the job files into the demo's jobs folder, with descriptions in
/// `lang`, and returns what they hold.
pub fn write_jobs(layout: &Layout, lang: Lang) -> Result<Vec<JobFile>, FileError> {
    let sets: Vec<String> = SETS.iter().map(|s| toml_string(s.name)).collect();
    let sets = format!("sets = [{}]", sets.join(", "));
    let jobs = [
        (
            "sync-all",
            "sync",
            "*/5 * * * *",
            "20m",
            "job_sync_description",
            sets.clone(),
        ),
        (
            "verify-nightly",
            "verify",
            "30 3 * * *",
            "2h",
            "job_verify_description",
            sets,
        ),
        (
            "report-daily",
            "report",
            "0 6 * * *",
            "10m",
            "job_report_description",
            "report = \"daily\"".to_string(),
        ),
    ];
    let mut written = Vec::new();
    for (name, kind, schedule, timeout, description, params) in jobs {
        let file = format!("{name}.toml");
        let description = toml_string(i18n::text(TEXTS, lang, description));
        let text = format!(
            "# Written by `drkit demo`.\nname = \"{name}\"\nkind = \"{kind}\"\ndescription = {description}\n\
             schedule = \"{schedule}\"\ntimeout = \"{timeout}\"\n\n[params]\n{params}\n"
        );
        write_file(&layout.jobs().join(&file), text)?;
        written.push(JobFile {
            file,
            kind,
            schedule,
            timeout,
        });
    }
    Ok(written)
}

/// Returns `path` as a TOML string; the config only accepts UTF-8 paths.
fn quote_path(path: &Path) -> Result<String, FileError> {
    match path.to_str() {
        Some(text) => Ok(toml_string(text)),
        None => Err(FileError::new(
            Action::Write,
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, "the config only accepts UTF-8 paths"),
        )),
    }
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn layout(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
            shown: PathBuf::from("demo"),
        }
    }

    #[test]
    fn written_config_is_accepted() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("with space \"quoted\"");
        let layout = layout(&root);
        write_config(&layout, Lang::Es).unwrap();

        let config = crate::config::load(&layout.config(), None).unwrap();

        assert_eq!(config.site.language, Lang::Es);
        assert_eq!(config.site.data_dir, root.join("data"));
        assert_eq!(config.jobs_dir, Some(root.join("jobs")));
        let names: Vec<&str> = config.sets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["home", "apache", "webmin"]);
        let home = &config.sets[0];
        assert_eq!(home.source, root.join("primary/home"));
        assert_eq!(home.target, root.join("replica/home"));
        assert_eq!(home.exclude, ["*.tmp", "cache/"]);
        assert_eq!(home.keep_versions, 7);
    }

    #[test]
    fn job_files_have_the_job_keys() {
        let temp = tempfile::tempdir().unwrap();
        let layout = layout(temp.path());
        let jobs = write_jobs(&layout, Lang::Es).unwrap();
        assert_eq!(jobs.len(), 3);
        for job in &jobs {
            let text = std::fs::read_to_string(layout.jobs().join(&job.file)).unwrap();
            let table: toml::Table = text.parse().unwrap();
            for key in ["name", "kind", "description", "schedule", "timeout"] {
                assert!(
                    table.get(key).and_then(toml::Value::as_str).is_some(),
                    "{}: {key}",
                    job.file
                );
            }
            assert!(
                table.get("params").and_then(toml::Value::as_table).is_some(),
                "{}: params",
                job.file
            );
            assert_eq!(table["kind"].as_str(), Some(job.kind));
            assert_eq!(table["schedule"].as_str().unwrap().split_whitespace().count(), 5);
        }
        let report = std::fs::read_to_string(layout.jobs().join("report-daily.toml")).unwrap();
        let report: toml::Table = report.parse().unwrap();
        assert_eq!(report["params"]["report"].as_str(), Some("daily"));
        let sync = std::fs::read_to_string(layout.jobs().join("sync-all.toml")).unwrap();
        let sync: toml::Table = sync.parse().unwrap();
        assert_eq!(sync["params"]["sets"].as_array().map(Vec::len), Some(3));
    }
}
