//! The service a user writes, and what it sees while it runs.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Conf;
use crate::http::{Listener, TlsAcceptor};

pub use crate::launcher::option_reference_errors;

/// A long-running service: what `#[service]` implements for a user's type.
///
/// One instance lives in each worker process (or in the main process when
/// the service runs with one worker). The hooks run one at a time, never
/// concurrently with each other or with a periodic task of the same
/// instance.
pub trait Service: Sized + Send + 'static {
    /// The service's name, used in logs and as the project name of the
    /// default configuration file search.
    const NAME: &'static str;

    /// The number of worker processes the configuration asks for.
    ///
    /// # Errors
    ///
    /// A message naming the option when its value is unusable.
    fn workers(conf: &Conf) -> Result<u32, String> {
        let _ = conf;
        Ok(1)
    }

    /// The option the worker count comes from, as group and name, so that
    /// `--workers N` can set it.
    fn workers_option() -> Option<(&'static str, &'static str)> {
        None
    }

    /// The listening sockets the service serves, read from its options.
    /// The main process binds them before it starts any worker.
    fn listeners(conf: &Conf) -> Vec<crate::listen::Listen> {
        let _ = conf;
        Vec::new()
    }

    /// Builds the service inside a worker.
    fn new(conf: &Conf) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Starts the service's work. An error stops the worker.
    fn start(&mut self, ctx: &Context) -> impl Future<Output = anyhow::Result<()>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Stops the service. `graceful` is false when the stop must be quick
    /// (a fast shutdown or a deadline already passed).
    fn stop(&mut self, graceful: bool) -> impl Future<Output = ()> + Send {
        let _ = graceful;
        async {}
    }

    /// Called after a reload in `mutate` mode with the new configuration.
    fn reset(&mut self, conf: &Conf) -> impl Future<Output = ()> + Send {
        let _ = conf;
        async {}
    }

    /// The periodic tasks of the service.
    fn periodic_tasks() -> Vec<crate::periodic::PeriodicTask<Self>> {
        Vec::new()
    }
}

/// What a running service knows about its place: worker number, process,
/// configuration, and the token that says when to stop.
#[derive(Clone)]
pub struct Context {
    worker_id: u32,
    generation: u64,
    conf: std::sync::Arc<arc_swap::ArcSwap<Conf>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    listeners: Arc<Mutex<HashMap<String, Listener>>>,
    tls: Option<TlsAcceptor>,
    failure: Arc<Mutex<Option<String>>>,
    failed: CancellationToken,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("worker_id", &self.worker_id)
            .field("generation", &self.generation)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context for worker `worker_id` of the given generation.
    pub fn new(worker_id: u32, generation: u64, conf: Conf) -> Self {
        Context {
            worker_id,
            generation,
            conf: std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(conf)),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            listeners: Arc::default(),
            tls: None,
            failure: Arc::default(),
            failed: CancellationToken::new(),
        }
    }

    /// Gives the context the sockets the main process bound, and the TLS
    /// settings to serve them with.
    pub(crate) fn with_listeners(
        mut self,
        listeners: Vec<(String, Listener)>,
        tls: Option<TlsAcceptor>,
    ) -> Self {
        self.listeners = Arc::new(Mutex::new(listeners.into_iter().collect()));
        self.tls = tls;
        self
    }

    /// A duplicate of the listening socket declared under `name`.
    ///
    /// # Errors
    ///
    /// When no socket has that name, the service is stopping, or the
    /// descriptor cannot be duplicated.
    pub fn listener(&self, name: &str) -> io::Result<Listener> {
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let listener = listeners.get(name).ok_or_else(|| {
            let known: Vec<&String> = listeners.keys().collect();
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no listener named `{name}` (declared: {known:?})"),
            )
        })?;
        listener.try_clone()
    }

    /// Serves `app` (any `tower::Service`, such as an `axum::Router`) over
    /// HTTP on the socket declared under `name`, with the limits, access
    /// log and TLS of the configuration. The server stops accepting when the
    /// service stops and finishes the requests in flight.
    ///
    /// # Errors
    ///
    /// When there is no such listener.
    pub fn serve_http<A, B>(&self, name: &str, app: A) -> io::Result<()>
    where
        A: tower::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
            + Clone
            + Send
            + 'static,
        A::Future: Send + 'static,
        A::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let listener = self.listener(name)?;
        let options = crate::launcher::http_options(&self.conf());
        let shutdown = self.shutdown.child_token();
        let tls = self.tls.clone();
        let name = name.to_string();
        self.tasks.spawn(async move {
            if let Err(error) = crate::http::serve(listener, app, options, tls, shutdown).await {
                tracing::error!(listener = %name, %error, "HTTP server failed");
            }
        });
        Ok(())
    }

    /// Closes this process's copies of the listening sockets.
    pub(crate) fn close_listeners(&self) {
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Stops the service because of an unrecoverable error: the `stop` hook
    /// runs, then the worker exits with status 1 and the main process
    /// replaces it.
    pub fn fail(&self, error: impl std::fmt::Display) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        failure.get_or_insert_with(|| error.to_string());
        self.failed.cancel();
    }

    /// Resolves when [`Context::fail`] was called; gives the error.
    pub(crate) async fn failed(&self) -> String {
        self.failed.cancelled().await;
        let failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        failure.clone().unwrap_or_default()
    }

    /// The worker's number, from 1; 0 when the service runs in the main
    /// process.
    pub fn worker_id(&self) -> u32 {
        self.worker_id
    }

    /// How many reloads replaced the workers before this one started.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        std::process::id()
    }

    /// The configuration in force now.
    pub fn conf(&self) -> Conf {
        Conf::clone(&self.conf.load())
    }

    /// Replaces the configuration in force (after a reload).
    pub(crate) fn set_conf(&self, conf: Conf) {
        self.conf.store(std::sync::Arc::new(conf));
    }

    /// Cancelled when the service is asked to stop.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Spawns a task that the runtime waits for (within the graceful
    /// timeout) before the worker exits.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(future)
    }

    /// The tracker of tasks spawned through [`Context::spawn`].
    pub(crate) fn tracker(&self) -> &TaskTracker {
        &self.tasks
    }
}
