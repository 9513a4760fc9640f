//! The systemd notification protocol (`sd_notify`).

use std::os::unix::net::UnixDatagram;

/// Sends state changes to systemd when `NOTIFY_SOCKET` is set.
#[derive(Debug, Default)]
pub struct Notifier {
    socket: Option<String>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`. Call while the process is single-threaded.
    pub fn from_env() -> Notifier {
        let socket = std::env::var("NOTIFY_SOCKET").ok();
        // SAFETY: called from `main` before any thread is started.
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        Notifier { socket }
    }

    /// `READY=1`.
    pub fn ready(&self) {
        self.send("READY=1");
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// `STATUS=...`.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}"));
    }

    /// `RELOADING=1`.
    pub fn reloading(&self) {
        self.send("RELOADING=1");
    }

    /// Sends one datagram.
    pub fn send(&self, message: &str) {
        let Some(path) = &self.socket else { return };
        let result = UnixDatagram::unbound().and_then(|s| s.send_to(message.as_bytes(), path));
        if let Err(error) = result {
            tracing::warn!(socket = %path, %error, "could not notify systemd");
        }
    }
}
