//! HTTP served by every worker, end to end: real service processes, real
//! signals, real loopback clients. Stop, reload and worker replacement lose
//! no request; limits and TLS behave as configured; bad clients never cost
//! a worker.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use integration_tests::http::{
    Client, Outcome, Response, TestPki, eventually, get, listening_address, outcome_to_result,
    tls_connect, tls_get,
};
use integration_tests::{PATIENCE, Running, children_of, config_file, example, send_signal};

/// A probe service with its configuration file and its HTTP address.
struct Probe {
    service: Running,
    address: SocketAddr,
    config: std::path::PathBuf,
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
            config: path,
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

/// B07: `probe --workers 2`, `graceful_shutdown_timeout = 10`. A
/// `GET /sleep?s=3` starts at T0 and the main process gets SIGTERM at
/// T0 + 0.5 s, while client C sends `GET /ping` every 100 ms on one
/// keep-alive connection opened before the signal; half a second after
/// the signal a new connection is tried.
///
/// Checks: the slow request gets 200 with its whole body; every request of
/// C gets a whole 200 response; every response to a request C sent once
/// its worker logged that it was stopping carries `Connection: close`; C
/// gets exactly one such response, after the signal, it is C's last and
/// the server then closes the connection (C is let go before the slow
/// request ends, not held until the timeout); the new connection is
/// refused or closed unanswered; the service exits with status 0 less
/// than the 10 s timeout after the signal, and no worker needed killing.
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
    finished: Instant,
    /// The client's port, which names the connection, and when the
    /// connection was opened (port 0: it was not).
    port: u16,
    opened: Instant,
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
    fn record(&self, opened: Instant, port: u16, outcome: Outcome) {
        let sample = Sample {
            finished: Instant::now(),
            port,
            opened,
            result: sample_result(outcome),
        };
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

/// The pause of a load client between two requests, which keeps the load
/// to a few thousand requests a second and leaves the machine's other
/// tests some room.
const PACE: Duration = Duration::from_millis(1);

/// A client that keeps one connection for as long as the server allows,
/// and opens another when told to close or when a request fails.
fn keep_alive_client(load: &Load, address: SocketAddr, target: &str) {
    let mut connection: Option<(Client<TcpStream>, Instant)> = None;
    while !load.stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let (client, opened) = match connection.as_mut() {
            Some(open) => open,
            None => match Client::connect(address) {
                Ok(client) => connection.insert((client, started)),
                Err(error) => {
                    load.record(started, 0, Outcome::Failed(error));
                    continue;
                }
            },
        };
        let (port, opened) = (client.local_port(), *opened);
        let outcome = client.get(target, "");
        let keep = matches!(&outcome, Outcome::Answered(r) if !r.closes());
        load.record(opened, port, outcome);
        if !keep {
            connection = None;
        }
        std::thread::sleep(PACE);
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
        load.record(started, port, outcome);
        std::thread::sleep(PACE);
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

/// Five client threads: two keep-alive clients of `/ping`, one keep-alive
/// client of a slow endpoint (so that requests are in flight when workers
/// stop), two that open a connection per request.
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

/// Requests that must finish between two steps of the load test.
const STEP: usize = 400;

/// The load test's configuration with `restart_method` and a
/// `tick_spacing` that each reload changes.
fn load_conf(method: &str, spacing: u32) -> String {
    format!(
        "[DEFAULT]\ngraceful_shutdown_timeout = 30\nrestart_method = {method}\n\
         [probe]\ntick_spacing = {spacing}\n"
    )
}

/// Runs five client threads against `probe --workers 2` while the main
/// process gets SIGHUP (with a changed mutable option), one worker is
/// killed with SIGKILL, and SIGHUP comes twice more; each step waits for
/// the reload or the replacement to finish and for [`STEP`] more requests.
///
/// Checks: no request fails but those in flight on the killed worker's
/// connections (the connections it held, stopped, just before the kill),
/// at most one per such connection; every request the six waits for
/// progress counted (`6 * STEP`) was recorded; the answers came from at least
/// `min_pids` different workers, the last two among them.
fn replay_load(method: &str, min_pids: usize) {
    let quiet = [("RUST_LOG", "service_runtime::http::access=warn")];
    let mut probe = Probe::start_with_env(&load_conf(method, 3600), 2, &quiet);
    let load = Arc::new(Load::default());
    let clients = start_load(&load, probe.address);
    load.wait_for_progress(STEP, &probe.service);

    let reloads = [3500, 3400, 3300];
    probe.reload(&load_conf(method, reloads[0]), method, 1);
    load.wait_for_progress(STEP, &probe.service);

    let service = &probe.service;
    let victim = kill_a_worker(service, probe.address.port());
    service.wait_for_lines(&["killed by signal 9"], 1);
    let ready_before = if method == "reload" { 4 } else { 2 };
    service.wait_for_lines(&["worker ready"], ready_before + 1);
    load.wait_for_progress(STEP, service);

    for (index, spacing) in reloads.iter().enumerate().skip(1) {
        probe.reload(&load_conf(method, *spacing), method, index + 1);
        load.wait_for_progress(STEP, &probe.service);
    }
    let service = &probe.service;
    let final_workers = children_of(service.pid());
    load.wait_for_progress(STEP, service);
    load.stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().unwrap();
    }

    let samples = std::mem::take(&mut *load.samples.lock().unwrap());
    let (excused, failed): (Vec<&Sample>, Vec<&Sample>) = samples
        .iter()
        .filter(|s| s.result.is_err())
        .partition(|s| victim.held(s));
    assert!(
        failed.is_empty(),
        "{} of {} requests failed (victim {} on ports {:?}): {failed:#?}\nlog:\n{}",
        failed.len(),
        samples.len(),
        victim.pid,
        victim.ports,
        service.log()
    );
    assert!(
        excused.len() <= victim.ports.len(),
        "more failures than connections on the killed worker: {excused:#?}"
    );
    // Six waits for `STEP` more requests each: fewer samples means lost ones.
    assert!(samples.len() >= 6 * STEP, "only {} requests", samples.len());
    let answered_by: BTreeSet<i32> = samples
        .iter()
        .filter_map(|s| s.result.clone().ok())
        .filter(|&pid| pid > 0)
        .collect();
    for pid in &final_workers {
        assert!(
            answered_by.contains(pid),
            "final worker {pid} served requests: {answered_by:?}"
        );
    }
    assert!(
        answered_by.len() >= min_pids,
        "workers of every generation served: {answered_by:?}"
    );
    eprintln!(
        "restart_method = {method}: {} requests, {} failed, all on the {} connections of \
         the killed worker; answered by {} workers",
        samples.len(),
        excused.len(),
        victim.ports.len(),
        answered_by.len()
    );
}

impl Probe {
    /// Rewrites the configuration file, sends SIGHUP and waits until the
    /// `count`th reload since the start is done: replaced workers for
    /// `restart_method = reload`, each worker's acknowledgement for
    /// `mutate`.
    fn reload(&mut self, conf: &str, method: &str, count: usize) {
        std::fs::write(&self.config, conf).unwrap();
        self.service.signal(libc::SIGHUP);
        if method == "reload" {
            self.service.wait_for_lines(&["reload finished"], count);
        } else {
            self.service
                .wait_for_lines(&["configuration applied"], 2 * count);
        }
    }
}

/// With `restart_method = reload` (every reload replaces both workers):
/// three SIGHUPs and one SIGKILLed worker cost no request but those in
/// flight on the killed worker; nine workers live in turn, at least six
/// of them answer.
#[test]
fn no_request_fails_through_reloads_and_a_killed_worker() {
    replay_load("reload", 6);
}

/// With `restart_method = mutate` (workers apply the new configuration in
/// place): three SIGHUPs and one SIGKILLed worker cost no request but
/// those in flight on the killed worker; the two first workers and the
/// replacement answer.
#[test]
fn no_request_fails_through_mutating_reloads_and_a_killed_worker() {
    replay_load("mutate", 3);
}

/// The connections one killed worker held.
struct Victim {
    pid: i32,
    /// Client ports of its connections.
    ports: HashSet<u16>,
    /// When the connections were listed: they were all open at some time
    /// between these two instants.
    listed: (Instant, Instant),
}

impl Victim {
    /// Whether the request went over a connection the victim held.
    fn held(&self, sample: &Sample) -> bool {
        self.ports.contains(&sample.port)
            && sample.opened <= self.listed.1
            && sample.finished >= self.listed.0
    }
}

/// Stops one worker (SIGSTOP), and once every thread of it has stopped,
/// lists the connections it holds, then kills it: requests on those
/// connections are the only ones allowed to fail.
fn kill_a_worker(service: &Running, server_port: u16) -> Victim {
    let mut workers = Vec::new();
    let settled = eventually(|| {
        workers = children_of(service.pid());
        workers.len() == 2
    });
    assert!(settled, "the replaced workers did not exit: {workers:?}");
    // The worker with the most connections, so that some requests are in
    // flight on it.
    let pid = *workers
        .iter()
        .max_by_key(|pid| client_ports_of(**pid, server_port).len())
        .unwrap();
    send_signal(pid, libc::SIGSTOP);
    assert!(
        eventually(|| all_threads_stopped(pid)),
        "worker {pid} did not stop"
    );
    let before = Instant::now();
    let ports = client_ports_of(pid, server_port);
    let listed = (before, Instant::now());
    send_signal(pid, libc::SIGKILL);
    Victim { pid, ports, listed }
}

/// Whether every thread of `pid` is stopped by a signal: the process
/// state alone is its first thread's, and the others may still run (and
/// accept a connection) for a moment after it stopped.
fn all_threads_stopped(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        stat.rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().next())
            == Some("T")
    })
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

