//! The viewer-facing server: limits answered with the right 4xx, ambiguous framing refused,
//! TLS with HTTP/2 end to end, routing by Host, graceful shutdown, the admin endpoints, and
//! config errors that name the file and key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use wedge_cdn::config::{ConfigError, NodeConfig};
use wedge_testkit::*;

fn node_for(origin: std::net::SocketAddr) -> NodeBuilder {
    NodeBuilder::serving(Site::new(origin))
}

async fn limited_node(origin: &Origin) -> TestNode {
    node_for(origin.addr)
        .set("limits", "max_headers", 20)
        .set("limits", "max_header_bytes", 8192)
        .set("limits", "max_uri_bytes", 256)
        .set("limits", "max_body_bytes", 1000)
        .set("limits", "header_read_timeout_ms", 300)
        .start()
        .await
}

#[tokio::test]
async fn each_limit_plus_one_gets_its_4xx() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let node = limited_node(&origin).await;
    let at_limit: Vec<(String, String)> =
        (0..18).map(|i| (format!("x-h{i}"), "v".into())).collect();
    let headers: Vec<(&str, &str)> = at_limit
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        node.get_with("/", &headers).await.status,
        200,
        "host + 18 + 1 = 20 headers"
    );

    let mut over = String::from("GET / HTTP/1.1\r\nhost: site.test\r\n");
    for i in 0..20 {
        over.push_str(&format!("x-h{i}: v\r\n"));
    }
    over.push_str("\r\n");
    assert_eq!(
        raw_status(&raw(node.addr, over.as_bytes()).await),
        431,
        "too many headers"
    );

    let big = format!(
        "GET / HTTP/1.1\r\nhost: site.test\r\nx-big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    assert_eq!(
        raw_status(&raw(node.addr, big.as_bytes()).await),
        431,
        "headers too large"
    );

    let long = format!("/{}", "u".repeat(256));
    assert_eq!(node.get(&long).await.status, 414);
    assert_eq!(node.get(&long[..256]).await.status, 200);

    let body = Bytes::from(vec![b'b'; 1001]);
    assert_eq!(node.send(Method::POST, "/", &[], body).await.status, 413);
    let chunked = format!(
        "POST / HTTP/1.1\r\nhost: site.test\r\ntransfer-encoding: chunked\r\n\r\n3e9\r\n{}\r\n0\r\n\r\n",
        "c".repeat(1001)
    );
    assert_eq!(
        raw_status(&raw(node.addr, chunked.as_bytes()).await),
        413,
        "chunked body over the limit"
    );
    let exact = Bytes::from(vec![b'b'; 1000]);
    assert_eq!(node.send(Method::POST, "/", &[], exact).await.status, 200);
}

#[tokio::test]
async fn ambiguous_framing_is_normalised_or_refused_never_forwarded() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let node = limited_node(&origin).await;
    // Content-Length with Transfer-Encoding: hyper frames by Transfer-Encoding alone, drops the
    // Content-Length and closes the connection after answering (RFC 9112 §6.1), so the
    // request hidden in the body is never read.
    let smuggle = "POST / HTTP/1.1\r\nhost: site.test\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: site.test\r\n\r\n";
    let response = raw(node.addr, smuggle.as_bytes()).await;
    assert_eq!(response.matches("HTTP/1.1 ").count(), 1, "{response}");
    // Two different Content-Length values: refused.
    let duplicate = "POST /dup HTTP/1.1\r\nhost: site.test\r\ncontent-length: 3\r\ncontent-length: 5\r\n\r\nabcde";
    assert_eq!(raw_status(&raw(node.addr, duplicate.as_bytes()).await), 400);
    let requests = origin.requests.lock().unwrap();
    assert!(
        requests
            .iter()
            .all(|r| r.uri != "/smuggled" && r.uri != "/dup"),
        "{requests:?}"
    );
    for request in requests.iter() {
        assert_eq!(
            request.header("transfer-encoding"),
            None,
            "the origin gets one framing"
        );
        let length = request
            .header("content-length")
            .map_or(0, |v| v.parse().unwrap());
        assert_eq!(length, request.body.len());
    }
}

#[tokio::test]
async fn a_slow_client_is_cut_off_by_the_header_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let node = limited_node(&origin).await;
    let mut stream = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: site")
        .await
        .unwrap();
    let mut buffer = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut buffer)).await;
    assert!(
        closed.is_ok(),
        "the connection was closed after the 300 ms header timeout"
    );
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn an_unknown_host_is_misdirected() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let site = Site::new(origin.addr).domains(&["www.example.com", "*.example.org"]);
    let node = NodeBuilder::serving(site).start().await;
    assert_eq!(node.get("/").await.status, 421, "site.test is not served");
    let reply = node
        .send(Method::GET, "/", &[("host", "a.example.org")], Bytes::new())
        .await;
    // `send` sets host site.test first; the appended one makes two Host fields: refused.
    assert_eq!(reply.status, 400);
}

