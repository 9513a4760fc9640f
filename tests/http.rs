//! HTTP served by every worker, end to end: real service processes, real
//! signals, real loopback clients. Stop, reload and worker replacement lose
//! no request; limits and TLS behave as configured; bad clients never cost
//! a worker.

use std::collections::{BTreeSet, HashSet};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use integration_tests::http::{
    Client, Outcome, Response, TestPki, eventually, get, listening_address, outcome_to_result,
    tls_get,
};
use integration_tests::{PATIENCE, Running, children_of, config_file, example, send_signal, stat};

/// A probe service with its configuration file and its HTTP address.
struct Probe {
    service: Running,
    address: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Probe {
    /// Starts the probe with `conf` as its configuration file and waits
    /// until every worker is ready.
    fn start(conf: &str, workers: u32) -> Probe {
        Probe::start_with_env(conf, workers, &[])
    }

    /// Like [`Probe::start`], with extra environment variables.
    fn start_with_env(conf: &str, workers: u32, env: &[(&str, &str)]) -> Probe {
        let (dir, path) = config_file("probe.conf", conf);
        let workers = workers.to_string();
        let args = [
            "--workers",
            &workers,
            "--config-file",
            path.to_str().unwrap(),
        ];
        let service = Running::start(&example("probe"), &args, env);
        let address = listening_address(&service, "api");
        if workers == "1" {
            service.wait_for_lines(&["service started"], 1);
        } else {
            service.wait_for_lines(&["all workers ready"], 1);
        }
        Probe {
            service,
            address,
            _dir: dir,
        }
    }

    /// `GET /ping` on a fresh connection: the pid of the answering process.
    fn ping(&self) -> i32 {
        let response = get(self.address, "/ping").unwrap_or_else(|error| {
            panic!("GET /ping failed: {error}; log:\n{}", self.service.log())
        });
        pid_of(&response)
    }
}

fn pid_of(response: &Response) -> i32 {
    assert_eq!(response.status, 200, "{response:?}");
    response
        .text()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a pid: {response:?}"))
}

// ---------------------------------------------------------------------------
// Stop: in-flight requests finish, keep-alive clients are told to go

/// What the keep-alive client saw for one request.
struct Exchange {
    sent: Instant,
    received: Instant,
    outcome: Outcome,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let took = self.received - self.sent;
        match &self.outcome {
            Outcome::Answered(r) => write!(
                f,
                "{} {:?} connection={:?} after {took:?}",
                r.status,
                r.text(),
                r.header("connection")
            ),
            other => write!(f, "{other:?} after {took:?}"),
        }
    }
}

