//! The HTTP core over real loopback sockets, with real clients: raw TCP for
//! malformed input, hyper for HTTP/2, tokio-rustls for TLS, and certificates
//! made at test time.

use std::cell::RefCell;
use std::future::Ready;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use service_runtime::http::{
    ACCESS_LOG_TARGET, HttpOptions, Listener, TlsAcceptor, TlsConfigError, serve,
    tls_acceptor_from_files,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};

/// Upper bound for anything that must happen; generous for a loaded machine.
const BOUND: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Log capture

#[derive(Debug)]
struct Captured {
    level: Level,
    target: String,
    text: String,
}

thread_local! {
    /// Events of this thread. Each test runs on a current-thread runtime, so
    /// its server's tasks log on the test's own thread.
    static CAPTURED: RefCell<Vec<Captured>> = const { RefCell::new(Vec::new()) };
}

/// The one global subscriber of this test binary. Per-thread scoped
/// subscribers would race on tracing's global per-callsite interest cache
/// when tests run in parallel.
struct CaptureLayer;

struct TextVisitor(String);

impl Visit for TextVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl<S: Subscriber> Layer<S> for CaptureLayer {
    fn on_event(&self, event: &Event<'_>, _: LayerContext<'_, S>) {
        let mut visitor = TextVisitor(String::new());
        event.record(&mut visitor);
        let captured = Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            text: visitor.0,
        };
        CAPTURED.with(|events| events.borrow_mut().push(captured));
    }
}

/// The events logged on the current test's thread.
struct Logs;

impl Logs {
    fn install() -> Logs {
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            let subscriber = tracing_subscriber::registry().with(CaptureLayer);
            tracing::subscriber::set_global_default(subscriber).unwrap();
        });
        CAPTURED.with(|events| events.borrow_mut().clear());
        Logs
    }

    fn with_events<T>(&self, read: impl FnOnce(&[Captured]) -> T) -> T {
        CAPTURED.with(|events| read(&events.borrow()))
    }

    fn access_lines(&self) -> Vec<String> {
        self.with_events(|events| {
            events
                .iter()
                .filter(|event| event.target == ACCESS_LOG_TARGET && event.level == Level::INFO)
                .map(|event| event.text.clone())
                .collect()
        })
    }

    fn count(&self, level: Level, needle: &str) -> usize {
        self.with_events(|events| {
            let matching = events
                .iter()
                .filter(|e| e.level == level && e.text.contains(needle));
            matching.count()
        })
    }

    fn errors(&self) -> Vec<String> {
        self.with_events(|events| {
            let errors = events.iter().filter(|e| e.level == Level::ERROR);
            errors.map(|event| event.text.clone()).collect()
        })
    }

    fn count_at_least(&self, level: Level) -> usize {
        self.with_events(|events| events.iter().filter(|event| event.level <= level).count())
    }

    /// Waits until an access line contains `needle` (lines are written when
    /// the response body is dropped, just after the client may have it).
    async fn wait_for_access(&self, needle: &str) -> String {
        let found = tokio::time::timeout(BOUND, async {
            loop {
                if let Some(line) = self.access_lines().into_iter().find(|l| l.contains(needle)) {
                    return line;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        found
            .unwrap_or_else(|_| panic!("no access line with {needle:?}: {:?}", self.access_lines()))
    }
}

// ---------------------------------------------------------------------------
// Server and application

/// Lets a test hold requests inside the application and release them.
#[derive(Clone)]
struct Gate {
    entered: mpsc::UnboundedSender<&'static str>,
    open: watch::Receiver<bool>,
}

struct GateControl {
    entered: mpsc::UnboundedReceiver<&'static str>,
    open: watch::Sender<bool>,
}

fn gate() -> (Gate, GateControl) {
    let (entered_tx, entered_rx) = mpsc::unbounded_channel();
    let (open_tx, open_rx) = watch::channel(false);
    let gate = Gate {
        entered: entered_tx,
        open: open_rx,
    };
    (
        gate,
        GateControl {
            entered: entered_rx,
            open: open_tx,
        },
    )
}

impl Gate {
    async fn pass(&self, name: &'static str) {
        self.entered.send(name).unwrap();
        let mut open = self.open.clone();
        open.wait_for(|open| *open).await.unwrap();
    }
}

impl GateControl {
    async fn wait_entered(&mut self, name: &str) {
        let entered = tokio::time::timeout(BOUND, self.entered.recv()).await;
        assert_eq!(entered.expect("request reached the app"), Some(name));
    }

    fn open(&self) {
        self.open.send(true).unwrap();
    }
}

const SLOW_BODY_LEN: usize = 100_000;

fn app(gate: Gate) -> Router {
    let hold_gate = gate.clone();
    Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route(
            "/hold",
            get(move || async move {
                hold_gate.pass("hold").await;
                "held"
            }),
        )
        .route(
            "/slow",
            get(move || async move {
                gate.pass("slow").await;
                "x".repeat(SLOW_BODY_LEN)
            }),
        )
        .fallback(|| async { "fallback" })
}

fn plain_app() -> Router {
    app(gate().0)
}

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<io::Result<()>>,
}

impl Server {
    fn start(app: Router, options: HttpOptions, tls: Option<TlsAcceptor>) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(
            Listener::from(listener),
            app,
            options,
            tls,
            shutdown.clone(),
        ));
        Server {
            addr,
            shutdown,
            task,
        }
    }

    async fn connect(&self) -> Raw<TcpStream> {
        Raw::new(TcpStream::connect(self.addr).await.unwrap())
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(BOUND, self.task).await;
        result
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

// ---------------------------------------------------------------------------
// A raw HTTP/1.1 client

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name));
        found.map(|(_, value)| value.as_str())
    }
}

