//! Listening sockets handed to [`serve`](super::serve), and the streams they
//! accept.

use std::io;
use std::net::SocketAddr;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener};

/// A bound, listening socket, as the main process creates it or receives it
/// from systemd.
///
/// Each worker gets its own copy (a duplicate descriptor of the same socket)
/// and hands it to [`serve`](super::serve), which takes it over. Blocking
/// mode does not matter: `serve` switches the socket to non-blocking itself.
#[derive(Debug)]
pub enum Listener {
    /// A TCP socket, IPv4 or IPv6.
    Tcp(std::net::TcpListener),
    /// A Unix domain stream socket.
    Unix(StdUnixListener),
}

impl From<std::net::TcpListener> for Listener {
    fn from(listener: std::net::TcpListener) -> Self {
        Listener::Tcp(listener)
    }
}

impl From<StdUnixListener> for Listener {
    fn from(listener: StdUnixListener) -> Self {
        Listener::Unix(listener)
    }
}

impl Listener {
    /// A second handle on the same socket, for giving each worker its own.
    ///
    /// # Errors
    ///
    /// Fails when the descriptor cannot be duplicated (for example when the
    /// process is out of descriptors).
    pub fn try_clone(&self) -> io::Result<Listener> {
        Ok(match self {
            Listener::Tcp(listener) => Listener::Tcp(listener.try_clone()?),
            Listener::Unix(listener) => Listener::Unix(listener.try_clone()?),
        })
    }

    /// The address the socket is bound to, as text: `ip:port` for TCP, the
    /// path (or `unix:(unnamed)`) for a Unix socket.
    ///
    /// # Errors
    ///
    /// Fails when the system cannot report the socket's address.
    pub fn local_addr(&self) -> io::Result<String> {
        Ok(match self {
            Listener::Tcp(listener) => listener.local_addr()?.to_string(),
            Listener::Unix(listener) => match listener.local_addr()?.as_pathname() {
                Some(path) => path.display().to_string(),
                None => "unix:(unnamed)".to_owned(),
            },
        })
    }
}

/// A byte stream to one client, whatever its transport.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A connection's stream, boxed so every transport shares one code path.
pub(crate) type BoxIo = Box<dyn Io>;

/// Who is on the other end of a connection.
#[derive(Clone, Debug)]
pub(crate) enum ClientAddr {
    /// A TCP peer.
    Tcp(SocketAddr),
    /// A Unix socket peer, which has no useful address.
    Unix,
}

impl ClientAddr {
    /// The value of the access log's `client_ip`: the peer's IP address,
    /// or `-` over a Unix socket.
    pub(crate) fn ip_text(&self) -> String {
        match self {
            ClientAddr::Tcp(addr) => addr.ip().to_string(),
            ClientAddr::Unix => "-".to_owned(),
        }
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAddr::Tcp(addr) => write!(f, "{addr}"),
            ClientAddr::Unix => f.write_str("unix"),
        }
    }
}

/// A listener registered with the worker's tokio runtime.
#[derive(Debug)]
pub(crate) enum AsyncListener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl AsyncListener {
    /// Takes over a std listener; must run inside a tokio runtime.
    pub(crate) fn from_std(listener: Listener) -> io::Result<Self> {
        Ok(match listener {
            Listener::Tcp(listener) => {
                listener.set_nonblocking(true)?;
                AsyncListener::Tcp(TcpListener::from_std(listener)?)
            }
            Listener::Unix(listener) => {
                listener.set_nonblocking(true)?;
                AsyncListener::Unix(UnixListener::from_std(listener)?)
            }
        })
    }

    /// Waits for the next client. TCP connections get `TCP_NODELAY`,
    /// `SO_KEEPALIVE` and, when `keepidle` is not zero, `TCP_KEEPIDLE`.
    pub(crate) async fn accept(&self, keepidle: Duration) -> io::Result<(BoxIo, ClientAddr)> {
        match self {
            AsyncListener::Tcp(listener) => {
                let (stream, addr) = listener.accept().await?;
                configure_tcp(&stream, keepidle);
                Ok((Box::new(stream), ClientAddr::Tcp(addr)))
            }
            AsyncListener::Unix(listener) => {
                let (stream, _) = listener.accept().await?;
                Ok((Box::new(stream), ClientAddr::Unix))
            }
        }
    }
}

/// Sets the per-connection TCP options. A failure is not worth dropping the
/// client for, so it is only logged.
fn configure_tcp(stream: &TcpStream, keepidle: Duration) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(target: "service_runtime::http", %error, "cannot set TCP_NODELAY");
    }

    let mut keepalive = TcpKeepalive::new();
    if !keepidle.is_zero() {
        keepalive = keepalive.with_time(keepidle);
    }
    if let Err(error) = SockRef::from(stream).set_tcp_keepalive(&keepalive) {
        tracing::debug!(target: "service_runtime::http", %error, "cannot set TCP keep-alive");
    }
}

/// Whether an accept error concerns only the one client being accepted, so
/// the loop can go straight on; anything else (out of descriptors or
/// memory) calls for a pause.
pub(crate) fn is_per_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
