//! End-to-end tests of `drkit db`: real MariaDB and PostgreSQL servers in
//! temporary data folders, dumps synced to a local replica and restored into
//! a second server, with table checksums compared.

#[path = "common/mod.rs"]
mod common;
#[path = "common/db.rs"]
mod db;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Output, Site};
use db::{Mariadb, Postgres, Tmpfs, PG_BIN};

/// Rows of wp_posts in the WordPress-shaped test databases.
const POSTS: usize = 3000;
/// Rows of wp_options.
const OPTIONS: usize = 1000;
/// Upper bound on the transactions a writer thread attempts.
const MAX_WRITES: usize = 5000;

/// Writes a password file owned by root with mode 0600.
fn password_file(path: &Path, password: &str) {
    std::fs::write(path, format!("{password}\n")).expect("writing the password file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// Returns the post body of row `i`: about 1.2 kB of text with emoji and accents.
fn post_body(i: usize) -> String {
    let line = format!("Entrada {i}: café ñandú 😀🚀 — <p>Lorem ipsum dolor sit amet, consectetur adipiscing.</p>\n");
    line.repeat(12)
}

/// Builds the SQL of a WordPress-shaped MariaDB database named `wp`: posts,
/// options, an audit table filled by a trigger, a function, an event, and a
/// counter and a log table that writers update in one transaction.
fn mariadb_wordpress() -> String {
    let mut sql = String::from(
        "CREATE DATABASE wp CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\nUSE wp;\n\
         CREATE TABLE wp_posts (ID BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, post_author BIGINT UNSIGNED NOT NULL, \
         post_date DATETIME NOT NULL, post_content LONGTEXT NOT NULL, post_title TEXT NOT NULL, \
         post_status VARCHAR(20) NOT NULL DEFAULT 'publish', post_name VARCHAR(200) NOT NULL, KEY post_name (post_name(191))) ENGINE=InnoDB;\n\
         CREATE TABLE wp_options (option_id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, option_name VARCHAR(191) NOT NULL UNIQUE, \
         option_value LONGTEXT NOT NULL, autoload VARCHAR(20) NOT NULL DEFAULT 'yes') ENGINE=InnoDB;\n\
         CREATE TABLE wp_audit (id BIGINT AUTO_INCREMENT PRIMARY KEY, post_id BIGINT NOT NULL, at DATETIME NOT NULL) ENGINE=InnoDB;\n\
         CREATE TRIGGER wp_posts_audit AFTER INSERT ON wp_posts FOR EACH ROW INSERT INTO wp_audit (post_id, at) VALUES (NEW.ID, NEW.post_date);\n\
         CREATE FUNCTION wp_post_count() RETURNS INT READS SQL DATA RETURN (SELECT COUNT(*) FROM wp_posts);\n\
         CREATE EVENT wp_cleanup ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM wp_audit WHERE at < '2000-01-01';\n\
         CREATE TABLE hits_counter (id INT PRIMARY KEY, hits BIGINT NOT NULL) ENGINE=InnoDB;\n\
         CREATE TABLE hits_log (id BIGINT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100) NOT NULL) ENGINE=InnoDB;\n\
         INSERT INTO hits_counter VALUES (1, 0);\n",
    );
    for chunk in (0..POSTS).collect::<Vec<_>>().chunks(250) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| {
                format!(
                    "({}, '2026-01-{:02} 10:{:02}:00', '{}', 'Título {i} ✨', 'post-{i}')",
                    i % 7,
                    i % 28 + 1,
                    i % 60,
                    post_body(*i)
                )
            })
            .collect();
        sql.push_str(&format!(
            "INSERT INTO wp_posts (post_author, post_date, post_content, post_title, post_name) VALUES {};\n",
            rows.join(",")
        ));
    }
    for chunk in (0..OPTIONS).collect::<Vec<_>>().chunks(500) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| format!("('option_{i}', 'a:1:{{s:5:\"valor\";s:{i}:\"ñ 🎉\";}}', 'yes')"))
            .collect();
        sql.push_str(&format!(
            "INSERT INTO wp_options (option_name, option_value, autoload) VALUES {};\n",
            rows.join(",")
        ));
    }
    sql
}

