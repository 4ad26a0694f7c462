//! The node's one error type: every failure on the request path ends as an [`EdgeError`], whose
//! [`status`](EdgeError::status) is the single status mapping (docs/errors.md).

use http::StatusCode;
use wedge_runtime::{ErrorClass, Hook};

/// Who caused a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// The viewer's request broke a limit or was malformed.
    Viewer,
    /// A guest function failed or broke a rule.
    Function,
    /// The origin could not be reached or misbehaved.
    Origin,
    /// The node itself.
    Internal,
}

impl ErrorSource {
    /// The source as a short name for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorSource::Viewer => "viewer",
            ErrorSource::Function => "function",
            ErrorSource::Origin => "origin",
            ErrorSource::Internal => "internal",
        }
    }
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed (bad framing, bad target): 400.
    BadRequest,
    /// No distribution answers for the Host: 421.
    UnknownHost,
    /// A method a cache does not proxy (CONNECT): 405.
    MethodNotAllowed,
    /// The request target is longer than `limits.max_uri_bytes`: 414.
    UriTooLong,
    /// The body is longer than `limits.max_body_bytes`: 413.
    BodyTooLarge,
    /// The body stalled: no byte for `limits.body_read_timeout`: 408.
    BodyTimeout,
    /// The whole request ran past `limits.request_timeout`: 504.
    RequestTimeout,
    /// A function failed on `hook` with `class` (a runtime class, or `invalid-output` for a
    /// broken header rule): 502 for invalid output or a missing hook, 500 internal, else 503.
    Function {
        /// The hook that failed.
        hook: Hook,
        /// The runtime's error class.
        class: ErrorClass,
    },
    /// The origin refused the connection or its name did not resolve: 502.
    OriginUnreachable,
    /// The origin did not connect, answer or finish in time: 504.
    OriginTimeout,
    /// The origin broke HTTP, the TLS handshake failed, or the body was cut short: 502.
    OriginProtocol,
    /// The origin's body is larger than `cache.max_object_bytes`: 502.
    OriginBodyTooLarge,
    /// A bug or environment failure in the node: 500.
    Internal,
}

/// A failure on the request path, with a human-readable detail for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Why, for the log (never sent to the viewer).
    pub detail: String,
}

impl EdgeError {
    /// An error of `kind` with `detail`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    /// A function failure.
    pub fn function(hook: Hook, class: ErrorClass, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Function { hook, class }, detail)
    }

    /// Who caused it.
    pub fn blame(&self) -> ErrorSource {
        match self.kind {
            ErrorKind::BadRequest
            | ErrorKind::UnknownHost
            | ErrorKind::MethodNotAllowed
            | ErrorKind::UriTooLong
            | ErrorKind::BodyTooLarge
            | ErrorKind::BodyTimeout
            | ErrorKind::RequestTimeout => ErrorSource::Viewer,
            ErrorKind::Function { .. } => ErrorSource::Function,
            ErrorKind::OriginUnreachable
            | ErrorKind::OriginTimeout
            | ErrorKind::OriginProtocol
            | ErrorKind::OriginBodyTooLarge => ErrorSource::Origin,
            ErrorKind::Internal => ErrorSource::Internal,
        }
    }

    /// The status the viewer gets: the one mapping, documented in docs/errors.md.
    pub fn status(&self) -> StatusCode {
        match &self.kind {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::UnknownHost => StatusCode::MISDIRECTED_REQUEST,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::UriTooLong => StatusCode::URI_TOO_LONG,
            ErrorKind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::RequestTimeout | ErrorKind::OriginTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::Function { class, .. } => match class {
                ErrorClass::InvalidOutput | ErrorClass::HookNotExported => StatusCode::BAD_GATEWAY,
                ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            },
            ErrorKind::OriginUnreachable
            | ErrorKind::OriginProtocol
            | ErrorKind::OriginBodyTooLarge => StatusCode::BAD_GATEWAY,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The class name for the `x-wedge-error` header, logs and metrics: the runtime's class
    /// for function failures, else the kind in kebab case.
    pub fn class(&self) -> &'static str {
        match &self.kind {
            ErrorKind::Function { class, .. } => class.as_str(),
            _ => self.kind_name(),
        }
    }

    fn kind_name(&self) -> &'static str {
        match &self.kind {
            ErrorKind::BadRequest => "bad-request",
            ErrorKind::UnknownHost => "unknown-host",
            ErrorKind::MethodNotAllowed => "method-not-allowed",
            ErrorKind::UriTooLong => "uri-too-long",
            ErrorKind::BodyTooLarge => "body-too-large",
            ErrorKind::BodyTimeout => "body-timeout",
            ErrorKind::RequestTimeout => "request-timeout",
            ErrorKind::Function { .. } => "function",
            ErrorKind::OriginUnreachable => "origin-unreachable",
            ErrorKind::OriginTimeout => "origin-timeout",
            ErrorKind::OriginProtocol => "origin-protocol",
            ErrorKind::OriginBodyTooLarge => "origin-body-too-large",
            ErrorKind::Internal => "internal",
        }
    }
}

impl std::fmt::Display for EdgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.class(),
            self.blame().as_str(),
            self.detail
        )
    }
}

impl std::error::Error for EdgeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mapping_covers_every_source() {
        let cases = [
            (ErrorKind::BodyTooLarge, 413, ErrorSource::Viewer),
            (ErrorKind::UriTooLong, 414, ErrorSource::Viewer),
            (ErrorKind::BodyTimeout, 408, ErrorSource::Viewer),
            (ErrorKind::UnknownHost, 421, ErrorSource::Viewer),
            (ErrorKind::RequestTimeout, 504, ErrorSource::Viewer),
            (ErrorKind::OriginUnreachable, 502, ErrorSource::Origin),
            (ErrorKind::OriginTimeout, 504, ErrorSource::Origin),
            (
                ErrorKind::Function {
                    hook: Hook::ViewerRequest,
                    class: ErrorClass::InvalidOutput,
                },
                502,
                ErrorSource::Function,
            ),
            (
                ErrorKind::Function {
                    hook: Hook::OriginRequest,
                    class: ErrorClass::Timeout,
                },
                503,
                ErrorSource::Function,
            ),
            (
                ErrorKind::Function {
                    hook: Hook::ViewerResponse,
                    class: ErrorClass::ConcurrencyLimit,
                },
                503,
                ErrorSource::Function,
            ),
            (ErrorKind::Internal, 500, ErrorSource::Internal),
        ];
        for (kind, status, source) in cases {
            let error = EdgeError::new(kind, "x");
            assert_eq!(error.status().as_u16(), status, "{error}");
            assert_eq!(error.blame(), source, "{error}");
        }
    }
}
