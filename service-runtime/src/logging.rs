//! Logging through `tracing`, with every line naming its process.
//!
//! Each line carries the time, the process's role (`main` or `worker N`)
//! and its pid, so that the lines of several worker processes writing to
//! one file can be told apart. Lines are plain text by default, or one JSON
//! object each with `use_json`.
//!
//! The level follows `debug` and `default_log_levels`, which can change on
//! reload. The log file can be reopened after rotation, and moves to a new
//! path when a reload changes `log_file` or `log_dir`. The values of secret
//! options are replaced by `****` in every line before it is written, so a
//! secret cannot reach the log even through a careless message.
//!
//! Access log lines are written in batches, at most
//! `access_log_flush_interval` after they were logged; every other line is
//! written at once. [`output`] tells how.

mod format;
mod output;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Conf, Kind, OptionValue};
use crate::options::ServiceOpts;

use format::{AccessLines, LineFormat};
use output::Output;

/// This process's log output, for [`flush`].
static OUTPUT: OnceLock<Output> = OnceLock::new();

/// The short way for access lines, once this module's logger is the
/// process's.
static ACCESS_LINES: OnceLock<AccessLines> = OnceLock::new();

/// Secrets shorter than this are not searched for in log lines: masking
/// every occurrence of two or three common letters would garble the log.
/// The runtime never logs a secret's value itself, whatever its length.
pub const MIN_MASKED_SECRET_LEN: usize = 4;

/// Which process is logging.
#[derive(Clone, Copy, Debug)]
pub enum Role {
    /// The main process (supervisor, or the only process).
    Main,
    /// A worker process, numbered from 1.
    Worker(u32),
}

impl Role {
    /// The worker number, `None` for the main process.
    fn worker(self) -> Option<u32> {
        match self {
            Role::Main => None,
            Role::Worker(id) => Some(id),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Main => f.write_str("main"),
            Role::Worker(id) => write!(f, "worker {id}"),
        }
    }
}

/// One item of `default_log_levels`: the level of a log target and of
/// everything below it, written `target=LEVEL` (`hyper=WARN`).
///
/// Targets are module paths (`service_runtime::http::access`) or crate
/// names (`hyper`). Levels are `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`
/// and `OFF`, in any case; oslo.log's `WARNING`, `CRITICAL` and `FATAL`
/// are accepted too.
///
/// ```
/// use service_runtime::config::OptionValue;
/// use service_runtime::logging::LogLevel;
///
/// let level = LogLevel::parse_raw("hyper=warning").unwrap();
/// assert_eq!(level.render(), "hyper=WARN");
/// assert!(LogLevel::parse_raw("hyper").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLevel {
    target: String,
    level: LevelFilter,
}

impl LogLevel {
    /// The level of `target`.
    pub fn new(target: impl Into<String>, level: LevelFilter) -> LogLevel {
        LogLevel {
            target: target.into(),
            level,
        }
    }

    /// The log target.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The most verbose level written for the target.
    pub fn level(&self) -> LevelFilter {
        self.level
    }

    /// The default of `default_log_levels`: quiet libraries whose debug
    /// output is only useful to their own developers.
    pub fn defaults() -> Vec<LogLevel> {
        ["hyper", "hyper_util", "h2", "rustls", "mio", "tokio_util"]
            .into_iter()
            .map(|target| LogLevel::new(target, LevelFilter::WARN))
            .collect()
    }

    /// The item as an `EnvFilter` directive.
    fn directive(&self) -> String {
        format!("{}={}", self.target, level_name(self.level).to_lowercase())
    }
}

impl OptionValue for LogLevel {
    const KIND: Kind = Kind::String;

    fn parse_raw(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let Some((target, level)) = raw.split_once('=') else {
            return Err(format!(
                "expected `target=LEVEL` (for example `hyper=WARN`), got `{raw}`"
            ));
        };
        let target = target.trim();
        let valid_target = !target.is_empty()
            && target
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'));
        if !valid_target {
            return Err(format!(
                "expected a log target made of letters, digits, `_`, `-`, `.` and `::` before \
                 `=`, got `{target}`"
            ));
        }
        let level = parse_level(level.trim())?;
        Ok(LogLevel::new(target, level))
    }

    fn render(&self) -> String {
        format!("{}={}", self.target, level_name(self.level))
    }
}

fn parse_level(text: &str) -> Result<LevelFilter, String> {
    let level = match text.to_ascii_uppercase().as_str() {
        "TRACE" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "INFO" => LevelFilter::INFO,
        "WARN" | "WARNING" => LevelFilter::WARN,
        "ERROR" | "CRITICAL" | "FATAL" => LevelFilter::ERROR,
        "OFF" => LevelFilter::OFF,
        _ => {
            return Err(format!(
                "expected a level among TRACE, DEBUG, INFO, WARN, ERROR and OFF, got `{text}`"
            ));
        }
    };
    Ok(level)
}

fn level_name(level: LevelFilter) -> &'static str {
    match level.into_level() {
        None => "OFF",
        Some(level) => level.as_str(),
    }
}

