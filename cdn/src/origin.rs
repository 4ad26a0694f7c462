//! Origins: a pooled HTTP/1.1 client per origin (plain or TLS), with connect, first-byte and
//! total timeouts, and the node's classification of what can go wrong.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::config::OriginConfig;
use crate::error::{EdgeError, ErrorKind};
use crate::message::{EdgeRequest, EdgeResponse, strip_hop_by_hop};

/// How long idle origin connections are kept for reuse.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// An origin server and its connection pool.
#[derive(Debug)]
pub struct Origin {
    /// Its configuration.
    pub config: OriginConfig,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// Why an origin could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("origin `{origin}`: {problem}")]
pub struct OriginSetupError {
    origin: String,
    problem: String,
}

impl OriginSetupError {
    /// A behavior names an origin its distribution does not define.
    pub(crate) fn unknown(name: &str) -> Self {
        Self {
            origin: name.to_owned(),
            problem: "is not defined in the distribution".to_owned(),
        }
    }
}

impl Origin {
    /// Builds the client for `config` (reads its CA file, if any).
    pub fn new(config: OriginConfig) -> Result<Arc<Self>, OriginSetupError> {
        let setup_error = |problem: String| OriginSetupError {
            origin: config.name.clone(),
            problem,
        };
        let connector =
            connector(config.connect_timeout, config.ca_file.as_deref()).map_err(setup_error)?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Ok(Arc::new(Self { config, client }))
    }

    /// The absolute URL for a request target: the origin's scheme, authority and base path.
    fn url(&self, target: &Uri) -> Result<Uri, EdgeError> {
        let base = self.config.url.path().trim_end_matches('/');
        let path_and_query = target.path_and_query().map_or("/", |pq| pq.as_str());
        Uri::builder()
            .scheme(self.config.url.scheme_str().unwrap_or("http"))
            .authority(self.config.url.authority().map_or("", |a| a.as_str()))
            .path_and_query(format!("{base}{path_and_query}"))
            .build()
            .map_err(|error| EdgeError::new(ErrorKind::Internal, format!("origin url: {error}")))
    }

    /// Sends `request` (headers as given, hop-by-hop fields dropped, Host replaced, the fields
    /// in `extra` set) and reads the whole response: a head of at most `max_head_bytes`, a body
    /// of at most `max_body` bytes.
    pub async fn fetch(
        &self,
        request: &EdgeRequest,
        extra: HeaderMap,
        max_body: usize,
        max_head_bytes: usize,
    ) -> Result<EdgeResponse, EdgeError> {
        let mut headers = request.headers.clone();
        strip_hop_by_hop(&mut headers);
        headers.remove(header::CONTENT_LENGTH);
        headers.insert(header::HOST, self.config.host_header.clone());
        // The node's own fields replace whatever the request carried (a function may have set
        // them); `via` extends the chain instead.
        for name in extra.keys() {
            if name != header::VIA {
                headers.remove(name);
            }
        }
        for (name, value) in &extra {
            headers.append(name, value.clone());
        }
        if !request.body.is_empty() {
            headers.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(request.body.len()),
            );
        }
        let mut outgoing = Request::new(Full::new(request.body.clone()));
        *outgoing.method_mut() = request.method.clone();
        *outgoing.uri_mut() = self.url(&request.uri)?;
        *outgoing.headers_mut() = headers;

        let exchange = async {
            let head = tokio::time::timeout(
                self.config.first_byte_timeout,
                self.client.request(outgoing),
            )
            .await
            .map_err(|_| self.timeout("no response head within the first-byte timeout"))?
            .map_err(|error| self.classify(&error))?;
            let (mut parts, body) = head.into_parts();
            self.check_head(&parts, max_head_bytes)?;
            let body = Limited::new(body, max_body)
                .collect()
                .await
                .map_err(|error| {
                    if error.is::<http_body_util::LengthLimitError>() {
                        EdgeError::new(
                            ErrorKind::OriginBodyTooLarge,
                            format!("{}: body over {max_body} bytes", self.config.name),
                        )
                    } else {
                        EdgeError::new(
                            ErrorKind::OriginProtocol,
                            format!("{}: body cut short: {error}", self.config.name),
                        )
                    }
                })?
                .to_bytes();
            strip_hop_by_hop(&mut parts.headers);
            if request.method != http::Method::HEAD {
                // The node frames what it sends; a HEAD response keeps the length it describes.
                parts.headers.remove(header::CONTENT_LENGTH);
            }
            Ok(EdgeResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.config.total_timeout, exchange)
            .await
            .map_err(|_| self.timeout("the exchange ran past the total timeout"))?
    }

    /// Refuses a response head the node must not pass on: a protocol switch it did not ask for
    /// (on HTTP/2 viewers a 101 is a protocol violation), or a head larger than what the node
    /// accepts from viewers.
    fn check_head(
        &self,
        parts: &http::response::Parts,
        max_head_bytes: usize,
    ) -> Result<(), EdgeError> {
        if parts.status == http::StatusCode::SWITCHING_PROTOCOLS {
            return Err(EdgeError::new(
                ErrorKind::OriginProtocol,
                format!(
                    "{}: 101 Switching Protocols to a plain request",
                    self.config.name
                ),
            ));
        }
        let head_bytes: usize = parts
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        if head_bytes > max_head_bytes {
            return Err(EdgeError::new(
                ErrorKind::OriginProtocol,
                format!(
                    "{}: response head of {head_bytes} bytes, over {max_head_bytes}",
                    self.config.name
                ),
            ));
        }
        Ok(())
    }

    fn timeout(&self, what: &str) -> EdgeError {
        EdgeError::new(
            ErrorKind::OriginTimeout,
            format!("{}: {what}", self.config.name),
        )
    }

    fn classify(&self, error: &hyper_util::client::legacy::Error) -> EdgeError {
        let chain = error_chain(error);
        let timed_out =
            std::iter::successors(Some(error as &dyn std::error::Error), |e| e.source()).any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            }) || chain.contains("timed out")
                || chain.contains("timeout");
        let kind = if timed_out {
            ErrorKind::OriginTimeout
        } else if error.is_connect() && !chain.contains("tls") && !chain.contains("certificate") {
            ErrorKind::OriginUnreachable
        } else {
            ErrorKind::OriginProtocol
        };
        EdgeError::new(kind, format!("{}: {chain}", self.config.name))
    }
}

/// An HTTP/HTTPS connector trusting the web PKI roots plus `ca_file`, with a connect timeout.
pub(crate) fn connector(
    connect_timeout: Duration,
    ca_file: Option<&std::path::Path>,
) -> Result<HttpsConnector<HttpConnector>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|error| format!("ca_file {}: {error}", path.display()))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|error| format!("ca_file {}: {error}", path.display()))?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| error.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