/// Builds the PostgreSQL version of the same database, run inside database `wp`.
fn postgres_wordpress() -> String {
    let mut sql = String::from(
        "CREATE TABLE wp_posts (id BIGSERIAL PRIMARY KEY, post_author BIGINT NOT NULL, post_date TIMESTAMP NOT NULL, \
         post_content TEXT NOT NULL, post_title TEXT NOT NULL, post_status VARCHAR(20) NOT NULL DEFAULT 'publish', post_name VARCHAR(200) NOT NULL);\n\
         CREATE TABLE wp_options (id BIGSERIAL PRIMARY KEY, option_name VARCHAR(191) NOT NULL UNIQUE, option_value TEXT NOT NULL, autoload VARCHAR(20) NOT NULL DEFAULT 'yes');\n\
         CREATE TABLE wp_audit (id BIGSERIAL PRIMARY KEY, post_id BIGINT NOT NULL, at TIMESTAMP NOT NULL);\n\
         CREATE FUNCTION wp_posts_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO wp_audit (post_id, at) VALUES (NEW.id, NEW.post_date); RETURN NEW; END $$;\n\
         CREATE TRIGGER wp_posts_audit AFTER INSERT ON wp_posts FOR EACH ROW EXECUTE FUNCTION wp_posts_audit();\n\
         CREATE FUNCTION wp_post_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM wp_posts';\n\
         CREATE TABLE hits_counter (id INT PRIMARY KEY, hits BIGINT NOT NULL);\n\
         CREATE TABLE hits_log (id BIGSERIAL PRIMARY KEY, note VARCHAR(100) NOT NULL);\n\
         INSERT INTO hits_counter VALUES (1, 0);\n",
    );
    for chunk in (0..POSTS).collect::<Vec<_>>().chunks(250) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| {
                format!(
                    "({}, '2026-01-{:02} 10:{:02}:00', '{}', 'Título {i} ✨', 'post-{i}')",
                    i % 7,
                    i % 28 + 1,
                    i % 60,
                    post_body(*i)
                )
            })
            .collect();
        sql.push_str(&format!(
            "INSERT INTO wp_posts (post_author, post_date, post_content, post_title, post_name) VALUES {};\n",
            rows.join(",")
        ));
    }
    let rows: Vec<String> = (0..OPTIONS)
        .map(|i| format!("('option_{i}', 'a:1:{{s:5:\"valor\";s:{i}:\"ñ 🎉\";}}', 'yes')"))
        .collect();
    sql.push_str(&format!(
        "INSERT INTO wp_options (option_name, option_value, autoload) VALUES {};\n",
        rows.join(",")
    ));
    sql
}

/// Runs `write` in a thread until stopped (at most `MAX_WRITES` attempts);
/// returns the stop flag and the handle, which yields the successful writes.
fn start_writer(write: impl Fn() -> bool + Send + 'static) -> (Arc<AtomicBool>, std::thread::JoinHandle<usize>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut done = 0;
        for _ in 0..MAX_WRITES {
            if flag.load(Ordering::SeqCst) {
                break;
            }
            if write() {
                done += 1;
            }
        }
        done
    });
    (stop, handle)
}

/// Waits (bounded) until `check` is true.
#[track_caller]
fn wait_for(what: &str, check: impl Fn() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not happen within 30 s");
}

#[track_caller]
fn assert_contains(output: &Output, needle: &str) {
    let all = format!("{}\n{}", output.stdout, output.stderr);
    assert!(all.contains(needle), "expected {needle:?} in the output:\n{all}");
}

/// Lists the names in `dir` that start with drkit's temporary prefix.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".drkit-tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Builds the config of the primary: one set "dumps" replicated to `replica/dumps`.
fn primary_config(database: &str) -> String {
    format!(
        "[site]\nname = \"primary\"\ndata_dir = \"{{root}}/data\"\nreport_dir = \"{{root}}/reports\"\n\n\
         [[sync]]\nname = \"dumps\"\nsource = \"{{root}}/dumps\"\ntarget = \"{{root}}/replica/dumps\"\n\n\
         [[database]]\nname = \"main\"\n{database}dump_dir = \"{{root}}/dumps/main\"\n"
    )
}

