//! Several workers: the main process starts worker processes, replaces the
//! ones that die, reloads them on SIGHUP and stops them on SIGTERM.
//!
//! The main process does no service work. It runs a single-threaded
//! runtime, starts each worker by executing the program again, and keeps a
//! handle on every child so that a pid is never signalled after it was
//! reaped.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::process::ExitStatus;
use std::time::Duration;

use futures::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_tokio::Signals;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Setup;
use command_fds::{CommandFdExt, FdMapping};

use super::protocol::{self, CHANNEL_FD, FIRST_LISTENER_FD, FromWorker, ToWorker, WORKER_ENV};
use super::restart::RestartPolicy;
use crate::config::{Conf, ReloadMethod, reload_checking};
use crate::control::{Answer, AwaitedReload, ReloadOutcome, ReloadWaiters};
use crate::exit;
use crate::http::Listener;
use crate::options::ServiceOpts;
use crate::service::Service;

mod operations;

/// Runs the supervisor until every worker has stopped; returns the exit code.
pub(crate) fn run<S: Service>(setup: Setup) -> i32 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    runtime.block_on(async move {
        let mut supervisor = Supervisor::new(setup, S::NAME);
        supervisor.run().await
    })
}

/// A message from a worker's watcher task.
#[derive(Debug)]
enum Event {
    Ready {
        pid: u32,
    },
    StartFailed {
        pid: u32,
        error: String,
    },
    Exited {
        pid: u32,
        status: Option<ExitStatus>,
    },
    Answer {
        id: u64,
        answer: Answer,
    },
}

/// A live worker process.
struct Worker {
    id: u32,
    pid: u32,
    generation: u64,
    started: Instant,
    ready: bool,
    stopping: bool,
    /// The new worker of an abandoned reload, killed on purpose.
    discarded: bool,
    commands: mpsc::UnboundedSender<ToWorker>,
    kill: CancellationToken,
}

impl Worker {
    fn send(&self, message: ToWorker) {
        let _ = self.commands.send(message);
    }

    fn describe(&self) -> String {
        format!("worker {} (pid {})", self.id, self.pid)
    }
}

/// One worker position: the worker serving it, the ones being retired
/// after a reload, and the restart bookkeeping.
#[derive(Default)]
struct Slot {
    current: Option<Worker>,
    retiring: Vec<Worker>,
    respawn_at: Option<Instant>,
    restarts: u32,
}

enum Phase {
    Running,
    Stopping { deadline: Option<Instant> },
}

/// A reload that replaces workers one slot at a time.
struct Rollout {
    next_slot: usize,
    waiting_for: Option<u32>,
    /// What the reload replaced, put back if it is abandoned; `None` when
    /// the rollout itself puts the previous configuration back.
    previous: Option<Previous>,
    /// Who waits for the reload's outcome; `None` when the rollout puts
    /// the previous configuration back.
    awaited: Option<AwaitedReload>,
}

/// The configuration and generation in force before a reload.
struct Previous {
    conf: Conf,
    generation: u64,
}

struct Supervisor {
    setup: Setup,
    name: &'static str,
    slots: Vec<Slot>,
    phase: Phase,
    generation: u64,
    ever_ready: bool,
    forced: bool,
    interrupted: bool,
    start_failure: bool,
    gave_up: bool,
    rollout: Option<Rollout>,
    /// A reload asked for while another ran, to follow it whatever its
    /// outcome, and who waits for it.
    reload_pending: Option<ReloadWaiters>,
    watchdog_at: Option<Instant>,
    policy: RestartPolicy,
    events: mpsc::UnboundedSender<Event>,
    event_rx: mpsc::UnboundedReceiver<Event>,
    /// The main process's `argv[0]`, which workers get as theirs.
    program: OsString,
    args: Vec<OsString>,
    operations: operations::Operations,
}

