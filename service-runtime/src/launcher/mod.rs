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
mod references;
mod restart;
mod service_loop;
mod supervisor;
mod terminal;
mod worker;

use std::sync::Arc;

use std::time::Duration;

use crate::config::{
    self, Conf, ConfigError, ConfigErrors, ConfigGroup, LoadArgs, Registry, Reloaded,
    ResolvedGroup, Snapshot,
};
use crate::control::{self, ControlSocket};
use crate::exit;
use crate::http::{
    AccessLogFormat, HttpOptions, Listener, TlsAcceptor, TlsConfigError, tls_acceptor_checking_all,
};
use crate::listen::{self, Bound};
use crate::logging::{self, LogControl, Role};
use crate::options::{HttpServerOpts, ServiceOpts, SslOpts};
use crate::service::Service;
use crate::systemd::{self, Notifier};

pub(crate) use cli::Action;
pub use references::option_reference_errors;

/// Everything the main process knows once the configuration is loaded.
pub(crate) struct Setup {
    pub(crate) registry: Arc<Registry>,
    pub(crate) load: LoadArgs,
    pub(crate) conf: Conf,
    pub(crate) workers: u32,
    pub(crate) notifier: Notifier,
    pub(crate) logs: LogControl,
    pub(crate) listeners: Vec<Bound>,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) control: ControlSocket,
    /// [`keep_start_only_options`] for the service.
    pub(crate) start_only: fn(&Conf, &mut Reloaded),
    /// [`start_checks`] for the service, which a reload runs too.
    pub(crate) start_checks: fn(&Registry, &Snapshot) -> Vec<ConfigError>,
}

/// The body of the `main` that `main!` generates.
pub fn run_main<S: Service>(version: &'static str) -> ! {
    if let Some(identity) = worker::identity_from_env() {
        worker::run::<S>(identity);
    }
    // SAFETY: nothing has started a thread yet: this is the first thing the
    // main process does after learning it is not a worker.
    let notifier = unsafe { Notifier::from_env() };
    let activated = activated_sockets();
    let registry = match Registry::from_program() {
        Ok(registry) => Arc::new(registry),
        Err(errors) => fail_config(&ConfigErrors(errors)),
    };
    let request = cli::parse(S::NAME, version, &registry, std::env::args_os().collect());
    match request.action {
        Action::GenerateConfig => {
            print_and_exit(&config::sample::generate(&registry));
        }
        Action::CheckConfig | Action::PrintConfig | Action::Run | Action::Ctl => {}
    }
    let mut load = request.load;
    if let (Some(count), Some((group, name))) = (request.workers, S::workers_option()) {
        let flag = "--workers".to_string();
        load.cli_values
            .push((group.to_string(), name.to_string(), count.to_string(), flag));
    }
    // `--print-config` and `ctl` start nothing: what only start-up needs
    // (the TLS files, say) must not stand in their way.
    let checks: &dyn Fn(&Registry, &Snapshot) -> Vec<ConfigError> = match request.action {
        Action::CheckConfig | Action::Run => &start_checks::<S>,
        Action::PrintConfig | Action::Ctl | Action::GenerateConfig => &|_, _| Vec::new(),
    };
    let loaded = config::load_checking(&registry, &load, checks);
    if request.action == Action::Ctl {
        let address = control_address(&loaded, &load);
        std::process::exit(control::run_client(S::NAME, &address, &request.ctl));
    }
    let loaded = loaded.unwrap_or_else(|errors| fail_config(&errors));
    let conf = loaded.conf;
    let workers = request.workers.map(Ok).unwrap_or_else(|| S::workers(&conf));
    let workers = workers.unwrap_or_else(|message| {
        fail_config(&ConfigErrors(vec![config::ConfigError::general(
            None, message,
        )]))
    });
    match request.action {
        Action::CheckConfig => check_config(&conf, &loaded.warnings),
        Action::PrintConfig => print_config(&conf),
        Action::Run | Action::GenerateConfig | Action::Ctl => {}
    }
    let opts = conf.group::<ServiceOpts>().clone();
    let logs = logging::init(Role::Main, &conf).unwrap_or_else(|error| {
        eprintln!("error: {error}");
        std::process::exit(exit::CONFIG)
    });
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    log_options(&conf, &opts);
    let tls = tls_from_conf(&conf).unwrap_or_else(|errors| fail_config(&errors));
    let listeners = listen::bind_all(&S::listeners(&conf), activated).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot start");
        std::process::exit(exit::START_FAILED)
    });
    let control = control::bind(&opts).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot start");
        std::process::exit(exit::START_FAILED)
    });
    let socket_file = control.file();
    let setup = Setup {
        registry,
        load,
        conf,
        workers,
        notifier,
        logs,
        listeners,
        tls,
        control,
        start_only: keep_start_only_options::<S>,
        start_checks: start_checks::<S>,
    };
    let code = if workers == 1 {
        in_process::run::<S>(setup)
    } else {
        supervisor::run::<S>(setup)
    };
    if let Some(file) = socket_file {
        file.remove();
    }
    logging::flush();
    std::process::exit(code)
}

