//! Validation of what a hook returns: it must be valid HTTP and within the size caps, whatever
//! the guest did to produce it.

use crate::types::{Header, Request, Response};
use crate::{Limits, OutputError};

/// The bytes a status line takes, roughly `HTTP/1.1 200 OK\r\n`, counted into generated-response
/// sizes the way Lambda@Edge counts headers in.
const STATUS_LINE_BYTES: usize = 17;
/// The bytes a header line adds beyond name and value: `: ` and `\r\n`.
const HEADER_LINE_OVERHEAD: usize = 4;

/// Checks a request a request hook continues with.
pub(crate) fn check_request(request: &Request) -> Result<(), OutputError> {
    if !is_token(&request.method) {
        return Err(OutputError::Method(request.method.clone()));
    }
    let uri_ok =
        request.uri.starts_with('/') && request.uri.bytes().all(|byte| byte > b' ' && byte != 0x7f);
    if !uri_ok {
        return Err(OutputError::Uri(request.uri.clone()));
    }
    check_headers(&request.headers)
}

/// Checks a response; `cap` applies when the hook generated the response or replaced its body.
pub(crate) fn check_response(
    response: &Response,
    generated: bool,
    limits: &Limits,
) -> Result<(), OutputError> {
    if !(100..=599).contains(&response.status) {
        return Err(OutputError::Status(response.status));
    }
    check_headers(&response.headers)?;
    if generated || response.body.is_some() {
        let size = response_size(response);
        let limit = limits.max_generated_response_bytes();
        if size > limit {
            return Err(OutputError::GeneratedResponseTooLarge { size, limit });
        }
    }
    Ok(())
}

fn check_headers(headers: &[Header]) -> Result<(), OutputError> {
    for header in headers {
        if !is_token(&header.name) {
            return Err(OutputError::HeaderName(header.name.clone()));
        }
        if header
            .value
            .iter()
            .any(|byte| matches!(byte, b'\0' | b'\r' | b'\n'))
        {
            return Err(OutputError::HeaderValue(header.name.clone()));
        }
    }
    Ok(())
}

fn response_size(response: &Response) -> usize {
    let headers: usize = response
        .headers
        .iter()
        .map(|header| header.name.len() + header.value.len() + HEADER_LINE_OVERHEAD)
        .sum();
    STATUS_LINE_BYTES + headers + response.body.as_ref().map_or(0, Vec::len)
}

/// An RFC 9110 token: one or more tchar.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Hook, LimitsSpec};

    fn header(name: &str, value: &[u8]) -> Header {
        Header {
            name: name.into(),
            value: value.to_vec(),
        }
    }

    fn request(method: &str, uri: &str, headers: Vec<Header>) -> Request {
        Request {
            method: method.into(),
            uri: uri.into(),
            headers,
            client_ip: "192.0.2.1".into(),
            body: None,
        }
    }

    fn viewer_limits() -> Limits {
        Limits::new(Hook::ViewerRequest, LimitsSpec::default(), false)
            .unwrap_or_else(|error| panic!("default limits are valid: {error}"))
    }

    #[test]
    fn requests_must_be_valid_http() {
        let ok = request("GET", "/a?b=c", vec![header("x-ok", b"caf\xc3\xa9\t1")]);
        assert_eq!(check_request(&ok), Ok(()));
        assert_eq!(
            check_request(&request("GE T", "/", vec![])),
            Err(OutputError::Method("GE T".into()))
        );
        assert_eq!(
            check_request(&request("GET", "http://x/", vec![])),
            Err(OutputError::Uri("http://x/".into()))
        );
        assert_eq!(
            check_request(&request("GET", "/a b", vec![])),
            Err(OutputError::Uri("/a b".into()))
        );
        assert_eq!(
            check_request(&request("GET", "/", vec![header("bad name", b"x")])),
            Err(OutputError::HeaderName("bad name".into()))
        );
        assert_eq!(
            check_request(&request("GET", "/", vec![header("x", b"a\r\nb: c")])),
            Err(OutputError::HeaderValue("x".into()))
        );
    }

    #[test]
    fn generated_responses_are_capped_with_headers_counted() {
        let limits = viewer_limits();
        let cap = limits.max_generated_response_bytes();
        let sized = |body: usize| Response {
            status: 200,
            headers: vec![header("content-type", b"text/plain")],
            body: Some(vec![b'x'; body]),
        };
        let overhead = STATUS_LINE_BYTES + "content-type".len() + "text/plain".len() + 4;
        assert_eq!(
            check_response(&sized(cap - overhead), true, &limits),
            Ok(())
        );
        assert_eq!(
            check_response(&sized(cap - overhead + 1), true, &limits),
            Err(OutputError::GeneratedResponseTooLarge {
                size: cap + 1,
                limit: cap
            })
        );
        let status = Response {
            status: 1000,
            headers: vec![],
            body: None,
        };
        assert_eq!(
            check_response(&status, false, &limits),
            Err(OutputError::Status(1000))
        );
    }
}
