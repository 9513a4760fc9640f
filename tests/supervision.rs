//! Supervision and signals with real processes: crash loops, repeated
//! signals, stuck workers, dead workers and in-place reloads.

use std::path::Path;
use std::time::{Duration, Instant};

use integration_tests::probe_http::{self as http, Connection};
use integration_tests::{
    Running, config_file, events, example, is_running, probe_port, reap, send_signal,
};

fn probe(config: &Path, extra: &[&str]) -> Running {
    let mut args = vec!["--config-file", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    Running::start(&example("probe"), &args, &[])
}

/// CPU time (user + system) of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = text[text.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The pids that answer `/ping` over new connections, until `count` are
/// seen.
fn answering_pids(port: u16, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen: Vec<String> = Vec::new();
    while seen.len() < count && Instant::now() < deadline {
        let Ok(response) = http::get(port, "/ping") else {
            continue;
        };
        if !seen.contains(&response.body) {
            seen.push(response.body);
        }
    }
    seen.sort();
    seen
}

fn events_of(path: &Path, event: &str) -> Vec<serde_json::Value> {
    events(path)
        .into_iter()
        .filter(|e| e["event"] == event)
        .collect()
}

/// B01: workers that always crash are restarted at a bounded rate, each
/// failure is logged, and SIGTERM still stops everything at once.
#[test]
fn a_crash_loop_is_throttled_and_sigterm_still_works() {
    let (_dir, conf) = config_file("p.conf", "[probe]\ncrash_on_start = true\n");
    let mut service = probe(&conf, &["--workers", "3"]);
    std::thread::sleep(Duration::from_secs(10));
    let forks = service.lines_with(&["worker started"]).len();
    assert!(
        (6..=35).contains(&forks),
        "{forks} workers started in 10 s:\n{}",
        service.log()
    );
    let exits = service.lines_with(&["worker exited with status 1"]).len();
    assert!(
        exits + 3 >= forks,
        "each failure is logged: {exits} exits, {forks} starts"
    );
    assert!(
        !service.lines_with(&["restart delayed"]).is_empty(),
        "the back-off is visible"
    );

    let workers = service.worker_pids();
    let signalled = Instant::now();
    service.signal(libc::SIGTERM);
    service.wait_exit();
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "stopped within 2 s"
    );
    for pid in workers {
        assert!(
            reap(pid, Duration::from_secs(1)),
            "worker {pid} left behind"
        );
    }
}

/// B01: a service whose start hook fails exits with status 1 and the
/// error in its log, in the main process and with workers.
#[test]
fn a_start_failure_exits_with_the_error_instead_of_hanging() {
    let (_dir, conf) = config_file("p.conf", "[probe]\nfail_start = true\n");
    for workers in ["1", "2"] {
        let mut service = probe(&conf, &["--workers", workers]);
        let started = Instant::now();
        assert_eq!(service.wait_exit_code(), 1, "log:\n{}", service.log());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            !service.lines_with(&["fail_start is set"]).is_empty(),
            "{}",
            service.log()
        );
    }
}

/// B03: SIGHUPs in quick succession are coalesced; the service ends up on
/// the configuration of the last one.
#[test]
fn repeated_sighups_reload_and_never_kill() {
    let (dir, conf) = config_file("p.conf", "[probe]\ntick_spacing = 1\n");
    let service = probe(&conf, &["--workers", "2"]);
    let port = probe_port(&service);
    service.wait_for_lines(&["all workers ready"], 1);

    let write = |spacing: u32| {
        let text = format!("[probe]\ntick_spacing = {spacing}\n");
        std::fs::write(dir.path().join("p.conf"), text).unwrap();
    };
    write(2);
    service.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(50));
    write(3);
    service.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_secs(1));
    write(4);
    service.signal(libc::SIGHUP);

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let values: Vec<String> = (0..10)
            .filter_map(|_| http::get(port, "/conf?name=probe.tick_spacing").ok())
            .map(|response| response.body)
            .collect();
        let settled = values.len() == 10 && values.iter().all(|v| v == "4.0");
        if settled && service.worker_pids().len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled: {values:?}\n{}",
            service.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(is_running(service.pid()), "the main process survived");
    assert_eq!(
        answering_pids(port, 2).len(),
        2,
        "exactly two workers answer"
    );
    assert_eq!(service.worker_pids().len(), 2);
}

