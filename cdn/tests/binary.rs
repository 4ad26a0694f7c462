//! The `wedge-node` binary end to end: it serves from its config, reloads on SIGHUP, refuses a
//! broken config with the file and key, and exits cleanly on SIGTERM.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use wedge_test_fixtures as fixtures;
use wedge_testkit::*;
use wedge_types::Hook;

fn spawn_node(config: &std::path::Path) -> (Child, mpsc::Receiver<serde_json::Value>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wedge-node"))
        .args(["--log-format", "json", "--config"])
        .arg(config)
        .env("WEDGE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(value) = serde_json::from_str(&line) {
                let _ = lines.send(value);
            }
        }
    });
    (child, receiver)
}

fn wait_for(logs: &mpsc::Receiver<serde_json::Value>, message: &str) -> serde_json::Value {
    loop {
        let line = logs
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no `{message}` log line"));
        if line["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(message))
        {
            return line;
        }
    }
}

fn signal(child: &Child, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

#[tokio::test]
async fn wedge_node_serves_reloads_on_sighup_and_stops_on_sigterm() {
    let origin = Origin::start(|_| Reply::ok("through the binary")).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(
        &path,
        NodeBuilder::serving(Site::new(origin.addr).function(Hook::ViewerRequest, fixtures::HELLO))
            .toml(),
    )
    .unwrap();
    let (mut child, logs) = spawn_node(&path);
    let listening = wait_for(&logs, "listening");
    let addr: std::net::SocketAddr = listening["fields"]["address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    wait_for(&logs, "wedge-node started");

    let reply = send(
        addr,
        HOST,
        http::Method::GET,
        "/one",
        &[],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(reply.text(), "through the binary");
    assert_eq!(origin.last().header("x-hello"), Some("world"));

    std::fs::write(&path, "[node]\nid = \"x\"\nlisteners = 3\n").unwrap();
    signal(&child, rustix::process::Signal::HUP);
    let refused = wait_for(&logs, "reload refused");
    assert!(
        refused["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("node.toml"),
        "{refused}"
    );

    std::fs::write(
        &path,
        NodeBuilder::serving(
            Site::new(origin.addr).function(Hook::ViewerRequest, fixtures::ALL_HOOKS),
        )
        .toml(),
    )
    .unwrap();
    signal(&child, rustix::process::Signal::HUP);
    wait_for(&logs, "reloaded");
    send(
        addr,
        HOST,
        http::Method::GET,
        "/two",
        &[],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(
        origin.last().header("x-viewer-request"),
        Some("all_hooks@local")
    );

    signal(&child, rustix::process::Signal::TERM);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn a_broken_config_is_refused_with_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    let site =
        Site::new("127.0.0.1:1".parse().unwrap()).tune_default(|b| b.origin = "nowhere".into());
    let broken = NodeBuilder::serving(site).toml();
    std::fs::write(&path, broken).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_wedge-node"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("node.toml")
            && stderr.contains("distributions[0].default_behavior.origin")
            && stderr.contains("nowhere"),
        "{stderr}"
    );
}