#[test]
fn sigterm_finishes_in_flight_requests_and_closes_keep_alive_connections() {
    let mut probe = Probe::start("[DEFAULT]\ngraceful_shutdown_timeout = 10\n", 2);

    // Client C: one keep-alive connection, a /ping every 100 ms.
    let mut keep_alive = Client::connect(probe.address).unwrap();
    let first = outcome_to_result(keep_alive.get("/ping", "")).unwrap();
    let keep_alive_pid = pid_of(&first);
    let pinger = std::thread::spawn(move || ping_until_closed(keep_alive));

    // The slow request, started at T0 and in its handler before the signal.
    let started = Instant::now();
    let address = probe.address;
    let slow = std::thread::spawn(move || {
        let mut client = Client::connect(address).unwrap();
        let outcome = client.get("/sleep?s=3", "");
        (outcome, Instant::now())
    });
    probe.service.wait_for_lines(&["sleep request started"], 1);
    sleep_until(started + Duration::from_millis(500));
    probe.service.signal(libc::SIGTERM);
    let signalled = Instant::now();

    // When the test sees C's worker say it is stopping, that worker drains.
    let worker = format!("[{keep_alive_pid}]");
    probe
        .service
        .wait_for_lines(&[&worker, "stopping service"], 1);
    let draining = Instant::now();

    // Half a second after the signal, with both workers stopping, nobody
    // accepts new connections.
    probe.service.wait_for_lines(&["stopping service"], 2);
    sleep_until(signalled + Duration::from_millis(500));
    assert_not_served(probe.address);

    let (slow_outcome, slow_done) = slow.join().unwrap();
    let slow_response = outcome_to_result(slow_outcome).unwrap_or_else(|e| {
        panic!(
            "the slow request failed: {e}; log:\n{}",
            probe.service.log()
        )
    });
    assert_eq!(slow_response.status, 200);
    assert_eq!(slow_response.text(), "slept 3", "the full body arrived");

    let (exchanges, closed_after) = pinger.join().unwrap();
    check_keep_alive_exchanges(&exchanges, signalled, draining);
    assert!(closed_after, "the server closed C after its close response");
    let last = exchanges.last().expect("C made requests");
    assert!(
        last.sent < slow_done,
        "C was let go before the slow request ended, not kept until the end"
    );

    assert_eq!(
        probe.service.wait_exit_code(),
        0,
        "log:\n{}",
        probe.service.log()
    );
    let stopped_after = signalled.elapsed();
    assert!(
        stopped_after < Duration::from_secs(10),
        "stopped {stopped_after:?} after SIGTERM, before graceful_shutdown_timeout"
    );
    assert!(
        probe.service.lines_with(&["did not stop"]).is_empty(),
        "no worker needed killing; log:\n{}",
        probe.service.log()
    );
}

/// Sends `/ping` every 100 ms until the connection ends; returns what each
/// request got and whether the server then closed the connection.
fn ping_until_closed(mut client: Client<TcpStream>) -> (Vec<Exchange>, bool) {
    let mut exchanges = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let sent = Instant::now();
        let outcome = client.get("/ping", "");
        let received = Instant::now();
        let closing = !matches!(&outcome, Outcome::Answered(r) if !r.closes());
        exchanges.push(Exchange {
            sent,
            received,
            outcome,
        });
        if closing {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let closed = matches!(
        exchanges.last(),
        Some(Exchange { outcome: Outcome::Answered(r), .. }) if r.closes()
    ) && client.closed_by_server();
    (exchanges, closed)
}

/// Every request got a whole response; the ones sent once the worker was
/// draining were answered with `Connection: close`, and the first of those
/// was the last request on the connection.
fn check_keep_alive_exchanges(exchanges: &[Exchange], signalled: Instant, draining: Instant) {
    for exchange in exchanges {
        let Outcome::Answered(response) = &exchange.outcome else {
            panic!("C lost a request: {exchange:?}; all: {exchanges:#?}");
        };
        assert_eq!(response.status, 200, "{exchanges:#?}");
        if exchange.sent >= draining {
            assert!(response.closes(), "sent while draining: {exchanges:#?}");
        }
    }
    let closing: Vec<&Exchange> = exchanges
        .iter()
        .filter(|e| matches!(&e.outcome, Outcome::Answered(r) if r.closes()))
        .collect();
    assert_eq!(closing.len(), 1, "one close response: {exchanges:#?}");
    let last = exchanges.last().unwrap();
    assert!(std::ptr::eq(closing[0], last), "{exchanges:#?}");
    assert!(
        last.received >= signalled,
        "C was told to close only after the signal: {exchanges:#?}"
    );
}

/// A new connection is refused, or reset without a response.
fn assert_not_served(address: SocketAddr) {
    let mut client = match Client::connect(address) {
        Err(error) => {
            assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
            return;
        }
        Ok(client) => client,
    };
    match client.get("/ping", "") {
        Outcome::Answered(response) => panic!("a new connection was served: {response:?}"),
        Outcome::Closed | Outcome::Failed(_) => {}
    }
}

fn sleep_until(instant: Instant) {
    std::thread::sleep(instant.saturating_duration_since(Instant::now()));
}

// ---------------------------------------------------------------------------
// Load through reloads and a killed worker

/// One request of the load test.
#[derive(Debug)]
struct Sample {
    started: Instant,
    /// The client's port, which names the connection.
    port: u16,
    /// `Ok(pid)` of the answering worker, or what went wrong.
    result: Result<i32, String>,
}

/// Counters and records shared by the load clients.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    done: AtomicUsize,
    samples: Mutex<Vec<Sample>>,
}

