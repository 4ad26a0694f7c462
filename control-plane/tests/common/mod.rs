//! Shared test support: a control plane on 127.0.0.1:0 with one token per role, and a one-shot
//! HTTP/1.1 client.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support; each test binary uses a different subset"
)]

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use wedge_control::ControlPlane;
use wedge_control::config::ControlConfig;

pub const ADMIN: &str = "admin-token-0123456789";
pub const READ: &str = "read-token-0123456789";
pub const NODE: &str = "node-token-0123456789";

pub async fn start(dir: &std::path::Path, max_bytes: usize) -> ControlPlane {
    let path = dir.join("control.toml");
    std::fs::write(
        &path,
        format!(
            r#"listen = "127.0.0.1:0"
data_dir = "data"
max_component_bytes = {max_bytes}
tokens = [
  {{ name = "admin", token = "{ADMIN}", role = "admin" }},
  {{ name = "read", token = "{READ}", role = "read" }},
  {{ name = "node", token = "{NODE}", role = "node" }},
]
"#
        ),
    )
    .unwrap();
    ControlPlane::start(ControlConfig::load(&path).unwrap())
        .await
        .unwrap()
}

pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

pub async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: impl Into<Bytes>,
) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "control");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = sender
        .send_request(request.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply { status, body }
}
