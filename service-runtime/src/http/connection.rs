//! One client connection, from TLS handshake to close, in its own task.

use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::{BoxFuture, FutureExt as _};
use futures::stream::FuturesUnordered;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

use super::access_log::AccessEntry;
use super::activity::{Activity, TrackedIo, expired};
use super::listener::{BoxIo, ClientAddr};
use super::service::{ConnService, log_access};
use super::{BoxError, Shared};

const TARGET: &str = "service_runtime::http";

/// How long after shutdown begins a connection may still bring a request.
///
/// An HTTP/1 client on an idle keep-alive connection cannot be told that the
/// server is going away: closing the connection at once loses the request
/// the client may be sending at that very moment (it sees the connection
/// closed without an answer). Within this grace such a request is still
/// served, with `Connection: close`, and the connection then ends; a client
/// that sends nothing is closed when the grace ends. The same grace lets a
/// TLS handshake that was under way finish. HTTP/2 clients are told at once
/// with a GOAWAY.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Serves one accepted connection until it ends, the client times out, or
/// shutdown has drained it.
pub(crate) async fn run<S, B>(stream: BoxIo, client: ClientAddr, app: S, shared: Arc<Shared>)
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let stream = match &shared.tls {
        Some(acceptor) => match handshake(acceptor, stream, &client, &shared).await {
            Some(stream) => stream,
            None => return,
        },
        None => stream,
    };

    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(TrackedIo::new(stream, activity.clone()));
    let service = ConnService {
        app,
        shared: shared.clone(),
        activity: activity.clone(),
        client_ip: client.ip_text().into(),
    };
    let connection = shared.builder.serve_connection_with_upgrades(io, service);
    let mut connection = pin!(connection);
    let mut events = watch_events(&shared, &activity);
    let mut shutting_down = false;

    loop {
        tokio::select! {
            result = connection.as_mut() => {
                report_end(result, &client, &shared, &activity);
                return;
            }
            Some(event) = events.next(), if !events.is_empty() => match event {
                // HTTP/1 responses carry `Connection: close` from now on (see
                // `Shared::wants_close`), which ends the connection after its
                // next response; HTTP/2 gets its GOAWAY at once.
                Event::Draining => {
                    if activity.is_http2() {
                        shutting_down = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
                Event::GraceOver => {
                    if !shutting_down {
                        shutting_down = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
                Event::TimedOut => {
                    tracing::debug!(target: TARGET, client = %client, "client timed out; closing");
                    return;
                }
            },
        }
    }
}

/// What can happen to a connection besides its own traffic.
enum Event {
    /// Shutdown has begun.
    Draining,
    /// [`DRAIN_GRACE`] has passed since shutdown began.
    GraceOver,
    /// The client timeout ran out.
    TimedOut,
}

/// The connection's watchers: shutdown, the end of the drain grace and the
/// client timeout (when enabled), each resolving once.
///
/// They sit in a `FuturesUnordered`, which polls a watcher only after its
/// own waker fired. In a plain `select!` every watcher would be polled on
/// every wake-up of the connection, that is several times per request, and
/// each poll of a cancellation future takes the token's lock, which every
/// connection of the worker shares.
fn watch_events<'a>(
    shared: &'a Shared,
    activity: &Arc<Activity>,
) -> FuturesUnordered<BoxFuture<'a, Event>> {
    let events = FuturesUnordered::new();
    events.push(
        shared
            .shutdown
            .cancelled()
            .map(|()| Event::Draining)
            .boxed(),
    );
    events.push(
        drain_grace_over(&shared.shutdown)
            .map(|()| Event::GraceOver)
            .boxed(),
    );
    if let Some(timeout) = shared.options.client_timeout() {
        events.push(
            expired(activity.clone(), timeout)
                .map(|()| Event::TimedOut)
                .boxed(),
        );
    }
    events
}

/// Runs the TLS handshake within the handshake timeout. A failure is
/// logged once and ends only this connection.
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: BoxIo,
    client: &ClientAddr,
    shared: &Shared,
) -> Option<BoxIo> {
    let timeout = shared.options.handshake_timeout();
    let result = tokio::select! {
        result = tokio::time::timeout(timeout, acceptor.accept(stream)) => result,
        () = drain_grace_over(&shared.shutdown) => return None,
    };

    match result {
        Ok(Ok(stream)) => Some(Box::new(stream)),
        Ok(Err(error)) if is_client_gone(&error) => {
            tracing::debug!(
                target: TARGET, client = %client, %error,
                "client left during the TLS handshake"
            );
            None
        }
        Ok(Err(error)) => {
            tracing::warn!(target: TARGET, client = %client, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::warn!(
                target: TARGET, client = %client, timeout_secs = timeout.as_secs_f64(),
                "TLS handshake timed out"
            );
            None
        }
    }
}

/// Resolves [`DRAIN_GRACE`] after shutdown has begun.
async fn drain_grace_over(shutdown: &CancellationToken) {
    shutdown.cancelled().await;
    tokio::time::sleep(DRAIN_GRACE).await;
}

fn is_client_gone(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// Logs how a connection ended. A request head hyper refused before the
/// application saw it still gets an access log line, with the status hyper
/// answered and `-` for the request line.
fn report_end(
    result: Result<(), BoxError>,
    client: &ClientAddr,
    shared: &Shared,
    activity: &Activity,
) {
    let Err(error) = result else {
        return;
    };

    let rejected = error
        .downcast_ref::<hyper::Error>()
        .filter(|error| error.is_parse());
    if let Some(parse_error) = rejected {
        let status = if parse_error.is_parse_too_large() {
            431
        } else {
            400
        };
        log_access(
            shared,
            &AccessEntry {
                client_ip: &client.ip_text(),
                time: None,
                request_line: &"-",
                status_code: status,
                body_length: 0,
                wall_time: activity.idle_since().elapsed(),
            },
        );
    }
    tracing::debug!(target: TARGET, client = %client, %error, "connection ended with an error");
}