/// TLS end to end with a CA and a server certificate made by the test:
/// both workers answer `GET /ping` over TLS, trusting only the test CA;
/// plain HTTP on the same port gets no answer.
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

/// Client certificates: with `[ssl] ca_file` set to the test CA, a client
/// without a certificate and a client whose certificate another CA issued
/// both fail their handshake (the server logs a warning for each), while a
/// client presenting a certificate from the test CA gets 200 from a
/// worker, over TLS 1.3 and over TLS 1.2.
#[test]
fn with_ca_file_only_clients_with_a_certificate_are_served() {
    let pki = TestPki::new();
    let stranger = TestPki::new();
    let probe = Probe::start(&ssl_conf(&pki, true), 2);

    let anonymous = tls_get(probe.address, &pki.client_config(false), "/ping");
    assert!(
        anonymous.is_err(),
        "served without a client certificate: {anonymous:?}"
    );
    let foreign = pki.client_config_presenting(Some(&stranger));
    let foreign = tls_get(probe.address, &foreign, "/ping");
    assert!(
        foreign.is_err(),
        "served with a certificate from another CA: {foreign:?}"
    );
    probe
        .service
        .wait_for_lines(&["WARN", "TLS handshake failed"], 2);

    let workers = children_of(probe.service.pid());
    let response = tls_get(probe.address, &pki.client_config(true), "/ping").unwrap();
    assert!(workers.contains(&pid_of(&response)));
    let stream = tls_connect(probe.address, &pki.tls12_client_config(true)).unwrap();
    let version = stream.conn.protocol_version();
    assert_eq!(version, Some(rustls::ProtocolVersion::TLSv1_2));
    let response = outcome_to_result(Client::new(stream).get("/ping", "")).unwrap();
    assert!(workers.contains(&pid_of(&response)));
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

/// B25, at start: `cert_file` naming a missing file stops the service
/// with exit code 78 and an error naming the option and the file.
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

/// B25, at start: `cert_file` without `key_file` stops the service with
/// exit code 78 and an error naming both options.
#[test]
fn a_certificate_without_a_key_stops_the_start() {
    let pki = TestPki::new();
    let conf = format!("[ssl]\ncert_file = {}\n", pki.file("server.pem").display());
    assert_fails_to_start(&conf, &["cert_file", "key_file"]);
}

/// Starts the probe with `conf`, which must fail with exit code 78; the
/// path of the configuration file and the error lines.
fn start_failure(conf: &str) -> (String, Vec<String>) {
    let (_dir, path) = config_file("probe.conf", conf);
    let args = ["--workers", "2", "--config-file", path.to_str().unwrap()];
    let mut service = Running::start(&example("probe"), &args, &[]);
    assert_eq!(service.wait_exit_code(), 78, "log:\n{}", service.log());
    (path.display().to_string(), service.lines_with(&["error: "]))
}

/// An unsupported `[ssl] version`, set on line 4 of the file, stops the
/// start with exit code 78 and an error in the shape of every other
/// configuration error: `<file>:4: option [ssl] version: invalid value
/// "<None>": expected one of ...`.
#[test]
fn a_bad_tls_option_is_reported_with_its_file_and_line() {
    let pki = TestPki::new();
    let conf = format!(
        "[ssl]\ncert_file = {}\nkey_file = {}\nversion = <None>\n",
        pki.file("server.pem").display(),
        pki.file("server.key").display()
    );
    let (path, errors) = start_failure(&conf);
    let expected = format!(
        "error: {path}:4: option [ssl] version: invalid value \"<None>\": expected one of \
         `tlsv1_2`"
    );
    assert!(
        errors.iter().any(|line| line.starts_with(&expected)),
        "no error starting with {expected:?}: {errors:#?}"
    );
}

/// A `[ssl] key_file` naming a missing file, set on line 3, is reported
/// with that file and line, the option and the missing file.
#[test]
fn a_missing_tls_file_is_reported_with_its_file_and_line() {
    let pki = TestPki::new();
    let missing = pki.file("nowhere.key");
    let conf = format!(
        "[ssl]\ncert_file = {}\nkey_file = {}\n",
        pki.file("server.pem").display(),
        missing.display()
    );
    let (path, errors) = start_failure(&conf);
    let expected = format!(
        "error: {path}:3: option [ssl] key_file: invalid value \"{}\": the file does not exist",
        missing.display()
    );
    assert!(errors.contains(&expected), "no {expected:?}: {errors:#?}");
}

// ---------------------------------------------------------------------------
// Handlers that panic

/// The lines of `path` holding every one of `parts`, once there is one.
fn wait_for_file_line(path: &std::path::Path, parts: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let seen = eventually(|| {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        found = text
            .lines()
            .filter(|line| parts.iter().all(|p| line.contains(p)))
            .map(str::to_string)
            .collect();
        !found.is_empty()
    });
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        seen,
        "no line with {parts:?} in {}:\n{text}",
        path.display()
    );
    found
}

