//! The main process's side of the systemd protocol: notifications
//! (`sd_notify`), the watchdog and socket activation (`sd_listen_fds`).
//!
//! Only the main process talks to systemd. It reads what systemd put in its
//! environment once, at start-up, and removes it there, so worker processes
//! and anything else it starts inherit neither the notification socket nor
//! the activation variables.
//!
//! Both readers, [`Notifier::from_env`] and [`listen_fds`], change the
//! process environment and are therefore `unsafe`: call them at the top of
//! `main`, before any thread exists (before a tokio runtime is built, before
//! a logging or signal thread is spawned).
//!
//! Without systemd (no `NOTIFY_SOCKET`, no `LISTEN_PID`) everything here is a
//! silent no-op, so the same binary runs under systemd, in a container or in
//! a terminal.
//!
//! Available on Linux only, where systemd runs.
//!
//! # Examples
//!
//! ```no_run
//! use service_runtime::systemd::{self, Notifier, SocketKind};
//!
//! // SAFETY: first thing in `main`; the process has no other thread yet.
//! let notifier = unsafe { Notifier::from_env() };
//! // SAFETY: as above, and nothing else in the process adopted fds 3 and up.
//! let sockets = unsafe { systemd::listen_fds() }?;
//!
//! for socket in sockets {
//!     if socket.kind()? == SocketKind::TcpListener {
//!         let listener = socket.into_tcp_listener()?;
//!         println!("adopted {}", listener.local_addr()?);
//!     }
//! }
//!
//! // ... start the workers, then:
//! notifier.ready_with_status("2 workers running");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![cfg(target_os = "linux")]

mod activation;
mod notify;

pub use activation::{ActivatedSocket, ActivationError, LISTEN_FDS_START, SocketKind, listen_fds};
pub use notify::{Notifier, NotifyError, monotonic_now_usec};

/// Test-only helpers shared by the notification and activation tests.
#[cfg(test)]
mod test_support {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    /// A log sink that keeps every formatted line in memory.
    #[derive(Clone, Default)]
    struct CapturedLog(Arc<Mutex<Vec<u8>>>);

    impl io::Write for CapturedLog {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for CapturedLog {
        type Writer = CapturedLog;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// Runs `body` with every event of this thread, down to TRACE, written
    /// to a buffer; returns the body's result and the log text.
    pub(super) fn capture_logs<R>(body: impl FnOnce() -> R) -> (R, String) {
        let log = CapturedLog::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .without_time()
            .finish();

        let result = tracing::subscriber::with_default(subscriber, body);

        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        (result, text)
    }

    /// The log lines at `level` ("WARN", "INFO", ...).
    pub(super) fn lines_at<'a>(log: &'a str, level: &str) -> Vec<&'a str> {
        log.lines()
            .filter(|line| line.trim_start().starts_with(level))
            .collect()
    }
}
