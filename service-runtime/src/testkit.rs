//! Tools for testing a service's periodic tasks and looping calls under
//! tokio's paused clock.
//!
//! With `#[tokio::test(start_paused = true)]`, time only moves when every
//! task waits on a timer, and then jumps straight to the next timer. A test
//! of a task that runs every hour takes microseconds, and the times it sees
//! are exact.
//!
//! * [`PeriodicHarness`] runs a service instance's periodic tasks through a
//!   real [`PeriodicRunner`], advances virtual time and records every run.
//! * [`CallLog`] records when a looping call's function was called, so a
//!   test can check the sleeps between calls.
//! * [`conf`] builds a configuration from the program's declared options
//!   and a few values.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! use futures::future::BoxFuture;
//! use service_runtime::periodic::{PeriodicTask, Spacing, TaskOutcome};
//! use service_runtime::testkit::{self, PeriodicHarness};
//! use service_runtime::Context;
//!
//! #[derive(Default)]
//! struct Cache {
//!     refreshed: u32,
//! }
//!
//! fn refresh<'a>(cache: &'a mut Cache, _ctx: &'a Context) -> BoxFuture<'a, TaskOutcome> {
//!     Box::pin(async move {
//!         cache.refreshed += 1;
//!         Ok(())
//!     })
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // In a test: #[tokio::test(start_paused = true)]
//! let tasks = vec![PeriodicTask::new("refresh", Spacing::Seconds(60.0), refresh)];
//! let mut harness = PeriodicHarness::new(Cache::default(), tasks, testkit::conf(&[]))
//!     .without_jitter();
//!
//! harness.advance(Duration::from_secs(180)).await;
//!
//! assert_eq!(harness.service().refreshed, 3);
//! assert_eq!(
//!     harness.run_times("refresh"),
//!     [60, 120, 180].map(Duration::from_secs).to_vec()
//! );
//! # }
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{Conf, RawValue, Registry, Resolved, Snapshot, Source};
use crate::periodic::{PeriodicRunner, PeriodicTask, RunReport, TaskOutcome};
use crate::service::{Context, Service};

/// A configuration made of the options the program declares, with `values`
/// given as `(group, option, text)` as a file would write them.
///
/// # Panics
///
/// When an option is not declared or a value does not parse, naming it: a
/// test's configuration is wrong, not its subject.
pub fn conf(values: &[(&str, &str, &str)]) -> Conf {
    let registry = Registry::from_program().unwrap_or_else(|errors| {
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("the program's options conflict: {}", messages.join("; "))
    });
    conf_with(Arc::new(registry), values)
}

/// A configuration over an explicit registry.
pub(crate) fn conf_with(registry: Arc<Registry>, values: &[(&str, &str, &str)]) -> Conf {
    let mut snapshot = Snapshot::default();
    for &(group, name, text) in values {
        let Some(option) = registry.option(group, name) else {
            panic!("test configuration sets [{group}] {name}, which no group declares");
        };
        let source = Source::Cli {
            flag: format!("--{}", option.flag_name()),
        };
        let resolved = Resolved {
            values: vec![RawValue {
                text: text.to_string(),
                source,
            }],
        };
        snapshot
            .values
            .entry(group.to_string())
            .or_default()
            .insert(name.to_string(), resolved);
    }
    Conf::build(registry, snapshot)
        .unwrap_or_else(|errors| panic!("test configuration is invalid: {errors}"))
}

/// One run of a periodic task seen by a [`PeriodicHarness`].
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// The task's name.
    pub name: &'static str,
    /// When the run started, counted from the harness's creation.
    pub at: Duration,
    /// How long the run took.
    pub duration: Duration,
    /// What the run gave back; a panic shows as an `Err`.
    pub outcome: TaskOutcome,
}

/// Runs a service instance's periodic tasks as the worker loop would, in
/// virtual time, and remembers every run.
pub struct PeriodicHarness<S> {
    runner: PeriodicRunner<S>,
    service: S,
    ctx: Context,
    origin: Instant,
    runs: Vec<RunRecord>,
}

impl<S> std::fmt::Debug for PeriodicHarness<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeriodicHarness")
            .field("runner", &self.runner)
            .field("runs", &self.runs.len())
            .finish_non_exhaustive()
    }
}

impl<S> PeriodicHarness<S> {
    /// Schedules `tasks` for `service` from now, with `conf` in force.
    pub fn new(service: S, tasks: Vec<PeriodicTask<S>>, conf: Conf) -> Self {
        let runner = PeriodicRunner::new(tasks, &conf);
        let ctx = Context::new(0, 0, conf);
        PeriodicHarness {
            runner,
            service,
            ctx,
            origin: Instant::now(),
            runs: Vec::new(),
        }
    }

