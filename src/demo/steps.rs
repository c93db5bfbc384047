//! The demo's seven steps. Each step explains what it does and why, runs
//! drkit with the command a user would type, and checks the outcome on disk
//! or in the state database.

use super::changes;
use super::primary;
use super::runner::{Demo, Failure};
use super::{Action, FileError};
use crate::config::SyncSet;
use crate::exit::Exit;

struct Step {
    /// Text key of the step's title.
    title: &'static str,
    run: fn(&mut Demo) -> Result<(), Failure>,
}

const STEPS: [Step; 7] = [
    Step {
        title: "step1_title",
        run: first_sync,
    },
    Step {
        title: "step2_title",
        run: change_primary,
    },
    Step {
        title: "step3_title",
        run: second_sync,
    },
    Step {
        title: "step4_title",
        run: verify_clean,
    },
    Step {
        title: "step5_title",
        run: corrupt_replica,
    },
    Step {
        title: "step6_title",
        run: repair,
    },
    Step {
        title: "step7_title",
        run: daily_report,
    },
];

/// Runs the steps in order and stops at the first that does not behave as expected.
pub fn run_all(demo: &mut Demo) -> Exit {
    let total = STEPS.len();
    for (index, step) in STEPS.iter().enumerate() {
        let number = index + 1;
        let title = demo.out.text(step.title);
        demo.out.say(
            "step_header",
            &[("number", &number), ("total", &total), ("title", &title)],
        );
        if let Err(reason) = (step.run)(demo) {
            let dir = demo.layout.shown.display();
            demo.out.error(&demo.out.format(
                "step_failed",
                &[
                    ("number", &number),
                    ("title", &title),
                    ("reason", &reason),
                    ("dir", &dir),
                ],
            ));
            return Exit::Failed;
        }
        demo.out.blank();
    }
    demo.out
        .paragraph("all_done", &[("total", &total), ("dir", &demo.layout.shown.display())]);
    Exit::Ok
}

fn first_sync(demo: &mut Demo) -> Result<(), Failure> {
    demo.out.paragraph("step1_why", &[]);
    demo.expect_exit(&["sync"], 0)?;

    let home = demo.home_set()?;
    let site = home.target.join(primary::DOMAINS[0]);
    demo.require(
        site.join("public_html/index.php").is_file(),
        "missing_on_replica",
        &site.join("public_html/index.php"),
    )?;
    let cache = site.join("public_html/wp-content/cache");
    demo.require(!cache.exists(), "excluded_copied", &cache)?;
    let temp = site.join("tmp/php-upload-7f3a.tmp");
    demo.require(!temp.exists(), "excluded_copied", &temp)?;
    demo.out.paragraph("step1_excluded", &[]);
    Ok(())
}

fn change_primary(demo: &mut Demo) -> Result<(), Failure> {
    demo.out.paragraph("step2_why", &[]);
    let source = demo.home_set()?.source.clone();
    let upload_size = changes::change_primary(&source).map_err(|e| e.localized(demo.out.lang()))?;
    let lang = demo.out.lang();
    demo.out.say(
        "change_edited",
        &[
            ("path", &changes::edited_page()),
            ("from", &primary::HOURS_BEFORE),
            ("to", &changes::HOURS_AFTER),
        ],
    );
    demo.out.say(
        "change_added",
        &[
            ("path", &changes::added_upload()),
            ("size", &crate::commands::texts::bytes(lang, upload_size)),
        ],
    );
    demo.out.say("change_deleted", &[("path", &changes::deleted_post())]);
    Ok(())
}

