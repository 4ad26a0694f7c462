//! Viewer listeners: the HTTP/1.1 + HTTP/2 connection builder with the hardening limits, served
//! through wedge-listener (admission with shedding, first-request and idle deadlines, TLS,
//! graceful shutdown).

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use wedge_listener::{Admission, AdmissionLimits, Timeouts};

use crate::config::ServerLimits;
use crate::intake::ConnInfo;
use crate::node::NodeInner;
use crate::pipeline;

/// Concurrent HTTP/2 streams per connection.
const MAX_CONCURRENT_STREAMS: u32 = 128;
/// Interval of HTTP/2 pings that detect a dead peer.
const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// The HTTP/1.1 and HTTP/2 settings of viewer connections.
pub(crate) fn connection_builder(limits: &ServerLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(H2_KEEP_ALIVE_INTERVAL));
    builder
}

/// The connection bound shared by all viewer listeners.
pub(crate) fn admission(limits: &ServerLimits) -> Arc<Admission> {
    Arc::new(Admission::new(AdmissionLimits {
        max_connections: limits.max_connections,
        max_fresh_per_client: limits.max_fresh_connections_per_client,
        shed_grace: wedge_listener::shed_grace(limits.header_read_timeout),
    }))
}

/// The connection deadlines of viewer (and admin) listeners.
pub(crate) fn timeouts(limits: &ServerLimits) -> Timeouts {
    Timeouts {
        first_request: limits.header_read_timeout,
        idle: limits.idle_timeout,
        shutdown_grace: limits.shutdown_grace,
    }
}

/// Accepts viewer connections until shutdown, then drains them up to the grace period.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    node: Arc<NodeInner>,
    trusted_proxies: Arc<[ipnet::IpNet]>,
    admission: Arc<Admission>,
    shutdown: watch::Receiver<bool>,
) {
    let builder = Arc::new(connection_builder(&node.limits));
    let timeouts = timeouts(&node.limits);
    let handler = move |request, peer: wedge_listener::Peer| {
        let node = Arc::clone(&node);
        let trusted_proxies = Arc::clone(&trusted_proxies);
        async move {
            let conn = ConnInfo {
                peer_ip: peer.addr.ip(),
                tls: peer.tls,
                trusted_proxies: Arc::clone(&trusted_proxies),
            };
            pipeline::handle(&node, &conn, request).await
        }
    };
    wedge_listener::serve(
        listener, tls, admission, timeouts, builder, handler, shutdown,
    )
    .await;
}