impl Load {
    fn record(&self, sample: Sample) {
        self.samples.lock().unwrap().push(sample);
        self.done.fetch_add(1, Ordering::SeqCst);
    }

    /// Waits until `more` requests beyond the current count have finished.
    fn wait_for_progress(&self, more: usize, service: &Running) {
        let target = self.done.load(Ordering::SeqCst) + more;
        assert!(
            eventually(|| self.done.load(Ordering::SeqCst) >= target),
            "requests stalled at {}; log:\n{}",
            self.done.load(Ordering::SeqCst),
            service.log()
        );
    }
}

/// A client that keeps one connection for as long as the server allows,
/// and opens another when told to close.
fn keep_alive_client(load: &Load, address: SocketAddr, target: &str) {
    let mut connection: Option<Client<TcpStream>> = None;
    while !load.stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let client = match connection.as_mut() {
            Some(client) => client,
            None => match Client::connect(address) {
                Ok(client) => connection.insert(client),
                Err(error) => {
                    let result = Err(format!("connect: {error}"));
                    load.record(Sample {
                        started,
                        port: 0,
                        result,
                    });
                    continue;
                }
            },
        };
        let port = client.local_port();
        let outcome = client.get(target, "");
        let keep = matches!(&outcome, Outcome::Answered(r) if !r.closes());
        load.record(Sample {
            started,
            port,
            result: sample_result(outcome),
        });
        if !keep {
            connection = None;
        }
    }
}

/// A client that opens a new connection for every request.
fn one_shot_client(load: &Load, address: SocketAddr) {
    while !load.stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let (port, outcome) = match Client::connect(address) {
            Ok(mut client) => (
                client.local_port(),
                client.get("/ping", "Connection: close\r\n"),
            ),
            Err(error) => (0, Outcome::Failed(error)),
        };
        load.record(Sample {
            started,
            port,
            result: sample_result(outcome),
        });
    }
}

fn sample_result(outcome: Outcome) -> Result<i32, String> {
    match outcome {
        Outcome::Answered(response) if response.status == 200 => {
            let text = response.text();
            let pid = text.trim().parse().unwrap_or(0);
            if pid > 0 { Ok(pid) } else { Ok(-1) }
        }
        Outcome::Answered(response) => Err(format!("status {}", response.status)),
        Outcome::Closed => Err("closed without a response".into()),
        Outcome::Failed(error) => Err(error.to_string()),
    }
}

fn start_load(load: &Arc<Load>, address: SocketAddr) -> Vec<JoinHandle<()>> {
    let mut clients = Vec::new();
    for index in 0..5 {
        let load = load.clone();
        clients.push(std::thread::spawn(move || match index {
            0 | 1 => keep_alive_client(&load, address, "/ping"),
            2 => keep_alive_client(&load, address, "/sleep?s=0.2"),
            _ => one_shot_client(&load, address),
        }));
    }
    clients
}