fn second_sync(demo: &mut Demo) -> Result<(), Failure> {
    demo.out.paragraph("step3_why", &[]);
    demo.expect_exit(&["sync"], 0)?;

    let home = demo.home_set()?;
    let versions = crate::sync::versions::list(&home.versions_dir);
    let Some(version) = versions.last() else {
        return Err(demo.out.format(
            "no_version",
            &[("path", &demo.layout.shown(&home.versions_dir).display())],
        ));
    };
    demo.out.blank();
    demo.out.say(
        "version_folder",
        &[("path", &demo.layout.shown(&version.path).display())],
    );

    let deleted = version.path.join(changes::deleted_post());
    demo.require(deleted.symlink_metadata().is_ok(), "version_lacks", &deleted)?;
    demo.out
        .say("version_has_deleted", &[("path", &changes::deleted_post())]);

    let old_page = version.path.join(changes::edited_page());
    let old_hours = changes::opening_hours(&old_page);
    demo.require(
        old_hours.as_deref() == Some(primary::HOURS_BEFORE),
        "version_lacks",
        &old_page,
    )?;
    demo.out.say(
        "version_has_old_text",
        &[("path", &changes::edited_page()), ("text", &primary::HOURS_BEFORE)],
    );

    let new_page = home.target.join(changes::edited_page());
    demo.require(
        changes::opening_hours(&new_page).as_deref() == Some(changes::HOURS_AFTER),
        "replica_not_updated",
        &new_page,
    )?;
    demo.out.say("replica_has_new_text", &[("text", &changes::HOURS_AFTER)]);
    Ok(())
}

fn verify_clean(demo: &mut Demo) -> Result<(), Failure> {
    demo.out.paragraph("step4_why", &[]);
    demo.expect_exit(&["verify"], 0)
}

fn corrupt_replica(demo: &mut Demo) -> Result<(), Failure> {
    let lang = demo.out.lang();
    let home = demo.home_set()?.clone();
    let relative = changes::corrupted_file();
    let file = home.target.join(&relative);
    demo.out.paragraph(
        "step5_why",
        &[
            ("count", &changes::CORRUPT_BYTES),
            ("path", &demo.layout.shown(&file).display()),
        ],
    );

    let before = std::fs::metadata(&file).map_err(|e| FileError::new(Action::Read, &file, e).localized(lang))?;
    let offset = changes::corrupt(&file).map_err(|e| e.localized(lang))?;
    let after = std::fs::metadata(&file).map_err(|e| FileError::new(Action::Read, &file, e).localized(lang))?;
    let unchanged = before.len() == after.len() && before.modified().ok() == after.modified().ok();
    demo.require(unchanged, "corruption_visible", &file)?;
    demo.out.say(
        "corrupted",
        &[
            ("count", &changes::CORRUPT_BYTES),
            ("offset", &offset),
            ("size", &after.len()),
        ],
    );
    demo.out.blank();

    demo.out.paragraph("step5_verify", &[]);
    demo.expect_exit(&["verify"], 1)?;
    if !verify_listed(demo, &home, &relative)? {
        return Err(demo.out.format("corruption_not_listed", &[("path", &relative)]));
    }
    demo.out.blank();
    demo.out.paragraph("step5_found", &[("path", &relative)]);
    Ok(())
}

/// True when the newest stored verify result of `set` lists `relative` as different.
fn verify_listed(demo: &Demo, set: &SyncSet, relative: &str) -> Result<bool, Failure> {
    let store = crate::store::Store::open(&demo.config.site.data_dir).map_err(|e| e.to_string())?;
    let result = store.latest_result("verify", &set.name).map_err(|e| e.to_string())?;
    let listed = result
        .and_then(|row| row.data.get("mismatched").and_then(|m| m.as_array()).cloned())
        .is_some_and(|paths| paths.iter().any(|p| p.as_str() == Some(relative)));
    Ok(listed)
}

fn repair(demo: &mut Demo) -> Result<(), Failure> {
    demo.out.paragraph("step6_why", &[]);
    let home = demo.home_set()?.clone();
    demo.expect_exit(&["sync", &home.name], 0)?;

    let relative = changes::corrupted_file();
    let replica_file = home.target.join(&relative);
    let same =
        changes::same_content(&home.source.join(&relative), &replica_file).map_err(|e| e.localized(demo.out.lang()))?;
    demo.require(same, "not_repaired", &replica_file)?;
    demo.out.say("repaired", &[("path", &relative)]);
    demo.out.blank();

    demo.out.paragraph("step6_verify", &[]);
    demo.expect_exit(&["verify"], 0)
}

fn daily_report(demo: &mut Demo) -> Result<(), Failure> {
    demo.out.paragraph("step7_why", &[]);
    demo.expect_exit(&["report", "daily"], 0)?;

    let index = demo.config.site.report_dir.join("index.html");
    demo.require(index.is_file(), "no_report", &index)?;
    demo.out.blank();
    demo.out.say("report_at", &[("path", &index.display())]);
    Ok(())
}
