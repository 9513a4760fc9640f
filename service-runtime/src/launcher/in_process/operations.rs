//! What the single-process host does for an operator: control commands and
//! the SIGUSR2 report.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{Command, Host, Instance, Purpose};
use crate::control::{
    self, Answer, Command as ControlCommand, ControlRequest, ReloadOutcome, ReloadWaiters, Status,
    WorkerAnswer, WorkerQuery, WorkerStatus,
};
use crate::service::Service;

/// The host's side of the control socket.
pub(super) struct Operations {
    started: Instant,
    sender: mpsc::UnboundedSender<ControlRequest>,
    pub(super) requests: mpsc::UnboundedReceiver<ControlRequest>,
}

impl Default for Operations {
    fn default() -> Self {
        let (sender, requests) = mpsc::unbounded_channel();
        Operations {
            started: Instant::now(),
            sender,
            requests,
        }
    }
}

impl<S: Service> Host<S> {
    /// Starts serving the control socket, if one was bound.
    pub(super) fn start_control(&mut self) {
        let socket = std::mem::take(&mut self.setup.control);
        socket.start(&self.operations.sender);
    }

    pub(super) fn on_control(&mut self, request: ControlRequest, instance: &Instance) {
        let ControlRequest { command, reply } = request;
        let answer = match command {
            ControlCommand::Status => {
                serde_json::to_value(self.status(instance)).map_err(|e| e.to_string())
            }
            ControlCommand::Config => control::config_answer(&self.setup.conf),
            ControlCommand::Reload => {
                self.reload_from_control(instance, reply);
                return;
            }
            ControlCommand::Workers(_) => Err(
                "this service runs in its main process (it started with one worker); the \
                 number of workers can change only in a service started with several"
                    .to_string(),
            ),
            ControlCommand::Help => Ok(ControlCommand::help()),
            ControlCommand::Tasks => {
                let answer = ask(instance, WorkerQuery::Tasks);
                tokio::spawn(async move {
                    let _ = reply.send(control::combine(vec![answer.await], "tasks"));
                });
                return;
            }
            ControlCommand::RunTask(name) => {
                let answer = ask(instance, WorkerQuery::RunTask { name });
                tokio::spawn(async move {
                    let _ = reply.send(control::combine(vec![answer.await], "result"));
                });
                return;
            }
        };
        let _ = reply.send(answer);
    }

    /// SIGUSR2: the status, then the periodic tasks, to the log.
    pub(super) fn log_report(&mut self, instance: &Instance) {
        control::log_status(&self.status(instance));
        let answer = ask(instance, WorkerQuery::Tasks);
        tokio::spawn(async move { control::log_tasks(&[answer.await]) });
    }

    fn status(&self, instance: &Instance) -> Status {
        let now = Instant::now();
        let worker = WorkerStatus {
            id: 0,
            pid: std::process::id(),
            generation: self.generation,
            age_secs: now.duration_since(instance.started).as_secs_f64(),
            restarts: 0,
            ready: self.ready,
            stopping: self.purpose != Purpose::Serve,
        };
        Status {
            service: S::NAME,
            mode: "single",
            pid: std::process::id(),
            uptime_secs: now.duration_since(self.operations.started).as_secs_f64(),
            generation: self.generation,
            workers_wanted: 1,
            reloading: self.purpose == Purpose::Restart,
            stopping: matches!(self.purpose, Purpose::Shutdown(_)),
            workers: vec![worker],
        }
    }

    /// `reload`: answered with the outcome once the reload ends.
    fn reload_from_control(&mut self, instance: &Instance, reply: oneshot::Sender<Answer>) {
        if matches!(self.purpose, Purpose::Shutdown(_)) {
            let refused = ReloadOutcome::Refused("the service is stopping; reload ignored");
            let _ = reply.send(refused.to_answer());
            return;
        }
        tracing::info!("reload requested through the control socket");
        self.reload(instance, ReloadWaiters::one(reply));
    }
}

/// Asks the running instance; the future gives its answer.
fn ask(instance: &Instance, query: WorkerQuery) -> impl Future<Output = WorkerAnswer> + use<> {
    let (reply, answer) = oneshot::channel::<Answer>();
    let _ = instance.commands.send(Command::Query { query, reply });
    control::await_worker(0, std::process::id(), answer)
}