struct Raw<T> {
    stream: T,
    buffer: Vec<u8>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Raw<T> {
    fn new(stream: T) -> Self {
        Raw {
            stream,
            buffer: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    async fn send_get(&mut self, target: &str, extra_headers: &str) -> io::Result<()> {
        let request = format!("GET {target} HTTP/1.1\r\nHost: test\r\n{extra_headers}\r\n");
        self.send(request.as_bytes()).await
    }

    async fn get(&mut self, target: &str, extra_headers: &str) -> io::Result<Response> {
        self.send_get(target, extra_headers).await?;
        self.read_response().await
    }

    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16384];
        let read = self.stream.read(&mut chunk).await?;
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(read)
    }

    async fn read_response(&mut self) -> io::Result<Response> {
        tokio::time::timeout(BOUND, self.read_response_unbounded())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no response"))?
    }

    async fn read_response_unbounded(&mut self) -> io::Result<Response> {
        let head_end = loop {
            if let Some(at) = find(&self.buffer, b"\r\n\r\n") {
                break at;
            }
            if self.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before a response",
                ));
            }
        };
        let head = String::from_utf8(self.buffer.drain(..head_end + 4).collect()).unwrap();
        let mut lines = head.trim_end().split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.trim().to_owned(), value.trim().to_owned())
            })
            .collect();
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        response.body = self.read_body(&response).await?;
        Ok(response)
    }

    async fn read_body(&mut self, response: &Response) -> io::Result<Vec<u8>> {
        if response.header("transfer-encoding") == Some("chunked") {
            return self.read_chunked().await;
        }
        let length: usize = response
            .header("content-length")
            .map_or(0, |v| v.parse().unwrap());
        self.read_exact_buffered(length).await
    }

    async fn read_exact_buffered(&mut self, length: usize) -> io::Result<Vec<u8>> {
        while self.buffer.len() < length {
            if self.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "body cut short",
                ));
            }
        }
        Ok(self.buffer.drain(..length).collect())
    }

    async fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(at) = find(&self.buffer, b"\r\n") {
                    break at;
                }
                if self.fill().await? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "chunk cut short",
                    ));
                }
            };
            let size_line: Vec<u8> = self.buffer.drain(..line_end + 2).collect();
            let size_text = String::from_utf8_lossy(&size_line);
            let size = usize::from_str_radix(size_text.trim(), 16).unwrap();
            let chunk = self.read_exact_buffered(size + 2).await?;
            if size == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }

    /// Whether the server closes the connection (EOF or reset) within the
    /// bound, with no further bytes sent.
    async fn closed_by_server(&mut self) -> bool {
        let outcome = tokio::time::timeout(BOUND, async {
            loop {
                match self.fill().await {
                    Ok(0) | Err(_) => return self.buffer.is_empty(),
                    Ok(_) => {}
                }
            }
        })
        .await;
        outcome.unwrap_or(false)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

// ---------------------------------------------------------------------------
// Certificates and TLS clients

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("http-serve-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA that issues server and client certificates.
struct Pki {
    ca_der: CertificateDer<'static>,
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

struct Issued {
    cert_pem: String,
    key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: PrivateKeyDer<'static>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_der: cert.der().clone(),
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn issue(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        }
    }

    fn server(&self) -> Issued {
        self.issue("localhost", ExtendedKeyUsagePurpose::ServerAuth)
    }

    fn client(&self) -> Issued {
        self.issue("client.test", ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// Files for the server side: (`cert_file`, `key_file`, `ca_file`).
fn server_files(dir: &TempDir, pki: &Pki) -> (PathBuf, PathBuf, PathBuf) {
    let server = pki.server();
    (
        dir.write("server.pem", &server.cert_pem),
        dir.write("server.key", &server.key_pem),
        dir.write("ca.pem", &pki.ca_pem),
    )
}

fn acceptor(cert: &Path, key: &Path, ca: Option<&Path>, min_version: Option<&str>) -> TlsAcceptor {
    tls_acceptor_from_files(Some(cert), Some(key), ca, min_version, None)
        .unwrap()
        .expect("TLS is configured")
}

fn connector(
    pki: &Pki,
    client: Option<&Issued>,
    versions: &[&'static SupportedProtocolVersion],
) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some(client) => builder
            .with_client_auth_cert(vec![client.cert_der.clone()], client.key_der.clone_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    TlsConnector::from(Arc::new(config))
}

const ALL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS12, &rustls::version::TLS13];

/// A GET over a fresh TLS connection, with every failure as an error.
async fn tls_get(addr: SocketAddr, connector: &TlsConnector, target: &str) -> io::Result<Response> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let handshake = tokio::time::timeout(BOUND, connector.connect(name, tcp)).await;
    let stream = handshake.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake"))??;
    Raw::new(stream).get(target, "").await
}

// ---------------------------------------------------------------------------
// Basic serving

#[tokio::test]
async fn serves_a_request_and_logs_it_in_oslo_format() {
    let logs = Logs::install();
    let server = Server::start(plain_app(), HttpOptions::default(), None);

    let response = server.connect().await.get("/ping", "").await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"pong");

    let line = logs.wait_for_access("/ping").await;
    let prefix = "127.0.0.1 \"GET /ping HTTP/1.1\" status: 200  len: 4 time: ";
    assert!(line.starts_with(prefix), "{line}");
    let seconds = &line[prefix.len()..];
    assert_eq!(seconds.split('.').nth(1).map(str::len), Some(7), "{line}");

    server.stop().await;
}

#[tokio::test]
async fn keep_alive_connection_serves_several_requests() {
    let server = Server::start(plain_app(), HttpOptions::default(), None);
    let mut client = server.connect().await;

    for _ in 0..3 {
        let response = client.get("/ping", "").await.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("connection"), None);
    }

    server.stop().await;
}

#[tokio::test]
async fn without_keep_alive_every_response_closes() {
    let options = HttpOptions {
        keep_alive: false,
        ..HttpOptions::default()
    };
    let server = Server::start(plain_app(), options, None);
    let mut client = server.connect().await;

    let response = client.get("/ping", "").await.unwrap();
    assert_eq!(response.header("connection"), Some("close"));
    assert!(client.closed_by_server().await);

    server.stop().await;
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_served_and_logged() {
    let logs = Logs::install();
    let server = Server::start(plain_app(), HttpOptions::default(), None);
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);

    let request = http::Request::get(format!("http://{}/ping", server.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"pong");

    let line = logs.wait_for_access("GET /ping HTTP/2.0").await;
    assert!(line.contains("status: 200  len: 4"), "{line}");
    server.stop().await;
}

#[tokio::test]
async fn unix_socket_is_served_with_a_dash_for_client_ip() {
    let logs = Logs::install();
    let dir = TempDir::new("unix");
    let path = dir.0.join("http.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(
        Listener::from(listener),
        plain_app(),
        HttpOptions::default(),
        None,
        shutdown.clone(),
    ));

    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let response = Raw::new(stream).get("/ping", "").await.unwrap();
    assert_eq!(response.status, 200);
    let line = logs.wait_for_access("/ping").await;
    assert!(
        line.starts_with("- \"GET /ping HTTP/1.1\" status: 200"),
        "{line}"
    );

    shutdown.cancel();
    tokio::time::timeout(BOUND, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Answers `101` and writes `hello` on the upgraded connection, as a
/// WebSocket handler would take it over.
async fn upgrade(mut request: axum::extract::Request) -> axum::response::Response {
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let mut upgraded = TokioIo::new(on_upgrade.await.unwrap());
        upgraded.write_all(b"hello").await.unwrap();
        upgraded.shutdown().await.unwrap();
    });
    axum::response::Response::builder()
        .status(101)
        .header("connection", "upgrade")
        .header("upgrade", "greeting")
        .body(axum::body::Body::empty())
        .unwrap()
}

#[tokio::test]
async fn http1_upgrade_hands_the_connection_to_the_application() {
    let server = Server::start(
        Router::new().route("/upgrade", get(upgrade)),
        HttpOptions::default(),
        None,
    );
    let mut client = server.connect().await;

    let upgrade_headers = "Connection: upgrade\r\nUpgrade: greeting\r\n";
    let response = client.get("/upgrade", upgrade_headers).await.unwrap();
    assert_eq!(response.status, 101);
    let mut rest = std::mem::take(&mut client.buffer);
    client.stream.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, b"hello");

    server.stop().await;
}

/// An application whose every call fails.
#[derive(Clone)]
struct Failing;

impl tower::Service<http::Request<Incoming>> for Failing {
    type Response = http::Response<String>;
    type Error = io::Error;
    type Future = Ready<Result<Self::Response, io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<Incoming>) -> Self::Future {
        std::future::ready(Err(io::Error::other("database unavailable")))
    }
}

