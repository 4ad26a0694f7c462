//! Connection exhaustion: silent, half-open and idle connections, and a flood of them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use wedge_testkit::{HOST, NodeBuilder, Origin, Reply, Site, TestNode, send};

/// Long enough that a closed socket is told apart from one that is held, short enough to
/// keep the tests quick; the node's deadlines in these tests are a fraction of it.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// A node with short connection deadlines.
fn with_limits(origin: SocketAddr) -> NodeBuilder {
    NodeBuilder::serving(Site::new(origin))
        .set("limits", "header_read_timeout_ms", 300)
        .set("limits", "idle_timeout_ms", 400)
}

/// A gauge from the node's `/metrics`.
async fn metric(node: &TestNode, name: &str) -> u64 {
    let metrics = node.admin_get("/metrics").await.text();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits for the server to close `stream` (EOF or reset); false if it is still open after
/// [`CLOSE_WAIT`].
async fn closed_by_server(stream: &mut (impl AsyncReadExt + Unpin)) -> bool {
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout(CLOSE_WAIT, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// A TCP connection to `addr` from the loopback address `from` (127.0.0.0/8 is all local).
async fn connect_from(from: Ipv4Addr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
    socket.connect(addr).await
}

#[tokio::test]
async fn a_silent_tcp_connection_is_closed_at_the_first_request_deadline() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let node = with_limits(origin.addr).start().await;
    let mut silent = TcpStream::connect(node.addr).await.unwrap();
    assert!(closed_by_server(&mut silent).await);
}

#[tokio::test]
async fn half_an_http2_preface_is_closed_at_the_first_request_deadline() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let node = with_limits(origin.addr).start().await;
    let mut half = TcpStream::connect(node.addr).await.unwrap();
    half.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    assert!(closed_by_server(&mut half).await);
}

#[tokio::test]
async fn a_tls_connection_that_says_nothing_after_the_handshake_is_closed() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let certs = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let node = with_limits(origin.addr)
        .tls_listener(&cert, &key)
        .start()
        .await;
    let tls_addr = node.node.as_ref().unwrap().listeners()[1];
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(tls_addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    assert!(closed_by_server(&mut tls).await);
}

#[tokio::test]
async fn an_http2_connection_without_streams_is_closed_when_idle() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let node = with_limits(origin.addr).start().await;
    let tcp = TcpStream::connect(node.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::builder()
        .uri("http://site.test/one")
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    // Nothing more is sent: the node ends the connection (GOAWAY or close) on its own.
    let ended = tokio::time::timeout(CLOSE_WAIT, connection).await;
    assert!(ended.is_ok(), "the idle HTTP/2 connection is still open");
}

#[tokio::test]
async fn a_keep_alive_connection_left_idle_is_closed() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let node = with_limits(origin.addr).start().await;
    let mut idle = TcpStream::connect(node.addr).await.unwrap();
    idle.write_all(b"GET /one HTTP/1.1\r\nhost: site.test\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 1024];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    // The response was complete (a small body in one write); now nothing more is sent.
    assert!(closed_by_server(&mut idle).await);
}

#[tokio::test]
async fn one_client_gets_only_its_share_of_silent_connections() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    // A long first-request deadline: what closes the extra connection is the per-client cap.
    let node = with_limits(origin.addr)
        .set("limits", "max_connections", 8)
        .set("limits", "max_fresh_connections_per_client", 4)
        .set("limits", "header_read_timeout_ms", 60000)
        .start()
        .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(node.addr).await.unwrap());
    }
    let mut extra = TcpStream::connect(node.addr).await.unwrap();
    assert!(
        closed_by_server(&mut extra).await,
        "the fifth silent connection is held"
    );
    // Another client is unaffected, and so is this one once it sends requests.
    let from_elsewhere = connect_from(Ipv4Addr::new(127, 0, 0, 2), node.addr).await;
    let mut from_elsewhere = from_elsewhere.unwrap();
    from_elsewhere
        .write_all(b"GET /x HTTP/1.1\r\nhost: site.test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    from_elsewhere.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(held);
}

#[tokio::test]
async fn silent_sockets_at_twice_the_limit_do_not_stop_normal_viewers() {
    const LIMIT: usize = 64;
    const VIEWERS: usize = 12;
    let origin = Origin::start(|_| Reply::ok("served")).await;
    // A long first-request deadline: only shedding makes room.
    let node = with_limits(origin.addr)
        .set("limits", "max_connections", LIMIT as i64)
        .set("limits", "max_fresh_connections_per_client", 16)
        .set("limits", "header_read_timeout_ms", 60000)
        .start()
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut attackers = tokio::task::JoinSet::new();
    // 2 × LIMIT sockets from 8 addresses, each re-opened as soon as the node closes it.
    for n in 0..2 * LIMIT {
        let from = Ipv4Addr::new(127, 0, 1, 1 + (n % 8) as u8);
        let (addr, stop) = (node.addr, Arc::clone(&stop));
        attackers.spawn(async move {
            let mut opened = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut socket) = connect_from(from, addr).await else {
                    tokio::task::yield_now().await;
                    continue;
                };
                opened += 1;
                let mut buffer = [0u8; 64];
                let stopped = async {
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                };
                tokio::select! {
                    _ = socket.read(&mut buffer) => {}
                    () = stopped => {}
                }
            }
            opened
        });
    }
    // The flood takes every slot before the viewers come, 12 at once (under their address's
    // share of fresh connections).
    let full = tokio::time::timeout(CLOSE_WAIT, async {
        while metric(&node, "wedge_connections_open").await < LIMIT as u64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert!(full.await.is_ok(), "the flood never filled the node");
    let mut viewers = tokio::task::JoinSet::new();
    for n in 0..VIEWERS {
        let addr = node.addr;
        viewers.spawn(async move {
            send(
                addr,
                HOST,
                Method::GET,
                &format!("/page/{n}"),
                &[],
                Bytes::new(),
            )
            .await
        });
    }
    let mut served = 0;
    let all_answered = tokio::time::timeout(CLOSE_WAIT * 3, async {
        while let Some(reply) = viewers.join_next().await {
            served += usize::from(reply.unwrap().status == 200);
        }
    })
    .await;
    assert!(
        all_answered.is_ok(),
        "viewers still waiting ({served} served)"
    );
    stop.store(true, Ordering::Relaxed);
    let mut opened = 0;
    while let Some(count) = attackers.join_next().await {
        opened += count.unwrap();
    }
    assert_eq!(served, VIEWERS, "normal viewers served");
    assert!(
        opened > 2 * LIMIT,
        "the node shed and the flood re-opened ({opened} sockets)"
    );
    let shed = metric(&node, "wedge_connections_shed").await;
    assert!(shed > 0, "the shedding is counted in /metrics");
}

#[tokio::test]
async fn the_admin_listener_closes_a_silent_connection() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let node = with_limits(origin.addr).start().await;
    let mut silent = TcpStream::connect(node.admin).await.unwrap();
    assert!(closed_by_server(&mut silent).await);
}
