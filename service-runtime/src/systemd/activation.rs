//! Socket activation: listening sockets systemd opened and handed over as
//! file descriptors 3 and up (`sd_listen_fds(3)`).

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

const LISTEN_PID: &str = "LISTEN_PID";
const LISTEN_FDS: &str = "LISTEN_FDS";
const LISTEN_FDNAMES: &str = "LISTEN_FDNAMES";

/// The name systemd gives a socket whose unit sets no `FileDescriptorName=`.
const UNNAMED: &str = "unknown";

/// The first file descriptor systemd passes (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;

/// A socket systemd opened for this process, now owned by it.
///
/// The descriptor is close-on-exec: it is not passed on to child processes
/// unless the caller passes it explicitly. Its blocking mode is whatever
/// systemd set (blocking unless the unit says `NonBlocking=yes`); call
/// `set_nonblocking(true)` on the converted listener before handing it to
/// tokio.
#[derive(Debug)]
pub struct ActivatedSocket {
    name: String,
    fd: OwnedFd,
}

/// What an activated socket is, as far as a service cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// A listening TCP socket (IPv4 or IPv6): systemd's `ListenStream=` with
    /// a port or an address.
    TcpListener,
    /// A listening Unix stream socket: `ListenStream=` with a path or an
    /// `@` name.
    UnixListener,
    /// Anything else: a datagram or packet socket, a stream socket that is
    /// not listening, a FIFO, a file. The conversion errors describe it.
    Other,
}

