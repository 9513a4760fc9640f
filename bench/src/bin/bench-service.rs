//! The service the benchmark measures: an HTTP API (`GET /ping`) in every
//! worker, and optionally up to 1,000 periodic tasks that record how late
//! each of their runs starts.
//!
//! The periodic tasks are built with the runtime API (`PeriodicTask::new`
//! with the spacing option `[bench] task_spacing`, `run_immediately`) in a
//! hand-written `Service::periodic_tasks`, because `#[periodic]` declares
//! one task per method and the benchmark needs a thousand. The runner treats
//! them exactly as it treats tasks the macro declares. Their number comes
//! from the environment variable `SERVICE_BENCH_TASKS` (default 0), since
//! `periodic_tasks` is called without the configuration.
//!
//! When it stops, the service writes the lateness of the runs and the CPU it
//! used to `[bench] results_file`, as JSON.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use service_bench::cpu::CpuMark;
use service_bench::lateness::{LatenessSummary, TaskClock};
use service_bench::ping;
use service_runtime::config::Port;
use service_runtime::periodic::{PeriodicTask, Spacing, TaskFn, TaskOutcome};
use service_runtime::prelude::*;

/// Environment variable with the number of periodic tasks.
const TASKS_ENV: &str = "SERVICE_BENCH_TASKS";

/// The most periodic tasks the service can declare.
const MAX_TASKS: usize = 1000;

/// Time after start before the CPU window opens, so that start-up work is
/// not counted as idle cost.
const CPU_WARMUP: Duration = Duration::from_secs(2);

/// Where the API listens, and how many workers serve it.
#[config_group(name = "DEFAULT")]
pub struct BenchServerOpts {
    /// Number of worker processes.
    #[opt(default = 4, min = 1)]
    pub workers: u32,

    /// Address the HTTP API listens on.
    #[opt(default = "127.0.0.1")]
    pub bind_host: String,

    /// Port the HTTP API listens on; 0 picks a free port, logged at start.
    #[opt(default = Port(0))]
    pub bind_port: Port,
}

/// The periodic tasks' settings.
#[config_group(name = "bench")]
pub struct BenchOpts {
    /// Seconds between two runs of each periodic task.
    #[opt(default = 1.0, min = 0.001, mutable)]
    pub task_spacing: f64,

    /// File that receives the lateness and CPU summary when the service
    /// stops (JSON).
    pub results_file: Option<PathBuf>,
}

/// One instance of the bench service.
pub struct BenchService {
    clocks: Vec<TaskClock>,
    started: Instant,
    cpu: Option<CpuMark>,
    results_file: Option<PathBuf>,
}

impl BenchService {
    /// Records a run of task `index` that began at `now`.
    fn observe(&mut self, index: usize, now: Instant) {
        if self.cpu.is_none() && now.duration_since(self.started) >= CPU_WARMUP {
            self.cpu = Some(CpuMark::now());
        }
        self.clocks[index].observe(now);
    }

    fn write_results(&self) {
        let Some(path) = &self.results_file else {
            return;
        };
        let cpu = self
            .cpu
            .map_or((0.0, 0.0), |mark| mark.percent_of_core_since());
        let summary = LatenessSummary::of(&self.clocks, cpu);
        let text = serde_json::to_string_pretty(&summary).expect("a summary serialises");
        if let Err(error) = std::fs::write(path, text) {
            tracing::error!(path = %path.display(), %error, "cannot write the results");
        }
    }
}

impl Service for BenchService {
    const NAME: &'static str = "bench-service";

    fn workers(conf: &Conf) -> Result<u32, String> {
        Ok(conf.group::<BenchServerOpts>().workers)
    }

    fn workers_option() -> Option<(&'static str, &'static str)> {
        Some(("DEFAULT", "workers"))
    }

