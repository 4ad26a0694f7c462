//! Reads and replaces the request body: says in `x-body-seen` whether the body was visible
//! (only when the association includes it) and replaces it with its upper-case form.

use wedge_sdk::{Error, Request, RequestAction, ViewerRequest};

struct BodyUpper;

impl ViewerRequest for BodyUpper {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        let upper = request.body().map(<[u8]>::to_ascii_uppercase);
        request.headers_mut().set("x-body-seen", if upper.is_some() { "yes" } else { "no" });
        if let Some(body) = upper {
            request.set_body(body);
        }
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(BodyUpper: viewer_request);
