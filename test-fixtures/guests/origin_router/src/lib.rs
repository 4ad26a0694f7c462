//! origin-request work: answers `/generated/*` itself with a response cacheable for 60 s,
//! sends the request to the origin named by the request header `x-pick-origin` (through the
//! node's `x-wedge-origin`), and tags what it forwards with `x-origin-router: 1`.

use wedge_sdk::{Error, OriginRequest, Request, RequestAction, Response};

struct OriginRouter;

impl OriginRequest for OriginRouter {
    fn origin_request(mut request: Request) -> Result<RequestAction, Error> {
        if request.path().starts_with("/generated/") {
            let body = format!("generated for {}", request.path());
            let response = Response::text(200, body).with_header("cache-control", "max-age=60");
            return Ok(RequestAction::Respond(response));
        }
        let pick = request.headers().get("x-pick-origin").map(str::to_owned);
        let headers = request.headers_mut();
        if let Some(origin) = pick {
            headers.set("x-wedge-origin", origin);
        }
        headers.set("x-origin-router", "1");
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(OriginRouter: origin_request);
