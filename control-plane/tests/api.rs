//! The control plane's API on a real socket: publish (validated, size-limited, idempotent),
//! aliases, the revision log with long polling, blobs, rollback, tokens, restarts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use bytes::Bytes;
use http::Method;
use sha2::{Digest, Sha256};
use wedge_control::config::ControlConfig;
use wedge_test_fixtures as fixtures;

use wedge_testkit::control::ControlOptions;
use wedge_testkit::{ADMIN, NODE, READ, TestControl};

#[tokio::test]
async fn publish_validates_stores_and_numbers_versions() {
    let dir = tempfile::tempdir().unwrap();
    let control =
        TestControl::start_in(dir.path(), ControlOptions::limited(50 * 1024 * 1024)).await;
    let hello = fixtures::bytes(fixtures::HELLO);

    let first = control
        .call(
            Method::POST,
            "/v1/functions/hello/versions",
            Some(ADMIN),
            hello.clone(),
        )
        .await;
    assert_eq!(first.status, 201, "{:?}", first.json());
    let published = first.json();
    assert_eq!(published["version"]["number"], 1);
    assert_eq!(
        published["version"]["digest"],
        hex::encode(Sha256::digest(&hello))
    );
    assert_eq!(published["version"]["hooks"][0], "viewer-request");
    assert_eq!(published["revision"], 1);

    let again = control
        .call(
            Method::POST,
            "/v1/functions/hello/versions",
            Some(ADMIN),
            hello.clone(),
        )
        .await;
    assert_eq!(again.status, 200, "publishing the same bytes is idempotent");
    assert_eq!(again.json()["version"]["number"], 1);

    let other = control
        .call(
            Method::POST,
            "/v1/functions/hello/versions",
            Some(ADMIN),
            fixtures::bytes(fixtures::ALL_HOOKS),
        )
        .await;
    assert_eq!(other.json()["version"]["number"], 2);
    assert_eq!(other.json()["revision"], 2);

    let digest = published["version"]["digest"].as_str().unwrap().to_owned();
    let blob = control
        .call(
            Method::GET,
            &format!("/v1/blobs/{digest}"),
            Some(NODE),
            Bytes::new(),
        )
        .await;
    assert_eq!(blob.status, 200);
    assert_eq!(blob.body.as_ref(), hello.as_slice());
    control.shutdown().await;
}

#[tokio::test]
async fn bad_uploads_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let control = TestControl::start_in(dir.path(), ControlOptions::limited(100_000)).await;
    let not_wasm = control
        .call(
            Method::POST,
            "/v1/functions/f/versions",
            Some(ADMIN),
            "not a component",
        )
        .await;
    assert_eq!(not_wasm.status, 400);
    assert!(
        not_wasm.json()["error"]
            .as_str()
            .unwrap()
            .contains("invalid component"),
        "{:?}",
        not_wasm.json()
    );
    let core_module = wat::parse_str("(module)").unwrap();
    let module = control
        .call(
            Method::POST,
            "/v1/functions/f/versions",
            Some(ADMIN),
            core_module,
        )
        .await;
    assert_eq!(module.status, 400);
    let big = control
        .call(
            Method::POST,
            "/v1/functions/f/versions",
            Some(ADMIN),
            vec![0u8; 100_001],
        )
        .await;
    assert_eq!(big.status, 413);
    assert!(big.json()["error"].as_str().unwrap().contains("100000"));
    let bad_name = control
        .call(
            Method::POST,
            "/v1/functions/Bad!/versions",
            Some(ADMIN),
            fixtures::bytes(fixtures::HELLO),
        )
        .await;
    assert_eq!(bad_name.status, 400);
    let listed = control
        .call(Method::GET, "/v1/functions", Some(READ), Bytes::new())
        .await;
    assert_eq!(
        listed.json()["revision"],
        0,
        "nothing refused reached the log"
    );
}

