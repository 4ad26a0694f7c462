//! Answering a viewer's conditional GET or HEAD (RFC 9110 §13) from the response the node is
//! about to send: `If-None-Match` (weak comparison), else `If-Modified-Since`. A match becomes a
//! 304 with the validators and caching fields and no body, so browsers revalidating a cached
//! page cost the node a header block instead of the object.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};

use crate::message::{EdgeRequest, EdgeResponse};

/// Fields a 304 carries over from the 200 it stands for (RFC 9110 §15.4.5), besides the
/// node's own.
const KEPT_ON_304: [header::HeaderName; 6] = [
    header::CACHE_CONTROL,
    header::CONTENT_LOCATION,
    header::DATE,
    header::ETAG,
    header::EXPIRES,
    header::VARY,
];

/// Turns `response` into a 304 if `request`'s preconditions say the viewer's copy is current.
pub(crate) fn answer(request: &EdgeRequest, response: EdgeResponse) -> EdgeResponse {
    let applies = (request.method == Method::GET || request.method == Method::HEAD)
        && response.status == StatusCode::OK;
    if !applies || !not_modified(&request.headers, &response.headers) {
        return response;
    }
    let mut headers = HeaderMap::new();
    for name in KEPT_ON_304
        .iter()
        .chain([header::LAST_MODIFIED, header::AGE].iter())
    {
        for value in response.headers.get_all(name) {
            headers.append(name, value.clone());
        }
    }
    EdgeResponse {
        status: StatusCode::NOT_MODIFIED,
        headers,
        body: Bytes::new(),
    }
}

fn not_modified(request: &HeaderMap, response: &HeaderMap) -> bool {
    if let Some(wanted) = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        let Some(etag) = response.get(header::ETAG).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
        return wanted
            .split(',')
            .any(|tag| tag.trim() == "*" || opaque(tag) == opaque(etag));
    }
    let since = request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok());
    let modified = response
        .get(header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok());
    match (
        since.map(httpdate::parse_http_date),
        modified.map(httpdate::parse_http_date),
    ) {
        (Some(Ok(since)), Some(Ok(modified))) => modified <= since,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    header::HeaderName::from_static(n),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn etags_compare_weakly_and_dates_by_time() {
        let response = headers(&[
            ("etag", "W/\"v1\""),
            ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        assert!(not_modified(
            &headers(&[("if-none-match", "\"v0\", \"v1\"")]),
            &response
        ));
        assert!(!not_modified(
            &headers(&[("if-none-match", "\"v2\"")]),
            &response
        ));
        assert!(not_modified(
            &headers(&[("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")]),
            &response
        ));
        assert!(!not_modified(
            &headers(&[("if-modified-since", "Sat, 05 Nov 1994 08:49:37 GMT")]),
            &response
        ));
        // If-None-Match takes precedence over If-Modified-Since.
        let both = headers(&[
            ("if-none-match", "\"v2\""),
            ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        assert!(!not_modified(&both, &response));
    }
}