#[test]
fn no_request_fails_through_reloads_and_a_killed_worker() {
    let quiet = [("RUST_LOG", "service_runtime::http::access=warn")];
    let probe = Probe::start_with_env("[DEFAULT]\ngraceful_shutdown_timeout = 30\n", 2, &quiet);
    let service = &probe.service;
    let load = Arc::new(Load::default());
    let clients = start_load(&load, probe.address);
    load.wait_for_progress(300, service);

    service.signal(libc::SIGHUP);
    service.wait_for_lines(&["reload finished"], 1);
    load.wait_for_progress(300, service);

    let (victim, victim_ports, killed_at) = kill_a_worker(service, probe.address.port());
    service.wait_for_lines(&["killed by signal 9"], 1);
    service.wait_for_lines(&["worker ready"], 2 + 2 + 1);
    load.wait_for_progress(300, service);

    for reloads in 2..=3 {
        service.signal(libc::SIGHUP);
        service.wait_for_lines(&["reload finished"], reloads);
        load.wait_for_progress(300, service);
    }
    let final_workers = children_of(service.pid());
    load.wait_for_progress(300, service);
    load.stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().unwrap();
    }

    let samples = std::mem::take(&mut *load.samples.lock().unwrap());
    let excused = |s: &Sample| s.started <= killed_at && victim_ports.contains(&s.port);
    let failed: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.result.is_err() && !excused(s))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed (victim {victim} on ports {victim_ports:?}): {failed:#?}\nlog:\n{}",
        failed.len(),
        samples.len(),
        service.log()
    );
    assert!(samples.len() >= 2000, "only {} requests", samples.len());
    let answered_by: BTreeSet<i32> = samples
        .iter()
        .filter_map(|s| s.result.clone().ok())
        .collect();
    assert!(
        final_workers.iter().any(|pid| answered_by.contains(pid)),
        "the last generation {final_workers:?} served requests: {answered_by:?}"
    );
    assert!(
        answered_by.len() >= 6,
        "workers of every generation served: {answered_by:?}"
    );
}

/// Stops one worker (SIGSTOP), notes the client ports of the connections
/// it holds, then kills it: requests on those connections are the only
/// ones allowed to fail. Returns the pid, the ports and when it was killed.
fn kill_a_worker(service: &Running, server_port: u16) -> (i32, HashSet<u16>, Instant) {
    let mut workers = Vec::new();
    let settled = eventually(|| {
        workers = children_of(service.pid());
        workers.len() == 2
    });
    assert!(settled, "the replaced workers did not exit: {workers:?}");
    let victim = workers[0];
    send_signal(victim, libc::SIGSTOP);
    assert!(
        eventually(|| stat(victim).is_some_and(|(state, _)| state == 'T')),
        "worker {victim} did not stop"
    );
    let ports = client_ports_of(victim, server_port);
    send_signal(victim, libc::SIGKILL);
    (victim, ports, Instant::now())
}

/// The client ports of the TCP connections to `server_port` that process
/// `pid` holds, from its descriptors and the kernel's socket tables.
fn client_ports_of(pid: i32, server_port: u16) -> HashSet<u16> {
    let mut inodes = HashSet::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            inodes.insert(inode.to_owned());
        }
    }
    let mut ports = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || !inodes.contains(fields[9]) {
                continue;
            }
            let local_port = hex_port(fields[1]);
            let remote_port = hex_port(fields[2]);
            if local_port == server_port && remote_port != 0 {
                ports.insert(remote_port);
            }
        }
    }
    ports
}

fn hex_port(address: &str) -> u16 {
    let port = address.rsplit(':').next().unwrap_or_default();
    u16::from_str_radix(port, 16).unwrap_or(0)
}

// ---------------------------------------------------------------------------
// TLS

fn ssl_conf(pki: &TestPki, with_ca: bool) -> String {
    let mut conf = format!(
        "[ssl]\ncert_file = {}\nkey_file = {}\n",
        pki.file("server.pem").display(),
        pki.file("server.key").display()
    );
    if with_ca {
        conf.push_str(&format!("ca_file = {}\n", pki.file("ca.pem").display()));
    }
    conf
}

