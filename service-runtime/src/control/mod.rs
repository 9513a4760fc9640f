//! The control socket: a running service answers an operator's commands
//! (status, periodic tasks, configuration, reload, run a task now, change
//! the number of workers) over a unix socket, and the service's own binary
//! is the client (`<service> ctl status`).
//!
//! The protocol is one command per line, one JSON answer per line:
//! `{"ok":true,"result":...}` or `{"ok":false,"error":"..."}`. The main
//! process owns the socket; it answers what it knows itself (workers,
//! configuration) and asks the workers for the rest (periodic tasks) over
//! their channels.

mod client;
mod protocol;
mod server;

use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;

pub(crate) use client::{ControlAddress, run as run_client};
pub(crate) use protocol::{Command, WorkerQuery};
pub(crate) use server::{ControlSocket, bind, unbindable_reason};

/// The target of the report lines SIGUSR2 writes.
pub(crate) const REPORT_TARGET: &str = "service_runtime::report";

/// How long the main process waits for a worker's answer.
pub(crate) const WORKER_ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The result of a command: a JSON value, or an error message.
pub(crate) type Answer = Result<serde_json::Value, String>;

/// A command read from a control connection, and where its answer goes.
#[derive(Debug)]
pub(crate) struct ControlRequest {
    pub(crate) command: Command,
    pub(crate) reply: oneshot::Sender<Answer>,
}

/// What `status` answers.
#[derive(Debug, Serialize)]
pub(crate) struct Status {
    pub(crate) service: &'static str,
    /// `workers` when the main process supervises worker processes,
    /// `single` when the service runs in the main process.
    pub(crate) mode: &'static str,
    pub(crate) pid: u32,
    pub(crate) uptime_secs: f64,
    /// The configuration generation: 0 at start, one more per reload that
    /// replaced the workers.
    pub(crate) generation: u64,
    pub(crate) workers_wanted: usize,
    pub(crate) reloading: bool,
    pub(crate) stopping: bool,
    pub(crate) workers: Vec<WorkerStatus>,
}

/// One worker in `status`.
#[derive(Debug, Serialize)]
pub(crate) struct WorkerStatus {
    pub(crate) id: u32,
    pub(crate) pid: u32,
    pub(crate) generation: u64,
    pub(crate) age_secs: f64,
    /// Times this worker's position was refilled after a worker died.
    pub(crate) restarts: u32,
    pub(crate) ready: bool,
    pub(crate) stopping: bool,
}

/// What became of a reload.
#[derive(Clone, Debug)]
pub(crate) enum ReloadOutcome {
    /// The new configuration is in force: every worker runs it.
    Applied {
        changed: Vec<String>,
        needs_restart: Vec<String>,
    },
    /// The new configuration is invalid; the running one stays.
    Rejected(Vec<String>),
    /// The new configuration was valid but the service could not start
    /// with it, for the reason given; the previous one is back.
    Abandoned(String),
    /// The reload was not attempted, or not finished, for the reason given.
    Refused(&'static str),
}

impl ReloadOutcome {
    /// The outcome as a command's answer: a result only when the reload
    /// took effect, so that `ctl reload` fails whenever it did not.
    pub(crate) fn to_answer(&self) -> Answer {
        match self {
            ReloadOutcome::Applied {
                changed,
                needs_restart,
            } => Ok(serde_json::json!({
                "reload": "applied",
                "changed": changed,
                "needs_restart": needs_restart,
            })),
            ReloadOutcome::Rejected(errors) => Err(format!(
                "reload rejected; the running configuration stays: {}",
                errors.join("; ")
            )),
            ReloadOutcome::Abandoned(reason) => Err(format!(
                "reload abandoned; the previous configuration is back: {reason}"
            )),
            ReloadOutcome::Refused(reason) => Err((*reason).to_string()),
        }
    }
}

/// The operators waiting for the outcome of one reload: the replies of
/// the `reload` commands that asked for it, answered together when it
/// ends. A reload a signal started has none.
#[derive(Debug, Default)]
pub(crate) struct ReloadWaiters(Vec<oneshot::Sender<Answer>>);

impl ReloadWaiters {
    /// The waiters of a reload one `reload` command asked for.
    pub(crate) fn one(reply: oneshot::Sender<Answer>) -> Self {
        ReloadWaiters(vec![reply])
    }

    /// Adds the waiters of a reload that is merged into this one.
    pub(crate) fn add(&mut self, other: ReloadWaiters) {
        self.0.extend(other.0);
    }

    /// Tells every waiter the outcome.
    pub(crate) fn answer(self, outcome: &ReloadOutcome) {
        for reply in self.0 {
            let _ = reply.send(outcome.to_answer());
        }
    }
}

/// A reload whose new configuration is being put in force, what it
/// changes, and who waits to hear whether it took effect.
#[derive(Debug)]
pub(crate) struct AwaitedReload {
    applied: ReloadOutcome,
    waiters: ReloadWaiters,
}

impl AwaitedReload {
    /// `applied` is what the waiters hear if the reload takes effect.
    pub(crate) fn new(applied: ReloadOutcome, waiters: ReloadWaiters) -> Self {
        AwaitedReload { applied, waiters }
    }

    /// The reload took effect.
    pub(crate) fn succeeded(self) {
        self.waiters.answer(&self.applied);
    }

