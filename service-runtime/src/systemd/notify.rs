//! Status notifications to systemd over its datagram socket, and the
//! watchdog interval systemd expects pings at.

use std::ffi::{OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
const WATCHDOG_PID: &str = "WATCHDOG_PID";

/// How long one notification may wait for room in the receiver's queue
/// before it counts as failed. systemd drains its queue quickly; the bound
/// only keeps a wedged receiver from stalling the caller.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// `Target::failing` value while the last send worked.
const NO_FAILURE: i32 = 0;

/// `Target::failing` value for a failure that carries no OS error code.
const FAILURE_WITHOUT_CODE: i32 = -1;

/// Sends state changes to systemd (`READY=1`, `RELOADING=1`, `STATUS=...`).
///
/// Create one at start-up with [`Notifier::from_env`]; when systemd did not
/// start the process (no `NOTIFY_SOCKET`), every method is a silent no-op.
///
/// Sending never fails loudly: the service keeps running if systemd cannot
/// be reached. A failed send is logged at WARN with the socket name and the
/// error, once per run of identical failures (later repeats go to DEBUG),
/// and an INFO line says when sending works again. [`Notifier::try_send`]
/// returns the error instead, for callers that want to decide themselves.
///
/// Each send is one blocking `sendto` on a Unix datagram socket, bounded by
/// a one-second timeout; it is cheap enough to call from an async task.
#[derive(Debug)]
pub struct Notifier {
    target: Option<Target>,
    watchdog: Option<Duration>,
}

/// Where notifications go, when they go anywhere.
#[derive(Debug)]
struct Target {
    /// The socket as it was named, for logs and errors.
    name: String,
    address: SocketAddr,
    socket: UnixDatagram,
    /// The OS error code of the failure run under way, or `NO_FAILURE`.
    failing: AtomicI32,
}

/// Why a notification socket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The socket name is not something a notification can be sent to.
    #[error("notification socket `{name}` is unusable: {reason}")]
    Address {
        /// The name as given.
        name: String,
        /// What is wrong with it, and what was expected.
        reason: String,
    },
    /// The local end of the socket could not be created.
    #[error("could not create a socket to notify systemd: {0}")]
    Socket(#[source] io::Error),
    /// Sending a notification failed (nothing listens there, no permission).
    #[error("could not send `{state}` to notification socket `{name}`: {source}")]
    Send {
        /// The socket as it was named.
        name: String,
        /// The notification that was not delivered.
        state: String,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
}

/// The notification variables as the environment held them.
#[derive(Debug, Default)]
struct EnvValues {
    notify_socket: Option<OsString>,
    watchdog_usec: Option<OsString>,
    watchdog_pid: Option<OsString>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`, then
    /// removes all three from the environment so that no child process
    /// inherits them.
    ///
    /// Without `NOTIFY_SOCKET` (or with it empty) the notifier is disabled
    /// and silent. An unusable value (a `vsock:` address, a path too long
    /// for a socket address) is logged at WARN and also gives a disabled
    /// notifier: the service still runs, and the log says why systemd will
    /// not hear from it. A watchdog interval is only kept when notifications
    /// can be sent and `WATCHDOG_PID`, if set, names this process.
    ///
    /// Call it once: a second call finds the variables gone and gives a
    /// disabled notifier.
    ///
    /// # Safety
    ///
    /// **Call this while the process has exactly one thread**: at the top of
    /// `main`, before a tokio runtime, a logging thread or anything else that
    /// spawns threads exists. It removes environment variables, and another
    /// thread reading or writing the environment at the same time (many libc
    /// functions do, `getaddrinfo` and `localtime` among them) is undefined
    /// behaviour.
    pub unsafe fn from_env() -> Notifier {
        let values = EnvValues {
            notify_socket: std::env::var_os(NOTIFY_SOCKET),
            watchdog_usec: std::env::var_os(WATCHDOG_USEC),
            watchdog_pid: std::env::var_os(WATCHDOG_PID),
        };

        for var in [NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID] {
            // SAFETY: the caller guarantees the process is single-threaded,
            // so no other thread can touch the environment meanwhile.
            unsafe { std::env::remove_var(var) };
        }

        Notifier::from_values(values, std::process::id())
    }

    /// A notifier that sends to `name`: a filesystem path (absolute or
    /// relative to the current directory) or an abstract socket name written
    /// with a leading `@`, exactly as `NOTIFY_SOCKET` would hold it.
    ///
    /// It has no watchdog interval. Use it in tests or to notify a socket
    /// of one's own choosing; the environment is neither read nor changed.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Address`] when `name` is empty, a bare `@`, a `vsock:`
    /// address or too long for a Unix socket address;
    /// [`NotifyError::Socket`] when no socket can be created.
    pub fn connect_to(name: impl AsRef<OsStr>) -> Result<Notifier, NotifyError> {
        let target = Target::new(name.as_ref())?;
        Ok(Notifier {
            target: Some(target),
            watchdog: None,
        })
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier {
            target: None,
            watchdog: None,
        }
    }

    /// Whether notifications are sent anywhere.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// The interval within which systemd expects `WATCHDOG=1`, from
    /// `WATCHDOG_USEC` as it was at [`Notifier::from_env`].
    ///
    /// `None` when the unit sets no `WatchdogSec=`, when the variables were
    /// meant for another process, or when notifications are disabled.
    /// Ping at half this interval, as systemd recommends, so one late ping
    /// does not get the service killed.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Tells systemd that start-up finished: `READY=1`. Also ends a reload
    /// begun with [`Notifier::reloading`].
    pub fn ready(&self) {
        self.send("READY=1");
    }

    /// `READY=1` with a status line, in one datagram.
    pub fn ready_with_status(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// Tells systemd a reload began: `RELOADING=1` and `MONOTONIC_USEC=` with
    /// the current `CLOCK_MONOTONIC` time, in one datagram. systemd (from
    /// version 253, `Type=notify-reload`) needs the timestamp to match the
    /// message to the reload it asked for; without it `systemctl reload`
    /// waits until its timeout. Follow up with [`Notifier::ready`] when the
    /// reload is over, whether it worked or not.
    pub fn reloading(&self) {
        if self.target.is_none() {
            return;
        }

        match monotonic_now_usec() {
            Ok(now) => self.send(&format!("RELOADING=1\nMONOTONIC_USEC={now}")),
            Err(error) => {
                tracing::warn!(%error, "could not read CLOCK_MONOTONIC; RELOADING=1 not sent")
            }
        }
    }

    /// Tells systemd the service is shutting down: `STOPPING=1`.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// Sets the free-form status line `systemctl status` shows: `STATUS=`.
    /// Line breaks in `status` become spaces, since each line of a
    /// notification is a separate assignment.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// Pings the watchdog: `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// Asks systemd to wait `extra` longer for the start, reload or stop
    /// under way: `EXTEND_TIMEOUT_USEC=`. The extension counts from now, so
    /// send it again before it runs out while the work goes on.
    pub fn extend_timeout(&self, extra: Duration) {
        self.send(&format!("EXTEND_TIMEOUT_USEC={}", extra.as_micros()));
    }

    /// Sends `state` as it is: newline-separated `KEY=VALUE` assignments as
    /// `sd_notify(3)` describes them. A failure is logged, not returned.
    pub fn send(&self, state: &str) {
        let Some(target) = &self.target else {
            return;
        };

        match target.deliver(state) {
            Ok(()) => target.note_success(),
            Err(error) => target.note_failure(state, &error),
        }
    }

    /// Sends `state` as it is and returns the error instead of logging it.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Send`] when the datagram could not be sent. A disabled
    /// notifier returns `Ok` without sending.
    pub fn try_send(&self, state: &str) -> Result<(), NotifyError> {
        let Some(target) = &self.target else {
            return Ok(());
        };

        target.deliver(state).map_err(|source| NotifyError::Send {
            name: target.name.clone(),
            state: state.to_owned(),
            source,
        })
    }

    /// Builds the notifier from the environment's values, logging values
    /// that cannot be used.
    fn from_values(values: EnvValues, our_pid: u32) -> Notifier {
        let target = match values.notify_socket.as_deref() {
            None => None,
            Some(name) if name.is_empty() => None,
            Some(name) => Target::new(name)
                .inspect_err(|error| {
                    tracing::warn!(%error, "systemd notifications disabled");
                })
                .ok(),
        };

        let watchdog = target
            .as_ref()
            .and_then(|_| watchdog_from_values(&values, our_pid));

        Notifier { target, watchdog }
    }
}

impl Target {
    fn new(name: &OsStr) -> Result<Target, NotifyError> {
        let address = parse_address(name)?;

        let socket = UnixDatagram::unbound().map_err(NotifyError::Socket)?;
        socket
            .set_write_timeout(Some(SEND_TIMEOUT))
            .map_err(NotifyError::Socket)?;

        Ok(Target {
            name: name.to_string_lossy().into_owned(),
            address,
            socket,
            failing: AtomicI32::new(NO_FAILURE),
        })
    }

    fn deliver(&self, state: &str) -> io::Result<()> {
        self.socket
            .send_to_addr(state.as_bytes(), &self.address)
            .map(drop)
    }

    fn note_success(&self) {
        if self.failing.swap(NO_FAILURE, Ordering::Relaxed) != NO_FAILURE {
            tracing::info!(socket = %self.name, "systemd notifications are delivered again");
        }
    }

    fn note_failure(&self, state: &str, error: &io::Error) {
        let code = error.raw_os_error().unwrap_or(FAILURE_WITHOUT_CODE);
        let previous = self.failing.swap(code, Ordering::Relaxed);
        let state = state.replace('\n', " ");

        if previous == code {
            tracing::debug!(
                socket = %self.name,
                %state,
                %error,
                "systemd notification failed again"
            );
        } else {
            tracing::warn!(
                socket = %self.name,
                %state,
                %error,
                "could not notify systemd; it may consider the service not started or hung"
            );
        }
    }
}

/// Turns a `NOTIFY_SOCKET` value into a socket address.
fn parse_address(name: &OsStr) -> Result<SocketAddr, NotifyError> {
    let bytes = name.as_bytes();
    let unusable = |reason: &str| NotifyError::Address {
        name: name.to_string_lossy().into_owned(),
        reason: reason.to_owned(),
    };

    if bytes.is_empty() {
        return Err(unusable(
            "the name is empty; expected a path or an `@` abstract name",
        ));
    }

    if bytes.starts_with(b"vsock:") || bytes.starts_with(b"vsock-") {
        return Err(unusable(
            "vsock transports are not supported; expected a Unix socket path or `@` name",
        ));
    }

    if let Some(abstract_name) = bytes.strip_prefix(b"@") {
        if abstract_name.is_empty() {
            return Err(unusable("expected an abstract socket name after `@`"));
        }
        return SocketAddr::from_abstract_name(abstract_name)
            .map_err(|_| unusable("abstract socket names are limited to 107 bytes"));
    }

    path_address(Path::new(name)).map_err(|_| unusable("socket paths are limited to 107 bytes"))
}

/// The address of a socket file. A relative path is made absolute now, so a
/// later change of the current directory does not redirect notifications;
/// it stays relative only when the absolute form would be too long.
fn path_address(path: &Path) -> io::Result<SocketAddr> {
    if path.is_relative() {
        let absolute = std::path::absolute(path).map(SocketAddr::from_pathname);
        if let Ok(Ok(address)) = absolute {
            return Ok(address);
        }
    }

    SocketAddr::from_pathname(path)
}

/// The watchdog interval the environment asks for, if it is meant for us.
fn watchdog_from_values(values: &EnvValues, our_pid: u32) -> Option<Duration> {
    let usec = values.watchdog_usec.as_deref()?;

    if let Some(pid) = values.watchdog_pid.as_deref() {
        match parse_decimal(pid) {
            Some(pid) if pid == u64::from(our_pid) => {}
            Some(pid) => {
                tracing::debug!(
                    watchdog.pid = pid,
                    "watchdog variables are for another process"
                );
                return None;
            }
            None => {
                warn_bad_variable(WATCHDOG_PID, pid, "the decimal process id of the service");
                return None;
            }
        }
    }

    match parse_decimal(usec) {
        Some(0) => None,
        Some(usec) => Some(Duration::from_micros(usec)),
        None => {
            warn_bad_variable(WATCHDOG_USEC, usec, "a positive number of microseconds");
            None
        }
    }
}

fn parse_decimal(value: &OsStr) -> Option<u64> {
    value.to_str()?.parse().ok()
}

fn warn_bad_variable(var: &str, value: &OsStr, expected: &str) {
    tracing::warn!(
        variable = var,
        value = %value.to_string_lossy(),
        expected,
        "watchdog disabled: unusable environment variable"
    );
}

/// `text` with its line breaks replaced by spaces.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// The current `CLOCK_MONOTONIC` time in microseconds, the clock systemd
/// uses for `MONOTONIC_USEC=`.
///
/// # Errors
///
/// The error of `clock_gettime`, which Linux does not produce for this clock.
pub fn monotonic_now_usec() -> io::Result<u64> {
    let mut now = MaybeUninit::<libc::timespec>::uninit();

    // SAFETY: `now` points to writable memory large enough for a timespec;
    // clock_gettime writes nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, now.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }

    // SAFETY: clock_gettime returned 0, so it filled in the whole timespec.
    let now = unsafe { now.assume_init() };
    let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
    let micros = u64::try_from(now.tv_nsec / 1_000).unwrap_or(0);
    Ok(seconds * 1_000_000 + micros)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::AtomicUsize;

    use super::super::test_support::{capture_logs, lines_at};
    use super::*;

    /// A notification receiver bound for one test, removed when dropped.
    struct Listener {
        socket: UnixDatagram,
        path: Option<PathBuf>,
    }

    impl Listener {
        fn at_path(path: PathBuf) -> Listener {
            let socket = UnixDatagram::bind(&path).unwrap();
            Listener::finish(socket, Some(path))
        }

        fn abstract_named(name: &str) -> Listener {
            let address = SocketAddr::from_abstract_name(name).unwrap();
            Listener::finish(UnixDatagram::bind_addr(&address).unwrap(), None)
        }

        fn finish(socket: UnixDatagram, path: Option<PathBuf>) -> Listener {
            socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            Listener { socket, path }
        }

        fn receive(&self) -> String {
            let mut buf = [0; 4096];
            let len = self
                .socket
                .recv(&mut buf)
                .expect("no notification within 10 s");
            String::from_utf8(buf[..len].to_vec()).unwrap()
        }

        fn assert_nothing_pending(&self) {
            self.socket.set_nonblocking(true).unwrap();
            let mut buf = [0; 4096];
            let result = self.socket.recv(&mut buf);
            let unexpected = result
                .as_ref()
                .map(|&len| String::from_utf8_lossy(&buf[..len]));
            assert!(result.is_err(), "unexpected datagram: {unexpected:?}");
        }
    }

    impl Drop for Listener {
        fn drop(&mut self) {
            if let Some(path) = &self.path {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// A socket name no other test (or test run) uses.
    fn unique_name(what: &str) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!("sr-{what}-{}-{n}", std::process::id())
    }

    fn temp_socket_path(what: &str) -> PathBuf {
        std::env::temp_dir().join(unique_name(what))
    }

    /// `absolute` written relative to the current directory.
    fn relative_to_cwd(absolute: &Path) -> PathBuf {
        let depth = std::env::current_dir().unwrap().components().count() - 1;
        let mut relative: PathBuf = std::iter::repeat_n("..", depth).collect();
        relative.push(absolute.strip_prefix("/").unwrap());
        relative
    }

    fn test_clock_usec() -> u64 {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid timespec to write into.
        assert_eq!(
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) },
            0
        );
        now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000
    }

    fn env_values(socket: Option<&str>, usec: Option<&str>, pid: Option<&str>) -> EnvValues {
        EnvValues {
            notify_socket: socket.map(OsString::from),
            watchdog_usec: usec.map(OsString::from),
            watchdog_pid: pid.map(OsString::from),
        }
    }

    #[test]
    fn ready_reaches_a_socket_file() {
        let path = temp_socket_path("ready");
        let listener = Listener::at_path(path.clone());

        let notifier = Notifier::connect_to(&path).unwrap();
        notifier.ready();

        assert!(notifier.is_enabled());
        assert_eq!(listener.receive(), "READY=1");
        listener.assert_nothing_pending();
    }

    #[test]
    fn ready_reaches_an_abstract_socket() {
        let name = unique_name("abstract");
        let listener = Listener::abstract_named(&name);

        let notifier = Notifier::connect_to(format!("@{name}")).unwrap();
        notifier.ready();

        assert_eq!(listener.receive(), "READY=1");
    }

    #[test]
    fn ready_reaches_a_relative_socket_path() {
        let path = temp_socket_path("relative");
        let listener = Listener::at_path(path.clone());
        let relative = relative_to_cwd(&path);
        assert!(relative.is_relative());

        let notifier = Notifier::connect_to(&relative).unwrap();
        notifier.ready();

        assert_eq!(listener.receive(), "READY=1");
    }

    #[test]
    fn reloading_sends_the_monotonic_time_in_the_same_datagram() {
        let path = temp_socket_path("reload");
        let listener = Listener::at_path(path.clone());
        let notifier = Notifier::connect_to(&path).unwrap();

        notifier.reloading();
        let sent_at = test_clock_usec();

        let message = listener.receive();
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 2, "{message:?}");
        assert_eq!(lines[0], "RELOADING=1");
        let usec: u64 = lines[1]
            .strip_prefix("MONOTONIC_USEC=")
            .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {message:?}"))
            .parse()
            .unwrap();
        assert!(
            sent_at.abs_diff(usec) < 1_000_000,
            "{usec} vs test clock {sent_at}"
        );
    }

    #[test]
    fn every_state_has_its_exact_payload() {
        let path = temp_socket_path("states");
        let listener = Listener::at_path(path.clone());
        let notifier = Notifier::connect_to(&path).unwrap();

        notifier.stopping();
        assert_eq!(listener.receive(), "STOPPING=1");
        notifier.status("2 workers running");
        assert_eq!(listener.receive(), "STATUS=2 workers running");
        notifier.status("two\nlines");
        assert_eq!(listener.receive(), "STATUS=two lines");
        notifier.ready_with_status("2 workers\r\nrunning");
        assert_eq!(listener.receive(), "READY=1\nSTATUS=2 workers  running");
        notifier.watchdog();
        assert_eq!(listener.receive(), "WATCHDOG=1");
        notifier.extend_timeout(Duration::from_millis(1500));
        assert_eq!(listener.receive(), "EXTEND_TIMEOUT_USEC=1500000");
        notifier.send("WATCHDOG=trigger");
        assert_eq!(listener.receive(), "WATCHDOG=trigger");
        notifier.try_send("BARRIER=1").unwrap();
        assert_eq!(listener.receive(), "BARRIER=1");
    }

    #[test]
    fn a_socket_nobody_listens_on_is_an_error_but_never_a_panic() {
        let path = temp_socket_path("nobody");
        let notifier = Notifier::connect_to(&path).unwrap();

        let error = notifier.try_send("READY=1").unwrap_err();

        let message = error.to_string();
        assert!(message.contains(path.to_str().unwrap()), "{message}");
        assert!(message.contains("READY=1"), "{message}");
        assert!(matches!(error, NotifyError::Send { .. }));
    }

    #[test]
    fn failures_are_warned_once_per_run_and_recovery_is_noted() {
        let path = temp_socket_path("burst");
        let notifier = Notifier::connect_to(&path).unwrap();

        let ((), first_run) = capture_logs(|| {
            notifier.ready();
            notifier.status("still trying");
        });
        let warnings = lines_at(&first_run, "WARN");
        assert_eq!(warnings.len(), 1, "{first_run}");
        assert!(warnings[0].contains(path.to_str().unwrap()), "{first_run}");
        assert!(warnings[0].contains("READY=1"), "{first_run}");
        assert_eq!(lines_at(&first_run, "DEBUG").len(), 1, "{first_run}");

        let listener = Listener::at_path(path.clone());
        let ((), recovery) = capture_logs(|| notifier.ready());
        assert_eq!(listener.receive(), "READY=1");
        assert_eq!(lines_at(&recovery, "INFO").len(), 1, "{recovery}");

        drop(listener);
        let ((), second_run) = capture_logs(|| notifier.stopping());
        assert_eq!(lines_at(&second_run, "WARN").len(), 1, "{second_run}");
    }

    #[test]
    fn without_a_socket_everything_is_a_silent_no_op() {
        let (notifier, log) = capture_logs(|| {
            let notifier = Notifier::from_values(env_values(None, Some("30000000"), None), 1);
            notifier.ready();
            notifier.reloading();
            notifier.stopping();
            notifier.try_send("READY=1").unwrap();
            notifier
        });

        assert!(!notifier.is_enabled());
        assert_eq!(notifier.watchdog_interval(), None);
        assert_eq!(log, "");

        let empty = Notifier::from_values(env_values(Some(""), None, None), 1);
        assert!(!empty.is_enabled());
        Notifier::disabled().ready();
    }

    #[test]
    fn an_unusable_socket_name_is_warned_about_and_disables_notifications() {
        let (notifier, log) =
            capture_logs(|| Notifier::from_values(env_values(Some("vsock:2:1234"), None, None), 1));

        assert!(!notifier.is_enabled());
        let warnings = lines_at(&log, "WARN");
        assert_eq!(warnings.len(), 1, "{log}");
        assert!(warnings[0].contains("vsock:2:1234"), "{log}");
    }

    #[test]
    fn bad_socket_names_are_rejected_with_the_reason() {
        let too_long = format!("/tmp/{}", "x".repeat(120));
        let cases = [
            ("", "empty"),
            ("@", "after `@`"),
            ("vsock-stream:2:1", "vsock"),
            (too_long.as_str(), "107 bytes"),
        ];

        for (name, reason) in cases {
            let error = Notifier::connect_to(name).unwrap_err().to_string();
            assert!(error.contains(reason), "{name:?}: {error}");
        }
    }

    #[test]
    fn watchdog_interval_comes_from_the_environment_when_meant_for_us() {
        let path = temp_socket_path("watchdog");
        let socket = path.to_str().unwrap();
        let interval = |usec, pid| {
            Notifier::from_values(env_values(Some(socket), usec, pid), 4242).watchdog_interval()
        };

        assert_eq!(
            interval(Some("30000000"), None),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            interval(Some("30000000"), Some("4242")),
            Some(Duration::from_secs(30))
        );
        assert_eq!(interval(Some("30000000"), Some("4243")), None);
        assert_eq!(interval(Some("0"), None), None);
        assert_eq!(interval(None, Some("4242")), None);
    }

    #[test]
    fn a_malformed_watchdog_variable_is_warned_about() {
        let path = temp_socket_path("watchdog-bad");
        let values = env_values(path.to_str(), Some("30s"), None);

        let (notifier, log) = capture_logs(|| Notifier::from_values(values, 1));

        assert_eq!(notifier.watchdog_interval(), None);
        let warnings = lines_at(&log, "WARN");
        assert_eq!(warnings.len(), 1, "{log}");
        assert!(
            warnings[0].contains("WATCHDOG_USEC") && warnings[0].contains("30s"),
            "{log}"
        );
    }

    #[test]
    fn monotonic_time_agrees_with_the_test_clock() {
        let ours = monotonic_now_usec().unwrap();
        let tests = test_clock_usec();
        assert!(
            tests >= ours && tests - ours < 1_000_000,
            "{ours} vs {tests}"
        );
    }
}