#[tokio::test]
async fn tokens_decide_who_may_write_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let control =
        TestControl::start_in(dir.path(), ControlOptions::limited(50 * 1024 * 1024)).await;
    let hello = fixtures::bytes(fixtures::HELLO);
    assert_eq!(
        control
            .call(
                Method::POST,
                "/v1/functions/h/versions",
                None,
                hello.clone()
            )
            .await
            .status,
        401
    );
    assert_eq!(
        control
            .call(
                Method::POST,
                "/v1/functions/h/versions",
                Some("wrong-token-0123456789"),
                hello.clone()
            )
            .await
            .status,
        401
    );
    assert_eq!(
        control
            .call(
                Method::POST,
                "/v1/functions/h/versions",
                Some(READ),
                hello.clone()
            )
            .await
            .status,
        403
    );
    assert_eq!(
        control
            .call(
                Method::POST,
                "/v1/functions/h/versions",
                Some(NODE),
                hello.clone()
            )
            .await
            .status,
        403
    );
    assert_eq!(
        control
            .call(Method::GET, "/v1/functions", Some(NODE), Bytes::new())
            .await
            .status,
        403
    );
    assert_eq!(
        control
            .call(Method::GET, "/v1/functions", Some(READ), Bytes::new())
            .await
            .status,
        200
    );
    assert_eq!(
        control
            .call(
                Method::GET,
                "/v1/revisions/latest",
                Some(NODE),
                Bytes::new()
            )
            .await
            .status,
        204
    );
    assert_eq!(
        control
            .call(Method::GET, "/healthz", None, Bytes::new())
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn aliases_rollback_and_long_polling_follow_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let control =
        TestControl::start_in(dir.path(), ControlOptions::limited(50 * 1024 * 1024)).await;
    control
        .call(
            Method::POST,
            "/v1/functions/site/versions",
            Some(ADMIN),
            fixtures::bytes(fixtures::HELLO),
        )
        .await;
    control
        .call(
            Method::POST,
            "/v1/functions/site/versions",
            Some(ADMIN),
            fixtures::bytes(fixtures::ALL_HOOKS),
        )
        .await;
    let live = control
        .call(
            Method::PUT,
            "/v1/functions/site/aliases/live",
            Some(ADMIN),
            r#"{"version": 1}"#,
        )
        .await;
    assert_eq!(live.json()["revision"], 3);
    let missing = control
        .call(
            Method::PUT,
            "/v1/functions/site/aliases/live",
            Some(ADMIN),
            r#"{"version": 9}"#,
        )
        .await;
    assert_eq!(missing.status, 400);

    // A node waiting past revision 3 is answered as soon as revision 4 is written: its poll
    // is seen (it names itself), then the write wakes it long before its 60 s wait is over.
    let addr = control.address();
    let waiter = tokio::spawn(async move {
        let bearer = format!("Bearer {NODE}");
        let headers = [
            ("authorization", bearer.as_str()),
            ("x-wedge-node", "poller"),
        ];
        let path = "/v1/revisions/latest?after=3&wait_ms=60000";
        wedge_testkit::send(addr, "control", Method::GET, path, &headers, Bytes::new())
            .await
            .json()
    });
    wedge_testkit::eventually("the poll to arrive", || async {
        let nodes = control.admin(Method::GET, "/v1/nodes", Bytes::new()).await;
        nodes["nodes"]["poller"].is_object().then_some(())
    })
    .await;
    control
        .call(
            Method::PUT,
            "/v1/functions/site/aliases/live",
            Some(ADMIN),
            r#"{"version": 2}"#,
        )
        .await;
    let revision = tokio::time::timeout(wedge_testkit::wait::PATIENCE, waiter)
        .await
        .expect("the write wakes the waiting poll")
        .unwrap();
    assert_eq!(revision["number"], 4);
    assert_eq!(revision["change"]["kind"], "set-alias");
    assert_eq!(revision["state"]["functions"]["site"]["aliases"]["live"], 2);

    let rolled = control
        .call(Method::POST, "/v1/rollback", Some(ADMIN), r#"{"to": 3}"#)
        .await;
    assert_eq!(rolled.json()["revision"], 5);
    let latest = control
        .call(
            Method::GET,
            "/v1/revisions/latest",
            Some(NODE),
            Bytes::new(),
        )
        .await
        .json();
    assert_eq!(latest["state"]["functions"]["site"]["aliases"]["live"], 1);
    assert_eq!(latest["change"]["kind"], "rollback");
    let none = control
        .call(
            Method::GET,
            "/v1/revisions/latest?after=5&wait_ms=100",
            Some(NODE),
            Bytes::new(),
        )
        .await;
    assert_eq!(none.status, 204);
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let control =
        TestControl::start_in(dir.path(), ControlOptions::limited(50 * 1024 * 1024)).await;
    let published = control
        .call(
            Method::POST,
            "/v1/functions/keep/versions",
            Some(ADMIN),
            fixtures::bytes(fixtures::HELLO),
        )
        .await
        .json();
    control.shutdown().await;
    let control =
        TestControl::start_in(dir.path(), ControlOptions::limited(50 * 1024 * 1024)).await;
    let listed = control
        .call(Method::GET, "/v1/functions", Some(READ), Bytes::new())
        .await
        .json();
    assert_eq!(listed["revision"], 1);
    assert_eq!(
        listed["functions"]["keep"]["versions"][0]["digest"],
        published["version"]["digest"]
    );
    let digest = published["version"]["digest"].as_str().unwrap();
    assert_eq!(
        control
            .call(
                Method::GET,
                &format!("/v1/blobs/{digest}"),
                Some(NODE),
                Bytes::new()
            )
            .await
            .status,
        200
    );
}

#[test]
fn the_sample_config_in_deploy_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/control.toml");
    let config = ControlConfig::load(&path).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(config.tokens.len(), 3);
    assert_eq!(config.max_component_bytes, 52_428_800);
}

