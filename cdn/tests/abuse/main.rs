//! The node's abuse catalogue: each test is an attack a hostile viewer, web page, origin or
//! guest made, or a careless operator's mistake, and what must hold afterwards. One line per
//! attack:
//!
//! Connections ([`connections`]):
//! - a TCP connection that never sends a byte is closed at the first-request deadline;
//! - a connection that sends half the HTTP/2 preface and stops is closed at that deadline;
//! - a TLS connection that completes the handshake and says nothing is closed at that deadline;
//! - an HTTP/1.1 keep-alive connection, and an HTTP/2 connection with no stream, left idle are
//!   closed;
//! - one client opening more silent connections than its share gets the extra ones closed;
//! - silent sockets re-opened continuously at twice the connection limit, from several
//!   addresses, do not keep a single normal viewer from being served;
//! - the admin listener closes a silent connection too.
//!
//! Paths ([`paths`]):
//! - `/public/../admin/x`, `/public/%2e%2e/admin/x`, `//admin/x`, `/%61dmin/x` all run the
//!   function guarding `/admin/*`; `/admin%2fx` and a malformed escape are refused (400);
//! - the origin and the cache see the one normalised path.
//!
//! Headers ([`headers`]):
//! - a viewer's `x-forwarded-*`, `x-real-ip` and `forwarded` never reach the origin;
//! - a trusted proxy's chain is believed and extended;
//! - unkeyed viewer headers (`x-original-url`, cookies, user agents) do not reach the origin of
//!   a caching behavior; the origin request policy and the cache key say what does;
//! - what a viewer-request function sets is forwarded.
//!
//! Domains ([`domains`]):
//! - two distributions claiming the same domain are refused, naming both;
//! - the most specific domain pattern wins.
//!
//! The admin listener ([`admin`]):
//! - a cross-site `text/plain` POST, or one without the token, cannot purge;
//! - `/logs` needs the token;
//! - a DNS name rebound to loopback cannot read `/status`, `/metrics` or `/logs`.
//!
//! Guest memory ([`memory`]):
//! - concurrent memory bombs stop at the node's guest memory budget (503 `throttled`) and give
//!   it all back.
//!
//! Requests ([`requests`]):
//! - a stalled request body (short Content-Length, missing last chunk) is a 408, not a 60 s hold;
//! - TRACE is refused unless the behavior allows it;
//! - an absolute-form target, and an HTTP/2 `:authority`, are routed by their authority, not
//!   by a Host field that names another site.
//!
//! Origins ([`origin`]):
//! - a `101` to a plain request is a 502 `origin-protocol`;
//! - a response head over the viewer head limit is a 502 and is never cached.
//!
//! The cache's memory bound is checked in `cache_memory.rs`, alone in its process.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod admin;
mod connections;
mod domains;
mod headers;
mod memory;
mod origin;
mod paths;
mod requests;
