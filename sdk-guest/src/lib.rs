//! `wedge-sdk`: write wedge edge functions in Rust.
//!
//! A function is a WebAssembly component (target `wasm32-wasip2`, crate type `cdylib`) that
//! implements one or more of the four hooks — [`ViewerRequest`], [`OriginRequest`],
//! [`OriginResponse`], [`ViewerResponse`] — on a type of its own, and names them in
//! [`export!`]. The component exports exactly those hooks; the node runs each in a fresh,
//! isolated instance per invocation, so nothing survives between requests.
//!
//! A complete function that tags every request on its way in:
//!
//! ```
//! use wedge_sdk::{Error, Request, RequestAction, ViewerRequest};
//!
//! struct Hello;
//!
//! impl ViewerRequest for Hello {
//!     fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
//!         request.headers_mut().set("x-hello", "world");
//!         Ok(RequestAction::Continue(request))
//!     }
//! }
//!
//! wedge_sdk::export!(Hello: viewer_request);
//! ```
//!
//! Inside a hook, [`info!`] and friends write to the node's log tagged with the request id,
//! [`config::get`] reads the function's deploy-time configuration, and [`context::current`]
//! says which hook, distribution and request this is. The ABI underneath is the WIT package
//! `wedge:edge@0.1.0` (see `wit/edge.wit` and docs/abi.md); the generated bindings stay hidden.

// `::wedge_sdk::...` paths in the generated bindings must also resolve inside this crate.
extern crate self as wedge_sdk;

#[doc(hidden)]
#[path = "bindings.rs"]
pub mod __bindings;
pub mod config;
pub mod context;
mod hooks;
mod http;
pub mod log;

pub use hooks::{Error, OriginRequest, OriginResponse, ViewerRequest, ViewerResponse};
pub use http::{Headers, Request, RequestAction, Response};

/// Exports a type's hook implementations from the component.
///
/// Name the type, a colon, and the hooks it implements, each one of `viewer_request`,
/// `origin_request`, `origin_response`, `viewer_response`; the type must implement the matching
/// trait. Use it once per component, at the crate root.
///
/// ```
/// use wedge_sdk::{Error, Request, Response, ViewerResponse};
///
/// struct SecurityHeaders;
///
/// impl ViewerResponse for SecurityHeaders {
///     fn viewer_response(_request: Request, mut response: Response) -> Result<Response, Error> {
///         response.headers_mut().set("strict-transport-security", "max-age=63072000");
///         response.headers_mut().set("x-content-type-options", "nosniff");
///         Ok(response)
///     }
/// }
///
/// wedge_sdk::export!(SecurityHeaders: viewer_response);
/// ```
#[macro_export]
macro_rules! export {
    ($function:ident : $($hook:ident),+ $(,)?) => {
        $( $crate::__export_hook!($function, $hook); )+
    };
}

/// Expands one hook of [`export!`] into wit-bindgen's export macro for that hook's world.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_hook {
    ($function:ident, viewer_request) => {
        $crate::__export_viewer_request_hook_impl!(
            $function with_types_in $crate::__bindings::viewer_request_hook
        );
    };
    ($function:ident, origin_request) => {
        $crate::__export_origin_request_hook_impl!(
            $function with_types_in $crate::__bindings::origin_request_hook
        );
    };
    ($function:ident, origin_response) => {
        $crate::__export_origin_response_hook_impl!(
            $function with_types_in $crate::__bindings::origin_response_hook
        );
    };
    ($function:ident, viewer_response) => {
        $crate::__export_viewer_response_hook_impl!(
            $function with_types_in $crate::__bindings::viewer_response_hook
        );
    };
    ($function:ident, $other:ident) => {
        ::core::compile_error!(::core::concat!(
            "unknown hook `",
            ::core::stringify!($other),
            "`: expected viewer_request, origin_request, origin_response or viewer_response"
        ));
    };
}