/// Why activated sockets could not be taken over or used.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    /// An activation variable holds something unusable.
    #[error("environment variable {var} is {value:?}: expected {expected}")]
    BadVariable {
        /// The variable's name.
        var: &'static str,
        /// Its value, made printable.
        value: String,
        /// What it should hold.
        expected: &'static str,
    },
    /// `LISTEN_FDNAMES` names a different number of sockets than
    /// `LISTEN_FDS` passes.
    #[error(
        "LISTEN_FDNAMES holds {names} names but LISTEN_FDS is {count}; \
         expected one name per socket, separated by `:`"
    )]
    NameCount {
        /// How many names there are.
        names: usize,
        /// How many sockets `LISTEN_FDS` announces.
        count: usize,
    },
    /// A descriptor `LISTEN_FDS` announces is not open.
    #[error("LISTEN_FDS announces file descriptor {fd}, but it is not open: {source}")]
    NotOpen {
        /// The descriptor's number.
        fd: RawFd,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A descriptor could not be examined or set close-on-exec.
    #[error("could not prepare activated socket `{name}` (fd {fd}): {source}")]
    Inspect {
        /// The socket's name.
        name: String,
        /// The descriptor's number.
        fd: RawFd,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The socket is not the kind of listener asked for.
    #[error("activated socket `{name}` (fd {fd}) is {found}; expected {expected}")]
    WrongKind {
        /// The socket's name.
        name: String,
        /// The descriptor's number.
        fd: RawFd,
        /// What the socket turned out to be.
        found: String,
        /// What was asked for.
        expected: &'static str,
    },
}

/// Takes over the sockets systemd passed to this process, in order, then
/// removes `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` from the
/// environment so no child process mistakes them for its own.
///
/// Returns no sockets when `LISTEN_PID` is unset or names another process
/// (the variables were inherited, not meant for us), as `sd_listen_fds`
/// does. Each socket is named after the unit's `FileDescriptorName=`, or
/// `"unknown"` without one. Every descriptor is made close-on-exec.
///
/// # Errors
///
/// [`ActivationError::BadVariable`] or [`ActivationError::NameCount`] when
/// the variables are malformed, [`ActivationError::NotOpen`] when an
/// announced descriptor is missing. The variables are removed in every case.
///
/// # Safety
///
/// **Call this while the process has exactly one thread**: at the top of
/// `main`, before a tokio runtime, a logging thread or anything else that
/// spawns threads exists. It removes environment variables, and another
/// thread reading or writing the environment at the same time is undefined
/// behaviour.
///
/// Call it at most once, and only if nothing else in the process has
/// claimed descriptors 3 and up (another socket activation library, an
/// earlier `OwnedFd::from_raw_fd`): the returned sockets own them and close
/// them when dropped.
pub unsafe fn listen_fds() -> Result<Vec<ActivatedSocket>, ActivationError> {
    let listen_pid = std::env::var_os(LISTEN_PID);
    let listen_fds = std::env::var_os(LISTEN_FDS);
    let listen_fdnames = std::env::var_os(LISTEN_FDNAMES);

    for var in [LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES] {
        // SAFETY: the caller guarantees the process is single-threaded, so
        // no other thread can touch the environment meanwhile.
        unsafe { std::env::remove_var(var) };
    }

    let announced = parse_listen_env(
        std::process::id(),
        text_of(LISTEN_PID, listen_pid)?.as_deref(),
        text_of(LISTEN_FDS, listen_fds)?.as_deref(),
        text_of(LISTEN_FDNAMES, listen_fdnames)?.as_deref(),
    )?;

    // SAFETY: LISTEN_PID names this process, so systemd opened these
    // descriptors for it; the caller guarantees nothing else owns them.
    unsafe { adopt(announced) }
}

/// The descriptors and names the activation variables announce for the
/// process `our_pid`, in order; empty when they are meant for no one or
/// for another process.
///
/// Kept apart from the environment so the rules can be tested without
/// changing it.
fn parse_listen_env(
    our_pid: u32,
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    listen_fdnames: Option<&str>,
) -> Result<Vec<(RawFd, String)>, ActivationError> {
    let Some(listen_pid) = listen_pid else {
        return Ok(Vec::new());
    };

    let pid: u32 = listen_pid
        .parse()
        .map_err(|_| bad_variable(LISTEN_PID, listen_pid, "a decimal process id"))?;
    if pid != our_pid {
        tracing::debug!(
            listen.pid = pid,
            "activated sockets are for another process"
        );
        return Ok(Vec::new());
    }

    let Some(listen_fds) = listen_fds else {
        return Ok(Vec::new());
    };
    let count = parse_count(listen_fds)?;
    let names = socket_names(listen_fdnames, count)?;

    Ok((LISTEN_FDS_START..).zip(names).collect())
}

/// The number of sockets `LISTEN_FDS` announces.
fn parse_count(listen_fds: &str) -> Result<usize, ActivationError> {
    let expected = "the number of passed sockets, a decimal number";
    let count: usize = listen_fds
        .parse()
        .map_err(|_| bad_variable(LISTEN_FDS, listen_fds, expected))?;

    let fits = i32::try_from(count)
        .ok()
        .and_then(|count| LISTEN_FDS_START.checked_add(count))
        .is_some();
    if !fits {
        return Err(bad_variable(LISTEN_FDS, listen_fds, expected));
    }

    Ok(count)
}

/// One name per socket: from `LISTEN_FDNAMES`, or `"unknown"` throughout.
fn socket_names(
    listen_fdnames: Option<&str>,
    count: usize,
) -> Result<Vec<String>, ActivationError> {
    let Some(listen_fdnames) = listen_fdnames else {
        return Ok(vec![UNNAMED.to_owned(); count]);
    };

    let names: Vec<String> = if listen_fdnames.is_empty() {
        Vec::new()
    } else {
        listen_fdnames.split(':').map(str::to_owned).collect()
    };

    if names.len() != count {
        return Err(ActivationError::NameCount {
            names: names.len(),
            count,
        });
    }
    Ok(names)
}

/// Takes ownership of `announced` descriptors and makes them close-on-exec.
///
/// Every descriptor is checked to be open before any is adopted, so an
/// error leaves none half-taken.
///
/// # Safety
///
/// No other object in the process may own any of the descriptors.
unsafe fn adopt(announced: Vec<(RawFd, String)>) -> Result<Vec<ActivatedSocket>, ActivationError> {
    for (fd, _) in &announced {
        fd_flags(*fd).map_err(|source| ActivationError::NotOpen { fd: *fd, source })?;
    }

    let mut sockets = Vec::with_capacity(announced.len());
    for (fd, name) in announced {
        // SAFETY: `fd` is open (checked above) and, by the caller's
        // guarantee, owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        sockets.push(ActivatedSocket { name, fd });
    }

    for socket in &sockets {
        set_cloexec(socket.fd.as_fd()).map_err(|source| socket.inspect_error(source))?;
    }
    Ok(sockets)
}

impl ActivatedSocket {
    /// The socket's name: the unit's `FileDescriptorName=`, by default the
    /// socket unit's name, or `"unknown"` when systemd passed no names.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the socket is a TCP listener, a Unix stream listener or
    /// something else.
    ///
    /// # Errors
    ///
    /// The error of `getsockopt` for anything but "not a socket".
    pub fn kind(&self) -> io::Result<SocketKind> {
        Ok(Shape::of(self.fd.as_fd())?.kind())
    }

    /// The socket as a standard TCP listener.
    ///
    /// # Errors
    ///
    /// [`ActivationError::WrongKind`], describing the socket, when it is not
    /// a listening TCP socket; [`ActivationError::Inspect`] when it cannot
    /// be examined.
    pub fn into_tcp_listener(self) -> Result<TcpListener, ActivationError> {
        self.expect_kind(SocketKind::TcpListener, "a listening TCP socket")?;
        Ok(TcpListener::from(self.fd))
    }

    /// The socket as a standard Unix stream listener.
    ///
    /// # Errors
    ///
    /// [`ActivationError::WrongKind`], describing the socket, when it is not
    /// a listening Unix stream socket; [`ActivationError::Inspect`] when it
    /// cannot be examined.
    pub fn into_unix_listener(self) -> Result<UnixListener, ActivationError> {
        self.expect_kind(SocketKind::UnixListener, "a listening Unix stream socket")?;
        Ok(UnixListener::from(self.fd))
    }

    /// The descriptor itself, for socket kinds this type does not convert.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    fn expect_kind(
        &self,
        wanted: SocketKind,
        expected: &'static str,
    ) -> Result<(), ActivationError> {
        let shape = Shape::of(self.fd.as_fd()).map_err(|source| self.inspect_error(source))?;
        if shape.kind() == wanted {
            return Ok(());
        }

        Err(ActivationError::WrongKind {
            name: self.name.clone(),
            fd: self.fd.as_raw_fd(),
            found: shape.to_string(),
            expected,
        })
    }

    fn inspect_error(&self, source: io::Error) -> ActivationError {
        ActivationError::Inspect {
            name: self.name.clone(),
            fd: self.fd.as_raw_fd(),
            source,
        }
    }
}

