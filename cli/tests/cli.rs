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
use wedge_control::ControlPlane;
use wedge_control::config::ControlConfig;
use wedge_test_fixtures as fixtures;

const ADMIN: &str = "admin-token-0123456789";
const READ: &str = "read-token-0123456789";

async fn control(dir: &std::path::Path) -> ControlPlane {
    let path = dir.join("control.toml");
    std::fs::write(
        &path,
        format!("listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\ntokens = [\n {{ name = \"a\", token = \"{ADMIN}\", role = \"admin\" }},\n {{ name = \"r\", token = \"{READ}\", role = \"read\" }},\n]\n"),
    )
    .unwrap();
    ControlPlane::start(ControlConfig::load(&path).unwrap())
        .await
        .unwrap()
}

/// Runs `wedge ARGS` off the async runtime; returns (success, stdout, stderr).
async fn wedge(control: &ControlPlane, token: &str, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wedge"));
    command
        .args([
            "--control",
            &format!("http://{}", control.address()),
            "--token",
            token,
        ])
        .args(args);
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
        ok && out.contains("site@live: 1 values, 1 secrets"),
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
    assert!(!ok);
    assert!(err.contains("403") && err.contains("admin token"), "{err}");
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
    let get = |path: &str| {
        let url = format!("{url}{path}");
        async move {
            let addr = url
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap()
                .to_owned();
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let request = http::Request::get(url.as_str())
                .header("host", "dev")
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            use http_body_util::BodyExt;
            String::from_utf8(
                response
                    .into_body()
                    .collect()
                    .await
                    .unwrap()
                    .to_bytes()
                    .to_vec(),
            )
            .unwrap()
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
