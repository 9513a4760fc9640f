//! Blocking HTTP/1.1 and TLS clients written for the tests: requests are
//! raw bytes on a `TcpStream` (or a rustls stream over one), so a test
//! controls exactly what is sent and sees exactly what comes back, including
//! a connection closed before any byte of a response.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::{PATIENCE, Running};

/// The address of the listener named `name`, from the main process's
/// `listening listener="NAME" address=HOST:PORT` log line.
pub fn listening_address(service: &Running, name: &str) -> SocketAddr {
    let wanted = format!("listener=\"{name}\"");
    let lines = service.wait_for_lines(&["listening", &wanted], 1);
    let address = lines[0]
        .split_whitespace()
        .find_map(|field| field.strip_prefix("address="))
        .unwrap_or_else(|| panic!("no address in {:?}", lines[0]));
    address
        .parse()
        .unwrap_or_else(|e| panic!("bad address {address:?}: {e}"))
}

/// One HTTP/1 response as it came over the wire.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name`, compared without case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether the server announced that it closes the connection.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How a request on a connection ended.
#[derive(Debug)]
pub enum Outcome {
    /// A complete response.
    Answered(Response),
    /// The server closed the connection (EOF) before any byte of a
    /// response.
    Closed,
    /// The connection failed: reset, broken pipe, timeout, or a response
    /// cut short.
    Failed(io::Error),
}

/// An HTTP/1.1 client connection over any byte stream.
pub struct Client<S: Read + Write> {
    stream: BufReader<S>,
}

impl Client<TcpStream> {
    /// Connects over TCP; reads give up after [`PATIENCE`].
    ///
    /// # Errors
    ///
    /// When the connection is refused or fails.
    pub fn connect(address: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&address, PATIENCE)?;
        stream.set_read_timeout(Some(PATIENCE))?;
        stream.set_write_timeout(Some(PATIENCE))?;
        Ok(Client::new(stream))
    }

    /// The client's own port, which identifies the connection on the
    /// server side.
    pub fn local_port(&self) -> u16 {
        self.stream
            .get_ref()
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(0)
    }
}

impl<S: Read + Write> Client<S> {
    /// A client over an open stream.
    pub fn new(stream: S) -> Self {
        Client {
            stream: BufReader::new(stream),
        }
    }

    /// Sends `GET target` with extra header lines (each ending in `\r\n`)
    /// and reads the response.
    pub fn get(&mut self, target: &str, headers: &str) -> Outcome {
        let request = format!("GET {target} HTTP/1.1\r\nHost: test\r\n{headers}\r\n");
        self.exchange(request.as_bytes())
    }

    /// Sends `method target` with a JSON body and reads the response.
    pub fn send_json(&mut self, method: &str, target: &str, body: &str) -> Outcome {
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.exchange(request.as_bytes())
    }

    /// Sends raw bytes and reads one response.
    pub fn exchange(&mut self, request: &[u8]) -> Outcome {
        if let Err(error) = self.send(request) {
            return Outcome::Failed(error);
        }
        match self.read_response() {
            Ok(Some(response)) => Outcome::Answered(response),
            Ok(None) => Outcome::Closed,
            Err(error) => Outcome::Failed(error),
        }
    }

    /// Writes raw bytes.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = self.stream.get_mut();
        stream.write_all(bytes)?;
        stream.flush()
    }

    /// Reads one response; `None` when the server closed the connection
    /// before sending any byte of it.
    ///
    /// # Errors
    ///
    /// When the connection fails or the response is cut short or garbled.
    pub fn read_response(&mut self) -> io::Result<Option<Response>> {
        let mut status_line = String::new();
        if self.stream.read_line(&mut status_line)? == 0 {
            return Ok(None);
        }
        let status = parse_status(&status_line)?;
        let headers = self.read_headers()?;
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        response.body = self.read_body(&response)?;
        Ok(Some(response))
    }

    /// Whether the server closes the connection: EOF (or a reset) arrives
    /// within [`PATIENCE`] and no further byte before it.
    pub fn closed_by_server(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => error.kind() == io::ErrorKind::ConnectionReset,
        }
    }

    /// The stream under the client.
    pub fn stream(&self) -> &S {
        self.stream.get_ref()
    }

    fn read_headers(&mut self) -> io::Result<Vec<(String, String)>> {
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line)? == 0 {
                return Err(cut_short("in the response head"));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                return Ok(headers);
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| garbled(&format!("header line {line:?}")))?;
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }

    fn read_body(&mut self, head: &Response) -> io::Result<Vec<u8>> {
        if head.status == 204 || head.status == 304 || head.status < 200 {
            return Ok(Vec::new());
        }
        if let Some(length) = head.header("content-length") {
            let length: usize = length
                .parse()
                .map_err(|_| garbled(&format!("content-length {length:?}")))?;
            let mut body = vec![0; length];
            self.stream
                .read_exact(&mut body)
                .map_err(|_| cut_short("in the body"))?;
            return Ok(body);
        }
        if head
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            return self.read_chunked();
        }
        let mut body = Vec::new();
        self.stream.read_to_end(&mut body)?;
        Ok(body)
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let mut size_line = String::new();
            if self.stream.read_line(&mut size_line)? == 0 {
                return Err(cut_short("in a chunk size"));
            }
            let size_text = size_line.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| garbled(&format!("chunk size {size_line:?}")))?;
            let mut chunk = vec![0; size + 2];
            self.stream
                .read_exact(&mut chunk)
                .map_err(|_| cut_short("in a chunk"))?;
            if size == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
}