fn self_signed(
    dir: &std::path::Path,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    CertificateDer<'static>,
) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let der = CertificateDer::from_pem_file(&cert).unwrap();
    (cert, key, der)
}

#[tokio::test]
async fn tls_with_http2_end_to_end() {
    let origin =
        Origin::start(|_| Reply::ok("over tls").header("cache-control", "max-age=60")).await;
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, der) = self_signed(certs.path());
    let node = node_for(origin.addr)
        .tls_listener(&cert, &key)
        .start()
        .await;
    let tls_addr = node.node.as_ref().unwrap().listeners()[1];

    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let mut client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(tls_addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    for expected in ["Miss from wedge", "Hit from wedge"] {
        let request = Request::builder()
            .uri("https://localhost/secure")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(response.headers()["x-cache"], expected);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, Bytes::from_static(b"over tls"));
    }
    assert_eq!(origin.last().header("x-forwarded-proto"), Some("https"));
    assert_eq!(
        origin.last().header("host"),
        Some(origin.addr.to_string().as_str())
    );
}

#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    let origin = Origin::start(|_| Reply::ok("finished").delay(Duration::from_millis(500))).await;
    let mut node = node_for(origin.addr).start().await;
    let addr = node.addr;
    let in_flight =
        tokio::spawn(
            async move { send(addr, HOST, Method::GET, "/slow", &[], Bytes::new()).await },
        );
    eventually("the request to reach the origin", || async {
        (origin.hits() == 1).then_some(())
    })
    .await;
    node.stop().await;
    let reply = in_flight.await.unwrap();
    assert_eq!((reply.status, reply.text().as_str()), (200, "finished"));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn admin_reports_health_metrics_and_status() {
    let origin = Origin::start(|_| Reply::ok("x").header("cache-control", "max-age=60")).await;
    let node = NodeBuilder::serving(
        Site::new(origin.addr).function(Hook::ViewerRequest, wedge_test_fixtures::HELLO),
    )
    .start()
    .await;
    node.get("/a").await;
    node.get("/a").await;
    assert_eq!(node.admin_get("/healthz").await.text(), "ok\n");
    let metrics = node.admin_get("/metrics").await.text();
    for expected in [
        "wedge_requests_total{status=\"200\",cache=\"hit\"} 1",
        "wedge_requests_total{status=\"200\",cache=\"miss\"} 1",
        "wedge_hook_invocations_total{hook=\"viewer-request\",outcome=\"ok\"} 2",
        "wedge_cache_entries 1",
        "wedge_instances_max 32",
        "wedge_request_duration_seconds_bucket",
        "wedge_origin_requests_total{origin=\"main\",outcome=\"200\"} 1",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected} in\n{metrics}"
        );
    }
    let status: serde_json::Value =
        serde_json::from_slice(&node.admin_get("/status").await.body).unwrap();
    assert_eq!(status["node_id"], "test-node");
    assert_eq!(status["functions"][0]["hook"], "viewer-request");
    assert_eq!(node.admin_get("/nope").await.status, 404);
}

fn parse_error(toml: &str) -> String {
    match NodeConfig::parse(toml, std::path::Path::new("/etc/wedge/node.toml")) {
        Ok(_) => panic!("accepted:\n{toml}"),
        Err(error) => {
            assert!(matches!(
                error,
                ConfigError::Syntax { .. } | ConfigError::Invalid { .. }
            ));
            error.to_string()
        }
    }
}

#[test]
fn config_errors_name_the_file_the_key_and_the_problem() {
    // Broken files on purpose: the text of a valid config, then one thing wrong in it.
    let unused: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let base = node_for(unused).toml();
    let typo = parse_error(&base.replace("max_instances", "max_instanses"));
    assert!(
        typo.starts_with("/etc/wedge/node.toml") && typo.contains("max_instanses"),
        "{typo}"
    );
    let origin = parse_error(&base.replace("origin = \"main\"", "origin = \"mian\""));
    assert!(
        origin.contains("distributions[0].default_behavior.origin")
            && origin.contains("mian")
            && origin.contains("main"),
        "{origin}"
    );
    let url = parse_error(&base.replace("url = \"http://", "url = \"ftp://"));
    assert!(url.contains("distributions[0].origins.main.url"), "{url}");
    let hooked = node_for(unused)
        .distribution(Site::with_id("hooked", unused).function(Hook::ViewerRequest, "/x.wasm"))
        .toml();
    let event = parse_error(&hooked.replace("\"viewer-request\"", "\"viewer-requets\""));
    // An unknown hook is a syntax error with its line, the value and the four hooks.
    assert!(
        event.contains("line ")
            && event.contains("viewer-requets")
            && event.contains("viewer-request"),
        "{event}"
    );
    let timeout = parse_error(
        &NodeBuilder::serving(Site::new(unused).function_with(
            Hook::ViewerRequest,
            "/x.wasm",
            |a| a.timeout_ms = Some(60000),
        ))
        .toml(),
    );
    assert!(
        timeout.contains("functions[0]") && timeout.contains("maximum"),
        "{timeout}"
    );
    let policy = parse_error(
        &NodeBuilder::serving(Site::new(unused).function_with(
            Hook::ViewerRequest,
            "/x.wasm",
            |a| a.on_error = Some("retry".into()),
        ))
        .toml(),
    );
    assert!(
        policy.contains("on_error") && policy.contains("bypass"),
        "{policy}"
    );
    let listen = parse_error(&base.replace("address = \"127.0.0.1:0\"", "address = \"localhost\""));
    assert!(listen.contains("listeners[0].address"), "{listen}");
}

