//! The four hooks a function may implement, and the error a hook may return.

use std::fmt;

use crate::__bindings::{
    origin_request_hook::exports::wedge::edge::origin_request,
    origin_response_hook::exports::wedge::edge::origin_response, types as wit,
    viewer_request_hook::exports::wedge::edge::viewer_request,
    viewer_response_hook::exports::wedge::edge::viewer_response,
};
use crate::{Request, RequestAction, Response};

/// A hook's failure: the invocation fails and the node applies the association's failure policy
/// (by default an error status; see docs/errors.md). The message reaches the node's logs.
///
/// Any error type converts into it with `?`:
///
/// ```
/// use wedge_sdk::Error;
///
/// fn port(text: &str) -> Result<u16, Error> {
///     Ok(text.parse::<u16>()?)
/// }
/// assert!(port("eighty").is_err());
/// assert_eq!(Error::msg("no tenant").to_string(), "no tenant");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self(message.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        Self(error.to_string())
    }
}

/// Runs on every viewer request, before the cache lookup. Return
/// [`RequestAction::Continue`] with the (modified) request, or [`RequestAction::Respond`] to
/// answer at once; a response generated here is not cached.
///
/// ```
/// use wedge_sdk::{Error, Request, RequestAction, Response, ViewerRequest};
///
/// struct Redirects;
///
/// impl ViewerRequest for Redirects {
///     fn viewer_request(request: Request) -> Result<RequestAction, Error> {
///         if request.path() == "/old" {
///             return Ok(Response::redirect(301, "/new").into());
///         }
///         Ok(request.into())
///     }
/// }
/// ```
pub trait ViewerRequest {
    /// Handles one viewer request.
    fn viewer_request(request: Request) -> Result<RequestAction, Error>;
}

/// Runs on a cache miss, before the origin fetch. Return the (modified) request, or a response;
/// a response generated here is cached like an origin response.
///
/// ```
/// use wedge_sdk::{Error, OriginRequest, Request, RequestAction};
///
/// struct ApiPrefix;
///
/// impl OriginRequest for ApiPrefix {
///     fn origin_request(mut request: Request) -> Result<RequestAction, Error> {
///         if let Some(rest) = request.uri().strip_prefix("/api/") {
///             let rewritten = format!("/v2/{rest}");
///             request.set_uri(rewritten);
///             request.headers_mut().set("x-api-version", "2");
///         }
///         Ok(RequestAction::Continue(request))
///     }
/// }
/// ```
pub trait OriginRequest {
    /// Handles one request on its way to the origin.
    fn origin_request(request: Request) -> Result<RequestAction, Error>;
}

/// Runs after the origin answers (errors included), before the response is cached: what it
/// returns is what gets cached. `request` is the one sent to the origin, for reading.
///
/// ```
/// use wedge_sdk::{Error, OriginResponse, Request, Response};
///
/// struct CacheForAnHour;
///
/// impl OriginResponse for CacheForAnHour {
///     fn origin_response(_request: Request, mut response: Response) -> Result<Response, Error> {
///         response.headers_mut().set("cache-control", "public, max-age=3600");
///         response.headers_mut().remove("x-internal-trace");
///         Ok(response)
///     }
/// }
/// ```
pub trait OriginResponse {
    /// Handles one origin response.
    fn origin_response(request: Request, response: Response) -> Result<Response, Error>;
}

/// Runs before every response goes to the viewer, cache hits included. `request` is the
/// viewer's, for reading.
///
/// ```
/// use wedge_sdk::{Error, Request, Response, ViewerResponse};
///
/// struct StickyBucket;
///
/// impl ViewerResponse for StickyBucket {
///     fn viewer_response(request: Request, mut response: Response) -> Result<Response, Error> {
///         if request.cookie("bucket").is_none() {
///             response.headers_mut().append("set-cookie", "bucket=b; Path=/; Max-Age=86400");
///         }
///         Ok(response)
///     }
/// }
/// ```
pub trait ViewerResponse {
    /// Handles one response on its way to the viewer.
    fn viewer_response(request: Request, response: Response) -> Result<Response, Error>;
}

impl<T: ViewerRequest> viewer_request::Guest for T {
    fn handle(request: wit::Request) -> Result<wit::RequestAction, String> {
        T::viewer_request(request.into())
            .map(Into::into)
            .map_err(|error| error.0)
    }
}

impl<T: OriginRequest> origin_request::Guest for T {
    fn handle(request: wit::Request) -> Result<wit::RequestAction, String> {
        T::origin_request(request.into())
            .map(Into::into)
            .map_err(|error| error.0)
    }
}

impl<T: OriginResponse> origin_response::Guest for T {
    fn handle(request: wit::Request, response: wit::Response) -> Result<wit::Response, String> {
        T::origin_response(request.into(), response.into())
            .map(Into::into)
            .map_err(|error| error.0)
    }
}

impl<T: ViewerResponse> viewer_response::Guest for T {
    fn handle(request: wit::Request, response: wit::Response) -> Result<wit::Response, String> {
        T::viewer_response(request.into(), response.into())
            .map(Into::into)
            .map_err(|error| error.0)
    }
}
