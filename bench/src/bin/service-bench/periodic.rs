//! Periodic tasks: how late runs start, idle and beside two CPU hogs, and
//! the CPU an idle service with 1,000 tasks uses; the framework's runner
//! against hand-written tokio interval loops in the same invocation.

use std::path::PathBuf;
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

use anyhow::Context as _;
use service_bench::lateness::LatenessSummary;

use crate::instance::Instance;
use crate::report::{Row, Target};
use crate::setup::{READY_TIMEOUT, Setup};

/// Number of periodic tasks in every periodic figure.
const TASKS: usize = 1000;

/// How long a CPU hog spins at most, should the driver die first.
pub const HOG_LIFETIME: Duration = Duration::from_secs(300);

/// One periodic workload.
#[derive(Clone, Copy)]
struct Workload {
    spacing: Duration,
    duration: Duration,
}

/// Lateness of 1,000 tasks at 100 ms, idle and with two CPU hogs; the
/// framework and the tokio baseline run side by side, so that both see the
/// same machine.
pub fn punctuality(setup: &Setup) -> anyhow::Result<Vec<Row>> {
    let workload = Workload {
        spacing: Duration::from_millis(100),
        duration: Duration::from_secs(if setup.quick { 3 } else { 10 }),
    };
    let mut rows = Vec::new();
    for hogs in [0, 2] {
        let spinning = (0..hogs)
            .map(|_| start_hog(setup))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut framework = Vec::new();
        let mut tokio = Vec::new();
        for _ in 0..setup.long_runs {
            let running = run_framework(setup, workload, None)?;
            let baseline = run_tokio(setup, workload)?;
            framework.push(running.finish()?);
            tokio.push(baseline.finish()?);
        }
        for hog in spinning {
            hog.kill()?;
        }
        rows.extend(punctuality_rows(hogs, &framework, &tokio));
    }
    Ok(rows)
}

fn punctuality_rows(
    hogs: usize,
    framework: &[LatenessSummary],
    tokio: &[LatenessSummary],
) -> Vec<Row> {
    let condition = if hogs == 0 {
        "idle".to_string()
    } else {
        format!("{hogs} CPU hogs")
    };
    let section = "Periodic tasks";
    let pick = |runs: &[LatenessSummary], f: fn(&LatenessSummary) -> f64| -> Vec<f64> {
        runs.iter().map(f).collect()
    };
    let row = |figure: &str, unit, f: fn(&LatenessSummary) -> f64| {
        Row::new(section, format!("{figure}, {condition}"), unit)
            .framework(&pick(framework, f))
            .baseline("tokio interval", &pick(tokio, f))
    };
    let runs_per_task = framework.first().map_or(0, |s| s.runs / s.tasks.max(1));
    vec![
        row("lateness p50", "ms", |s| s.p50_ms).note(format!(
            "{TASKS} tasks every 100 ms for 10 s (about {runs_per_task} runs each), \
             measured inside each run against its slot; the framework and the baseline \
             run side by side"
        )),
        row("lateness p99", "ms", |s| s.p99_ms).target(Target::WithinOfBaseline(2.0)),
        row("lateness max", "ms", |s| s.max_ms),
        row("drift (last second − first second)", "ms", |s| s.drift_ms)
            .target(Target::WithinOfBaseline(1.0)),
        row("slots missed", "", |s| s.missed_slots as f64).target(Target::AtMost(0.0)),
        row("CPU of the whole process", "% of a core", |s| s.cpu_percent),
    ]
}