    fn listeners(conf: &Conf) -> Vec<Listen> {
        let server = conf.group::<BenchServerOpts>();
        vec![Listen::tcp(
            "api",
            server.bind_host.clone(),
            server.bind_port.get(),
        )]
    }

    async fn new(conf: &Conf) -> anyhow::Result<Self> {
        let tasks = task_count()?;
        let opts = conf.group::<BenchOpts>();
        let spacing = Duration::from_secs_f64(opts.task_spacing);
        let started = Instant::now();
        Ok(BenchService {
            clocks: (0..tasks)
                .map(|_| TaskClock::new(spacing, started))
                .collect(),
            started,
            cpu: None,
            results_file: opts.results_file.clone(),
        })
    }

    async fn start(&mut self, ctx: &Context) -> anyhow::Result<()> {
        ctx.serve_http("api", tower::service_fn(ping::answer))?;
        Ok(())
    }

    async fn stop(&mut self, _graceful: bool) {
        self.write_results();
    }

    fn periodic_tasks() -> Vec<PeriodicTask<Self>> {
        let count = task_count().unwrap_or(0);
        let spacing = Spacing::Option {
            group: "bench",
            name: "task_spacing",
        };
        TASK_FNS
            .iter()
            .flatten()
            .flatten()
            .take(count)
            .enumerate()
            .map(|(index, run)| {
                let name: &'static str = format!("bench_task_{index}").leak();
                PeriodicTask::new(name, spacing, *run).immediate()
            })
            .collect()
    }
}

/// The number of periodic tasks `SERVICE_BENCH_TASKS` asks for.
fn task_count() -> anyhow::Result<usize> {
    let Ok(value) = std::env::var(TASKS_ENV) else {
        return Ok(0);
    };
    match value.parse::<usize>() {
        Ok(count) if count <= MAX_TASKS => Ok(count),
        _ => anyhow::bail!("{TASKS_ENV}={value:?}: expected a whole number from 0 to {MAX_TASKS}"),
    }
}

/// The body of periodic task number `I`: note when the run began.
fn bench_task<'a, const I: usize>(
    service: &'a mut BenchService,
    _ctx: &'a Context,
) -> BoxFuture<'a, TaskOutcome> {
    Box::pin(async move {
        service.observe(I, Instant::now());
        Ok(())
    })
}

/// Ten task functions numbered from `$base`.
macro_rules! ten_tasks {
    ($base:expr) => {
        [
            bench_task::<{ $base }> as TaskFn<BenchService>,
            bench_task::<{ $base + 1 }>,
            bench_task::<{ $base + 2 }>,
            bench_task::<{ $base + 3 }>,
            bench_task::<{ $base + 4 }>,
            bench_task::<{ $base + 5 }>,
            bench_task::<{ $base + 6 }>,
            bench_task::<{ $base + 7 }>,
            bench_task::<{ $base + 8 }>,
            bench_task::<{ $base + 9 }>,
        ]
    };
}

/// A hundred task functions numbered from `$base`.
macro_rules! hundred_tasks {
    ($base:expr) => {
        [
            ten_tasks!($base),
            ten_tasks!($base + 10),
            ten_tasks!($base + 20),
            ten_tasks!($base + 30),
            ten_tasks!($base + 40),
            ten_tasks!($base + 50),
            ten_tasks!($base + 60),
            ten_tasks!($base + 70),
            ten_tasks!($base + 80),
            ten_tasks!($base + 90),
        ]
    };
}

/// One function per task, each knowing its own number (a task function
/// receives only the service and the context).
static TASK_FNS: [[[TaskFn<BenchService>; 10]; 10]; 10] = [
    hundred_tasks!(0),
    hundred_tasks!(100),
    hundred_tasks!(200),
    hundred_tasks!(300),
    hundred_tasks!(400),
    hundred_tasks!(500),
    hundred_tasks!(600),
    hundred_tasks!(700),
    hundred_tasks!(800),
    hundred_tasks!(900),
];

service_runtime::main!(BenchService);
