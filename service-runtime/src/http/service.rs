//! The service hyper calls for each request: it enforces the line limits,
//! answers 500 when the application fails or panics, asks HTTP/1 clients
//! to close while draining, counts requests in flight and writes the access
//! log line once the response has been sent.

use std::borrow::Cow;
use std::cell::RefCell;
use std::convert::Infallible;
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
use super::access_log::{ACCESS_LOG_TARGET, AccessEntry, WriteRequestLine};
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
    fn of<B>(request: &Request<B>) -> RequestLine {
        RequestLine {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
        }
    }

    /// Length in bytes of the line as written.
    fn len(&self) -> usize {
        let target = self.target();
        self.method.as_str().len() + 1 + target.len() + 1 + version_text(self.version).len()
    }

    /// The request target: the path and query, as almost every request
    /// sends it, borrowed; the whole URI of a proxy request (`GET
    /// http://host/`) or the authority of a `CONNECT`, written out.
    fn target(&self) -> Cow<'_, str> {
        let uri = &self.uri;
        let origin_form = uri.scheme().is_none() && uri.authority().is_none();
        if self.version >= Version::HTTP_2 {
            Cow::Borrowed(uri.path_and_query().map_or("/", |path| path.as_str()))
        } else if origin_form {
            Cow::Borrowed(
                uri.path_and_query()
                    .map_or(uri.path(), |path| path.as_str()),
            )
        } else {
            Cow::Owned(uri.to_string())
        }
    }
}

impl WriteRequestLine for RequestLine {
    /// A `"` or `\` in the target is written `\"` or `\\`, as Apache's
    /// `%r` does, so that the quotes of the default format cannot be closed
    /// from the request.
    fn write_request_line(&self, out: &mut String) {
        out.push_str(self.method.as_str());
        out.push(' ');
        let target = self.target();
        if target.contains(['"', '\\']) {
            for ch in target.chars() {
                if matches!(ch, '"' | '\\') {
                    out.push('\\');
                }
                out.push(ch);
            }
        } else {
            out.push_str(&target);
        }
        out.push(' ');
        out.push_str(&version_text(self.version));
    }
}

/// `HTTP/1.1` and the like, as the request line shows the version.
fn version_text(version: Version) -> Cow<'static, str> {
    let known = [
        (Version::HTTP_09, "HTTP/0.9"),
        (Version::HTTP_10, "HTTP/1.0"),
        (Version::HTTP_11, "HTTP/1.1"),
        (Version::HTTP_2, "HTTP/2.0"),
        (Version::HTTP_3, "HTTP/3.0"),
    ];
    match known.iter().find(|(known, _)| *known == version) {
        Some((_, text)) => Cow::Borrowed(*text),
        None => Cow::Owned(format!("{version:?}")),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn written(request: Request<()>) -> String {
        let line = RequestLine::of(&request);
        let mut text = String::new();
        line.write_request_line(&mut text);
        assert_eq!(line.len(), text.len(), "{text}");
        text
    }

    #[test]
    fn request_lines_read_as_on_the_wire() {
        let get = Request::get("/ping?x=1").body(()).unwrap();
        assert_eq!(written(get), "GET /ping?x=1 HTTP/1.1");
        let proxy = Request::get("http://example.com/a?b").body(()).unwrap();
        assert_eq!(written(proxy), "GET http://example.com/a?b HTTP/1.1");
        let connect = Request::connect("example.com:443").body(()).unwrap();
        assert_eq!(written(connect), "CONNECT example.com:443 HTTP/1.1");
        let star = Request::options("*")
            .version(Version::HTTP_10)
            .body(())
            .unwrap();
        assert_eq!(written(star), "OPTIONS * HTTP/1.0");
        let http2 = Request::get("https://example.com/h2?q")
            .version(Version::HTTP_2)
            .body(())
            .unwrap();
        assert_eq!(written(http2), "GET /h2?q HTTP/2.0");
        let custom = Request::builder()
            .method("PURGE")
            .uri("/c")
            .body(())
            .unwrap();
        assert_eq!(written(custom), "PURGE /c HTTP/1.1");
    }

    #[test]
    fn quotes_in_the_target_cannot_close_the_logged_field() {
        let request = Request::get("/p\"i\\ng").body(()).unwrap();
        let line = RequestLine::of(&request);
        let mut text = String::new();
        line.write_request_line(&mut text);
        assert_eq!(text, "GET /p\\\"i\\\\ng HTTP/1.1");
    }
}
