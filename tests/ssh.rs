//! SSH transport and `drkit peer`: real OpenSSH servers on loopback and in
//! a pair of network namespaces, reached by the drkit binary.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use common::sshd::{self, NetnsPair, Sshd};
use common::{Output, Site, DEFAULT_TIMEOUT};

/// Makes a site whose config has a `[nodes.secondary]` section for `server`.
fn site_for(server: &Sshd) -> Site {
    let mut site = Site::new();
    site.add_toml(&server.node_toml("secondary"));
    site
}

/// Runs drkit with `answer` on stdin.
fn drkit_with_input(site: &Site, args: &[&str], answer: &str) -> Output {
    let mut command = site.command(args);
    command.stdin(Stdio::piped());
    let mut running = common::spawn_command(command);
    let mut stdin = running.child.stdin.take().expect("stdin pipe");
    stdin.write_all(answer.as_bytes()).expect("writing the answer");
    drop(stdin);
    running.wait(DEFAULT_TIMEOUT)
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn peer_check_ok_on_loopback() {
    let server = Sshd::start_loopback(None);
    let site = site_for(&server);

    let out = site.drkit(&["peer", "check"]);

    out.expect_code(0);
    let expected = format!(
        "secondary: ok, root@127.0.0.1:{}, ssh-ed25519 {}, ",
        server.port,
        server.host_fingerprint()
    );
    assert!(out.stdout.starts_with(&expected), "{}", out.stdout);
    assert!(out.stdout.trim_end().ends_with(" ms"), "{}", out.stdout);
}

#[test]
fn peer_check_ok_in_namespace() {
    let netns = NetnsPair::new();
    let server = Sshd::start_in(&netns, Some("/bin/true"));
    let site = site_for(&server);
    let pinned = std::fs::read_to_string(&server.known_hosts).unwrap();
    assert!(
        pinned.starts_with(&format!("{} ssh-ed25519 ", netns.secondary_address)),
        "port 22 is pinned under the plain address: {pinned}"
    );

    let command = netns.in_primary(&site.command(&["peer", "check", "secondary"]));
    let out = common::spawn_command(command).wait(DEFAULT_TIMEOUT);

    out.expect_code(0);
    let expected = format!(
        "secondary: ok, root@{}:22, ssh-ed25519 {}",
        netns.secondary_address,
        server.host_fingerprint()
    );
    assert!(out.stdout.starts_with(&expected), "{}", out.stdout);
}

#[test]
fn unknown_host_key_is_rejected() {
    let server = Sshd::start_loopback(None);
    std::fs::write(&server.known_hosts, "").unwrap();
    let site = site_for(&server);

    let out = site.drkit(&["peer", "check"]);

    out.expect_code(1);
    let fingerprint = server.host_fingerprint();
    assert!(out.stderr.contains("the host key is unknown"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("ssh-ed25519 {fingerprint}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("drkit peer trust secondary"), "{}", out.stderr);
    assert!(!out.stdout.contains("ok"), "no node may be reported ok: {}", out.stdout);
}

#[test]
fn unknown_host_key_in_spanish() {
    let server = Sshd::start_loopback(None);
    std::fs::write(&server.known_hosts, "").unwrap();
    let site = site_for(&server);

    let out = site.drkit_lang("es", &["peer", "check"]);

    out.expect_code(1);
    let expected = format!(
        "error: nodo \"secondary\" (root@127.0.0.1:{}): la clave de host es desconocida: ssh-ed25519 {} no está fijada en {}",
        server.port,
        server.host_fingerprint(),
        server.known_hosts.display()
    );
    assert!(out.stderr.starts_with(&expected), "{}", out.stderr);
    assert!(
        out.stderr.contains("ejecute: drkit peer trust secondary"),
        "{}",
        out.stderr
    );
}

#[test]
fn changed_host_key_is_rejected_loudly() {
    let server = Sshd::start_loopback(None);
    let other = server.dir.path().join("other_host");
    sshd::keygen(&other, "other");
    let other_pub = server.dir.path().join("other_host.pub");
    let text = format!(
        "# pinned earlier\n{} {}\n",
        server.host_pattern(),
        sshd::public_key(&other_pub)
    );
    std::fs::write(&server.known_hosts, text).unwrap();
    let site = site_for(&server);

    let out = site.drkit(&["peer", "check"]);

    out.expect_code(1);
    let old_fingerprint = sshd::run("ssh-keygen", &["-l", "-f", other_pub.to_str().unwrap()]);
    let old_fingerprint = old_fingerprint.split_whitespace().nth(1).unwrap();
    assert!(out.stderr.contains("THE HOST KEY HAS CHANGED"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "{} line 2 pins ssh-ed25519 {old_fingerprint}",
            server.known_hosts.display()
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("now presents ssh-ed25519 {}", server.host_fingerprint())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("can be an attack"), "{}", out.stderr);
    assert!(out.stderr.contains("reinstalled host"), "{}", out.stderr);
    assert!(out.stderr.contains("drkit peer trust secondary"), "{}", out.stderr);
}

#[test]
fn hashed_known_hosts_entry_is_accepted() {
    let server = Sshd::start_loopback(None);
    let hashed = server.dir.path().join("known_hosts_hashed");
    std::fs::copy(&server.known_hosts, &hashed).unwrap();
    sshd::run("ssh-keygen", &["-H", "-f", hashed.to_str().unwrap()]);
    let text = std::fs::read_to_string(&hashed).unwrap();
    assert!(text.starts_with("|1|"), "ssh-keygen -H left plain names: {text}");
    let mut site = Site::new();
    site.add_toml(
        &server
            .node_toml("secondary")
            .replace(&server.known_hosts.display().to_string(), &hashed.display().to_string()),
    );

    let out = site.drkit(&["peer", "check"]);

    out.expect_code(0);
    assert!(out.stdout.starts_with("secondary: ok"), "{}", out.stdout);
}

#[test]
fn readable_key_is_rejected_before_connecting() {
    let server = Sshd::start_loopback(None);
    common::chmod(&server.client_key, 0o644);
    let site = site_for(&server);
    let connections = || {
        let log = std::fs::read_to_string(&server.log).unwrap();
        log.matches("Connection from").count()
    };
    let before = connections();

    let out = site.drkit(&["peer", "check"]);

    out.expect_code(1);
    let key = server.client_key.display();
    assert!(
        out.stderr.contains(&format!("the private key {key} is accessible")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("(mode 0644)"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("Run: chmod 600 {key}")), "{}", out.stderr);
    assert_eq!(connections(), before, "sshd saw a connection");

    // sshd logs each connection, so the check above can fail.
    common::chmod(&server.client_key, 0o600);
    site.drkit(&["peer", "check"]).expect_code(0);
    assert_eq!(connections(), before + 1);
}

#[test]
fn wrong_client_key_is_an_auth_error() {
    let server = Sshd::start_loopback(None);
    let stranger = server.dir.path().join("stranger");
    sshd::keygen(&stranger, "stranger");
    let mut site = Site::new();
    site.add_toml(&server.node_toml("secondary").replace(
        &server.client_key.display().to_string(),
        &stranger.display().to_string(),
    ));

    let out = site.drkit(&["peer", "check"]);

    out.expect_code(1);
    let expected = format!(
        "error: node \"secondary\" (root@127.0.0.1:{}): authentication failed with the key {}",
        server.port,
        stranger.display()
    );
    assert!(out.stderr.starts_with(&expected), "{}", out.stderr);
    assert!(out.stderr.contains("authorized_keys for user root"), "{}", out.stderr);
}

#[test]
fn closed_port_is_a_connect_error() {
    let server = Sshd::start_loopback(None);
    let port = sshd::free_port();
    let mut site = Site::new();
    site.add_toml(
        &server
            .node_toml("secondary")
            .replace(&format!("port = {}", server.port), &format!("port = {port}")),
    );

    let out = site.drkit(&["peer", "check"]);

    out.expect_code(1);
    let expected = format!("error: node \"secondary\" (root@127.0.0.1:{port}): connect failed: ");
    assert!(out.stderr.starts_with(&expected), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("listens on port {port}")),
        "{}",
        out.stderr
    );
}

#[test]
fn trust_yes_pins_the_key() {
    let server = Sshd::start_loopback(None);
    let folder = server.dir.path().join("drkit-ssh");
    let known_hosts = folder.join("known_hosts");
    let mut site = Site::new();
    site.add_toml(&server.node_toml("secondary").replace(
        &server.known_hosts.display().to_string(),
        &known_hosts.display().to_string(),
    ));
    site.drkit(&["peer", "check"]).expect_code(1);

    let out = site.drkit(&["peer", "trust", "secondary", "--yes"]);

    out.expect_code(0);
    let fingerprint = server.host_fingerprint();
    assert!(
        out.stdout.contains(&format!("host key: ssh-ed25519 {fingerprint}")),
        "{}",
        out.stdout
    );
    let found = sshd::run(
        "ssh-keygen",
        &["-F", &server.host_pattern(), "-f", known_hosts.to_str().unwrap()],
    );
    assert!(found.contains(&sshd::public_key(&server.host_key_pub)), "{found}");
    assert_eq!(mode(&known_hosts), 0o600);
    assert_eq!(mode(&folder), 0o700);
    site.drkit(&["peer", "check"]).expect_code(0);
}

#[test]
fn trust_answered_no_writes_nothing() {
    let server = Sshd::start_loopback(None);
    let known_hosts = server.dir.path().join("empty_known_hosts");
    let mut site = Site::new();
    site.add_toml(&server.node_toml("secondary").replace(
        &server.known_hosts.display().to_string(),
        &known_hosts.display().to_string(),
    ));

    let out = drkit_with_input(&site, &["peer", "trust", "secondary"], "n\n");

    out.expect_code(1);
    assert!(out.stdout.contains("Trust this key? [y/N]"), "{}", out.stdout);
    assert!(out.stdout.contains("nothing was written"), "{}", out.stdout);
    assert!(!known_hosts.exists(), "known_hosts was created");
}

#[test]
fn trust_answered_yes_in_spanish() {
    let server = Sshd::start_loopback(None);
    std::fs::write(&server.known_hosts, "").unwrap();
    let site = site_for(&server);
    let mut command = site.command_lang("es", &["peer", "trust", "secondary"]);
    command.stdin(Stdio::piped());
    let mut running = common::spawn_command(command);
    running.child.stdin.take().unwrap().write_all(b"s\n").unwrap();

    let out = running.wait(DEFAULT_TIMEOUT);

    out.expect_code(0);
    assert!(out.stdout.contains("¿Confiar en esta clave? [s/N]"), "{}", out.stdout);
    site.drkit(&["peer", "check"]).expect_code(0);
}

#[test]
fn trust_replaces_a_changed_key_after_confirmation() {
    let server = Sshd::start_loopback(None);
    let other = server.dir.path().join("other_host");
    sshd::keygen(&other, "other");
    let other_pub = sshd::public_key(&server.dir.path().join("other_host.pub"));
    let unrelated = format!("[127.0.0.1]:1 {other_pub}\n");
    let text = format!("{unrelated}{} {other_pub}\n", server.host_pattern());
    std::fs::write(&server.known_hosts, &text).unwrap();
    let site = site_for(&server);

    let declined = drkit_with_input(&site, &["peer", "trust", "secondary"], "\n");
    declined.expect_code(1);
    assert!(
        declined.stdout.contains("line 2 pins ANOTHER key"),
        "{}",
        declined.stdout
    );
    assert!(
        declined.stdout.contains("Replace the pinned key with this one? [y/N]"),
        "{}",
        declined.stdout
    );
    assert_eq!(std::fs::read_to_string(&server.known_hosts).unwrap(), text);

    let out = drkit_with_input(&site, &["peer", "trust", "secondary"], "yes\n");

    out.expect_code(0);
    assert!(
        out.stdout.contains("removed the previous key of this host (line 2)"),
        "{}",
        out.stdout
    );
    let after = std::fs::read_to_string(&server.known_hosts).unwrap();
    let expected = format!(
        "{unrelated}{} {}\n",
        server.host_pattern(),
        sshd::public_key(&server.host_key_pub)
    );
    assert_eq!(after, expected);
    site.drkit(&["peer", "check"]).expect_code(0);
}

#[test]
fn unknown_node_is_a_usage_error() {
    let server = Sshd::start_loopback(None);
    let site = site_for(&server);

    let out = site.drkit(&["peer", "check", "tertiary"]);

    out.expect_code(2);
    assert!(
        out.stderr
            .contains("no node is named \"tertiary\"; the config defines: secondary"),
        "{}",
        out.stderr
    );
}

#[test]
fn silent_server_times_out_in_handshake() {
    // The kernel completes the TCP connection to a listener that never
    // accepts, so the SSH handshake waits for a banner that never comes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Sshd::start_loopback(None);
    let mut site = Site::new();
    site.add_toml(
        &server
            .node_toml("secondary")
            .replace(&format!("port = {}", server.port), &format!("port = {port}"))
            .replace("connect_timeout = \"5s\"", "connect_timeout = \"1s\""),
    );

    let out = site.drkit(&["peer", "check"]);

    out.expect_code(1);
    let expected = format!("error: node \"secondary\" (root@127.0.0.1:{port}): SSH handshake failed: ");
    assert!(out.stderr.starts_with(&expected), "{}", out.stderr);
    drop(listener);
}
