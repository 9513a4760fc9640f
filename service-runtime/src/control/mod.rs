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

pub(crate) use client::run as run_client;
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

/// What became of a reload request.
#[derive(Debug)]
pub(crate) enum ReloadOutcome {
    /// The new configuration was accepted and is being applied.
    Applied {
        changed: Vec<String>,
        needs_restart: Vec<String>,
    },
    /// Another reload is running; this one follows it.
    Queued,
    /// The new configuration is invalid; the running one stays.
    Rejected(Vec<String>),
    /// The reload was not attempted, for the reason given.
    Refused(&'static str),
}

impl ReloadOutcome {
    /// The outcome as a command's answer.
    pub(crate) fn into_answer(self) -> Answer {
        match self {
            ReloadOutcome::Applied {
                changed,
                needs_restart,
            } => Ok(serde_json::json!({
                "reload": "applied",
                "changed": changed,
                "needs_restart": needs_restart,
            })),
            ReloadOutcome::Queued => Ok(serde_json::json!({ "reload": "queued" })),
            ReloadOutcome::Rejected(errors) => Err(format!(
                "reload rejected; the running configuration stays: {}",
                errors.join("; ")
            )),
            ReloadOutcome::Refused(reason) => Err(reason.to_string()),
        }
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
