//! Where log lines go, and when they are written.
//!
//! A line about the service's life (started, reloading, an error) is
//! written the moment it is logged, with one `write` call, so that a crash
//! right after it cannot lose it. Access log lines are different: there is
//! one per request, thousands a second under load, and writing each on its
//! own costs a system call per request. They are gathered and written
//! together, like nginx's `access_log ... buffer= flush=`: at the latest
//! `access_log_flush_interval` after the first of them was logged, or at
//! once when [`BATCH_LIMIT`] bytes are waiting. Any other line writes the
//! waiting ones first, so the file keeps the order in which lines were
//! logged, and a process that exits through the runtime writes them before
//! it goes. A process killed by SIGKILL loses the access lines of at most
//! the last interval.
//!
//! Every write holds whole lines. Several processes append to one file
//! with `O_APPEND`, so their writes never interleave; on standard error,
//! which may be a pipe shared by every process, writes are cut at line ends
//! to at most [`PIPE_ATOMIC`] bytes, the size the kernel writes whole.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::MASK;
use crate::http::ACCESS_LOG_TARGET;

/// Bytes of access lines that are written at once, without waiting for
/// the flush interval.
pub(super) const BATCH_LIMIT: usize = 64 * 1024;

/// The largest write to a pipe that Linux never splits (`PIPE_BUF`).
const PIPE_ATOMIC: usize = 4096;

/// Where log lines go: standard error, or a file that can be reopened or
/// replaced, or both.
#[derive(Clone)]
pub(super) struct Output {
    shared: Arc<Shared>,
}

struct Shared {
    sink: Mutex<Sink>,
    /// Wakes the flusher thread when the first access line is waiting.
    waiting: Condvar,
    flusher: Once,
    /// How long access lines may wait, in nanoseconds; 0 writes each at once.
    flush_after: AtomicU64,
    also_stderr: AtomicBool,
    /// Read for every line, replaced only on reload.
    secrets: ArcSwap<Vec<String>>,
}

/// The open file, if any, and the access lines not yet written. One lock
/// guards both, so that lines reach the file in the order they were logged.
struct Sink {
    file: Option<OpenFile>,
    pending: Vec<u8>,
}

struct OpenFile {
    path: PathBuf,
    file: File,
}

impl Output {
    pub(super) fn open(path: Option<&Path>, also_stderr: bool) -> io::Result<Output> {
        let file = path.map(OpenFile::open).transpose()?;
        Ok(Output {
            shared: Arc::new(Shared {
                sink: Mutex::new(Sink {
                    file,
                    pending: Vec::new(),
                }),
                waiting: Condvar::new(),
                flusher: Once::new(),
                flush_after: AtomicU64::new(0),
                also_stderr: AtomicBool::new(also_stderr),
                secrets: ArcSwap::from_pointee(Vec::new()),
            }),
        })
    }

    fn sink(&self) -> MutexGuard<'_, Sink> {
        self.shared
            .sink
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn path(&self) -> Option<PathBuf> {
        self.sink().file.as_ref().map(|open| open.path.clone())
    }

    /// Moves the output to another file, or to standard error alone. Lines
    /// still waiting go to the old place first.
    pub(super) fn set_path(&self, path: Option<&Path>) -> io::Result<()> {
        let file = path.map(OpenFile::open).transpose()?;
        let mut sink = self.sink();
        self.write_pending(&mut sink);
        sink.file = file;
        Ok(())
    }

    pub(super) fn set_stderr(&self, also_stderr: bool) {
        let mut sink = self.sink();
        self.write_pending(&mut sink);
        self.shared
            .also_stderr
            .store(also_stderr, Ordering::Relaxed);
    }

    /// How long access lines may wait before they are written; zero writes
    /// each one at once.
    pub(super) fn set_flush_interval(&self, interval: Duration) {
        let nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
        self.shared.flush_after.store(nanos, Ordering::Relaxed);
        if nanos == 0 {
            self.flush();
        }
        self.shared.waiting.notify_all();
    }

    pub(super) fn flush_interval(&self) -> Duration {
        Duration::from_nanos(self.shared.flush_after.load(Ordering::Relaxed))
    }

    pub(super) fn set_secrets(&self, secrets: Vec<String>) {
        self.shared.secrets.store(Arc::new(secrets));
    }

    /// Opens the log file again after log rotation moved it. Lines still
    /// waiting go to the old file, where the lines before them are.
    pub(super) fn reopen(&self) -> io::Result<()> {
        let mut sink = self.sink();
        self.write_pending(&mut sink);
        let Some(open) = sink.file.as_mut() else {
            return Ok(());
        };
        open.file = open_append(&open.path)?;
        Ok(())
    }

    /// Writes the access lines that are waiting.
    pub(super) fn flush(&self) {
        let mut sink = self.sink();
        self.write_pending(&mut sink);
    }

