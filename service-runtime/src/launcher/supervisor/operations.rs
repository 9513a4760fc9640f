//! What the supervisor does for an operator: control commands and the
//! SIGUSR2 report.

use std::collections::HashMap;
use std::future::Future;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{Phase, Slot, Supervisor, ToWorker};
use crate::control::{
    self, Answer, Command, ControlRequest, ReloadOutcome, ReloadWaiters, Status, WorkerAnswer,
    WorkerQuery, WorkerStatus,
};

/// The supervisor's side of the control socket.
pub(super) struct Operations {
    started: Instant,
    sender: mpsc::UnboundedSender<ControlRequest>,
    pub(super) requests: mpsc::UnboundedReceiver<ControlRequest>,
    waiting: HashMap<u64, oneshot::Sender<Answer>>,
    next_query: u64,
}

impl Default for Operations {
    fn default() -> Self {
        let (sender, requests) = mpsc::unbounded_channel();
        Operations {
            started: Instant::now(),
            sender,
            requests,
            waiting: HashMap::new(),
            next_query: 0,
        }
    }
}

impl Supervisor {
    /// Starts serving the control socket, if one was bound.
    pub(super) fn start_control(&mut self) {
        let socket = std::mem::take(&mut self.setup.control);
        socket.start(&self.operations.sender);
    }

    pub(super) fn on_control(&mut self, request: ControlRequest) {
        let ControlRequest { command, reply } = request;
        let answer = match command {
            Command::Status => serde_json::to_value(self.status()).map_err(|e| e.to_string()),
            Command::Config => control::config_answer(&self.setup.conf),
            Command::Reload => {
                self.reload_from_control(reply);
                return;
            }
            Command::Workers(count) => self.set_worker_count(count as usize),
            Command::Help => Ok(Command::help()),
            Command::Tasks => {
                let answers = self.ask_workers(&WorkerQuery::Tasks);
                tokio::spawn(async move {
                    let _ = reply.send(control::combine(answers.await, "tasks"));
                });
                return;
            }
            Command::RunTask(name) => {
                let answers = self.ask_workers(&WorkerQuery::RunTask { name });
                tokio::spawn(async move {
                    let _ = reply.send(control::combine(answers.await, "result"));
                });
                return;
            }
        };
        let _ = reply.send(answer);
    }

    pub(super) fn on_answer(&mut self, id: u64, answer: Answer) {
        if let Some(waiting) = self.operations.waiting.remove(&id) {
            let _ = waiting.send(answer);
        }
    }

    /// SIGUSR2: the status, then each worker's periodic tasks, to the log.
    pub(super) fn log_report(&mut self) {
        control::log_status(&self.status());
        let answers = self.ask_workers(&WorkerQuery::Tasks);
        tokio::spawn(async move { control::log_tasks(&answers.await) });
    }

    fn status(&self) -> Status {
        let now = Instant::now();
        let workers = self
            .slots
            .iter()
            .flat_map(|slot| {
                let restarts = slot.restarts;
                slot.current
                    .iter()
                    .chain(slot.retiring.iter())
                    .map(move |worker| WorkerStatus {
                        id: worker.id,
                        pid: worker.pid,
                        generation: worker.generation,
                        age_secs: now.duration_since(worker.started).as_secs_f64(),
                        restarts,
                        ready: worker.ready,
                        stopping: worker.stopping,
                    })
            })
            .collect();
        Status {
            service: self.name,
            mode: "workers",
            pid: std::process::id(),
            uptime_secs: now.duration_since(self.operations.started).as_secs_f64(),
            generation: self.generation,
            workers_wanted: self.slots.len(),
            reloading: self.rollout.is_some(),
            stopping: matches!(self.phase, Phase::Stopping { .. }),
            workers,
        }
    }

    /// `reload`: answered with the outcome once the reload ends.
    fn reload_from_control(&mut self, reply: oneshot::Sender<Answer>) {
        if !matches!(self.phase, Phase::Running) {
            let refused = ReloadOutcome::Refused("the service is stopping; reload ignored");
            let _ = reply.send(refused.to_answer());
            return;
        }
        tracing::info!("reload requested through the control socket");
        self.request_reload(ReloadWaiters::one(reply));
    }

    /// Sends `query` to every serving worker; the future gives their
    /// answers, each within the answer timeout.
    fn ask_workers(
        &mut self,
        query: &WorkerQuery,
    ) -> impl Future<Output = Vec<WorkerAnswer>> + use<> {
        self.operations
            .waiting
            .retain(|_, sender| !sender.is_closed());
        let serving: Vec<(u32, u32, mpsc::UnboundedSender<ToWorker>)> = self
            .live_workers()
            .filter(|worker| worker.ready && !worker.stopping)
            .map(|worker| (worker.id, worker.pid, worker.commands.clone()))
            .collect();
        let mut pending = Vec::with_capacity(serving.len());
        for (worker, pid, commands) in serving {
            let id = self.operations.next_query;
            self.operations.next_query += 1;
            let (reply, answer) = oneshot::channel();
            self.operations.waiting.insert(id, reply);
            let query = query.clone();
            let _ = commands.send(ToWorker::Query { id, query });
            pending.push(control::await_worker(worker, pid, answer));
        }
        futures::future::join_all(pending)
    }

    /// `workers N`: adds slots and starts their workers, or stops the
    /// workers of the last slots gracefully and drops the slots.
    fn set_worker_count(&mut self, count: usize) -> Answer {
        if !matches!(self.phase, Phase::Running) {
            return Err("the service is stopping".to_string());
        }
        if self.rollout.is_some() {
            return Err("a reload is replacing the workers; try again when it is done".into());
        }
        let before = self.slots.len();
        tracing::info!(
            from = before,
            to = count,
            "worker count changed through the control socket"
        );
        while self.slots.len() < count {
            self.slots.push(Slot::default());
            self.spawn_into(self.slots.len() - 1);
        }
        while self.slots.len() > count {
            let slot = self.slots.pop().expect("more slots than wanted");
            self.retire_slot(slot);
        }
        self.report_status();
        Ok(serde_json::json!({ "workers_before": before, "workers": count }))
    }

    /// Stops the workers of a slot that is no longer wanted. They are kept
    /// among the first slot's retiring workers until they exit, so that a
    /// shutdown still waits for them (and kills them if they hang).
    fn retire_slot(&mut self, slot: Slot) {
        let Slot {
            current, retiring, ..
        } = slot;
        for mut worker in current.into_iter().chain(retiring) {
            if !worker.stopping {
                worker.stopping = true;
                worker.send(ToWorker::Stop { graceful: true });
            }
            self.slots[0].retiring.push(worker);
        }
    }
}
