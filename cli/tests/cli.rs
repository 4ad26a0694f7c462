//! The `wedge` binary against a real control plane: publish, alias, list, roll back, and the
//! errors a user sees.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::process::Command;

use serde_json::Value;
use wedge_test_fixtures as fixtures;
use wedge_testkit::control::ControlOptions;
use wedge_testkit::{ADMIN, READ, TestControl};

async fn control(dir: &std::path::Path) -> TestControl {
    TestControl::start_in(dir, ControlOptions::default()).await
}

/// Runs `wedge ARGS` off the async runtime; returns (success, stdout, stderr).
async fn wedge(control: &TestControl, token: &str, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wedge"));
    // The control plane's URL and token belong to the commands that talk to it.
    command.args(args).args([
        "--control",
        &format!("http://{}", control.address()),
        "--token",
        token,
    ]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn publish_alias_list_and_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let control = control(dir.path()).await;
    let (ok, out, err) = wedge(
        &control,
        ADMIN,
        &[
            "--json",
            "publish",
            "--file",
            fixtures::HELLO,
            "--name",
            "site",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let published: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(published["version"]["number"], 1);

    let (ok, out, _) = wedge(
        &control,
        ADMIN,
        &["publish", "--file", fixtures::ALL_HOOKS, "--name", "site"],
    )
    .await;
    assert!(ok);
    assert!(
        out.starts_with("published site version 2 (sha256 "),
        "{out}"
    );
    let (ok, out, err) = wedge(&control, ADMIN, &["alias", "set", "site", "live", "2"]).await;
    assert!(ok && out.contains("site@live -> version 2"), "{out}{err}");

    let (ok, out, err) = wedge(
        &control,
        ADMIN,
        &[
            "config",
            "site",
            "live",
            "greeting=hi",
            "--secret",
            "key=s3cret",
        ],
    )
    .await;
    assert!(
        ok && out.contains("site@live: 1 value, 1 secret"),
        "{out}{err}"
    );
    let (ok, out, _) = wedge(&control, READ, &["ls"]).await;
    assert!(ok);
    assert!(
        out.contains("revision 4") && out.contains("@live -> v2") && out.contains("viewer-request"),
        "{out}"
    );
    assert!(!out.contains("s3cret"), "{out}");

    let (ok, out, _) = wedge(&control, ADMIN, &["rollback"]).await;
    assert!(
        ok && out.contains("restored revision 3 as revision 5"),
        "{out}"
    );
    let (_, out, _) = wedge(&control, READ, &["--json", "ls"]).await;
    let listed: Value = serde_json::from_str(&out).unwrap();
    // Revision 3 had the alias but not yet the config.
    assert_eq!(
        listed["functions"]["site"]["aliases"]["live"], 2,
        "{listed}"
    );
    assert!(listed["functions"]["site"]["config"].is_null(), "{listed}");

    // Rolling back again goes further back (to revision 2), not back to 4.
    let (ok, out, _) = wedge(&control, ADMIN, &["rollback"]).await;
    assert!(
        ok && out.contains("restored revision 2 as revision 6"),
        "{out}"
    );
    // Setting what is already set changes nothing and says so.
    let (ok, out, _) = wedge(&control, ADMIN, &["alias", "set", "site", "edge", "1"]).await;
    assert!(ok && out.contains("(revision 7)"), "{out}");
    let (ok, out, _) = wedge(&control, ADMIN, &["alias", "set", "site", "edge", "1"]).await;
    assert!(ok && out.contains("nothing changed"), "{out}");
    let (ok, out, _) = wedge(&control, READ, &["alias", "ls"]).await;
    assert!(ok && out.contains("site@edge -> version 1"), "{out}");
    let (ok, out, _) = wedge(&control, ADMIN, &["alias", "rm", "site", "edge"]).await;
    assert!(
        ok && out.contains("removed site@edge (revision 8)"),
        "{out}"
    );
    let (ok, out, _) = wedge(&control, READ, &["history", "-n", "3"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(ok && lines.len() == 3, "{out}");
    assert!(lines[0].contains("remove alias site@edge"), "{out}");
    assert!(lines[2].contains("rollback to revision 2"), "{out}");
}

#[tokio::test]
async fn names_and_urls_are_checked_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let control = control(dir.path()).await;
    for (args, expected) in [
        (
            vec!["publish", "--file", fixtures::HELLO, "--name", "Bad Name"],
            "function name `Bad Name`",
        ),
        (
            vec!["publish", "--file", fixtures::HELLO, "--name", "a/b"],
            "function name `a/b`",
        ),
        (vec!["alias", "set", "site", "42", "1"], "read as a version"),
        (
            vec![
                "deploy",
                "site@live",
                "-d",
                "bad id",
                "-e",
                "viewer-request",
            ],
            "distribution id `bad id`",
        ),
        (
            vec!["deploy", "site", "-d", "www", "-e", "viewer-request"],
            "expected NAME@ALIAS or NAME@VERSION",
        ),
    ] {
        let (ok, _, err) = wedge(&control, ADMIN, &args).await;
        assert!(!ok && err.contains(expected), "{args:?}: {err}");
        assert!(
            !err.contains("404") && !err.contains("invalid uri"),
            "{err}"
        );
    }
    // A URL without a scheme says what to add.
    let output = Command::new(env!("CARGO_BIN_EXE_wedge"))
        .args(["ls", "--control", "127.0.0.1:7070"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("add http:// or https://"), "{err}");
    // Placeholders of `wedge dev` are explained outside it.
    let site = dir.path().join("site.toml");
    std::fs::write(
        &site,
        "id = \"www\"\ndomains = [\"*\"]\n[origins.main]\nurl = \"{demo_origin:main}\"\n[default_behavior]\norigin = \"main\"\n",
    )
    .unwrap();
    let (ok, _, err) = wedge(
        &control,
        ADMIN,
        &["deploy", "--file", site.to_str().unwrap()],
    )
    .await;
    assert!(!ok && err.contains("wedge dev"), "{err}");
    // A typo in a distribution file is named with the file and the key.
    std::fs::write(
        &site,
        "id = \"www\"\ndomains = [\"*\"]\n[origins.main]\nurl = \"http://127.0.0.1:9\"\n[default_behavior]\norigin = \"main\"\ncahce = { enabled = false }\n",
    )
    .unwrap();
    let (ok, _, err) = wedge(
        &control,
        ADMIN,
        &["deploy", "--file", site.to_str().unwrap()],
    )
    .await;
    assert!(
        !ok && err.contains("site.toml") && err.contains("default_behavior.cahce"),
        "{err}"
    );
}

#[tokio::test]
async fn errors_say_what_went_wrong_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let control = control(dir.path()).await;
    let (ok, _, err) = wedge(
        &control,
        READ,
        &["publish", "--file", fixtures::HELLO, "--name", "site"],
    )
    .await;
    // Credentials are checked before anything is built, and the refusal says what is needed.
    assert!(!ok);
    assert!(
        err.contains("read role") && err.contains("needs an admin token"),
        "{err}"
    );
    let (ok, _, err) = wedge(&control, "nonsense-token-0000000", &["ls"]).await;
    assert!(
        !ok && err.contains("401") && err.contains("WEDGE_TOKEN"),
        "{err}"
    );
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"junk").unwrap();
    let (ok, _, err) = wedge(
        &control,
        ADMIN,
        &[
            "publish",
            "--file",
            junk.to_str().unwrap(),
            "--name",
            "site",
        ],
    )
    .await;
    assert!(
        !ok && err.contains("400") && err.contains("invalid component"),
        "{err}"
    );
    let (ok, _, err) = wedge(&control, ADMIN, &["publish", "--file", fixtures::HELLO]).await;
    assert!(!ok && err.contains("wedge.toml"), "{err}");
}

#[test]
fn init_scaffolds_a_project() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_wedge"))
        .current_dir(dir.path())
        .args(["init", "my-fn"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let root = dir.path().join("my-fn");
    let manifest = std::fs::read_to_string(root.join("wedge.toml")).unwrap();
    assert!(manifest.contains("name = \"my-fn\""));
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("crate-type = [\"cdylib\"]") && cargo.contains("wedge-sdk"));
    assert!(
        std::fs::read_to_string(root.join("src/lib.rs"))
            .unwrap()
            .contains("export!(Function: viewer_request)")
    );
    let again = Command::new(env!("CARGO_BIN_EXE_wedge"))
        .current_dir(dir.path())
        .args(["init", "my-fn"])
        .output()
        .unwrap();
    assert!(
        !again.status.success()
            && String::from_utf8_lossy(&again.stderr).contains("already exists")
    );
}

#[tokio::test]
async fn dev_runs_a_control_plane_a_node_and_an_origin_with_the_function_deployed() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_wedge"))
        .args([
            "dev",
            "--file",
            fixtures::RESPOND,
            "--name",
            "greeter",
            "--port",
            "0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines
                .next()
                .expect("wedge dev exited before serving")
                .unwrap();
            if let Some(url) = line.strip_prefix("serving on ") {
                return url.to_owned();
            }
        }
    })
    .await
    .unwrap();
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let get = |path: &str| {
        let path = path.to_owned();
        async move {
            wedge_testkit::send(
                addr,
                "dev",
                http::Method::GET,
                &path,
                &[],
                bytes::Bytes::new(),
            )
            .await
            .text()
        }
    };
    assert_eq!(get("/hello").await, "hello from the edge");
    let echo: serde_json::Value = serde_json::from_str(&get("/page").await).unwrap();
    assert_eq!(echo["origin"], "main");
    assert_eq!(echo["uri"], "/page");
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn bench_reports_every_hook_of_a_component() {
    let output = Command::new(env!("CARGO_BIN_EXE_wedge"))
        .args(["--json", "bench", fixtures::ALL_HOOKS, "--iterations", "50"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let hooks = report["hooks"].as_object().unwrap();
    assert_eq!(hooks.len(), 4);
    for (hook, figures) in hooks {
        assert_eq!(figures["errors"], 0, "{hook}");
        assert!(figures["total"]["p50_us"].as_f64().unwrap() > 0.0, "{hook}");
        assert!(
            figures["invocations_per_second"].as_f64().unwrap() > 0.0,
            "{hook}"
        );
    }
    assert!(
        report["compile_us"].as_f64().unwrap()
            > report["load_from_cache"]["p50_us"].as_f64().unwrap()
    );
}

#[tokio::test]
async fn an_https_control_plane_is_reached_with_its_ca_and_refused_without() {
    let dir = tempfile::tempdir().unwrap();
    let control = control(dir.path()).await;
    control
        .publish("site", fixtures::bytes(fixtures::HELLO))
        .await;
    // TLS in front of the control plane, as the sample config advises: here a wedge node.
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let site =
        wedge_testkit::Site::new(control.address()).tune_default(|b| b.cache.enabled = Some(false));
    let proxy = wedge_testkit::NodeBuilder::serving(site)
        .tls_listener(&cert, &key)
        .start()
        .await;
    let url = format!(
        "https://localhost:{}",
        proxy.running().listeners()[1].port()
    );
    let ls = |extra: Vec<String>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wedge"));
        command
            .args(["ls", "--control", &url, "--token", READ])
            .args(extra);
        async move {
            let output = tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap();
            (
                output.status.success(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        }
    };
    let (ok, out, err) = ls(vec!["--ca-file".into(), cert.display().to_string()]).await;
    assert!(ok && out.contains("site"), "{out}{err}");
    let (ok, _, err) = ls(Vec::new()).await;
    assert!(!ok && err.contains("certificate"), "{err}");
}
