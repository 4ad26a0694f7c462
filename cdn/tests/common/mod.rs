//! Shared test support: an in-process origin that records what it receives, a node started
//! from a TOML config on 127.0.0.1:0, and a small HTTP/1.1 client.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support; each test binary uses a different subset"
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use wedge_cdn::RunningNode;
use wedge_cdn::config::NodeConfig;

/// A request as the origin received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the origin answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub delay: Duration,
}

impl Reply {
    pub fn ok(body: &str) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Bytes::from(body.to_owned()),
            delay: Duration::ZERO,
        }
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// An origin on 127.0.0.1 with a handler; counts and records every request.
pub struct Origin {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    hits: Arc<AtomicUsize>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Origin {
    pub async fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, Arc::new(handler))
    }

    /// Serves again on the same address after [`Origin::stop`].
    pub async fn restart(&mut self, handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        let mut fresh = Self::serve(listener, Arc::new(handler));
        self.task = fresh.task.take();
        self.hits = Arc::clone(&fresh.hits);
        self.requests = Arc::clone(&fresh.requests);
    }

    fn serve(listener: TcpListener, handler: Handler) -> Self {
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (task_hits, task_requests) = (Arc::clone(&hits), Arc::clone(&requests));
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let handler = Arc::clone(&handler);
                let hits = Arc::clone(&task_hits);
                let requests = Arc::clone(&task_requests);
                connections.spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let handler = Arc::clone(&handler);
                        let hits = Arc::clone(&hits);
                        let requests = Arc::clone(&requests);
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let recorded = Recorded {
                                method: parts.method,
                                uri: parts.uri.to_string(),
                                headers: parts.headers,
                                body,
                            };
                            hits.fetch_add(1, Ordering::SeqCst);
                            requests.lock().unwrap().push(recorded.clone());
                            let reply = handler(&recorded);
                            tokio::time::sleep(reply.delay).await;
                            let mut response = Response::new(Full::new(reply.body));
                            *response.status_mut() = StatusCode::from_u16(reply.status).unwrap();
                            for (name, value) in reply.headers {
                                response.headers_mut().append(
                                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                                    HeaderValue::from_str(&value).unwrap(),
                                );
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            requests,
            hits,
            task: Some(task),
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> Recorded {
        self.requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the origin got no request")
    }

    /// Stops listening and drops every open connection.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A node started from a config, with its temp dir (access log, files).
pub struct TestNode {
    pub node: Option<RunningNode>,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl TestNode {
    pub fn access_log(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    /// The access-log lines, waiting (briefly) until at least `count` are written.
    pub async fn log_lines(&self, count: usize) -> Vec<serde_json::Value> {
        for _ in 0..200 {
            let text = std::fs::read_to_string(self.access_log()).unwrap_or_default();
            let lines: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if lines.len() >= count {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {count} access-log lines");
    }

    pub async fn get(&self, path: &str) -> Reply2 {
        send(self.addr, Method::GET, path, &[], Bytes::new()).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply2 {
        send(self.addr, Method::GET, path, headers, Bytes::new()).await
    }

    /// A POST to the admin listener with the admin token and a JSON body.
    pub async fn admin_post(&self, path: &str, body: &str) -> Reply2 {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let headers = [
            ("content-type", "application/json"),
            ("authorization", bearer.as_str()),
        ];
        self.admin_send(Method::POST, path, &headers, body).await
    }

    /// A GET from the admin listener with the admin token.
    pub async fn admin_get(&self, path: &str) -> Reply2 {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let headers = [("authorization", bearer.as_str())];
        self.admin_send(Method::GET, path, &headers, "").await
    }

    /// A request to the admin listener, addressed to it by its own address, with `headers`.
    pub async fn admin_send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply2 {
        let host = self.admin.to_string();
        let body = Bytes::from(body.to_owned());
        send_to_host(self.admin, &host, method, path, headers, body).await
    }

    pub async fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await;
        }
    }
}

/// The admin token of [`config`]'s node.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The base config: one plain listener, an admin listener, the access log in the temp dir, a
/// small instance pool, one distribution `site` for every host with origin `main`. `rest`
/// adds behaviors (and may add origins, limits or cache settings before them).
pub fn config(origin: SocketAddr, rest: &str) -> String {
    format!(
        r#"
[node]
id = "test-node"
access_log = "access.log"

[[listeners]]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"
token = "{ADMIN_TOKEN}"

[runtime]
max_instances = 32

[[distributions]]
id = "site"
domains = ["*"]

[distributions.origins.main]
url = "http://{origin}"
connect_timeout_ms = 500
first_byte_timeout_ms = 2000
total_timeout_ms = 3000

{rest}
"#
    )
}

/// A default behavior with one function on `event`.
pub fn with_function(event: &str, fixture: &str, extra: &str) -> String {
    format!(
        r#"
[distributions.default_behavior]
origin = "main"

[[distributions.default_behavior.functions]]
event = "{event}"
function = "{fixture}"
{extra}
"#
    )
}

/// Writes `toml` as node.toml in a temp dir and starts the node.
pub async fn start_node(toml: &str) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(&path, toml).unwrap();
    let config = NodeConfig::load(&path).unwrap_or_else(|error| panic!("config: {error}"));
    let node = RunningNode::start(config)
        .await
        .unwrap_or_else(|error| panic!("start: {error}"));
    TestNode {
        addr: node.listeners()[0],
        admin: node.admin().unwrap(),
        node: Some(node),
        dir,
    }
}

/// A response as the client saw it.
#[derive(Debug, Clone)]
pub struct Reply2 {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply2 {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn x_cache(&self) -> &str {
        self.header("x-cache").unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request for `site.test` on a fresh HTTP/1.1 connection.
pub async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Reply2 {
    send_to_host(addr, "site.test", method, path, headers, body).await
}

/// One request for `host` on a fresh HTTP/1.1 connection.
pub async fn send_to_host(
    addr: SocketAddr,
    host: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Reply2 {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = path.parse().unwrap();
    request
        .headers_mut()
        .insert("host", HeaderValue::from_str(host).unwrap());
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply2 {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// Sends raw bytes and returns everything the server wrote until it closed or went quiet.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match tokio::time::timeout(Duration::from_millis(1500), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 response.
pub fn raw_status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
