//! Test harness for real database servers: MariaDB and PostgreSQL started
//! in temporary data folders on free loopback ports, stopped by pid when
//! the guard is dropped (also when a test panics).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to start or stop before the test fails.
const SERVER_TIMEOUT: Duration = Duration::from_secs(60);

/// Folder of the PostgreSQL 15 programs on Debian 12.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("reading the bound port").port()
}

/// Runs `command` and panics with its output when it fails; returns stdout.
#[track_caller]
pub fn run_ok(command: &mut Command) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits until `ready` returns true, polling every 50 ms; panics after `SERVER_TIMEOUT`.
#[track_caller]
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + SERVER_TIMEOUT;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {SERVER_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `signal` to `child` and waits for it to end; SIGKILL after the timeout.
fn stop_child(child: &mut Child, signal: nix::sys::signal::Signal) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, signal);
    let deadline = Instant::now() + SERVER_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A MariaDB server in a temporary folder, running as root.
pub struct Mariadb {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// Extra server options, such as `--log-bin` for a replication primary.
    options: Vec<String>,
    child: Option<Child>,
}

impl Mariadb {
    /// Creates a data folder and starts the server; root logs in over the socket.
    pub fn start() -> Mariadb {
        Mariadb::start_with(&[])
    }

    /// Starts a server with extra options added to its command line.
    pub fn start_with(options: &[&str]) -> Mariadb {
        let dir = tempfile::Builder::new()
            .prefix("drkit-mariadb-")
            .tempdir()
            .expect("temp dir");
        let server = Mariadb {
            dir,
            port: free_port(),
            options: options.iter().map(|o| o.to_string()).collect(),
            child: None,
        };
        // A private tmpdir, because parallel bootstraps sharing /tmp failed
        // here to delete each other's temporary tables.
        std::fs::create_dir(server.tmpdir()).expect("creating the server's tmpdir");
        run_ok(
            Command::new("mariadb-install-db")
                .arg("--no-defaults")
                .arg(format!("--datadir={}", server.datadir().display()))
                .arg(format!("--tmpdir={}", server.tmpdir().display()))
                .args(["--skip-test-db", "--auth-root-authentication-method=socket"]),
        );
        let mut server = server;
        server.launch();
        server
    }

    pub fn datadir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    pub fn tmpdir(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the server process on the existing data folder.
    pub fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("error.log")).expect("creating the server log");
        let child = Command::new("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--datadir={}", self.datadir().display()))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!("--pid-file={}", self.dir.path().join("mysqld.pid").display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--tmpdir={}", self.tmpdir().display()))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
            ])
            .args(&self.options)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting mariadbd");
        self.child = Some(child);
        let socket = self.socket();
        wait_until("mariadbd accepting connections", || {
            Command::new("mariadb-admin")
                .arg("--no-defaults")
                .arg(format!("--socket={}", socket.display()))
                .args(["-uroot", "ping"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    }

    /// Stops the server (SIGTERM) and waits for it to end.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, nix::sys::signal::Signal::SIGTERM);
        }
    }

    fn client(&self) -> Command {
        let mut command = Command::new("mariadb");
        command
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args([
                "-uroot",
                "--default-character-set=utf8mb4",
                "--batch",
                "--skip-column-names",
            ]);
        command
    }

    /// Runs SQL as root and returns stdout (tab-separated rows).
    #[track_caller]
    pub fn sql(&self, sql: &str) -> String {
        run_ok(self.client().args(["-e", sql]))
    }

    /// Runs SQL as root, returning whether it succeeded (for writer threads).
    pub fn try_sql(&self, sql: &str) -> bool {
        self.client()
            .args(["-e", sql])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Loads a SQL script as root.
    #[track_caller]
    pub fn load(&self, script: &str) {
        let path = self.dir.path().join("load.sql");
        std::fs::write(&path, script).expect("writing a SQL script");
        run_ok(self.client().args(["-e", &format!("source {}", path.display())]));
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A PostgreSQL 15 server in a temporary folder, running as the postgres user.
pub struct Postgres {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Postgres {
    /// Creates a cluster (trust on the socket, scram over TCP) and starts it.
    pub fn start() -> Postgres {
        let dir = tempfile::Builder::new()
            .prefix("drkit-pg-")
            .tempdir()
            .expect("temp dir");
        let server = Postgres {
            dir,
            port: free_port(),
            child: None,
        };
        std::fs::create_dir(server.socket_dir()).expect("creating the socket folder");
        run_ok(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(server.dir.path()),
        );
        run_ok(
            Command::new("setpriv")
                .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
                .arg(format!("{PG_BIN}/initdb"))
                .arg("-D")
                .arg(server.datadir())
                .args([
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]),
        );
        let mut server = server;
        server.launch();
        server
    }

    pub fn datadir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the postmaster; setpriv runs it in place, so the child's pid is the postmaster's.
    pub fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("server.log")).expect("creating the server log");
        let child = Command::new("setpriv")
            .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
            .arg(format!("{PG_BIN}/postgres"))
            .arg("-D")
            .arg(self.datadir())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-p"])
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.socket_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting postgres");
        self.child = Some(child);
        wait_until("postgres accepting connections", || {
            self.psql_command("postgres")
                .args(["-c", "SELECT 1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    }

    /// Stops the server with a fast shutdown (SIGINT) and waits for it to end.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, nix::sys::signal::Signal::SIGINT);
        }
    }

    fn psql_command(&self, database: &str) -> Command {
        let mut command = Command::new(format!("{PG_BIN}/psql"));
        command
            .arg("-X")
            .arg("-h")
            .arg(self.socket_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-v", "ON_ERROR_STOP=1", "-At", "-d", database]);
        command
    }

    /// Runs SQL in `database` and returns stdout (unaligned, tuples only).
    #[track_caller]
    pub fn sql(&self, database: &str, sql: &str) -> String {
        run_ok(self.psql_command(database).args(["-c", sql]))
    }

    pub fn try_sql(&self, database: &str, sql: &str) -> bool {
        self.psql_command(database)
            .args(["-c", sql])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Runs a SQL script in `database`.
    #[track_caller]
    pub fn load(&self, database: &str, script: &str) {
        let path = self.dir.path().join("load.sql");
        std::fs::write(&path, script).expect("writing a SQL script");
        run_ok(self.psql_command(database).arg("-f").arg(&path));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A small tmpfs mounted on a folder, unmounted when dropped.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    pub fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).expect("creating the mount point");
        run_ok(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "drkit-test"])
                .arg(path),
        );
        Tmpfs {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
