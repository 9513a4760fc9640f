//! A service for exercising the framework from the outside: an HTTP API in
//! every worker, knobs that make it misbehave on purpose, and an events
//! file that records what each process did. The integration tests drive it
//! with real signals and sockets; it is also a template for an HTTP
//! service.
//!
//! ```text
//! cargo run -p service-examples --example probe -- --workers 2
//! curl http://127.0.0.1:8080/ping      # with bind_port = 8080
//! ```
//!
//! Endpoints:
//! - `GET /ping`: the answering worker's pid;
//! - `GET /sleep?s=N`: answers after `N` seconds, `400` when `N` is not a
//!   number of seconds from 0 to [`MAX_SLEEP_SECS`];
//! - `GET /panic`: the handler panics; the server answers `500`;
//! - `GET /conf?name=GROUP.OPTION`: the value the worker sees (secrets masked);
//! - `GET /fail`: makes the worker fail: its stop hook runs, it exits with
//!   status 1 and the main process replaces it.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use service_runtime::config::Port;
use service_runtime::prelude::*;

/// Where the probe listens, and how many workers it runs.
#[config_group(name = "DEFAULT")]
pub struct ProbeServerOpts {
    /// Number of worker processes.
    #[opt(default = 2, min = 1)]
    pub workers: u32,

    /// Address the HTTP API listens on.
    #[opt(default = "127.0.0.1")]
    pub bind_host: String,

    /// Port the HTTP API listens on; 0 picks a free port, logged at start.
    #[opt(default = Port(0))]
    pub bind_port: Port,
}

/// Knobs for making the probe misbehave, and where it records events.
#[config_group(name = "probe")]
pub struct ProbeOpts {
    /// Exit with status 1 right after the worker starts, before `start`.
    #[opt(default = false)]
    pub crash_on_start: bool,

    /// Seconds the `start` hook waits before it does anything (at most a
    /// day): keeps a reload in progress for that long.
    #[opt(default = 0.0, min = 0.0, max = 86400.0)]
    pub start_delay: f64,

    /// Make the `start` hook fail.
    #[opt(default = false)]
    pub fail_start: bool,

    /// Make the `start` hook fail in this worker only (by its number).
    pub fail_start_worker: Option<u32>,

    /// Seconds between two runs of the `tick` periodic task.
    #[opt(default = 1.0, min = 0.01, mutable)]
    pub tick_spacing: f64,

    /// Seconds each run of `tick` keeps working (at most a day).
    #[opt(default = 0.0, min = 0.0, max = 86400.0)]
    pub tick_cost: f64,

    /// Seconds the stop hook blocks (at most a day).
    #[opt(default = 0.0, min = 0.0, max = 86400.0)]
    pub stop_delay: f64,

    /// How the `flaky` periodic task fails on every run: `none`, `error`
    /// (it returns an error) or `panic`.
    #[opt(default = "none", choices = ["none", "error", "panic"])]
    pub failing_task: String,

    /// File that receives one JSON line per start, tick and stop.
    pub events_file: Option<PathBuf>,

    /// A password the probe never shows.
    #[opt(secret)]
    pub password: Option<String>,
}

/// The probe in one worker.
pub struct Probe {
    events: Events,
}

#[service(name = "probe", workers = DEFAULT.workers)]
impl Probe {
    fn listeners(conf: &Conf) -> Vec<Listen> {
        let server = conf.group::<ProbeServerOpts>();
        vec![Listen::tcp(
            "api",
            server.bind_host.clone(),
            server.bind_port.get(),
        )]
    }

    async fn new(conf: &Conf) -> anyhow::Result<Self> {
        let knobs = conf.group::<ProbeOpts>();
        let events = Events {
            file: knobs.events_file.clone(),
            stop_delay: knobs.stop_delay,
        };
        Ok(Probe { events })
    }

