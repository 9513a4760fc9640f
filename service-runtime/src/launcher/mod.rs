//! Launchers: the service in the main process for one worker, or in
//! supervised worker processes for more.
//!
//! Worker processes are started by executing the program again
//! (`/proc/self/exe`), never by forking a process that already runs
//! threads. Each worker inherits one end of a socket pair as descriptor 3:
//! the main process sends the validated configuration and commands over it,
//! the worker reports readiness back, and the worker sees the end of the
//! stream when the main process dies, even by SIGKILL, and stops at once.

mod cli;
mod in_process;
mod protocol;
mod restart;
mod service_loop;
mod supervisor;
mod worker;

use std::sync::Arc;

use crate::config::{self, Conf, ConfigErrors, LoadArgs, Registry};
use crate::exit;
use crate::logging::{self, LogControl, Role};
use crate::options::ServiceOpts;
use crate::service::Service;
use crate::systemd::Notifier;

pub(crate) use cli::Action;

/// Everything the main process knows once the configuration is loaded.
pub(crate) struct Setup {
    pub(crate) registry: Arc<Registry>,
    pub(crate) load: LoadArgs,
    pub(crate) conf: Conf,
    pub(crate) workers: u32,
    pub(crate) notifier: Notifier,
    pub(crate) logs: LogControl,
}

/// The body of the `main` that `main!` generates.
pub fn run_main<S: Service>(version: &'static str) -> ! {
    if let Some(identity) = worker::identity_from_env() {
        worker::run::<S>(identity);
    }
    // SAFETY: nothing has started a thread yet: this is the first thing the
    // main process does after learning it is not a worker.
    let notifier = unsafe { Notifier::from_env() };
    let registry = match Registry::from_program() {
        Ok(registry) => Arc::new(registry),
        Err(errors) => fail_config(&ConfigErrors(errors)),
    };
    let request = cli::parse(S::NAME, version, &registry, std::env::args_os().collect());
    match request.action {
        Action::GenerateConfig => {
            print!("{}", config::sample::generate(&registry));
            std::process::exit(exit::OK);
        }
        Action::CheckConfig | Action::PrintConfig | Action::Run => {}
    }
    let mut load = request.load;
    if let (Some(count), Some((group, name))) = (request.workers, S::workers_option()) {
        let flag = "--workers".to_string();
        load.cli_values
            .push((group.to_string(), name.to_string(), count.to_string(), flag));
    }
    let loaded = config::load(&registry, &load).unwrap_or_else(|errors| fail_config(&errors));
    let conf = loaded.conf;
    let workers = request.workers.map(Ok).unwrap_or_else(|| S::workers(&conf));
    let workers = workers.unwrap_or_else(|message| {
        fail_config(&ConfigErrors(vec![config::ConfigError::general(
            None, message,
        )]))
    });
    match request.action {
        Action::CheckConfig => check_config(&loaded.warnings),
        Action::PrintConfig => print_config(&conf),
        Action::Run | Action::GenerateConfig => {}
    }
    let opts = conf.group::<ServiceOpts>().clone();
    let logs = logging::init(Role::Main, &opts).unwrap_or_else(|error| {
        eprintln!("error: {error}");
        std::process::exit(exit::CONFIG)
    });
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    log_options(&conf, &opts);
    let setup = Setup {
        registry,
        load,
        conf,
        workers,
        notifier,
        logs,
    };
    let code = if workers == 1 {
        in_process::run::<S>(setup)
    } else {
        supervisor::run::<S>(setup)
    };
    std::process::exit(code)
}

fn fail_config(errors: &ConfigErrors) -> ! {
    for error in &errors.0 {
        eprintln!("error: {error}");
    }
    std::process::exit(exit::CONFIG)
}

fn check_config(warnings: &[String]) -> ! {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    println!("configuration is valid");
    std::process::exit(exit::OK)
}

fn print_config(conf: &Conf) -> ! {
    for value in conf.effective_values() {
        println!(
            "{}.{} = {} ({})",
            value.group, value.name, value.value, value.source
        );
    }
    std::process::exit(exit::OK)
}

/// Logs the effective configuration at start-up, secrets masked.
fn log_options(conf: &Conf, opts: &ServiceOpts) {
    if !opts.log_options {
        return;
    }
    let files: Vec<String> = conf
        .snapshot()
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    tracing::info!(files = ?files, "configuration loaded");
    for value in conf.effective_values() {
        tracing::debug!(
            option = %format!("{}.{}", value.group, value.name),
            value = %value.value,
            source = %value.source,
            "option"
        );
    }
}
