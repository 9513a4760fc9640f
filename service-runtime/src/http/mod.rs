//! The HTTP server each worker runs: HTTP/1.1 and HTTP/2 (over TLS through
//! ALPN, in clear text through prior knowledge) on a listening socket the
//! worker received, with oslo.service's limits, access log and graceful
//! drain.
//!
//! The application is any [`tower::Service`] taking
//! `http::Request<hyper::body::Incoming>`, such as an `axum::Router`.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use service_runtime::http::{HttpOptions, Listener, serve};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn example() -> std::io::Result<()> {
//! let app = Router::new().route("/ping", get(|| async { "pong" }));
//! let listener = std::net::TcpListener::bind("127.0.0.1:8080")?;
//! let shutdown = CancellationToken::new();
//! serve(Listener::from(listener), app, HttpOptions::default(), None, shutdown).await
//! # }
//! ```

mod access_log;
mod activity;
mod connection;
mod listener;
mod options;
mod panics;
mod service;
mod tls;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use access_log::{
    ACCESS_LOG_TARGET, AccessLogFormat, AccessLogFormatError, DEFAULT_ACCESS_LOG_FORMAT,
};
pub use listener::Listener;
pub use options::HttpOptions;
pub use tls::{TlsAcceptor, TlsConfigError, tls_acceptor_checking_all, tls_acceptor_from_files};

use listener::{AsyncListener, is_per_connection_error};

/// The error type hyper and tower pass around.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

const TARGET: &str = "service_runtime::http";

/// How long to wait before accepting again after an error such as running
/// out of file descriptors, so the loop does not spin while nothing can
/// succeed.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// What every connection of one [`serve`] call shares.
pub(crate) struct Shared {
    options: HttpOptions,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    builder: auto::Builder<TokioExecutor>,
}

impl Shared {
    fn new(options: HttpOptions, tls: Option<TlsAcceptor>, shutdown: CancellationToken) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .keep_alive(options.keep_alive)
            .max_buf_size(options.head_buffer_size())
            .header_read_timeout(None)
            .http2()
            .max_header_list_size(u32::try_from(options.head_buffer_size()).unwrap_or(u32::MAX));
        Shared {
            options,
            tls,
            shutdown,
            builder,
        }
    }

    /// Whether HTTP/1 responses should ask the client to close: always
    /// without keep-alive, and once shutdown has begun. During the drain
    /// grace this header is what ends a keep-alive connection: hyper closes
    /// the connection after a response that carries it.
    fn wants_close(&self) -> bool {
        !self.options.keep_alive || self.shutdown.is_cancelled()
    }
}

/// Serves HTTP on `listener` until `shutdown` is cancelled and every
/// connection has ended.
///
/// Each connection runs in its own task: a slow client, a stalled or failed
/// TLS handshake, or a malformed request affects only its own connection.
/// With `tls`, every connection starts with a TLS handshake bounded by
/// [`HttpOptions::client_socket_timeout`] (10 s when that is disabled).
///
/// A request whose application future panics is answered `500 Internal
/// Server Error` (with `Connection: close` over HTTP/1), logged once at
/// ERROR level with its method, path and the panic's message and location,
/// and its access log line says 500; the connection and the worker carry
/// on. To keep that panic off stderr, the first call installs a process-wide
/// panic hook that stays silent for panics raised while a request's
/// application future is polled and hands every other panic to the hook
/// that was in place before. A panic in a task the application spawns, or
/// while a response body is streamed, is not caught here.
///
/// On shutdown:
///
/// 1. The listener is closed at once. Connections still in this worker's
///    share of the kernel's accept queue are refused; but when other
///    processes (the main process, other workers) hold the same socket, the
///    socket stays open and the queue stays with them, so nothing is lost.
/// 2. Requests in flight run to completion. From now on every HTTP/1
///    response carries `Connection: close` and its connection is closed
///    after it; HTTP/2 connections get a GOAWAY and close when their streams
///    end.
/// 3. An HTTP/1 connection that is idle (between keep-alive requests, or
///    just accepted) may still send one request within a grace of one
///    second, which is answered with `Connection: close`: an HTTP/1 client
///    cannot be told that the server is going away, and closing under it
///    would lose the request it may be sending at that moment. Connections
///    still idle, or still in their TLS handshake, when the grace ends are
///    closed.
///
/// The future resolves when the last connection has ended; it has no
/// timeout of its own, so bound it with the graceful shutdown timeout.
///
/// # Errors
///
/// Fails only when the listener cannot be registered with the tokio
/// runtime. Errors while accepting are logged and retried.
///
/// # Panics
///
/// Panics when called outside a tokio runtime with IO and time enabled.
pub async fn serve<S, B>(
    listener: Listener,
    app: S,
    options: HttpOptions,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) -> io::Result<()>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let listener = AsyncListener::from_std(listener)?;
    panics::install_hook();
    let limit =
        (options.max_connections > 0).then(|| Arc::new(Semaphore::new(options.max_connections)));
    let shared = Arc::new(Shared::new(options, tls, shutdown));
    let connections = TaskTracker::new();

    while let Some(permit) = next_slot(limit.as_ref(), &shared.shutdown).await {
        let accepted = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => break,
            accepted = listener.accept(shared.options.tcp_keepidle) => accepted,
        };
        match accepted {
            Ok((stream, client)) => {
                let task = connection::run(stream, client, app.clone(), shared.clone());
                connections.spawn(async move {
                    task.await;
                    drop(permit);
                });
            }
            Err(error) if is_per_connection_error(&error) => {
                tracing::debug!(target: TARGET, %error, "accept failed for one client");
            }
            Err(error) => {
                tracing::error!(target: TARGET, %error, "accept failed; pausing before retrying");
                pause_after_error(&shared.shutdown).await;
            }
        }
    }

    drop(listener);
    connections.close();
    tracing::info!(
        target: TARGET,
        connections = connections.len(),
        "stopped accepting; waiting for open connections to finish"
    );
    connections.wait().await;
    tracing::info!(target: TARGET, "all connections closed");
    Ok(())
}

/// Waits for room under `max_connections`; `None` once shutdown begins.
/// Without a limit there is always room.
async fn next_slot(
    limit: Option<&Arc<Semaphore>>,
    shutdown: &CancellationToken,
) -> Option<Option<OwnedSemaphorePermit>> {
    if shutdown.is_cancelled() {
        return None;
    }
    let Some(limit) = limit else {
        return Some(None);
    };
    tokio::select! {
        biased;
        () = shutdown.cancelled() => None,
        permit = limit.clone().acquire_owned() => {
            Some(Some(permit.expect("the connection semaphore is never closed")))
        }
    }
}

async fn pause_after_error(shutdown: &CancellationToken) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
    }
}
