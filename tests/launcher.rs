//! The launcher with real processes and real signals, on the quickstart
//! example.

use std::time::Duration;

use integration_tests::{Running, config_file, example, is_running, reap};

fn quickstart(args: &[&str]) -> Running {
    Running::start(&example("quickstart"), args, &[])
}

/// Pids from lines like `... worker 1[1234] ... start hook ran ...`.
fn logging_pids(lines: &[String]) -> Vec<i32> {
    let mut pids: Vec<i32> = lines
        .iter()
        .filter_map(|line| {
            let open = line.find('[')?;
            let close = line[open..].find(']')? + open;
            line[open + 1..close].parse().ok()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

#[test]
fn two_workers_start_run_their_periodic_task_and_stop_on_sigterm() {
    let mut service = quickstart(&[]);
    let started = service.wait_for_lines(&["start hook ran"], 2);
    service.wait_for_lines(&["heartbeat"], 2);
    service.wait_for_lines(&["all workers ready"], 1);
    let workers = logging_pids(&started);
    assert_eq!(
        workers.len(),
        2,
        "two distinct worker processes: {started:?}"
    );
    assert_eq!(service.worker_pids(), workers);

    service.signal(libc::SIGTERM);
    assert_eq!(service.wait_exit_code(), 0, "log:\n{}", service.log());
    let stopped = service.lines_with(&["stop hook ran", "graceful=true"]);
    assert_eq!(
        logging_pids(&stopped),
        workers,
        "each worker ran its stop hook once"
    );
    for pid in workers {
        assert!(reap(pid, Duration::from_secs(1)), "worker {pid} is gone");
    }
}

#[test]
fn ctrl_c_stops_gracefully() {
    let mut service = quickstart(&[]);
    service.wait_for_lines(&["all workers ready"], 1);
    service.signal(libc::SIGINT);
    assert_eq!(service.wait_exit_code(), 0, "log:\n{}", service.log());
    assert_eq!(service.lines_with(&["stop hook ran"]).len(), 2);
}

#[test]
fn a_killed_worker_is_replaced() {
    let service = quickstart(&[]);
    service.wait_for_lines(&["all workers ready"], 1);
    let before = service.worker_pids();
    assert_eq!(before.len(), 2);

    integration_tests::send_signal(before[0], libc::SIGKILL);
    service.wait_for_lines(&["killed by signal 9"], 1);
    service.wait_for_lines(&["worker ready"], 3);
    let after = service.worker_pids();
    assert_eq!(after.len(), 2, "two workers again: {after:?}");
    assert!(
        !after.contains(&before[0]),
        "the killed worker is not among {after:?}"
    );
    assert!(after.contains(&before[1]), "the other worker kept running");
}

#[test]
fn workers_exit_by_themselves_when_the_main_process_is_killed() {
    let mut service = quickstart(&[]);
    service.wait_for_lines(&["all workers ready"], 1);
    let workers = service.worker_pids();
    assert_eq!(workers.len(), 2);

    service.signal(libc::SIGKILL);
    service.wait_exit();
    for pid in workers {
        assert!(
            reap(pid, Duration::from_secs(2)),
            "worker {pid} outlived the main process"
        );
    }
}

#[test]
fn one_worker_runs_in_the_main_process() {
    let mut service = quickstart(&["--workers", "1"]);
    let started = service.wait_for_lines(&["start hook ran"], 1);
    assert_eq!(logging_pids(&started), vec![service.pid()]);
    assert!(
        service.worker_pids().is_empty(),
        "no worker process with one worker"
    );
    service.signal(libc::SIGTERM);
    assert_eq!(service.wait_exit_code(), 0, "log:\n{}", service.log());
    assert_eq!(service.lines_with(&["stop hook ran"]).len(), 1);
}

#[test]
fn the_shipped_configuration_file_is_used() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart.conf");
    let mut service = quickstart(&["--config-file", shipped]);
    service.wait_for_lines(&["all workers ready", "workers=2"], 1);
    service.signal(libc::SIGTERM);
    assert_eq!(service.wait_exit_code(), 0);
}

fn assert_rejected(value: &str, expected: &str) {
    let (_dir, path) = config_file("bad.conf", &format!("[my_service]\nworkers = {value}\n"));
    let mut service = quickstart(&["--config-file", path.to_str().unwrap()]);
    assert_eq!(service.wait_exit_code(), 78, "log:\n{}", service.log());
    let errors = service.lines_with(&["error:"]);
    assert_eq!(errors.len(), 1, "exactly one error: {errors:?}");
    let error = &errors[0];
    for part in [
        &format!("{}:2", path.display()),
        "[my_service] workers",
        value,
        expected,
    ] {
        assert!(error.contains(part), "{error:?} lacks {part:?}");
    }
    assert!(
        service.lines_with(&["worker started"]).is_empty(),
        "no worker was started"
    );
}

#[test]
fn zero_workers_is_rejected_before_any_worker_starts() {
    assert_rejected("0", "greater than or equal to 1");
}

#[test]
fn a_non_numeric_worker_count_is_rejected_before_any_worker_starts() {
    assert_rejected("abc", "expected an integer");
}

#[test]
fn no_worker_survives_a_test() {
    let service = quickstart(&[]);
    service.wait_for_lines(&["all workers ready"], 1);
    let workers = service.worker_pids();
    drop(service);
    for pid in workers {
        assert!(!is_running(pid), "worker {pid} left behind");
    }
}
