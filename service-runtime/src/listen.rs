//! Listening sockets a service declares: bound once by the main process,
//! shared by every worker.
//!
//! The main process binds each socket (or adopts the one systemd passed
//! under the same name) before it starts any worker, and keeps it open for
//! as long as it runs. Workers, including the ones that replace dead or
//! reloaded workers, receive duplicates of the same sockets, so the kernel's
//! accept queue is never lost and a client never finds the port closed
//! while the service runs.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use socket2::{Domain, Socket, Type};

use crate::http::Listener;

/// Length of the accept queue of sockets the runtime binds.
const BACKLOG: i32 = 1024;

/// A listening socket the service wants, named so that the service can ask
/// for it and systemd can pass it (`FileDescriptorName=` of the socket
/// unit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    /// The name the service uses to find the socket.
    pub name: &'static str,
    /// Where to listen.
    pub address: ListenAddress,
}

/// Where a socket listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddress {
    /// A TCP address; port 0 picks a free port.
    Tcp {
        /// Host name or IP address to bind, such as `0.0.0.0` or `::1`.
        host: String,
        /// The port.
        port: u16,
    },
    /// A Unix stream socket, with the file mode to give it.
    Unix {
        /// The socket's path; a stale socket file there is replaced.
        path: PathBuf,
        /// The mode, such as `0o660`; `None` keeps the umask's.
        mode: Option<u32>,
    },
}

impl Listen {
    /// A TCP listener.
    pub fn tcp(name: &'static str, host: impl Into<String>, port: u16) -> Listen {
        Listen {
            name,
            address: ListenAddress::Tcp {
                host: host.into(),
                port,
            },
        }
    }

    /// A Unix socket listener.
    pub fn unix(name: &'static str, path: impl Into<PathBuf>, mode: Option<u32>) -> Listen {
        Listen {
            name,
            address: ListenAddress::Unix {
                path: path.into(),
                mode,
            },
        }
    }
}

/// What kind of socket a worker receives, so it can adopt it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SocketKind {
    /// A TCP listener.
    Tcp,
    /// A Unix stream listener.
    Unix,
}

/// A bound socket and its name.
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) name: String,
    pub(crate) listener: Listener,
}

impl Bound {
    pub(crate) fn kind(&self) -> SocketKind {
        match self.listener {
            Listener::Tcp(_) => SocketKind::Tcp,
            Listener::Unix(_) => SocketKind::Unix,
        }
    }
}

/// Binds every declared socket, or takes it from `activated` when systemd
/// passed one with the same name.
///
/// # Errors
///
/// A message naming the socket and address that could not be bound.
pub(crate) fn bind_all(
    wanted: &[Listen],
    mut activated: Vec<(String, Listener)>,
) -> Result<Vec<Bound>, String> {
    let mut bound = Vec::with_capacity(wanted.len());
    for listen in wanted {
        let listener = match activated.iter().position(|(name, _)| name == listen.name) {
            Some(index) => activated.swap_remove(index).1,
            None => bind(&listen.address).map_err(|error| {
                format!(
                    "cannot listen on {} for `{}`: {error}",
                    describe(&listen.address),
                    listen.name
                )
            })?,
        };
        let address = listener
            .local_addr()
            .unwrap_or_else(|_| describe(&listen.address));
        tracing::info!(listener = listen.name, %address, "listening");
        bound.push(Bound {
            name: listen.name.to_string(),
            listener,
        });
    }
    Ok(bound)
}

fn describe(address: &ListenAddress) -> String {
    match address {
        ListenAddress::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
        ListenAddress::Tcp { host, port } => format!("{host}:{port}"),
        ListenAddress::Unix { path, .. } => path.display().to_string(),
    }
}

fn bind(address: &ListenAddress) -> io::Result<Listener> {
    match address {
        ListenAddress::Tcp { host, port } => bind_tcp(host, *port).map(Listener::Tcp),
        ListenAddress::Unix { path, mode } => bind_unix(path, *mode).map(Listener::Unix),
    }
}

fn bind_tcp(host: &str, port: u16) -> io::Result<std::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let address = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the host has no address"))?;
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

fn bind_unix(
    path: &std::path::Path,
    mode: Option<u32>,
) -> io::Result<std::os::unix::net::UnixListener> {
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        if metadata.file_type().is_socket() {
            std::fs::remove_file(path)?;
        }
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(listener)
}
