//! Logging through `tracing`, with every line naming its process.
//!
//! Each line starts with the time, the process's role (`main` or
//! `worker N`) and its pid, so that the lines of several worker processes
//! writing to one file can be told apart. The level follows `debug`, which
//! can change on reload; the log file can be reopened after rotation.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{DefaultFields, Format, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

use crate::options::ServiceOpts;

/// Which process is logging.
#[derive(Clone, Copy, Debug)]
pub enum Role {
    /// The main process (supervisor, or the only process).
    Main,
    /// A worker process, numbered from 1.
    Worker(u32),
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Main => f.write_str("main"),
            Role::Worker(id) => write!(f, "worker {id}"),
        }
    }
}

/// Changes the running logger: level and output file.
#[derive(Clone)]
pub struct LogControl {
    filter: reload::Handle<EnvFilter, tracing_subscriber::Registry>,
    output: Output,
    base_directives: Option<String>,
}

impl std::fmt::Debug for LogControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogControl").finish_non_exhaustive()
    }
}

impl LogControl {
    /// Switches debug logging on or off.
    pub fn set_debug(&self, debug: bool) {
        let filter = build_filter(debug, self.base_directives.as_deref());
        if let Err(error) = self.filter.reload(filter) {
            tracing::warn!(%error, "could not change the log level");
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

/// Sets up the global logger for this process.
///
/// `RUST_LOG`, when set, adds directives on top of the level `debug` gives.
///
/// # Errors
///
/// When the log file cannot be opened.
pub fn init(role: Role, opts: &ServiceOpts) -> io::Result<LogControl> {
    let output = Output::open(log_path(opts).as_deref(), opts.use_stderr)?;
    let base_directives = std::env::var("RUST_LOG").ok();
    let filter = build_filter(opts.debug, base_directives.as_deref());
    let (filter, handle) = reload::Layer::new(filter);
    let format = LineFormat {
        role,
        inner: Format::default().without_time().with_ansi(false),
    };
    let layer = tracing_subscriber::fmt::layer()
        .event_format(format)
        .fmt_fields(DefaultFields::new())
        .with_writer(output.clone());
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
    Ok(LogControl {
        filter: handle,
        output,
        base_directives,
    })
}

fn log_path(opts: &ServiceOpts) -> Option<PathBuf> {
    let file = opts.log_file.as_ref()?;
    match &opts.log_dir {
        Some(dir) if file.is_relative() => Some(dir.join(file)),
        _ => Some(file.clone()),
    }
}

fn build_filter(debug: bool, extra: Option<&str>) -> EnvFilter {
    let level = if debug { "debug" } else { "info" };
    let directives = match extra {
        Some(extra) if !extra.is_empty() => format!("{level},{extra}"),
        _ => level.to_string(),
    };
    EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(level))
}

struct LineFormat {
    role: Role,
    inner: Format<tracing_subscriber::fmt::format::Full, ()>,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        SystemTime.format_time(&mut writer)?;
        write!(writer, " {}[{}] ", self.role, std::process::id())?;
        self.inner.format_event(ctx, writer, event)
    }
}

/// Where log lines go: standard error, or a file that can be reopened.
#[derive(Clone)]
struct Output {
    file: Option<Arc<Mutex<OpenFile>>>,
    also_stderr: bool,
}

struct OpenFile {
    path: PathBuf,
    file: File,
}

impl Output {
    fn open(path: Option<&Path>, also_stderr: bool) -> io::Result<Output> {
        let file = match path {
            Some(path) => {
                let file = open_append(path)?;
                Some(Arc::new(Mutex::new(OpenFile {
                    path: path.to_path_buf(),
                    file,
                })))
            }
            None => None,
        };
        Ok(Output { file, also_stderr })
    }

    fn reopen(&self) -> io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut guard = file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.file = open_append(&guard.path)?;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot open log file {}: {error}", path.display()),
            )
        })
}

/// Collects one event's text and writes it with a single `write` call, so
/// that lines of several processes appending to one file never interleave.
struct LineWriter {
    output: Output,
    buffer: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        if let Some(file) = &self.output.file {
            let mut guard = file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = guard.file.write_all(&self.buffer);
        }
        if self.output.file.is_none() || self.output.also_stderr {
            let _ = io::stderr().lock().write_all(&self.buffer);
        }
    }
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            output: self.clone(),
            buffer: Vec::with_capacity(256),
        }
    }
}