    async fn start(&mut self, ctx: &Context) -> anyhow::Result<()> {
        let conf = ctx.conf();
        let knobs = conf.group::<ProbeOpts>();
        if knobs.crash_on_start {
            self.events.record("crash", ctx);
            std::process::exit(1);
        }
        if knobs.start_delay > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(knobs.start_delay)).await;
        }
        if knobs.fail_start {
            anyhow::bail!("fail_start is set");
        }
        if knobs.fail_start_worker == Some(ctx.worker_id()) {
            anyhow::bail!("fail_start_worker is {}", ctx.worker_id());
        }
        ctx.serve_http("api", api(ctx.clone()))?;
        self.events.record("start", ctx);
        Ok(())
    }

    #[periodic(spacing = probe.tick_spacing, run_immediately)]
    async fn tick(&mut self, ctx: &Context) {
        self.events.record("tick", ctx);
        let cost = ctx.conf().group::<ProbeOpts>().tick_cost;
        if cost > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(cost)).await;
        }
    }

    /// Fails the way `failing_task` says, to show that one failing task
    /// neither stops the others nor itself.
    #[periodic(spacing = 1, run_immediately)]
    async fn flaky(&mut self, ctx: &Context) -> anyhow::Result<()> {
        match ctx.conf().group::<ProbeOpts>().failing_task.as_str() {
            "error" => anyhow::bail!("flaky failed on purpose"),
            "panic" => panic!("flaky panicked on purpose"),
            _ => Ok(()),
        }
    }

    async fn stop(&mut self, graceful: bool) {
        self.events.record_stop(graceful);
        let delay = self.events.stop_delay;
        if delay > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(delay)).await;
        }
    }

    async fn reset(&mut self, conf: &Conf) {
        self.events.stop_delay = conf.group::<ProbeOpts>().stop_delay;
        tracing::info!("probe reset with the new configuration");
    }
}

fn api(ctx: Context) -> Router {
    Router::new()
        .route("/ping", get(|| async { std::process::id().to_string() }))
        .route("/sleep", get(sleep))
        .route("/panic", get(panicking))
        .route("/conf", get(conf_value))
        .route("/fail", get(fail))
        .with_state(ctx)
}

#[derive(serde::Deserialize)]
struct SleepQuery {
    s: f64,
}

/// The longest `/sleep` the probe agrees to, in seconds (one day).
pub const MAX_SLEEP_SECS: f64 = 86_400.0;

async fn sleep(Query(query): Query<SleepQuery>) -> Result<String, (StatusCode, String)> {
    if !(0.0..=MAX_SLEEP_SECS).contains(&query.s) {
        let message = format!("s must be a number of seconds from 0 to {MAX_SLEEP_SECS}\n");
        return Err((StatusCode::BAD_REQUEST, message));
    }
    tracing::info!(seconds = query.s, "sleep request started");
    tokio::time::sleep(Duration::from_secs_f64(query.s)).await;
    Ok(format!("slept {}", query.s))
}

/// Panics, to show what the server does with a handler that panics.
async fn panicking() -> &'static str {
    panic!("the probe panicked on purpose")
}

#[derive(serde::Deserialize)]
struct ConfQuery {
    name: String,
}

/// The value of `group.option` (or `option` of `DEFAULT`) in this worker.
async fn conf_value(State(ctx): State<Context>, Query(query): Query<ConfQuery>) -> String {
    let (group, name) = query
        .name
        .split_once('.')
        .unwrap_or(("DEFAULT", &query.name));
    let conf = ctx.conf();
    let secret = conf
        .registry()
        .option(group, name)
        .is_some_and(|o| o.secret);
    match conf.value(group, name) {
        Some(_) if secret => "\"****\"".to_string(),
        Some(value) => value.to_string(),
        None => "null".to_string(),
    }
}

async fn fail(State(ctx): State<Context>) -> &'static str {
    ctx.fail("failure requested through /fail");
    "failing\n"
}

/// Appends events as JSON lines: what happened, in which process, when
/// (CLOCK_MONOTONIC seconds, comparable across processes).
struct Events {
    file: Option<PathBuf>,
    stop_delay: f64,
}

impl Events {
    fn record(&self, event: &str, ctx: &Context) {
        self.write(serde_json::json!({
            "event": event,
            "pid": std::process::id(),
            "worker": ctx.worker_id(),
            "generation": ctx.generation(),
            "t": monotonic_seconds(),
        }));
    }

    fn record_stop(&self, graceful: bool) {
        self.write(serde_json::json!({
            "event": "stop",
            "pid": std::process::id(),
            "graceful": graceful,
            "t": monotonic_seconds(),
        }));
    }

    fn write(&self, event: serde_json::Value) {
        let Some(path) = &self.file else { return };
        let line = format!("{event}\n");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        match file {
            Ok(mut file) => {
                let _ = file.write_all(line.as_bytes());
            }
            Err(error) => tracing::error!(path = %path.display(), %error, "cannot write event"),
        }
    }
}

fn monotonic_seconds() -> f64 {
    let micros = service_runtime::systemd::monotonic_now_usec().unwrap_or_default();
    Duration::from_micros(micros).as_secs_f64()
}

service_runtime::main!(Probe);