    /// Writes the access lines that are waiting, unless the output is in
    /// use: a panic while writing must not wait on a lock its own thread
    /// holds.
    pub(super) fn flush_unless_busy(&self) {
        if let Ok(mut sink) = self.shared.sink.try_lock() {
            self.write_pending(&mut sink);
        }
    }

    /// Writes one whole line, at once or, for an access line, with the
    /// next batch.
    pub(super) fn write_line(&self, line: &[u8], access: bool) {
        let line = self.masked(line);
        let mut sink = self.sink();
        if access && !self.flush_interval().is_zero() {
            self.add_pending(sink, &line);
        } else if sink.pending.is_empty() {
            self.write_out(&mut sink, &line);
        } else {
            sink.pending.extend_from_slice(&line);
            self.write_pending(&mut sink);
        }
    }

    fn add_pending(&self, mut sink: MutexGuard<'_, Sink>, line: &[u8]) {
        let first = sink.pending.is_empty();
        sink.pending.extend_from_slice(line);
        if sink.pending.len() >= BATCH_LIMIT {
            self.write_pending(&mut sink);
        } else if first {
            drop(sink);
            self.start_flusher();
            self.shared.waiting.notify_one();
        }
    }

    /// Starts, once per process, the thread that writes waiting access
    /// lines when they have waited the flush interval. Without it, lines
    /// are written as they come.
    fn start_flusher(&self) {
        self.shared.flusher.call_once(|| {
            let output = self.clone();
            let started = std::thread::Builder::new()
                .name("log-flusher".into())
                .spawn(move || output.run_flusher());
            if let Err(error) = started {
                self.set_flush_interval(Duration::ZERO);
                // Not through `tracing`: this runs inside the logger.
                eprintln!(
                    "cannot start the log flusher ({error}); access lines are written one by one"
                );
            }
        });
    }

    /// Waits for a first waiting line, then for the flush interval from
    /// then on, and writes the batch. A change of the interval wakes it, so
    /// that a shorter one takes effect for the batch already waiting.
    fn run_flusher(&self) {
        loop {
            let mut sink = self.sink();
            while sink.pending.is_empty() {
                sink = self.wait(sink, None);
            }
            let first_waiting = Instant::now();
            loop {
                let due = first_waiting + self.flush_interval();
                let now = Instant::now();
                if now >= due || sink.pending.is_empty() {
                    break;
                }
                sink = self.wait(sink, Some(due - now));
            }
            self.write_pending(&mut sink);
        }
    }

    fn wait<'a>(
        &self,
        sink: MutexGuard<'a, Sink>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, Sink> {
        let waiting = &self.shared.waiting;
        match timeout {
            None => waiting.wait(sink).unwrap_or_else(PoisonError::into_inner),
            Some(timeout) => {
                let (sink, _) = waiting
                    .wait_timeout(sink, timeout)
                    .unwrap_or_else(PoisonError::into_inner);
                sink
            }
        }
    }

    fn write_pending(&self, sink: &mut Sink) {
        if sink.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut sink.pending);
        self.write_out(sink, &pending);
        sink.pending = pending;
        sink.pending.clear();
    }

    /// Writes whole lines to the file and, when there is none or when asked
    /// to, to standard error. Errors are dropped: there is nowhere left to
    /// report them.
    fn write_out(&self, sink: &mut Sink, lines: &[u8]) {
        let wrote_file = match sink.file.as_mut() {
            Some(open) => {
                let _ = open.file.write_all(lines);
                true
            }
            None => false,
        };
        if !wrote_file || self.shared.also_stderr.load(Ordering::Relaxed) {
            let mut stderr = io::stderr().lock();
            for chunk in line_chunks(lines, PIPE_ATOMIC) {
                let _ = stderr.write_all(chunk);
            }
        }
    }

    /// The line with every secret value replaced by the mask.
    pub(super) fn masked<'a>(&self, line: &'a [u8]) -> Cow<'a, [u8]> {
        let secrets = self.shared.secrets.load();
        if secrets.is_empty() {
            return Cow::Borrowed(line);
        }
        let text = String::from_utf8_lossy(line);
        if !secrets.iter().any(|secret| text.contains(secret.as_str())) {
            return Cow::Borrowed(line);
        }
        let mut masked = text.into_owned();
        for secret in secrets.iter() {
            masked = masked.replace(secret.as_str(), MASK);
        }
        Cow::Owned(masked.into_bytes())
    }
}

/// Splits `lines` into pieces of at most `limit` bytes that end at a line
/// end; a single line longer than `limit` is a piece of its own.
fn line_chunks(lines: &[u8], limit: usize) -> impl Iterator<Item = &[u8]> {
    let mut rest = lines;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = if rest.len() <= limit {
            rest.len()
        } else {
            match rest[..limit].iter().rposition(|&b| b == b'\n') {
                Some(newline) => newline + 1,
                None => rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |newline| newline + 1),
            }
        };
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

