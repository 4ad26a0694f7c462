//! The life of a request, as one linear story (ARCHITECTURE.md):
//!
//! ```text
//! intake -> route -> 1 viewer-request -> 2 cache lookup -> 3 origin-request (miss only)
//!        -> 4 origin fetch + origin-response, store -> 5 viewer-response -> 6 finish
//! ```
//!
//! Every failure becomes an [`EdgeError`] and goes to [`finish`] like a success does.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use wedge_runtime::Hook;

use crate::access_log::RequestLine;
use crate::cache::flight::{self, Join};
use crate::cache::{CacheKey, Entry, Freshness, PurgeTarget};
use crate::conditional;
use crate::config::FailurePolicy;
use crate::error::{EdgeError, ErrorKind};
use crate::hooks::{self, HookFailure, RequestOutcome};
use crate::intake::{self, ConnInfo};
use crate::message::{EdgeRequest, EdgeResponse};
use crate::node::NodeInner;
use crate::rules::ORIGIN_SELECT_HEADER;
use crate::state::{Behavior, Distribution};
use crate::trace::{CacheStatus, OriginRecord, Trace};

/// Serves one viewer request; never fails: errors become responses.
pub(crate) async fn handle(
    node: &Arc<NodeInner>,
    conn: &ConnInfo,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let mut trace = Trace::new(node.next_request_id());
    let method = request.method().clone();
    let target = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_default();
    let host = intake::host_of(&request).to_owned();
    let protocol = match request.version() {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    };

    let served = tokio::time::timeout(
        node.limits.request_timeout,
        serve(node, conn, request, &mut trace),
    )
    .await;
    let response = match served {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => error_response(error, &mut trace),
        Err(_) => {
            let error = EdgeError::new(
                ErrorKind::RequestTimeout,
                format!("no response within {:?}", node.limits.request_timeout),
            );
            error_response(error, &mut trace)
        }
    };
    let line = RequestLine {
        method: &method,
        host: &host,
        uri: &target,
        client_ip: trace.client_ip.unwrap_or(conn.peer_ip),
        protocol,
    };
    finish(node, &line, &trace, response, started)
}

/// Intake, routing, and the hooks around the cache.
async fn serve(
    node: &Arc<NodeInner>,
    conn: &ConnInfo,
    request: Request<Incoming>,
    trace: &mut Trace,
) -> Result<EdgeResponse, EdgeError> {
    let request = intake::read_request(request, conn, &node.limits).await?;
    trace.client_ip = Some(request.client_ip);
    let state = node.state.load();
    let distribution = state.distribution(request.host()).ok_or_else(|| {
        EdgeError::new(
            ErrorKind::UnknownHost,
            format!("no distribution for host `{}`", request.host()),
        )
    })?;
    let behavior = distribution.behavior(request.path());
    trace.distribution = Some(Arc::clone(&distribution.id));
    trace.behavior = Some(Arc::clone(&behavior.name));
    if request.method == Method::TRACE && !behavior.allow_trace {
        // TRACE echoes the request (cookies, credentials) back: a cross-site tracing aid.
        return Err(EdgeError::new(
            ErrorKind::MethodNotAllowed,
            "TRACE is not allowed on this behavior",
        ));
    }
    let route = Route {
        node: Arc::clone(node),
        distribution: Arc::clone(distribution),
        behavior: Arc::clone(behavior),
    };
    drop(state);
    route.around_cache(request, trace).await
}

/// One request's distribution and behavior, owned so background revalidation can keep them.
#[derive(Clone)]
struct Route {
    node: Arc<NodeInner>,
    distribution: Arc<Distribution>,
    behavior: Arc<Behavior>,
}