#[tokio::test]
async fn application_error_becomes_500_and_is_logged() {
    let logs = Logs::install();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let options = HttpOptions::default();
    let task = tokio::spawn(serve(
        Listener::from(listener),
        Failing,
        options,
        None,
        shutdown.clone(),
    ));

    let stream = TcpStream::connect(addr).await.unwrap();
    let response = Raw::new(stream).get("/x", "").await.unwrap();
    assert_eq!(response.status, 500);
    logs.wait_for_access("\"GET /x HTTP/1.1\" status: 500")
        .await;
    assert_eq!(logs.count(Level::ERROR, "database unavailable"), 1);

    shutdown.cancel();
    tokio::time::timeout(BOUND, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

fn panicking_app() -> Router {
    plain_app().route(
        "/panic",
        get(|| async {
            if true {
                panic!("handler broke on purpose");
            }
            "unreachable"
        }),
    )
}

#[tokio::test]
async fn a_panicking_handler_gets_500_and_one_error_event() {
    let logs = Logs::install();
    let server = Server::start(panicking_app(), HttpOptions::default(), None);

    let mut client = server.connect().await;
    let response = client.get("/panic?x=1", "").await.unwrap();
    assert_eq!(response.status, 500);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(client.closed_by_server().await);
    logs.wait_for_access("\"GET /panic?x=1 HTTP/1.1\" status: 500")
        .await;
    let error = "the request handler panicked; answering 500 method=GET path=/panic \
                 panic=handler broke on purpose location=";
    assert_eq!(logs.count(Level::ERROR, error), 1, "{:?}", logs.errors());
    assert_eq!(logs.count_at_least(Level::ERROR), 1);

    let response = server.connect().await.get("/ping", "").await.unwrap();
    assert_eq!(response.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_over_http2_fails_only_its_stream() {
    let logs = Logs::install();
    let server = Server::start(panicking_app(), HttpOptions::default(), None);
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);

    for (target, status) in [("/panic", 500), ("/ping", 200)] {
        let request = http::Request::get(format!("http://{}{target}", server.addr))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), status, "{target}");
        assert_eq!(response.headers().get("connection"), None);
    }
    logs.wait_for_access("\"GET /panic HTTP/2.0\" status: 500")
        .await;
    assert_eq!(logs.count(Level::ERROR, "handler broke on purpose"), 1);
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Header and request line limits

#[tokio::test]
async fn header_line_under_the_limit_is_served() {
    let server = Server::start(plain_app(), HttpOptions::default(), None);
    let token = format!("X-Token: {}\r\n", "t".repeat(12 * 1024));

    let response = server.connect().await.get("/ping", &token).await.unwrap();

    assert_eq!(response.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn oversized_header_line_gets_431_then_close_and_the_server_lives_on() {
    let logs = Logs::install();
    let server = Server::start(plain_app(), HttpOptions::default(), None);
    let token = format!("X-Token: {}\r\n", "t".repeat(20 * 1024));

    let mut client = server.connect().await;
    let response = client.get("/ping?oversized-header", &token).await.unwrap();
    assert_eq!(response.status, 431);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(client.closed_by_server().await);

    let again = server.connect().await.get("/ping", "").await.unwrap();
    assert_eq!(again.status, 200);
    let line = logs.wait_for_access("/ping?oversized-header").await;
    assert!(line.contains("status: 431"), "{line}");
    server.stop().await;
}

#[tokio::test]
async fn oversized_request_target_gets_414() {
    let logs = Logs::install();
    let server = Server::start(plain_app(), HttpOptions::default(), None);
    let target = format!("/long-{}", "p".repeat(20 * 1024));

    let mut client = server.connect().await;
    let response = client.get(&target, "").await.unwrap();
    assert_eq!(response.status, 414);
    assert!(client.closed_by_server().await);

    let again = server.connect().await.get("/ping", "").await.unwrap();
    assert_eq!(again.status, 200);
    let line = logs.wait_for_access("GET /long-ppp").await;
    assert!(
        line.contains("...\" status: 414"),
        "the logged line is cut: {line}"
    );
    assert!(line.len() < 3000, "{}", line.len());
    server.stop().await;
}

#[tokio::test]
async fn raised_limit_accepts_a_20k_header() {
    let options = HttpOptions {
        max_header_line: 32768,
        ..HttpOptions::default()
    };
    let server = Server::start(plain_app(), options, None);
    let token = format!("X-Token: {}\r\n", "t".repeat(20 * 1024));

    let response = server.connect().await.get("/ping", &token).await.unwrap();

    assert_eq!(response.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn head_over_the_whole_head_limit_gets_431_from_the_parser() {
    let logs = Logs::install();
    let server = Server::start(plain_app(), HttpOptions::default(), None);
    let line = format!("X-Part: {}\r\n", "h".repeat(10 * 1024));
    let headers = line.repeat(10);

    let mut client = server.connect().await;
    client.send_get("/ping", &headers).await.ok();
    let response = client.read_response().await.unwrap();
    assert_eq!(response.status, 431);
    assert!(client.closed_by_server().await);

    let line = logs.wait_for_access("\"-\" status: 431").await;
    assert!(line.starts_with("127.0.0.1 "), "{line}");
    let again = server.connect().await.get("/ping", "").await.unwrap();
    assert_eq!(again.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn malformed_request_gets_400_and_a_log_line() {
    let logs = Logs::install();
    let server = Server::start(plain_app(), HttpOptions::default(), None);

    let mut client = server.connect().await;
    client.send(b"NOT HTTP AT ALL\r\n\r\n").await.unwrap();
    let response = client.read_response().await.unwrap();
    assert_eq!(response.status, 400);

    logs.wait_for_access("\"-\" status: 400").await;
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Graceful shutdown

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_closes_keep_alive() {
    let (gate, mut control) = gate();
    let server = Server::start(app(gate), HttpOptions::default(), None);

    // An idle keep-alive connection, and one whose second request is held.
    let mut idle = server.connect().await;
    assert_eq!(idle.get("/ping", "").await.unwrap().status, 200);
    let mut keep_alive = server.connect().await;
    assert_eq!(keep_alive.get("/ping", "").await.unwrap().status, 200);
    keep_alive.send_get("/hold", "").await.unwrap();
    control.wait_entered("hold").await;
    let mut slow = server.connect().await;
    slow.send_get("/slow", "").await.unwrap();
    control.wait_entered("slow").await;

    server.shutdown.cancel();

    assert!(
        idle.closed_by_server().await,
        "idle keep-alive closed at once"
    );
    assert_refused_soon(server.addr).await;

    control.open();
    let slow_response = slow.read_response().await.unwrap();
    assert_eq!(slow_response.status, 200);
    assert_eq!(slow_response.body.len(), SLOW_BODY_LEN);
    let held = keep_alive.read_response().await.unwrap();
    assert_eq!(held.status, 200);
    assert_eq!(held.body, b"held");
    assert_eq!(held.header("connection"), Some("close"));
    assert!(keep_alive.closed_by_server().await);

    let result = tokio::time::timeout(BOUND, server.task).await;
    result
        .expect("serve returns once drained")
        .unwrap()
        .unwrap();
}

/// Waits until connecting fails: the listener is closed as soon as the
/// accept loop sees the shutdown.
async fn assert_refused_soon(addr: SocketAddr) {
    let refused = tokio::time::timeout(BOUND, async {
        loop {
            match TcpStream::connect(addr).await {
                Err(error) => return error.kind(),
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await;
    assert_eq!(
        refused.expect("connections refused after shutdown"),
        io::ErrorKind::ConnectionRefused
    );
}

#[tokio::test]
async fn shutdown_sends_goaway_to_http2_and_finishes_its_streams() {
    let (gate, mut control) = gate();
    let server = Server::start(app(gate), HttpOptions::default(), None);
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);

    let request = http::Request::get(format!("http://{}/hold", server.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = tokio::spawn(sender.send_request(request));
    control.wait_entered("hold").await;
    server.shutdown.cancel();
    control.open();

    let response = tokio::time::timeout(BOUND, response)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"held");
    let ended = tokio::time::timeout(BOUND, connection).await;
    ended
        .expect("the server ends the HTTP/2 connection")
        .unwrap()
        .unwrap();
    tokio::time::timeout(BOUND, server.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

// ---------------------------------------------------------------------------
// Client timeout, slow clients, connection limit

fn short_timeout(seconds: u64) -> HttpOptions {
    HttpOptions {
        client_socket_timeout: Duration::from_secs(seconds),
        ..HttpOptions::default()
    }
}

#[tokio::test]
async fn client_socket_timeout_closes_idle_and_silent_connections() {
    let server = Server::start(plain_app(), short_timeout(1), None);

    let mut idle = server.connect().await;
    assert_eq!(idle.get("/ping", "").await.unwrap().status, 200);
    let mut silent = server.connect().await;

    assert!(idle.closed_by_server().await);
    assert!(silent.closed_by_server().await);
    server.stop().await;
}

#[tokio::test]
async fn client_socket_timeout_spares_a_request_in_progress() {
    let (gate, mut control) = gate();
    let server = Server::start(app(gate), short_timeout(1), None);
    let mut client = server.connect().await;
    client.send_get("/hold", "").await.unwrap();
    control.wait_entered("hold").await;

    // Hold the request well past the timeout before letting it finish.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    control.open();

    let response = client.read_response().await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"held");
    server.stop().await;
}

const BIG_BODY_CHUNKS: usize = 1024;
const BIG_BODY_CHUNK: usize = 64 * 1024;

/// A 64 MiB body, far more than the kernel buffers of a loopback socket.
async fn big_body() -> axum::body::Body {
    let chunks = (0..BIG_BODY_CHUNKS).map(|_| Ok::<_, io::Error>(vec![b'x'; BIG_BODY_CHUNK]));
    axum::body::Body::from_stream(futures::stream::iter(chunks))
}

#[tokio::test]
async fn client_that_stops_reading_is_cut_off() {
    let logs = Logs::install();
    let app = Router::new().route("/big", get(big_body));
    let server = Server::start(app, short_timeout(1), None);
    let mut client = server.connect().await;

    client.send_get("/big", "").await.unwrap();

    let line = logs.wait_for_access("/big").await;
    let length: usize = line
        .split("len: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(length < BIG_BODY_CHUNKS * BIG_BODY_CHUNK, "{line}");
    assert!(line.contains("status: 200"), "{line}");
    server.stop().await;
}

#[tokio::test]
async fn slowloris_does_not_block_others_and_is_cut_off() {
    let server = Server::start(plain_app(), short_timeout(2), None);
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let slowloris = tokio::spawn(trickle_headers_until_closed(stream));

    let response = server.connect().await.get("/ping", "").await.unwrap();
    assert_eq!(response.status, 200);

    let cut_off = tokio::time::timeout(BOUND, slowloris).await;
    assert!(cut_off.expect("slow client closed by the timeout").unwrap());
    server.stop().await;
}

/// Sends a request head one byte every 50 ms, never finishing it; returns
/// true once the server has closed the connection.
async fn trickle_headers_until_closed(stream: TcpStream) -> bool {
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(b"GET /ping HTTP/1.1\r\nX-Slow: ")
        .await
        .unwrap();
    let mut buffer = [0u8; 64];
    loop {
        tokio::select! {
            read = reader.read(&mut buffer) => return matches!(read, Ok(0) | Err(_)),
            () = tokio::time::sleep(Duration::from_millis(50)) => {
                if writer.write_all(b"a").await.is_err() {
                    return true;
                }
            }
        }
    }
}

#[tokio::test]
async fn max_connections_makes_accept_wait() {
    let options = HttpOptions {
        max_connections: 2,
        ..HttpOptions::default()
    };
    let server = Server::start(plain_app(), options, None);
    let mut first = server.connect().await;
    let mut second = server.connect().await;
    assert_eq!(first.get("/ping", "").await.unwrap().status, 200);
    assert_eq!(second.get("/ping", "").await.unwrap().status, 200);

    let mut third = server.connect().await;
    third.send_get("/ping", "").await.unwrap();
    // With the limit broken, the answer would come in a few milliseconds.
    let early = tokio::time::timeout(Duration::from_millis(300), third.read_response()).await;
    assert!(
        early.is_err(),
        "the third connection was served while two were open"
    );

    drop(first);
    let response = third.read_response().await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(second.get("/ping", "").await.unwrap().status, 200);
    server.stop().await;
}

// ---------------------------------------------------------------------------
// TLS

#[tokio::test]
async fn tls_serves_https_and_http2_through_alpn() {
    let dir = TempDir::new("tls-basic");
    let pki = Pki::new("test ca");
    let (cert, key, _) = server_files(&dir, &pki);
    let server = Server::start(
        plain_app(),
        HttpOptions::default(),
        Some(acceptor(&cert, &key, None, None)),
    );

    let response = tls_get(server.addr, &connector(&pki, None, ALL_VERSIONS), "/ping").await;
    assert_eq!(response.unwrap().body, b"pong");

    let mut config = (*tls_client_config(&pki)).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get("https://localhost/ping")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    server.stop().await;
}

fn tls_client_config(pki: &Pki) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A ClientHello offering only TLS 1.0 and two TLS 1.0 cipher suites, as
/// an old client sends it; rustls cannot produce one, so it is built here.
fn tls10_client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x01];
    hello.extend([0x5a; 32]);
    hello.push(0);
    hello.extend([0x00, 0x04, 0x00, 0x2f, 0x00, 0x35]);
    hello.extend([0x01, 0x00]);

    let mut handshake = vec![0x01, 0x00, 0x00, hello.len() as u8];
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend(handshake);
    record
}

/// Deterministic junk that does not start like a TLS handshake record.
fn junk(seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut bytes: Vec<u8> = (0..100)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    bytes[0] = 0x47;
    bytes
}

async fn send_and_read_to_end(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(bytes).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(BOUND, stream.read_to_end(&mut answer)).await;
    read.expect("server answers or closes").ok();
    answer
}

async fn connect_and_reset(addr: SocketAddr) {
    let stream = TcpStream::connect(addr).await.unwrap();
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

#[tokio::test]
async fn bad_handshakes_never_stop_the_tls_server() {
    let logs = Logs::install();
    let dir = TempDir::new("tls-b25");
    let pki = Pki::new("test ca");
    let (cert, key, _) = server_files(&dir, &pki);
    let tls = acceptor(&cert, &key, None, Some("tlsv1_2"));
    let server = Server::start(plain_app(), HttpOptions::default(), Some(tls));
    let good = connector(&pki, None, ALL_VERSIONS);

    for round in 0..50 {
        send_and_read_to_end(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_ok_get(server.addr, &good, round).await;

        send_and_read_to_end(server.addr, &junk(round)).await;
        assert_ok_get(server.addr, &good, round).await;

        connect_and_reset(server.addr).await;
        assert_ok_get(server.addr, &good, round).await;

        let answer = send_and_read_to_end(server.addr, &tls10_client_hello()).await;
        assert!(
            answer.is_empty() || answer[0] == 0x15,
            "an alert or a close: {answer:?}"
        );
        assert_ok_get(server.addr, &good, round).await;
    }

    let warnings = logs.count(Level::WARN, "TLS handshake failed");
    assert!(
        (100..=150).contains(&warnings),
        "one warning per bad handshake: {warnings}"
    );
    assert_eq!(logs.count_at_least(Level::ERROR), 0);
    server.stop().await;
}

async fn assert_ok_get(addr: SocketAddr, connector: &TlsConnector, round: u64) {
    let response = tls_get(addr, connector, "/ping").await;
    let response = response.unwrap_or_else(|error| panic!("round {round}: {error}"));
    assert_eq!(response.status, 200, "round {round}");
}

#[tokio::test]
async fn tls12_only_client_is_refused_when_minimum_is_13() {
    let logs = Logs::install();
    let dir = TempDir::new("tls-min13");
    let pki = Pki::new("test ca");
    let (cert, key, _) = server_files(&dir, &pki);
    let tls = acceptor(&cert, &key, None, Some("tlsv1_3"));
    let server = Server::start(plain_app(), HttpOptions::default(), Some(tls));

    let old = connector(&pki, None, &[&rustls::version::TLS12]);
    assert!(tls_get(server.addr, &old, "/ping").await.is_err());

    let modern = connector(&pki, None, &[&rustls::version::TLS13]);
    assert_eq!(
        tls_get(server.addr, &modern, "/ping").await.unwrap().status,
        200
    );
    assert_eq!(logs.count(Level::WARN, "TLS handshake failed"), 1);
    server.stop().await;
}

#[tokio::test]
async fn client_certificate_is_required_with_ca_file() {
    let dir = TempDir::new("tls-mtls");
    let pki = Pki::new("test ca");
    let (cert, key, ca) = server_files(&dir, &pki);
    let tls = acceptor(&cert, &key, Some(&ca), None);
    let server = Server::start(plain_app(), HttpOptions::default(), Some(tls));

    let trusted = pki.client();
    let with_cert = connector(&pki, Some(&trusted), ALL_VERSIONS);
    assert_eq!(
        tls_get(server.addr, &with_cert, "/ping")
            .await
            .unwrap()
            .status,
        200
    );

    let anonymous = connector(&pki, None, ALL_VERSIONS);
    assert!(tls_get(server.addr, &anonymous, "/ping").await.is_err());

    let stranger = Pki::new("other ca").client();
    let with_foreign_cert = connector(&pki, Some(&stranger), ALL_VERSIONS);
    assert!(
        tls_get(server.addr, &with_foreign_cert, "/ping")
            .await
            .is_err()
    );

    assert_eq!(
        tls_get(server.addr, &with_cert, "/ping")
            .await
            .unwrap()
            .status,
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn stalled_handshake_does_not_delay_other_clients() {
    let dir = TempDir::new("tls-stall");
    let pki = Pki::new("test ca");
    let (cert, key, _) = server_files(&dir, &pki);
    let server = Server::start(
        plain_app(),
        short_timeout(1),
        Some(acceptor(&cert, &key, None, None)),
    );

    let mut stalled = Raw::new(TcpStream::connect(server.addr).await.unwrap());
    stalled.send(&tls10_client_hello()[..20]).await.unwrap();

    let good = connector(&pki, None, ALL_VERSIONS);
    assert_eq!(
        tls_get(server.addr, &good, "/ping").await.unwrap().status,
        200
    );
    assert!(
        stalled.closed_by_server().await,
        "the handshake timeout ends it"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------
// TLS configuration errors

fn tls_error(
    cert: Option<&Path>,
    key: Option<&Path>,
    ca: Option<&Path>,
    min_version: Option<&str>,
) -> TlsConfigError {
    match tls_acceptor_from_files(cert, key, ca, min_version, None) {
        Ok(_) => panic!("the TLS settings were accepted"),
        Err(error) => error,
    }
}

#[test]
fn tls_errors_name_the_option_and_file() {
    let dir = TempDir::new("tls-errors");
    let pki = Pki::new("test ca");
    let (cert, key, ca) = server_files(&dir, &pki);
    let missing = dir.0.join("missing.pem");
    let not_pem = dir.write("notes.txt", "just some text\n");
    let other_key = dir.write("other.key", &KeyPair::generate().unwrap().serialize_pem());

    let message = tls_error(Some(&missing), Some(&key), None, None).to_string();
    assert_eq!(
        message,
        format!("`cert_file`: file {} does not exist", missing.display())
    );

    let message = tls_error(Some(&cert), None, None, None).to_string();
    assert!(
        message.starts_with("`cert_file` is set but `key_file` is not"),
        "{message}"
    );

    let message = tls_error(Some(&cert), Some(&not_pem), None, None).to_string();
    assert!(message.starts_with("`key_file`: "), "{message}");
    assert!(
        message.contains("notes.txt is not a PEM file with a PRIVATE KEY"),
        "{message}"
    );

    let message = tls_error(Some(&not_pem), Some(&key), None, None).to_string();
    assert!(
        message.contains("`cert_file`: ") && message.contains("CERTIFICATE"),
        "{message}"
    );

    let message = tls_error(Some(&cert), Some(&other_key), None, None).to_string();
    assert!(message.starts_with("`key_file` "), "{message}");
    assert!(
        message.contains("does not hold the private key of the certificate"),
        "{message}"
    );

    let message = tls_error(Some(&cert), Some(&key), Some(&missing), None).to_string();
    assert!(message.starts_with("`ca_file`: file "), "{message}");

    let message = tls_error(Some(&cert), Some(&dir.0), None, None).to_string();
    assert!(message.starts_with("`key_file`: cannot read "), "{message}");

    let message = tls_error(Some(&cert), Some(&key), None, Some("tlsv1")).to_string();
    assert!(
        message.starts_with("`version`: `tlsv1` is not supported"),
        "{message}"
    );

    assert!(tls_acceptor_from_files(Some(&cert), Some(&key), Some(&ca), None, None).is_ok());
}

/// A `GET /ping` carrying `count` headers `x-big-N` of `value`.
fn with_big_headers(addr: SocketAddr, count: usize, value: &str) -> http::Request<Empty<Bytes>> {
    let mut request = http::Request::get(format!("http://{addr}/ping"));
    for n in 0..count {
        request = request.header(format!("x-big-{n}"), value);
    }
    request.body(Empty::new()).unwrap()
}

/// Over HTTP/2, a header list over the head limit (64 KiB by default)
/// whose header block still fits within that size once compressed is
/// answered `431` by the HTTP/2 layer, without an access line and without
/// reaching the application; the connection carries on.
#[tokio::test]
async fn http2_header_list_over_the_head_limit_gets_431_without_an_access_line() {
    let logs = Logs::install();
    let server = Server::start(plain_app(), HttpOptions::default(), None);
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);

    // 5 lines of 15,000 bytes: each under `max_header_line`, 75 KB in all,
    // about 56 KB once HPACK's Huffman code has packed the `b`s.
    let value = "b".repeat(15_000);
    let request = with_big_headers(server.addr, 5, &value);
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 431);

    let request = http::Request::get(format!("http://{}/ping", server.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200, "the connection carries on");
    logs.wait_for_access("status: 200").await;
    assert_eq!(logs.access_lines().len(), 1, "{:?}", logs.access_lines());
    server.stop().await;
}

/// Over HTTP/2, a header block that is larger than the head limit even
/// compressed makes the HTTP/2 layer close the whole connection with a
/// GOAWAY before the stream is processed (here `ENHANCE_YOUR_CALM`: the
/// block takes more CONTINUATION frames than 64 KiB needs): the client gets
/// no response
/// (curl reports `REFUSED_STREAM` and retries), nothing is logged, and a
/// new connection is served.
#[tokio::test]
async fn http2_header_block_over_the_head_limit_closes_the_connection() {
    let logs = Logs::install();
    let server = Server::start(plain_app(), HttpOptions::default(), None);
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);

    // `~` takes 13 bits in HPACK's Huffman code: 5 lines of 15,000 make a
    // block of about 122 KB.
    let value = "~".repeat(15_000);
    let request = with_big_headers(server.addr, 5, &value);
    let error = sender.send_request(request).await.unwrap_err();
    assert!(!error.is_user(), "{error:?}");
    let ended = tokio::time::timeout(BOUND, connection)
        .await
        .unwrap()
        .unwrap();
    assert!(
        ended.is_err(),
        "the connection ends with an error: {ended:?}"
    );

    let response = server.connect().await.get("/ping", "").await.unwrap();
    assert_eq!(response.status, 200);
    logs.wait_for_access("status: 200").await;
    assert_eq!(logs.access_lines().len(), 1, "{:?}", logs.access_lines());
    server.stop().await;
}
