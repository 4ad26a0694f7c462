//! edge-response (viewer-request): responses generated at the edge, with no origin trip.
//!
//! - `GET /edge/whoami` answers JSON about the request: client IP, method, path, the node's
//!   request id and the function version that answered;
//! - with the config key `maintenance` set to `on`, every other path gets a 503 maintenance
//!   page with `Retry-After` (flip it with `wedge config`, no redeploy);
//! - anything else goes on to the cache and the origin.

use wedge_sdk::{Error, Request, RequestAction, Response, ViewerRequest, config};

struct EdgeResponse;

/// Escapes a string for a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const MAINTENANCE_PAGE: &str = "<!doctype html><title>Down for maintenance</title>\
<h1>We'll be right back</h1><p>This site is down for scheduled maintenance.</p>\n";

impl ViewerRequest for EdgeResponse {
    fn viewer_request(request: Request) -> Result<RequestAction, Error> {
        if request.path() == "/edge/whoami" {
            let invocation = wedge_sdk::context::current();
            let body = format!(
                "{{\"client_ip\":{},\"method\":{},\"path\":{},\"request_id\":{},\"function\":{}}}",
                json_string(request.client_ip()),
                json_string(request.method()),
                json_string(request.path()),
                json_string(&invocation.request_id),
                json_string(&format!(
                    "{}@{}",
                    invocation.function_name, invocation.function_version
                )),
            );
            let response = Response::json(200, body).with_header("cache-control", "no-store");
            return Ok(response.into());
        }
        if config::get("maintenance").as_deref() == Some("on") {
            let response = Response::new(503)
                .with_header("content-type", "text/html; charset=utf-8")
                .with_header("retry-after", "300")
                .with_header("cache-control", "no-store")
                .with_body(MAINTENANCE_PAGE);
            return Ok(response.into());
        }
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(EdgeResponse: viewer_request);
