//! Periodic tasks: methods marked `#[periodic]`, run on a schedule in each
//! worker.

use std::time::Duration;

use futures::future::BoxFuture;

use crate::service::Context;

/// What a periodic task's run gives back: `Err` is logged with the task's
/// name and does not stop the task.
pub type TaskOutcome = Result<(), String>;

/// The function that runs a task once on a service instance.
pub type TaskFn<S> = for<'a> fn(&'a mut S, &'a Context) -> BoxFuture<'a, TaskOutcome>;

/// How far apart runs of a task are.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Spacing {
    /// A fixed number of seconds. 0 means the default of 60 s; a negative
    /// number means the task is never scheduled.
    Seconds(f64),
    /// The value of an option, read again after each reload.
    Option {
        /// The option's group.
        group: &'static str,
        /// The option's name.
        name: &'static str,
    },
}

/// One periodic task of service type `S`, as `#[periodic]` declares it.
pub struct PeriodicTask<S> {
    /// The name used in logs and commands.
    pub name: &'static str,
    /// Time between runs.
    pub spacing: Spacing,
    /// Run right after start instead of one spacing later.
    pub run_immediately: bool,
    /// Delay before the first run, when not immediate.
    pub initial_delay: Option<Duration>,
    /// A disabled task is never scheduled.
    pub enabled: bool,
    /// Runs only when `run_external_periodic_tasks` is true.
    pub external_process_ok: bool,
    /// Runs the task once.
    pub run: TaskFn<S>,
}

impl<S> std::fmt::Debug for PeriodicTask<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeriodicTask")
            .field("name", &self.name)
            .field("spacing", &self.spacing)
            .finish_non_exhaustive()
    }
}

/// Runs the periodic tasks of one service instance.
pub struct PeriodicRunner<S> {
    tasks: Vec<(PeriodicTask<S>, Duration, tokio::time::Instant)>,
}

impl<S> std::fmt::Debug for PeriodicRunner<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeriodicRunner")
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

const DEFAULT_SPACING: f64 = 60.0;

impl<S> PeriodicRunner<S> {
    /// Schedules `tasks` for a service starting now.
    pub fn new(tasks: Vec<PeriodicTask<S>>, conf: &crate::Conf) -> Self {
        let now = tokio::time::Instant::now();
        let tasks = tasks
            .into_iter()
            .filter(|task| task.enabled)
            .filter_map(|task| {
                let seconds = match task.spacing {
                    Spacing::Seconds(s) => s,
                    Spacing::Option { group, name } => conf
                        .value(group, name)
                        .and_then(|v| v.as_f64())
                        .unwrap_or(DEFAULT_SPACING),
                };
                if seconds < 0.0 {
                    return None;
                }
                let seconds = if seconds == 0.0 {
                    DEFAULT_SPACING
                } else {
                    seconds
                };
                let spacing = Duration::from_secs_f64(seconds);
                let first = if task.run_immediately {
                    now
                } else {
                    now + spacing
                };
                Some((task, spacing, first))
            })
            .collect();
        PeriodicRunner { tasks }
    }

    /// When the next task is due.
    pub fn next_due(&self) -> Option<tokio::time::Instant> {
        self.tasks.iter().map(|(_, _, due)| *due).min()
    }

    /// Runs every due task, one after another.
    pub async fn run_due(&mut self, service: &mut S, ctx: &Context) {
        use futures::FutureExt;
        let now = tokio::time::Instant::now();
        for (task, spacing, due) in &mut self.tasks {
            if *due > now {
                continue;
            }
            *due = now + *spacing;
            let run = std::panic::AssertUnwindSafe((task.run)(service, ctx)).catch_unwind();
            match run.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(task = task.name, %error, "periodic task failed"),
                Err(_) => tracing::error!(task = task.name, "periodic task panicked"),
            }
        }
    }
}