impl Route {
    /// Steps 1 to 5.
    async fn around_cache(
        &self,
        request: EdgeRequest,
        trace: &mut Trace,
    ) -> Result<EdgeResponse, EdgeError> {
        // 1 viewer-request: may change the request or answer (a generated answer is not cached).
        let request = match self.behavior.association(Hook::ViewerRequest) {
            None => request,
            Some(association) => {
                match hooks::run_request_hook(association, &request, trace).await {
                    Ok(RequestOutcome::Continue(changed)) => changed_by_function(changed, request),
                    Ok(RequestOutcome::Respond(generated)) => {
                        trace.cache = CacheStatus::Generated;
                        return self.viewer_response(&request, generated, trace).await;
                    }
                    Err(failure) => match failure.policy {
                        FailurePolicy::Bypass => bypassed(request, failure, trace),
                        _ => return self.stale_or_fail(&request, failure, None, trace),
                    },
                }
            }
        };
        // 2-4: the cache, or straight to the origin for what cannot be cached.
        let response = if request.is_cacheable_method() && self.behavior.cache.enabled {
            self.through_cache(&request, trace).await?
        } else {
            trace.cache = CacheStatus::Pass;
            self.pass(&request, trace).await?
        };
        // 5 viewer-response: on hits and misses alike; then the viewer's own preconditions.
        let response = self.viewer_response(&request, response, trace).await?;
        Ok(conditional::answer(&request, response))
    }

    /// 2: lookup; a fresh hit is served, a miss goes to the origin once per key at a time.
    async fn through_cache(
        &self,
        request: &EdgeRequest,
        trace: &mut Trace,
    ) -> Result<EdgeResponse, EdgeError> {
        let key = CacheKey::new(&self.distribution.id, &self.behavior.cache, request);
        let cache = &self.node.cache;
        let mut stale = None;
        for attempt in 0..2 {
            let now = self.node.clock.now();
            if let Some(entry) = cache.lookup(&key, request, now) {
                match entry.freshness(now) {
                    Freshness::Fresh => {
                        trace.cache = CacheStatus::Hit;
                        return Ok(from_cache(&entry, now));
                    }
                    Freshness::StaleWhileRevalidate => {
                        self.revalidate_in_background(&key, request, Arc::clone(&entry), trace);
                        trace.cache = CacheStatus::StaleHit;
                        return Ok(from_cache(&entry, now));
                    }
                    Freshness::Stale => stale = Some(entry),
                }
            }
            if attempt == 0 {
                match cache.flights().join(&key.primary) {
                    Join::Leader(_flight) => return self.fill(&key, request, stale, trace).await,
                    Join::Follower(leader) => flight::wait(leader).await,
                }
            }
        }
        // The leader's response could not be stored (or it failed): fetch for ourselves.
        self.fill(&key, request, stale, trace).await
    }

    /// 3 and 4 for a cacheable request: origin-request, a (conditional) fetch, origin-response,
    /// store. `stale` is the stored variant, if any, for revalidation and stale serving.
    async fn fill(
        &self,
        key: &CacheKey,
        request: &EdgeRequest,
        stale: Option<Arc<Entry>>,
        trace: &mut Trace,
    ) -> Result<EdgeResponse, EdgeError> {
        let cache = &self.node.cache;
        let mut outgoing = request.clone();
        outgoing.method = Method::GET; // HEAD is served from a stored GET
        for name in [
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            header::IF_MATCH,
            header::IF_UNMODIFIED_SINCE,
            header::IF_RANGE,
            header::RANGE,
        ] {
            outgoing.headers.remove(name);
        }
        let (outgoing, origin_name) =
            match self.origin_request(outgoing, stale.clone(), trace).await? {
                OriginStep::Forward(outgoing, origin) => (outgoing, origin),
                OriginStep::Answer(response, status) => {
                    trace.cache = status;
                    if status == CacheStatus::Generated {
                        cache.store(
                            key,
                            request,
                            &response,
                            &self.behavior.cache,
                            self.node.clock.now(),
                        );
                    }
                    return Ok(response);
                }
            };
        let now = self.node.clock.now();
        let conditional = stale
            .as_ref()
            .filter(|entry| entry.has_validator())
            .map(|entry| cache.revalidation_headers(entry, &outgoing, now))
            .unwrap_or_default();
        let revalidating = !conditional.is_empty();
        let fetched = self
            .fetch(&origin_name, &outgoing, conditional, trace)
            .await;
        let now = self.node.clock.now();
        let usable_stale = stale.as_ref().filter(|entry| entry.serves_on_error(now));
        let response = match fetched {
            Err(error) => {
                let Some(entry) = usable_stale else {
                    return Err(error);
                };
                trace.cache = CacheStatus::StaleIfError;
                trace.error = Some(error);
                return Ok(from_cache(entry, now));
            }
            Ok(response) if response.status.is_server_error() && usable_stale.is_some() => {
                trace.cache = CacheStatus::StaleIfError;
                return Ok(usable_stale
                    .map(|entry| from_cache(entry, now))
                    .unwrap_or(response));
            }
            Ok(response) if response.status == StatusCode::NOT_MODIFIED && revalidating => {
                let refreshed = stale.as_ref().and_then(|entry| {
                    cache.refresh(key, request, entry, &response, &self.behavior.cache, now)
                });
                if let Some(entry) = refreshed {
                    trace.cache = CacheStatus::RefreshHit;
                    return Ok(from_cache(&entry, now));
                }
                // The 304 does not match what is stored: fetch the whole response instead.
                self.fetch(&origin_name, &outgoing, HeaderMap::new(), trace)
                    .await?
            }
            Ok(response) => response,
        };
        let response = self
            .origin_response(&outgoing, response, stale, trace)
            .await?;
        if trace.cache != CacheStatus::StaleOnFunctionError {
            trace.cache = CacheStatus::Miss;
            cache.store(
                key,
                request,
                &response,
                &self.behavior.cache,
                self.node.clock.now(),
            );
        }
        Ok(response)
    }

