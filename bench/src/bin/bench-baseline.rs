//! The hand-written programs the framework is compared with.
//!
//! ```text
//! bench-baseline http --threads N
//!     a plain hyper HTTP/1.1 server on a tokio runtime of N threads,
//!     answering `GET /ping`; once it accepts, prints
//!     `listening listener="api" address=ADDRESS` on standard error, as the
//!     framework logs it.
//! bench-baseline interval --tasks N --spacing-ms MS --duration-s S --results FILE
//!     N tokio tasks, each a `tokio::time::interval` loop, recording how late
//!     every tick starts; writes the summary to FILE and exits after S s.
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use service_bench::cpu::CpuMark;
use service_bench::lateness::{LatenessSummary, TaskClock};
use service_bench::ping::answer;
use tokio::time::MissedTickBehavior;

/// Time after start before the CPU window opens, as in the bench service.
const CPU_WARMUP: Duration = Duration::from_secs(2);

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("http") => serve_http(flag(&args, "--threads")?.unwrap_or(1)),
        Some("interval") => interval_loop(IntervalArgs {
            tasks: flag(&args, "--tasks")?.unwrap_or(1),
            spacing: Duration::from_millis(flag(&args, "--spacing-ms")?.unwrap_or(100)),
            duration: Duration::from_secs(flag(&args, "--duration-s")?.unwrap_or(10)),
            results: flag::<PathBuf>(&args, "--results")?
                .context("interval needs --results FILE")?,
        }),
        _ => bail!(
            "usage: bench-baseline http --threads N \
             | interval --tasks N --spacing-ms MS --duration-s S --results FILE"
        ),
    }
}

/// The value after `name` in `args`, parsed.
fn flag<T: std::str::FromStr>(args: &[String], name: &str) -> anyhow::Result<Option<T>> {
    let Some(position) = args.iter().position(|a| a == name) else {
        return Ok(None);
    };
    let value = args
        .get(position + 1)
        .with_context(|| format!("{name} needs a value"))?;
    match value.parse() {
        Ok(parsed) => Ok(Some(parsed)),
        Err(_) => bail!("{name} {value:?}: not a valid value"),
    }
}

fn serve_http(threads: usize) -> anyhow::Result<()> {
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        eprintln!("listening listener=\"api\" address={address}");
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    })
}

struct IntervalArgs {
    tasks: usize,
    spacing: Duration,
    duration: Duration,
    results: PathBuf,
}

/// The runtime is the one a worker uses: multi-threaded, default size.
fn interval_loop(args: IntervalArgs) -> anyhow::Result<()> {
    if args.tasks == 0 || args.spacing.is_zero() {
        bail!("--tasks and --spacing-ms must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let summary = runtime.block_on(async {
        let origin = Instant::now();
        let end = origin + args.duration;
        let handles: Vec<_> = (0..args.tasks)
            .map(|_| tokio::spawn(tick_until(args.spacing, origin, end)))
            .collect();
        tokio::time::sleep_until((origin + CPU_WARMUP).into()).await;
        let mark = CpuMark::now();
        tokio::time::sleep_until(end.into()).await;
        let cpu = mark.percent_of_core_since();
        let mut clocks = Vec::with_capacity(handles.len());
        for handle in handles {
            clocks.push(handle.await.expect("an interval task does not panic"));
        }
        LatenessSummary::of(&clocks, cpu)
    });
    std::fs::write(&args.results, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", args.results.display()))?;
    Ok(())
}

/// One hand-written periodic loop: a tokio interval that skips missed
/// ticks, as the framework skips missed slots.
async fn tick_until(spacing: Duration, origin: Instant, end: Instant) -> TaskClock {
    let mut clock = TaskClock::new(spacing, origin);
    let mut interval = tokio::time::interval(spacing);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    clock.start_at(interval.tick().await.into_std());
    loop {
        interval.tick().await;
        let now = Instant::now();
        if now >= end {
            return clock;
        }
        clock.observe(now);
    }
}
