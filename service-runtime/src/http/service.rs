//! The service hyper calls for each request: it enforces the line limits,
//! answers 500 when the application fails or panics, asks HTTP/1 clients
//! to close while draining, counts requests in flight and writes the access
//! log line once the response has been sent.

use std::cell::RefCell;
use std::convert::Infallible;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Buf;
use futures::FutureExt as _;
use http::header::{CONNECTION, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::BoxError;
use super::Shared;
use super::access_log::{ACCESS_LOG_TARGET, AccessEntry};
use super::activity::Activity;
use super::panics::{self, Capturing};

/// Status logged for a request whose client went away before a response
/// existed (the convention nginx uses).
const CLIENT_CLOSED_REQUEST: u16 = 499;

/// One connection's view of the application.
pub(crate) struct ConnService<S> {
    pub(crate) app: S,
    pub(crate) shared: Arc<Shared>,
    pub(crate) activity: Arc<Activity>,
    pub(crate) client_ip: Arc<str>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for ConnService<S>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<LoggedBody<B>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut record = RequestRecord::start(self, &request);
        let is_http1 = request.version() < Version::HTTP_2;

        if let Some(status) = self.oversized_line(&request, &record.request_line) {
            return Box::pin(std::future::ready(Ok(reject(status, is_http1, record))));
        }

        let app = self.app.clone();
        let shared = self.shared.clone();
        Box::pin(async move {
            let called = AssertUnwindSafe(Capturing::new(call_app(app, request)))
                .catch_unwind()
                .await;
            let response = match called {
                Ok(Ok(response)) => response,
                Err(payload) => {
                    let site = panics::take_site();
                    tracing::error!(
                        target: "service_runtime::http",
                        method = %record.request_line.method,
                        path = %record.request_line.uri.path(),
                        panic = %panics::message(&*payload),
                        location = site.location.as_deref(),
                        backtrace = site.backtrace.as_deref(),
                        "the request handler panicked; answering 500"
                    );
                    return Ok(reject(StatusCode::INTERNAL_SERVER_ERROR, is_http1, record));
                }
                Ok(Err(error)) => {
                    let error = error.into();
                    tracing::error!(
                        target: "service_runtime::http",
                        error = %error,
                        "the application failed a request; answering 500"
                    );
                    return Ok(reject(StatusCode::INTERNAL_SERVER_ERROR, is_http1, record));
                }
            };

            let (mut parts, body) = response.into_parts();
            record.status = parts.status.as_u16();
            let upgrading = parts.status == StatusCode::SWITCHING_PROTOCOLS;
            if is_http1 && !upgrading && shared.wants_close() {
                parts
                    .headers
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(Response::from_parts(
                parts,
                LoggedBody::new(Some(body), record),
            ))
        })
    }
}

impl<S> ConnService<S> {
    /// The status to refuse a request with when its request line or one of
    /// its header lines is longer than `max_header_line`.
    fn oversized_line(
        &self,
        request: &Request<Incoming>,
        request_line: &RequestLine,
    ) -> Option<StatusCode> {
        let limit = self.shared.options.max_header_line;
        if request_line.len() > limit {
            return Some(StatusCode::URI_TOO_LONG);
        }

        let too_long = request
            .headers()
            .iter()
            .any(|(name, value)| name.as_str().len() + 2 + value.len() > limit);
        too_long.then_some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
    }
}

async fn call_app<S, B>(mut app: S, request: Request<Incoming>) -> Result<Response<B>, S::Error>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>>,
{
    std::future::poll_fn(|cx| app.poll_ready(cx)).await?;
    app.call(request).await
}

/// An empty response with `status`; over HTTP/1 it also closes the
/// connection, since the rest of what the client sent cannot be trusted.
fn reject<B>(
    status: StatusCode,
    is_http1: bool,
    mut record: RequestRecord,
) -> Response<LoggedBody<B>> {
    record.status = status.as_u16();
    let mut response = Response::new(LoggedBody::new(None, record));
    *response.status_mut() = status;
    if is_http1 {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The request line as HTTP/1 puts it on the wire; for HTTP/2 the same
/// shape is built from the pseudo-headers. It is kept in parts and written
/// only into the access log line, so a request costs no copy of it.
pub(crate) struct RequestLine {
    method: Method,
    uri: Uri,
    version: Version,
}

impl RequestLine {
    fn of(request: &Request<Incoming>) -> RequestLine {
        RequestLine {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
        }
    }

    /// Length in bytes of the line as written.
    fn len(&self) -> usize {
        let mut counter = ByteCounter(0);
        let _ = write!(counter, "{self}");
        counter.0
    }
}

impl fmt::Display for RequestLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.method)?;
        if self.version >= Version::HTTP_2 {
            let target = self.uri.path_and_query().map_or("/", |path| path.as_str());
            f.write_str(target)?;
        } else {
            write!(f, "{}", self.uri)?;
        }
        write!(f, " {:?}", self.version)
    }
}