#[test]
fn every_worker_serves_tls() {
    let pki = TestPki::new();
    let probe = Probe::start(&ssl_conf(&pki, false), 2);
    let client = pki.client_config(false);
    let workers: BTreeSet<i32> = children_of(probe.service.pid()).into_iter().collect();

    let mut answered = BTreeSet::new();
    let both = eventually(|| {
        let response = tls_get(probe.address, &client, "/ping").unwrap();
        answered.insert(pid_of(&response));
        answered == workers
    });
    assert!(
        both,
        "TLS answers came from {answered:?}, workers are {workers:?}"
    );

    let plain = get(probe.address, "/ping");
    assert!(plain.is_err(), "plain HTTP on the TLS port: {plain:?}");
}

#[test]
fn with_ca_file_only_clients_with_a_certificate_are_served() {
    let pki = TestPki::new();
    let probe = Probe::start(&ssl_conf(&pki, true), 2);

    let anonymous = tls_get(probe.address, &pki.client_config(false), "/ping");
    assert!(
        anonymous.is_err(),
        "served without a client certificate: {anonymous:?}"
    );

    let response = tls_get(probe.address, &pki.client_config(true), "/ping").unwrap();
    assert!(children_of(probe.service.pid()).contains(&pid_of(&response)));
}

/// Starts the probe with `conf`; it must fail with exit code 78 and an
/// error line holding every one of `parts`.
fn assert_fails_to_start(conf: &str, parts: &[&str]) {
    let (_dir, path) = config_file("probe.conf", conf);
    let args = ["--workers", "2", "--config-file", path.to_str().unwrap()];
    let mut service = Running::start(&example("probe"), &args, &[]);
    assert_eq!(service.wait_exit_code(), 78, "log:\n{}", service.log());
    let errors = service.lines_with(&["error"]);
    assert!(
        errors
            .iter()
            .any(|line| parts.iter().all(|p| line.contains(p))),
        "no error naming {parts:?}; log:\n{}",
        service.log()
    );
    assert!(service.lines_with(&["worker started"]).is_empty());
}

#[test]
fn a_missing_certificate_file_stops_the_start() {
    let pki = TestPki::new();
    let missing = pki.file("nowhere.pem");
    let conf = format!(
        "[ssl]\ncert_file = {}\nkey_file = {}\n",
        missing.display(),
        pki.file("server.key").display()
    );
    assert_fails_to_start(&conf, &["cert_file", &missing.display().to_string()]);
}

#[test]
fn a_certificate_without_a_key_stops_the_start() {
    let pki = TestPki::new();
    let conf = format!("[ssl]\ncert_file = {}\n", pki.file("server.pem").display());
    assert_fails_to_start(&conf, &["cert_file", "key_file"]);
}

// ---------------------------------------------------------------------------
// Oversized lines (max_header_line)

/// Sends `request` on a new connection: the response, and whether the
/// server closed the connection after it.
fn exchange_once(address: SocketAddr, request: &str) -> (Response, bool) {
    let mut client = Client::connect(address).unwrap();
    let outcome = client.exchange(request.as_bytes());
    let response = outcome_to_result(outcome).unwrap();
    let closed = response.closes() && client.closed_by_server();
    (response, closed)
}

fn with_header(bytes: usize) -> String {
    format!(
        "GET /ping HTTP/1.1\r\nHost: test\r\nX-Token: {}\r\n\r\n",
        "t".repeat(bytes)
    )
}

