//! The options the runtime itself reads, declared like any service's.

use std::path::PathBuf;

use crate::config::Port;
use crate::config_group;
use crate::logging::LogLevel;

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

    /// Log the configuration files at start-up, and the effective value of
    /// every option at debug level (with `debug`), secrets masked.
    #[opt(default = true)]
    pub log_options: bool,

    /// Log at debug level.
    #[opt(default = false, mutable, cli)]
    pub debug: bool,

    /// Levels of particular log targets, as `target=LEVEL` items: a crate
    /// (`hyper=WARN`) or a module (`service_runtime::http::access=INFO`).
    /// They apply whatever `debug` says.
    #[opt(default = LogLevel::defaults(), mutable)]
    pub default_log_levels: Vec<LogLevel>,

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

    /// Seconds an access log line may wait to be written with others, as
    /// nginx's `access_log ... flush=`: one write per batch instead of one
    /// per request. Other lines, and stopping or reloading, write waiting
    /// ones at once; a process killed by SIGKILL loses at most this much.
    /// 0: every line is written as it is logged.
    #[opt(default = 0.1, min = 0.0, max = 60.0, mutable)]
    pub access_log_flush_interval: f64,

    /// Path of the control socket, a unix socket with mode 0600 that
    /// `<service> ctl` talks to. Unset: no control socket.
    #[opt]
    pub control_socket: Option<PathBuf>,

    /// Also accept control connections over TCP on this port of
    /// 127.0.0.1. Any local user can connect to it: prefer
    /// `control_socket`. Unset: no TCP port.
    #[opt]
    pub control_tcp_port: Option<Port>,

    /// Threads of the async runtime of each worker (of the one process when
    /// the service runs with one worker); 0: one per CPU core, tokio's
    /// default. With several workers on few cores, `cores / workers` keeps
    /// the threads from outnumbering the cores; a worker with one thread
    /// stalls entirely while a handler blocks it.
    #[opt(default = 0, min = 0, max = 1024)]
    pub worker_threads: u32,

    /// How many times in a row a worker is restarted after a failed start
    /// (it died before it reported ready) before the service stops with
    /// exit code 4; 0: never give up. With 3, a worker that never starts is
    /// started 4 times: the first start and 3 restarts.
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

/// Options of the HTTP servers a service runs in its workers, in the
/// `[DEFAULT]` group under oslo.service's names.
#[config_group(name = "DEFAULT")]
#[derive(Clone, Debug)]
pub struct HttpServerOpts {
    /// Longest request line or header line accepted, in bytes. Raise it for
    /// large tokens; longer lines are answered 414 or 431.
    #[opt(default = 16384, min = 1024)]
    pub max_header_line: u32,

    /// Seconds a client connection may stay idle (no request in flight)
    /// before it is closed. 0 keeps idle connections forever.
    #[opt(default = 900, min = 0)]
    pub client_socket_timeout: u64,

    /// Whether HTTP/1 connections are kept open between requests.
    #[opt(default = true)]
    pub wsgi_keep_alive: bool,

    /// Idle seconds before TCP keep-alive probes start on a client
    /// connection.
    #[opt(default = 600, min = 0)]
    pub tcp_keepidle: u64,

    /// Most client connections one worker holds at once; more wait in the
    /// listening socket's queue. 0 means no limit.
    #[opt(default = 1000, min = 0)]
    pub max_connections: u32,

    /// Template of the access log line; keys `client_ip`, `date_time`,
    /// `request_line`, `status_code`, `body_length` and `wall_seconds`.
    #[opt(
        default = "%(client_ip)s \"%(request_line)s\" status: %(status_code)s  \
                     len: %(body_length)s time: %(wall_seconds).7f"
    )]
    pub wsgi_log_format: String,
}

/// TLS for the HTTP servers, in the `[ssl]` group under oslo.service's
/// names. TLS is on when `cert_file` is set.
#[config_group(name = "ssl")]
#[derive(Clone, Debug)]
pub struct SslOpts {
    /// CA certificates used to verify client certificates; setting it makes
    /// client certificates mandatory.
    pub ca_file: Option<PathBuf>,

    /// The server's certificate chain, PEM.
    pub cert_file: Option<PathBuf>,

    /// The server's private key, PEM.
    pub key_file: Option<PathBuf>,

    /// Lowest TLS version accepted: `tlsv1_2` or `tlsv1_3`.
    pub version: Option<String>,

    /// TLS 1.2 cipher suites allowed, by name, separated by `:`.
    pub ciphers: Option<String>,
}
