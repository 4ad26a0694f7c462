//! Breaks one of Lambda@Edge's header rules, chosen by path: `/change-host` changes the
//! read-only Host in viewer-request, `/add-via` adds the node-owned Via, `/change-encoding`
//! changes Content-Encoding, read-only in viewer-response. Other paths pass untouched.

use wedge_sdk::{Error, Request, RequestAction, Response, ViewerRequest, ViewerResponse};

struct RuleBreaker;

impl ViewerRequest for RuleBreaker {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        match request.path() {
            "/change-host" => request.headers_mut().set("host", "evil.example"),
            "/add-via" => request.headers_mut().set("via", "1.1 spoofed"),
            _ => {}
        }
        Ok(RequestAction::Continue(request))
    }
}

impl ViewerResponse for RuleBreaker {
    fn viewer_response(request: Request, mut response: Response) -> Result<Response, Error> {
        if request.path() == "/change-encoding" {
            response.headers_mut().set("content-encoding", "br");
        }
        Ok(response)
    }
}

wedge_sdk::export!(RuleBreaker: viewer_request, viewer_response);
