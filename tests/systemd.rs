//! The systemd notification protocol with a real notification socket.

use std::time::{Duration, Instant};

use integration_tests::probe_http as http;
use integration_tests::{NotifyListener, Running, config_file, example, probe_port};

fn probe_notifying(name: &str, extra: &[(&str, &str)]) -> Running {
    let mut env = vec![("NOTIFY_SOCKET", name)];
    env.extend_from_slice(extra);
    Running::start(&example("probe"), &["--workers", "2"], &env)
}

/// Reads for `quiet` after the first READY=1 and counts further ones.
fn assert_single_ready(listener: &NotifyListener, quiet: Duration) {
    let deadline = Instant::now() + quiet;
    while let Some(message) = listener.next(deadline.saturating_duration_since(Instant::now())) {
        assert!(
            !message.contains("READY=1"),
            "a second READY=1: {message:?}"
        );
    }
}

/// B21: one READY=1 on an abstract socket, and the service serves at once.
#[test]
fn ready_is_sent_once_to_an_abstract_socket_when_the_service_serves() {
    let listener = NotifyListener::abstract_name();
    let service = probe_notifying(&listener.name, &[]);
    let port = probe_port(&service);
    let started = Instant::now();
    listener.wait_for("READY=1");
    assert!(started.elapsed() < Duration::from_secs(5));
    let response = http::get(port, "/ping").expect("the service serves as soon as it is ready");
    assert_eq!(response.status, 200);
    // The main process logs each "worker ready", then "all workers ready",
    // then sends READY=1; the datagram can overtake the log pipe, so wait
    // for the last of those lines before counting the earlier ones.
    service.wait_for_lines(&["all workers ready"], 1);
    assert_eq!(
        service.lines_with(&["worker ready"]).len(),
        2,
        "both workers before READY=1"
    );
    assert_single_ready(&listener, Duration::from_secs(1));
}

/// B21: a relative socket path works too.
#[test]
fn ready_is_sent_to_a_relative_socket_path() {
    let (listener, path) = NotifyListener::path();
    let dir = path.parent().unwrap();
    let _service = Running::start_in(
        &example("probe"),
        &["--workers", "2"],
        &[("NOTIFY_SOCKET", "notify.sock")],
        Some(dir),
    );
    listener.wait_for("READY=1");
    assert_single_ready(&listener, Duration::from_secs(1));
}

/// B21: a socket nobody listens on is reported as a warning; the service
/// runs on.
#[test]
fn an_unreachable_notify_socket_is_a_warning_not_a_failure() {
    let service = probe_notifying("/nonexistent/notify.sock", &[]);
    let port = probe_port(&service);
    service.wait_for_lines(&["all workers ready"], 1);
    let warnings = service.wait_for_lines(&["WARN", "/nonexistent/notify.sock"], 1);
    assert!(!warnings.is_empty());
    assert_eq!(http::get(port, "/ping").unwrap().status, 200);
}

/// B21: without NOTIFY_SOCKET nothing is said about systemd.
#[test]
fn without_a_notify_socket_nothing_is_logged_about_it() {
    let service = Running::start(&example("probe"), &["--workers", "2"], &[]);
    service.wait_for_lines(&["all workers ready"], 1);
    let mentions: Vec<String> = service
        .lines()
        .into_iter()
        .filter(|line| line.contains("notif") || line.contains("systemd"))
        .collect();
    assert!(mentions.is_empty(), "{mentions:?}");
}

/// CLOCK_MONOTONIC in microseconds, as systemd reads it.
fn monotonic_usec() -> u64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut time) };
    assert_eq!(result, 0);
    let seconds = u64::try_from(time.tv_sec).unwrap();
    seconds * 1_000_000 + u64::try_from(time.tv_nsec).unwrap() / 1000
}

/// B23: RELOADING=1 with MONOTONIC_USEC in one datagram, then READY=1,
/// for a good reload and for a rejected one; STOPPING=1 on SIGTERM.
#[test]
fn reloads_and_stops_are_announced_the_way_notify_reload_needs() {
    let (dir, conf) = config_file("p.conf", "[probe]\ntick_spacing = 1\n");
    let listener = NotifyListener::abstract_name();
    let args = ["--workers", "2", "--config-file", conf.to_str().unwrap()];
    let mut service = Running::start(
        &example("probe"),
        &args,
        &[("NOTIFY_SOCKET", listener.name.as_str())],
    );
    listener.wait_for("READY=1");

    for text in [
        "[probe]\ntick_spacing = 2\n",
        "[probe]\ntick_spacing = nope\n",
    ] {
        std::fs::write(dir.path().join("p.conf"), text).unwrap();
        let sent = monotonic_usec();
        service.signal(libc::SIGHUP);
        let reloading = listener.wait_for("RELOADING=1");
        let stamp: u64 = reloading
            .lines()
            .find_map(|line| line.strip_prefix("MONOTONIC_USEC="))
            .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"))
            .parse()
            .expect("a decimal timestamp");
        assert!(
            stamp.abs_diff(sent) < 1_000_000,
            "timestamp {stamp} vs {sent}"
        );
        let started = Instant::now();
        listener.wait_for("READY=1");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    service.wait_for_lines(&["reload rejected"], 1);

    service.signal(libc::SIGTERM);
    listener.wait_for("STOPPING=1");
    assert_eq!(service.wait_exit_code(), 0);
}