/// Changes the running logger: levels, format and output file.
#[derive(Clone)]
pub struct LogControl {
    filter: reload::Handle<EnvFilter, tracing_subscriber::Registry>,
    output: Output,
    json: Arc<AtomicBool>,
    env_directives: Option<String>,
}

impl std::fmt::Debug for LogControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogControl").finish_non_exhaustive()
    }
}

impl LogControl {
    /// Applies the logging options of a new configuration: `debug`,
    /// `default_log_levels`, `use_json`, `use_stderr`, the file named by
    /// `log_file` and `log_dir`, and the values of secret options to mask.
    ///
    /// A new log file is opened before the old one is let go; when it
    /// cannot be opened the error is logged and lines keep going to the
    /// old file.
    pub fn reconfigure(&self, conf: &Conf) {
        let opts = conf.group::<ServiceOpts>();
        self.output.set_secrets(secret_values(conf));
        let filter = build_filter(
            opts.debug,
            &opts.default_log_levels,
            self.env_directives.as_deref(),
        );
        if let Err(error) = self.filter.reload(filter) {
            tracing::warn!(%error, "could not change the log levels");
        }
        self.json.store(opts.use_json, Ordering::Relaxed);
        self.output.set_stderr(opts.use_stderr);
        self.output.set_flush_interval(flush_interval(opts));
        self.move_file(log_path(opts));
    }

    fn move_file(&self, path: Option<PathBuf>) {
        let current = self.output.path();
        if current == path {
            return;
        }
        let shown = |path: &Option<PathBuf>| {
            path.as_ref()
                .map_or_else(|| "standard error".to_string(), |p| p.display().to_string())
        };
        tracing::info!(to = %shown(&path), "log output moves");
        match self.output.set_path(path.as_deref()) {
            Ok(()) => tracing::info!(from = %shown(&current), "log output continues here"),
            Err(error) => tracing::error!(%error, "log output stays where it was"),
        }
    }

    /// Opens the log file again, for use after it was moved by log
    /// rotation. Without a log file this does nothing.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened; logging then goes on to the old file.
    pub fn reopen(&self) -> io::Result<()> {
        self.output.reopen()
    }
}

/// Sets up the global logger for this process from the configuration's
/// logging options.
///
/// `RUST_LOG`, when set, adds directives on top of the levels `debug` and
/// `default_log_levels` give.
///
/// # Errors
///
/// When the log file cannot be opened.
pub fn init(role: Role, conf: &Conf) -> io::Result<LogControl> {
    let opts = conf.group::<ServiceOpts>();
    let output = Output::open(log_path(opts).as_deref(), opts.use_stderr)?;
    output.set_secrets(secret_values(conf));
    output.set_flush_interval(flush_interval(opts));
    let _ = OUTPUT.set(output.clone());
    flush_on_panic();
    let env_directives = std::env::var("RUST_LOG").ok();
    let filter = build_filter(
        opts.debug,
        &opts.default_log_levels,
        env_directives.as_deref(),
    );
    let (filter, handle) = reload::Layer::new(filter);
    let json = Arc::new(AtomicBool::new(opts.use_json));
    let format = LineFormat::new(role, json.clone());
    let layer = tracing_subscriber::fmt::layer()
        .event_format(format)
        .fmt_fields(DefaultFields::new())
        .with_ansi(false)
        .with_writer(output.clone());
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
    if installed.is_ok() {
        let _ = ACCESS_LINES.set(AccessLines::new(output.clone(), role, json.clone()));
    }
    Ok(LogControl {
        filter: handle,
        output,
        json,
        env_directives,
    })
}

/// Writes one access log line, already known to be enabled, without
/// making a `tracing` event of it when this module's logger can write it
/// directly. `false`: the caller logs it through `tracing`.
pub(crate) fn write_access_line(message: &str) -> bool {
    ACCESS_LINES.get().is_some_and(|lines| lines.write(message))
}

/// Writes the access log lines that are waiting for their batch. The
/// runtime calls it before the process exits; call it before exiting the
/// process yourself (`std::process::exit` runs no destructors).
pub fn flush() {
    if let Some(output) = OUTPUT.get() {
        output.flush();
    }
}

/// While it lives, every access line is written at once, the waiting ones
/// first. A stopping service holds one: once its graceful timeout ends it
/// may be killed, and what it logged must not wait in memory until then.
/// Dropping it restores the configured interval (an in-process reload
/// stops one instance and goes on with the next).
#[must_use = "lines are written at once only while the guard lives"]
pub(crate) struct LinesAtOnce {
    previous: Option<Duration>,
}

/// Writes every access line at once until the guard is dropped.
pub(crate) fn lines_at_once() -> LinesAtOnce {
    let previous = OUTPUT.get().map(|output| {
        let previous = output.flush_interval();
        output.set_flush_interval(Duration::ZERO);
        previous
    });
    LinesAtOnce { previous }
}

impl Drop for LinesAtOnce {
    fn drop(&mut self) {
        if let (Some(previous), Some(output)) = (self.previous, OUTPUT.get()) {
            output.set_flush_interval(previous);
        }
    }
}