impl Supervisor {
    fn new(setup: Setup, name: &'static str) -> Self {
        let (events, event_rx) = mpsc::unbounded_channel();
        let slots = (0..setup.workers).map(|_| Slot::default()).collect();
        let policy = RestartPolicy::from_opts(setup.conf.group::<ServiceOpts>());
        Supervisor {
            setup,
            name,
            slots,
            phase: Phase::Running,
            generation: 0,
            ever_ready: false,
            forced: false,
            interrupted: false,
            start_failure: false,
            gave_up: false,
            rollout: None,
            reload_pending: None,
            watchdog_at: None,
            policy,
            events,
            event_rx,
            program: std::env::args_os().next().unwrap_or_default(),
            args: std::env::args_os().skip(1).collect(),
            operations: operations::Operations::default(),
        }
    }

    fn opts(&self) -> ServiceOpts {
        self.setup.conf.group::<ServiceOpts>().clone()
    }

    async fn run(&mut self) -> i32 {
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2])
            .expect("signal handlers can be installed");
        self.start_control();
        tracing::info!(
            service = self.name,
            workers = self.slots.len(),
            "starting workers"
        );
        for index in 0..self.slots.len() {
            self.spawn_into(index);
        }
        loop {
            if let Some(code) = self.finished() {
                return code;
            }
            let timer = self.next_timer();
            tokio::select! {
                Some(event) = self.event_rx.recv() => self.on_event(event),
                Some(signal) = signals.next() => self.on_signal(signal),
                Some(request) = self.operations.requests.recv() => self.on_control(request),
                () = sleep_until(timer) => self.on_timer(),
            }
        }
    }

    fn live_workers(&self) -> impl Iterator<Item = &Worker> {
        self.slots
            .iter()
            .flat_map(|slot| slot.current.iter().chain(slot.retiring.iter()))
    }

    fn finished(&self) -> Option<i32> {
        let Phase::Stopping { .. } = self.phase else {
            return None;
        };
        if self.live_workers().next().is_some() {
            return None;
        }
        let code = if self.interrupted {
            exit::INTERRUPTED
        } else if self.start_failure {
            exit::START_FAILED
        } else if self.gave_up {
            exit::CRASH_LOOP
        } else if self.forced {
            exit::STOP_TIMED_OUT
        } else {
            exit::OK
        };
        tracing::info!(service = self.name, code, "all workers stopped");
        Some(code)
    }

    fn next_timer(&self) -> Option<Instant> {
        let respawn = self.slots.iter().filter_map(|slot| slot.respawn_at).min();
        let deadline = match self.phase {
            Phase::Stopping { deadline } => deadline,
            Phase::Running => None,
        };
        [respawn, deadline, self.watchdog_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Every slot has a worker that reported ready: what the systemd
    /// watchdog vouches for.
    fn healthy(&self) -> bool {
        matches!(self.phase, Phase::Running)
            && self.slots.iter().all(|slot| {
                slot.current
                    .iter()
                    .chain(slot.retiring.iter())
                    .any(|w| w.ready && !w.stopping)
            })
    }

    fn ping_watchdog(&mut self, now: Instant) {
        let Some(interval) = self.setup.notifier.watchdog_interval() else {
            return;
        };
        if self.healthy() {
            self.setup.notifier.watchdog();
        }
        self.watchdog_at = Some(now + interval / 2);
    }

    /// Starts a worker for `index`. The new worker becomes the slot's
    /// current one unless a reload is rolling it in beside the old one.
    fn spawn_into(&mut self, index: usize) {
        let id = u32::try_from(index + 1).expect("worker counts fit in u32");
        let worker = match self.spawn_worker(id) {
            Ok(worker) => worker,
            Err(error) => {
                tracing::error!(worker = id, %error, "could not start a worker process");
                self.slots[index].respawn_at = Some(Instant::now() + Duration::from_secs(1));
                return;
            }
        };
        tracing::info!(
            worker = id,
            pid = worker.pid,
            generation = worker.generation,
            "worker started"
        );
        let slot = &mut self.slots[index];
        slot.respawn_at = None;
        if let Some(old) = slot.current.replace(worker) {
            slot.retiring.push(old);
        }
    }

    fn spawn_worker(&self, id: u32) -> std::io::Result<Worker> {
        let (parent_end, child_end) = std::os::unix::net::UnixStream::pair()?;
        let mut mappings = vec![FdMapping {
            parent_fd: child_end.into(),
            child_fd: CHANNEL_FD,
        }];
        for (index, bound) in self.setup.listeners.iter().enumerate() {
            let child_fd = FIRST_LISTENER_FD + i32::try_from(index).expect("few listeners");
            mappings.push(FdMapping {
                parent_fd: listener_fd(&bound.listener)?,
                child_fd,
            });
        }
        let mut command = tokio::process::Command::new("/proc/self/exe");
        command
            .arg0(&self.program)
            .args(&self.args)
            .env(WORKER_ENV, format!("{id}:{}", self.generation))
            .stdin(std::process::Stdio::null());
        command
            .fd_mappings(mappings)
            .map_err(std::io::Error::other)?;
        let child = command.spawn()?;
        let pid = child.id().unwrap_or_default();
        let (commands, command_rx) = mpsc::unbounded_channel();
        let kill = CancellationToken::new();
        parent_end.set_nonblocking(true)?;
        let stream = tokio::net::UnixStream::from_std(parent_end)?;
        let listeners = self
            .setup
            .listeners
            .iter()
            .map(|b| (b.name.clone(), b.kind()))
            .collect();
        let start = ToWorker::Start {
            snapshot: self.setup.conf.snapshot().clone(),
            listeners,
        };
        let watch = Watch {
            pid,
            child,
            stream,
            commands: command_rx,
            kill: kill.clone(),
        };
        tokio::spawn(watch.run(start, self.events.clone()));
        Ok(Worker {
            id,
            pid,
            generation: self.generation,
            started: Instant::now(),
            ready: false,
            stopping: false,
            discarded: false,
            commands,
            kill,
        })
    }

    fn find(&mut self, pid: u32) -> Option<(usize, &mut Worker)> {
        self.slots.iter_mut().enumerate().find_map(|(index, slot)| {
            slot.current
                .iter_mut()
                .chain(slot.retiring.iter_mut())
                .find(|w| w.pid == pid)
                .map(|w| (index, w))
        })
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Ready { pid } => self.on_ready(pid),
            Event::StartFailed { pid, error } => self.on_start_failed(pid, &error),
            Event::Exited { pid, status } => self.on_exit(pid, status),
            Event::Answer { id, answer } => self.on_answer(id, answer),
        }
    }

    fn on_ready(&mut self, pid: u32) {
        let Some((index, worker)) = self.find(pid) else {
            return;
        };
        worker.ready = true;
        tracing::info!(worker = worker.id, pid, "worker ready");
        if self
            .rollout
            .as_ref()
            .is_some_and(|r| r.waiting_for == Some(pid))
        {
            self.retire_old_workers(index);
            self.advance_rollout();
        }
        self.check_all_ready();
    }

    /// Tells systemd how many workers serve.
    fn report_status(&self) {
        let serving = self
            .slots
            .iter()
            .filter(|slot| {
                slot.current
                    .iter()
                    .chain(slot.retiring.iter())
                    .any(|w| w.ready)
            })
            .count();
        let status = format!("{serving} of {} workers running", self.slots.len());
        self.setup.notifier.status(&status);
    }

    fn check_all_ready(&mut self) {
        let all_ready = self
            .slots
            .iter()
            .all(|s| s.current.as_ref().is_some_and(|w| w.ready));
        if !all_ready || !matches!(self.phase, Phase::Running) {
            return;
        }
        let status = format!("{} workers running", self.slots.len());
        if !self.ever_ready {
            self.ever_ready = true;
            tracing::info!(
                service = self.name,
                workers = self.slots.len(),
                "all workers ready"
            );
            self.setup.notifier.ready();
        }
        self.setup.notifier.status(&status);
    }

    fn on_start_failed(&mut self, pid: u32, error: &str) {
        let booting = !self.ever_ready;
        let in_rollout = self
            .rollout
            .as_ref()
            .is_some_and(|r| r.waiting_for == Some(pid));
        let Some((_, worker)) = self.find(pid) else {
            return;
        };
        let id = worker.id;
        if booting && self.start_failure {
            tracing::debug!(worker = id, pid, error, "worker failed to start too");
        } else if booting {
            tracing::error!(
                worker = id,
                pid,
                error,
                "worker failed to start; stopping the service"
            );
            self.start_failure = true;
            self.begin_stop(false);
        } else if in_rollout {
            tracing::error!(
                worker = id,
                pid,
                error,
                "new worker failed to start; reload abandoned"
            );
            self.abandon_rollout(format!("a new worker failed to start: {error}"));
        } else {
            tracing::error!(worker = id, pid, error, "worker failed to start");
        }
    }

    fn on_exit(&mut self, pid: u32, status: Option<ExitStatus>) {
        let Some((index, _)) = self.find(pid) else {
            tracing::warn!(pid, "exit of an unknown child");
            return;
        };
        let slot = &mut self.slots[index];
        let worker = if slot.current.as_ref().is_some_and(|w| w.pid == pid) {
            slot.current.take().expect("checked just above")
        } else {
            let position = slot
                .retiring
                .iter()
                .position(|w| w.pid == pid)
                .expect("found above");
            slot.retiring.remove(position)
        };
        log_exit(&worker, status);
        if worker.stopping || !matches!(self.phase, Phase::Running) {
            return;
        }
        self.report_status();
        if self
            .rollout
            .as_ref()
            .is_some_and(|r| r.waiting_for == Some(pid))
        {
            tracing::error!(
                worker = worker.id,
                "new worker died before it was ready; reload abandoned"
            );
            let ending = status.map_or_else(|| "unknown status".to_string(), describe_status);
            self.abandon_rollout(format!("a new worker died before it was ready: {ending}"));
        }
        if self.slots[index].current.is_some() {
            return;
        }
        self.schedule_respawn(index, worker.started, worker.ready);
    }

    fn schedule_respawn(&mut self, index: usize, started: Instant, was_ready: bool) {
        match self.policy.next_delay(index, started.elapsed(), was_ready) {
            Some(delay) => {
                if !delay.is_zero() {
                    let worker = index + 1;
                    tracing::warn!(worker, delay = ?delay, "worker keeps dying; restart delayed");
                }
                self.slots[index].respawn_at = Some(crate::deadline::from_now(delay));
                self.slots[index].restarts += 1;
            }
            None => {
                tracing::error!(
                    worker = index + 1,
                    limit = self.policy.limit(),
                    "worker died too many times in a row; stopping the service"
                );
                self.gave_up = true;
                self.begin_stop(false);
            }
        }
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        if self.watchdog_at.is_some_and(|at| at <= now) {
            self.ping_watchdog(now);
        }
        if let Phase::Stopping {
            deadline: Some(deadline),
        } = self.phase
        {
            if deadline <= now {
                self.kill_remaining();
                self.phase = Phase::Stopping { deadline: None };
            }
        }
        let due: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].respawn_at.is_some_and(|at| at <= now))
            .collect();
        for index in due {
            self.slots[index].respawn_at = None;
            if matches!(self.phase, Phase::Running) {
                self.spawn_into(index);
            }
        }
    }

    fn on_signal(&mut self, signal: i32) {
        match (signal, &self.phase) {
            (SIGTERM | SIGINT, Phase::Running) => {
                let name = if signal == SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                tracing::info!(signal = name, "stopping gracefully");
                self.begin_stop(true);
            }
            (SIGINT, Phase::Stopping { .. }) => {
                tracing::warn!(signal = "SIGINT", "second interrupt: killing every worker");
                self.interrupted = true;
                self.kill_all();
            }
            (SIGTERM, Phase::Stopping { .. }) => {
                tracing::info!(signal = "SIGTERM", "already stopping");
            }
            (SIGHUP, Phase::Running) if super::terminal::terminal_hung_up() => {
                tracing::info!(
                    signal = "SIGHUP",
                    "the terminal hung up; stopping gracefully"
                );
                self.begin_stop(true);
            }
            (SIGHUP, Phase::Running) => {
                tracing::info!(signal = "SIGHUP", "reload requested");
                self.request_reload(ReloadWaiters::default());
            }
            (SIGHUP, Phase::Stopping { .. }) => tracing::info!("stopping; reload ignored"),
            (SIGUSR2, _) => self.log_report(),
            _ => self.reopen_logs(),
        }
    }

    fn reopen_logs(&mut self) {
        match self.setup.logs.reopen() {
            Ok(()) => tracing::info!("log file reopened"),
            Err(error) => tracing::error!(%error, "could not reopen the log file"),
        }
        for worker in self.live_workers() {
            worker.send(ToWorker::ReopenLogs);
        }
    }

    fn begin_stop(&mut self, graceful: bool) {
        if !matches!(self.phase, Phase::Running) {
            return;
        }
        self.setup.notifier.stopping();
        self.setup.listeners.clear();
        self.drop_reloads();
        let timeout = self.opts().graceful_shutdown_timeout;
        let deadline =
            (timeout > 0).then(|| crate::deadline::from_now(Duration::from_secs(timeout)));
        self.phase = Phase::Stopping { deadline };
        for slot in &mut self.slots {
            slot.respawn_at = None;
            for worker in slot.current.iter_mut().chain(slot.retiring.iter_mut()) {
                worker.stopping = true;
                worker.send(ToWorker::Stop { graceful });
            }
        }
    }

    fn kill_remaining(&mut self) {
        let timeout = self.opts().graceful_shutdown_timeout;
        for worker in self.live_workers() {
            tracing::error!(
                worker = worker.id,
                pid = worker.pid,
                timeout_seconds = timeout,
                "{} did not stop within graceful_shutdown_timeout; killing it",
                worker.describe()
            );
            worker.kill.cancel();
        }
        self.forced = true;
    }

    fn kill_all(&mut self) {
        for worker in self.live_workers() {
            worker.kill.cancel();
        }
    }

    /// A stop ends the reload in progress and the one asked for after it;
    /// whoever waits for them hears so.
    fn drop_reloads(&mut self) {
        let stopped = ReloadOutcome::Refused("the service began to stop before the reload ended");
        if let Some(awaited) = self.rollout.take().and_then(|rollout| rollout.awaited) {
            awaited.failed(&stopped);
        }
        if let Some(waiters) = self.reload_pending.take() {
            waiters.answer(&stopped);
        }
    }

    /// Reloads now, or after the reload in progress when there is one
    /// (several requests in the meantime make one more reload); `waiters`
    /// hear the outcome of the reload that reads their request.
    fn request_reload(&mut self, waiters: ReloadWaiters) {
        if self.rollout.is_some() {
            tracing::info!("reload in progress; another will follow it");
            self.reload_pending.get_or_insert_default().add(waiters);
            return;
        }
        self.reload_now(waiters);
    }

    /// Runs the reload asked for while another ran, if any.
    fn run_pending_reload(&mut self) {
        if let Some(waiters) = self.reload_pending.take() {
            self.reload_now(waiters);
        }
    }

    fn reload_now(&mut self, waiters: ReloadWaiters) {
        self.setup.notifier.reloading();
        tracing::info!("reloading the configuration");
        let method = ReloadMethod::from_option(&self.opts().restart_method);
        let result = reload_checking(
            &self.setup.registry,
            &self.setup.load,
            &self.setup.conf,
            method,
            &self.setup.start_checks,
        );
        let mut reloaded = match result {
            Ok(reloaded) => reloaded,
            Err(errors) => {
                for error in &errors.0 {
                    tracing::error!(%error, "reload rejected; the running configuration stays");
                }
                self.setup.notifier.ready();
                let errors = errors.0.iter().map(|e| e.to_string()).collect();
                waiters.answer(&ReloadOutcome::Rejected(errors));
                return;
            }
        };
        for warning in &reloaded.warnings {
            tracing::warn!("{warning}");
        }
        for option in &reloaded.needs_restart {
            tracing::warn!(
                option = %option,
                "option changed but is not mutable; restart to apply it"
            );
        }
        if method == ReloadMethod::Reload {
            (self.setup.start_only)(&self.setup.conf, &mut reloaded);
        }
        tracing::info!(changed = ?reloaded.changed, "new configuration validated");
        let applied = ReloadOutcome::Applied {
            changed: reloaded.changed,
            needs_restart: reloaded.needs_restart,
        };
        let previous = Previous {
            conf: std::mem::replace(&mut self.setup.conf, reloaded.conf),
            generation: self.generation,
        };
        self.setup.logs.reconfigure(&self.setup.conf);
        match method {
            ReloadMethod::Mutate => {
                self.mutate_workers();
                waiters.answer(&applied);
            }
            ReloadMethod::Reload => {
                self.generation += 1;
                let awaited = AwaitedReload::new(applied, waiters);
                self.start_rollout(Some(previous), Some(awaited));
            }
        }
    }

    fn mutate_workers(&mut self) {
        let snapshot = self.setup.conf.snapshot().clone();
        for worker in self.live_workers() {
            worker.send(ToWorker::Apply {
                snapshot: snapshot.clone(),
            });
        }
        self.setup.notifier.ready();
    }

    /// Replaces, one at a time, every worker that is not of the current
    /// generation.
    fn start_rollout(&mut self, previous: Option<Previous>, awaited: Option<AwaitedReload>) {
        self.rollout = Some(Rollout {
            next_slot: 0,
            waiting_for: None,
            previous,
            awaited,
        });
        self.advance_rollout();
    }

    /// Starts the next slot's replacement, or finishes the reload. Slots
    /// whose worker already is of the current generation (restarted during
    /// the reload) are skipped.
    fn advance_rollout(&mut self) {
        let Some(rollout) = self.rollout.as_mut() else {
            return;
        };
        let generation = self.generation;
        let mut index = rollout.next_slot;
        while self
            .slots
            .get(index)
            .and_then(|slot| slot.current.as_ref())
            .is_some_and(|w| w.generation == generation)
        {
            index += 1;
        }
        if index >= self.slots.len() {
            let finished = self.rollout.take().expect("a rollout is running");
            self.finish_rollout(finished);
            return;
        }
        rollout.next_slot = index + 1;
        self.spawn_into(index);
        let pid = self.slots[index].current.as_ref().map(|w| w.pid);
        if let Some(rollout) = self.rollout.as_mut() {
            rollout.waiting_for = pid;
        }
    }

    /// Every worker runs the current generation: the reload took effect
    /// (or the previous configuration is back everywhere). A reload asked
    /// for meanwhile runs now.
    fn finish_rollout(&mut self, finished: Rollout) {
        let generation = self.generation;
        match finished.awaited {
            Some(awaited) => {
                tracing::info!(generation, "reload finished");
                awaited.succeeded();
            }
            None => tracing::info!(
                generation,
                "every worker runs the previous configuration again"
            ),
        }
        self.setup.notifier.ready();
        self.check_all_ready();
        self.run_pending_reload();
    }

    fn retire_old_workers(&mut self, index: usize) {
        for worker in &mut self.slots[index].retiring {
            if !worker.stopping {
                worker.stopping = true;
                worker.send(ToWorker::Stop { graceful: true });
            }
        }
    }

    /// A new worker could not start: put the previous worker of its slot
    /// back in service, and the configuration and generation that were in
    /// force before the reload. Workers the reload already replaced run
    /// the abandoned configuration: they are replaced again, one at a
    /// time, with the previous one. `reason` tells whoever waits for the
    /// reload why it did not take effect. A reload asked for meanwhile
    /// still runs, once the previous configuration is back everywhere.
    fn abandon_rollout(&mut self, reason: String) {
        let Some(rollout) = self.rollout.take() else {
            return;
        };
        if let Some(awaited) = rollout.awaited {
            awaited.failed(&ReloadOutcome::Abandoned(reason));
        }
        let index = rollout.next_slot - 1;
        let slot = &mut self.slots[index];
        if let Some(mut failed) = slot.current.take() {
            failed.stopping = true;
            failed.discarded = true;
            failed.kill.cancel();
            slot.retiring.push(failed);
        }
        if let Some(position) = slot.retiring.iter().position(|w| !w.stopping) {
            slot.current = Some(slot.retiring.remove(position));
        }
        self.setup
            .notifier
            .status("reload failed: a new worker did not start");
        let Some(previous) = rollout.previous else {
            tracing::error!(
                worker = index + 1,
                "the previous configuration could not be put back on every worker"
            );
            self.setup.notifier.ready();
            self.run_pending_reload();
            return;
        };
        let abandoned = self.generation;
        self.generation = previous.generation;
        self.setup.conf = previous.conf;
        self.setup.logs.reconfigure(&self.setup.conf);
        let replaced = self.slots.iter().filter(|slot| {
            slot.current
                .as_ref()
                .is_some_and(|w| w.generation == abandoned)
        });
        let replaced = replaced.count();
        tracing::warn!(
            generation = self.generation,
            abandoned_generation = abandoned,
            workers_to_replace_again = replaced,
            "reload abandoned: previous configuration restored"
        );
        if replaced == 0 {
            self.setup.notifier.ready();
            self.run_pending_reload();
        } else {
            self.start_rollout(None, None);
        }
    }
}

