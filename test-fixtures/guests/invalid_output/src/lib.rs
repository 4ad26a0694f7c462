//! Returns the kind of invalid output its path names: `/status` (status 1000), `/header-name`
//! (a name with a space), `/header-value` (a value with CR LF), `/oversized` (a 100 KB generated
//! response, over the 40 KB viewer cap).

use wedge_sdk::{Error, Request, RequestAction, Response, ViewerRequest};

struct InvalidOutput;

impl ViewerRequest for InvalidOutput {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        let action = match request.path() {
            "/status" => RequestAction::Respond(Response::new(1000)),
            "/header-name" => {
                request.headers_mut().set("bad name", "x");
                RequestAction::Continue(request)
            }
            "/header-value" => {
                request.headers_mut().set("x-split", "a\r\nset-cookie: evil=1");
                RequestAction::Continue(request)
            }
            "/oversized" => RequestAction::Respond(Response::new(200).with_body(vec![b'x'; 100_000])),
            _ => RequestAction::Continue(request),
        };
        Ok(action)
    }
}

wedge_sdk::export!(InvalidOutput: viewer_request);