/// The pid in the `worker N[pid]` part of a text log line.
fn logged_pid(line: &str) -> i32 {
    let start = line.find("worker ").expect("a worker's line") + "worker ".len();
    let rest = &line[start..];
    let open = rest.find('[').unwrap() + 1;
    let close = rest.find(']').unwrap();
    rest[open..close].parse().unwrap()
}

/// `probe --workers 2` with `log_file` set; `GET /panic`, whose handler
/// panics.
///
/// Checks: the client gets `500` with `Connection: close`; the log file
/// holds one ERROR line from a worker naming the request (`GET`, `/panic`)
/// and the panic message, and that request's access line says 500; the
/// same worker process then answers `/ping` (it survived, nothing was
/// replaced); no raw panic message (`panicked at`) reaches stderr, which
/// (with `use_stderr`) gets only the log lines.
#[test]
fn a_panicking_handler_gets_500_and_one_logged_error() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("svc.log");
    let conf = format!(
        "[DEFAULT]\nlog_file = {}\nuse_stderr = true\n",
        log.display()
    );
    let probe = Probe::start(&conf, 2);
    let workers = children_of(probe.service.pid());

    let (response, closed) = exchange_once(probe.address, "GET /panic HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(response.status, 500, "{response:?}");
    assert!(closed, "the connection closes after the 500: {response:?}");

    let errors = wait_for_file_line(
        &log,
        &["ERROR", "panicked", "the probe panicked on purpose"],
    );
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("GET") && errors[0].contains("/panic"),
        "{errors:#?}"
    );
    let panicked = logged_pid(&errors[0]);
    assert!(workers.contains(&panicked), "{panicked} not in {workers:?}");
    wait_for_file_line(
        &log,
        &["http::access", "\"GET /panic HTTP/1.1\" status: 500 "],
    );

    assert!(
        eventually(|| probe.ping() == panicked),
        "worker {panicked} never answered /ping after its handler panicked"
    );
    assert_eq!(
        children_of(probe.service.pid()),
        workers,
        "no worker was replaced"
    );
    let raw: Vec<String> = probe.service.lines_with(&["panicked at"]);
    assert!(raw.is_empty(), "a raw panic message on stderr: {raw:#?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("status: 499"), "{text}");
}

