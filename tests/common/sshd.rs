//! Throw-away OpenSSH servers for the SSH tests.
//!
//! `Sshd::start_loopback` runs /usr/sbin/sshd on 127.0.0.1 on a free port;
//! `Sshd::start_in` runs it inside the secondary namespace of a `NetnsPair`.
//! Each server has its own config, host key, client key, authorized_keys,
//! pid file and log in a temporary folder, and nothing under /etc/ssh is
//! read or changed. Dropping an `Sshd` kills its process; dropping a
//! `NetnsPair` kills every process left in its namespaces and deletes them.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long sshd may take to accept connections after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a setup command and panics with its stderr when it fails.
#[track_caller]
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("starting {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {} failed ({}):\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes an ed25519 key pair without a passphrase at `path` and `path.pub`.
pub fn keygen(path: &Path, comment: &str) {
    run(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            comment,
            "-f",
            path.to_str().expect("UTF-8 path"),
        ],
    );
}

/// Returns the "type base64" part of a public key file.
pub fn public_key(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let fields: Vec<&str> = text.split_whitespace().take(2).collect();
    fields.join(" ")
}

/// Returns a TCP port on 127.0.0.1 that nothing listened on a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a free port");
    listener.local_addr().expect("local address").port()
}

/// A running sshd, killed when dropped.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    /// Address sshd listens on.
    pub address: String,
    pub port: u16,
    /// Private key the server accepts (mode 0600); `client_key.pub` beside it.
    pub client_key: PathBuf,
    /// A known_hosts file that pins the server's host key.
    pub known_hosts: PathBuf,
    /// The server's public host key file.
    pub host_key_pub: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    child: Child,
}

impl Sshd {
    /// Starts sshd on 127.0.0.1 on a free port. With `authorized_command`,
    /// the client key may only run that command (`command="…",restrict`).
    pub fn start_loopback(authorized_command: Option<&str>) -> Sshd {
        // Another process may take the free port before sshd binds it; a
        // new port is tried then.
        let mut last = String::new();
        for _ in 0..5 {
            match Sshd::try_start(None, "127.0.0.1", free_port(), authorized_command) {
                Ok(sshd) => return sshd,
                Err(e) => last = e,
            }
        }
        panic!("sshd did not start on 127.0.0.1: {last}");
    }

    /// Starts sshd inside the secondary namespace of `netns`, on its address, port 22.
    pub fn start_in(netns: &NetnsPair, authorized_command: Option<&str>) -> Sshd {
        Sshd::try_start(Some(&netns.secondary), &netns.secondary_address, 22, authorized_command)
            .unwrap_or_else(|e| panic!("sshd did not start in {}: {e}", netns.secondary))
    }