fn parse_status(line: &str) -> io::Result<u16> {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().map(str::parse)) {
        (Some(version), Some(Ok(status))) if version.starts_with("HTTP/1.") => Ok(status),
        _ => Err(garbled(&format!("status line {line:?}"))),
    }
}

fn cut_short(place: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("response cut short {place}"),
    )
}

fn garbled(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("garbled {what}"))
}

/// `GET target` on a fresh connection; any failure is an error.
///
/// # Errors
///
/// When the connection fails or is closed without a response.
pub fn get(address: SocketAddr, target: &str) -> io::Result<Response> {
    let mut client = Client::connect(address)?;
    outcome_to_result(client.get(target, "Connection: close\r\n"))
}

/// The response of an outcome, or an error describing why there is none.
///
/// # Errors
///
/// When the outcome is not a response.
pub fn outcome_to_result(outcome: Outcome) -> io::Result<Response> {
    match outcome {
        Outcome::Answered(response) => Ok(response),
        Outcome::Closed => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed without a response",
        )),
        Outcome::Failed(error) => Err(error),
    }
}

/// A certificate authority made for one test, the server and client
/// certificates it issued, and their PEM files.
pub struct TestPki {
    dir: tempfile::TempDir,
    ca_der: CertificateDer<'static>,
    client_cert: CertificateDer<'static>,
    client_key: PrivateKeyDer<'static>,
}

impl TestPki {
    /// A CA, a server certificate for `localhost` and `127.0.0.1`, and a
    /// client certificate, written as `ca.pem`, `server.pem`, `server.key`,
    /// `client.pem` and `client.key`.
    pub fn new() -> TestPki {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ca_key = KeyPair::generate().expect("a key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).expect("the CA signs itself");
        let issuer = Issuer::new(ca_params, ca_key);
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).expect("a PEM file is written");
        };
        write("ca.pem", &ca.pem());

        let server_names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let (server_pem, server_key) =
            issue(&issuer, server_names, ExtendedKeyUsagePurpose::ServerAuth);
        write("server.pem", &server_pem.pem());
        write("server.key", &server_key.serialize_pem());

        let client_names = vec!["client.test".to_owned()];
        let (client, client_key) =
            issue(&issuer, client_names, ExtendedKeyUsagePurpose::ClientAuth);
        write("client.pem", &client.pem());
        write("client.key", &client_key.serialize_pem());
        TestPki {
            dir,
            ca_der: ca.der().clone(),
            client_cert: client.der().clone(),
            client_key: PrivateKeyDer::try_from(client_key.serialize_der()).expect("a PKCS#8 key"),
        }
    }

    /// The path of one of the PEM files.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A client configuration trusting the test CA, with or without the
    /// client certificate.
    pub fn client_config(&self, with_certificate: bool) -> Arc<ClientConfig> {
        self.client_config_presenting(with_certificate.then_some(self))
    }

    /// A client configuration trusting this test CA and presenting the
    /// client certificate that `issuer` issued, if any: another
    /// [`TestPki`] gives a certificate this CA never signed.
    pub fn client_config_presenting(&self, issuer: Option<&TestPki>) -> Arc<ClientConfig> {
        self.build_client_config(issuer, rustls::DEFAULT_VERSIONS)
    }

    /// Like [`TestPki::client_config`], offering TLS 1.2 only.
    pub fn tls12_client_config(&self, with_certificate: bool) -> Arc<ClientConfig> {
        let issuer = with_certificate.then_some(self);
        self.build_client_config(issuer, &[&rustls::version::TLS12])
    }

    fn build_client_config(
        &self,
        issuer: Option<&TestPki>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("the CA is usable");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("versions the provider supports")
            .with_root_certificates(roots);
        let config = match issuer {
            Some(issuer) => builder
                .with_client_auth_cert(
                    vec![issuer.client_cert.clone()],
                    issuer.client_key.clone_key(),
                )
                .expect("the client certificate is usable"),
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

fn issue(
    issuer: &Issuer<'_, KeyPair>,
    names: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(names.clone()).expect("certificate params");
    params
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).expect("the CA signs");
    (cert, key)
}

/// A TLS stream to the server, handshake already done.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Connects and completes a TLS handshake for `localhost`.
///
/// # Errors
///
/// When the connection or the handshake fails.
pub fn tls_connect(address: SocketAddr, config: &Arc<ClientConfig>) -> io::Result<TlsStream> {
    let mut tcp = TcpStream::connect_timeout(&address, PATIENCE)?;
    tcp.set_read_timeout(Some(PATIENCE))?;
    tcp.set_write_timeout(Some(PATIENCE))?;
    let name = ServerName::try_from("localhost").expect("a valid name");
    let mut connection = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
    while connection.is_handshaking() {
        connection.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(connection, tcp))
}

/// `GET target` over a fresh TLS connection; any failure is an error.
///
/// # Errors
///
/// When the connection, the handshake or the request fails.
pub fn tls_get(
    address: SocketAddr,
    config: &Arc<ClientConfig>,
    target: &str,
) -> io::Result<Response> {
    let mut client = Client::new(tls_connect(address, config)?);
    outcome_to_result(client.get(target, "Connection: close\r\n"))
}

/// Polls `condition` every 20 ms until it holds or [`PATIENCE`] runs out;
/// returns whether it held.
pub fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
