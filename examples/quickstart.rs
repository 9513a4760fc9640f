//! The smallest useful service: two worker processes, each logging a
//! heartbeat on a schedule, with start and stop hooks.
//!
//! Run it on defaults, or with the commented configuration file beside it:
//!
//! ```text
//! cargo run -p service-examples --example quickstart
//! cargo run -p service-examples --example quickstart -- --config-file examples/quickstart.conf
//! ```
//!
//! Stop it with Ctrl-C or SIGTERM; reload it with SIGHUP.

use service_runtime::prelude::*;

/// Options of the `[my_service]` group.
#[config_group(name = "my_service")]
pub struct MyServiceOpts {
    /// Number of worker processes.
    #[opt(default = 2, min = 1)]
    pub workers: u32,

    /// Seconds between two heartbeats of a worker.
    #[opt(default = 5.0, min = 0.1, mutable)]
    pub heartbeat_interval: f64,

    /// Text each heartbeat logs.
    #[opt(default = "still alive", mutable)]
    pub greeting: String,
}

/// The service's state in one worker.
pub struct MyService {
    heartbeats: u64,
}

#[service(name = "quickstart", workers = my_service.workers)]
impl MyService {
    /// Builds the service in each worker.
    async fn new(_conf: &Conf) -> anyhow::Result<Self> {
        Ok(MyService { heartbeats: 0 })
    }

    /// Runs once the worker is up.
    async fn start(&mut self, ctx: &Context) -> anyhow::Result<()> {
        tracing::info!(worker = ctx.worker_id(), pid = ctx.pid(), "start hook ran");
        Ok(())
    }

    /// Logs a heartbeat, first right after start.
    #[periodic(spacing = my_service.heartbeat_interval, run_immediately)]
    async fn heartbeat(&mut self, ctx: &Context) {
        self.heartbeats += 1;
        let conf = ctx.conf();
        let greeting = &conf.group::<MyServiceOpts>().greeting;
        tracing::info!(
            worker = ctx.worker_id(),
            count = self.heartbeats,
            "heartbeat: {greeting}"
        );
    }

    /// Runs when the worker stops.
    async fn stop(&mut self, graceful: bool) {
        tracing::info!(graceful, heartbeats = self.heartbeats, "stop hook ran");
    }
}

service_runtime::main!(MyService);