/// Builds the config of the secondary: the same set and entry name, another server.
fn secondary_config(primary: &Site, database: &str) -> String {
    let root = primary.root().display();
    format!(
        "[site]\nname = \"secondary\"\ndata_dir = \"{{root}}/data\"\nreport_dir = \"{{root}}/reports\"\n\n\
         [[sync]]\nname = \"dumps\"\nsource = \"{root}/dumps\"\ntarget = \"{root}/replica/dumps\"\n\n\
         [[database]]\nname = \"main\"\n{database}dump_dir = \"{root}/dumps/main\"\n"
    )
}

fn mariadb_checksums(server: &Mariadb) -> String {
    server.sql("CHECKSUM TABLE wp.wp_posts, wp.wp_options, wp.wp_audit EXTENDED")
}

fn postgres_checksums(server: &Postgres) -> Vec<String> {
    ["wp_posts", "wp_options", "wp_audit"]
        .iter()
        .map(|table| {
            server.sql(
                "wp",
                &format!("SELECT count(*), md5(string_agg(t::text, E'\\n' ORDER BY id)) FROM {table} t"),
            )
        })
        .collect()
}

#[test]
fn mariadb_dump_sync_restore_round_trip() {
    let a = Mariadb::start();
    let b = Mariadb::start();
    a.load(&mariadb_wordpress());
    a.sql("CREATE USER 'wp'@'127.0.0.1' IDENTIFIED BY 's3cret pass'; GRANT ALL PRIVILEGES ON *.* TO 'wp'@'127.0.0.1'");

    let primary = Site::with_config_text(&primary_config(&format!(
        "kind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"wp\"\npassword_file = \"{{root}}/wp.pass\"\n",
        a.port
    )));
    password_file(&primary.root().join("wp.pass"), "s3cret pass");
    primary.drkit(&["config", "check"]).expect_code(0);

    // Transactions keep running while the dump is taken.
    let socket = a.socket();
    let (stop, writer) = start_writer(move || {
        std::process::Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", socket.display()))
            .args(["-uroot", "-e", "START TRANSACTION; UPDATE wp.hits_counter SET hits = hits + 1 WHERE id = 1; INSERT INTO wp.hits_log (note) VALUES ('hit'); COMMIT;"])
            .status()
            .is_ok_and(|s| s.success())
    });
    wait_for("five writes on the primary", || {
        a.sql("SELECT hits FROM wp.hits_counter")
            .trim()
            .parse::<i64>()
            .unwrap_or(0)
            >= 5
    });
    let dump = primary.drkit(&["db", "dump"]);
    stop.store(true, Ordering::SeqCst);
    let writes = writer.join().expect("writer thread");
    dump.expect_code(0);
    assert!(writes >= 5, "the writer committed {writes} transactions");
    assert_contains(&dump, "database wp dumped to");
    let dump_file = primary.root().join("dumps/main/wp.sql");
    let text = std::fs::read_to_string(&dump_file).expect("reading the dump");
    assert!(text.contains("😀🚀"), "the dump keeps the emoji");
    assert!(text.contains("-- Dump completed"));
    assert!(
        !primary.root().join("dumps/main/mysql.sql").exists(),
        "system databases are skipped"
    );
    assert!(!text.contains("s3cret"), "the password is not in the dump");

    primary.drkit(&["sync", "dumps"]).expect_code(0);
    assert!(primary.root().join("replica/dumps/main/wp.sql").is_file());

    let secondary = Site::with_config_text(&secondary_config(
        &primary,
        &format!("kind = \"mysql\"\nsocket = \"{}\"\n", b.socket().display()),
    ));
    let restore = secondary.drkit(&["db", "restore", "main"]);
    restore.expect_code(0);
    assert_contains(&restore, "database wp restored from");

    assert_eq!(
        mariadb_checksums(&a),
        mariadb_checksums(&b),
        "table checksums of primary and restored copy"
    );
    let counter = b.sql("SELECT hits FROM wp.hits_counter").trim().to_string();
    let logged = b.sql("SELECT COUNT(*) FROM wp.hits_log").trim().to_string();
    assert_eq!(counter, logged, "counter and log of the restored copy agree");
    assert_eq!(
        b.sql("SELECT wp.wp_post_count()").trim(),
        POSTS.to_string(),
        "the function came across"
    );
    assert_eq!(
        b.sql("SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = 'wp'")
            .trim(),
        "1",
        "the trigger came across"
    );
    assert_eq!(
        b.sql("SELECT COUNT(*) FROM information_schema.events WHERE event_schema = 'wp'")
            .trim(),
        "1",
        "the event came across"
    );

    // A write on the secondary after the restore makes the next restore refuse.
    std::thread::sleep(Duration::from_millis(1100));
    b.sql("INSERT INTO wp.wp_options (option_name, option_value) VALUES ('written_on_secondary', 'x')");
    let refused = secondary.drkit(&["db", "restore", "main"]);
    refused.expect_code(1);
    assert_contains(&refused, "database \"wp\" on server \"main\" was written at");
    assert_contains(&refused, "Nothing was changed");
    assert_contains(&refused, "--force");
    assert_eq!(
        b.sql("SELECT COUNT(*) FROM wp.wp_options WHERE option_name = 'written_on_secondary'")
            .trim(),
        "1",
        "the refused restore left the newer write in place"
    );
    let forced = secondary.drkit(&["db", "restore", "main", "--database", "wp", "--force"]);
    forced.expect_code(0);
    assert_eq!(
        b.sql("SELECT COUNT(*) FROM wp.wp_options WHERE option_name = 'written_on_secondary'")
            .trim(),
        "0",
        "--force replaced the database"
    );
    assert_eq!(mariadb_checksums(&a), mariadb_checksums(&b));

    // Neither server replicates natively.
    let lag = primary.drkit(&["db", "lag"]);
    lag.expect_code(0);
    assert_contains(&lag, "main: not a replica");
}