    /// 3 and 4 for what is not cached (other methods, caching disabled).
    async fn pass(
        &self,
        request: &EdgeRequest,
        trace: &mut Trace,
    ) -> Result<EdgeResponse, EdgeError> {
        let (outgoing, origin_name) =
            match self.origin_request(request.clone(), None, trace).await? {
                OriginStep::Forward(outgoing, origin) => (outgoing, origin),
                OriginStep::Answer(response, status) => {
                    trace.cache = status;
                    return Ok(response);
                }
            };
        let response = self
            .fetch(&origin_name, &outgoing, HeaderMap::new(), trace)
            .await?;
        let response = self
            .origin_response(&outgoing, response, None, trace)
            .await?;
        if !request.method.is_safe()
            && (response.status.is_success() || response.status.is_redirection())
        {
            // RFC 9111 §4.4: a successful unsafe request invalidates what is stored for its URI.
            self.node.cache.purge(
                Some(&self.distribution.id),
                &PurgeTarget::Path(request.path().to_owned()),
            );
        }
        Ok(response)
    }

    /// 3: origin-request may change the request, pick another origin, or answer.
    async fn origin_request(
        &self,
        request: EdgeRequest,
        stale: Option<Arc<Entry>>,
        trace: &mut Trace,
    ) -> Result<OriginStep, EdgeError> {
        let default_origin = self.behavior.origin.config.name.clone();
        let Some(association) = self.behavior.association(Hook::OriginRequest) else {
            return Ok(OriginStep::Forward(request, default_origin));
        };
        match hooks::run_request_hook(association, &request, trace).await {
            Ok(RequestOutcome::Respond(generated)) => {
                Ok(OriginStep::Answer(generated, CacheStatus::Generated))
            }
            Ok(RequestOutcome::Continue(changed)) => {
                let mut changed = changed_by_function(changed, request);
                let origin = match changed.headers.remove(ORIGIN_SELECT_HEADER) {
                    None => default_origin,
                    Some(name) => {
                        let name = name.to_str().unwrap_or_default().to_owned();
                        if !self.distribution.origins.contains_key(&name) {
                            return Err(EdgeError::function(
                                Hook::OriginRequest,
                                wedge_runtime::ErrorClass::InvalidOutput,
                                format!("{ORIGIN_SELECT_HEADER}: no origin named `{name}`"),
                            ));
                        }
                        name
                    }
                };
                Ok(OriginStep::Forward(changed, origin))
            }
            Err(failure) => match failure.policy {
                FailurePolicy::Bypass => Ok(OriginStep::Forward(
                    bypassed(request, failure, trace),
                    default_origin,
                )),
                _ => self
                    .stale_or_fail(&request, failure, stale, trace)
                    .map(|response| {
                        OriginStep::Answer(response, CacheStatus::StaleOnFunctionError)
                    }),
            },
        }
    }

