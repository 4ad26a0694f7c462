//! End to end on loopback: one control plane, two nodes following it, everything done with the
//! `wedge` binary — publish, apply a distribution file, deploy a function to a hook, move the
//! alias, roll back, list, read a node's logs — then the control plane goes away and a node is
//! restarted from its disk.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use serde_json::Value;
use wedge_test_fixtures as fixtures;
use wedge_testkit::{
    ADMIN, NODE, NodeBuilder, Origin, Reply, TestControl, TestNode, eventually, send,
};

/// A node named `id` with no distribution of its own (everything comes from the control
/// plane), its state in `dir/id` so that a restart finds it.
async fn start_node(dir: &Path, id: &str, control: &TestControl) -> TestNode {
    NodeBuilder::new()
        .id(id)
        .following(control, &dir.join(id))
        .start()
        .await
}

/// An origin answering with a JSON echo of the request headers.
async fn echo_origin() -> Origin {
    Origin::start(|request| {
        let headers: serde_json::Map<String, Value> = request
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(v.to_str().unwrap_or(""))))
            .collect();
        Reply::ok(&Value::Object(headers).to_string())
    })
    .await
}

/// GETs `path` from a node for the site; returns the body.
async fn get(node: SocketAddr, path: &str) -> String {
    send(
        node,
        "www.example",
        http::Method::GET,
        path,
        &[],
        Bytes::new(),
    )
    .await
    .text()
}

/// Runs `wedge ARGS` against the control plane; panics with its stderr if it fails.
async fn wedge(control: SocketAddr, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wedge"));
    command.args(args);
    // The control plane's URL and token belong to the commands that talk to it (not `logs`,
    // which talks to a node).
    if !args.contains(&"logs") {
        command.args(["--control", &format!("http://{control}"), "--token", ADMIN]);
    }
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "wedge {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits until `check` holds for the body of `/hello` on every node.
async fn until_all(nodes: &[SocketAddr], what: &str, check: impl Fn(&str) -> bool) {
    for node in nodes {
        eventually(&format!("node {node} to serve {what}"), || async {
            check(&get(*node, "/hello").await).then_some(())
        })
        .await;
    }
}

fn added_header(body: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|v| v["x-hello"] == "world")
}

fn generated(body: &str) -> bool {
    body == "hello from the edge"
}

#[tokio::test]
async fn publish_deploy_move_roll_back_and_survive_the_control_plane_on_two_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let mut control = TestControl::start().await;
    let cp = control.address();
    let echo = echo_origin().await;
    let origin = echo.addr;
    let mut first = start_node(dir.path(), "edge-1", &control).await;
    let mut second = start_node(dir.path(), "edge-2", &control).await;
    let nodes = [first.addr, second.addr];

    // Version 1 adds a request header; the site is applied from a file, then the function is
    // attached to its default behavior.
    let out = wedge(
        cp,
        &["publish", "--file", fixtures::HELLO, "--name", "site"],
    )
    .await;
    assert!(out.contains("published site version 1"), "{out}");
    wedge(cp, &["alias", "set", "site", "live", "1"]).await;
    let site = dir.path().join("site.toml");
    std::fs::write(
        &site,
        format!("[[distributions]]\nid = \"www\"\ndomains = [\"www.example\"]\n[distributions.origins.app]\nurl = \"http://{origin}\"\n[distributions.default_behavior]\norigin = \"app\"\ncache = {{ enabled = false }}\n"),
    )
    .unwrap();
    let out = wedge(cp, &["deploy", "--file", site.to_str().unwrap()]).await;
    assert!(out.contains("applied distributions www"), "{out}");
    // The same file again changes nothing and says so.
    let out = wedge(cp, &["deploy", "--file", site.to_str().unwrap()]).await;
    assert!(out.contains("nothing changed"), "{out}");
    let out = wedge(cp, &["deploy", "site@live", "--distribution", "www"]).await;
    assert!(
        out.contains("deployed site@live on viewer-request"),
        "{out}"
    );
    until_all(&nodes, "version 1", added_header).await;

    // Version 2 answers /hello itself; moving the alias is all it takes.
    let out = wedge(
        cp,
        &["publish", "--file", fixtures::RESPOND, "--name", "site"],
    )
    .await;
    assert!(out.contains("version 2"), "{out}");
    wedge(cp, &["alias", "set", "site", "live", "2"]).await;
    until_all(&nodes, "version 2", generated).await;

    // Rolling back restores the previous revision: version 1 again everywhere.
    let out = wedge(cp, &["rollback"]).await;
    assert!(out.contains("restored revision"), "{out}");
    until_all(&nodes, "the rolled-back version 1", added_header).await;

    // The control plane lists both nodes at its latest revision.
    let listed: Value = serde_json::from_str(&wedge(cp, &["--json", "ls"]).await).unwrap();
    let latest = listed["revision"].as_u64().unwrap();
    eventually(
        &format!("both nodes to be listed at revision {latest}"),
        || async {
            let listed: Value = serde_json::from_str(&wedge(cp, &["--json", "ls"]).await).unwrap();
            let at_latest = ["edge-1", "edge-2"]
                .iter()
                .all(|id| listed["nodes"][id]["revision"].as_u64() == Some(latest));
            at_latest.then_some(listed)
        },
    )
    .await;
    let listed: Value = serde_json::from_str(&wedge(cp, &["--json", "ls"]).await).unwrap();
    assert_eq!(listed["distributions"]["www"]["id"], "www", "{listed}");
    assert_eq!(first.running().applied_revision(), latest);

    // A node's log tap: the last access lines, filtered by function and status.
    let admin = format!("http://{}", first.admin);
    let logs = wedge(
        cp,
        &[
            "--json",
            "logs",
            "--node",
            &admin,
            "--node-token",
            NODE,
            "--function",
            "site",
            "--status",
            "2xx",
            "--tail",
            "3",
        ],
    )
    .await;
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{logs}");
    for line in &lines {
        assert_eq!(line["type"], "access");
        assert_eq!(line["status"], 200);
        assert!(
            line["hooks"][0]["function"]
                .as_str()
                .unwrap()
                .starts_with("site@")
        );
    }

    // Detaching the function leaves the site serving without it; rolling back brings it back.
    let out = wedge(
        cp,
        &["deploy", "--detach", "-d", "www", "-e", "viewer-request"],
    )
    .await;
    assert!(out.contains("removed the viewer-request function"), "{out}");
    until_all(&nodes, "the site without a function", |body| {
        serde_json::from_str::<Value>(body).is_ok_and(|v| v["x-hello"].is_null())
    })
    .await;
    let out = wedge(cp, &["rollback", "--to", &latest.to_string()]).await;
    assert!(
        out.contains(&format!("restored revision {latest}")),
        "{out}"
    );
    until_all(&nodes, "version 1 again", added_header).await;

    // The control plane goes away: both nodes keep serving what they had.
    control.stop().await;
    for node in nodes {
        assert!(added_header(&get(node, "/hello").await));
    }
    // A node restarted while it is away serves from its disk at once.
    first.stop().await;
    let mut restarted = start_node(dir.path(), "edge-1", &control).await;
    assert_eq!(restarted.running().applied_revision(), latest + 2);
    assert!(added_header(&get(restarted.addr, "/hello").await));
    restarted.stop().await;
    second.stop().await;
}
