//! Adds `x-hello: world` to every request and lets it continue.

use wedge_sdk::{Error, Request, RequestAction, ViewerRequest};

struct Hello;

impl ViewerRequest for Hello {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        request.headers_mut().set("x-hello", "world");
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(Hello: viewer_request);
