//! Periodic tasks: methods marked `#[periodic]`, run on a schedule in each
//! worker.
//!
//! A [`PeriodicRunner`] owns the schedule of one service instance's tasks.
//! The worker loop asks it when the next task is due
//! ([`PeriodicRunner::next_due`]), sleeps until then and lets it run every
//! task that is due ([`PeriodicRunner::run_due`]), one after another, on the
//! instance.
//!
//! The timing follows oslo.service's `periodic_task` module:
//!
//! * a spacing of 0 means the default of 60 s; a negative spacing, or
//!   `enabled = false`, means the task is never scheduled;
//! * a task marked `external_process_ok` runs only when the option
//!   `[DEFAULT] run_external_periodic_tasks` is true (or not declared);
//! * the first run comes at once with `run_immediately`, after the initial
//!   delay when one is given, and one spacing after the runner's creation
//!   otherwise;
//! * the slot of the next run is fixed *before* a run starts: the latest slot
//!   of the task's phase that is not in the future, plus a jitter of 0-5 % of
//!   the spacing in whole seconds. Missed slots are skipped, so a run that
//!   outlasts its spacing is followed by at most one run at once, never by a
//!   burst of catch-up runs;
//! * a task that returns an error or panics is logged and runs again at its
//!   next slot; it never stops the other tasks.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Serialize;
use tokio::time::Instant;

use crate::config::{Conf, DEFAULT_GROUP};
use crate::service::Context;

/// What a periodic task's run gives back: `Err` is logged with the task's
/// name and does not stop the task.
pub type TaskOutcome = Result<(), String>;

/// The function that runs a task once on a service instance.
pub type TaskFn<S> = for<'a> fn(&'a mut S, &'a Context) -> BoxFuture<'a, TaskOutcome>;

/// The spacing a task gets when it asks for 0 s.
pub const DEFAULT_SPACING: Duration = Duration::from_secs(60);

/// The shortest usable spacing: timers do not resolve less.
const MIN_SPACING: Duration = Duration::from_millis(1);

/// The option that lets tasks marked `external_process_ok` run here.
pub const RUN_EXTERNAL_OPTION: &str = "run_external_periodic_tasks";

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

impl<S> PeriodicTask<S> {
    /// A task with the defaults of `#[periodic]`: enabled, first run one
    /// spacing after start, not limited to one process.
    pub fn new(name: &'static str, spacing: Spacing, run: TaskFn<S>) -> Self {
        PeriodicTask {
            name,
            spacing,
            run_immediately: false,
            initial_delay: None,
            enabled: true,
            external_process_ok: false,
            run,
        }
    }

    /// The same task, first run at once.
    #[must_use]
    pub fn immediate(mut self) -> Self {
        self.run_immediately = true;
        self
    }

    /// The same task, first run after `delay` instead of one spacing.
    #[must_use]
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.initial_delay = Some(delay);
        self
    }

    /// The same task, never scheduled.
    #[must_use]
    pub fn disabled(mut self) -> Self {
        self.enabled = false;
        self
    }

    /// The same task, run only where `run_external_periodic_tasks` is true.
    #[must_use]
    pub fn external(mut self) -> Self {
        self.external_process_ok = true;
        self
    }
}

impl<S> std::fmt::Debug for PeriodicTask<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeriodicTask")
            .field("name", &self.name)
            .field("spacing", &self.spacing)
            .finish_non_exhaustive()
    }
}

/// A source of uniform random numbers in `[0, 1)`, for the jitter.
pub type RandomSource = Box<dyn FnMut() -> f64 + Send>;

/// When a task is next due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    /// Due since the given instant; the run starts a new phase at the moment
    /// it starts, without jitter (a first immediate run, or a run asked for
    /// by an operator).
    Now(Instant),
    /// Due at a slot of the task's phase.
    Slot(Instant),
}

impl Due {
    fn instant(self) -> Instant {
        match self {
            Due::Now(at) | Due::Slot(at) => at,
        }
    }
}

/// What is known about one task's past runs.
#[derive(Clone, Debug, Default)]
struct History {
    last_start: Option<Instant>,
    last_duration: Option<Duration>,
    run_count: u64,
    error_count: u64,
    last_error: Option<String>,
}