impl AsFd for ActivatedSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for ActivatedSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<ActivatedSocket> for OwnedFd {
    fn from(socket: ActivatedSocket) -> OwnedFd {
        socket.fd
    }
}

/// What the kernel says a descriptor is.
#[derive(Debug)]
enum Shape {
    NotASocket,
    Socket {
        domain: libc::c_int,
        socket_type: libc::c_int,
        protocol: libc::c_int,
        listening: bool,
    },
}

impl Shape {
    fn of(fd: BorrowedFd<'_>) -> io::Result<Shape> {
        let socket_type = match socket_option(fd, libc::SO_TYPE) {
            Ok(socket_type) => socket_type,
            Err(error) if error.raw_os_error() == Some(libc::ENOTSOCK) => {
                return Ok(Shape::NotASocket);
            }
            Err(error) => return Err(error),
        };

        Ok(Shape::Socket {
            domain: socket_option(fd, libc::SO_DOMAIN)?,
            socket_type,
            protocol: socket_option(fd, libc::SO_PROTOCOL)?,
            listening: socket_option(fd, libc::SO_ACCEPTCONN)? != 0,
        })
    }

    fn kind(&self) -> SocketKind {
        let Shape::Socket {
            domain,
            socket_type,
            protocol,
            listening: true,
        } = *self
        else {
            return SocketKind::Other;
        };

        match (domain, socket_type, protocol) {
            (libc::AF_INET | libc::AF_INET6, libc::SOCK_STREAM, libc::IPPROTO_TCP) => {
                SocketKind::TcpListener
            }
            (libc::AF_UNIX, libc::SOCK_STREAM, _) => SocketKind::UnixListener,
            _ => SocketKind::Other,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Shape::Socket {
            domain,
            socket_type,
            protocol,
            listening,
        } = *self
        else {
            return f.write_str("not a socket");
        };

        let is_tcp = matches!(domain, libc::AF_INET | libc::AF_INET6)
            && socket_type == libc::SOCK_STREAM
            && protocol == libc::IPPROTO_TCP;
        let domain = match domain {
            libc::AF_INET => "an IPv4",
            libc::AF_INET6 => "an IPv6",
            libc::AF_UNIX => "a Unix",
            _ => "a",
        };
        let socket_type = match socket_type {
            _ if is_tcp => "TCP",
            libc::SOCK_STREAM => "stream",
            libc::SOCK_DGRAM => "datagram",
            libc::SOCK_SEQPACKET => "sequential-packet",
            _ => "other",
        };
        let state = if listening {
            "listening"
        } else {
            "not listening"
        };

        write!(f, "{domain} {socket_type} socket, {state}")
    }
}

/// An integer socket option at `SOL_SOCKET` level.
fn socket_option(fd: BorrowedFd<'_>, option: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;

    // SAFETY: `value` and `len` are valid for writes and `len` holds the
    // size of `value`, so the kernel writes at most that many bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&raw mut value).cast(),
            &mut len,
        )
    };

    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

