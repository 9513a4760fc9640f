//! One worker: the service runs in the main process.
//!
//! Signals: SIGTERM and a first SIGINT stop gracefully within
//! `graceful_shutdown_timeout`; a second SIGINT exits at once; SIGHUP
//! reloads the configuration.

use std::time::Duration;

use futures::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook_tokio::Signals;
use tokio::sync::mpsc;

use super::Setup;
use super::service_loop::{self, Command, Ending, Report};
use crate::config::{ReloadMethod, reload};
use crate::exit;
use crate::options::ServiceOpts;
use crate::service::{Context, Service};

/// Runs the service in this process until it stops; returns the exit code.
pub(crate) fn run<S: Service>(setup: Setup) -> i32 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    runtime.block_on(serve::<S>(setup))
}

async fn serve<S: Service>(setup: Setup) -> i32 {
    let mut signals =
        Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1]).expect("signal handlers can be installed");
    let mut setup = setup;
    let listeners = std::mem::take(&mut setup.listeners);
    let listeners = listeners
        .into_iter()
        .map(|b| (b.name, b.listener))
        .collect();
    let ctx = Context::new(0, 0, setup.conf.clone()).with_listeners(listeners, setup.tls.clone());
    let (commands, receiver) = mpsc::unbounded_channel();
    let (reports, mut report_rx) = mpsc::unbounded_channel();
    let service_ctx = ctx.clone();
    let mut instance = tokio::spawn(async move {
        service_loop::run::<S>(service_ctx, receiver, |report| {
            let _ = reports.send(report);
        })
        .await
    });
    let mut state = State {
        setup,
        commands,
        stopping: None,
    };
    loop {
        let deadline = state.deadline();
        tokio::select! {
            ending = &mut instance => return state.exit_code(ending.ok()),
            Some(report) = report_rx.recv() => state.on_report(report),
            Some(signal) = signals.next() => {
                if let Some(code) = state.on_signal(signal) {
                    return code;
                }
            }
            () = sleep_until(deadline) => {
                tracing::error!(
                    service = S::NAME,
                    "the service did not stop within graceful_shutdown_timeout; exiting"
                );
                return exit::STOP_TIMED_OUT;
            }
        }
    }
}

struct State {
    setup: Setup,
    commands: mpsc::UnboundedSender<Command>,
    stopping: Option<Option<tokio::time::Instant>>,
}

impl State {
    fn opts(&self) -> ServiceOpts {
        self.setup.conf.group::<ServiceOpts>().clone()
    }

    fn deadline(&self) -> Option<tokio::time::Instant> {
        self.stopping.flatten()
    }

    fn on_report(&mut self, report: Report) {
        match report {
            Report::Ready => {
                self.setup.notifier.ready();
                self.setup.notifier.status("running in the main process");
            }
            Report::StartFailed(error) => {
                self.setup
                    .notifier
                    .status(&format!("failed to start: {error}"));
            }
        }
    }

    fn on_signal(&mut self, signal: i32) -> Option<i32> {
        match signal {
            SIGTERM | SIGINT if self.stopping.is_none() => {
                let name = if signal == SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                tracing::info!(signal = name, "stopping gracefully");
                self.begin_stop();
                None
            }
            SIGINT => {
                tracing::warn!(signal = "SIGINT", "second interrupt: exiting at once");
                Some(exit::INTERRUPTED)
            }
            SIGTERM => {
                tracing::info!(signal = "SIGTERM", "already stopping");
                None
            }
            SIGHUP => {
                self.reload();
                None
            }
            _ => {
                if let Err(error) = self.setup.logs.reopen() {
                    tracing::error!(%error, "could not reopen the log file");
                }
                None
            }
        }
    }

    fn begin_stop(&mut self) {
        self.setup.notifier.stopping();
        let timeout = self.opts().graceful_shutdown_timeout;
        let deadline =
            (timeout > 0).then(|| tokio::time::Instant::now() + Duration::from_secs(timeout));
        self.stopping = Some(deadline);
        let budget = deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
        let _ = self.commands.send(Command::Stop {
            graceful: true,
            budget,
        });
    }

    fn reload(&mut self) {
        if self.stopping.is_some() {
            tracing::info!(signal = "SIGHUP", "stopping; reload ignored");
            return;
        }
        self.setup.notifier.reloading();
        let method = ReloadMethod::from_option(&self.opts().restart_method);
        let result = reload(
            &self.setup.registry,
            &self.setup.load,
            &self.setup.conf,
            method,
        );
        match result {
            Ok(reloaded) => {
                for warning in &reloaded.warnings {
                    tracing::warn!("{warning}");
                }
                for option in &reloaded.needs_restart {
                    tracing::warn!(option = %option, "option changed but needs a restart");
                }
                tracing::info!(changed = ?reloaded.changed, "configuration reloaded");
                self.setup.conf = reloaded.conf.clone();
                self.setup.logs.set_debug(self.opts().debug);
                let _ = self.commands.send(Command::Apply(reloaded.conf));
            }
            Err(errors) => {
                for error in &errors.0 {
                    tracing::error!(%error, "reload rejected; the running configuration stays");
                }
            }
        }
        self.setup.notifier.ready();
    }

    fn exit_code(&self, ending: Option<Ending>) -> i32 {
        match ending {
            Some(Ending::Stopped) => exit::OK,
            Some(Ending::StartFailed | Ending::Failed) | None => exit::START_FAILED,
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