struct Entry<S> {
    task: PeriodicTask<S>,
    /// `None` while the spacing option makes the task unscheduled.
    spacing: Option<Duration>,
    due: Due,
    history: History,
}

impl<S> Entry<S> {
    fn is_external_skipped(&self, external_allowed: bool) -> bool {
        self.task.external_process_ok && !external_allowed
    }
}

/// One run of a task, as [`PeriodicRunner::run_due_reported`] tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// The task's name.
    pub name: &'static str,
    /// When the run started.
    pub started: Instant,
    /// How long it took.
    pub duration: Duration,
    /// `Err` with the error's text, or with the panic's message.
    pub outcome: TaskOutcome,
}

/// A task's schedule and history, for status commands and tests.
///
/// The instants are left out of the serialised form, which gives seconds
/// relative to the moment the statistics were taken instead.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskStats {
    /// The task's name.
    pub name: &'static str,
    /// Seconds between runs; `None` while the task is not scheduled.
    pub spacing_secs: Option<f64>,
    /// When the last run started.
    #[serde(skip)]
    pub last_run_start: Option<Instant>,
    /// Seconds since the last run started.
    pub last_run_start_secs_ago: Option<f64>,
    /// How long the last run took, in seconds.
    pub last_duration_secs: Option<f64>,
    /// When the next run is due; `None` while the task is not scheduled.
    #[serde(skip)]
    pub next_run: Option<Instant>,
    /// Seconds until the next run, 0 when it is due.
    pub next_run_in_secs: Option<f64>,
    /// Runs started, failed ones included.
    pub run_count: u64,
    /// Runs that returned an error or panicked.
    pub error_count: u64,
    /// The error of the last failed run.
    pub last_error: Option<String>,
}

/// Runs the periodic tasks of one service instance on their schedule.
///
/// The runner does not own the instance: the worker loop lends it to
/// [`PeriodicRunner::run_due`], so that hooks and tasks never run at the same
/// time.
pub struct PeriodicRunner<S> {
    entries: Vec<Entry<S>>,
    external_allowed: bool,
    random: RandomSource,
}

impl<S> std::fmt::Debug for PeriodicRunner<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|entry| entry.task.name).collect();
        f.debug_struct("PeriodicRunner")
            .field("tasks", &names)
            .field("external_allowed", &self.external_allowed)
            .finish_non_exhaustive()
    }
}

impl<S> PeriodicRunner<S> {
    /// Schedules `tasks` for a service starting now.
    ///
    /// Tasks that are disabled, or whose fixed spacing is negative, are left
    /// out with an INFO line. A task whose spacing option is negative is kept
    /// but not scheduled until a reload makes the spacing usable; an option
    /// that is missing or not a number is logged as an ERROR and the task is
    /// not scheduled either.
    pub fn new(tasks: Vec<PeriodicTask<S>>, conf: &Conf) -> Self {
        let now = Instant::now();
        let external_allowed = external_tasks_allowed(conf);
        let entries = tasks
            .into_iter()
            .filter_map(|task| register(task, conf, now, external_allowed))
            .collect();
        PeriodicRunner {
            entries,
            external_allowed,
            random: Box::new(rand::random::<f64>),
        }
    }

    /// Replaces the random numbers behind the jitter, for tests that assert
    /// exact run times. The source gives numbers in `[0, 1)`; the jitter of a
    /// run is `trunc(spacing × number / 20)` seconds.
    #[must_use]
    pub fn with_random(mut self, random: impl FnMut() -> f64 + Send + 'static) -> Self {
        self.random = Box::new(random);
        self
    }