/// A duplicate of a listening socket's descriptor, for a child.
fn listener_fd(listener: &Listener) -> std::io::Result<OwnedFd> {
    Ok(match listener.try_clone()? {
        Listener::Tcp(listener) => listener.into(),
        Listener::Unix(listener) => listener.into(),
    })
}

fn log_exit(worker: &Worker, status: Option<ExitStatus>) {
    use std::os::unix::process::ExitStatusExt;
    let Some(status) = status else {
        tracing::warn!(
            worker = worker.id,
            pid = worker.pid,
            "worker exited; status unknown"
        );
        return;
    };
    let expected = worker.stopping;
    if worker.discarded {
        tracing::info!(
            worker = worker.id,
            pid = worker.pid,
            "the new worker of the abandoned reload ended: {}",
            describe_status(status)
        );
        return;
    }
    match (status.code(), status.signal()) {
        (Some(0), _) if expected => {
            tracing::info!(worker = worker.id, pid = worker.pid, "worker stopped");
        }
        (Some(code), _) => {
            tracing::warn!(
                worker = worker.id,
                pid = worker.pid,
                code,
                "worker exited with status {code}"
            );
        }
        (_, Some(signal)) => {
            tracing::warn!(
                worker = worker.id,
                pid = worker.pid,
                signal,
                "worker killed by signal {signal} ({})",
                signal_name(signal)
            );
        }
        _ => tracing::warn!(worker = worker.id, pid = worker.pid, "worker exited"),
    }
}