#[tokio::test]
async fn alias_config_keeps_secrets_out_of_listings_and_from_read_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let control =
        TestControl::start_in(dir.path(), ControlOptions::limited(50 * 1024 * 1024)).await;
    control
        .call(
            Method::POST,
            "/v1/functions/site/versions",
            Some(ADMIN),
            fixtures::bytes(fixtures::ALL_HOOKS),
        )
        .await;
    let body = r#"{"values": {"greeting": "hi"}, "secrets": {"api_key": "s3cr3t-value"}}"#;
    let set = control
        .call(
            Method::PUT,
            "/v1/functions/site/aliases/live/config",
            Some(ADMIN),
            body,
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.json());

    let listed = control
        .call(Method::GET, "/v1/functions", Some(READ), Bytes::new())
        .await;
    let config = &listed.json()["functions"]["site"]["config"]["live"];
    assert_eq!(config["values"]["greeting"], "hi");
    assert_eq!(config["values"]["api_key"], "***");
    assert!(!String::from_utf8_lossy(&listed.body).contains("s3cr3t-value"));

    assert_eq!(
        control
            .call(
                Method::GET,
                "/v1/revisions/latest",
                Some(READ),
                Bytes::new()
            )
            .await
            .status,
        403,
        "revisions carry secrets"
    );
    let revision = control
        .call(
            Method::GET,
            "/v1/revisions/latest",
            Some(NODE),
            Bytes::new(),
        )
        .await
        .json();
    assert_eq!(
        revision["state"]["functions"]["site"]["config"]["live"]["values"]["api_key"],
        "s3cr3t-value"
    );
    assert_eq!(revision["change"]["kind"], "set-config");
    assert!(
        !revision["change"].to_string().contains("s3cr3t-value"),
        "the change names keys only"
    );

    let both = r#"{"values": {"k": "1"}, "secrets": {"k": "2"}}"#;
    assert_eq!(
        control
            .call(
                Method::PUT,
                "/v1/functions/site/aliases/live/config",
                Some(ADMIN),
                both
            )
            .await
            .status,
        400
    );
}

/// A distribution with one behavior and the default one, `functions` for the default.
fn site(functions: &str) -> String {
    format!(
        "domains = [\"www.example\"]\n[origins.app]\nurl = \"http://127.0.0.1:9\"\n[[behaviors]]\npath = \"/api/*\"\norigin = \"app\"\n[default_behavior]\norigin = \"app\"\n{functions}"
    )
}

