//! One running program under measurement: its process, the notification
//! socket it reports to, and its log file.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A started program and the clocks around it.
pub struct Instance {
    child: Child,
    notify: UnixDatagram,
    log_path: PathBuf,
    /// The moment just before the program was executed.
    pub spawned_at: Instant,
    exited: bool,
}

/// A notification received from the program, and when.
#[derive(Debug)]
pub struct Notification {
    pub at: Instant,
    pub text: String,
}

impl Notification {
    /// Whether one of the datagram's lines is exactly `line`.
    pub fn has_line(&self, line: &str) -> bool {
        self.text.lines().any(|l| l == line)
    }
}

impl Instance {
    /// Starts `command` with `NOTIFY_SOCKET` set to a fresh socket under
    /// `dir` and standard error (the log) sent to a file there.
    pub fn spawn(mut command: Command, dir: &Path, name: &str) -> anyhow::Result<Instance> {
        let socket_path = dir.join(format!("{name}.notify"));
        let _ = std::fs::remove_file(&socket_path);
        let notify = UnixDatagram::bind(&socket_path)
            .with_context(|| format!("cannot bind {}", socket_path.display()))?;
        let log_path = dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        command
            .env("NOTIFY_SOCKET", &socket_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let spawned_at = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {:?}", command.get_program()))?;
        Ok(Instance {
            child,
            notify,
            log_path,
            spawned_at,
            exited: false,
        })
    }

    /// The main process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Throws away notifications already queued, so that the next wait
    /// sees only what follows.
    pub fn drain(&self) {
        let mut buffer = [0u8; 4096];
        self.notify
            .set_nonblocking(true)
            .expect("a socket can be made non-blocking");
        while self.notify.recv(&mut buffer).is_ok() {}
        self.notify
            .set_nonblocking(false)
            .expect("a socket can be made blocking");
    }

    /// Waits for the first notification that `wanted` accepts.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&Notification) -> bool,
    ) -> anyhow::Result<Notification> {
        let deadline = Instant::now() + timeout;
        let mut buffer = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "no {what} within {timeout:?} (log: {})",
                    self.log_path.display()
                );
            }
            self.notify.set_read_timeout(Some(left))?;
            let length = match self.notify.recv(&mut buffer) {
                Ok(length) => length,
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            let notification = Notification {
                at: Instant::now(),
                text: String::from_utf8_lossy(&buffer[..length]).into_owned(),
            };
            if wanted(&notification) {
                return Ok(notification);
            }
        }
    }

    /// Waits for `READY=1`; returns when it arrived.
    pub fn wait_ready(&self, timeout: Duration) -> anyhow::Result<Instant> {
        Ok(self
            .wait_for("READY=1", timeout, |n| n.has_line("READY=1"))?
            .at)
    }

    /// Sends `signal` to process `pid`; returns the moment just before.
    pub fn signal(pid: u32, signal: i32) -> anyhow::Result<Instant> {
        let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
        let at = Instant::now();
        // SAFETY: kill(2) takes two integers and touches no memory of this
        // process.
        let status = unsafe { libc::kill(pid, signal) };
        if status != 0 {
            bail!("kill({pid}, {signal}): {}", std::io::Error::last_os_error());
        }
        Ok(at)
    }

    /// Sends `signal` to the main process.
    pub fn signal_main(&self, signal: i32) -> anyhow::Result<Instant> {
        Instance::signal(self.pid(), signal)
    }

    /// Waits for the main process to exit; returns when it was reaped. A
    /// process still running after `timeout` is killed and reported.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<Instant> {
        let pid = self.pid();
        let (done, watchdog) = mpsc::channel::<()>();
        let guard = std::thread::spawn(move || {
            if watchdog.recv_timeout(timeout).is_err() {
                let _ = Instance::signal(pid, libc::SIGKILL);
                return true;
            }
            false
        });
        let status = self.child.wait();
        let at = Instant::now();
        self.exited = true;
        let _ = done.send(());
        let killed = guard.join().unwrap_or(false);
        status?;
        if killed {
            bail!("pid {pid} did not exit within {timeout:?} and was killed");
        }
        Ok(at)
    }

    /// Stops the program with SIGTERM and waits for it, without measuring.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.signal_main(libc::SIGTERM)?;
        self.wait_exit(Duration::from_secs(30))?;
        Ok(())
    }

    /// The log written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits for the log line that names the listening address of `api`.
    pub fn listening_port(&self, timeout: Duration) -> anyhow::Result<u16> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(port) = port_in_log(&self.log()) {
                return Ok(port);
            }
            if Instant::now() >= deadline {
                bail!("no listening line in {}", self.log_path.display());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The pid of the latest ready worker of each slot, from the log.
    pub fn ready_workers(&self) -> BTreeMap<u32, u32> {
        ready_workers_in_log(&self.log())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The port of `listening listener="api" address=HOST:PORT`.
fn port_in_log(log: &str) -> Option<u16> {
    let line = log
        .lines()
        .find(|l| l.contains("listening") && l.contains("listener=\"api\""))?;
    let address = line
        .split_whitespace()
        .find_map(|t| t.strip_prefix("address="))?;
    address.rsplit(':').next()?.parse().ok()
}

/// Slot number to pid, from `worker ready worker=N pid=P` lines; later
/// lines replace earlier ones.
fn ready_workers_in_log(log: &str) -> BTreeMap<u32, u32> {
    let mut workers = BTreeMap::new();
    for line in log.lines().filter(|l| l.contains("worker ready")) {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|t| t.strip_prefix(name))
                .and_then(|v| v.parse::<u32>().ok())
        };
        if let (Some(slot), Some(pid)) = (field("worker="), field("pid=")) {
            workers.insert(slot, pid);
        }
    }
    workers
}

/// The resident set size of `pid` in MiB, from `/proc/PID/status`.
pub fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))?;
    Ok(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_and_the_workers_from_the_log() {
        let log = "\
2025-01-01T00:00:00Z main 10 INFO listen: listening listener=\"api\" address=127.0.0.1:40123
2025-01-01T00:00:00Z main 10 INFO supervisor: worker ready worker=1 pid=11
2025-01-01T00:00:00Z main 10 INFO supervisor: worker ready worker=2 pid=12
2025-01-01T00:00:01Z main 10 INFO supervisor: worker ready worker=1 pid=13
";
        assert_eq!(port_in_log(log), Some(40123));
        let workers = ready_workers_in_log(log);
        assert_eq!(workers.get(&1), Some(&13));
        assert_eq!(workers.get(&2), Some(&12));
        assert_eq!(port_in_log("nothing here"), None);
    }

    #[test]
    fn reads_the_rss_of_this_process() {
        let rss = rss_mib(std::process::id()).unwrap();
        assert!(rss > 0.0);
    }
}
