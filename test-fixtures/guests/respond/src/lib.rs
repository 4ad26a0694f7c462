//! Answers `/hello` at the edge with a generated text response; other requests go on.

use wedge_sdk::{Error, Request, RequestAction, Response, ViewerRequest};

struct Respond;

impl ViewerRequest for Respond {
    fn viewer_request(request: Request) -> Result<RequestAction, Error> {
        if request.path() == "/hello" {
            let response = Response::text(200, "hello from the edge").with_header("x-generated", "1");
            return Ok(RequestAction::Respond(response));
        }
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(Respond: viewer_request);