#[test]
fn mariadb_restore_from_a_version() {
    let a = Mariadb::start();
    let b = Mariadb::start();
    a.sql("CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20)); INSERT INTO shop.items VALUES (1, 'first')");
    let primary = Site::with_config_text(&primary_config(&format!(
        "kind = \"mysql\"\nsocket = \"{}\"\ndatabases = [\"shop\"]\n",
        a.socket().display()
    )));
    primary.drkit(&["db", "dump"]).expect_code(0);
    primary.drkit(&["sync"]).expect_code(0);
    a.sql("INSERT INTO shop.items VALUES (2, 'second')");
    primary.drkit(&["db", "dump", "main"]).expect_code(0);
    primary.drkit(&["sync"]).expect_code(0);
    let versions = primary.versions("dumps");
    let versions_dir = primary.root().join("replica/.drkit-versions/dumps");
    let names: Vec<String> = std::fs::read_dir(&versions_dir)
        .expect("versions folder")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(
        names.len(),
        1,
        "one version kept before the second sync: {names:?} {versions:?}"
    );

    let secondary = Site::with_config_text(&secondary_config(
        &primary,
        &format!("kind = \"mysql\"\nsocket = \"{}\"\n", b.socket().display()),
    ));
    secondary
        .drkit(&["db", "restore", "main", "--version", &names[0]])
        .expect_code(0);
    assert_eq!(
        b.sql("SELECT COUNT(*) FROM shop.items").trim(),
        "1",
        "the version holds the first dump"
    );
    secondary.drkit(&["db", "restore", "main"]).expect_code(0);
    assert_eq!(
        b.sql("SELECT COUNT(*) FROM shop.items").trim(),
        "2",
        "the replica holds the second dump"
    );

    let missing = secondary.drkit(&["db", "restore", "main", "--version", "19990101T000000.000Z"]);
    missing.expect_code(1);
    assert_contains(&missing, "no version \"19990101T000000.000Z\"");
    assert_contains(&missing, &names[0]);
}

