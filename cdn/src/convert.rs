//! Edge messages ↔ the WIT records hooks take, applying the per-hook rules on the way back.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use wedge_runtime::types::{Header, Request, Response};
use wedge_runtime::{ErrorClass, Hook};

use crate::error::EdgeError;
use crate::message::{EdgeRequest, EdgeResponse};
use crate::rules;

fn invalid(hook: Hook, detail: impl Into<String>) -> EdgeError {
    EdgeError::function(hook, ErrorClass::InvalidOutput, detail)
}

fn to_guest_headers(headers: &HeaderMap) -> Vec<Header> {
    headers
        .iter()
        .map(|(name, value)| Header {
            name: name.as_str().to_owned(),
            value: value.as_bytes().to_vec(),
        })
        .collect()
}

fn from_guest_headers(hook: Hook, headers: Vec<Header>) -> Result<HeaderMap, EdgeError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for header in headers {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| invalid(hook, format!("bad header name `{}`", header.name)))?;
        let value = HeaderValue::from_bytes(&header.value)
            .map_err(|_| invalid(hook, format!("bad value for header `{name}`")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// The body a hook sees: the whole body when the association includes it and it fits `cap`;
/// otherwise none (the hook then cannot replace it either).
fn visible_body(body: &Bytes, include_body: bool, cap: usize) -> Option<Vec<u8>> {
    (include_body && body.len() <= cap).then(|| body.to_vec())
}

/// The request as a hook gets it.
pub(crate) fn to_guest_request(request: &EdgeRequest, include_body: bool, cap: usize) -> Request {
    Request {
        method: request.method.as_str().to_owned(),
        uri: request.uri.to_string(),
        headers: to_guest_headers(&request.headers),
        client_ip: request.client_ip.to_string(),
        body: visible_body(&request.body, include_body, cap),
    }
}

/// The request a request hook continued with, checked against the one it got.
pub(crate) fn from_guest_request(
    hook: Hook,
    before: &EdgeRequest,
    guest: Request,
    body_visible: bool,
) -> Result<EdgeRequest, EdgeError> {
    let method = Method::from_bytes(guest.method.as_bytes())
        .map_err(|_| invalid(hook, format!("bad method `{}`", guest.method)))?;
    let uri: Uri = guest
        .uri
        .parse()
        .map_err(|_| invalid(hook, format!("bad uri `{}`", guest.uri)))?;
    if uri.scheme().is_some() || uri.authority().is_some() || !guest.uri.starts_with('/') {
        return Err(invalid(hook, format!("uri `{}` is not a path", guest.uri)));
    }
    let headers = from_guest_headers(hook, guest.headers)?;
    rules::check_unchanged(hook, &before.headers, &headers)
        .map_err(|detail| invalid(hook, detail))?;
    let body = match guest.body {
        None => before.body.clone(),
        Some(_) if !body_visible => {
            return Err(invalid(
                hook,
                "the body was replaced but the association does not include it",
            ));
        }
        Some(body) => Bytes::from(body),
    };
    Ok(EdgeRequest {
        method,
        uri,
        headers,
        body,
        client_ip: before.client_ip,
        tls: before.tls,
        forwarded_for: before.forwarded_for.clone(),
        viewer_headers: before.viewer_headers.clone(),
    })
}

/// The response as a response hook gets it.
pub(crate) fn to_guest_response(
    response: &EdgeResponse,
    include_body: bool,
    cap: usize,
) -> Response {
    Response {
        status: response.status.as_u16(),
        headers: to_guest_headers(&response.headers),
        body: visible_body(&response.body, include_body, cap),
    }
}

/// The response a response hook returned, checked against the one it got. A body in it
/// replaces the old body (the runtime has already capped its size). Responses in the node
/// carry no `content-length`; it is set when the response is sent.
pub(crate) fn from_guest_response(
    hook: Hook,
    before: &EdgeResponse,
    guest: Response,
) -> Result<EdgeResponse, EdgeError> {
    let status = StatusCode::from_u16(guest.status)
        .map_err(|_| invalid(hook, format!("bad status {}", guest.status)))?;
    let headers = from_guest_headers(hook, guest.headers)?;
    rules::check_unchanged(hook, &before.headers, &headers)
        .map_err(|detail| invalid(hook, detail))?;
    let body = guest.body.map_or_else(|| before.body.clone(), Bytes::from);
    Ok(EdgeResponse {
        status,
        headers,
        body,
    })
}

/// A response a request hook generated.
pub(crate) fn generated_response(hook: Hook, guest: Response) -> Result<EdgeResponse, EdgeError> {
    let status = StatusCode::from_u16(guest.status)
        .map_err(|_| invalid(hook, format!("bad status {}", guest.status)))?;
    let mut headers = from_guest_headers(hook, guest.headers)?;
    let body = Bytes::from(guest.body.unwrap_or_default());
    rules::check_generated(hook, &headers, body.len()).map_err(|detail| invalid(hook, detail))?;
    headers.remove(http::header::CONTENT_LENGTH);
    Ok(EdgeResponse {
        status,
        headers,
        body,
    })
}
