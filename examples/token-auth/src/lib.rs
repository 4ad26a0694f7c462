//! token-auth (viewer-request): only viewers with the right bearer token get through.
//!
//! No `Authorization: Bearer …` header → 401 with `WWW-Authenticate`; a token that is not the
//! configured one → 403. The token is the config key `token`, set as a secret
//! (`wedge config token-auth live --secret token=…`), so it is never listed back or logged;
//! without it every request is refused (fail closed). The header is removed before the request
//! goes on, so the origin and the cache never see it.

use wedge_sdk::{Error, Request, RequestAction, Response, ViewerRequest, config};

struct TokenAuth;

/// Compares without stopping at the first difference, so timing does not reveal the prefix.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refuse(status: u16, message: &str) -> RequestAction {
    let mut response = Response::json(status, format!("{{\"error\":\"{message}\"}}"))
        .with_header("cache-control", "no-store");
    if status == 401 {
        response = response.with_header("www-authenticate", "Bearer realm=\"wedge\"");
    }
    response.into()
}

impl ViewerRequest for TokenAuth {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        let Some(expected) = config::get("token").filter(|t| !t.is_empty()) else {
            wedge_sdk::error!("no `token` is configured: refusing every request");
            return Ok(refuse(403, "access is not configured"));
        };
        let presented = request
            .headers()
            .get("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .map(str::to_owned);
        let Some(presented) = presented else {
            return Ok(refuse(401, "a bearer token is required"));
        };
        if !same(presented.as_bytes(), expected.as_bytes()) {
            wedge_sdk::warn!("wrong token from {}", request.client_ip());
            return Ok(refuse(403, "this token is not allowed"));
        }
        request.headers_mut().remove("authorization");
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(TokenAuth: viewer_request);