#[test]
fn mariadb_failed_dumps_keep_the_previous_one() {
    let mut a = Mariadb::start();
    a.sql("CREATE DATABASE shop CHARACTER SET utf8mb4; CREATE TABLE shop.items (id INT PRIMARY KEY, body TEXT); INSERT INTO shop.items VALUES (1, 'small')");
    a.sql("CREATE USER 'wp'@'127.0.0.1' IDENTIFIED BY 'right'; GRANT ALL PRIVILEGES ON *.* TO 'wp'@'127.0.0.1'");
    let site = Site::with_config_text(&primary_config(&format!(
        "kind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"wp\"\npassword_file = \"{{root}}/wp.pass\"\ndatabases = [\"shop\"]\n",
        a.port
    )));
    let pass = site.root().join("wp.pass");
    password_file(&pass, "right");
    // The dump folder is a 1 MB tmpfs, so a larger dump fills it.
    let dump_dir = site.root().join("dumps/main");
    let _tmpfs = Tmpfs::mount(&dump_dir, "1m");
    site.drkit(&["db", "dump"]).expect_code(0);
    let dump_file = dump_dir.join("shop.sql");
    let previous = std::fs::read(&dump_file).expect("reading the first dump");

    password_file(&pass, "wrong");
    let denied = site.drkit(&["db", "dump"]);
    denied.expect_code(1);
    assert_contains(&denied, "server \"main\"");
    assert_contains(&denied, "Access denied");
    assert_contains(&denied, "check user and password_file");
    assert!(
        !denied.stderr.contains("wrong"),
        "the password is not shown:\n{}",
        denied.stderr
    );
    assert_eq!(
        std::fs::read(&dump_file).unwrap(),
        previous,
        "the previous dump is unchanged"
    );
    password_file(&pass, "right");

    // Rows of 2 kB up to about 3 MB do not fit in the tmpfs.
    a.sql("INSERT INTO shop.items SELECT seq + 1, REPEAT('x', 2000) FROM shop.seq_1_to_1500");
    let full = site.drkit(&["db", "dump"]);
    full.expect_code(1);
    assert_contains(&full, "database \"shop\" on server \"main\"");
    assert_contains(&full, "The previous dump");
    assert_contains(&full, "free space on the file system of");
    assert_eq!(
        std::fs::read(&dump_file).unwrap(),
        previous,
        "the previous dump is unchanged"
    );
    assert!(
        temp_files(&dump_dir).is_empty(),
        "no temporary file left: {:?}",
        temp_files(&dump_dir)
    );

    a.stop();
    let down = site.drkit(&["db", "dump"]);
    down.expect_code(1);
    assert_contains(&down, "start the database server");
    assert_contains(&down, "was kept unchanged");
    assert_eq!(
        std::fs::read(&dump_file).unwrap(),
        previous,
        "the previous dump is unchanged"
    );
    assert!(temp_files(&dump_dir).is_empty());
}