/// B03: two SIGTERMs run one shutdown: each stop hook runs once.
#[test]
fn a_second_sigterm_does_not_run_the_cleanup_twice() {
    let (dir, conf) = config_file("p.conf", "");
    let events_file = dir.path().join("events");
    let text = format!("[probe]\nevents_file = {}\n", events_file.display());
    std::fs::write(&conf, text).unwrap();
    let mut service = probe(&conf, &["--workers", "2"]);
    service.wait_for_lines(&["all workers ready"], 1);
    let workers = service.worker_pids();

    service.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(10));
    service.signal(libc::SIGTERM);
    assert_eq!(service.wait_exit_code(), 0, "log:\n{}", service.log());
    let stops = events_of(&events_file, "stop");
    let mut stopped: Vec<i64> = stops.iter().map(|e| e["pid"].as_i64().unwrap()).collect();
    stopped.sort_unstable();
    let mut expected: Vec<i64> = workers.iter().map(|&p| i64::from(p)).collect();
    expected.sort_unstable();
    assert_eq!(stopped, expected, "one stop per worker");
    assert!(service.lines_with(&["panicked"]).is_empty());
}

/// B03: SIGINT during a graceful stop ends the process at once.
#[test]
fn sigint_during_a_graceful_stop_exits_at_once() {
    let (_dir, conf) = config_file("p.conf", "[DEFAULT]\ngraceful_shutdown_timeout = 30\n");
    let mut service = probe(&conf, &["--workers", "2"]);
    let port = probe_port(&service);
    service.wait_for_lines(&["all workers ready"], 1);
    let slow = std::thread::spawn(move || http::get(port, "/sleep?s=5"));
    std::thread::sleep(Duration::from_millis(300));
    let workers = service.worker_pids();

    service.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    let interrupted = Instant::now();
    service.signal(libc::SIGINT);
    assert_eq!(service.wait_exit_code(), 130, "log:\n{}", service.log());
    assert!(
        interrupted.elapsed() < Duration::from_secs(1),
        "gone within 1 s of SIGINT"
    );
    for pid in workers {
        assert!(
            reap(pid, Duration::from_secs(1)),
            "worker {pid} left behind"
        );
    }
    let _ = slow.join();
}

/// B05: a request that outlasts `graceful_shutdown_timeout` does not keep
/// the service alive: the worker is killed and the exit code says so.
#[test]
fn a_stuck_request_is_cut_at_the_graceful_timeout() {
    let (_dir, conf) = config_file("p.conf", "[DEFAULT]\ngraceful_shutdown_timeout = 3\n");
    let mut service = probe(&conf, &["--workers", "2"]);
    let port = probe_port(&service);
    service.wait_for_lines(&["all workers ready"], 1);
    let slow = std::thread::spawn(move || http::get(port, "/sleep?s=30"));
    std::thread::sleep(Duration::from_secs(1));

    let signalled = Instant::now();
    service.signal(libc::SIGTERM);
    assert_eq!(service.wait_exit_code(), 3, "log:\n{}", service.log());
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(5),
        "took {took:?}"
    );
    assert!(
        !service
            .lines_with(&["did not stop within graceful_shutdown_timeout"])
            .is_empty()
    );
    assert!(
        slow.join().unwrap().is_err(),
        "the slow client sees the connection close"
    );
}

/// B05: a stop hook that blocks is cut at the graceful timeout too.
#[test]
fn a_blocking_stop_hook_is_cut_at_the_graceful_timeout() {
    let text = "[DEFAULT]\ngraceful_shutdown_timeout = 3\n[probe]\nstop_delay = 30\n";
    let (_dir, conf) = config_file("p.conf", text);
    let mut service = probe(&conf, &["--workers", "2"]);
    service.wait_for_lines(&["all workers ready"], 1);
    let workers = service.worker_pids();
    let signalled = Instant::now();
    service.signal(libc::SIGTERM);
    assert_eq!(service.wait_exit_code(), 3, "log:\n{}", service.log());
    assert!(signalled.elapsed() < Duration::from_secs(5));
    for pid in workers {
        assert!(
            reap(pid, Duration::from_secs(1)),
            "worker {pid} left behind"
        );
    }
}

