//! Defaults for everything the config file may leave out. docs/config.md repeats them.

use std::time::Duration;

/// Node id when `[node] id` is absent.
pub const DEFAULT_NODE_ID: &str = "wedge";
/// Connections open at once per node.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10_000;
/// Time a client has to send a request head: the first from accept (TLS handshake and
/// protocol detection included), on HTTP/1.1 each later one from when the connection went idle.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no request in flight for this long is closed (HTTP/2; HTTP/1.1 connections
/// are also bound by the header read timeout while they wait for the next head).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections one client (IPv4 address, IPv6 /64) may hold open before sending a request,
/// once half of the connection limit is in use.
pub const DEFAULT_MAX_FRESH_CONNECTIONS_PER_CLIENT: u32 = 32;
/// Body bytes a viewer may leave unsent for this long before the request is refused (408).
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of request line plus headers (HTTP/1.1 read buffer; HTTP/2 header list).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// Request header fields, as CloudFront's and nginx's order of magnitude.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Bytes of request target (CloudFront allows 8,192).
pub const DEFAULT_MAX_URI_BYTES: usize = 8 * 1024;
/// Bytes of request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Time for a whole request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Time in-flight requests get on shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Cache capacity in bytes.
pub const DEFAULT_CACHE_CAPACITY_BYTES: u64 = 256 * 1024 * 1024;
/// Largest origin body buffered and cached.
pub const DEFAULT_MAX_OBJECT_BYTES: usize = 64 * 1024 * 1024;
/// Error responses without their own freshness are cached this long (CloudFront: 10 s).
pub const DEFAULT_ERROR_TTL: Duration = Duration::from_secs(10);
/// Stale entries are kept this long for revalidation and stale serving.
pub const DEFAULT_STALE_RETENTION: Duration = Duration::from_secs(24 * 3600);