impl OpenFile {
    fn open(path: &Path) -> io::Result<OpenFile> {
        Ok(OpenFile {
            path: path.to_path_buf(),
            file: open_append(path)?,
        })
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

/// Collects one event's text and hands it to the output whole.
pub(super) struct LineWriter {
    output: Output,
    access: bool,
    buffer: Vec<u8>,
}

impl Write for LineWriter {
    /// `tracing` hands over each formatted event in one call: a whole line
    /// then goes straight to the output, without a copy.
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buffer.is_empty() && data.ends_with(b"\n") {
            self.output.write_line(data, self.access);
        } else {
            self.buffer.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            self.output.write_line(&self.buffer, self.access);
        }
    }
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            output: self.clone(),
            access: false,
            buffer: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        let mut writer = self.make_writer();
        writer.access = meta.target() == ACCESS_LOG_TARGET;
        writer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_log(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("output-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.log");
        let _ = std::fs::remove_file(&path);
        path
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// The file's text once something was written to it; fails after 30 s,
    /// far beyond the intervals the tests set.
    fn written_soon(path: &Path) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = read(path);
            if !text.is_empty() {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "nothing written to {}",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn secrets_are_masked_in_every_spelling() {
        let output = Output::open(None, false).unwrap();
        let secret = "pa\"ss word";
        let json = serde_json::Value::String(secret.into()).to_string();
        let debug = format!("{secret:?}");
        output.set_secrets(vec![
            json.trim_matches('"').to_string(),
            debug.trim_matches('"').to_string(),
            secret.to_string(),
        ]);
        let plain = output
            .masked(format!("password={secret} end").as_bytes())
            .into_owned();
        assert_eq!(String::from_utf8(plain).unwrap(), "password=**** end");
        let escaped = output
            .masked(format!("{{\"v\":{json}}}").as_bytes())
            .into_owned();
        assert_eq!(String::from_utf8(escaped).unwrap(), "{\"v\":\"****\"}");
        let untouched = output.masked(b"nothing here");
        assert!(matches!(untouched, Cow::Borrowed(_)));
    }

    #[test]
    fn access_lines_wait_and_other_lines_write_them_first_in_order() {
        let path = temp_log("order");
        let output = Output::open(Some(&path), false).unwrap();
        output.set_flush_interval(Duration::from_secs(3600));
        output.write_line(b"access 1\n", true);
        output.write_line(b"access 2\n", true);
        assert_eq!(read(&path), "", "access lines wait");
        output.write_line(b"started\n", false);
        assert_eq!(read(&path), "access 1\naccess 2\nstarted\n");
    }

    #[test]
    fn access_lines_are_written_when_the_batch_is_full() {
        let path = temp_log("full");
        let output = Output::open(Some(&path), false).unwrap();
        output.set_flush_interval(Duration::from_secs(3600));
        let line = format!("{}\n", "x".repeat(99));
        let lines = BATCH_LIMIT / line.len() + 1;
        for _ in 0..lines {
            output.write_line(line.as_bytes(), true);
        }
        assert_eq!(read(&path).len(), lines * line.len());
    }

    #[test]
    fn the_flusher_writes_waiting_lines_after_the_interval() {
        let path = temp_log("flusher");
        let output = Output::open(Some(&path), false).unwrap();
        output.set_flush_interval(Duration::from_millis(20));
        output.write_line(b"access\n", true);
        assert_eq!(written_soon(&path), "access\n");
    }

    #[test]
    fn a_shorter_interval_applies_to_the_batch_already_waiting() {
        let path = temp_log("shorter");
        let output = Output::open(Some(&path), false).unwrap();
        output.set_flush_interval(Duration::from_secs(3600));
        output.write_line(b"access\n", true);
        output.set_flush_interval(Duration::from_millis(10));
        assert_eq!(written_soon(&path), "access\n");
    }

    #[test]
    fn without_an_interval_access_lines_are_written_at_once() {
        let path = temp_log("direct");
        let output = Output::open(Some(&path), false).unwrap();
        output.write_line(b"access\n", true);
        assert_eq!(read(&path), "access\n");
    }

    #[test]
    fn reopening_writes_waiting_lines_to_the_old_file() {
        let path = temp_log("reopen");
        let rotated = path.with_extension("log.1");
        let output = Output::open(Some(&path), false).unwrap();
        output.set_flush_interval(Duration::from_secs(3600));
        output.write_line(b"before\n", true);
        std::fs::rename(&path, &rotated).unwrap();
        output.reopen().unwrap();
        output.write_line(b"after\n", false);
        assert_eq!(read(&rotated), "before\n");
        assert_eq!(read(&path), "after\n");
    }

    #[test]
    fn chunks_end_at_line_ends_within_the_limit() {
        let lines = b"aaa\nbbb\ncccccccc\nd\n";
        let chunks: Vec<&[u8]> = line_chunks(lines, 9).collect();
        assert_eq!(chunks, [&b"aaa\nbbb\n"[..], b"cccccccc\n", b"d\n"]);
        let long: Vec<&[u8]> = line_chunks(b"0123456789\nab", 4).collect();
        assert_eq!(long, [&b"0123456789\n"[..], b"ab"]);
    }
}