    /// The names of the registered tasks, in declaration order.
    pub fn task_names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|entry| entry.task.name).collect()
    }

    /// When the next task is due; `None` when no task is scheduled.
    pub fn next_due(&self) -> Option<Instant> {
        self.scheduled().map(|entry| entry.due.instant()).min()
    }

    fn scheduled(&self) -> impl Iterator<Item = &Entry<S>> {
        let allowed = self.external_allowed;
        self.entries
            .iter()
            .filter(move |entry| entry.spacing.is_some() && !entry.is_external_skipped(allowed))
    }

    /// Runs every due task, one after another in declaration order.
    ///
    /// Each task is checked when its turn comes, so a task that falls due
    /// while an earlier one runs still runs in this pass. The pass stops
    /// early once the context's shutdown token is cancelled.
    pub async fn run_due(&mut self, service: &mut S, ctx: &Context) {
        self.run_due_reported(service, ctx).await;
    }

    /// [`PeriodicRunner::run_due`], telling which runs happened.
    pub async fn run_due_reported(&mut self, service: &mut S, ctx: &Context) -> Vec<RunReport> {
        let mut reports = Vec::new();
        for index in 0..self.entries.len() {
            if ctx.shutdown_token().is_cancelled() {
                break;
            }
            let Some(spacing) = self.due_spacing(index) else {
                continue;
            };
            reports.push(self.run_entry(index, spacing, service, ctx).await);
            // Lets the worker's other tasks in once this task has used up
            // tokio's cooperative budget, not after every run: a yield
            // costs a pass through the scheduler, which for a thousand
            // short tasks due at once is most of the pass.
            tokio::task::coop::consume_budget().await;
        }
        reports
    }

    /// The spacing of entry `index` when it is due now.
    fn due_spacing(&self, index: usize) -> Option<Duration> {
        let entry = &self.entries[index];
        let spacing = entry.spacing?;
        let due = !entry.is_external_skipped(self.external_allowed)
            && entry.due.instant() <= Instant::now();
        due.then_some(spacing)
    }

    async fn run_entry(
        &mut self,
        index: usize,
        spacing: Duration,
        service: &mut S,
        ctx: &Context,
    ) -> RunReport {
        let started = Instant::now();
        let jitter = jitter_for(spacing, (self.random)());
        let entry = &mut self.entries[index];
        entry.due = next_due_after(entry.due, spacing, started, jitter);

        let name = entry.task.name;
        tracing::debug!(task.name = name, "running periodic task");
        let outcome = run_caught(entry.task.run, service, ctx).await;
        let duration = started.elapsed();

        record(&mut entry.history, started, duration, &outcome);
        log_outcome(name, &outcome, duration, spacing);
        RunReport {
            name,
            started,
            duration,
            outcome,
        }
    }

    /// Reads the spacing options again after a reload.
    ///
    /// A task keeps its phase: its next run comes one new spacing after the
    /// slot of its last run (at once if that is already past). A negative
    /// value unschedules the task; an unusable value is logged and the old
    /// spacing kept. `run_external_periodic_tasks` is read again too.
    pub fn reconfigure(&mut self, conf: &Conf) {
        let now = Instant::now();
        self.external_allowed = external_tasks_allowed(conf);
        for entry in &mut self.entries {
            let Spacing::Option { group, name } = entry.task.spacing else {
                continue;
            };
            match option_spacing(conf, group, name) {
                Ok(new) => respace(entry, new, now),
                Err(problem) => tracing::error!(
                    task.name = entry.task.name,
                    "periodic task keeps its spacing: {problem}"
                ),
            }
        }
    }

    /// Makes task `name` due at once, for an operator's command. Its next
    /// run then comes one spacing after this run.
    ///
    /// Returns `false` when no scheduled task has that name.
    pub fn run_now(&mut self, name: &str) -> bool {
        let allowed = self.external_allowed;
        let found = self.entries.iter_mut().find(|entry| {
            entry.task.name == name
                && entry.spacing.is_some()
                && !entry.is_external_skipped(allowed)
        });
        match found {
            Some(entry) => {
                entry.due = Due::Now(Instant::now());
                true
            }
            None => false,
        }
    }

    /// The schedule and history of every registered task.
    pub fn stats(&self) -> Vec<TaskStats> {
        let now = Instant::now();
        let allowed = self.external_allowed;
        self.entries
            .iter()
            .map(|entry| {
                let scheduled = entry.spacing.is_some() && !entry.is_external_skipped(allowed);
                task_stats(entry, scheduled.then(|| entry.due.instant()), now)
            })
            .collect()
    }

    /// Runs tasks as they fall due until the context's shutdown token is
    /// cancelled: the whole loop of a worker that has nothing else to do.
    pub async fn run_until_cancelled(&mut self, service: &mut S, ctx: &Context) {
        let token = ctx.shutdown_token().clone();
        loop {
            let Some(due) = self.next_due() else {
                token.cancelled().await;
                return;
            };
            tokio::select! {
                biased;
                () = token.cancelled() => return,
                () = tokio::time::sleep_until(due) => self.run_due(service, ctx).await,
            }
        }
    }
}

