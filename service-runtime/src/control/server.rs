//! The listening side: the socket file, the accept loops and one task per
//! connection.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use super::protocol::{self, Command};
use super::{Answer, ControlRequest};
use crate::options::ServiceOpts;
use crate::paths::{directory_of, may_create_in};

/// The longest command line accepted, in bytes.
const MAX_LINE: usize = 1024;

/// A connection that sends nothing for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The control socket and TCP port of the main process, bound before the
/// runtime starts; either or both may be absent.
#[derive(Debug, Default)]
pub(crate) struct ControlSocket {
    unix: Option<(std::os::unix::net::UnixListener, SocketFile)>,
    tcp: Option<std::net::TcpListener>,
}

/// The socket's path, and which file it is, so that only our own socket is
/// removed at exit and never one a newer process put at the same path.
#[derive(Clone, Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    device: u64,
    inode: u64,
    owner: u32,
}

impl SocketFile {
    /// Removes the socket file if it is still ours.
    pub(crate) fn remove(&self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| meta.dev() == self.device && meta.ino() == self.inode);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds what `control_socket` and `control_tcp_port` ask for.
///
/// # Errors
///
/// When a socket cannot be bound, or another process already answers on
/// the socket's path.
pub(crate) fn bind(opts: &ServiceOpts) -> io::Result<ControlSocket> {
    let unix = opts.control_socket.as_deref().map(bind_unix).transpose()?;
    let tcp = opts
        .control_tcp_port
        .map(|port| {
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port.get()));
            std::net::TcpListener::bind(address).map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("cannot listen for control connections on {address}: {error}"),
                )
            })
        })
        .transpose()?;
    Ok(ControlSocket { unix, tcp })
}

/// Why no socket can be bound at `path`, found without binding one: its
/// directory is missing, is not a directory, or this process may not
/// create a file in it. `None` when a bind may succeed; a socket a running
/// service answers on is no problem here, since `--check-config` runs
/// beside the service it checks.
pub(crate) fn unbindable_reason(path: &Path) -> Option<String> {
    let Some(name) = path.file_name() else {
        return Some("the path names no file".to_string());
    };
    let directory = directory_of(path);
    if let Some(kind) = non_socket_kind(path) {
        return Some(format!(
            "the path is {kind}, not a socket; remove it or choose another path"
        ));
    }
    let staged = staging_dir(directory, name, LONGEST_PID).join("socket");
    if staged.as_os_str().len() > MAX_SOCKET_PATH {
        return Some(format!(
            "the path is too long: the socket is first bound at {} ({} bytes, with the \
             longest process id), and a unix socket path holds at most {MAX_SOCKET_PATH} bytes",
            staged.display(),
            staged.as_os_str().len()
        ));
    }
    match std::fs::metadata(directory) {
        Err(error) => Some(format!(
            "cannot use its directory {}: {error}",
            directory.display()
        )),
        Ok(meta) if !meta.is_dir() => Some(format!("{} is not a directory", directory.display())),
        Ok(_) => may_create_in(directory).err().map(|error| {
            format!(
                "cannot create the socket in {}: {error}",
                directory.display()
            )
        }),
    }
}

fn bind_unix(path: &Path) -> io::Result<(std::os::unix::net::UnixListener, SocketFile)> {
    let context = |error: io::Error| {
        io::Error::new(
            error.kind(),
            format!("control socket {}: {error}", path.display()),
        )
    };
    remove_stale(path).map_err(context)?;
    let listener = bind_privately(path).map_err(context)?;
    let meta = std::fs::symlink_metadata(path).map_err(context)?;
    let file = SocketFile {
        path: path.to_path_buf(),
        device: meta.dev(),
        inode: meta.ino(),
        owner: meta.uid(),
    };
    Ok((listener, file))
}

/// Binds the socket in a fresh directory only its owner may enter, makes
/// it mode 0600, then moves it to `path`: no other user can connect in
/// between, whatever the umask.
fn bind_privately(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::DirBuilderExt;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let parent = directory_of(path);
    let staging = staging_dir(parent, name, std::process::id());
    std::fs::DirBuilder::new().mode(0o700).create(&staging)?;
    let staged = staging.join("socket");
    let bound = std::os::unix::net::UnixListener::bind(&staged).and_then(|listener| {
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staged, path)?;
        Ok(listener)
    });
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&staging);
    bound
}

