//! The service a user writes, and what it sees while it runs.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Conf;

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
#[derive(Clone, Debug)]
pub struct Context {
    worker_id: u32,
    generation: u64,
    conf: std::sync::Arc<arc_swap::ArcSwap<Conf>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
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
        }
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