/// Applies the registration rules to one task; `None` when it is left out.
///
/// A task whose spacing comes from an option stays registered even when the
/// option's value is unusable, so that a reload can schedule it.
fn register<S>(
    task: PeriodicTask<S>,
    conf: &Conf,
    now: Instant,
    external_allowed: bool,
) -> Option<Entry<S>> {
    let name = task.name;
    if !task.enabled {
        tracing::info!(
            task.name = name,
            "periodic task {name} is not scheduled: it is disabled"
        );
        return None;
    }
    let spacing = match task.spacing {
        Spacing::Seconds(seconds) => spacing_from_secs(seconds),
        Spacing::Option { group, name } => option_spacing(conf, group, name),
    };
    let spacing = match spacing {
        Ok(Some(spacing)) => Some(spacing),
        Ok(None) => {
            tracing::info!(
                task.name = name,
                "periodic task {name} is not scheduled: its spacing is negative"
            );
            None
        }
        Err(problem) => {
            tracing::error!(
                task.name = name,
                "periodic task {name} is not scheduled: {problem}"
            );
            None
        }
    };
    if spacing.is_none() && matches!(task.spacing, Spacing::Seconds(_)) {
        return None;
    }
    if task.external_process_ok && !external_allowed {
        tracing::info!(
            task.name = name,
            "periodic task {name} does not run in this process: {RUN_EXTERNAL_OPTION} is false"
        );
    }
    let due = first_due(&task, spacing.unwrap_or(DEFAULT_SPACING), now);
    Some(Entry {
        task,
        spacing,
        due,
        history: History::default(),
    })
}

fn first_due<S>(task: &PeriodicTask<S>, spacing: Duration, now: Instant) -> Due {
    if task.run_immediately {
        Due::Now(now)
    } else {
        Due::Slot(now + task.initial_delay.unwrap_or(spacing))
    }
}

/// The spacing `seconds` stands for: `None` when negative (not scheduled).
fn spacing_from_secs(seconds: f64) -> Result<Option<Duration>, String> {
    if !seconds.is_finite() {
        return Err(format!(
            "its spacing {seconds} is not a finite number of seconds"
        ));
    }
    if seconds < 0.0 {
        return Ok(None);
    }
    if seconds == 0.0 {
        return Ok(Some(DEFAULT_SPACING));
    }
    let spacing = Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("its spacing {seconds} is too large for a duration"))?;
    if spacing < MIN_SPACING {
        return Err(format!(
            "its spacing {seconds} s is below the 1 ms resolution of timers"
        ));
    }
    Ok(Some(spacing))
}

/// The spacing option's current value.
fn option_spacing(conf: &Conf, group: &str, name: &str) -> Result<Option<Duration>, String> {
    let value = conf.value(group, name).ok_or_else(|| {
        format!("the spacing option [{group}] {name} is not declared or has no value")
    })?;
    let seconds = value.as_f64().ok_or_else(|| {
        format!("the spacing option [{group}] {name} is {value}, expected a number of seconds")
    })?;
    spacing_from_secs(seconds).map_err(|problem| format!("[{group}] {name}: {problem}"))
}

/// Whether tasks marked `external_process_ok` run here: the option's value,
/// true when the option is not declared.
fn external_tasks_allowed(conf: &Conf) -> bool {
    match conf.value(DEFAULT_GROUP, RUN_EXTERNAL_OPTION) {
        None => true,
        Some(serde_json::Value::Bool(allowed)) => allowed,
        Some(other) => {
            tracing::warn!(
                "[{DEFAULT_GROUP}] {RUN_EXTERNAL_OPTION} is {other}, expected a boolean; \
                 external periodic tasks run"
            );
            true
        }
    }
}

/// Applies a new spacing read from an option, keeping the task's phase.
fn respace<S>(entry: &mut Entry<S>, new: Option<Duration>, now: Instant) {
    let old = std::mem::replace(&mut entry.spacing, new);
    let Some(new) = new else { return };
    entry.due = match (old, entry.due) {
        (None, _) => Due::Slot(now + new),
        (Some(_), Due::Now(since)) => Due::Now(since),
        (Some(old), Due::Slot(due)) => Due::Slot(shift_slot(due, old, new).unwrap_or(now)),
    };
    if old != Some(new) {
        tracing::info!(
            task.name = entry.task.name,
            spacing_secs = new.as_secs_f64(),
            "periodic task {} has a new spacing",
            entry.task.name
        );
    }
}