/// B05: with `graceful_shutdown_timeout = 0` the service waits for the
/// request, then exits by itself.
#[test]
fn a_zero_graceful_timeout_waits_for_in_flight_requests() {
    let (_dir, conf) = config_file("p.conf", "[DEFAULT]\ngraceful_shutdown_timeout = 0\n");
    let mut service = probe(&conf, &["--workers", "2"]);
    let port = probe_port(&service);
    service.wait_for_lines(&["all workers ready"], 1);
    let slow = std::thread::spawn(move || http::get(port, "/sleep?s=6"));
    std::thread::sleep(Duration::from_millis(500));
    service.signal(libc::SIGTERM);
    let response = slow.join().unwrap().expect("the request completes");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "slept 6");
    assert_eq!(service.wait_exit_code(), 0, "log:\n{}", service.log());
}

/// B08: a killed worker is replaced within 2 s; a worker that fails runs
/// its stop hook and is replaced; the idle parent uses almost no CPU.
#[test]
fn dead_workers_are_replaced_and_the_idle_parent_sleeps() {
    let (dir, conf) = config_file("p.conf", "");
    let events_file = dir.path().join("events");
    let text = format!("[probe]\nevents_file = {}\n", events_file.display());
    std::fs::write(&conf, text).unwrap();
    let service = probe(&conf, &["--workers", "3"]);
    let port = probe_port(&service);
    service.wait_for_lines(&["all workers ready"], 1);

    let before = service.worker_pids();
    send_signal(before[0], libc::SIGKILL);
    let killed = Instant::now();
    service.wait_for_lines(&["worker ready"], 4);
    assert!(
        killed.elapsed() < Duration::from_secs(2),
        "replaced within 2 s"
    );
    assert_eq!(service.worker_pids().len(), 3);

    assert_eq!(http::get(port, "/fail").unwrap().status, 200);
    service.wait_for_lines(&["worker exited with status 1"], 1);
    service.wait_for_lines(&["worker ready"], 5);
    let stops = events_of(&events_file, "stop");
    assert_eq!(
        stops.len(),
        1,
        "the failing worker ran its stop hook: {stops:?}"
    );
    assert_eq!(service.worker_pids().len(), 3);

    let parent = service.pid();
    let start = cpu_ticks(parent);
    std::thread::sleep(Duration::from_secs(5));
    let used = cpu_ticks(parent) - start;
    assert!(
        used < 5,
        "the idle parent used {used} ticks in 5 s (1 % is 5)"
    );
}

/// B08: no worker is started after SIGTERM, even when one dies then.
#[test]
fn no_worker_is_started_while_stopping() {
    let (_dir, conf) = config_file("p.conf", "[probe]\nstop_delay = 1\n");
    let mut service = probe(&conf, &["--workers", "3"]);
    service.wait_for_lines(&["all workers ready"], 1);
    let workers = service.worker_pids();
    let started = service.lines_with(&["worker started"]).len();

    service.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(100));
    send_signal(workers[0], libc::SIGKILL);
    assert_eq!(service.wait_exit_code(), 0, "log:\n{}", service.log());
    assert_eq!(
        service.lines_with(&["worker started"]).len(),
        started,
        "no new worker"
    );
    for pid in workers {
        assert!(
            reap(pid, Duration::from_secs(1)),
            "worker {pid} left behind"
        );
    }
}

