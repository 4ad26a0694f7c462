//! wedge-listener: how wedge's HTTP listeners (the node's viewer and admin listeners, the
//! control plane's API) accept and hold connections, so that silent or slow clients cannot
//! take the server away from everyone else.
//!
//! - **Admission** ([`Admission`]): a bound on open connections shared by a set of listeners.
//!   At the bound the oldest connection that has not sent a request yet is shed (else the one
//!   idle the longest); a client (an IPv4 address, an IPv6 /64) may hold only so many such
//!   fresh connections at once.
//! - **Deadlines** ([`Timeouts`]): a connection must deliver its first request head within
//!   `first_request` of accept, whatever the protocol (TLS handshake, HTTP/2 preface and
//!   protocol sniffing included), and is closed after `idle` with no request in flight
//!   (HTTP/1.1 keep-alive and HTTP/2 alike). A request is in flight from its head until its
//!   response body has been sent, so long polls and downloads are never cut as idle.
//! - **Shutdown**: on the shutdown signal, stop accepting, let connections finish for the
//!   grace period, then close what is left.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use wedge_listener::{Admission, AdmissionLimits, Timeouts};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let admission = Arc::new(Admission::new(AdmissionLimits {
//!     max_connections: 100,
//!     max_fresh_per_client: 8,
//!     shed_grace: wedge_listener::shed_grace(Duration::from_secs(5)),
//! }));
//! let timeouts = Timeouts {
//!     first_request: Duration::from_secs(5),
//!     idle: Duration::from_secs(30),
//!     shutdown_grace: Duration::from_secs(1),
//! };
//! let builder = hyper_util::server::conn::auto::Builder::new(
//!     hyper_util::rt::TokioExecutor::new(),
//! );
//! let (_stop, stopped) = tokio::sync::watch::channel(false);
//! wedge_listener::serve(
//!     listener, None, admission, timeouts, Arc::new(builder),
//!     |_request, _peer| async { http::Response::new(String::from("hello\n")) },
//!     stopped,
//! )
//! .await;
//! # Ok(()) }
//! ```

mod admission;
mod heard;
mod tracked;

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

pub use admission::{Admission, AdmissionLimits, Admitted, ClientKey, Refusal, SILENT_SHED_GRACE};
pub use tracked::TrackedBody;

use admission::Closed;
use heard::HeardStream;

/// The longest a new connection is protected from shedding; see [`shed_grace`].
pub const MAX_SHED_GRACE: Duration = Duration::from_secs(1);

/// How long a new connection is protected from shedding when clients get `first_request` to
/// send their first request: long enough for a slow client's TLS handshake and request
/// ([`MAX_SHED_GRACE`]), never longer than the deadline itself.
pub fn shed_grace(first_request: Duration) -> Duration {
    first_request.min(MAX_SHED_GRACE)
}

/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The deadlines of a listener's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From accept to the first complete request head (TLS handshake included).
    pub first_request: Duration,
    /// With no request in flight for this long, the connection is closed.
    pub idle: Duration,
    /// On shutdown, how long open connections get to finish before they are closed.
    pub shutdown_grace: Duration,
}

/// The connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// Accepts connections on `listener` until `shutdown` turns true, serving each request with
/// `handler` under `admission` and `timeouts`; then drains as [`Timeouts::shutdown_grace`]
/// allows and returns.
pub async fn serve<H, F, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    admission: Arc<Admission>,
    timeouts: Timeouts,
    builder: Arc<auto::Builder<TokioExecutor>>,
    handler: H,
    mut shutdown: watch::Receiver<bool>,
) where
    H: Fn(Request<Incoming>, Peer) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!("accept failed: {error}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let admitted = tokio::select! {
            admitted = admission.admit(ClientKey::of(addr.ip())) => admitted,
            _ = shutdown.changed() => break,
        };
        let admitted = match admitted {
            Ok(admitted) => Arc::new(admitted),
            Err(Refusal::TooManyFresh) => {
                tracing::debug!(%addr, "connection refused: too many fresh connections from this client");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let peer = Peer {
            addr,
            tls: tls.is_some(),
        };
        let connection = Connection {
            admitted,
            timeouts,
            builder: Arc::clone(&builder),
            watcher: graceful.watcher(),
        };
        connections.spawn(connection.run(stream, tls.clone(), peer, handler.clone()));
    }
    drop(listener);
    let grace = timeouts.shutdown_grace;
    if !grace.is_zero()
        && tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
    {
        tracing::warn!("connections still open after the {grace:?} shutdown grace; closing them");
    }
    connections.shutdown().await;
}

/// One admitted connection and what it is served with.
struct Connection {
    admitted: Arc<Admitted>,
    timeouts: Timeouts,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
}

impl Connection {
    /// Serves the connection until the client closes it, an error ends it, or its watchdog
    /// closes it (shed, no first request in time, idle).
    async fn run<H, F, B>(self, stream: TcpStream, tls: Option<TlsAcceptor>, peer: Peer, handler: H)
    where
        H: Fn(Request<Incoming>, Peer) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<B>> + Send + 'static,
        B: Body + Send + Unpin + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let Self {
            admitted,
            timeouts,
            builder,
            watcher,
        } = self;
        let watchdog = admitted.close_reason(timeouts.first_request, timeouts.idle);
        let stream = HeardStream::new(stream, Arc::clone(&admitted));
        let served = async {
            let admitted = Arc::clone(&admitted);
            match tls {
                None => serve_http(stream, &builder, watcher, admitted, peer, handler).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => {
                        serve_http(stream, &builder, watcher, admitted, peer, handler).await;
                    }
                    Err(error) => tracing::debug!(%peer.addr, "TLS handshake failed: {error}"),
                },
            }
        };
        tokio::select! {
            () = served => {}
            closed = watchdog => match closed {
                Closed::Shed => tracing::debug!(%peer.addr, "connection shed at the limit"),
                Closed::NoRequest => tracing::debug!(%peer.addr, "no request in time; connection closed"),
                Closed::Idle => tracing::debug!(%peer.addr, "idle connection closed"),
            },
        }
    }
}

/// HTTP/1.1 or HTTP/2 on `io`, each request marked in flight on `admitted` until its response
/// body is sent.
async fn serve_http<I, H, F, B>(
    io: I,
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    admitted: Arc<Admitted>,
    peer: Peer,
    handler: H,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>, Peer) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let service = service_fn(move |request| {
        let guard = admitted.begin_request();
        let response = handler(request, peer);
        async move {
            let response = response.await;
            Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, guard)))
        }
    });
    let connection = builder.serve_connection(TokioIo::new(io), service);
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%peer.addr, "connection ended with an error: {error}");
    }
}