/// Moves a slot one spacing after the previous slot when the spacing changes.
fn shift_slot(due: Instant, old: Duration, new: Duration) -> Option<Instant> {
    if new >= old {
        due.checked_add(new - old)
    } else {
        due.checked_sub(old - new)
    }
}

/// oslo's jitter: `trunc(spacing × random / 20)` whole seconds, so 0-5 % of
/// the spacing and none below 20 s.
pub(crate) fn jitter_for(spacing: Duration, random: f64) -> Duration {
    let random = if random.is_finite() {
        random.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let seconds = (spacing.as_secs_f64() * random / 20.0).trunc();
    Duration::from_secs_f64(seconds)
}

/// The latest slot of the phase through `due` that is not after `now`
/// (oslo's `_nearest_boundary` for a task last aligned one spacing before
/// `due`).
pub(crate) fn aligned_start(due: Instant, spacing: Duration, now: Instant) -> Instant {
    let late = now.saturating_duration_since(due).as_nanos();
    let behind = late % spacing.as_nanos().max(1);
    // The remainder is below the spacing, itself a `Duration`, so it fits.
    now - Duration::from_nanos(u64::try_from(behind).unwrap_or(u64::MAX))
}

/// Where the next run goes, decided as a run starts at `now`.
fn next_due_after(due: Due, spacing: Duration, now: Instant, jitter: Duration) -> Due {
    let boundary = match due {
        Due::Now(_) => now,
        Due::Slot(due) => aligned_start(due, spacing, now) + jitter,
    };
    Due::Slot(boundary + spacing)
}

/// Runs one task, turning a panic into an `Err` with its message.
async fn run_caught<S>(run: TaskFn<S>, service: &mut S, ctx: &Context) -> TaskOutcome {
    let call = AssertUnwindSafe(async move { run(service, ctx).await });
    match call.catch_unwind().await {
        Ok(outcome) => outcome,
        Err(payload) => Err(format!("panicked: {}", panic_message(payload.as_ref()))),
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    panic_text(payload)
        .unwrap_or("a panic payload that is not text")
        .to_string()
}

/// The text a panic was raised with (`panic!("...")` gives a `&str`,
/// `panic!("{x}")` a `String`); `None` for any other payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

fn record(history: &mut History, started: Instant, duration: Duration, outcome: &TaskOutcome) {
    history.last_start = Some(started);
    history.last_duration = Some(duration);
    history.run_count += 1;
    if let Err(error) = outcome {
        history.error_count += 1;
        history.last_error = Some(error.clone());
    }
}

fn log_outcome(name: &str, outcome: &TaskOutcome, duration: Duration, spacing: Duration) {
    if let Err(error) = outcome {
        tracing::error!(task.name = name, %error, "periodic task {name} failed");
    }
    if let Some(overrun) = duration.checked_sub(spacing).filter(|over| !over.is_zero()) {
        tracing::warn!(
            task.name = name,
            overrun_secs = overrun.as_secs_f64(),
            "periodic task {name} outlasted its spacing by {:.2} s",
            overrun.as_secs_f64()
        );
    }
}

fn task_stats<S>(entry: &Entry<S>, next_run: Option<Instant>, now: Instant) -> TaskStats {
    let history = &entry.history;
    TaskStats {
        name: entry.task.name,
        spacing_secs: entry.spacing.map(|spacing| spacing.as_secs_f64()),
        last_run_start: history.last_start,
        last_run_start_secs_ago: history
            .last_start
            .map(|start| now.saturating_duration_since(start).as_secs_f64()),
        last_duration_secs: history.last_duration.map(|duration| duration.as_secs_f64()),
        next_run,
        next_run_in_secs: next_run.map(|due| due.saturating_duration_since(now).as_secs_f64()),
        run_count: history.run_count,
        error_count: history.error_count,
        last_error: history.last_error.clone(),
    }
}

#[cfg(test)]
mod tests;
