//! Start-up, stop, reload, respawn and memory of the bench service, timed
//! from the signal the bench sends to the notification the service sends.

use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};

use crate::instance::{Instance, rss_mib};
use crate::report::{Row, Target};
use crate::setup::{READY_TIMEOUT, Setup};

/// The lifecycle targets, in milliseconds.
const LIFECYCLE_TARGET_MS: f64 = 20.0;

/// Idle time given to a ready service before it is signalled.
const SETTLE: Duration = Duration::from_millis(300);

/// How long a worker must have lived for its death to count as a crash of
/// a healthy worker rather than a failed start (the restart policy's
/// `STABLE_UPTIME`), with a margin.
const HEALTHY_AGE: Duration = Duration::from_millis(10_500);

/// Worker counts of the respawn and memory instances.
const WORKERS: u32 = 4;

/// Instances started at the beginning so that their workers are old
/// enough for the respawn figures when the quick figures are done.
pub struct Aged {
    instances: Vec<Instance>,
}

/// Starts two services of four workers each.
pub fn start_aged(setup: &Setup) -> anyhow::Result<Aged> {
    let instances = (0..2)
        .map(|_| setup.ready_service(setup.service_command(WORKERS), "aged"))
        .collect::<anyhow::Result<_>>()?;
    Ok(Aged { instances })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Exec to READY=1 for 1, 4 and 16 workers, and SIGTERM to exit with 4.
pub fn startup_and_stop(setup: &Setup) -> anyhow::Result<Vec<Row>> {
    let counts = [1u32, 4, 16];
    let mut startup: Vec<Vec<f64>> = vec![Vec::new(); counts.len()];
    let mut stop = Vec::new();
    for _ in 0..setup.runs {
        for (index, &workers) in counts.iter().enumerate() {
            let mut instance = setup.spawn(setup.service_command(workers), "start")?;
            let ready = instance.wait_ready(READY_TIMEOUT)?;
            startup[index].push(ms(ready - instance.spawned_at));
            sleep(SETTLE);
            let signalled = instance.signal_main(libc::SIGTERM)?;
            let exited = instance.wait_exit(Duration::from_secs(30))?;
            if workers == WORKERS {
                stop.push(ms(exited - signalled));
            }
        }
    }
    let mut rows = Vec::new();
    for (index, &workers) in counts.iter().enumerate() {
        let mut row = Row::new(
            "Start-up and stop",
            format!("exec → READY=1, {workers} worker{}", plural(workers)),
            "ms",
        )
        .framework(&startup[index]);
        if workers == WORKERS {
            row = row.target(Target::AtMost(LIFECYCLE_TARGET_MS));
        }
        if workers == 1 {
            row = row.note("one worker runs in the main process; no worker process is started");
        }
        rows.push(row);
    }
    rows.push(
        Row::new("Start-up and stop", "SIGTERM → exit, 4 idle workers", "ms")
            .framework(&stop)
            .target(Target::AtMost(LIFECYCLE_TARGET_MS))
            .note("measured on each start-up run, the instances started one after another"),
    );
    Ok(rows)
}

fn plural(count: u32) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// SIGHUP to READY=1 with both restart methods, first and repeated at once.
/// The first reload of a service is measured on several fresh services, so
/// that it too is a median; each of them then takes `runs` SIGHUPs in a row.
pub fn reload(setup: &Setup) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for method in ["reload", "mutate"] {
        let mut first = Vec::new();
        let mut repeated = Vec::new();
        for _ in 0..setup.long_runs {
            let mut command = setup.service_command(WORKERS);
            command.env("OS_DEFAULT__RESTART_METHOD", method);
            let instance = setup.ready_service(command, method)?;
            sleep(SETTLE);
            first.push(ms(sighup_to_ready(&instance)?));
            for _ in 0..setup.runs {
                repeated.push(ms(sighup_to_ready(&instance)?));
            }
            instance.stop()?;
        }
        let what = match method {
            "reload" => "workers replaced one by one",
            _ => "options applied in place",
        };
        rows.push(
            Row::new(
                "Reload",
                format!("SIGHUP → READY=1, {method} ({what}), first"),
                "ms",
            )
            .framework(&first)
            .target(Target::AtMost(LIFECYCLE_TARGET_MS))
            .note(format!(
                "the first SIGHUP of {} fresh 4-worker services, {SETTLE:?} after ready",
                setup.long_runs
            )),
        );
        rows.push(
            Row::new(
                "Reload",
                format!(
                    "SIGHUP → READY=1, {method}, repeated at once ×{}",
                    setup.runs
                ),
                "ms",
            )
            .framework(&repeated)
            .target(Target::AtMost(LIFECYCLE_TARGET_MS))
            .note(format!(
                "each SIGHUP sent as soon as READY=1 of the one before arrived, {} in a row \
                 on each of the {} services",
                setup.runs, setup.long_runs
            )),
        );
    }
    Ok(rows)
}