/// What is at `path` when it is something a socket may not replace: a
/// directory, a file, a link. A socket left by a process that is gone is
/// replaced at start, and one a running service answers on is reported
/// then.
fn non_socket_kind(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;

    let kind = std::fs::symlink_metadata(path).ok()?.file_type();
    if kind.is_socket() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_symlink() {
        Some("a symbolic link")
    } else {
        Some("a file")
    }
}

/// The longest path a unix socket can be bound at: `sun_path` holds 108
/// bytes on Linux, the last one a NUL.
const MAX_SOCKET_PATH: usize = 107;

/// The largest process id Linux hands out (`pid_max` of 2^22).
const LONGEST_PID: u32 = 4_194_304;

/// The private directory a socket is bound in before it is moved to its
/// place, beside that place.
fn staging_dir(parent: &Path, name: &std::ffi::OsStr, pid: u32) -> PathBuf {
    parent.join(format!(".{}.{pid}.new", name.to_string_lossy()))
}

/// Removes a socket file left by a process that is gone; refuses to touch
/// anything else, or a socket someone still answers on.
fn remove_stale(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the path exists and is not a socket; remove it or choose another `control_socket`",
        ));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "another process answers on this socket; is the service already running?",
        ));
    }
    std::fs::remove_file(path)
}

impl ControlSocket {
    /// The socket file, for removal when the main process exits.
    pub(crate) fn file(&self) -> Option<SocketFile> {
        self.unix.as_ref().map(|(_, file)| file.clone())
    }

    /// Starts accepting connections on the current runtime; commands go to
    /// `requests`.
    pub(crate) fn start(self, requests: &mpsc::UnboundedSender<ControlRequest>) {
        if let Some((listener, file)) = self.unix {
            match into_tokio_unix(listener) {
                Ok(listener) => {
                    tracing::info!(path = %file.path.display(), "control socket ready");
                    tokio::spawn(accept_unix(listener, file.owner, requests.clone()));
                }
                Err(error) => tracing::error!(%error, "control socket unusable"),
            }
        }
        if let Some(listener) = self.tcp {
            let address = listener.local_addr().ok();
            let listener = listener
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpListener::from_std(listener));
            match listener {
                Ok(listener) => {
                    tracing::info!(address = ?address, "control port ready");
                    tokio::spawn(accept_tcp(listener, requests.clone()));
                }
                Err(error) => tracing::error!(%error, "control port unusable"),
            }
        }
    }
}

fn into_tokio_unix(
    listener: std::os::unix::net::UnixListener,
) -> io::Result<tokio::net::UnixListener> {
    listener.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(listener)
}

async fn accept_unix(
    listener: tokio::net::UnixListener,
    owner: u32,
    requests: mpsc::UnboundedSender<ControlRequest>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                pause_after_accept_error(&error).await;
                continue;
            }
        };
        let uid = stream.peer_cred().map(|cred| cred.uid()).ok();
        if uid.is_some_and(|uid| uid == owner || uid == 0) {
            tokio::spawn(serve_connection(stream, requests.clone()));
        } else {
            tracing::warn!(uid = ?uid, "control connection from another user refused");
            tokio::spawn(refuse(stream));
        }
    }
}

async fn accept_tcp(
    listener: tokio::net::TcpListener,
    requests: mpsc::UnboundedSender<ControlRequest>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) if peer.ip().is_loopback() => {
                tokio::spawn(serve_connection(stream, requests.clone()));
            }
            Ok((_, peer)) => tracing::warn!(%peer, "control connection not from loopback closed"),
            Err(error) => pause_after_accept_error(&error).await,
        }
    }
}

/// Waits a little after a failed accept (out of descriptors, typically)
/// so that the loop does not spin while the condition lasts.
async fn pause_after_accept_error(error: &io::Error) {
    tracing::warn!(%error, "control connection not accepted");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn refuse(mut stream: tokio::net::UnixStream) {
    let answer: Answer = Err("this socket serves only the service's own user".to_string());
    let line = format!("{}\n", protocol::encode(&answer));
    let _ = stream.write_all(line.as_bytes()).await;
}

/// Why a line could not be read, for the client: too long, not UTF-8 (the
/// codec reports that as an I/O error of kind `InvalidData`), or a failed
/// read.
fn unreadable_line(error: &LinesCodecError) -> String {
    match error {
        LinesCodecError::MaxLineLengthExceeded => {
            format!("command longer than {MAX_LINE} bytes")
        }
        LinesCodecError::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            "a command must be UTF-8 text".to_string()
        }
        LinesCodecError::Io(io) => format!("cannot read the command: {io}"),
    }
}