/// Writes waiting access lines before a panic's message, so that the log
/// shows what was served before it, even when the panic ends the process.
fn flush_on_panic() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(output) = OUTPUT.get() {
                output.flush_unless_busy();
            }
            previous(info);
        }));
    });
}

fn flush_interval(opts: &ServiceOpts) -> Duration {
    Duration::try_from_secs_f64(opts.access_log_flush_interval).unwrap_or_default()
}

/// Why the log file at `path` could not be opened for appending: its
/// directory is missing or not writable, or the file is not writable. A
/// file that does not exist yet is not created: its directory is probed.
pub(crate) fn unwritable_reason(path: &Path) -> Option<String> {
    if path.exists() {
        let opened = std::fs::OpenOptions::new().append(true).open(path);
        return opened
            .err()
            .map(|error| format!("cannot open it for writing: {error}"));
    }
    let directory = crate::paths::directory_of(path);
    crate::paths::may_create_in(directory)
        .err()
        .map(|error| format!("cannot create it in {}: {error}", directory.display()))
}

/// The log file named by `log_file` and `log_dir`, if any.
pub fn log_path(opts: &ServiceOpts) -> Option<PathBuf> {
    let file = opts.log_file.as_ref()?;
    match &opts.log_dir {
        Some(dir) if file.is_relative() => Some(dir.join(file)),
        _ => Some(file.clone()),
    }
}

fn build_filter(debug: bool, levels: &[LogLevel], env: Option<&str>) -> EnvFilter {
    let level = if debug { "debug" } else { "info" };
    let mut directives = vec![level.to_string()];
    directives.extend(levels.iter().map(LogLevel::directive));
    let configured = directives.join(",");
    let with_env = env
        .filter(|env| !env.is_empty())
        .and_then(|env| EnvFilter::try_new(format!("{configured},{env}")).ok());
    with_env
        .or_else(|| EnvFilter::try_new(&configured).ok())
        .unwrap_or_else(|| EnvFilter::new(level))
}

/// The values of every secret option that is set, as they could appear in
/// a line: raw, escaped for JSON and escaped by `Debug`. Longest first, so
/// that a secret containing another is masked whole.
fn secret_values(conf: &Conf) -> Vec<String> {
    let mut spellings: Vec<String> = Vec::new();
    for value in conf.secret_texts() {
        let json = serde_json::Value::String(value.clone()).to_string();
        let debug = format!("{value:?}");
        for spelling in [strip_quotes(&json), strip_quotes(&debug), value.as_str()] {
            if !spellings.iter().any(|known| known == spelling) {
                spellings.push(spelling.to_string());
            }
        }
    }
    spellings.sort_by_key(|s| std::cmp::Reverse(s.len()));
    spellings
}

fn strip_quotes(text: &str) -> &str {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_with_oslo_names_and_render_canonically() {
        let level = LogLevel::parse_raw(" service_runtime::http::access = warning ").unwrap();
        assert_eq!(level.target(), "service_runtime::http::access");
        assert_eq!(level.level(), LevelFilter::WARN);
        assert_eq!(level.render(), "service_runtime::http::access=WARN");
        assert_eq!(
            LogLevel::parse_raw("x=critical").unwrap().level(),
            LevelFilter::ERROR
        );
        assert_eq!(
            LogLevel::parse_raw("x=Off").unwrap().render(),
            "x=OFF".to_string()
        );
    }

    #[test]
    fn bad_levels_say_what_was_expected() {
        let missing = LogLevel::parse_raw("hyper").unwrap_err();
        assert!(missing.contains("expected `target=LEVEL`"), "{missing}");
        let level = LogLevel::parse_raw("hyper=LOUD").unwrap_err();
        assert!(
            level.contains("TRACE, DEBUG, INFO, WARN, ERROR and OFF"),
            "{level}"
        );
        assert!(level.contains("`LOUD`"), "{level}");
        let target = LogLevel::parse_raw("a[b]=INFO").unwrap_err();
        assert!(target.contains("`a[b]`"), "{target}");
    }

    #[test]
    fn a_list_of_levels_parses_as_a_comma_list() {
        let levels = Vec::<LogLevel>::parse_raw("hyper=WARN,service_runtime=DEBUG").unwrap();
        assert_eq!(levels.len(), 2);
        assert_eq!(levels.render(), "hyper=WARN,service_runtime=DEBUG");
    }

    #[test]
    fn the_filter_keeps_library_levels_when_debug_is_on() {
        let filter = build_filter(true, &LogLevel::defaults(), None).to_string();
        assert!(filter.contains("hyper=warn"), "{filter}");
        assert!(filter.contains("debug"), "{filter}");
        let with_env = build_filter(false, &[], Some("mycrate=trace")).to_string();
        assert!(with_env.contains("mycrate=trace"), "{with_env}");
        let bad_env = build_filter(false, &[], Some("=[")).to_string();
        assert_eq!(bad_env, "info");
    }
}