    /// The reload did not take effect, as `outcome` says.
    pub(crate) fn failed(self, outcome: &ReloadOutcome) {
        self.waiters.answer(outcome);
    }
}

/// The effective configuration, secrets masked, as `config` answers it.
/// Each source is in the words `--print-config` uses (`default`,
/// `file:line`, `environment variable ...`), so both read alike.
pub(crate) fn config_answer(conf: &crate::config::Conf) -> Answer {
    let options = conf.effective_values().into_iter().map(|option| {
        serde_json::json!({
            "group": option.group,
            "name": option.name,
            "value": option.value,
            "source": option.source.to_string(),
            "mutable": option.mutable,
        })
    });
    Ok(serde_json::Value::Array(options.collect()))
}

/// One worker's answer to a query, as the main process gathered it.
#[derive(Debug)]
pub(crate) struct WorkerAnswer {
    pub(crate) id: u32,
    pub(crate) pid: u32,
    pub(crate) answer: Answer,
}

/// Combines the answers of the workers: a list with each worker's result
/// or error. When every worker refused the query for the same reason (an
/// unknown task name), that reason is the answer's error.
pub(crate) fn combine(answers: Vec<WorkerAnswer>, key: &str) -> Answer {
    if let Some(first) = answers.first().and_then(|a| a.answer.as_ref().err()) {
        if answers
            .iter()
            .all(|a| a.answer.as_ref().err() == Some(first))
        {
            return Err(first.clone());
        }
    }
    let workers: Vec<serde_json::Value> = answers
        .into_iter()
        .map(|worker| {
            let mut entry = serde_json::json!({ "id": worker.id, "pid": worker.pid });
            match worker.answer {
                Ok(value) => entry[key] = value,
                Err(error) => entry["error"] = error.into(),
            }
            entry
        })
        .collect();
    Ok(serde_json::json!({ "workers": workers }))
}

/// Waits for one worker's answer, at most [`WORKER_ANSWER_TIMEOUT`].
pub(crate) async fn await_worker(
    id: u32,
    pid: u32,
    answer: oneshot::Receiver<Answer>,
) -> WorkerAnswer {
    let answer = match tokio::time::timeout(WORKER_ANSWER_TIMEOUT, answer).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err("the worker stopped before it answered".to_string()),
        Err(_) => Err(format!(
            "no answer within {} s: the worker is busy in a hook or a periodic task",
            WORKER_ANSWER_TIMEOUT.as_secs()
        )),
    };
    WorkerAnswer { id, pid, answer }
}

/// Writes the status to the log, one line for the service and one per
/// worker: the first half of the SIGUSR2 report.
pub(crate) fn log_status(status: &Status) {
    tracing::info!(
        target: REPORT_TARGET,
        service = status.service,
        mode = status.mode,
        pid = status.pid,
        uptime_secs = status.uptime_secs,
        generation = status.generation,
        workers_wanted = status.workers_wanted,
        reloading = status.reloading,
        stopping = status.stopping,
        "report: service"
    );
    for worker in &status.workers {
        tracing::info!(
            target: REPORT_TARGET,
            worker = worker.id,
            worker_pid = worker.pid,
            generation = worker.generation,
            age_secs = worker.age_secs,
            restarts = worker.restarts,
            ready = worker.ready,
            stopping = worker.stopping,
            "report: worker"
        );
    }
}

/// Writes the periodic tasks of each worker to the log, one line per task:
/// the second half of the SIGUSR2 report.
pub(crate) fn log_tasks(answers: &[WorkerAnswer]) {
    for worker in answers {
        let tasks = match &worker.answer {
            Ok(serde_json::Value::Array(tasks)) => tasks,
            Ok(_) => continue,
            Err(error) => {
                tracing::warn!(
                    target: REPORT_TARGET,
                    worker = worker.id,
                    worker_pid = worker.pid,
                    %error,
                    "report: no periodic task statistics"
                );
                continue;
            }
        };
        for task in tasks {
            log_task(worker, task);
        }
    }
}

fn log_task(worker: &WorkerAnswer, task: &serde_json::Value) {
    let text = |key: &str| match &task[key] {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    tracing::info!(
        target: REPORT_TARGET,
        worker = worker.id,
        worker_pid = worker.pid,
        task = %text("name"),
        last_run_secs_ago = %text("last_run_start_secs_ago"),
        last_duration_secs = %text("last_duration_secs"),
        next_run_in_secs = %text("next_run_in_secs"),
        runs = %text("run_count"),
        errors = %text("error_count"),
        last_error = %text("last_error"),
        "report: periodic task"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_applied_reload_answers_with_a_result() {
        let applied = ReloadOutcome::Applied {
            changed: vec!["probe.tick_spacing".into()],
            needs_restart: Vec::new(),
        };
        assert_eq!(applied.to_answer().unwrap()["reload"], "applied");
        let abandoned = ReloadOutcome::Abandoned("a new worker failed to start".into());
        let error = abandoned.to_answer().unwrap_err();
        assert!(error.starts_with("reload abandoned"), "{error}");
        assert!(error.ends_with("a new worker failed to start"), "{error}");
        let rejected = ReloadOutcome::Rejected(vec!["one".into(), "two".into()]);
        assert!(rejected.to_answer().unwrap_err().ends_with("one; two"));
    }

    #[test]
    fn every_waiter_hears_the_outcome() {
        let (first, first_answer) = oneshot::channel();
        let (second, second_answer) = oneshot::channel();
        let mut waiters = ReloadWaiters::one(first);
        waiters.add(ReloadWaiters::one(second));
        let awaited = AwaitedReload::new(ReloadOutcome::Refused("unused"), waiters);
        awaited.failed(&ReloadOutcome::Refused("stopping"));
        assert_eq!(
            first_answer.blocking_recv().unwrap(),
            Err("stopping".into())
        );
        assert_eq!(
            second_answer.blocking_recv().unwrap(),
            Err("stopping".into())
        );
    }
}