    fn try_start(
        netns: Option<&str>,
        address: &str,
        port: u16,
        authorized_command: Option<&str>,
    ) -> Result<Sshd, String> {
        let dir = tempfile::Builder::new()
            .prefix("drkit-sshd-")
            .tempdir()
            .expect("temporary folder");
        let root = dir.path();
        let host_key = root.join("host_ed25519");
        let client_key = root.join("client_ed25519");
        keygen(&host_key, "drkit-test-host");
        keygen(&client_key, "drkit-test-client");
        std::fs::set_permissions(&client_key, std::fs::Permissions::from_mode(0o600)).expect("chmod client key");

        let restriction = match authorized_command {
            Some(command) => format!("command=\"{}\",restrict ", command.replace('"', "\\\"")),
            None => String::new(),
        };
        let authorized = root.join("authorized_keys");
        let client_pub = public_key(&root.join("client_ed25519.pub"));
        std::fs::write(&authorized, format!("{restriction}{client_pub} drkit-test-client\n")).expect("authorized_keys");

        let host_key_pub = root.join("host_ed25519.pub");
        let known_hosts = root.join("known_hosts");
        let pattern = if port == 22 {
            address.to_string()
        } else {
            format!("[{address}]:{port}")
        };
        std::fs::write(&known_hosts, format!("{pattern} {}\n", public_key(&host_key_pub))).expect("known_hosts");

        let config = root.join("sshd_config");
        let pid_file = root.join("sshd.pid");
        std::fs::write(&config, sshd_config(root, address, port)).expect("sshd_config");
        std::fs::create_dir_all("/run/sshd").expect("creating /run/sshd");
        let log = root.join("sshd.log");

        let config_arg = config.to_str().expect("UTF-8 path");
        let log_arg = log.to_str().expect("UTF-8 path");
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "/usr/sbin/sshd"]);
                c
            }
            None => Command::new("/usr/sbin/sshd"),
        };
        command
            .args(["-D", "-f", config_arg, "-E", log_arg])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().map_err(|e| format!("starting sshd: {e}"))?;
        let mut sshd = Sshd {
            dir,
            address: address.to_string(),
            port,
            client_key,
            known_hosts,
            host_key_pub,
            config,
            log,
            child,
        };
        sshd.wait_ready(netns, &pid_file)?;
        Ok(sshd)
    }

    /// Stops the listening sshd of a loopback server; sessions already
    /// open stay.
    pub fn stop_listener(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the listener of a loopback server again, with the same
    /// config, port and keys.
    pub fn start_listener(&mut self) {
        let config = self.config.to_str().expect("UTF-8 path").to_string();
        let log = self.log.to_str().expect("UTF-8 path").to_string();
        self.child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-f", &config, "-E", &log])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting sshd again");
        let pid_file = self.dir.path().join("sshd.pid");
        self.wait_ready(None, &pid_file)
            .expect("sshd accepts connections again");
    }

    /// Waits until sshd wrote its pid file and accepts a TCP connection.
    fn wait_ready(&mut self, netns: Option<&str>, pid_file: &Path) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                return Err(format!("sshd exited with {status}:\n{log}"));
            }
            if pid_file.exists() && self.accepts(netns) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!("sshd did not accept connections within {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The loopback probe is a connection too; once sshd has logged it, a
        // test can count the connections drkit makes.
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if netns.is_some() || log.contains("Connection from") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "sshd did not log the probe connection within {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn accepts(&self, netns: Option<&str>) -> bool {
        match netns {
            None => {
                let address = SocketAddr::new(self.address.parse().expect("IP address"), self.port);
                TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
            }
            // The socket is inside the namespace, so ask there what listens.
            Some(ns) => Command::new("ip")
                .args(["netns", "exec", ns, "ss", "-Htln", &format!("sport = :{}", self.port)])
                .output()
                .map(|out| !out.stdout.is_empty())
                .unwrap_or(false),
        }
    }

    /// Returns a `[nodes.NAME]` section for drkit.toml that reaches this server.
    pub fn node_toml(&self, name: &str) -> String {
        format!(
            "\n[nodes.{name}]\naddress = \"{}\"\nport = {}\nuser = \"root\"\nkey = \"{}\"\nknown_hosts = \"{}\"\nconnect_timeout = \"5s\"\ntimeout = \"30s\"\n",
            self.address,
            self.port,
            self.client_key.display(),
            self.known_hosts.display()
        )
    }

    /// Returns the `known_hosts` name of this server: `host` or `[host]:port`.
    pub fn host_pattern(&self) -> String {
        if self.port == 22 {
            self.address.clone()
        } else {
            format!("[{}]:{}", self.address, self.port)
        }
    }

    /// Returns the SHA256 fingerprint of the host key as `ssh-keygen -l` prints it.
    pub fn host_fingerprint(&self) -> String {
        let out = run(
            "ssh-keygen",
            &[
                "-l",
                "-E",
                "sha256",
                "-f",
                self.host_key_pub.to_str().expect("UTF-8 path"),
            ],
        );
        out.split_whitespace().nth(1).expect("fingerprint field").to_string()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sshd_config(root: &Path, address: &str, port: u16) -> String {
    let root = root.display();
    format!(
        "# drkit test sshd: one address, key-only root login, nothing from /etc/ssh\n\
         Port {port}\n\
         AddressFamily inet\n\
         ListenAddress {address}\n\
         HostKey {root}/host_ed25519\n\
         PidFile {root}/sshd.pid\n\
         AuthorizedKeysFile {root}/authorized_keys\n\
         # the files live under /tmp, whose parent is world-writable\n\
         StrictModes no\n\
         UsePAM no\n\
         PermitRootLogin prohibit-password\n\
         AllowUsers root\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         X11Forwarding no\n\
         AllowTcpForwarding no\n\
         AllowAgentForwarding no\n\
         PrintMotd no\n\
         MaxStartups 50:30:100\n\
         # logs each connection, so a test can tell that none was made\n\
         LogLevel VERBOSE\n\
         # keeps root's shell start-up files from slowing every remote command\n\
         SetEnv SHLVL=1\n"
    )
}

/// Counter that makes namespace names and subnets unique within a test binary.
static NEXT_PAIR: AtomicU32 = AtomicU32::new(0);

/// Two network namespaces, primary and secondary, joined by a veth pair
/// whose both ends are created inside them, so the host namespace gets no
/// interface, address or route. Addresses come from 198.18.0.0/15, which is
/// set aside for network tests: 198.18.N.1/24 (primary) and 198.18.N.2/24
/// (secondary). There is no default route.
pub struct NetnsPair {
    pub primary: String,
    pub secondary: String,
    pub primary_address: String,
    pub secondary_address: String,
}

impl NetnsPair {
    /// Creates the namespaces; panics (after deleting what it made) when
    /// one cannot be created, before any traffic is sent.
    pub fn new() -> NetnsPair {
        let n = NEXT_PAIR.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}-{n}", std::process::id());
        let subnet = (std::process::id() + n) % 250 + 1;
        let pair = NetnsPair {
            primary: format!("drkit-p-{id}"),
            secondary: format!("drkit-s-{id}"),
            primary_address: format!("198.18.{subnet}.1"),
            secondary_address: format!("198.18.{subnet}.2"),
        };
        pair.setup();
        pair
    }

    fn setup(&self) {
        let (p, s) = (self.primary.as_str(), self.secondary.as_str());
        run("ip", &["netns", "add", p]);
        run("ip", &["netns", "add", s]);
        run(
            "ip",
            &[
                "-n", p, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", s,
            ],
        );
        for (ns, address) in [(p, &self.primary_address), (s, &self.secondary_address)] {
            run(
                "ip",
                &["-n", ns, "addr", "add", &format!("{address}/24"), "dev", "eth0"],
            );
            run("ip", &["-n", ns, "link", "set", "lo", "up"]);
            run("ip", &["-n", ns, "link", "set", "eth0", "up"]);
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-q",
                    "-w",
                    "net.ipv6.conf.all.disable_ipv6=1",
                ],
            );
        }
    }

    /// Wraps `command` so it runs inside the primary namespace.
    pub fn in_primary(&self, command: &Command) -> Command {
        let mut wrapped = Command::new("ip");
        wrapped
            .args(["netns", "exec", &self.primary])
            .arg(command.get_program())
            .args(command.get_args());
        for (name, value) in command.get_envs() {
            match value {
                Some(value) => wrapped.env(name, value),
                None => wrapped.env_remove(name),
            };
        }
        wrapped
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        wrapped
    }

    /// Kills every process in both namespaces and deletes them; safe to call twice.
    pub fn teardown(&self) {
        for ns in [&self.primary, &self.secondary] {
            let pids = Command::new("ip").args(["netns", "pids", ns]).output();
            if let Ok(out) = pids {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        self.teardown();
    }
}