#[tokio::test]
async fn distributions_are_validated_versioned_deployed_and_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let control =
        TestControl::start_in(dir.path(), ControlOptions::limited(50 * 1024 * 1024)).await;
    let control = &control;
    let put = |id: &str, token: &str, body: String| {
        let path = format!("/v1/distributions/{id}");
        let token = token.to_owned();
        async move { control.call(Method::PUT, &path, Some(&token), body).await }
    };
    let hello_live =
        "[[default_behavior.functions]]\nevent = \"viewer-request\"\nfunction = \"hello@live\"\n";

    // Refused with the reason: bad TOML, a bad key, a function that is not published.
    let syntax = put("www", ADMIN, "domains = [".into()).await;
    assert_eq!(syntax.status, 400);
    assert!(
        syntax.json()["error"]
            .as_str()
            .unwrap()
            .contains("distribution `www`")
    );
    let unknown = put("www", ADMIN, format!("{}\ncolour = 1\n", site(""))).await;
    assert_eq!(unknown.status, 400, "{:?}", unknown.json());
    assert!(unknown.json()["error"].as_str().unwrap().contains("colour"));
    let file_origin = put(
        "www",
        ADMIN,
        site("").replace("url = ", "ca_file = \"/x\"\nurl = "),
    )
    .await;
    assert!(
        file_origin.json()["error"]
            .as_str()
            .unwrap()
            .contains("ca_file")
    );
    let unpublished = put("www", ADMIN, site(hello_live)).await;
    assert_eq!(unpublished.status, 400);
    assert!(
        unpublished.json()["error"]
            .as_str()
            .unwrap()
            .contains("no function `hello`")
    );
    assert_eq!(put("www", READ, site("")).await.status, 403);
    assert_eq!(
        control
            .call(Method::PUT, "/v1/distributions/www", None, site(""))
            .await
            .status,
        401
    );

    // Publish, alias, then the distribution goes in as one revision.
    control
        .call(
            Method::POST,
            "/v1/functions/hello/versions",
            Some(ADMIN),
            fixtures::bytes(fixtures::HELLO),
        )
        .await;
    control
        .call(
            Method::PUT,
            "/v1/functions/hello/aliases/live",
            Some(ADMIN),
            r#"{"version": 1}"#,
        )
        .await;
    let created = put("www", ADMIN, site(hello_live)).await;
    assert_eq!(created.status, 200, "{:?}", created.json());
    let created_at = created.json()["revision"].as_u64().unwrap();
    let listed = control
        .call(Method::GET, "/v1/distributions", Some(READ), "")
        .await
        .json();
    // Distributions are listed typed, as nodes receive them.
    assert_eq!(listed["distributions"]["www"]["id"], "www", "{listed}");
    assert_eq!(
        listed["distributions"]["www"]["domains"][0], "www.example",
        "{listed}"
    );

    // An alias may not move to a version that does not export the hook the site uses.
    control
        .call(
            Method::POST,
            "/v1/functions/hello/versions",
            Some(ADMIN),
            fixtures::bytes(fixtures::examples::CACHE_CONTROL),
        )
        .await;
    let broken = control
        .call(
            Method::PUT,
            "/v1/functions/hello/aliases/live",
            Some(ADMIN),
            r#"{"version": 2}"#,
        )
        .await;
    assert_eq!(broken.status, 400);
    assert!(
        broken.json()["error"]
            .as_str()
            .unwrap()
            .contains("exports only"),
        "{:?}",
        broken.json()
    );

    // Deploy: attach version 2 to origin-response of /api/*; the wrong hook is refused.
    let deploy = |body: &'static str| async move {
        control
            .call(
                Method::POST,
                "/v1/distributions/www/deploy",
                Some(ADMIN),
                body,
            )
            .await
    };
    let attached = deploy(
        r#"{"behavior": "/api/*", "event": "origin-response", "function": "hello", "version": 2}"#,
    )
    .await;
    assert_eq!(attached.status, 200, "{:?}", attached.json());
    let wrong_hook = deploy(
        r#"{"behavior": "/api/*", "event": "viewer-request", "function": "hello", "version": 2}"#,
    )
    .await;
    assert_eq!(wrong_hook.status, 400);
    let no_behavior = deploy(
        r#"{"behavior": "/nope/*", "event": "origin-response", "function": "hello", "version": 2}"#,
    )
    .await;
    assert_eq!(no_behavior.status, 400);
    let latest = control
        .call(Method::GET, "/v1/revisions/latest", Some(NODE), "")
        .await
        .json();
    assert_eq!(latest["change"]["kind"], "deploy");
    assert_eq!(latest["format"], wedge_types::wire::FORMAT, "{latest}");
    let behavior = &latest["state"]["distributions"]["www"]["behaviors"][0];
    assert_eq!(behavior["functions"][0]["function"], "hello@2", "{latest}");
    // Deploying the same thing again changes nothing and appends no revision.
    let again = deploy(
        r#"{"behavior": "/api/*", "event": "origin-response", "function": "hello", "version": 2}"#,
    )
    .await
    .json();
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["revision"], latest["number"], "{again}");

    // Deleting is a revision too, and rollback brings the site back as it was created.
    let deleted = control
        .call(Method::DELETE, "/v1/distributions/www", Some(ADMIN), "")
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(
        control
            .call(Method::DELETE, "/v1/distributions/www", Some(ADMIN), "")
            .await
            .status,
        404
    );
    let body = format!("{{\"to\": {created_at}}}");
    assert_eq!(
        control
            .call(Method::POST, "/v1/rollback", Some(ADMIN), body)
            .await
            .status,
        200
    );
    let restored = control
        .call(Method::GET, "/v1/distributions", Some(READ), "")
        .await
        .json();
    let restored = &restored["distributions"]["www"];
    assert_eq!(
        restored["default_behavior"]["functions"][0]["function"], "hello@live",
        "{restored}"
    );
    assert!(
        restored["behaviors"][0]["functions"].is_null(),
        "{restored}"
    );
}
