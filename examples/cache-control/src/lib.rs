//! cache-control (origin-response): decides how long responses are cached when the origin
//! does not say, and strips what the origin should not have sent to the world.
//!
//! - An origin `cache-control` is kept. Otherwise: fingerprinted static assets (`.css`, `.js`,
//!   images, fonts) get a year and `immutable`; HTML gets 60 s plus a day of
//!   `stale-while-revalidate`; errors get 10 s; anything else 5 minutes.
//! - `server`, `x-powered-by` and every `x-internal-*` header are removed. Because this runs at
//!   origin-response, the cached copy is already clean.

use wedge_sdk::{Error, OriginResponse, Request, Response};

struct CacheControl;

const ASSET_SUFFIXES: &[&str] = &[
    ".css", ".js", ".mjs", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".woff",
    ".woff2", ".ico",
];

fn policy(path: &str, status: u16, content_type: &str) -> &'static str {
    if status >= 400 {
        "public, max-age=10"
    } else if ASSET_SUFFIXES.iter().any(|suffix| path.ends_with(suffix)) {
        "public, max-age=31536000, immutable"
    } else if content_type.starts_with("text/html") {
        "public, max-age=60, stale-while-revalidate=86400"
    } else {
        "public, max-age=300"
    }
}

impl OriginResponse for CacheControl {
    fn origin_response(request: Request, mut response: Response) -> Result<Response, Error> {
        let status = response.status();
        let headers = response.headers_mut();
        if !headers.contains("cache-control") {
            let content_type = headers.get("content-type").unwrap_or("").to_owned();
            headers.set("cache-control", policy(request.path(), status, &content_type));
        }
        let internal: Vec<String> = headers
            .iter()
            .map(|(name, _)| name.to_ascii_lowercase())
            .filter(|name| {
                name == "server" || name == "x-powered-by" || name.starts_with("x-internal-")
            })
            .collect();
        for name in internal {
            headers.remove(&name);
        }
        Ok(response)
    }
}

wedge_sdk::export!(CacheControl: origin_response);
