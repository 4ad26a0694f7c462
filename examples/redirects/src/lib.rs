//! redirects (viewer-request): permanent redirects for moved content and invisible URL
//! rewrites, decided at the edge before the cache is consulted.
//!
//! - `/old-blog/<rest>` → 301 to `/blog/<rest>` (query kept);
//! - any path with upper-case letters → 301 to its lower-case form (one canonical URL per page,
//!   one cache entry);
//! - a directory path (`/docs/`) is rewritten to its `index.html`, which the origin serves —
//!   the viewer's URL does not change;
//! - `/latest/<rest>` is rewritten to `/<version>/<rest>`, the version coming from the config
//!   key `latest` (default `v1`), so releasing a version is an alias config change.

use wedge_sdk::{Error, Request, RequestAction, Response, ViewerRequest, config};

struct Redirects;

/// The query part of a URI, with its `?`, or nothing.
fn query_suffix(request: &Request) -> String {
    request.query().map(|q| format!("?{q}")).unwrap_or_default()
}

impl ViewerRequest for Redirects {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        let path = request.path().to_owned();
        let query = query_suffix(&request);
        if let Some(rest) = path.strip_prefix("/old-blog/") {
            let location = format!("/blog/{rest}{query}");
            return Ok(Response::redirect(301, &location).into());
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            let location = format!("{}{query}", path.to_ascii_lowercase());
            return Ok(Response::redirect(301, &location).into());
        }
        let rewritten = if let Some(rest) = path.strip_prefix("/latest/") {
            let version = config::get("latest").unwrap_or_else(|| "v1".to_owned());
            Some(format!("/{version}/{rest}"))
        } else if path.ends_with('/') && path.len() > 1 {
            Some(format!("{path}index.html"))
        } else {
            None
        };
        if let Some(target) = rewritten {
            wedge_sdk::debug!("rewrote {path} to {target}");
            request.set_uri(format!("{target}{query}"));
        }
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(Redirects: viewer_request);
