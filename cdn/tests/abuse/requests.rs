//! Requests shaped to hold the node or reach past it: stalled bodies, TRACE, and a target
//! whose authority names another site than its Host.

use crate::domains::{load, two_distributions};
use wedge_testkit::{NodeBuilder, Origin, Reply, Site, raw, raw_status};

fn quick_body_timeout(origin: std::net::SocketAddr) -> NodeBuilder {
    NodeBuilder::serving(Site::new(origin)).set("limits", "body_read_timeout_ms", 300)
}

#[tokio::test]
async fn a_stalled_request_body_is_refused_with_408() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let node = quick_body_timeout(origin.addr).start().await;
    let short = b"POST /upload HTTP/1.1\r\nhost: site.test\r\ncontent-length: 100\r\n\r\nonly this";
    let answer = raw(node.addr, short).await;
    assert_eq!(raw_status(&answer), 408, "{answer}");
    let unfinished =
        b"POST /upload HTTP/1.1\r\nhost: site.test\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n";
    let answer = raw(node.addr, unfinished).await;
    assert_eq!(raw_status(&answer), 408, "{answer}");
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn trace_is_refused_unless_the_behavior_allows_it() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let site = Site::new(origin.addr).behavior("/debug/*", "main", |b| {
        b.allow_trace = Some(true);
        b.cache.enabled = Some(false);
    });
    let node = NodeBuilder::serving(site).start().await;
    let trace = |path: &str| {
        format!(
            "TRACE {path} HTTP/1.1\r\nhost: site.test\r\ncookie: session=secret\r\nconnection: close\r\n\r\n"
        )
    };
    let refused = raw(node.addr, trace("/x").as_bytes()).await;
    assert_eq!(raw_status(&refused), 405, "{refused}");
    assert_eq!(origin.hits(), 0);
    let allowed = raw(node.addr, trace("/debug/x").as_bytes()).await;
    assert_eq!(raw_status(&allowed), 200, "{allowed}");
    assert_eq!(origin.last().method, http::Method::TRACE);
}

#[tokio::test]
async fn an_absolute_form_target_is_routed_by_its_authority() {
    let origin = Origin::start(|recorded| Reply::ok(&recorded.uri.clone())).await;
    let builder = two_distributions(origin.addr, &["www.test"], &["other.test"]);
    let node = wedge_cdn::RunningNode::start(load(&builder).unwrap())
        .await
        .unwrap();
    let answer = raw(
        node.listeners()[0],
        b"GET http://other.test/x HTTP/1.1\r\nhost: www.test\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&answer), 200, "{answer}");
    assert!(answer.ends_with("/beta/x"), "{answer}");
    node.shutdown().await;
}

#[tokio::test]
async fn an_http2_authority_is_routed_by_its_authority_not_the_host_field() {
    let origin = Origin::start(|recorded| Reply::ok(&recorded.uri.clone())).await;
    let builder = two_distributions(origin.addr, &["www.test"], &["other.test"]);
    let node = wedge_cdn::RunningNode::start(load(&builder).unwrap())
        .await
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(node.listeners()[0])
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let request = http::Request::builder()
        .uri("http://other.test/y")
        .header("host", "www.test")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, "/beta/y");
    node.shutdown().await;
}