    /// 4: the origin exchange itself.
    async fn fetch(
        &self,
        origin_name: &str,
        request: &EdgeRequest,
        conditional: HeaderMap,
        trace: &mut Trace,
    ) -> Result<EdgeResponse, EdgeError> {
        let origin = self.distribution.origins.get(origin_name).ok_or_else(|| {
            EdgeError::new(
                ErrorKind::Internal,
                format!("origin `{origin_name}` vanished"),
            )
        })?;
        let mut extra = conditional;
        extra.append(header::VIA, self.node.via.clone());
        // The node's own forwarding headers, never a viewer's (intake dropped those).
        let forwarded_for = match &request.forwarded_for {
            Some(chain) => Some(chain.clone()),
            None => HeaderValue::from_str(&request.client_ip.to_string()).ok(),
        };
        if let Some(value) = forwarded_for {
            extra.insert("x-forwarded-for", value);
        }
        extra.insert(
            "x-forwarded-proto",
            HeaderValue::from_static(if request.tls { "https" } else { "http" }),
        );
        // The origin's logs can name the request the node's logs name.
        if let Ok(id) = HeaderValue::from_str(&trace.request_id) {
            extra.insert("x-wedge-request-id", id);
        }
        // What reaches the origin is what the behavior's origin request policy forwards.
        let behavior = &self.behavior;
        let forwarded = crate::forwarding::forward(
            &behavior.origin_request,
            &behavior.cache,
            request.viewer_headers.as_deref(),
            request,
        );
        let started = Instant::now();
        let result = origin
            .fetch(
                &forwarded,
                extra,
                self.node.cache.config().max_object_bytes,
                self.node.limits.max_header_bytes,
            )
            .await;
        trace.origin = Some(OriginRecord {
            name: origin_name.to_owned(),
            status: result.as_ref().ok().map(|r| r.status.as_u16()),
            duration: started.elapsed(),
        });
        result
    }

    /// 4: origin-response sees what the origin said (errors included); its result is cached.
    async fn origin_response(
        &self,
        request: &EdgeRequest,
        response: EdgeResponse,
        stale: Option<Arc<Entry>>,
        trace: &mut Trace,
    ) -> Result<EdgeResponse, EdgeError> {
        self.response_hook(Hook::OriginResponse, request, response, stale, trace)
            .await
    }

    /// 5: viewer-response changes what this viewer gets, never the stored copy.
    async fn viewer_response(
        &self,
        request: &EdgeRequest,
        response: EdgeResponse,
        trace: &mut Trace,
    ) -> Result<EdgeResponse, EdgeError> {
        self.response_hook(Hook::ViewerResponse, request, response, None, trace)
            .await
    }

    /// Runs a response hook, if one is attached, under its failure policy.
    async fn response_hook(
        &self,
        hook: Hook,
        request: &EdgeRequest,
        response: EdgeResponse,
        stale: Option<Arc<Entry>>,
        trace: &mut Trace,
    ) -> Result<EdgeResponse, EdgeError> {
        let Some(association) = self.behavior.association(hook) else {
            return Ok(response);
        };
        match hooks::run_response_hook(association, request, &response, trace).await {
            Ok(changed) => Ok(changed),
            Err(failure) => match failure.policy {
                FailurePolicy::Bypass => Ok(bypassed(response, failure, trace)),
                _ => self.stale_or_fail(request, failure, stale, trace),
            },
        }
    }

    /// The `stale` policy: any stored copy for the request, however old; else the failure.
    fn stale_or_fail(
        &self,
        request: &EdgeRequest,
        failure: HookFailure,
        stale: Option<Arc<Entry>>,
        trace: &mut Trace,
    ) -> Result<EdgeResponse, EdgeError> {
        if failure.policy == FailurePolicy::Stale {
            let now = self.node.clock.now();
            let entry = stale.or_else(|| {
                let cacheable = request.is_cacheable_method() && self.behavior.cache.enabled;
                cacheable
                    .then(|| CacheKey::new(&self.distribution.id, &self.behavior.cache, request))
                    .and_then(|key| self.node.cache.lookup(&key, request, now))
            });
            if let Some(entry) = entry {
                trace.cache = CacheStatus::StaleOnFunctionError;
                trace.error = Some(failure.error);
                return Ok(from_cache(&entry, now));
            }
        }
        Err(failure.error)
    }