/// `GET /sleep?s=` with a value that is not a number of seconds the probe
/// sleeps (infinite, huge, negative, not a number) gets `400`, and no
/// handler panics.
#[test]
fn sleep_refuses_durations_it_cannot_sleep() {
    let probe = Probe::start("", 1);
    for value in ["inf", "1e30", "-1", "NaN"] {
        let response = get(probe.address, &format!("/sleep?s={value}")).unwrap();
        assert_eq!(response.status, 400, "s={value}: {response:?}");
    }
    let response = get(probe.address, "/sleep?s=0").unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    assert!(probe.service.lines_with(&["panicked"]).is_empty());
    assert!(probe.service.lines_with(&["ERROR"]).is_empty());
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

/// What the B24 replay expects of each oversized request.
struct LineLimits {
    /// The status of a request with a 20 KB header line.
    long_header: &'static [u16],
    /// The status of a request with a 20 KB request target.
    long_target: &'static [u16],
}

const DEFAULT_LIMITS: LineLimits = LineLimits {
    long_header: &[400, 431],
    long_target: &[400, 414],
};

const RAISED_LIMITS: LineLimits = LineLimits {
    long_header: &[200],
    long_target: &[200],
};

/// Replays B24 against a probe started with `conf`: a 12 KB header, a
/// 20 KB header and a 20 KB request target, each on a new connection and
/// each followed by a normal `/ping` on another new connection.
///
/// Checks each status against `expected`; a refusal is a whole response
/// after which the server closes the connection; every answer comes from
/// the same processes (no crash, no respawn); every refusal has its access
/// line with its status.
fn replay_long_lines(conf: &str, workers: u32, expected: &LineLimits) {
    let probe = Probe::start(conf, workers);
    let main = probe.service.pid();
    let serving: Vec<i32> = if workers == 1 {
        vec![main]
    } else {
        children_of(main)
    };
    let long_target = format!("/ping?{}", "p".repeat(20 * 1024));
    let steps = [
        ("12 KB header", with_header(12 * 1024), &[200][..]),
        ("20 KB header", with_header(20 * 1024), expected.long_header),
        (
            "20 KB target",
            format!("GET {long_target} HTTP/1.1\r\nHost: test\r\n\r\n"),
            expected.long_target,
        ),
    ];
    let mut refused = Vec::new();
    for (what, request, statuses) in steps {
        let (response, closed) = exchange_once(probe.address, &request);
        assert!(
            statuses.contains(&response.status),
            "{what}: {response:?}, expected one of {statuses:?}"
        );
        if response.status == 200 {
            assert!(serving.contains(&pid_of(&response)), "{what}");
        } else {
            assert!(closed, "{what}: the connection closes after the refusal");
            refused.push(response.status);
        }
        let pid = probe.ping();
        assert!(serving.contains(&pid), "{what}: /ping answered by {pid}");
    }

    for status in &refused {
        let status = format!("status: {status} ");
        probe.service.wait_for_lines(&["http::access", &status], 1);
    }
    probe.service.wait_for_lines(&["http::access"], 2 * 3);
    let access = probe.service.lines_with(&["http::access"]);
    assert_eq!(
        access.len(),
        2 * 3,
        "one access line per request: {access:#?}"
    );
    if workers > 1 {
        assert_eq!(children_of(main), serving, "no worker was replaced");
    }
    let started = probe.service.lines_with(&["service started"]);
    assert_eq!(started.len(), workers as usize, "no restart: {started:#?}");
    assert!(probe.service.lines_with(&["ERROR"]).is_empty());
}

/// B24 with the default `max_header_line` (16384), `probe --workers 1` as
/// the case has it: 12 KB header → 200; 20 KB header → 400 or 431, then
/// the connection closes; 20 KB target → 414 or 400; a `/ping` on a new
/// connection after each → 200 from the same process; an access line for
/// each refusal.
#[test]
fn long_lines_are_refused_without_harming_the_worker() {
    replay_long_lines("", 1, &DEFAULT_LIMITS);
}

/// B24 with the default limit, served by worker processes: the same
/// answers, and neither worker is replaced.
#[test]
fn long_lines_are_refused_without_harming_worker_processes() {
    replay_long_lines("", 2, &DEFAULT_LIMITS);
}

/// B24 with `max_header_line = 32768`: the 20 KB header and the 20 KB
/// target are now within the limit and get 200, from the same process.
#[test]
fn a_raised_max_header_line_lets_a_long_header_through() {
    replay_long_lines("[DEFAULT]\nmax_header_line = 32768\n", 1, &RAISED_LIMITS);
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

/// Sends `bytes` on a new connection, then (with `close`) shuts down the
/// sending side, and reads until the server closes the connection.
/// Returns the client's port and what came back.
fn send_and_drain(address: SocketAddr, bytes: &[u8], close: bool) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect_timeout(&address, PATIENCE).unwrap();
    let port = stream.local_addr().unwrap().port();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(bytes).unwrap();
    if close {
        stream.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    (port, reply)
}

/// Connects and resets the connection before sending anything; returns
/// the client's port.
fn reset_before_hello(address: SocketAddr) -> u16 {
    let stream = TcpStream::connect_timeout(&address, PATIENCE).unwrap();
    let port = stream.local_addr().unwrap().port();
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
    port
}

/// The messages the server logs for a failed handshake.
const HANDSHAKE_FAILURES: [&str; 3] = [
    "TLS handshake failed",
    "TLS handshake timed out",
    "client left during the TLS handshake",
];

/// The client port of a log line's `client=HOST:PORT` field.
fn client_port(line: &str) -> Option<u16> {
    let field = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("client="))?;
    field.rsplit(':').next()?.parse().ok()
}

/// B25: against the TLS port of `probe --workers 2` (certificate from a CA
/// made by the test), 50 rounds of: plain-text `GET / HTTP/1.1`; 100
/// random bytes, then close; a TCP connect reset before any ClientHello;
/// a ClientHello offering only TLS 1.0 (the minimum is 1.2); then a valid
/// TLS `GET /ping` trusting the test CA.
///
/// Checks: plain text is never answered in HTTP, TLS 1.0 gets an alert or
/// nothing; every valid request gets 200 from one of the first two
/// workers, which are never replaced; no line at ERROR; with the server's
/// handshake messages at DEBUG, each bad connection is logged at most once
/// (WARN, or DEBUG for a client that left), the plain-text and TLS 1.0
/// ones at WARN, and no handshake waits for its timeout.
#[test]
fn bad_handshakes_never_stop_a_worker() {
    let pki = TestPki::new();
    let debug = [("RUST_LOG", "service_runtime::http=debug")];
    let probe = Probe::start_with_env(&ssl_conf(&pki, false), 2, &debug);
    let workers = children_of(probe.service.pid());
    let client = pki.client_config(false);
    let hello = tls10_client_hello();
    // Bad connections by client port, and those that must be warned about.
    let mut bad: HashMap<u16, usize> = HashMap::new();
    let mut warned: Vec<u16> = Vec::new();

    for round in 0..50 {
        let plain = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";
        let (port, reply) = send_and_drain(probe.address, plain, false);
        assert!(
            !reply.starts_with(b"HTTP/"),
            "round {round}: plain HTTP was served"
        );
        *bad.entry(port).or_default() += 1;
        warned.push(port);

        let junk: Vec<u8> = (0..100).map(|_| rand::random::<u8>()).collect();
        let (port, _) = send_and_drain(probe.address, &junk, true);
        *bad.entry(port).or_default() += 1;

        *bad.entry(reset_before_hello(probe.address)).or_default() += 1;

        let (port, reply) = send_and_drain(probe.address, &hello, false);
        assert!(
            reply.is_empty() || reply[0] == 0x15,
            "round {round}: TLS 1.0 got something other than an alert: {reply:?}"
        );
        *bad.entry(port).or_default() += 1;
        warned.push(port);

        let response = tls_get(probe.address, &client, "/ping")
            .unwrap_or_else(|e| panic!("round {round}: {e}; log:\n{}", probe.service.log()));
        assert!(workers.contains(&pid_of(&response)), "round {round}");
    }

    assert_eq!(
        children_of(probe.service.pid()),
        workers,
        "no worker was replaced"
    );
    // Junk connections may log a failed handshake too: wait for the line of
    // each connection that must have one, not for a count of lines.
    for port in &warned {
        let client = format!("client=127.0.0.1:{port}");
        probe
            .service
            .wait_for_lines(&["TLS handshake failed", &client], 1);
    }
    let errors = probe.service.lines_with(&["ERROR"]);
    assert!(errors.is_empty(), "bad clients are not errors: {errors:#?}");
    let mut logged: HashMap<u16, Vec<String>> = HashMap::new();
    for line in probe.service.lines() {
        if !HANDSHAKE_FAILURES.iter().any(|m| line.contains(m)) {
            continue;
        }
        assert!(
            line.contains(" WARN ") || line.contains(" DEBUG "),
            "{line}"
        );
        assert!(!line.contains("timed out"), "{line}");
        let port = client_port(&line).unwrap_or_else(|| panic!("no client port: {line}"));
        logged.entry(port).or_default().push(line);
    }
    for (port, lines) in &logged {
        let connections = bad.get(port).copied().unwrap_or(0);
        assert!(
            lines.len() <= connections,
            "{} lines for {connections} bad connections from port {port}: {lines:#?}",
            lines.len()
        );
    }
    for port in &warned {
        let lines = logged.get(port).map(Vec::as_slice).unwrap_or_default();
        assert!(
            lines.iter().any(|line| line.contains(" WARN ")),
            "the failed handshake from port {port} was not logged: {lines:#?}"
        );
    }
}