#[test]
fn the_sample_config_in_deploy_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/node.toml");
    let config = NodeConfig::load(&path).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(config.distributions[0].behaviors.len(), 2);
    assert_eq!(config.listeners.len(), 2);
    let following =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/node-following.toml");
    let config = NodeConfig::load(&following).unwrap_or_else(|error| panic!("{error}"));
    assert!(config.control_plane.is_some());
    // Without its [control_plane] section, a control: reference is an error naming both.
    let text = std::fs::read_to_string(&following).unwrap();
    let (before, rest) = text.split_once("[control_plane]").unwrap();
    let after = &rest[rest.find("[[distributions]]").unwrap()..];
    let error = NodeConfig::parse(&format!("{before}{after}"), &following)
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("control:hello@live needs a [control_plane] section"),
        "{error}"
    );
}

#[tokio::test]
async fn the_whole_request_has_a_deadline() {
    let origin = Origin::start(|_| Reply::ok("late").delay(Duration::from_millis(1500))).await;
    let node = node_for(origin.addr)
        .set("limits", "request_timeout_ms", 300)
        .start()
        .await;
    let reply = node.get("/slow").await;
    assert_eq!(reply.status, 504);
    assert_eq!(reply.header("x-wedge-error"), Some("request-timeout"));
    assert_eq!(reply.x_cache(), "Error from wedge");
}

#[tokio::test]
async fn an_https_origin_is_verified_against_its_configured_ca() {
    use hyper::service::service_fn;
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, _) = self_signed(certs.path());
    let acceptor = {
        let certs = CertificateDer::pem_file_iter(&cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls_pki_types::PrivateKeyDer::from_pem_file(&key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(|_request| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                        Bytes::from_static(b"secret origin"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    let secure = |ca_file: Option<String>| {
        let mut site =
            Site::new("127.0.0.1:1".parse().unwrap()).tune_default(|b| b.origin = "secure".into());
        let mut origin = site.0.origins["main"].clone();
        origin.url = format!("https://localhost:{port}");
        origin.ca_file = ca_file;
        site.0.origins.insert("secure".into(), origin);
        NodeBuilder::serving(site)
    };
    let trusted = secure(Some(cert.display().to_string())).start().await;
    let reply = trusted.get("/").await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "secret origin")
    );

    let untrusted = secure(None).start().await;
    let reply = untrusted.get("/").await;
    assert_eq!(
        reply.status, 502,
        "a certificate outside the trusted roots is refused"
    );
    assert_eq!(reply.header("x-wedge-error"), Some("origin-protocol"));
}

#[tokio::test]
async fn connections_past_the_limit_wait_while_every_slot_is_busy() {
    // (Silent and idle connections are shed to make room: cdn/tests/abuse/connections.rs.)
    let origin = Origin::start(|request| {
        let reply = Reply::ok("served");
        if request.uri.starts_with("/slow") {
            reply.delay(Duration::from_millis(800))
        } else {
            reply
        }
    })
    .await;
    let node = node_for(origin.addr)
        .set("limits", "max_connections", 2)
        .start()
        .await;
    let addr = node.addr;
    let busy: Vec<_> = (0..2)
        .map(|n| {
            // Two paths, so that the cache does not coalesce them into one origin request.
            let path = format!("/slow/{n}");
            tokio::spawn(
                async move { send(addr, HOST, Method::GET, &path, &[], Bytes::new()).await },
            )
        })
        .collect();
    // Both requests are at the origin: both slots are busy.
    eventually("both requests to reach the origin", || async {
        (origin.hits() >= 2).then_some(())
    })
    .await;
    let third =
        tokio::spawn(async move { send(addr, HOST, Method::GET, "/c", &[], Bytes::new()).await });
    // What must not happen cannot be waited for: give the third request time to be served
    // wrongly, then check it was not.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !third.is_finished(),
        "a third connection is not served while both slots serve a request"
    );
    for request in busy {
        assert_eq!(request.await.unwrap().text(), "served");
    }
    let reply = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.text(), "served");
}
