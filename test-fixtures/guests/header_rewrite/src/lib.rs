//! Realistic viewer-request work: reads ten headers, normalises some, strips tracking ones and
//! adds routing hints. The benchmark guest.

use wedge_sdk::{Error, Request, RequestAction, ViewerRequest};

struct HeaderRewrite;

impl ViewerRequest for HeaderRewrite {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        let headers = request.headers_mut();
        let host = headers.get("host").unwrap_or("unknown").to_ascii_lowercase();
        let language = headers
            .get("accept-language")
            .and_then(|value| value.split([',', ';']).next())
            .unwrap_or("en")
            .trim()
            .to_string();
        let mobile = headers
            .get("user-agent")
            .is_some_and(|agent| agent.contains("Mobile"));
        let gzip = headers
            .get("accept-encoding")
            .is_some_and(|value| value.contains("gzip"));
        let has_session = headers
            .get("cookie")
            .is_some_and(|cookie| cookie.contains("session="));
        let forwarded = headers.get("x-forwarded-for").map(str::to_string);
        let _ = (headers.get("accept"), headers.get("referer"));
        headers.remove("x-tracking-id");
        headers.remove("dnt");
        headers.set("host", &host);
        headers.set("x-edge-language", &language);
        headers.set("x-edge-device", if mobile { "mobile" } else { "desktop" });
        headers.set("accept-encoding", if gzip { "gzip" } else { "identity" });
        headers.set("x-edge-session", if has_session { "1" } else { "0" });
        if let Some(forwarded) = forwarded {
            headers.set("x-forwarded-for", format!("{forwarded}, 203.0.113.7"));
        }
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(HeaderRewrite: viewer_request);
