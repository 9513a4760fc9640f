//! The options the runtime itself reads, declared like any service's.

use std::path::PathBuf;

use crate::config_group;

/// Options of the runtime, in the `[DEFAULT]` group as oslo.service and
/// oslo.log name them.
#[config_group(name = "DEFAULT")]
#[derive(Clone, Debug)]
pub struct ServiceOpts {
    /// Seconds to wait for a graceful stop after SIGTERM before the remaining
    /// workers are killed. 0 waits forever.
    #[opt(default = 60, min = 0)]
    pub graceful_shutdown_timeout: u64,

    /// What SIGHUP does: `reload` reads the configuration again and replaces
    /// the workers one at a time; `mutate` changes mutable options in place.
    #[opt(default = "reload", choices = ["reload", "mutate"])]
    pub restart_method: String,

    /// Log the effective value of every option at start-up, secrets masked.
    #[opt(default = true)]
    pub log_options: bool,

    /// Log at debug level.
    #[opt(default = false, mutable, cli)]
    pub debug: bool,

    /// Write the log to this file instead of standard error. Relative paths
    /// are taken from `log_dir` when it is set.
    #[opt]
    pub log_file: Option<PathBuf>,

    /// The directory of `log_file` when it is a relative path.
    #[opt]
    pub log_dir: Option<PathBuf>,

    /// Write log lines as JSON objects.
    #[opt(default = false)]
    pub use_json: bool,

    /// Also log to standard error when `log_file` is set.
    #[opt(default = false)]
    pub use_stderr: bool,

    /// Failed starts in a row of one worker after which the service stops
    /// with exit code 4 (0: never give up). A worker that dies within ten
    /// seconds of starting counts as a failed start.
    #[opt(default = 10, min = 0)]
    pub worker_restart_limit: u32,

    /// Longest wait, in seconds, before replacing a worker that keeps
    /// failing to start.
    #[opt(default = 30.0, min = 0.5)]
    pub worker_restart_backoff_max: f64,

    /// Run periodic tasks marked `external_process_ok` in this service.
    #[opt(default = true)]
    pub run_external_periodic_tasks: bool,
}
