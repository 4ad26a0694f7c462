//! security-headers (viewer-response): adds the security headers every site should send —
//! HSTS, a content security policy, `nosniff`, frame and referrer policies — to every response,
//! cache hits included. The CSP can be replaced per alias with the config key `csp`; a header
//! the origin already set is left alone.

use wedge_sdk::{Error, Request, Response, ViewerResponse, config};

/// The default content security policy: same-origin everything, no plugins, no framing.
const DEFAULT_CSP: &str =
    "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'";

struct SecurityHeaders;

impl ViewerResponse for SecurityHeaders {
    fn viewer_response(_request: Request, mut response: Response) -> Result<Response, Error> {
        let csp = config::get("csp").unwrap_or_else(|| DEFAULT_CSP.to_owned());
        let wanted = [
            (
                "strict-transport-security",
                "max-age=63072000; includeSubDomains; preload",
            ),
            ("content-security-policy", csp.as_str()),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "strict-origin-when-cross-origin"),
            ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
        ];
        let headers = response.headers_mut();
        for (name, value) in wanted {
            if !headers.contains(name) {
                headers.set(name, value);
            }
        }
        Ok(response)
    }
}

wedge_sdk::export!(SecurityHeaders: viewer_response);