/// Changes that a reload cannot apply, because the main process uses them
/// only at start: those that move a listening socket, and the worker count.
/// Each keeps its running value, is named in a warning and moves from
/// `changed` to `needs_restart`.
fn keep_start_only_options<S: Service>(current: &Conf, reloaded: &mut Reloaded) {
    let listeners = S::listeners(current);
    let workers = S::workers(current).ok();
    let start_only: Vec<&config::OptionChange> = reloaded
        .changes
        .iter()
        .filter(|change| reloaded.changed.contains(&change.qualified_name()))
        .filter(|change| {
            config::with_values_from(current, &reloaded.conf, &[change]).is_ok_and(|alone| {
                S::listeners(&alone) != listeners || S::workers(&alone).ok() != workers
            })
        })
        .collect();
    if start_only.is_empty() {
        return;
    }
    for change in &start_only {
        tracing::warn!(
            option = %change.qualified_name(),
            "option changed but the main process applies it only at start; \
             the running value stays until the service is restarted"
        );
    }
    match config::with_values_from(&reloaded.conf, current, &start_only) {
        Ok(conf) => reloaded.conf = conf,
        Err(errors) => {
            tracing::warn!(%errors, "the new values of these options stay in the configuration")
        }
    }
    let names: Vec<String> = start_only.iter().map(|c| c.qualified_name()).collect();
    reloaded.changed.retain(|name| !names.contains(name));
    reloaded.needs_restart.extend(names);
}

/// Sockets systemd passed (socket activation), by name.
fn activated_sockets() -> Vec<(String, Listener)> {
    // SAFETY: called from `main` while the process has one thread, once.
    let sockets = match unsafe { systemd::listen_fds() } {
        Ok(sockets) => sockets,
        Err(error) => {
            eprintln!("warning: ignoring the sockets passed by systemd: {error}");
            return Vec::new();
        }
    };
    sockets
        .into_iter()
        .filter_map(|socket| {
            let name = socket.name().to_string();
            let listener = match socket.kind() {
                Ok(systemd::SocketKind::UnixListener) => {
                    socket.into_unix_listener().ok().map(Listener::Unix)
                }
                _ => socket.into_tcp_listener().ok().map(Listener::Tcp),
            };
            listener.map(|listener| (name, listener))
        })
        .collect()
}

/// What start-up checks beyond the values themselves, from the values
/// read (even when some are bad), so that `--check-config` and a failed
/// start report it with the other problems: the options the program's own
/// expansion refers to, the TLS settings and the control socket's path.
fn start_checks<S: Service>(registry: &Registry, snapshot: &Snapshot) -> Vec<ConfigError> {
    let mut errors = references::option_reference_errors::<S>(registry);
    errors.extend(tls_errors(registry, snapshot));
    errors.extend(control_socket_error(registry, snapshot));
    errors.extend(log_file_error(registry, snapshot));
    errors.extend(access_log_format_error(registry, snapshot));
    errors
}

/// An error about option `group.name` whose value reads `value`, at the
/// place the value came from (none for a default).
fn option_error(
    snapshot: &Snapshot,
    (group, name): (&str, &str),
    value: String,
    reason: String,
) -> ConfigError {
    let source = snapshot
        .get(group, name)
        .map(config::Resolved::source)
        .filter(|source| *source != config::Source::Default);
    ConfigError::for_option(group, name, source, Some(value), reason)
}

