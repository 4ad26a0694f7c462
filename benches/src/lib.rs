//! Shared pieces of wedge's benchmarks: the benchmark request and the invocation loop.

use wedge_runtime::types::{Header, Request};
use wedge_runtime::{
    Function, Hook, HookInput, InvocationContext, Limits, LimitsSpec, Outcome, Runtime,
};

/// A browser-like request with a dozen headers and a cookie: what the benchmark guest reads
/// and rewrites.
pub fn browser_request() -> Request {
    let headers = [
        ("host", "www.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
        ),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("accept-language", "en-GB,en;q=0.9,de;q=0.7"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        (
            "cookie",
            "session=4f1c2a9e8b7d; theme=dark; _ga=GA1.2.123456789.1700000000",
        ),
        ("referer", "https://www.example.com/"),
        ("x-forwarded-for", "198.51.100.23"),
        ("x-tracking-id", "abc-123"),
        ("dnt", "1"),
        ("sec-fetch-mode", "navigate"),
        ("upgrade-insecure-requests", "1"),
    ];
    Request {
        method: "GET".into(),
        uri: "/products/42?ref=home".into(),
        headers: headers
            .into_iter()
            .map(|(name, value)| Header {
                name: name.into(),
                value: value.as_bytes().to_vec(),
            })
            .collect(),
        client_ip: "198.51.100.23".into(),
        body: None,
    }
}

/// Default viewer-request limits of `runtime`.
pub fn viewer_limits(runtime: &Runtime) -> anyhow::Result<Limits> {
    Ok(runtime.limits(Hook::ViewerRequest, LimitsSpec::default())?)
}

/// One viewer-request invocation with the browser request.
pub async fn invoke_viewer_request(
    function: &Function,
    limits: &Limits,
    context: &InvocationContext,
) -> Outcome {
    function
        .invoke(
            Hook::ViewerRequest,
            HookInput::Request(browser_request()),
            limits,
            context,
        )
        .await
}