#[test]
fn long_lines_are_refused_without_harming_the_worker() {
    let probe = Probe::start("", 2);
    let workers = children_of(probe.service.pid());

    let (response, _) = exchange_once(probe.address, &with_header(12 * 1024));
    assert_eq!(
        response.status, 200,
        "a 12 KB header is within the default limit"
    );
    assert!(workers.contains(&pid_of(&response)));

    let (response, closed) = exchange_once(probe.address, &with_header(20 * 1024));
    assert!(matches!(response.status, 400 | 431), "{response:?}");
    assert!(closed, "the connection closes after the refusal");
    assert!(workers.contains(&probe.ping()));

    let long_path = format!("/ping?{}", "p".repeat(20 * 1024));
    let request = format!("GET {long_path} HTTP/1.1\r\nHost: test\r\n\r\n");
    let (response, closed) = exchange_once(probe.address, &request);
    assert!(matches!(response.status, 400 | 414), "{response:?}");
    assert!(closed, "the connection closes after the refusal");
    assert!(workers.contains(&probe.ping()));

    probe
        .service
        .wait_for_lines(&["http::access", "status: 431"], 1);
    probe
        .service
        .wait_for_lines(&["http::access", "status: 414"], 1);
    assert_eq!(
        children_of(probe.service.pid()),
        workers,
        "no worker was replaced"
    );
    assert_eq!(probe.service.lines_with(&["worker started"]).len(), 2);
}

#[test]
fn a_raised_max_header_line_lets_a_long_header_through() {
    let probe = Probe::start("[DEFAULT]\nmax_header_line = 32768\n", 1);
    let (response, _) = exchange_once(probe.address, &with_header(20 * 1024));
    assert_eq!(response.status, 200, "{response:?}");
}

// ---------------------------------------------------------------------------
// Bad TLS handshakes

/// A TLS 1.0 ClientHello offering one TLS 1.0 cipher suite and nothing
/// newer: a server with a TLS 1.2 minimum must refuse it.
fn tls10_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x01];
    body.extend_from_slice(&[0x5a; 32]);
    body.push(0);
    body.extend_from_slice(&[0x00, 0x02, 0x00, 0x2f]);
    body.extend_from_slice(&[0x01, 0x00]);
    let mut handshake = vec![0x01, 0x00, 0x00, u8::try_from(body.len()).unwrap()];
    handshake.extend_from_slice(&body);
    let mut record = vec![
        0x16,
        0x03,
        0x01,
        0x00,
        u8::try_from(handshake.len()).unwrap(),
    ];
    record.extend_from_slice(&handshake);
    record
}

/// Sends `bytes` on a new connection and reads until the server closes
/// it; returns what came back.
fn send_and_drain(address: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect_timeout(&address, PATIENCE).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    reply
}

fn reset_before_hello(address: SocketAddr) {
    let stream = TcpStream::connect_timeout(&address, PATIENCE).unwrap();
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

#[test]
fn bad_handshakes_never_stop_a_worker() {
    let pki = TestPki::new();
    let probe = Probe::start(&ssl_conf(&pki, false), 2);
    let workers = children_of(probe.service.pid());
    let client = pki.client_config(false);
    let hello = tls10_client_hello();

    for round in 0..50 {
        let reply = send_and_drain(probe.address, b"GET / HTTP/1.1\r\nHost: test\r\n\r\n");
        assert!(
            !reply.starts_with(b"HTTP/"),
            "round {round}: plain HTTP was served"
        );

        let junk: Vec<u8> = (0..100).map(|_| rand::random::<u8>()).collect();
        send_and_drain(probe.address, &junk);

        reset_before_hello(probe.address);

        let reply = send_and_drain(probe.address, &hello);
        assert!(
            reply.is_empty() || reply[0] == 0x15,
            "round {round}: TLS 1.0 got something other than an alert: {reply:?}"
        );

        let response = tls_get(probe.address, &client, "/ping")
            .unwrap_or_else(|e| panic!("round {round}: {e}; log:\n{}", probe.service.log()));
        assert!(workers.contains(&pid_of(&response)), "round {round}");
    }

    assert_eq!(
        children_of(probe.service.pid()),
        workers,
        "no worker was replaced"
    );
    let errors = probe.service.lines_with(&["ERROR"]);
    assert!(errors.is_empty(), "bad clients are not errors: {errors:#?}");
    let warnings = probe.service.lines_with(&["TLS handshake"]);
    assert!(
        warnings.len() <= 3 * 50,
        "at most one line per bad handshake, got {}",
        warnings.len()
    );
}
