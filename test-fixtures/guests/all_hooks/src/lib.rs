//! Implements all four hooks. Each adds `x-<hook>: <function-name>@<version>` and logs a line;
//! viewer-request also copies the config value `greeting` into `x-greeting` and the request id
//! into `x-request-id`.

use wedge_sdk::{
    Error, OriginRequest, OriginResponse, Request, RequestAction, Response, ViewerRequest,
    ViewerResponse, config, context,
};

struct AllHooks;

fn identity() -> String {
    let invocation = context::current();
    format!("{}@{}", invocation.function_name, invocation.function_version)
}

impl ViewerRequest for AllHooks {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        let invocation = context::current();
        wedge_sdk::info!("viewer-request for {}", request.uri());
        let headers = request.headers_mut();
        headers.set("x-viewer-request", identity());
        headers.set("x-request-id", &invocation.request_id);
        headers.set("x-distribution", &invocation.distribution_id);
        headers.set("x-event", invocation.event_type.as_str());
        headers.set("x-config-entries", config::entries().len().to_string());
        if let Some(greeting) = config::get("greeting") {
            headers.set("x-greeting", greeting);
        }
        Ok(RequestAction::Continue(request))
    }
}

impl OriginRequest for AllHooks {
    fn origin_request(mut request: Request) -> Result<RequestAction, Error> {
        wedge_sdk::debug!("origin-request for {}", request.uri());
        request.headers_mut().set("x-origin-request", identity());
        Ok(RequestAction::Continue(request))
    }
}

impl OriginResponse for AllHooks {
    fn origin_response(_request: Request, mut response: Response) -> Result<Response, Error> {
        wedge_sdk::warn!("origin-response status {}", response.status());
        response.headers_mut().set("x-origin-response", identity());
        Ok(response)
    }
}

impl ViewerResponse for AllHooks {
    fn viewer_response(request: Request, mut response: Response) -> Result<Response, Error> {
        wedge_sdk::error!("viewer-response for {}", request.uri());
        response.headers_mut().set("x-viewer-response", identity());
        Ok(response)
    }
}

wedge_sdk::export!(AllHooks: viewer_request, origin_request, origin_response, viewer_response);
