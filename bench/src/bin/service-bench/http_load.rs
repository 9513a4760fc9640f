//! HTTP throughput and latency: the bench service with N workers and a
//! plain hyper server with N threads, driven by the same small load
//! generator over loopback, in alternation.
//!
//! The generator keeps a fixed number of HTTP/1.1 keep-alive connections
//! busy from one thread, each sending `GET /ping` as soon as the previous
//! answer arrived, and times every request.

use std::io;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use service_bench::cpu::process_tree_cpu_time;
use service_bench::stats::{percentile, sorted};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::instance::{Instance, rss_mib};
use crate::report::{Row, Target};
use crate::setup::{READY_TIMEOUT, Setup};

const REQUEST: &[u8] = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Connections the generator keeps open.
const CONNECTIONS: usize = 16;

/// What one load run measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadResult {
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    /// CPU time the server (its main process and workers) used per request
    /// answered in the window, in µs; 0 when no server pid was given.
    pub server_cpu_us: f64,
}

/// Sends requests to `127.0.0.1:port` for `warmup` then `measure`; only
/// requests sent during `measure` count. With the `server` pid, also
/// measures the CPU time its process tree used over the same window.
pub fn generate(
    port: u16,
    server: Option<u32>,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<LoadResult> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let from = Instant::now() + warmup;
        let end = from + measure;
        let connections: Vec<_> = (0..CONNECTIONS)
            .map(|_| tokio::spawn(connection(port, from, end)))
            .collect();
        let server_cpu = tokio::spawn(server_cpu_between(server, from, end));
        let mut latencies = Vec::new();
        let mut errors = 0;
        for connection in connections {
            let (times, failed) = connection.await.context("a load connection panicked")??;
            latencies.extend(times);
            errors += failed;
        }
        let count = latencies.len();
        let latencies = sorted(latencies);
        let pick = |p| {
            if count == 0 {
                0.0
            } else {
                percentile(&latencies, p)
            }
        };
        let server_cpu = server_cpu.await.context("the CPU sampler panicked")?;
        Ok(LoadResult {
            requests_per_s: count as f64 / measure.as_secs_f64(),
            p50_ms: pick(50.0),
            p99_ms: pick(99.0),
            errors,
            server_cpu_us: server_cpu.as_secs_f64() * 1e6 / count.max(1) as f64,
        })
    })
}

/// The CPU time `server`'s process tree used from `from` to `end`.
async fn server_cpu_between(server: Option<u32>, from: Instant, end: Instant) -> Duration {
    let Some(pid) = server else {
        return Duration::ZERO;
    };
    tokio::time::sleep_until(from.into()).await;
    let before = process_tree_cpu_time(pid);
    tokio::time::sleep_until(end.into()).await;
    process_tree_cpu_time(pid).saturating_sub(before)
}

/// One connection's loop; returns the latencies (ms) of the requests sent
/// in the window, and how many failed.
async fn connection(port: u16, from: Instant, end: Instant) -> anyhow::Result<(Vec<f64>, u64)> {
    let mut stream = connect(port).await?;
    let mut buffer = Vec::with_capacity(1024);
    let mut latencies = Vec::new();
    let mut errors = 0;
    loop {
        let sent = Instant::now();
        if sent >= end {
            return Ok((latencies, errors));
        }
        match exchange(&mut stream, &mut buffer).await {
            Ok(()) if sent >= from => latencies.push(sent.elapsed().as_secs_f64() * 1000.0),
            Ok(()) => {}
            Err(_) => {
                errors += u64::from(sent >= from);
                stream = connect(port).await?;
            }
        }
    }
}

async fn connect(port: u16) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot connect to 127.0.0.1:{port}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends one request and reads its whole answer, which must be a 200.
async fn exchange(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<()> {
    stream.write_all(REQUEST).await?;
    buffer.clear();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(total) = response_length(buffer)? {
            while buffer.len() < total {
                read_more(stream, buffer, &mut chunk).await?;
            }
            return Ok(());
        }
        read_more(stream, buffer, &mut chunk).await?;
    }
}

async fn read_more(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    chunk: &mut [u8],
) -> io::Result<()> {
    let read = stream.read(chunk).await?;
    if read == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    buffer.extend_from_slice(&chunk[..read]);
    Ok(())
}

/// The length of head plus body once the head is complete; an error for
/// anything but a 200 with a `content-length`.
fn response_length(buffer: &[u8]) -> io::Result<Option<usize>> {
    let Some(head_end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buffer[..head_end]).map_err(io::Error::other)?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(io::Error::other(format!("unexpected answer: {head}")));
    }
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .ok_or_else(|| io::Error::other("no content-length in the answer"))?;
    Ok(Some(head_end + 4 + length))
}

/// `service-bench load PORT [SECONDS [PID]]`: runs the load generator
/// alone against a server already listening on `127.0.0.1:PORT` (0.5 s of
/// warm-up, then 10 s unless told) and prints what it measured, with the
/// CPU time per request of the process PID and its children when given;
/// for profiling a server from outside the bench.
pub fn load_command(args: &[String]) -> anyhow::Result<()> {
    let usage = "usage: service-bench load PORT [SECONDS [PID]]";
    let port: u16 = args.first().context(usage)?.parse().context(usage)?;
    let seconds: f64 = match args.get(1) {
        Some(value) => value.parse().context(usage)?,
        None => 10.0,
    };
    let server = args
        .get(2)
        .map(|pid| pid.parse())
        .transpose()
        .context(usage)?;
    let result = generate(
        port,
        server,
        Duration::from_millis(500),
        Duration::from_secs_f64(seconds),
    )?;
    print!(
        "{:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, {} failed",
        result.requests_per_s, result.p50_ms, result.p99_ms, result.errors
    );
    if server.is_some() {
        print!(", server CPU {:.2} µs per request", result.server_cpu_us);
    }
    println!();
    Ok(())
}