/// An exit status in words: `exit status 1`, `killed by signal 9 (SIGKILL)`.
fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (_, Some(signal)) => format!("killed by signal {signal} ({})", signal_name(signal)),
        _ => "unknown status".to_string(),
    }
}

/// The name of a signal number, `SIGABRT` for 6.
fn signal_name(signal: i32) -> &'static str {
    signal_hook::low_level::signal_name(signal).unwrap_or("unknown signal")
}

/// Watches one child: forwards commands to it, its reports to the
/// supervisor, kills it on request and reports its exit.
struct Watch {
    pid: u32,
    child: tokio::process::Child,
    stream: tokio::net::UnixStream,
    commands: mpsc::UnboundedReceiver<ToWorker>,
    kill: CancellationToken,
}

impl Watch {
    async fn run(mut self, start: ToWorker, events: mpsc::UnboundedSender<Event>) {
        let pid = self.pid;
        let (mut sender, mut receiver) = protocol::split(self.stream);
        let _ = sender.send(&start).await;
        let (mut reading, mut killed) = (true, false);
        loop {
            tokio::select! {
                status = self.child.wait() => {
                    // What the worker wrote before it exited (a start
                    // failure and its error) is reported before its exit.
                    while reading {
                        let next = receiver.recv::<FromWorker>();
                        match tokio::time::timeout(Duration::from_millis(200), next).await {
                            Ok(Ok(Some(message))) => forward(pid, message, &events),
                            _ => reading = false,
                        }
                    }
                    let _ = events.send(Event::Exited { pid, status: status.ok() });
                    return;
                }
                message = receiver.recv::<FromWorker>(), if reading => match message {
                    Ok(Some(message)) => forward(pid, message, &events),
                    Ok(None) | Err(_) => reading = false,
                },
                Some(command) = self.commands.recv() => { let _ = sender.send(&command).await; }
                () = self.kill.cancelled(), if !killed => {
                    killed = true;
                    let _ = self.child.start_kill();
                }
            }
        }
    }
}

/// Passes a worker's message on to the supervisor.
fn forward(pid: u32, message: FromWorker, events: &mpsc::UnboundedSender<Event>) {
    let event = match message {
        FromWorker::Ready => Event::Ready { pid },
        FromWorker::StartFailed { error } => Event::StartFailed { pid, error },
        FromWorker::Answer { id, answer } => Event::Answer { id, answer },
    };
    let _ = events.send(event);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
