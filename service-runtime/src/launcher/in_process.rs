//! One worker: the service runs in the main process.
//!
//! Signals: SIGTERM and a first SIGINT stop gracefully within
//! `graceful_shutdown_timeout`; a second SIGINT exits at once; SIGHUP
//! reloads the configuration (`reload` stops the service and starts a new
//! instance with the new configuration, `mutate` applies the mutable
//! options in place and calls `reset`); SIGUSR1 reopens the log file;
//! SIGUSR2 writes a report to the log.

use std::time::Duration;

use futures::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_tokio::Signals;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Setup;
use super::service_loop::{self, Command, Ending, Report};
use crate::config::{Conf, ReloadMethod, reload_checking};
use crate::control::{AwaitedReload, ReloadOutcome, ReloadWaiters};
use crate::exit;
use crate::options::ServiceOpts;
use crate::service::{Context, Service};

mod operations;

/// Runs the service in this process until it stops; returns the exit code.
pub(crate) fn run<S: Service>(setup: Setup) -> i32 {
    let runtime = super::service_runtime(&setup.conf);
    runtime.block_on(Host::<S>::new(setup).serve())
}

/// One running instance of the service, and how to talk to it.
struct Instance {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<Ending>,
    started: Instant,
}

/// Why the host is waiting for the instance to end.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Running normally.
    Serve,
    /// Stopping for good, by this deadline if any.
    Shutdown(Option<Instant>),
    /// Stopping to start a new instance with a reloaded configuration.
    Restart,
}

struct Host<S> {
    setup: Setup,
    generation: u64,
    /// The configuration and generation before a reload, until the
    /// instance started with the new configuration is ready.
    previous: Option<(Conf, u64)>,
    /// Who waits for the outcome of the reload whose instance is starting.
    awaited: Option<AwaitedReload>,
    /// A reload asked for while another ran, to follow it whatever its
    /// outcome, and who waits for it.
    reload_pending: Option<ReloadWaiters>,
    purpose: Purpose,
    reports: mpsc::UnboundedSender<Report>,
    report_rx: mpsc::UnboundedReceiver<Report>,
    watchdog_at: Option<Instant>,
    ready: bool,
    operations: operations::Operations,
    _service: std::marker::PhantomData<fn() -> S>,
}

impl<S: Service> Host<S> {
    fn new(setup: Setup) -> Self {
        let (reports, report_rx) = mpsc::unbounded_channel();
        let watchdog_at = setup.notifier.watchdog_interval().map(|_| Instant::now());
        Host {
            setup,
            generation: 0,
            previous: None,
            awaited: None,
            reload_pending: None,
            purpose: Purpose::Serve,
            reports,
            report_rx,
            watchdog_at,
            ready: false,
            operations: operations::Operations::default(),
            _service: std::marker::PhantomData,
        }
    }

    fn opts(&self) -> ServiceOpts {
        self.setup.conf.group::<ServiceOpts>().clone()
    }

    /// Starts an instance with the current configuration and duplicates of
    /// the listening sockets, which this process keeps for the next one.
    fn start_instance(&mut self) -> Instance {
        let listeners = self
            .setup
            .listeners
            .iter()
            .filter_map(|bound| Some((bound.name.clone(), bound.listener.try_clone().ok()?)))
            .collect();
        let ctx = Context::new(0, self.generation, self.setup.conf.clone())
            .with_listeners(listeners, self.setup.tls.clone());
        let (commands, receiver) = mpsc::unbounded_channel();
        let reports = self.reports.clone();
        let task = tokio::spawn(async move {
            service_loop::run::<S>(ctx, receiver, move |report| {
                let _ = reports.send(report);
            })
            .await
        });
        Instance {
            commands,
            task,
            started: Instant::now(),
        }
    }

