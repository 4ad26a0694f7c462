//! An origin on 127.0.0.1 that records every request and answers as its handler says.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// A request as the origin received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: Method,
    /// The request target.
    pub uri: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Recorded {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the origin answers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// How long to wait before answering.
    pub delay: Duration,
}

impl Reply {
    /// 200 with a text body.
    pub fn ok(body: &str) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Bytes::from(body.to_owned()),
            delay: Duration::ZERO,
        }
    }

    /// With this status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// With one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Answering after `delay`.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// An origin on 127.0.0.1 with a handler; counts and records every request.
pub struct Origin {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Every request it received, in order.
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    hits: Arc<AtomicUsize>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Origin {
    /// Starts on 127.0.0.1, port 0, answering each request with `handler`.
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

    /// How many requests it received.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The last request it received.
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