    /// stale-while-revalidate: refresh `entry` off the request path, once per key at a time.
    fn revalidate_in_background(
        &self,
        key: &CacheKey,
        request: &EdgeRequest,
        entry: Arc<Entry>,
        trace: &Trace,
    ) {
        let Join::Leader(flight) = self.node.cache.flights().join(&key.primary) else {
            return;
        };
        let route = self.clone();
        let key = key.clone();
        let request = request.clone();
        let mut background = Trace::new(Arc::from(format!("{}-revalidate", trace.request_id)));
        background.distribution = trace.distribution.clone();
        tokio::spawn(async move {
            let _flight = flight;
            if let Err(error) = route
                .fill(&key, &request, Some(entry), &mut background)
                .await
            {
                tracing::warn!(
                    request_id = &*background.request_id,
                    "background revalidation failed: {error}"
                );
            }
        });
    }
}

/// What origin-request decided.
enum OriginStep {
    /// Fetch this request from the named origin.
    Forward(EdgeRequest, String),
    /// Answer with this response (generated, or stale under the `stale` policy).
    Answer(EdgeResponse, CacheStatus),
}

/// A request a function returned, remembering the viewer's own header fields (moved out of
/// the request the function was given, unless an earlier hook kept them already): what a
/// function set is forwarded to the origin whatever the origin request policy says.
fn changed_by_function(mut changed: EdgeRequest, given: EdgeRequest) -> EdgeRequest {
    if changed.viewer_headers.is_none() {
        changed.viewer_headers = Some(Arc::new(given.headers));
    }
    changed
}

/// The `bypass` policy: note the failure, go on with what the hook was given.
fn bypassed<T>(unchanged: T, failure: HookFailure, trace: &mut Trace) -> T {
    trace.error = Some(failure.error);
    unchanged
}

/// A stored response with its current `age`.
fn from_cache(entry: &Entry, now: SystemTime) -> EdgeResponse {
    let mut response = entry.response();
    response
        .headers
        .insert(header::AGE, HeaderValue::from(entry.age(now).as_secs()));
    response
}

/// The node's own answer to a failure: the mapped status and a short text body.
fn error_response(error: EdgeError, trace: &mut Trace) -> EdgeResponse {
    let status = error.status();
    let mut response = EdgeResponse::new(
        status,
        format!(
            "{} {}\nrequest id: {}\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Error"),
            trace.request_id
        ),
    );
    response.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    trace.cache = CacheStatus::Error;
    trace.error = Some(error);
    response
}

/// 6: the node's headers, metrics and the access log, for every request.
fn finish(
    node: &NodeInner,
    line: &RequestLine<'_>,
    trace: &Trace,
    response: EdgeResponse,
    started: Instant,
) -> Response<Full<Bytes>> {
    let EdgeResponse {
        status,
        mut headers,
        mut body,
    } = response;
    headers.remove("surrogate-key");
    headers.insert(
        "x-cache",
        HeaderValue::from_static(trace.cache.x_cache(status.as_u16())),
    );
    headers.append(header::VIA, node.via.clone());
    if let Ok(id) = HeaderValue::from_str(&trace.request_id) {
        headers.insert("x-wedge-request-id", id);
    }
    if let Some(error) = &trace.error {
        headers.insert("x-wedge-error", HeaderValue::from_static(error.class()));
    }
    if *line.method == Method::HEAD {
        // The length of the GET response it stands for (a HEAD passed to the origin keeps the
        // origin's), without the body.
        if !headers.contains_key(header::CONTENT_LENGTH) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        body = Bytes::new();
    }
    let bytes = body.len();
    let elapsed = started.elapsed();
    node.metrics.record(trace, status.as_u16(), elapsed);
    node.access_log
        .write(line, trace, status.as_u16(), bytes, elapsed);
    let mut out = Response::new(Full::new(body));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}
