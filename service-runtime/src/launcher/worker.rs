//! The worker side: a process started by the main process to run one
//! instance of the service.

use std::io::{BufRead, BufReader};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_tokio::Signals;
use tokio::sync::{mpsc, oneshot};

use super::protocol::{self, CHANNEL_FD, FIRST_LISTENER_FD, FromWorker, ToWorker, WORKER_ENV};
use super::service_loop::{self, Command, Ending, Report};
use crate::config::{Conf, Registry};
use crate::control::{self, WorkerQuery};
use crate::exit;
use crate::http::Listener;
use crate::listen::SocketKind;
use crate::logging::{self, LogControl, Role};
use crate::service::{Context, Service};

/// Who this worker is, as the main process told it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Identity {
    pub(crate) id: u32,
    pub(crate) generation: u64,
}

/// Reads the worker identity, if this process is a worker, and removes it
/// from the environment so that programs the service starts do not inherit
/// it. Called first thing in `main`, while the process has one thread.
pub(crate) fn identity_from_env() -> Option<Identity> {
    let value = std::env::var(WORKER_ENV).ok()?;
    // SAFETY: `main` calls this before it starts any thread, so no other
    // thread can read the environment concurrently.
    unsafe { std::env::remove_var(WORKER_ENV) };
    let (id, generation) = value.split_once(':')?;
    Some(Identity {
        id: id.parse().ok()?,
        generation: generation.parse().ok()?,
    })
}

/// Runs this process as a worker; never returns.
pub(crate) fn run<S: Service>(identity: Identity) -> ! {
    set_process_name(S::NAME);
    // SAFETY: the main process put one end of a socket pair at this
    // descriptor for this process alone; nothing else in the process owns
    // it, and it is taken exactly once.
    let channel = unsafe { UnixStream::from_raw_fd(CHANNEL_FD) };
    let (conf, listeners) = match receive_start(&channel) {
        Ok(started) => started,
        Err(message) => {
            eprintln!("worker {}: {message}", identity.id);
            std::process::exit(exit::START_FAILED);
        }
    };
    let logs = logging::init(Role::Worker(identity.id), &conf).unwrap_or_else(|error| {
        eprintln!("worker {}: {error}", identity.id);
        std::process::exit(exit::CONFIG)
    });
    let runtime = super::service_runtime(&conf);
    let tls = match super::tls_from_conf(&conf) {
        Ok(tls) => tls,
        Err(error) => {
            tracing::error!(%error, "cannot set up TLS");
            std::process::exit(exit::START_FAILED);
        }
    };
    let ctx = Context::new(identity.id, identity.generation, conf).with_listeners(listeners, tls);
    let code = runtime.block_on(serve::<S>(ctx, channel, logs));
    runtime.shutdown_timeout(Duration::from_millis(100));
    logging::flush();
    std::process::exit(code)
}

/// Names this process after the service in `ps` and `top`, which would
/// otherwise show `exe`, the last part of `/proc/self/exe`. The kernel
/// keeps the first 15 bytes. Called before any thread starts, so that the
/// threads started later inherit the name too.
fn set_process_name(name: &str) {
    let mut buffer = [0u8; 16];
    let bytes = name.as_bytes();
    let length = bytes.len().min(15);
    buffer[..length].copy_from_slice(&bytes[..length]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16
    // bytes; `buffer` is 16 bytes long, its last byte is always 0 and it
    // outlives the call. The call only renames the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, buffer.as_ptr() as libc::c_ulong, 0, 0, 0);
    }
}

/// Reads the first message, which carries the configuration and names the
/// inherited listening sockets, before any runtime exists.
fn receive_start(channel: &UnixStream) -> Result<(Conf, Vec<(String, Listener)>), String> {
    let mut line = String::new();
    BufReader::new(channel)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read from the main process: {e}"))?;
    let message: ToWorker =
        serde_json::from_str(&line).map_err(|e| format!("bad start message: {e}"))?;
    let ToWorker::Start {
        snapshot,
        listeners,
    } = message
    else {
        return Err("the main process did not send the configuration first".to_string());
    };
    let registry = Registry::from_program().map_err(|_| "conflicting option declarations")?;
    let conf = Conf::build(Arc::new(registry), snapshot).map_err(|e| e.to_string())?;
    Ok((conf, adopt_listeners(listeners)))
}

/// Takes ownership of the listening sockets inherited from the main process.
fn adopt_listeners(names: Vec<(String, SocketKind)>) -> Vec<(String, Listener)> {
    let mut listeners = Vec::with_capacity(names.len());
    for (fd, (name, kind)) in (FIRST_LISTENER_FD..).zip(names) {
        // SAFETY: the main process mapped one listening socket to each
        // descriptor from FIRST_LISTENER_FD on, one per name, for this
        // process alone; each is taken exactly once here.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let listener = match kind {
            SocketKind::Tcp => Listener::Tcp(owned.into()),
            SocketKind::Unix => Listener::Unix(owned.into()),
        };
        listeners.push((name, listener));
    }
    listeners
}