    async fn serve(mut self) -> i32 {
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2])
            .expect("signal handlers can be installed");
        self.start_control();
        let mut instance = self.start_instance();
        loop {
            let timer = self.next_timer();
            tokio::select! {
                ending = &mut instance.task => {
                    let ending = ending.unwrap_or(Ending::Failed);
                    match self.after_instance(ending) {
                        Some(next) => instance = next,
                        None => return exit_code(ending),
                    }
                }
                Some(report) = self.report_rx.recv() => self.on_report(report, &instance),
                Some(request) = self.operations.requests.recv() => {
                    self.on_control(request, &instance);
                }
                Some(signal) = signals.next() => {
                    if let Some(code) = self.on_signal(signal, &instance) {
                        return code;
                    }
                }
                () = sleep_until(timer) => {
                    if let Some(code) = self.on_timer() {
                        return code;
                    }
                }
            }
        }
    }

    /// What follows the end of an instance: a new one after a reload, the
    /// previous configuration again when the reloaded one failed to start,
    /// or nothing (the process exits).
    fn after_instance(&mut self, ending: Ending) -> Option<Instance> {
        if self.purpose == Purpose::Restart && ending == Ending::Stopped {
            self.purpose = Purpose::Serve;
            self.generation += 1;
            return Some(self.start_instance());
        }
        if self.purpose == Purpose::Serve && ending == Ending::StartFailed {
            self.take_start_failures();
            if let Some((conf, generation)) = self.previous.take() {
                if let Some(awaited) = self.awaited.take() {
                    let reason = "the service failed to start with it".to_string();
                    awaited.failed(&ReloadOutcome::Abandoned(reason));
                }
                tracing::error!(
                    service = S::NAME,
                    generation,
                    "the service failed to start with the reloaded configuration; \
                     starting it again with the previous configuration"
                );
                self.setup.conf = conf;
                self.setup.logs.reconfigure(&self.setup.conf);
                self.generation = generation;
                return Some(self.start_instance());
            }
        }
        tracing::info!(service = S::NAME, "service ended");
        None
    }

    fn next_timer(&self) -> Option<Instant> {
        let deadline = match self.purpose {
            Purpose::Shutdown(deadline) => deadline,
            Purpose::Serve | Purpose::Restart => None,
        };
        [deadline, self.watchdog_at].into_iter().flatten().min()
    }

    fn on_timer(&mut self) -> Option<i32> {
        let now = Instant::now();
        if let Purpose::Shutdown(Some(deadline)) = self.purpose {
            if deadline <= now {
                tracing::error!(
                    service = S::NAME,
                    timeout_seconds = self.opts().graceful_shutdown_timeout,
                    "the service did not stop within graceful_shutdown_timeout; exiting"
                );
                return Some(exit::STOP_TIMED_OUT);
            }
        }
        if let Some(interval) = self.setup.notifier.watchdog_interval() {
            if self.watchdog_at.is_some_and(|at| at <= now) {
                if self.ready && self.purpose == Purpose::Serve {
                    self.setup.notifier.watchdog();
                }
                self.watchdog_at = Some(now + interval / 2);
            }
        }
        None
    }

    fn on_report(&mut self, report: Report, instance: &Instance) {
        match report {
            Report::Ready => self.on_ready(instance),
            Report::StartFailed(error) => self.on_start_failed(&error),
        }
    }

    /// A reload asked for while another ran follows it once an instance
    /// is ready, with the reloaded configuration or the previous one.
    fn on_ready(&mut self, instance: &Instance) {
        self.ready = true;
        self.previous = None;
        self.setup.notifier.ready();
        self.setup
            .notifier
            .status("1 worker running, in the main process");
        if let Some(awaited) = self.awaited.take() {
            awaited.succeeded();
        }
        if let Some(waiters) = self.reload_pending.take() {
            self.reload(instance, waiters);
        }
    }

    /// An instance started with a reloaded configuration failed: whoever
    /// waits for the reload hears the error.
    fn on_start_failed(&mut self, error: &str) {
        self.ready = false;
        self.setup
            .notifier
            .status(&format!("failed to start: {error}"));
        if self.previous.is_some() {
            if let Some(awaited) = self.awaited.take() {
                let reason = format!("the service failed to start with it: {error}");
                awaited.failed(&ReloadOutcome::Abandoned(reason));
            }
        }
    }

    /// Handles the start failure an ended instance reported: it was sent
    /// before the instance ended, so it waits in the channel even when the
    /// end was seen first. A failed instance reports nothing else.
    fn take_start_failures(&mut self) {
        while let Ok(Report::StartFailed(error)) = self.report_rx.try_recv() {
            self.on_start_failed(&error);
        }
    }

    fn on_signal(&mut self, signal: i32, instance: &Instance) -> Option<i32> {
        let stopping = matches!(self.purpose, Purpose::Shutdown(_));
        match signal {
            SIGTERM | SIGINT if !stopping => {
                let name = if signal == SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                tracing::info!(signal = name, "stopping gracefully");
                self.begin_shutdown(instance);
            }
            SIGINT => {
                tracing::warn!(signal = "SIGINT", "second interrupt: exiting at once");
                return Some(exit::INTERRUPTED);
            }
            SIGTERM => tracing::info!(signal = "SIGTERM", "already stopping"),
            SIGHUP if stopping => tracing::info!(signal = "SIGHUP", "stopping; reload ignored"),
            SIGHUP if super::terminal::terminal_hung_up() => {
                tracing::info!(
                    signal = "SIGHUP",
                    "the terminal hung up; stopping gracefully"
                );
                self.begin_shutdown(instance);
            }
            SIGHUP => {
                tracing::info!(signal = "SIGHUP", "reload requested");
                self.reload(instance, ReloadWaiters::default());
            }
            SIGUSR2 => self.log_report(instance),
            _ => match self.setup.logs.reopen() {
                Ok(()) => tracing::info!("log file reopened"),
                Err(error) => tracing::error!(%error, "could not reopen the log file"),
            },
        }
        None
    }

    fn begin_shutdown(&mut self, instance: &Instance) {
        self.setup.notifier.stopping();
        self.setup.listeners.clear();
        let timeout = self.opts().graceful_shutdown_timeout;
        let deadline =
            (timeout > 0).then(|| crate::deadline::from_now(Duration::from_secs(timeout)));
        self.purpose = Purpose::Shutdown(deadline);
        self.drop_reloads();
        let budget = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let _ = instance.commands.send(Command::Stop {
            graceful: true,
            budget,
        });
    }

    /// A stop ends the reload in progress and the one asked for after it;
    /// whoever waits for them hears so.
    fn drop_reloads(&mut self) {
        let stopped = ReloadOutcome::Refused("the service began to stop before the reload ended");
        if let Some(awaited) = self.awaited.take() {
            awaited.failed(&stopped);
        }
        if let Some(waiters) = self.reload_pending.take() {
            waiters.answer(&stopped);
        }
    }

    /// Reloads now, or once the reload in progress (until its instance is
    /// ready) ends; `waiters` hear the outcome of the reload that reads
    /// their request.
    fn reload(&mut self, instance: &Instance, waiters: ReloadWaiters) {
        if self.purpose == Purpose::Restart || self.previous.is_some() {
            tracing::info!("reload in progress; another will follow it");
            self.reload_pending.get_or_insert_default().add(waiters);
            return;
        }
        self.setup.notifier.reloading();
        let method = ReloadMethod::from_option(&self.opts().restart_method);
        match reload_checking(
            &self.setup.registry,
            &self.setup.load,
            &self.setup.conf,
            method,
            &self.setup.start_checks,
        ) {
            Ok(mut reloaded) => {
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
                tracing::info!(changed = ?reloaded.changed, "configuration reloaded");
                let applied = ReloadOutcome::Applied {
                    changed: reloaded.changed,
                    needs_restart: reloaded.needs_restart,
                };
                let awaited = AwaitedReload::new(applied, waiters);
                self.apply(reloaded.conf, method, instance, awaited);
            }
            Err(errors) => {
                for error in &errors.0 {
                    tracing::error!(%error, "reload rejected; the running configuration stays");
                }
                self.setup.notifier.ready();
                let errors = errors.0.iter().map(|e| e.to_string()).collect();
                waiters.answer(&ReloadOutcome::Rejected(errors));
            }
        }
    }

    /// Puts `conf` in force: at once with `mutate`, by starting a new
    /// instance with `reload`, whose readiness `awaited` waits for.
    fn apply(
        &mut self,
        conf: Conf,
        method: ReloadMethod,
        instance: &Instance,
        awaited: AwaitedReload,
    ) {
        let previous = std::mem::replace(&mut self.setup.conf, conf.clone());
        self.setup.logs.reconfigure(&conf);
        match method {
            ReloadMethod::Mutate => {
                let _ = instance.commands.send(Command::Apply(conf));
                self.setup.notifier.ready();
                awaited.succeeded();
            }
            ReloadMethod::Reload => {
                self.previous = Some((previous, self.generation));
                self.awaited = Some(awaited);
                self.purpose = Purpose::Restart;
                self.ready = false;
                let _ = instance.commands.send(Command::Stop {
                    graceful: true,
                    budget: None,
                });
            }
        }
    }
}

fn exit_code(ending: Ending) -> i32 {
    match ending {
        Ending::Stopped => exit::OK,
        Ending::StartFailed | Ending::Failed => exit::START_FAILED,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