/// The descriptor flags of `fd`; fails with `EBADF` when it is not open.
fn fd_flags(fd: RawFd) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFD reads flags and changes nothing; any number is a valid
    // argument, a closed one gives EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags)
}

fn set_cloexec(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = fd_flags(fd.as_raw_fd())?;

    // SAFETY: F_SETFD only changes the descriptor flags of an open
    // descriptor this process owns.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags | libc::FD_CLOEXEC) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn bad_variable(var: &'static str, value: &str, expected: &'static str) -> ActivationError {
    ActivationError::BadVariable {
        var,
        value: value.to_owned(),
        expected,
    }
}

/// A variable's value as text; activation variables are always ASCII.
fn text_of(var: &'static str, value: Option<OsString>) -> Result<Option<String>, ActivationError> {
    value
        .map(|value| {
            value
                .into_string()
                .map_err(|value| ActivationError::BadVariable {
                    var,
                    value: value.to_string_lossy().into_owned(),
                    expected: "ASCII text",
                })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::os::unix::net::UnixDatagram;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use super::*;

    /// Set in the environment of the re-executed test binary; holds the
    /// address the passed listener is bound to.
    const CHILD_MARKER: &str = "SERVICE_RUNTIME_ACTIVATION_CHILD_ADDR";

    const CHILD_TEST: &str = "systemd::activation::tests::activated_child";

    /// A fresh descriptor for `fd`'s socket, numbered 100 or above and
    /// without close-on-exec, as systemd would hand one over.
    fn inheritable_copy(fd: BorrowedFd<'_>) -> RawFd {
        // SAFETY: F_DUPFD creates a new descriptor and changes nothing else.
        let copy = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD, 100) };
        assert!(copy >= 100, "{}", io::Error::last_os_error());
        assert_eq!(fd_flags(copy).unwrap() & libc::FD_CLOEXEC, 0);
        copy
    }

    fn is_cloexec(fd: RawFd) -> bool {
        fd_flags(fd).unwrap() & libc::FD_CLOEXEC != 0
    }

    fn announced(fds: &[(RawFd, &str)]) -> Vec<(RawFd, String)> {
        fds.iter()
            .map(|&(fd, name)| (fd, name.to_owned()))
            .collect()
    }

    #[test]
    fn variables_for_no_one_or_another_process_give_no_sockets() {
        assert!(
            parse_listen_env(10, None, Some("2"), None)
                .unwrap()
                .is_empty()
        );
        assert!(
            parse_listen_env(10, Some("11"), Some("2"), None)
                .unwrap()
                .is_empty()
        );
        assert!(
            parse_listen_env(10, Some("10"), None, None)
                .unwrap()
                .is_empty()
        );
        assert!(
            parse_listen_env(10, Some("10"), Some("0"), None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn sockets_are_numbered_from_three_with_their_names() {
        let unnamed = parse_listen_env(10, Some("10"), Some("2"), None).unwrap();
        assert_eq!(unnamed, announced(&[(3, "unknown"), (4, "unknown")]));

        let named = parse_listen_env(10, Some("10"), Some("2"), Some("web:admin")).unwrap();
        assert_eq!(named, announced(&[(3, "web"), (4, "admin")]));
    }

    #[test]
    fn malformed_variables_are_named_in_the_error() {
        let cases = [
            (
                Some("ten"),
                Some("1"),
                None,
                "LISTEN_PID is \"ten\": expected a decimal process id",
            ),
            (Some("10"), Some("one"), None, "LISTEN_FDS is \"one\""),
            (Some("10"), Some("-1"), None, "LISTEN_FDS is \"-1\""),
            (
                Some("10"),
                Some("4294967296"),
                None,
                "LISTEN_FDS is \"4294967296\"",
            ),
            (
                Some("10"),
                Some("2"),
                Some("web"),
                "LISTEN_FDNAMES holds 1 names but LISTEN_FDS is 2",
            ),
            (
                Some("10"),
                Some("1"),
                Some(""),
                "LISTEN_FDNAMES holds 0 names but LISTEN_FDS is 1",
            ),
        ];

        for (pid, fds, names, expected) in cases {
            let error = parse_listen_env(10, pid, fds, names)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(expected),
                "{pid:?} {fds:?} {names:?}: {error}"
            );
        }
    }

    #[test]
    fn adopted_descriptors_are_close_on_exec_and_convert_to_listeners() {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let unix_path = std::env::temp_dir().join(format!("sr-activation-{}", std::process::id()));
        let _ = std::fs::remove_file(&unix_path);
        let unix = UnixListener::bind(&unix_path).unwrap();
        let fds = [
            inheritable_copy(tcp.as_fd()),
            inheritable_copy(unix.as_fd()),
        ];

        // SAFETY: both descriptors were just created by F_DUPFD; nothing owns them.
        let sockets = unsafe { adopt(announced(&[(fds[0], "web"), (fds[1], "admin")])) }.unwrap();

        assert!(fds.iter().all(|&fd| is_cloexec(fd)));
        let [web, admin] = <[ActivatedSocket; 2]>::try_from(sockets).unwrap();
        assert_eq!((web.name(), web.as_raw_fd()), ("web", fds[0]));
        assert_eq!(web.kind().unwrap(), SocketKind::TcpListener);
        assert_eq!(admin.kind().unwrap(), SocketKind::UnixListener);

        let web = web.into_tcp_listener().unwrap();
        assert_eq!(web.local_addr().unwrap(), tcp.local_addr().unwrap());
        let admin = admin.into_unix_listener().unwrap();
        assert_eq!(
            admin.local_addr().unwrap().as_pathname(),
            Some(unix_path.as_path())
        );
        std::fs::remove_file(&unix_path).unwrap();
    }

    #[test]
    fn other_sockets_and_files_are_described_when_refused() {
        let datagram = UnixDatagram::unbound().unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let connected = TcpStream::connect(tcp.local_addr().unwrap()).unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        let cases = [
            (datagram.as_fd(), "a Unix datagram socket, not listening"),
            (connected.as_fd(), "an IPv4 TCP socket, not listening"),
            (file.as_fd(), "not a socket"),
        ];

        for (fd, description) in cases {
            let copy = inheritable_copy(fd);
            // SAFETY: the descriptor was just created by F_DUPFD; nothing owns it.
            let mut sockets = unsafe { adopt(announced(&[(copy, "odd")])) }.unwrap();
            let socket = sockets.pop().unwrap();

            assert_eq!(socket.kind().unwrap(), SocketKind::Other);
            let error = socket.into_tcp_listener().unwrap_err().to_string();
            let expected = format!(
                "activated socket `odd` (fd {copy}) is {description}; \
                 expected a listening TCP socket"
            );
            assert_eq!(error, expected);
        }
    }

    #[test]
    fn a_descriptor_that_is_not_open_is_refused_before_any_is_taken() {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let copy = inheritable_copy(tcp.as_fd());
        let closed = RawFd::MAX - 1;

        // SAFETY: `copy` was just created by F_DUPFD; `closed` is not open.
        let error = unsafe { adopt(announced(&[(copy, "web"), (closed, "gone")])) }.unwrap_err();

        assert!(matches!(error, ActivationError::NotOpen { fd, .. } if fd == closed));
        assert!(
            fd_flags(copy).is_ok(),
            "the open descriptor must not have been closed"
        );
        // SAFETY: `copy` was left unowned by the failed adoption; this takes it back.
        drop(unsafe { OwnedFd::from_raw_fd(copy) });
    }

    /// Passes a real TCP listener to a child process as fd 3 with the
    /// activation variables, the way systemd does, and has the child (this
    /// test binary, running `activated_child`) adopt it and accept a
    /// connection made before it started.
    ///
    /// `LISTEN_PID` must be the child's own pid, unknown before it exists,
    /// and a forked child may not call `setenv` before `exec`. So the child
    /// starts as `sh`, which sets `LISTEN_PID=$$` and then `exec`s the test
    /// binary: `exec` keeps the pid.
    #[test]
    fn listen_fds_adopts_a_socket_passed_by_a_parent_process() {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = tcp.local_addr().unwrap();
        let mut client = TcpStream::connect(address).unwrap();
        let passed = inheritable_copy(tcp.as_fd());

        let mut command = Command::new("/bin/sh");
        command
            .args(["-c", r#"LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@""#])
            .arg(std::env::current_exe().unwrap())
            .args([
                CHILD_TEST,
                "--exact",
                "--ignored",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CHILD_MARKER, address.to_string())
            .env("LISTEN_FDS", "1")
            .env("LISTEN_FDNAMES", "web")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null());
        // SAFETY: the closure only calls dup2, which is async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(passed, LISTEN_FDS_START) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }

        let output = command.output().unwrap();
        // SAFETY: `passed` came from F_DUPFD and is owned by nothing else.
        drop(unsafe { OwnedFd::from_raw_fd(passed) });

        let report = format!(
            "child stdout:\n{}\nchild stderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{report}");
        assert!(
            report.contains("1 passed"),
            "the child test did not run\n{report}"
        );

        client
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut greeting = String::new();
        client.read_to_string(&mut greeting).unwrap();
        assert_eq!(greeting, "accepted by the activated child");
    }

    /// The child half of `listen_fds_adopts_a_socket_passed_by_a_parent_process`;
    /// does nothing useful on its own.
    #[test]
    #[ignore = "run as a child process by listen_fds_adopts_a_socket_passed_by_a_parent_process"]
    fn activated_child() {
        let expected_address = std::env::var(CHILD_MARKER).expect("run only by the parent test");

        // SAFETY: this process runs this one test (`--test-threads=1`);
        // libtest's main thread only waits for it to finish and does not use
        // the environment meanwhile. Descriptor 3 was passed by the parent
        // and nothing in this process has claimed it.
        let sockets = unsafe { listen_fds() }.unwrap();

        for var in [LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES] {
            assert_eq!(std::env::var_os(var), None, "{var} left in the environment");
        }
        let [socket] = <[ActivatedSocket; 1]>::try_from(sockets).unwrap();
        assert_eq!(
            (socket.name(), socket.as_raw_fd()),
            ("web", LISTEN_FDS_START)
        );
        assert!(is_cloexec(LISTEN_FDS_START));

        let listener = socket.into_tcp_listener().unwrap();
        assert_eq!(listener.local_addr().unwrap().to_string(), expected_address);
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .write_all(b"accepted by the activated child")
            .unwrap();
    }
}