/// B19: in `mutate` mode SIGHUP changes mutable options in place: same
/// workers, same connections, no stop hooks, and a warning for immutable
/// changes.
#[test]
fn mutate_reload_changes_options_in_place() {
    let (dir, conf) = config_file("p.conf", "");
    let events_file = dir.path().join("events");
    let base = format!(
        "[DEFAULT]\nrestart_method = mutate\ndebug = false\nbind_port = 0\n\
         [probe]\nevents_file = {}\n",
        events_file.display()
    );
    std::fs::write(&conf, &base).unwrap();
    let service = probe(&conf, &["--workers", "2"]);
    let port = probe_port(&service);
    service.wait_for_lines(&["all workers ready"], 1);
    let workers = service.worker_pids();
    let mut held = Connection::open(port).unwrap();
    assert_eq!(held.get("/ping").unwrap().status, 200);

    let changed = base
        .replace("debug = false", "debug = true")
        .replace("bind_port = 0", "bind_port = 1");
    std::fs::write(&conf, changed).unwrap();
    service.signal(libc::SIGHUP);
    service.wait_for_lines(&["configuration applied"], 2);

    assert_eq!(service.worker_pids(), workers, "the same workers");
    assert_eq!(
        held.get("/ping").unwrap().status,
        200,
        "the held connection still works"
    );
    for _ in 0..10 {
        assert_eq!(http::get(port, "/conf?name=debug").unwrap().body, "true");
        assert_eq!(http::get(port, "/conf?name=bind_port").unwrap().body, "0");
    }
    let warnings = service.lines_with(&["DEFAULT.bind_port", "not mutable"]);
    assert_eq!(
        warnings.len(),
        1,
        "one warning names bind_port:\n{}",
        service.log()
    );
    assert!(
        events_of(&events_file, "stop").is_empty(),
        "no stop hook ran"
    );
}

