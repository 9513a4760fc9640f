//! The `rpc_service` example as a real service with two worker processes,
//! called by a Python oslo.messaging client through a real RabbitMQ on
//! 127.0.0.1:5672.
//!
//! Without a broker, or without a Python that has oslo.messaging (found
//! through `RPC_PYTHON`, default `python3`), the test prints why and passes,
//! unless `RPC_TESTS_REQUIRED` is set: then it fails.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use integration_tests::{Running, config_file, example};
use serde_json::{Value, json};

const BROKER_ADDRESS: &str = "127.0.0.1:5672";
const BROKER_URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";

fn required() -> bool {
    std::env::var_os("RPC_TESTS_REQUIRED").is_some()
}

/// Whether RabbitMQ answers; prints a skip line when it does not.
fn broker_available() -> bool {
    let address: SocketAddr = BROKER_ADDRESS.parse().unwrap();
    let reachable = TcpStream::connect_timeout(&address, Duration::from_secs(3)).is_ok();
    if !reachable {
        assert!(
            !required(),
            "RPC_TESTS_REQUIRED is set but no RabbitMQ listens on {BROKER_ADDRESS}"
        );
        println!("skipping: no RabbitMQ on {BROKER_ADDRESS}");
    }
    reachable
}

/// The Python with oslo.messaging, or `None` (skip line printed).
fn python() -> Option<String> {
    let python = std::env::var("RPC_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import oslo_messaging"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if matches!(probe, Ok(status) if status.success()) {
        return Some(python);
    }
    assert!(
        !required(),
        "RPC_TESTS_REQUIRED is set but `{python}` cannot import oslo_messaging \
         (set RPC_PYTHON to a Python that has it)"
    );
    println!("skipping: `{python}` cannot import oslo_messaging");
    None
}

/// Exchange and topic names no other run uses.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Runs the Python client; gives each step's outcome by name.
fn run_python_client(python: &str, exchange: &str, topic: &str) -> BTreeMap<String, Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/calculator_client.py");
    let output = Command::new(python)
        .args([script, BROKER_URL, exchange, topic, "calculator-test"])
        .stderr(Stdio::inherit())
        .output()
        .expect("the Python client runs");
    assert!(
        output.status.success(),
        "the Python client failed: {:?}",
        output.status
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("one JSON object per line"))
        .map(|step| (step["step"].as_str().unwrap_or_default().to_string(), step))
        .collect()
}

#[test]
fn python_client_calls_two_worker_service() {
    if !broker_available() {
        return;
    }
    let Some(python) = python() else { return };
    let exchange = unique("rpc-service");
    let topic = unique("calculator");
    let conf = format!(
        "[DEFAULT]\n\
         transport_url = {BROKER_URL}\n\
         control_exchange = {exchange}\n\
         [calculator]\n\
         workers = 2\n\
         topic = {topic}\n\
         server = calculator-test\n"
    );
    let (_dir, path) = config_file("rpc_service.conf", &conf);
    let mut service = Running::start(
        &example("rpc_service"),
        &["--config-file", path.to_str().unwrap()],
        &[],
    );
    service.wait_for_lines(&["RPC server listening", &topic], 2);
    for worker in ["worker 1[", "worker 2["] {
        assert_eq!(
            service.lines_with(&[worker, "RPC server listening"]).len(),
            1,
            "{worker} serves the topic; log:\n{}",
            service.log()
        );
    }

    let steps = run_python_client(&python, &exchange, &topic);
    let ok = |name: &str| match steps.get(name) {
        Some(step) if step.get("ok").is_some() => step["ok"].clone(),
        other => panic!("step {name} did not succeed: {other:?}"),
    };
    let error = |name: &str| match steps.get(name) {
        Some(step) if step.get("error").is_some() => step["error"].clone(),
        other => panic!("step {name} did not fail: {other:?}"),
    };

    assert_eq!(ok("add"), json!(42));
    assert_eq!(ok("add_direct"), json!(2));
    let echoed = ok("echo");
    assert_eq!(echoed["args"], json!({"text": "hi"}));
    assert_eq!(echoed["context"]["request_id"], "req-calculator");
    let worker = echoed["worker"].as_u64().unwrap();
    assert!(worker == 1 || worker == 2, "answered by worker {worker}");
    assert!(
        service
            .worker_pids()
            .contains(&(echoed["pid"].as_i64().unwrap() as i32)),
        "a worker process answered"
    );
    assert_eq!(ok("divide"), json!(0.25));

    let by_zero = error("divide_by_zero");
    assert_eq!(
        (by_zero["type"].as_str(), by_zero["module"].as_str()),
        (Some("ZeroDivisionError"), Some("builtins")),
        "a builtin exception comes back as itself"
    );
    assert!(
        by_zero["message"]
            .as_str()
            .unwrap()
            .contains("division by zero")
    );
    let type_error = error("add_text");
    assert_eq!(type_error["type"], "TypeError");
    assert!(
        type_error["message"]
            .as_str()
            .unwrap()
            .contains("`a` must be an integer")
    );
    let missing = error("no_such_method");
    assert_eq!(missing["type"], "RemoteError");
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("NoSuchMethod")
    );
    assert_eq!(ok("cast"), Value::Null);
    assert_eq!(ok("fanout"), Value::Null);

    service.wait_for_lines(&["recorded", "cast-1"], 1);
    let fanout = service.wait_for_lines(&["recorded", "fanout-1"], 2);
    for worker in ["worker 1[", "worker 2["] {
        assert!(
            fanout.iter().any(|line| line.contains(worker)),
            "the fanout cast reached {worker}; lines: {fanout:?}"
        );
    }

    service.signal(libc::SIGTERM);
    let status = service.wait_exit();
    assert!(status.success(), "{status:?}; log:\n{}", service.log());
    assert_eq!(
        service.lines_with(&["recorded", "cast-1"]).len(),
        1,
        "the cast was handled once"
    );
    delete_queues(&[&topic, &format!("{topic}.calculator-test")]);
}

/// Removes the queues a test left on the broker, if `rabbitmqctl` (or
/// `RABBITMQCTL`) can; the broker keeps unused, non-durable queues until it
/// restarts otherwise.
fn delete_queues(queues: &[&str]) {
    let program = std::env::var("RABBITMQCTL").unwrap_or_else(|_| "rabbitmqctl".into());
    for queue in queues {
        let _ = Command::new(&program)
            .args(["-q", "delete_queue", queue])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The shipped configuration file is valid, broker or not.
#[test]
fn the_shipped_configuration_file_checks() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/rpc_service.conf");
    let mut check = Running::start(
        &example("rpc_service"),
        &["--config-file", shipped, "--check-config"],
        &[],
    );
    assert_eq!(check.wait_exit_code(), 0, "log:\n{}", check.log());
}