/// CPU of an idle process with 1,000 tasks at 1 s spacing.
pub fn idle_cpu(setup: &Setup) -> anyhow::Result<Vec<Row>> {
    let workload = Workload {
        spacing: Duration::from_secs(1),
        duration: Duration::from_secs(if setup.quick { 5 } else { 12 }),
    };
    let mut framework = Vec::new();
    let mut tokio = Vec::new();
    for _ in 0..setup.long_runs {
        let running = run_framework(setup, workload, Some(1))?;
        let baseline = run_tokio(setup, workload)?;
        framework.push(running.finish()?.cpu_percent);
        tokio.push(baseline.finish()?.cpu_percent);
    }
    Ok(vec![
        Row::new(
            "Periodic tasks",
            "CPU of an idle service with 1,000 tasks every 1 s",
            "% of a core",
        )
        .framework(&framework)
        .baseline("tokio interval", &tokio)
        .target(Target::AtMost(0.5))
        .note(
            "whole process (getrusage), from 2 s after start to the end; the framework and \
                 the baseline run at the same time, both idle",
        ),
    ])
}

/// A periodic workload under way.
struct Running {
    instance: Instance,
    results: PathBuf,
    /// The framework is stopped by the bench; the baseline stops itself.
    stop_after: Option<Duration>,
}

impl Running {
    /// Waits out the workload, stops it and reads its summary.
    fn finish(mut self) -> anyhow::Result<LatenessSummary> {
        match self.stop_after {
            Some(duration) => {
                let left = duration.saturating_sub(self.instance.spawned_at.elapsed());
                sleep(left);
                self.instance.signal_main(libc::SIGTERM)?;
                self.instance.wait_exit(Duration::from_secs(30))?;
            }
            None => {
                self.instance.wait_exit(Duration::from_secs(60))?;
            }
        }
        let text = std::fs::read_to_string(&self.results)
            .with_context(|| format!("no results in {}", self.results.display()))?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// The bench service with 1,000 tasks, run in the main process (one
/// worker), the same service loop a worker process runs.
fn run_framework(setup: &Setup, workload: Workload, tag: Option<u32>) -> anyhow::Result<Running> {
    let results = setup
        .dir
        .join(format!("framework-periodic-{}.json", tag.unwrap_or(0)));
    let _ = std::fs::remove_file(&results);
    let mut command = setup.service_command(1);
    command
        .env("SERVICE_BENCH_TASKS", TASKS.to_string())
        .env(
            "OS_BENCH__TASK_SPACING",
            workload.spacing.as_secs_f64().to_string(),
        )
        .env("OS_BENCH__RESULTS_FILE", &results);
    let instance = setup.spawn(command, "periodic")?;
    instance.wait_ready(READY_TIMEOUT)?;
    Ok(Running {
        instance,
        results,
        stop_after: Some(workload.duration),
    })
}

/// The tokio baseline with 1,000 interval loops.
fn run_tokio(setup: &Setup, workload: Workload) -> anyhow::Result<Running> {
    let results = setup.dir.join("tokio-periodic.json");
    let _ = std::fs::remove_file(&results);
    let mut command = Command::new(&setup.baseline);
    command
        .arg("interval")
        .arg("--tasks")
        .arg(TASKS.to_string())
        .arg("--spacing-ms")
        .arg(workload.spacing.as_millis().to_string())
        .arg("--duration-s")
        .arg(workload.duration.as_secs().to_string())
        .arg("--results")
        .arg(&results);
    Ok(Running {
        instance: setup.spawn(command, "tokio-interval")?,
        results,
        stop_after: None,
    })
}

/// A process that keeps one core busy.
struct Hog {
    instance: Instance,
}

impl Hog {
    fn kill(mut self) -> anyhow::Result<()> {
        self.instance.signal_main(libc::SIGKILL)?;
        let _ = self.instance.wait_exit(Duration::from_secs(10));
        Ok(())
    }
}

fn start_hog(setup: &Setup) -> anyhow::Result<Hog> {
    let mut command = Command::new(&setup.driver);
    command.arg("hog");
    Ok(Hog {
        instance: setup.spawn(command, "hog")?,
    })
}

/// The body of `service-bench hog`: spin until killed, or for
/// [`HOG_LIFETIME`] at most.
pub fn spin() {
    let started = std::time::Instant::now();
    let mut counter = 0u64;
    while started.elapsed() < HOG_LIFETIME {
        for _ in 0..10_000 {
            counter = std::hint::black_box(counter.wrapping_add(1));
        }
    }
}