fn sighup_to_ready(instance: &Instance) -> anyhow::Result<Duration> {
    instance.drain();
    let signalled = instance.signal_main(libc::SIGHUP)?;
    instance.wait_for("RELOADING=1", Duration::from_secs(10), |n| {
        n.has_line("RELOADING=1")
    })?;
    let ready = instance.wait_ready(READY_TIMEOUT)?;
    Ok(ready - signalled)
}

/// RSS of the main process and of each worker of the aged instances,
/// which have been idle since they started.
pub fn memory(aged: &Aged) -> anyhow::Result<Vec<Row>> {
    let mut main = Vec::new();
    let mut workers = Vec::new();
    for instance in &aged.instances {
        main.push(rss_mib(instance.pid())?);
        for pid in instance.ready_workers().values() {
            workers.push(rss_mib(*pid)?);
        }
    }
    ensure!(
        !workers.is_empty(),
        "no worker of the aged instances was found in their logs"
    );
    Ok(vec![
        Row::new("Memory (idle)", "RSS of the main process", "MiB")
            .framework(&main)
            .target(Target::AtMost(8.0))
            .note(format!(
                "{} services of {WORKERS} workers, one sample per process",
                main.len()
            )),
        Row::new("Memory (idle)", "RSS of each worker", "MiB")
            .framework(&workers)
            .target(Target::AtMost(8.0)),
    ])
}

/// SIGKILL of a worker to the main process's next `STATUS=` (sent when
/// every slot has a ready worker again).
pub fn respawn(setup: &Setup, aged: Aged) -> anyhow::Result<Vec<Row>> {
    for instance in &aged.instances {
        let age = instance.spawned_at.elapsed();
        if age < HEALTHY_AGE {
            sleep(HEALTHY_AGE - age);
        }
    }
    let mut healthy = Vec::new();
    let mut young_first = Vec::new();
    let mut young_second = Vec::new();
    for instance in &aged.instances {
        let workers = instance.ready_workers();
        ensure!(
            workers.len() == WORKERS as usize,
            "expected {WORKERS} workers in the log"
        );
        for (&slot, &pid) in &workers {
            healthy.push(ms(kill_worker(instance, slot, pid)?));
        }
        let slot = 1;
        let pid = current_worker(instance, slot)?;
        young_first.push(ms(kill_worker(instance, slot, pid)?));
        let pid = current_worker(instance, slot)?;
        young_second.push(ms(kill_worker(instance, slot, pid)?));
    }
    for instance in aged.instances {
        instance.stop()?;
    }
    let _ = setup;
    Ok(vec![
        Row::new(
            "Respawn",
            "SIGKILL → replacement ready, worker alive > 10 s",
            "ms",
        )
        .framework(&healthy)
        .target(Target::AtMost(LIFECYCLE_TARGET_MS))
        .note(
            "every worker of two 4-worker services killed in turn, each kill as soon as \
                 the previous replacement was ready",
        ),
        Row::new(
            "Respawn",
            "same, replacement killed again at once (1st failed start)",
            "ms",
        )
        .framework(&young_first)
        .target(Target::AtMost(LIFECYCLE_TARGET_MS))
        .note(
            "a worker that lived < 10 s counts as a failed start; the first one in a row \
                 is replaced at once",
        ),
        Row::new(
            "Respawn",
            "same, killed a third time at once (2nd failed start)",
            "ms",
        )
        .framework(&young_second)
        .note(
            "restart policy: the second failed start in a row waits 0.5 s ± 20 %, doubling \
                 up to worker_restart_backoff_max; this row shows the back-off, not a stall",
        ),
    ])
}

/// The pid of the ready worker of `slot`, from the log.
fn current_worker(instance: &Instance, slot: u32) -> anyhow::Result<u32> {
    instance
        .ready_workers()
        .get(&slot)
        .copied()
        .with_context(|| format!("no ready worker {slot} in the log"))
}

/// Kills worker `pid` of `slot`; returns the time until the main process
/// reports every worker running again, and checks that a new worker took
/// the slot. The main process first reports the death (`STATUS=3 of 4
/// workers running`), then, once the replacement is ready, `STATUS=4
/// workers running`: only the latter ends the measurement.
fn kill_worker(instance: &Instance, slot: u32, pid: u32) -> anyhow::Result<Duration> {
    instance.drain();
    let killed = Instance::signal(pid, libc::SIGKILL)?;
    let all_running = format!("STATUS={WORKERS} workers running");
    let status = instance.wait_for(
        "STATUS= with every worker running after a worker kill",
        Duration::from_secs(60),
        |n| n.has_line(&all_running),
    )?;
    let deadline = Instant::now() + Duration::from_secs(2);
    while current_worker(instance, slot)? == pid {
        if Instant::now() > deadline {
            bail!("worker {slot} (pid {pid}) was not replaced in the log");
        }
        sleep(Duration::from_millis(1));
    }
    Ok(status.at - killed)
}
