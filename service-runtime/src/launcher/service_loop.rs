//! One service instance from `new` to `stop`: the same code runs it in a
//! worker process and in the main process when there is one worker.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::config::Conf;
use crate::control::{Answer, WorkerQuery};
use crate::periodic::PeriodicRunner;
use crate::service::{Context, Service};

/// What the instance's owner asks of it.
#[derive(Debug)]
pub(crate) enum Command {
    /// Stop; `budget` bounds the wait for tasks spawned by the service.
    Stop {
        graceful: bool,
        budget: Option<Duration>,
    },
    /// A new configuration whose mutable options changed: calls `reset`.
    Apply(Conf),
    /// A question from the control socket about this instance.
    Query {
        query: WorkerQuery,
        reply: oneshot::Sender<Answer>,
    },
}

/// What the instance reports while it runs.
#[derive(Debug)]
pub(crate) enum Report {
    /// `start` returned successfully.
    Ready,
    /// `new` or `start` failed.
    StartFailed(String),
}

/// How the instance ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Stopped on request.
    Stopped,
    /// Never started.
    StartFailed,
    /// The service called `Context::fail` and was stopped.
    Failed,
}

/// Runs `S` until a stop command arrives (or the command channel closes,
/// which is taken as a request for a quick stop).
pub(crate) async fn run<S: Service>(
    ctx: Context,
    mut commands: mpsc::UnboundedReceiver<Command>,
    report: impl Fn(Report),
) -> Ending {
    let conf = ctx.conf();
    let Some(mut service) = build_and_start::<S>(&conf, &ctx, &report).await else {
        return Ending::StartFailed;
    };
    report(Report::Ready);
    tracing::info!(service = S::NAME, "service started");
    let mut periodic = PeriodicRunner::new(S::periodic_tasks(), &conf);
    let (graceful, budget, ending) = loop {
        let next_due = periodic.next_due();
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Stop { graceful, budget }) => {
                    break (graceful, budget, Ending::Stopped);
                }
                Some(Command::Apply(conf)) => apply(&mut service, &ctx, &mut periodic, conf).await,
                Some(Command::Query { query, reply }) => {
                    let _ = reply.send(answer(&mut periodic, query));
                }
                None => break (false, Some(Duration::from_millis(800)), Ending::Stopped),
            },
            error = ctx.failed() => {
                tracing::error!(service = S::NAME, %error, "service failed; stopping it");
                break (false, Some(Duration::from_secs(5)), Ending::Failed);
            }
            () = sleep_until(next_due) => periodic.run_due(&mut service, &ctx).await,
        }
    };
    stop(&mut service, &ctx, graceful, budget).await;
    ending
}

async fn build_and_start<S: Service>(
    conf: &Conf,
    ctx: &Context,
    report: &impl Fn(Report),
) -> Option<S> {
    let mut service = match S::new(conf).await {
        Ok(service) => service,
        Err(error) => {
            let error = format!("{error:#}");
            log_start_failure::<S>(ctx, &error, "service failed to build");
            report(Report::StartFailed(error));
            return None;
        }
    };
    if let Err(error) = service.start(ctx).await {
        let error = format!("{error:#}");
        log_start_failure::<S>(ctx, &error, "service failed to start");
        report(Report::StartFailed(error));
        stop(&mut service, ctx, false, Some(Duration::from_secs(1))).await;
        return None;
    }
    Some(service)
}

/// In the main process the failure is logged here, at ERROR. A worker
/// process reports it to the main process, which logs it once for the
/// whole service, so the worker's own line is at DEBUG.
fn log_start_failure<S: Service>(ctx: &Context, error: &str, message: &str) {
    if ctx.worker_id() == 0 {
        tracing::error!(service = S::NAME, error, "{message}");
    } else {
        tracing::debug!(
            service = S::NAME,
            error,
            "{message}; reported to the main process"
        );
    }
}

async fn apply<S: Service>(
    service: &mut S,
    ctx: &Context,
    periodic: &mut PeriodicRunner<S>,
    conf: Conf,
) {
    ctx.set_conf(conf.clone());
    service.reset(&conf).await;
    periodic.reconfigure(&conf);
    tracing::info!(service = S::NAME, "configuration applied");
}

/// Answers a control query from the instance's periodic tasks.
fn answer<S>(periodic: &mut PeriodicRunner<S>, query: WorkerQuery) -> Answer {
    match query {
        WorkerQuery::Tasks => serde_json::to_value(periodic.stats()).map_err(|e| e.to_string()),
        WorkerQuery::RunTask { name } => {
            if periodic.run_now(&name) {
                return Ok(serde_json::json!({ "task": name, "scheduled": true }));
            }
            let names = periodic.task_names();
            if names.is_empty() {
                return Err(format!(
                    "no periodic task named `{name}`: the service has none"
                ));
            }
            Err(format!(
                "no scheduled periodic task named `{name}`; the tasks are: {}",
                names.join(", ")
            ))
        }
    }
}

async fn stop<S: Service>(
    service: &mut S,
    ctx: &Context,
    graceful: bool,
    budget: Option<Duration>,
) {
    tracing::info!(service = S::NAME, graceful, "stopping service");
    let _written_at_once = crate::logging::lines_at_once();
    ctx.close_listeners();
    ctx.shutdown_token().cancel();
    service.stop(graceful).await;
    ctx.tracker().close();
    match budget {
        Some(budget) => {
            if tokio::time::timeout(budget, ctx.tracker().wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    service = S::NAME,
                    "tasks spawned by the service did not end in time"
                );
            }
        }
        None => ctx.tracker().wait().await,
    }
    tracing::info!(service = S::NAME, "service stopped");
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
