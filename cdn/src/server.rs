//! Viewer listeners: accept (bounded by the connection limit), TLS handshake, HTTP/1.1 and
//! HTTP/2 on one connection builder with the hardening limits, graceful shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::config::ServerLimits;
use crate::intake::ConnInfo;
use crate::node::NodeInner;
use crate::pipeline;

/// Concurrent HTTP/2 streams per connection.
const MAX_CONCURRENT_STREAMS: u32 = 128;
/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

fn connection_builder(limits: &ServerLimits) -> auto::Builder<TokioExecutor> {
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
        .keep_alive_interval(Some(Duration::from_secs(30)));
    builder
}

/// Accepts connections until shutdown, then drains them up to the grace period.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    node: Arc<NodeInner>,
    connections: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let builder = Arc::new(connection_builder(&node.limits));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
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
        let _ = stream.set_nodelay(true);
        let conn = ConnInfo {
            client_ip: peer.ip(),
            tls: tls.is_some(),
        };
        let watcher = graceful.watcher();
        let builder = Arc::clone(&builder);
        let node = Arc::clone(&node);
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            serve_connection(stream, tls, conn, node, &builder, watcher).await;
        });
    }
    drop(listener);
    let grace = node.limits.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the {grace:?} shutdown grace; closing them");
    }
}

async fn serve_connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    conn: ConnInfo,
    node: Arc<NodeInner>,
    builder: &auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let handshake_timeout = node.limits.header_read_timeout;
    let service = {
        let node = Arc::clone(&node);
        service_fn(move |request| {
            let node = Arc::clone(&node);
            let conn = conn.clone();
            async move { Ok::<_, Infallible>(pipeline::handle(&node, &conn, request).await) }
        })
    };
    let result = match tls {
        None => {
            watcher
                .watch(builder.serve_connection(TokioIo::new(stream), service))
                .await
        }
        Some(acceptor) => {
            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), service))
                        .await
                }
                Ok(Err(error)) => {
                    tracing::debug!("TLS handshake failed: {error}");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            }
        }
    };
    if let Err(error) = result {
        tracing::debug!("connection ended with an error: {error}");
    }
}