async fn serve<S: Service>(ctx: Context, channel: UnixStream, logs: LogControl) -> i32 {
    channel
        .set_nonblocking(true)
        .expect("the channel can be made non-blocking");
    let channel = tokio::net::UnixStream::from_std(channel).expect("the channel joins the runtime");
    let (mut sender, mut receiver) = protocol::split(channel);
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2])
        .expect("signal handlers can be installed");
    let (answers, mut answer_rx) = mpsc::unbounded_channel();
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (reports, mut report_rx) = mpsc::unbounded_channel();
    let service_ctx = ctx.clone();
    let mut instance = tokio::spawn(async move {
        service_loop::run::<S>(service_ctx, command_rx, move |report| {
            let _ = reports.send(report);
        })
        .await
    });
    let mut parent_alive = true;
    loop {
        tokio::select! {
            ending = &mut instance => {
                // The instance reports before it ends, but the end may be
                // seen first: a start failure and its error still reach
                // the main process before this worker exits.
                while let Ok(report) = report_rx.try_recv() {
                    let _ = sender.send(&from_worker(report)).await;
                }
                return exit_code(ending.ok());
            }
            Some(report) = report_rx.recv() => {
                let _ = sender.send(&from_worker(report)).await;
            }
            Some(answer) = answer_rx.recv() => { let _ = sender.send(&answer).await; }
            message = receiver.recv::<ToWorker>(), if parent_alive => match message {
                Ok(Some(message)) => handle_message(message, &commands, &logs, &answers),
                Ok(None) | Err(_) => {
                    tracing::error!("the main process is gone; stopping at once");
                    parent_alive = false;
                    let budget = Some(Duration::from_millis(800));
                    let _ = commands.send(Command::Stop { graceful: false, budget });
                    arm_exit_deadline(Duration::from_secs(1));
                }
            },
            Some(signal) = signals.next() => {
                match signal {
                    SIGTERM => {
                        tracing::info!(signal = "SIGTERM", "stopping gracefully");
                        let _ = commands.send(Command::Stop { graceful: true, budget: None });
                    }
                    SIGUSR1 => reopen_logs(&logs),
                    SIGUSR2 => log_own_tasks(ctx.worker_id(), &commands),
                    _ => tracing::debug!(signal, "signal left to the main process"),
                }
            }
        }
    }
}

fn from_worker(report: Report) -> FromWorker {
    match report {
        Report::Ready => FromWorker::Ready,
        Report::StartFailed(error) => FromWorker::StartFailed { error },
    }
}

fn handle_message(
    message: ToWorker,
    commands: &mpsc::UnboundedSender<Command>,
    logs: &LogControl,
    answers: &mpsc::UnboundedSender<FromWorker>,
) {
    match message {
        ToWorker::Stop { graceful } => {
            let _ = commands.send(Command::Stop {
                graceful,
                budget: None,
            });
        }
        ToWorker::Apply { snapshot } => {
            let registry = Registry::from_program().expect("declarations were checked at start");
            match Conf::build(Arc::new(registry), snapshot) {
                Ok(conf) => {
                    logs.reconfigure(&conf);
                    let _ = commands.send(Command::Apply(conf));
                }
                Err(errors) => {
                    tracing::error!(%errors, "configuration from the main process rejected")
                }
            }
        }
        ToWorker::ReopenLogs => reopen_logs(logs),
        ToWorker::Query { id, query } => answer_query(id, query, commands, answers),
        ToWorker::Start { .. } => tracing::warn!("unexpected second start message ignored"),
    }
}

fn reopen_logs(logs: &LogControl) {
    match logs.reopen() {
        Ok(()) => tracing::info!("log file reopened"),
        Err(error) => tracing::error!(%error, "could not reopen the log file"),
    }
}

/// Passes a control query to the service instance; its answer goes back to
/// the main process when the instance gives it.
fn answer_query(
    id: u64,
    query: WorkerQuery,
    commands: &mpsc::UnboundedSender<Command>,
    answers: &mpsc::UnboundedSender<FromWorker>,
) {
    let (reply, answer) = oneshot::channel();
    let _ = commands.send(Command::Query { query, reply });
    let answers = answers.clone();
    tokio::spawn(async move {
        let answer = answer
            .await
            .unwrap_or_else(|_| Err("the service instance is stopping".to_string()));
        let _ = answers.send(FromWorker::Answer { id, answer });
    });
}

/// SIGUSR2 sent to a worker itself: logs that worker's periodic tasks.
fn log_own_tasks(worker: u32, commands: &mpsc::UnboundedSender<Command>) {
    let (reply, answer) = oneshot::channel();
    let _ = commands.send(Command::Query {
        query: WorkerQuery::Tasks,
        reply,
    });
    tokio::spawn(async move {
        let answer = control::await_worker(worker, std::process::id(), answer).await;
        control::log_tasks(&[answer]);
    });
}

/// Exits the process after `after` even if the stop hangs: a worker whose
/// main process died must not outlive it.
fn arm_exit_deadline(after: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        logging::flush();
        std::process::exit(exit::START_FAILED);
    });
}

fn exit_code(ending: Option<Ending>) -> i32 {
    match ending {
        Some(Ending::Stopped) => exit::OK,
        Some(Ending::StartFailed | Ending::Failed) | None => exit::START_FAILED,
    }
}