/// A `log_file` that cannot be opened for appending, found before start
/// rather than by the logger once the service is starting.
fn log_file_error(registry: &Registry, snapshot: &Snapshot) -> Option<ConfigError> {
    let view = ResolvedGroup::new(ServiceOpts::GROUP, snapshot, registry);
    let opts = ServiceOpts::build(&view).ok()?;
    let path = logging::log_path(&opts)?;
    let reason = logging::unwritable_reason(&path)?;
    let name = if opts.log_dir.is_some() && opts.log_file.as_ref()?.is_relative() {
        "log_dir"
    } else {
        "log_file"
    };
    let shown = path.display().to_string();
    Some(option_error(
        snapshot,
        (ServiceOpts::GROUP, name),
        shown,
        reason,
    ))
}

/// A `wsgi_log_format` with an unknown key or a bad field: without this
/// check a worker would log a warning and fall back to the default.
fn access_log_format_error(registry: &Registry, snapshot: &Snapshot) -> Option<ConfigError> {
    let view = ResolvedGroup::new(HttpServerOpts::GROUP, snapshot, registry);
    let template = HttpServerOpts::build(&view).ok()?.wsgi_log_format;
    let error = AccessLogFormat::parse(&template).err()?;
    let option = (HttpServerOpts::GROUP, "wsgi_log_format");
    Some(option_error(snapshot, option, template, error.to_string()))
}

/// A `control_socket` where no socket can be bound (its directory is
/// missing or not writable), as a configuration error: it is a mistake in
/// the configuration, to be found by `--check-config` rather than by a
/// start that fails once everything else is set up.
fn control_socket_error(registry: &Registry, snapshot: &Snapshot) -> Option<ConfigError> {
    let view = ResolvedGroup::new(ServiceOpts::GROUP, snapshot, registry);
    let path = ServiceOpts::build(&view).ok()?.control_socket?;
    let reason = control::unbindable_reason(&path)?;
    let option = (ServiceOpts::GROUP, "control_socket");
    Some(option_error(
        snapshot,
        option,
        path.display().to_string(),
        reason,
    ))
}

/// Every problem of the `[ssl]` settings read, as configuration errors;
/// none when the group's values are themselves bad (those are reported
/// already).
fn tls_errors(registry: &Registry, snapshot: &Snapshot) -> Vec<ConfigError> {
    let view = ResolvedGroup::new(SslOpts::GROUP, snapshot, registry);
    let Ok(ssl) = SslOpts::build(&view) else {
        return Vec::new();
    };
    match tls_acceptor_for(&ssl) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| tls_config_error(snapshot, e))
            .collect(),
    }
}

fn tls_acceptor_for(ssl: &SslOpts) -> Result<Option<TlsAcceptor>, Vec<TlsConfigError>> {
    tls_acceptor_checking_all(
        ssl.cert_file.as_deref(),
        ssl.key_file.as_deref(),
        ssl.ca_file.as_deref(),
        ssl.version.as_deref(),
        ssl.ciphers.as_deref(),
    )
}

/// The TLS settings of `[ssl]`, checked: files exist and match.
fn tls_from_conf(conf: &Conf) -> Result<Option<TlsAcceptor>, ConfigErrors> {
    tls_acceptor_for(conf.group::<SslOpts>()).map_err(|errors| {
        let errors = errors.iter().map(|e| tls_config_error(conf.snapshot(), e));
        ConfigErrors(errors.collect())
    })
}

/// A TLS settings error in the shape of other configuration errors: the
/// file and line (or other source) that set the option, the option, the
/// value and the problem.
fn tls_config_error(snapshot: &Snapshot, error: &TlsConfigError) -> ConfigError {
    let option = error.option();
    let source = snapshot
        .get(SslOpts::GROUP, option)
        .map(config::Resolved::source)
        .filter(|source| *source != config::Source::Default);
    ConfigError::for_option(
        SslOpts::GROUP,
        option,
        source,
        error.value(),
        error.problem(),
    )
}

