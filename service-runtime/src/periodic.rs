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