#[test]
fn postgres_dump_sync_restore_round_trip() {
    let a = Postgres::start();
    let b = Postgres::start();
    a.sql("postgres", "CREATE ROLE wp LOGIN SUPERUSER PASSWORD 'pg secret'");
    a.sql("postgres", "CREATE DATABASE wp OWNER wp");
    a.load("wp", &postgres_wordpress());

    let primary = Site::with_config_text(&primary_config(&format!(
        "kind = \"postgresql\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"wp\"\npassword_file = \"{{root}}/wp.pass\"\nbin_dir = \"{PG_BIN}\"\n",
        a.port
    )));
    password_file(&primary.root().join("wp.pass"), "pg secret");

    let (socket, port) = (a.socket_dir(), a.port);
    let (stop, writer) = start_writer(move || {
        std::process::Command::new(format!("{PG_BIN}/psql"))
            .arg("-X")
            .arg("-h")
            .arg(&socket)
            .arg("-p")
            .arg(port.to_string())
            .args(["-U", "postgres", "-d", "wp", "-c", "BEGIN; UPDATE hits_counter SET hits = hits + 1 WHERE id = 1; INSERT INTO hits_log (note) VALUES ('hit'); COMMIT;"])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    wait_for("five writes on the primary", || {
        a.sql("wp", "SELECT hits FROM hits_counter")
            .trim()
            .parse::<i64>()
            .unwrap_or(0)
            >= 5
    });
    let dump = primary.drkit(&["db", "dump"]);
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer thread");
    dump.expect_code(0);
    for file in ["wp.dump", "postgres.dump", "globals.sql"] {
        assert!(primary.root().join("dumps/main").join(file).is_file(), "{file} written");
    }
    assert!(
        !primary.root().join("dumps/main/template1.dump").exists(),
        "templates are skipped"
    );

    primary.drkit(&["sync", "dumps"]).expect_code(0);
    let secondary = Site::with_config_text(&secondary_config(
        &primary,
        &format!(
            "kind = \"postgresql\"\nsocket = \"{}\"\nport = {}\nbin_dir = \"{PG_BIN}\"\n",
            b.socket_dir().display(),
            b.port
        ),
    ));
    let restore = secondary.drkit(&["db", "restore", "main", "--database", "wp"]);
    restore.expect_code(0);
    assert_eq!(
        postgres_checksums(&a),
        postgres_checksums(&b),
        "table checksums of primary and restored copy"
    );
    assert_eq!(
        b.sql("wp", "SELECT hits FROM hits_counter").trim(),
        b.sql("wp", "SELECT count(*) FROM hits_log").trim(),
        "counter and log of the restored copy agree"
    );
    assert_eq!(b.sql("wp", "SELECT wp_post_count()").trim(), POSTS.to_string());
    assert_eq!(
        b.sql(
            "postgres",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'wp'"
        )
        .trim(),
        "wp",
        "the owner role came across"
    );

    // Restoring again right away is allowed: nothing was written since.
    secondary
        .drkit(&["db", "restore", "main", "--database", "wp"])
        .expect_code(0);
    b.sql(
        "wp",
        "INSERT INTO wp_options (option_name, option_value) VALUES ('written_on_secondary', 'x')",
    );
    let refused = secondary.drkit(&["db", "restore", "main", "--database", "wp"]);
    refused.expect_code(1);
    assert_contains(&refused, "row changes since drkit restored it");
    assert_eq!(
        b.sql(
            "wp",
            "SELECT count(*) FROM wp_options WHERE option_name = 'written_on_secondary'"
        )
        .trim(),
        "1"
    );
    secondary
        .drkit(&["db", "restore", "main", "--database", "wp", "--force"])
        .expect_code(0);
    assert_eq!(postgres_checksums(&a), postgres_checksums(&b));

    // A database drkit did not restore cannot be judged.
    b.sql("postgres", "CREATE TABLE keep_me (id int)");
    let unknown = secondary.drkit(&["db", "restore", "main", "--database", "postgres"]);
    unknown.expect_code(1);
    assert_contains(&unknown, "PostgreSQL keeps no time of the last write");
    assert_eq!(
        b.sql("postgres", "SELECT count(*) FROM keep_me").trim(),
        "0",
        "the table is still there"
    );

    let lag = secondary.drkit(&["db", "lag"]);
    lag.expect_code(0);
    assert_contains(&lag, "main: not a replica");
}

#[test]
fn postgres_wrong_password_and_server_down() {
    let mut a = Postgres::start();
    a.sql("postgres", "CREATE ROLE wp LOGIN SUPERUSER PASSWORD 'right'");
    a.sql("postgres", "CREATE DATABASE shop; ");
    let site = Site::with_config_text(&primary_config(&format!(
        "kind = \"postgresql\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"wp\"\npassword_file = \"{{root}}/wp.pass\"\ndatabases = [\"shop\"]\nbin_dir = \"{PG_BIN}\"\n",
        a.port
    )));
    let pass = site.root().join("wp.pass");
    password_file(&pass, "right");
    site.drkit(&["db", "dump"]).expect_code(0);
    let dump_file = site.root().join("dumps/main/shop.dump");
    let previous = std::fs::read(&dump_file).expect("the first dump");

    password_file(&pass, "wrong");
    let denied = site.drkit(&["db", "dump"]);
    denied.expect_code(1);
    assert_contains(&denied, "database \"shop\" on server \"main\"");
    assert_contains(&denied, "password authentication failed");
    assert_contains(&denied, "check user and password_file");
    assert_eq!(std::fs::read(&dump_file).unwrap(), previous);

    password_file(&pass, "right");
    a.stop();
    let down = site.drkit_lang("es", &["db", "dump"]);
    down.expect_code(1);
    assert_contains(&down, "arranque el servidor de bases de datos");
    assert_eq!(std::fs::read(&dump_file).unwrap(), previous);
    assert!(temp_files(&site.root().join("dumps/main")).is_empty());
}

#[test]
fn live_datadir_in_a_set_is_rejected() {
    let mariadb = Mariadb::start();
    let postgres = Postgres::start();
    for (server, datadir) in [("mariadbd", mariadb.datadir()), ("postgres", postgres.datadir())] {
        let parent: PathBuf = datadir.parent().unwrap().to_path_buf();
        let site = Site::with_config_text(&format!(
            "[site]\nname = \"w\"\ndata_dir = \"{{root}}/data\"\nreport_dir = \"{{root}}/reports\"\n\n\
             [[sync]]\nname = \"all\"\nsource = \"{}\"\ntarget = \"{{root}}/replica\"\n",
            parent.display()
        ));
        let out = site.drkit(&["config", "check"]);
        out.expect_code(2);
        assert_contains(&out, "sync.all.source");
        assert_contains(
            &out,
            &format!(
                "contains the data folder {} of a running database server ({server}",
                datadir.display()
            ),
        );
        assert_contains(&out, "[[database]]");
        assert_contains(&out, "broken replica");
        let sync = site.drkit(&["sync"]);
        sync.expect_code(2);
    }
}

#[test]
fn config_rejects_bad_database_entries() {
    let site = Site::with_config_text(&primary_config(
        "kind = \"mysql\"\nsocket = \"/run/mysqld/mysqld.sock\"\npassword_file = \"{root}/wp.pass\"\n",
    ));
    let pass = site.root().join("wp.pass");
    std::fs::write(&pass, "x\n").unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = site.drkit(&["config", "check"]);
    out.expect_code(2);
    assert_contains(&out, "database.main.password_file");
    assert_contains(&out, &format!("chmod 600 {}", pass.display()));

    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let ok = site.drkit(&["config", "check"]);
    ok.expect_code(0);
    assert_contains(&ok, "database main: mysql at socket /run/mysqld/mysqld.sock");

    let unsynced = Site::with_config_text(
        "[site]\nname = \"w\"\ndata_dir = \"{root}/data\"\nreport_dir = \"{root}/reports\"\n\n\
         [[sync]]\nname = \"www\"\nsource = \"{root}/www\"\ntarget = \"{root}/replica\"\n\n\
         [[database]]\nname = \"main\"\nkind = \"postgresql\"\nhost = \"127.0.0.1\"\ndump_dir = \"{root}/dumps\"\n",
    );
    let out = unsynced.drkit(&["config", "check"]);
    out.expect_code(2);
    assert_contains(&out, "database.main.dump_dir");
    assert_contains(&out, "lies inside no [[sync]] source");
    assert_contains(&out, "add a [[sync]] set whose source contains it");
}

#[test]
fn mariadb_replica_lag_is_measured() {
    let primary_server = Mariadb::start_with(&["--server-id=1", "--log-bin=primary-bin"]);
    let replica_server = Mariadb::start_with(&["--server-id=2"]);
    primary_server.sql("CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl pass'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'");
    replica_server.sql(&format!(
        "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, MASTER_USER = 'repl', MASTER_PASSWORD = 'repl pass', MASTER_USE_GTID = no; START SLAVE",
        primary_server.port
    ));
    primary_server
        .sql("CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY); INSERT INTO shop.items VALUES (1)");
    wait_for("the replica applying the primary's writes", || {
        replica_server.try_sql("SELECT 1 FROM shop.items")
    });

    let site = Site::with_config_text(&primary_config(&format!(
        "kind = \"mysql\"\nsocket = \"{}\"\n",
        replica_server.socket().display()
    )));
    let lag = site.drkit(&["db", "lag", "main"]);
    lag.expect_code(0);
    assert_contains(&lag, "main: replica, 0.0 s behind its primary");

    replica_server.sql("STOP SLAVE");
    let stopped = site.drkit(&["db", "lag"]);
    stopped.expect_code(1);
    assert_contains(
        &stopped,
        "main: replica whose replication is stopped (IO thread: No, SQL thread: No",
    );
}