/// The three servers compared, in the order each run starts them.
#[derive(Clone, Copy)]
enum Server {
    Hyper,
    Framework,
    FrameworkQuiet,
}

/// Throughput and latency of the framework against plain hyper.
pub fn section(setup: &Setup) -> anyhow::Result<Vec<Row>> {
    let workers = u32::try_from(std::thread::available_parallelism().map_or(2, usize::from))
        .unwrap_or(2)
        .max(2);
    let (warmup, measure) = if setup.quick {
        (Duration::from_millis(200), Duration::from_secs(1))
    } else {
        (Duration::from_millis(500), Duration::from_secs(3))
    };
    let servers = [Server::Hyper, Server::Framework, Server::FrameworkQuiet];
    let mut results: Vec<Vec<LoadResult>> = vec![Vec::new(); servers.len()];
    let mut hyper_rss = Vec::new();
    for _ in 0..setup.runs {
        for (index, server) in servers.iter().enumerate() {
            let instance = start(setup, *server, workers)?;
            let port = instance.listening_port(READY_TIMEOUT)?;
            if matches!(server, Server::Hyper) {
                hyper_rss.push(rss_mib(instance.pid())?);
            }
            results[index].push(generate(port, Some(instance.pid()), warmup, measure)?);
            instance.stop()?;
        }
    }
    Ok(rows(workers, &results, &hyper_rss))
}

fn start(setup: &Setup, server: Server, workers: u32) -> anyhow::Result<Instance> {
    match server {
        Server::Hyper => {
            let mut command = Command::new(&setup.baseline);
            command
                .arg("http")
                .arg("--threads")
                .arg(workers.to_string());
            setup.spawn(command, "hyper")
        }
        Server::Framework => setup.ready_service(one_thread_per_worker(setup, workers), "http"),
        Server::FrameworkQuiet => {
            let mut command = one_thread_per_worker(setup, workers);
            command.env("RUST_LOG", "service_runtime::http::access=off");
            setup.ready_service(command, "http-quiet")
        }
    }
}

/// The bench service with `workers` workers of one runtime thread each, so
/// that it runs as many threads as the hyper baseline it is compared with.
fn one_thread_per_worker(setup: &Setup, workers: u32) -> Command {
    let mut command = setup.service_command(workers);
    command.env("OS_DEFAULT__WORKER_THREADS", "1");
    command
}

fn rows(workers: u32, results: &[Vec<LoadResult>], hyper_rss: &[f64]) -> Vec<Row> {
    let figure = |index: usize, pick: fn(&LoadResult) -> f64| -> Vec<f64> {
        results[index].iter().map(pick).collect()
    };
    let hyper_name = "hyper";
    let mut rows = Vec::new();
    for (index, label) in [(1, "access log on (default)"), (2, "access log off")] {
        rows.push(
            Row::new(
                "HTTP",
                format!("requests per second, {workers} workers, {label}"),
                "req/s",
            )
            .framework(&figure(index, |r| r.requests_per_s))
            .baseline(hyper_name, &figure(0, |r| r.requests_per_s))
            .target(Target::RatioAtLeast(0.95)),
        );
        rows.push(
            Row::new("HTTP", format!("latency p50, {label}"), "ms")
                .framework(&figure(index, |r| r.p50_ms))
                .baseline(hyper_name, &figure(0, |r| r.p50_ms)),
        );
        rows.push(
            Row::new("HTTP", format!("latency p99, {label}"), "ms")
                .framework(&figure(index, |r| r.p99_ms))
                .baseline(hyper_name, &figure(0, |r| r.p99_ms)),
        );
        rows.push(
            Row::new("HTTP", format!("server CPU per request, {label}"), "µs")
                .framework(&figure(index, |r| r.server_cpu_us))
                .baseline(hyper_name, &figure(0, |r| r.server_cpu_us))
                .note(
                    "user plus system CPU time of the server's processes (main and workers) \
                     over the measured window, divided by the requests answered in it; less \
                     sensitive than requests per second to the load generator's share of the \
                     cores",
                ),
        );
    }
    let errors: u64 = results.iter().flatten().map(|r| r.errors).sum();
    if let Some(first) = rows.first_mut() {
        first.note = format!(
            "GET /ping over {CONNECTIONS} keep-alive connections from one load-generator \
             thread on the same machine; hyper runs on a tokio runtime of {workers} threads, \
             each of the {workers} framework workers on a runtime of one thread \
             (worker_threads = 1); {errors} failed requests in all"
        );
    }
    rows.push(
        Row::new(
            "Memory (idle)",
            "RSS of the plain hyper server, for scale",
            "MiB",
        )
        .framework(&[])
        .baseline(hyper_name, hyper_rss),
    );
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_complete_only_with_their_body() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 4\r\n\r\n";
        assert_eq!(response_length(&head[..20]).unwrap(), None);
        assert_eq!(response_length(head).unwrap(), Some(head.len() + 4));
        assert!(response_length(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").is_err());
        assert!(response_length(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }
}