    /// Schedules the tasks that `#[service]` declared on `S`.
    pub fn for_service(service: S, conf: Conf) -> Self
    where
        S: Service,
    {
        PeriodicHarness::new(service, S::periodic_tasks(), conf)
    }

    /// Turns the jitter off, so that runs come exactly on their slots.
    #[must_use]
    pub fn without_jitter(self) -> Self {
        self.with_random(|| 0.0)
    }

    /// Replaces the random numbers behind the jitter (see
    /// [`PeriodicRunner::with_random`]).
    #[must_use]
    pub fn with_random(mut self, random: impl FnMut() -> f64 + Send + 'static) -> Self {
        self.runner = self.runner.with_random(random);
        self
    }

    /// Lets `by` of virtual time pass, running every task that falls due
    /// (none once the context's shutdown token is cancelled).
    pub async fn advance(&mut self, by: Duration) {
        let target = Instant::now() + by;
        let token = self.ctx.shutdown_token().clone();
        while let Some(due) = self.runner.next_due().filter(|due| *due <= target) {
            if token.is_cancelled() {
                break;
            }
            tokio::time::sleep_until(due).await;
            self.run_due().await;
        }
        tokio::time::sleep_until(target).await;
    }

    /// Lets time pass until `at` after the harness's creation.
    pub async fn advance_to(&mut self, at: Duration) {
        let by = (self.origin + at).saturating_duration_since(Instant::now());
        self.advance(by).await;
    }

    /// Runs the tasks that are due now, without moving time.
    pub async fn run_due(&mut self) {
        let reports = self
            .runner
            .run_due_reported(&mut self.service, &self.ctx)
            .await;
        let origin = self.origin;
        self.runs
            .extend(reports.into_iter().map(|report| record_of(report, origin)));
    }

    /// Virtual time since the harness was created.
    pub fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Every run so far, in order.
    pub fn runs(&self) -> &[RunRecord] {
        &self.runs
    }

    /// When task `name` started its runs, counted from the harness's
    /// creation.
    pub fn run_times(&self, name: &str) -> Vec<Duration> {
        self.runs
            .iter()
            .filter(|run| run.name == name)
            .map(|run| run.at)
            .collect()
    }

    /// How many runs task `name` started.
    pub fn run_count(&self, name: &str) -> usize {
        self.runs.iter().filter(|run| run.name == name).count()
    }

    /// How many runs of task `name` failed or panicked.
    pub fn failure_count(&self, name: &str) -> usize {
        self.runs
            .iter()
            .filter(|run| run.name == name && run.outcome.is_err())
            .count()
    }

    /// The service instance.
    pub fn service(&self) -> &S {
        &self.service
    }

    /// The service instance, to change its state between runs.
    pub fn service_mut(&mut self) -> &mut S {
        &mut self.service
    }

    /// The runner, for its statistics.
    pub fn runner(&self) -> &PeriodicRunner<S> {
        &self.runner
    }

    /// The runner, for [`PeriodicRunner::run_now`].
    pub fn runner_mut(&mut self) -> &mut PeriodicRunner<S> {
        &mut self.runner
    }

    /// The context the tasks see.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Puts a reloaded configuration in force, as a reload would.
    pub fn reconfigure(&mut self, conf: Conf) {
        self.runner.reconfigure(&conf);
        self.ctx.set_conf(conf);
    }
}

fn record_of(report: RunReport, origin: Instant) -> RunRecord {
    RunRecord {
        name: report.name,
        at: report.started.saturating_duration_since(origin),
        duration: report.duration,
        outcome: report.outcome,
    }
}

/// Records the moments a function was called, for looping-call tests.
///
/// Clone it into the function and call [`CallLog::record`] at each call.
#[derive(Clone, Debug)]
pub struct CallLog {
    origin: Instant,
    calls: Arc<Mutex<Vec<Instant>>>,
}

impl Default for CallLog {
    fn default() -> Self {
        CallLog::new()
    }
}

impl CallLog {
    /// An empty log whose times count from now.
    pub fn new() -> Self {
        CallLog {
            origin: Instant::now(),
            calls: Arc::default(),
        }
    }

    /// Notes a call now.
    pub fn record(&self) {
        self.lock().push(Instant::now());
    }

    /// How many calls were noted.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// When each call came, counted from the log's creation.
    pub fn times(&self) -> Vec<Duration> {
        self.lock()
            .iter()
            .map(|at| at.saturating_duration_since(self.origin))
            .collect()
    }

    /// The time between each call and the next.
    pub fn gaps(&self) -> Vec<Duration> {
        let calls = self.lock();
        calls
            .windows(2)
            .map(|pair| pair[1].saturating_duration_since(pair[0]))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Instant>> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
pub(crate) mod support;
