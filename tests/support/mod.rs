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
use std::sync::atomic::{AtomicUsize, Ordering};
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
        let status = command.status().expect("cargo runs");
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
    /// How many of stdout and stderr have reached their end.
    closed_streams: Arc<AtomicUsize>,
    exited: Option<ExitStatus>,
}

impl Running {
    /// Starts `binary` with `args` and extra environment variables.
    pub fn start(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Running {
        Running::start_in(binary, args, env, None)
    }

    /// Like [`Running::start`], in the working directory `dir`.
    pub fn start_in(
        binary: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        dir: Option<&Path>,
    ) -> Running {
        become_subreaper();
        let mut command = Command::new(binary);
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
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
        let closed_streams = Arc::new(AtomicUsize::new(0));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        collect(stdout, lines.clone(), closed_streams.clone());
        collect(stderr, lines.clone(), closed_streams.clone());
        Running {
            child,
            lines,
            closed_streams,
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
                self.wait_for_output_end();
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

    /// Waits until the readers have taken every line the process wrote, so
    /// that a test reading the log after the exit sees all of it. A worker
    /// that outlives the main process keeps the pipes open: then the wait
    /// ends after a bound, with what was read by then.
    fn wait_for_output_end(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let (lock, changed) = &*self.lines;
        let mut lines = lock.lock().unwrap();
        while self.closed_streams.load(Ordering::SeqCst) < 2 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            lines = changed.wait_timeout(lines, left).unwrap().0;
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

fn collect(
    stream: impl std::io::Read + Send + 'static,
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
    closed_streams: Arc<AtomicUsize>,
) {
    std::thread::spawn(move || {
        let (lock, changed) = &*lines;
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            lock.lock().unwrap().push(line);
            changed.notify_all();
        }
        let _guard = lock.lock().unwrap();
        closed_streams.fetch_add(1, Ordering::SeqCst);
        changed.notify_all();
    });
}

/// Sends a signal to one process.
pub fn send_signal(pid: i32, signal: i32) {
    assert!(try_signal(pid, signal), "kill({pid}, {signal}) failed");
}

/// Sends a signal; false when the process is already gone.
pub fn try_signal(pid: i32, signal: i32) -> bool {
    // SAFETY: kill(2) touches no memory of ours.
    unsafe { libc::kill(pid, signal) == 0 }
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

/// A systemd notification socket opened by the test, as `NOTIFY_SOCKET`.
pub struct NotifyListener {
    socket: std::os::unix::net::UnixDatagram,
    /// The value to put in `NOTIFY_SOCKET`.
    pub name: String,
    _dir: Option<tempfile::TempDir>,
}

impl NotifyListener {
    /// Listens on an abstract socket name (`@...`).
    pub fn abstract_name() -> NotifyListener {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("service-runtime-test-{}-{}", std::process::id(), unique());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .expect("an abstract address");
        let socket = std::os::unix::net::UnixDatagram::bind_addr(&address).expect("bind");
        NotifyListener {
            socket,
            name: format!("@{name}"),
            _dir: None,
        }
    }

    /// Listens on a filesystem path in a fresh temporary directory.
    pub fn path() -> (NotifyListener, PathBuf) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
        let name = path.display().to_string();
        (
            NotifyListener {
                socket,
                name,
                _dir: Some(dir),
            },
            path,
        )
    }

    /// The next datagram, or `None` after `within`.
    pub fn next(&self, within: Duration) -> Option<String> {
        self.socket
            .set_read_timeout(Some(within.max(Duration::from_millis(1))))
            .ok()?;
        let mut buffer = vec![0u8; 4096];
        let length = self.socket.recv(&mut buffer).ok()?;
        Some(String::from_utf8_lossy(&buffer[..length]).into_owned())
    }

    /// Reads datagrams until one contains `part`; returns it.
    pub fn wait_for(&self, part: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        while let Some(message) = self.next(deadline.saturating_duration_since(Instant::now())) {
            if message.contains(part) {
                return message;
            }
            seen.push(message);
        }
        panic!("no notification with {part:?}; got {seen:?}");
    }
}

fn unique() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The port of the probe's `api` listener, from its start-up log.
pub fn probe_port(service: &Running) -> u16 {
    let line = service
        .wait_for_lines(&["listening", "listener=\"api\""], 1)
        .remove(0);
    let address = line
        .split("address=")
        .nth(1)
        .expect("the address is logged");
    let port = address.trim().rsplit(':').next().expect("a port");
    port.parse().expect("a port number")
}

/// Minimal HTTP/1.1 over a plain TCP stream, for precise control of the
/// connection in tests.
pub mod probe_http {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    /// A response: status, headers (lower-case names) and body.
    #[derive(Debug)]
    pub struct Response {
        /// The status code.
        pub status: u16,
        /// Header names in lower case, with their values.
        pub headers: Vec<(String, String)>,
        /// The body as text.
        pub body: String,
    }

    impl Response {
        /// A header's value.
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// A keep-alive connection.
    pub struct Connection {
        reader: BufReader<TcpStream>,
    }

    impl Connection {
        /// Connects to `127.0.0.1:port`.
        pub fn open(port: u16) -> std::io::Result<Connection> {
            let stream = TcpStream::connect(("127.0.0.1", port))?;
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            Ok(Connection {
                reader: BufReader::new(stream),
            })
        }

        /// Sends `GET path` and reads the whole response.
        pub fn get(&mut self, path: &str) -> std::io::Result<Response> {
            let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            self.reader.get_mut().write_all(request.as_bytes())?;
            self.read_response()
        }

        fn read_response(&mut self) -> std::io::Result<Response> {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let status = line
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
            let mut headers = Vec::new();
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let trimmed = line.trim_end();
                if trimmed.is_empty() {
                    break;
                }
                if let Some((name, value)) = trimmed.split_once(':') {
                    headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
                }
            }
            let length = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            self.reader.read_exact(&mut body)?;
            Ok(Response {
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        }

        /// Whether the server closed the connection (reads end of stream).
        pub fn is_closed_by_peer(&mut self) -> bool {
            let mut byte = [0u8; 1];
            matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
        }
    }

    /// One request on a new connection.
    pub fn get(port: u16, path: &str) -> std::io::Result<Response> {
        Connection::open(port)?.get(path)
    }
}

/// The events the probe recorded, one JSON object per line.
pub fn events(path: &Path) -> Vec<serde_json::Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}
