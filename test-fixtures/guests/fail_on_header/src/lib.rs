//! Fails on demand: every hook fails with a guest error when the request header `x-fail`
//! names it (or is `all`), and otherwise marks the message with `x-<hook>: ok`. Drives the
//! node's failure-policy tests for each hook.

use wedge_sdk::{
    Error, OriginRequest, OriginResponse, Request, RequestAction, Response, ViewerRequest,
    ViewerResponse,
};

struct FailOnHeader;

fn should_fail(request: &Request, hook: &str) -> bool {
    request
        .headers()
        .get("x-fail")
        .is_some_and(|value| value.split(',').any(|v| v.trim() == hook || v.trim() == "all"))
}

fn check(request: &Request, hook: &str) -> Result<(), Error> {
    if should_fail(request, hook) {
        return Err(Error::msg(format!("{hook} failed on request")));
    }
    Ok(())
}

impl ViewerRequest for FailOnHeader {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        check(&request, "viewer-request")?;
        request.headers_mut().set("x-viewer-request", "ok");
        Ok(RequestAction::Continue(request))
    }
}

impl OriginRequest for FailOnHeader {
    fn origin_request(mut request: Request) -> Result<RequestAction, Error> {
        check(&request, "origin-request")?;
        request.headers_mut().set("x-origin-request", "ok");
        Ok(RequestAction::Continue(request))
    }
}

impl OriginResponse for FailOnHeader {
    fn origin_response(request: Request, mut response: Response) -> Result<Response, Error> {
        check(&request, "origin-response")?;
        response.headers_mut().set("x-origin-response", "ok");
        Ok(response)
    }
}

impl ViewerResponse for FailOnHeader {
    fn viewer_response(request: Request, mut response: Response) -> Result<Response, Error> {
        check(&request, "viewer-response")?;
        response.headers_mut().set("x-viewer-response", "ok");
        Ok(response)
    }
}

wedge_sdk::export!(FailOnHeader: viewer_request, origin_request, origin_response, viewer_response);