/// The HTTP server settings of the configuration.
pub(crate) fn http_options(conf: &Conf) -> HttpOptions {
    let opts = conf.group::<HttpServerOpts>();
    let access_log_format = AccessLogFormat::parse(&opts.wsgi_log_format).unwrap_or_else(|error| {
        tracing::warn!(%error, "wsgi_log_format is not valid; using the default format");
        AccessLogFormat::default()
    });
    HttpOptions {
        max_header_line: opts.max_header_line as usize,
        client_socket_timeout: Duration::from_secs(opts.client_socket_timeout),
        keep_alive: opts.wsgi_keep_alive,
        tcp_keepidle: Duration::from_secs(opts.tcp_keepidle),
        max_connections: opts.max_connections as usize,
        access_log_format,
        ..HttpOptions::default()
    }
}

/// Where `ctl` finds the service. A configuration with errors is no
/// reason to leave the operator without `status` or `reload`: the errors
/// are shown as warnings, and the two control options are read on their
/// own.
fn control_address(
    loaded: &Result<config::Loaded, ConfigErrors>,
    load: &config::LoadArgs,
) -> control::ControlAddress {
    let errors = match loaded {
        Ok(loaded) => return control::ControlAddress::of(loaded.conf.group::<ServiceOpts>()),
        Err(errors) => errors,
    };
    let Some(address) = control::ControlAddress::despite_errors(load) else {
        fail_config(errors)
    };
    for error in &errors.0 {
        eprintln!("warning: {error}");
    }
    eprintln!(
        "warning: the configuration has errors; reaching the service with \
         control_socket and control_tcp_port as read"
    );
    address
}

fn fail_config(errors: &ConfigErrors) -> ! {
    for error in &errors.0 {
        eprintln!("error: {error}");
    }
    std::process::exit(exit::CONFIG)
}

/// `--check-config`: the configuration loaded, every option is valid and
/// so is what start-up checks next, the TLS settings and the options the
/// program refers to (a load with any problem, reporting all of them,
/// never gets here). Prints the warnings, then exits 0.
fn check_config(conf: &Conf, warnings: &[String]) -> ! {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    println!("configuration is valid ({})", describe_files(conf));
    std::process::exit(exit::OK)
}

/// `--print-config`: one line per option, `group.name = value (source)`,
/// the value as JSON and secrets masked, after a line naming the files.
fn print_config(conf: &Conf) -> ! {
    let mut text = format!("# {}\n", describe_files(conf));
    for value in conf.effective_values() {
        let line = format!(
            "{}.{} = {} ({})\n",
            value.group, value.name, value.value, value.source
        );
        text.push_str(&line);
    }
    print_and_exit(&text)
}

/// Writes `text` to standard output and exits 0. A reader that stops early
/// (`--print-config | head`) is no error; any other write failure is
/// reported and exits 1.
fn print_and_exit(text: &str) -> ! {
    use std::io::Write;

    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: cannot write to standard output: {error}");
            std::process::exit(exit::START_FAILED)
        }
        _ => std::process::exit(exit::OK),
    }
}

/// `files read: a, b`, or `no configuration file read`: the defaults and
/// the other sources alone.
fn describe_files(conf: &Conf) -> String {
    let files = files_read(conf);
    if files.is_empty() {
        "no configuration file read".to_string()
    } else {
        format!("files read: {}", files.join(", "))
    }
}

/// The configuration files read, in reading order.
fn files_read(conf: &Conf) -> Vec<String> {
    let files = conf.snapshot().files.iter();
    files.map(|path| path.display().to_string()).collect()
}

/// The async runtime a service runs on, with `worker_threads` threads (one
/// per core when 0).
pub(crate) fn service_runtime(conf: &Conf) -> tokio::runtime::Runtime {
    let threads = conf.group::<ServiceOpts>().worker_threads;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        builder.worker_threads(threads as usize);
    }
    builder
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
}

/// Logs the effective configuration at start-up, secrets masked: the files
/// at info level, then each option at debug level, as oslo.service does
/// (so the values show with `debug = true` or `--debug`).
fn log_options(conf: &Conf, opts: &ServiceOpts) {
    if !opts.log_options {
        return;
    }
    let files = files_read(conf);
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
