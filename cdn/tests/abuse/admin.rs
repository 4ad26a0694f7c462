//! The admin listener driven by a web page in an operator's browser: cross-site POSTs and DNS
//! rebinding.

use http::Method;

use wedge_testkit::{ADMIN_TOKEN, NodeBuilder, Origin, Reply, Site, TestNode};

async fn node_for(origin: std::net::SocketAddr) -> TestNode {
    NodeBuilder::serving(Site::new(origin)).start().await
}

#[tokio::test]
async fn a_cross_site_purge_without_the_token_is_refused() {
    let origin = Origin::start(|_| Reply::ok("ok").header("cache-control", "max-age=60")).await;
    let node = node_for(origin.addr).await;
    node.get("/cached").await;
    // What a form on another site can send: text/plain, no credentials.
    let text = node
        .admin_send(
            Method::POST,
            "/purge",
            &[("content-type", "text/plain")],
            r#"{"all":true}"#,
        )
        .await;
    assert_eq!(text.status, 415);
    let no_token = node
        .admin_send(
            Method::POST,
            "/purge",
            &[("content-type", "application/json")],
            r#"{"all":true}"#,
        )
        .await;
    assert_eq!(no_token.status, 401);
    let wrong = node
        .admin_send(
            Method::POST,
            "/purge",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer  {ADMIN_TOKEN}")),
            ],
            r#"{"all":true}"#,
        )
        .await;
    assert_eq!(
        wrong.status, 401,
        "a token with a space before it is another token"
    );
    assert_eq!(
        node.get("/cached").await.x_cache(),
        "Hit from wedge",
        "nothing was purged"
    );
    let purged = node.admin_post("/purge", r#"{"all":true}"#).await;
    assert_eq!(purged.status, 200, "{}", purged.text());
}

#[tokio::test]
async fn logs_need_the_token() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let node = node_for(origin.addr).await;
    let anonymous = node.admin_send(Method::GET, "/logs?tail=1", &[], "").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(node.admin_get("/logs?tail=1").await.status, 200);
}

#[tokio::test]
async fn a_rebound_dns_name_cannot_read_the_admin_listener() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let node = node_for(origin.addr).await;
    let port = node.admin.port();
    let rebound = format!("attacker.example:{port}");
    for path in ["/status", "/metrics", "/logs?tail=1"] {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let reply = wedge_testkit::send(
            node.admin,
            &rebound,
            Method::GET,
            path,
            &[("authorization", bearer.as_str())],
            bytes::Bytes::new(),
        )
        .await;
        assert_eq!(reply.status, 421, "{path}");
    }
    let localhost = wedge_testkit::send(
        node.admin,
        &format!("localhost:{port}"),
        Method::GET,
        "/healthz",
        &[],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(localhost.status, 200);
}