/// Counts the bytes written to it.
struct ByteCounter(usize);

impl fmt::Write for ByteCounter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0 += text.len();
        Ok(())
    }
}

/// What the access log needs to know about one request. Dropping it writes
/// the log line and marks the request finished, whether the response was
/// sent in full or the client went away.
pub(crate) struct RequestRecord {
    shared: Arc<Shared>,
    activity: Arc<Activity>,
    client_ip: Arc<str>,
    request_line: RequestLine,
    started: Instant,
    status: u16,
    body_length: u64,
}

impl RequestRecord {
    fn start<S>(service: &ConnService<S>, request: &Request<Incoming>) -> Self {
        service.activity.request_started();
        if request.version() >= Version::HTTP_2 {
            service.activity.saw_http2();
        }
        RequestRecord {
            shared: service.shared.clone(),
            activity: service.activity.clone(),
            client_ip: service.client_ip.clone(),
            request_line: RequestLine::of(request),
            started: Instant::now(),
            status: CLIENT_CLOSED_REQUEST,
            body_length: 0,
        }
    }
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        self.activity.request_finished();
        if !access_log_enabled() {
            return;
        }
        write_access(
            &self.shared,
            &AccessEntry {
                client_ip: &self.client_ip,
                time: None,
                request_line: &self.request_line,
                status_code: self.status,
                body_length: self.body_length,
                wall_time: self.started.elapsed(),
            },
        );
    }
}

/// Whether access log lines are wanted; when they are not, nothing about
/// them is computed (the clocks, the line).
pub(crate) fn access_log_enabled() -> bool {
    tracing::enabled!(target: ACCESS_LOG_TARGET, tracing::Level::INFO)
}

/// Writes one access log line. The line is rendered only when the access
/// log target is enabled, so a service that filters it out does not pay for
/// formatting every request.
pub(crate) fn log_access(shared: &Shared, entry: &AccessEntry<'_>) {
    if access_log_enabled() {
        write_access(shared, entry);
    }
}

thread_local! {
    /// The buffer each thread renders access log lines into.
    static ACCESS_LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

fn write_access(shared: &Shared, entry: &AccessEntry<'_>) {
    ACCESS_LINE.with_borrow_mut(|line| {
        line.clear();
        shared.options.access_log_format.render_into(entry, line);
        if !crate::logging::write_access_line(line) {
            tracing::info!(target: ACCESS_LOG_TARGET, "{line}");
        }
    });
}

pin_project_lite::pin_project! {
    /// A response body that counts the bytes sent for the access log.
    pub(crate) struct LoggedBody<B> {
        #[pin]
        inner: Option<B>,
        record: RequestRecord,
    }
}

impl<B> LoggedBody<B> {
    fn new(inner: Option<B>, record: RequestRecord) -> Self {
        LoggedBody { inner, record }
    }
}

impl<B> Body for LoggedBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(None);
        };

        let frame = std::task::ready!(inner.poll_frame(cx));
        let sent = match &frame {
            Some(Ok(frame)) => frame.data_ref().map_or(0, Buf::remaining),
            _ => 0,
        };
        this.record.body_length += sent as u64;
        Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}
