//! Requests, responses and headers as a function sees them.

use crate::__bindings::types as wit;

/// An ordered list of header fields with case-insensitive lookup.
///
/// Names are stored in lower case (as HTTP/2 requires); a name may occur more than once, and
/// the order the fields arrived in is kept.
///
/// ```
/// use wedge_sdk::Headers;
///
/// let mut headers = Headers::new();
/// headers.append("Set-Cookie", "a=1");
/// headers.append("set-cookie", "b=2");
/// headers.set("Cache-Control", "no-store");
/// assert_eq!(headers.get("cache-control"), Some("no-store"));
/// assert_eq!(headers.get_all("SET-COOKIE").count(), 2);
/// assert_eq!(headers.remove("set-cookie"), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<wit::Header>);

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The first value of `name` as text, if present and valid UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_bytes(name)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    /// The first value of `name` as raw bytes, if present.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.position(name)
            .map(|index| self.0[index].value.as_slice())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0
            .iter()
            .filter(move |header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value.as_slice())
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get_all(name).next().is_some()
    }

    /// Replaces every value of `name` with `value`, keeping the position of the first one (or
    /// appending when `name` was absent).
    pub fn set(&mut self, name: &str, value: impl AsRef<[u8]>) {
        let value = value.as_ref();
        match self.position(name) {
            Some(first) => {
                self.0[first].value.clear();
                self.0[first].value.extend_from_slice(value);
                let mut index = 0;
                self.0.retain(|header| {
                    let keep = index <= first || !header.name.eq_ignore_ascii_case(name);
                    index += 1;
                    keep
                });
            }
            None => self.append(name, value),
        }
    }

    /// Adds a value for `name` after any existing ones.
    pub fn append(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.0.push(wit::Header {
            name: name.to_ascii_lowercase(),
            value: value.as_ref().to_vec(),
        });
    }

    /// Removes every value of `name` and says how many there were.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.0.len();
        self.0
            .retain(|header| !header.name.eq_ignore_ascii_case(name));
        before - self.0.len()
    }

    /// Every field as (name, value bytes), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0
            .iter()
            .map(|header| (header.name.as_str(), header.value.as_slice()))
    }

    /// The number of fields (repeated names counted each time).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.0
            .iter()
            .position(|header| header.name.eq_ignore_ascii_case(name))
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(fields: I) -> Self {
        let mut headers = Headers::new();
        for (name, value) in fields {
            headers.append(name.as_ref(), value);
        }
        headers
    }
}

/// A viewer's request as it reaches a request hook (or, read-only, a response hook).
///
/// ```
/// use wedge_sdk::Request;
///
/// let mut request = Request::new("GET", "/docs/index.html?lang=en");
/// assert_eq!(request.path(), "/docs/index.html");
/// assert_eq!(request.query(), Some("lang=en"));
/// request.set_uri("/v2/docs/index.html");
/// request.headers_mut().set("x-rewritten", "1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    uri: String,
    headers: Headers,
    client_ip: String,
    body: Option<Vec<u8>>,
}

impl Request {
    /// A request with no headers, no client address and no body; mostly for tests.
    pub fn new(method: impl Into<String>, uri: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            uri: uri.into(),
            headers: Headers::new(),
            client_ip: String::new(),
            body: None,
        }
    }

    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Changes the method.
    pub fn set_method(&mut self, method: impl Into<String>) {
        self.method = method.into();
    }

    /// The request target: path plus optional query.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Changes the request target (path plus optional query).
    pub fn set_uri(&mut self, uri: impl Into<String>) {
        self.uri = uri.into();
    }

    /// The path part of the request target.
    pub fn path(&self) -> &str {
        self.uri.split_once('?').map_or(&self.uri, |(path, _)| path)
    }

    /// The query part of the request target, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.uri.split_once('?').map(|(_, query)| query)
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The header fields, for changing.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The first value of the `cookie` headers' cookie named `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all("cookie")
            .filter_map(|value| std::str::from_utf8(value).ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// The viewer's IP address as text.
    pub fn client_ip(&self) -> &str {
        &self.client_ip
    }

    /// The body, when the association asked for it.
    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// Replaces the body.
    pub fn set_body(&mut self, body: impl Into<Vec<u8>>) {
        self.body = Some(body.into());
    }
}

impl From<wit::Request> for Request {
    fn from(request: wit::Request) -> Self {
        Self {
            method: request.method,
            uri: request.uri,
            headers: Headers(request.headers),
            client_ip: request.client_ip,
            body: request.body,
        }
    }
}

impl From<Request> for wit::Request {
    fn from(request: Request) -> Self {
        Self {
            method: request.method,
            uri: request.uri,
            headers: request.headers.0,
            client_ip: request.client_ip,
            body: request.body,
        }
    }
}

/// A response: from the origin or the cache (in a response hook), or generated by a function.
///
/// ```
/// use wedge_sdk::Response;
///
/// let moved = Response::redirect(301, "https://example.com/new");
/// assert_eq!(moved.headers().get("location"), Some("https://example.com/new"));
///
/// let hello = Response::new(200)
///     .with_header("content-type", "text/plain")
///     .with_body("hello from the edge");
/// assert_eq!(hello.body(), Some(&b"hello from the edge"[..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Headers,
    body: Option<Vec<u8>>,
}

impl Response {
    /// A response with this status, no headers and no body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Headers::new(),
            body: None,
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::new(status)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body.into())
    }

    /// An `application/json` response with an already serialised body.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self::new(status)
            .with_header("content-type", "application/json")
            .with_body(body.into())
    }

    /// A redirect (301, 302, 303, 307 or 308) to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Self::new(status).with_header("location", location)
    }

    /// Adds a header field; for building.
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets the body; for building.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Changes the status code.
    pub fn set_status(&mut self, status: u16) {
        self.status = status;
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The header fields, for changing.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The body, if the hook was given it or it was set.
    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// Replaces the body.
    pub fn set_body(&mut self, body: impl Into<Vec<u8>>) {
        self.body = Some(body.into());
    }
}

impl From<wit::Response> for Response {
    fn from(response: wit::Response) -> Self {
        Self {
            status: response.status,
            headers: Headers(response.headers),
            body: response.body,
        }
    }
}

impl From<Response> for wit::Response {
    fn from(response: Response) -> Self {
        Self {
            status: response.status,
            headers: response.headers.0,
            body: response.body,
        }
    }
}

/// What a request hook decides to do with a request. [`Request`] and [`Response`] convert into
/// it with `.into()`.
///
/// ```
/// use wedge_sdk::{Request, RequestAction, Response};
///
/// fn gate(request: Request) -> RequestAction {
///     if request.headers().contains("authorization") {
///         request.into()
///     } else {
///         Response::text(401, "sign in first").into()
///     }
/// }
/// assert!(matches!(gate(Request::new("GET", "/")), RequestAction::Respond(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestAction {
    /// Go on with this (possibly modified) request.
    Continue(Request),
    /// Answer the viewer with this response instead of going on.
    Respond(Response),
}

impl From<Request> for RequestAction {
    fn from(request: Request) -> Self {
        Self::Continue(request)
    }
}

impl From<Response> for RequestAction {
    fn from(response: Response) -> Self {
        Self::Respond(response)
    }
}

impl From<RequestAction> for wit::RequestAction {
    fn from(action: RequestAction) -> Self {
        match action {
            RequestAction::Continue(request) => Self::Continue(request.into()),
            RequestAction::Respond(response) => Self::Respond(response.into()),
        }
    }
}
