//! ab-testing (viewer-request + viewer-response): splits viewers into buckets `a` and `b` and
//! keeps each in its bucket with a cookie.
//!
//! At viewer-request, a viewer with a valid `ab-bucket` cookie keeps its bucket; a new one is
//! assigned one from a hash of the request id, with the share of `b` set by the config key
//! `b_percent` (default 50). The bucket travels to the origin as `x-ab-bucket` (put it in the
//! behavior's cache key: `cache = { headers = ["x-ab-bucket"] }`). At viewer-response, a new
//! viewer gets the sticky `Set-Cookie`, and every response says which bucket served it.

use wedge_sdk::{Error, Request, RequestAction, Response, ViewerRequest, ViewerResponse, config};

struct AbTesting;

/// The cookie that keeps a viewer in its bucket.
const COOKIE: &str = "ab-bucket";

/// The bucket the viewer's cookie names, if it names a valid one.
fn cookie_bucket(request: &Request) -> Option<&str> {
    request
        .cookie(COOKIE)
        .filter(|bucket| matches!(*bucket, "a" | "b"))
}

/// FNV-1a: a small, stable hash to spread request ids over 0..100.
fn percentile(text: &str) -> u32 {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    u32::try_from(hash % 100).unwrap_or(0)
}

impl ViewerRequest for AbTesting {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        let existing = cookie_bucket(&request).map(str::to_owned);
        let bucket = existing.unwrap_or_else(|| {
            let share: u32 = config::get("b_percent")
                .and_then(|v| v.parse().ok())
                .unwrap_or(50);
            let request_id = wedge_sdk::context::current().request_id;
            if percentile(&request_id) < share { "b" } else { "a" }.to_owned()
        });
        request.headers_mut().set("x-ab-bucket", &bucket);
        Ok(RequestAction::Continue(request))
    }
}

impl ViewerResponse for AbTesting {
    fn viewer_response(request: Request, mut response: Response) -> Result<Response, Error> {
        let Some(bucket) = request.headers().get("x-ab-bucket").map(str::to_owned) else {
            return Ok(response);
        };
        let headers = response.headers_mut();
        // The viewer's own cookie header is still on the request: no valid bucket there means
        // a new viewer, who gets the sticky cookie.
        if cookie_bucket(&request).is_none() {
            headers.append(
                "set-cookie",
                format!("{COOKIE}={bucket}; Path=/; Max-Age=2592000; SameSite=Lax; Secure"),
            );
        }
        headers.set("x-ab-bucket", &bucket);
        Ok(response)
    }
}

wedge_sdk::export!(AbTesting: viewer_request, viewer_response);
