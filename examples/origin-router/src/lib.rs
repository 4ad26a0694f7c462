//! origin-router (origin-request): sends each cache miss to the right origin of the
//! distribution. `/api/*` goes to the origin named `api`; a request with `x-backend: canary`
//! goes to `canary` (for testing a new origin before moving traffic); everything else to the
//! behavior's own origin. The choice is made through the node's `x-wedge-origin` header, which
//! names an origin of the distribution and never leaves the node.

use wedge_sdk::{Error, OriginRequest, Request, RequestAction};

struct OriginRouter;

impl OriginRequest for OriginRouter {
    fn origin_request(mut request: Request) -> Result<RequestAction, Error> {
        let chosen = if request.path().starts_with("/api/") {
            Some("api")
        } else if request.headers().get("x-backend") == Some("canary") {
            Some("canary")
        } else {
            None
        };
        let headers = request.headers_mut();
        headers.remove("x-backend");
        if let Some(origin) = chosen {
            headers.set("x-wedge-origin", origin);
        }
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(OriginRouter: origin_request);