/// B19 contrast: in `reload` mode every worker is replaced, each new one
/// ready before its predecessor is told to stop.
#[test]
fn reload_replaces_workers_one_at_a_time() {
    let (dir, conf) = config_file("p.conf", "");
    let events_file = dir.path().join("events");
    let text = format!("[probe]\nevents_file = {}\n", events_file.display());
    std::fs::write(&conf, text).unwrap();
    let service = probe(&conf, &["--workers", "2"]);
    service.wait_for_lines(&["all workers ready"], 1);
    let old = service.worker_pids();

    service.signal(libc::SIGHUP);
    service.wait_for_lines(&["reload finished"], 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while service.worker_pids().iter().any(|p| old.contains(p)) {
        assert!(Instant::now() < deadline, "old workers still running");
        std::thread::sleep(Duration::from_millis(20));
    }
    let new = service.worker_pids();
    assert_eq!(new.len(), 2);
    let all = events(&events_file);
    let time_of = |event: &str, pid: i32| {
        all.iter()
            .find(|e| e["event"] == event && e["pid"] == i64::from(pid))
            .and_then(|e| e["t"].as_f64())
            .unwrap_or_else(|| panic!("no {event} event of {pid}: {all:?}"))
    };
    let mut starts: Vec<f64> = new.iter().map(|&p| time_of("start", p)).collect();
    let mut stops: Vec<f64> = old.iter().map(|&p| time_of("stop", p)).collect();
    starts.sort_by(f64::total_cmp);
    stops.sort_by(f64::total_cmp);
    for (start, stop) in starts.iter().zip(&stops) {
        assert!(
            start < stop,
            "a replacement started ({start}) before its predecessor stopped ({stop})"
        );
    }
}

/// B10: a periodic task that fails on every run, by error or by panic,
/// stops neither the other tasks nor itself, nor the worker.
#[test]
fn a_failing_periodic_task_does_not_stop_the_others() {
    for failure in ["error", "panic"] {
        let (dir, conf) = config_file("p.conf", "");
        let events_file = dir.path().join("events");
        let text = format!(
            "[probe]\nfailing_task = {failure}\ntick_spacing = 1\nevents_file = {}\n",
            events_file.display()
        );
        std::fs::write(&conf, text).unwrap();
        let service = probe(&conf, &["--workers", "1"]);
        let port = probe_port(&service);
        service.wait_for_lines(&["service started"], 1);
        std::thread::sleep(Duration::from_secs(6));

        let ticks = events_of(&events_file, "tick").len();
        assert!(ticks >= 5, "{failure}: only {ticks} ticks in 6 s");
        let failures = service.lines_with(&["periodic task", "flaky"]).len();
        assert!(
            failures >= 5,
            "{failure}: {failures} logged failures:\n{}",
            service.log()
        );
        assert!(is_running(service.pid()));
        assert_eq!(http::get(port, "/ping").unwrap().status, 200);
    }
}

/// A SIGHUP that arrives while a reload is in progress is not lost when
/// that reload is abandoned: once the previous configuration is back, the
/// files are read again and what they now hold is applied. With workers
/// and in the main process. The abandoned reload's `start` waits 3 s
/// before it fails, so the second SIGHUP surely arrives during it.
#[test]
fn a_sighup_during_an_abandoned_reload_runs_after_it() {
    let modes = [
        (
            "2",
            "all workers ready",
            "new configuration validated",
            "reload abandoned",
        ),
        (
            "1",
            "service started",
            "configuration reloaded",
            "starting it again with the previous configuration",
        ),
    ];
    for (workers, ready, reloading, abandoned) in modes {
        let (_dir, conf) = config_file("p.conf", "[probe]\ntick_spacing = 3600\n");
        let service = probe(&conf, &["--workers", workers]);
        let port = probe_port(&service);
        service.wait_for_lines(&[ready], 1);

        let failing = "[probe]\ntick_spacing = 3600\nstart_delay = 3\nfail_start = true\n";
        std::fs::write(&conf, failing).unwrap();
        service.signal(libc::SIGHUP);
        service.wait_for_lines(&[reloading], 1);
        std::fs::write(&conf, "[probe]\ntick_spacing = 1800\n").unwrap();
        service.signal(libc::SIGHUP);
        service.wait_for_lines(&["reload in progress; another will follow it"], 1);

        service.wait_for_lines(&[abandoned], 1);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spacings: Vec<String> = (0..10)
                .filter_map(|_| http::get(port, "/conf?name=probe.tick_spacing").ok())
                .map(|response| response.body)
                .collect();
            if spacings.len() == 10 && spacings.iter().all(|body| body == "1800.0") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{workers} workers: tick_spacing {spacings:?}; log:\n{}",
                service.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(is_running(service.pid()));
    }
}

/// Waits until `count` worker processes run, every one of them new
/// (none in `old`).
fn wait_for_new_workers(service: &Running, old: &[i32], count: usize) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pids = service.worker_pids();
        if pids.len() == count && pids.iter().all(|p| !old.contains(p)) {
            return pids;
        }
        assert!(
            Instant::now() < deadline,
            "workers {pids:?}, old {old:?}; log:\n{}",
            service.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An abandoned reload puts back everything it changed: a worker that
/// dies afterwards is replaced with the configuration and generation in
/// force before the reload, the service keeps running, and the next
/// reload compares against that configuration, not the rejected one.
#[test]
fn an_abandoned_reload_restores_the_previous_configuration() {
    let (dir, conf) = config_file("p.conf", "");
    let events_file = dir.path().join("events");
    let good = format!(
        "[DEFAULT]\nworker_restart_limit = 2\n[probe]\nevents_file = {}\n",
        events_file.display()
    );
    std::fs::write(&conf, &good).unwrap();
    let service = probe(&conf, &["--workers", "2"]);
    service.wait_for_lines(&["all workers ready"], 1);

    std::fs::write(&conf, format!("{good}fail_start = true\n")).unwrap();
    service.signal(libc::SIGHUP);
    service.wait_for_lines(&["reload abandoned"], 1);
    std::fs::write(&conf, &good).unwrap();
    service.wait_for_lines(&["INFO", "the new worker of the abandoned reload ended"], 1);
    let deaths = service.lines_with(&["WARN", "worker=1"]);
    assert!(
        deaths
            .iter()
            .all(|l| !l.contains("exited") && !l.contains("killed")),
        "the serving worker 1 seems dead: {deaths:?}"
    );

    let before = service.worker_pids();
    assert_eq!(before.len(), 2, "{}", service.log());
    send_signal(before[0], libc::SIGKILL);
    service.wait_for_lines(&["WARN", "worker killed by signal 9 (SIGKILL)"], 1);
    let replacement = service.wait_for_lines(&["worker ready"], 3);
    let replacement_pid = *wait_for_new_workers(&service, &before[..1], 2)
        .iter()
        .find(|p| !before.contains(p))
        .unwrap();
    assert_eq!(
        service
            .lines_with(&["worker started", "generation=1"])
            .len(),
        1,
        "only the new worker of the reload ran the new generation:\n{}",
        service.log()
    );
    let starts = events_of(&events_file, "start");
    let start = starts
        .iter()
        .find(|e| e["pid"] == i64::from(replacement_pid))
        .unwrap_or_else(|| panic!("no start of {replacement_pid}: {starts:?}"));
    assert_eq!(
        start["generation"], 0,
        "the old generation: {replacement:?}"
    );
    assert!(is_running(service.pid()), "{}", service.log());
    assert_eq!(
        service
            .lines_with(&["previous configuration restored"])
            .len(),
        1,
        "{}",
        service.log()
    );

    std::fs::write(&conf, format!("{good}tick_spacing = 2\n")).unwrap();
    service.signal(libc::SIGHUP);
    service.wait_for_lines(&["reload finished"], 1);
    let validated = service.lines_with(&["new configuration validated"]);
    let last = validated.last().unwrap();
    assert!(last.contains("probe.tick_spacing"), "{last}");
    assert!(!last.contains("probe.fail_start"), "{last}");
    assert!(is_running(service.pid()), "{}", service.log());
}

/// In `reload` mode, options that only a restart of the main process
/// applies (a listener's address, the worker count) are named in a
/// warning and keep their running value; the other changes apply. With
/// one worker and with several.
#[test]
fn a_reload_warns_about_options_that_need_a_restart() {
    for workers in [1, 2] {
        let (_dir, conf) = config_file("p.conf", "");
        let base = format!("[DEFAULT]\nworkers = {workers}\nbind_port = 0\n[probe]\n");
        std::fs::write(&conf, &base).unwrap();
        let service = probe(&conf, &[]);
        let port = probe_port(&service);
        let ready = if workers == 1 {
            "service started"
        } else {
            "all workers ready"
        };
        service.wait_for_lines(&[ready], 1);

        let changed = base
            .replace("bind_port = 0", "bind_port = 1")
            .replace(&format!("workers = {workers}"), "workers = 3")
            + "tick_spacing = 2\n";
        std::fs::write(&conf, changed).unwrap();
        let old = service.worker_pids();
        service.signal(libc::SIGHUP);
        let done = if workers == 1 {
            "service started"
        } else {
            "reload finished"
        };
        service.wait_for_lines(&[done], if workers == 1 { 2 } else { 1 });

        for option in ["DEFAULT.bind_port", "DEFAULT.workers"] {
            let warnings = service.lines_with(&["WARN", option, "restart"]);
            assert_eq!(warnings.len(), 1, "{option}:\n{}", service.log());
        }
        let tick = service.lines_with(&["WARN", "probe.tick_spacing"]);
        assert!(tick.is_empty(), "{}", service.log());
        assert_eq!(http::get(port, "/conf?name=bind_port").unwrap().body, "0");
        assert_eq!(
            http::get(port, "/conf?name=workers").unwrap().body,
            workers.to_string()
        );
        assert_eq!(
            http::get(port, "/conf?name=probe.tick_spacing")
                .unwrap()
                .body,
            "2.0"
        );
        if workers == 1 {
            assert!(service.worker_pids().is_empty(), "{}", service.log());
        } else {
            wait_for_new_workers(&service, &old, workers);
        }
    }
}

/// With one worker, a reload whose configuration makes `start` fail does
/// not stop the service: the failure is logged and the service starts
/// again with the previous configuration, as the workers of a service
/// with several keep serving.
#[test]
fn one_worker_falls_back_to_the_previous_configuration_when_a_reload_fails_to_start() {
    let (_dir, conf) = config_file("p.conf", "[DEFAULT]\nworkers = 1\n[probe]\n");
    let mut service = probe(&conf, &[]);
    let port = probe_port(&service);
    service.wait_for_lines(&["service started"], 1);

    std::fs::write(
        &conf,
        "[DEFAULT]\nworkers = 1\n[probe]\nfail_start = true\n",
    )
    .unwrap();
    service.signal(libc::SIGHUP);
    service.wait_for_lines(&["fail_start is set"], 1);
    service.wait_for_lines(&["service started"], 2);
    assert!(is_running(service.pid()), "{}", service.log());
    assert!(
        !service.lines_with(&["previous configuration"]).is_empty(),
        "{}",
        service.log()
    );
    let fail_start = http::get(port, "/conf?name=probe.fail_start").unwrap().body;
    assert_eq!(fail_start, "false");
    let errors = service.lines_with(&["ERROR", "fail_start is set"]);
    assert_eq!(errors.len(), 1, "reported once:\n{}", service.log());

    service.signal(libc::SIGTERM);
    assert_eq!(service.wait_exit_code(), 0, "{}", service.log());
}

/// `worker_restart_limit = 3` allows 3 restarts after failed starts in a
/// row: the slot that makes the service give up was started 4 times.
#[test]
fn the_restart_limit_counts_restarts_after_the_first_start() {
    let text = "[DEFAULT]\nworker_restart_limit = 3\n[probe]\ncrash_on_start = true\n";
    let (_dir, conf) = config_file("p.conf", text);
    let mut service = probe(&conf, &["--workers", "2"]);
    assert_eq!(service.wait_exit_code(), 4, "log:\n{}", service.log());
    let gave_up = service.lines_with(&["died too many times in a row"]);
    assert_eq!(gave_up.len(), 1, "{}", service.log());
    let slot = ["worker=1 ", "worker=2 "]
        .into_iter()
        .find(|w| gave_up[0].contains(w))
        .unwrap_or_else(|| panic!("no slot in {}", gave_up[0]));
    let starts = service.lines_with(&["worker started", slot]).len();
    assert_eq!(
        starts,
        4,
        "1 start + 3 restarts of {slot}:\n{}",
        service.log()
    );
}

/// A start failure at boot with several workers is one ERROR line, with
/// the error, however many workers fail.
#[test]
fn a_start_failure_of_several_workers_is_reported_once() {
    let (_dir, conf) = config_file("p.conf", "[probe]\nfail_start = true\n");
    let mut service = probe(&conf, &["--workers", "3"]);
    assert_eq!(service.wait_exit_code(), 1, "log:\n{}", service.log());
    let errors = service.lines_with(&["ERROR"]);
    assert_eq!(errors.len(), 1, "{}", service.log());
    assert!(errors[0].contains("fail_start is set"), "{}", errors[0]);
}

/// Workers show under the service's name in `ps` and `top` (not as `exe`,
/// the name of `/proc/self/exe` they are executed through), and their
/// command line starts with the program's own `argv[0]`.
#[test]
fn workers_are_named_after_the_service() {
    let (_dir, conf) = config_file("p.conf", "");
    let service = probe(&conf, &["--workers", "2"]);
    service.wait_for_lines(&["all workers ready"], 1);
    let program = example("probe");
    for pid in service.worker_pids() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert_eq!(comm.trim_end(), "probe", "worker {pid}");
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let argv0 = cmdline.split(|&b| b == 0).next().unwrap();
        assert_eq!(
            argv0,
            program.as_os_str().as_encoded_bytes(),
            "worker {pid}"
        );
    }
}

/// A reload abandoned at its second worker: the first worker, already
/// replaced, is replaced again with the previous configuration, so every
/// worker ends up on the configuration in force.
#[test]
fn an_abandoned_reload_replaces_the_workers_it_already_replaced() {
    let (dir, conf) = config_file("p.conf", "");
    let events_file = dir.path().join("events");
    let good = format!("[probe]\nevents_file = {}\n", events_file.display());
    std::fs::write(&conf, &good).unwrap();
    let service = probe(&conf, &["--workers", "2"]);
    let port = probe_port(&service);
    service.wait_for_lines(&["all workers ready"], 1);
    let old = service.worker_pids();

    std::fs::write(&conf, format!("{good}fail_start_worker = 2\n")).unwrap();
    service.signal(libc::SIGHUP);
    service.wait_for_lines(&["reload abandoned"], 1);
    service.wait_for_lines(&["every worker runs the previous configuration again"], 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let current = loop {
        let pids = service.worker_pids();
        let starts = events_of(&events_file, "start");
        let generation_of = |pid: i32| {
            starts
                .iter()
                .find(|e| e["pid"] == i64::from(pid))
                .map(|e| e["generation"].clone())
        };
        let settled = pids.len() == 2
            && pids
                .iter()
                .all(|&p| generation_of(p) == Some(serde_json::json!(0)));
        if settled {
            break pids;
        }
        assert!(
            Instant::now() < deadline,
            "workers {pids:?}, starts {starts:?}:\n{}",
            service.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let starts = events_of(&events_file, "start");
    let worker_of = |pid: i32| {
        let start = starts.iter().find(|e| e["pid"] == i64::from(pid)).unwrap();
        start["worker"].as_i64().unwrap()
    };
    let kept: Vec<i64> = old
        .iter()
        .filter(|p| current.contains(p))
        .map(|&p| worker_of(p))
        .collect();
    assert_eq!(kept, [2], "worker 2 kept, worker 1 replaced twice");
    for _ in 0..10 {
        let value = http::get(port, "/conf?name=probe.fail_start_worker").unwrap();
        assert_eq!(value.body, "null");
    }
    assert!(is_running(service.pid()), "{}", service.log());
}

/// Durations as large as the options accept (`u64::MAX` seconds) mean
/// "never": they must not overflow a deadline, in the main process at a
/// stop nor in a worker at each HTTP connection.
#[test]
fn the_largest_durations_mean_never_instead_of_a_panic() {
    for workers in ["1", "2"] {
        let (_dir, path) = config_file(
            "huge.conf",
            &format!(
                "[DEFAULT]\nworkers = {workers}\nbind_port = 0\n\
                 graceful_shutdown_timeout = {max}\nclient_socket_timeout = {max}\n",
                max = u64::MAX
            ),
        );
        let mut service = probe(&path, &[]);
        let port = probe_port(&service);
        let ready = if workers == "1" {
            "service started"
        } else {
            "all workers ready"
        };
        service.wait_for_lines(&[ready], 1);
        for _ in 0..3 {
            let response = http::get(port, "/ping").expect("served despite the huge timeout");
            assert_eq!(response.status, 200, "log:\n{}", service.log());
        }

        service.signal(libc::SIGTERM);
        assert_eq!(service.wait_exit_code(), 0, "log:\n{}", service.log());
        assert!(
            service.lines_with(&["panicked"]).is_empty(),
            "{}",
            service.log()
        );
    }
}

/// The runtime threads of a process, which tokio names `tokio-rt-worker`.
fn runtime_threads(pid: i32) -> usize {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .filter(|comm| comm.trim() == "tokio-rt-worker")
        .count()
}

/// `worker_threads` sizes the runtime of every worker process.
#[test]
fn worker_threads_sizes_each_workers_runtime() {
    for threads in [1, 3] {
        let (_dir, path) = config_file(
            "threads.conf",
            &format!("[DEFAULT]\nworkers = 2\nbind_port = 0\nworker_threads = {threads}\n"),
        );
        let mut service = probe(&path, &[]);
        service.wait_for_lines(&["all workers ready"], 1);
        let workers = service.worker_pids();
        assert_eq!(workers.len(), 2);
        for pid in workers {
            assert_eq!(runtime_threads(pid), threads, "worker {pid}");
        }

        service.signal(libc::SIGTERM);
        assert_eq!(service.wait_exit_code(), 0, "log:\n{}", service.log());
    }
}
