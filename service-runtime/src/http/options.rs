//! Per-server settings of the HTTP core.

use std::time::Duration;

use super::access_log::AccessLogFormat;

/// Smallest whole-head buffer hyper accepts for HTTP/1.
const MIN_HEAD_BUFFER: usize = 8192;

/// Room kept in the head buffer beside one line at `max_header_line`, so a
/// request whose longest line is exactly at the limit still fits with its
/// request line and a few ordinary headers.
const HEAD_BUFFER_SLACK: usize = 4096;

/// Limits and behaviour of one HTTP server, as each worker runs it.
///
/// The defaults follow oslo.service's `wsgi` options. Every limit applies per
/// connection or per worker, never across workers.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Longest request line or header line accepted, in bytes.
    ///
    /// A header line is counted as `name: value` (name, colon, space and
    /// value, without the line end); the request line as
    /// `METHOD target HTTP/x.y`. A request with a longer header line gets
    /// `431 Request Header Fields Too Large`, one with a longer request line
    /// gets `414 URI Too Long`; either way the connection is closed after the
    /// response. Default 16384 (`max_header_line`).
    pub max_header_line: usize,

    /// Largest request head accepted, in bytes: the request line and all
    /// header lines with their line ends. A longer head gets `431` and the
    /// connection is closed. The buffer actually used is never smaller than
    /// `max_header_line` plus 4 KiB, nor than 8 KiB, so that raising
    /// `max_header_line` alone is enough. Default 65536.
    pub max_head_bytes: usize,

    /// How long a connection may go without a request in flight, or a
    /// response write may stay blocked on a client that does not read,
    /// before the connection is closed. This closes idle keep-alive
    /// connections, clients that never finish sending a request head and
    /// clients that stop reading a response. [`Duration::ZERO`] disables
    /// the limit. Default 900 s (`client_socket_timeout`).
    pub client_socket_timeout: Duration,

    /// Whether a connection may carry more than one HTTP/1 request. When
    /// false each response carries `Connection: close` and the connection
    /// is closed after it. Default true (`wsgi_keep_alive`).
    pub keep_alive: bool,

    /// Idle time before the kernel starts TCP keep-alive probes on an
    /// accepted TCP connection. `SO_KEEPALIVE` is always set on TCP
    /// connections; [`Duration::ZERO`] leaves the system's idle time in
    /// place. Default 600 s (`tcp_keepidle`).
    pub tcp_keepidle: Duration,

    /// Most connections one worker holds at once, counting those still in
    /// their TLS handshake. When reached, the worker stops accepting until a
    /// connection ends; waiting clients stay in the kernel's accept queue,
    /// where other workers sharing the socket can take them. 0 means no
    /// limit. Default 1000.
    pub max_connections: usize,

    /// Template of the access log line written for every request.
    pub access_log_format: AccessLogFormat,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_header_line: 16384,
            max_head_bytes: 65536,
            client_socket_timeout: Duration::from_secs(900),
            keep_alive: true,
            tcp_keepidle: Duration::from_secs(600),
            max_connections: 1000,
            access_log_format: AccessLogFormat::default(),
        }
    }
}

impl HttpOptions {
    /// The head buffer size handed to hyper: `max_head_bytes`, raised where
    /// needed so that one line at `max_header_line` always fits.
    pub(crate) fn head_buffer_size(&self) -> usize {
        self.max_head_bytes
            .max(self.max_header_line.saturating_add(HEAD_BUFFER_SLACK))
            .max(MIN_HEAD_BUFFER)
    }

    /// The client timeout, or `None` when it is disabled.
    pub(crate) fn client_timeout(&self) -> Option<Duration> {
        (!self.client_socket_timeout.is_zero()).then_some(self.client_socket_timeout)
    }

    /// How long a TLS handshake may take: the client timeout, or 10 s when
    /// that is disabled, so a stalled handshake never holds a slot forever.
    pub(crate) fn handshake_timeout(&self) -> Duration {
        self.client_timeout().unwrap_or(Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_buffer_grows_with_the_line_limit() {
        let mut options = HttpOptions::default();
        assert_eq!(options.head_buffer_size(), 65536);

        options.max_header_line = 100_000;
        assert_eq!(options.head_buffer_size(), 104_096);

        options.max_header_line = 10;
        options.max_head_bytes = 10;
        assert_eq!(options.head_buffer_size(), 8192);
    }

    #[test]
    fn zero_timeout_means_none_but_handshakes_stay_bounded() {
        let options = HttpOptions {
            client_socket_timeout: Duration::ZERO,
            ..HttpOptions::default()
        };
        assert_eq!(options.client_timeout(), None);
        assert_eq!(options.handshake_timeout(), Duration::from_secs(10));
    }
}
