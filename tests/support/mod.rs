//! Runs the example services as real processes and watches them: their log
//! lines, their worker processes, their exit.
//!
//! Every service is started in a process group of its own, and the test
//! process makes itself a child subreaper, so that workers orphaned by a
//! killed main process are reparented to the test and can be reaped: no
//! test leaves a process or a zombie behind.

pub mod http;

use std::io::{BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::{Duration, Instant};

/// Generous bound for anything a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The path of an example binary, built on first use if `cargo test` did
/// not build it already.
pub fn example(name: &str) -> PathBuf {
    static BUILD: Once = Once::new();
    let path = target_dir().join("examples").join(name);
    BUILD.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.args(["build", "-p", "service-examples", "--examples"]);
        // `cargo test` gives the test the variables of its own package;
        // build scripts that watch them (ring's does) would otherwise be
        // rebuilt here and again by the next `cargo test`.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || name == "CARGO_CRATE_NAME"
                || name == "CARGO_PRIMARY_PACKAGE"
            {
                command.env_remove(&*name);
            }
        }
        let status = command
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the examples failed");
    });
    assert!(
        path.exists(),
        "example binary {} is missing",
        path.display()
    );
    path
}

/// `target/debug`, found from the test binary's own path.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    exe.parent()
        .and_then(Path::parent)
        .expect("tests live in target/<profile>/deps")
        .into()
}

/// Makes the test process the reaper of orphaned descendants.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and touches
        // no memory of ours.
        let result = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(result, 0, "prctl(PR_SET_CHILD_SUBREAPER) failed");
    });
}

/// A running service and everything it has logged.
pub struct Running {
    child: Child,
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
    exited: Option<ExitStatus>,
}

impl Running {
    /// Starts `binary` with `args` and extra environment variables.
    pub fn start(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Running {
        become_subreaper();
        let mut command = Command::new(binary);
        command
            .args(args)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command.spawn().expect("the service starts");
        let lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        collect(child.stdout.take().expect("stdout is piped"), lines.clone());
        collect(child.stderr.take().expect("stderr is piped"), lines.clone());
        Running {
            child,
            lines,
            exited: None,
        }
    }

    /// The main process's pid.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pids fit in i32")
    }

    /// Sends `signal` to the main process.
    pub fn signal(&self, signal: i32) {
        send_signal(self.pid(), signal);
    }

    /// Every line logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().clone()
    }

    /// Lines containing every one of `parts`.
    pub fn lines_with(&self, parts: &[&str]) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|line| parts.iter().all(|p| line.contains(p)))
            .collect()
    }

    /// Waits until `count` lines contain every one of `parts`; returns them.
    pub fn wait_for_lines(&self, parts: &[&str], count: usize) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        let (lock, changed) = &*self.lines;
        let mut lines = lock.lock().unwrap();
        loop {
            let found: Vec<String> = lines
                .iter()
                .filter(|line| parts.iter().all(|p| line.contains(p)))
                .cloned()
                .collect();
            if found.len() >= count {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {count} lines with {parts:?}; log:\n{}",
                lines.join("\n")
            );
            lines = changed.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Waits for the main process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        if let Some(status) = self.exited {
            return status;
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("waitpid works") {
                self.exited = Some(status);
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the service did not exit; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit code, or the signal as `128 + n` like a shell shows it.
    pub fn wait_exit_code(&mut self) -> i32 {
        let status = self.wait_exit();
        status
            .code()
            .or(status.signal().map(|s| 128 + s))
            .expect("a code or a signal")
    }

    /// The whole log, for assertion messages.
    pub fn log(&self) -> String {
        self.lines().join("\n")
    }

    /// The pids of the main process's live children.
    pub fn worker_pids(&self) -> Vec<i32> {
        children_of(self.pid())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let group = self.pid();
        let workers = self.worker_pids();
        // SAFETY: kill(2) with a negative pid signals our own process group
        // of the service, which this test started.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
        for pid in workers {
            reap(pid, Duration::from_secs(5));
        }
    }
}

fn collect(stream: impl std::io::Read + Send + 'static, lines: Arc<(Mutex<Vec<String>>, Condvar)>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let (lock, changed) = &*lines;
            lock.lock().unwrap().push(line);
            changed.notify_all();
        }
    });
}

/// Sends a signal to one process.
pub fn send_signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) touches no memory of ours.
    let result = unsafe { libc::kill(pid, signal) };
    assert_eq!(result, 0, "kill({pid}, {signal}) failed");
}

/// The live (not zombie) children of `parent`, from /proc.
pub fn children_of(parent: i32) -> Vec<i32> {
    let mut children = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return children;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if stat(pid).is_some_and(|(state, ppid)| ppid == parent && state != 'Z') {
            children.push(pid);
        }
    }
    children.sort_unstable();
    children
}

/// State and parent of a process, `None` once it is gone.
pub fn stat(pid: i32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &text[text.rfind(')')? + 2..];
    let mut fields = after_name.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid` is running (a zombie counts as gone).
pub fn is_running(pid: i32) -> bool {
    stat(pid).is_some_and(|(state, _)| state != 'Z')
}

/// Waits until `pid` is no longer running and reaps it if it became our
/// child; returns whether it ended within `within`.
pub fn reap(pid: i32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG on a specific pid writes only to
        // `status`; it fails harmlessly when `pid` is not our child.
        unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) };
        if !is_running(pid) {
            // SAFETY: as above.
            unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) };
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Writes a configuration file into a fresh temporary directory.
pub fn config_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("the config file is written");
    (dir, path)
}