/// Answers the commands of one connection, in order, until it closes.
async fn serve_connection<T>(stream: T, requests: mpsc::UnboundedSender<ControlRequest>)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = FramedRead::new(read, LinesCodec::new_with_max_length(MAX_LINE));
    loop {
        let line = match tokio::time::timeout(IDLE_TIMEOUT, lines.next()).await {
            Ok(Some(Ok(line))) => line,
            Ok(Some(Err(error))) => {
                let _ = write_answer(&mut write, &Err(unreadable_line(&error))).await;
                return;
            }
            Ok(None) | Err(_) => return,
        };
        if line.trim().is_empty() {
            continue;
        }
        let answer = match Command::parse(&line) {
            Ok(command) => ask(&requests, command).await,
            Err(error) => Err(error),
        };
        if write_answer(&mut write, &answer).await.is_err() {
            return;
        }
    }
}

async fn write_answer(write: &mut (impl AsyncWrite + Unpin), answer: &Answer) -> io::Result<()> {
    let mut line = protocol::encode(answer);
    line.push('\n');
    write.write_all(line.as_bytes()).await
}

/// Hands a command to the launcher and waits for its answer.
async fn ask(requests: &mpsc::UnboundedSender<ControlRequest>, command: Command) -> Answer {
    match command {
        Command::Reload | Command::RunTask(_) | Command::Workers(_) => {
            tracing::info!(command = %command, "control command");
        }
        Command::Status | Command::Tasks | Command::Config | Command::Help => {
            tracing::debug!(command = %command, "control command");
        }
    }
    if let Command::Help = command {
        return Ok(Command::help());
    }
    let timeout = command.answer_timeout();
    let (reply, answer) = oneshot::channel();
    if requests.send(ControlRequest { command, reply }).is_err() {
        return Err("the service is shutting down".to_string());
    }
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err("the service is shutting down".to_string()),
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_socket_is_replaced_and_a_live_one_is_not() {
        let dir = tempfile_dir();
        let path = dir.join("ctl.sock");
        let (live, _) = bind_unix(&path).unwrap();
        let error = bind_unix(&path).unwrap_err();
        assert!(error.to_string().contains("already running"), "{error}");
        drop(live);
        let (_again, file) = bind_unix(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        file.remove();
        assert!(!path.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_path_holding_something_else_is_unbindable() {
        let dir = tempfile_dir();
        let reason = unbindable_reason(&dir).expect("a directory is a problem");
        assert!(reason.contains("a directory, not a socket"), "{reason}");
        let file = dir.join("file");
        std::fs::write(&file, "data").unwrap();
        let reason = unbindable_reason(&file).expect("a file is a problem");
        assert!(reason.contains("a file, not a socket"), "{reason}");
    }

    #[test]
    fn a_socket_path_too_long_to_bind_is_unbindable() {
        let dir = tempfile_dir();
        let long = dir.join("x".repeat(100));
        let reason = unbindable_reason(&long).expect("too long a path is a problem");
        assert!(reason.contains("at most 107 bytes"), "{reason}");
        assert!(unbindable_reason(&dir.join("ctl.sock")).is_none());
    }

    #[test]
    fn a_socket_path_in_a_missing_directory_is_unbindable() {
        let dir = tempfile_dir();
        assert_eq!(unbindable_reason(&dir.join("ctl.sock")), None);

        let missing = dir.join("missing").join("ctl.sock");
        let reason = unbindable_reason(&missing).expect("a missing directory is a problem");
        assert!(reason.contains("missing"), "{reason}");
        assert!(reason.contains("No such file or directory"), "{reason}");

        let file = dir.join("file");
        std::fs::write(&file, "data").unwrap();
        let reason = unbindable_reason(&file.join("ctl.sock")).expect("a file is no directory");
        assert!(reason.contains("is not a directory"), "{reason}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_socket_is_left_alone() {
        let dir = tempfile_dir();
        let path = dir.join("ctl.sock");
        std::fs::write(&path, "data").unwrap();
        let error = bind_unix(&path).unwrap_err();
        assert!(error.to_string().contains("is not a socket"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_command_that_is_not_utf8_is_answered_as_such() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

        let (client, server) = tokio::io::duplex(1024);
        let (requests, _unanswered) = mpsc::unbounded_channel();
        let serving = tokio::spawn(serve_connection(server, requests));
        let (read, mut write) = tokio::io::split(client);
        write.write_all(b"\xff\xfe status\n").await.unwrap();

        let mut answer = String::new();
        BufReader::new(read).read_line(&mut answer).await.unwrap();
        assert!(answer.contains("a command must be UTF-8 text"), "{answer}");
        serving.await.unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sr-control-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
