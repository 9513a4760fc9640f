//! RPC against a real RabbitMQ on 127.0.0.1:5672, between Rust clients and
//! servers and Python oslo.messaging ones.
//!
//! Without a broker every test prints why and passes, unless the variable
//! `RPC_TESTS_REQUIRED` is set: then a missing broker (or a Python without
//! oslo.messaging, found through `RPC_PYTHON`, default `python3`) fails.
//! The broker-restart test runs `RABBITMQCTL` (default `rabbitmqctl`)
//! `stop_app` and `start_app`; the other tests wait while it runs.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use service_runtime::rpc::{
    CallError, Endpoint, RpcClient, RpcContext, RpcError, RpcServer, RunningServer, Target,
    Transport,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::{RwLock, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const BROKER_ADDRESS: &str = "127.0.0.1:5672";
const BROKER_URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";

/// Generous bound for anything that should take well under a second.
const PATIENCE: Duration = Duration::from_secs(30);

/// Held shared by every test, exclusively by the broker restart.
static BROKER: RwLock<()> = RwLock::const_new(());

fn required() -> bool {
    std::env::var_os("RPC_TESTS_REQUIRED").is_some()
}

/// Whether RabbitMQ answers; prints a skip line when it does not (and
/// fails when it is required).
async fn broker_available() -> bool {
    let connect = tokio::net::TcpStream::connect(BROKER_ADDRESS);
    let reachable = matches!(
        tokio::time::timeout(Duration::from_secs(3), connect).await,
        Ok(Ok(_))
    );
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
async fn python() -> Option<String> {
    let python = std::env::var("RPC_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import oslo_messaging"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    if matches!(probe, Ok(status) if status.success()) {
        return Some(python);
    }
    assert!(
        !required(),
        "RPC_TESTS_REQUIRED is set but `{python}` cannot import oslo_messaging \
         (set RPC_PYTHON to a Python that has it)"
    );
    println!("skipping the Python part: `{python}` cannot import oslo_messaging");
    None
}

/// A name no other test or run uses.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{count}-{nanos}", std::process::id())
}

fn transport(exchange: &str, extra: &[(&str, &str, &str)]) -> Transport {
    let mut values = vec![
        ("DEFAULT", "transport_url", BROKER_URL),
        ("DEFAULT", "control_exchange", exchange),
        ("DEFAULT", "rpc_response_timeout", "20"),
        ("oslo_messaging_rabbit", "rabbit_retry_interval", "1"),
        ("oslo_messaging_rabbit", "rabbit_retry_backoff", "0"),
        ("oslo_messaging_rabbit", "kombu_reconnect_delay", "0"),
    ];
    values.extend_from_slice(extra);
    let conf = service_runtime::testkit::conf(&values);
    Transport::from_conf(&conf).expect("test transport settings are valid")
}

/// Ids recorded by `record` handlers, with how often each was handled,
/// observable while they arrive.
#[derive(Clone)]
struct Recorder(Arc<watch::Sender<BTreeMap<String, u32>>>);

impl Recorder {
    fn new() -> Self {
        Recorder(Arc::new(watch::Sender::new(BTreeMap::new())))
    }

    fn record(&self, id: &str) {
        self.0.send_modify(|ids| {
            *ids.entry(id.to_string()).or_default() += 1;
        });
    }

    fn contains(&self, id: &str) -> bool {
        self.0.borrow().contains_key(id)
    }

    /// Ids handled more than once.
    fn repeated(&self) -> Vec<(String, u32)> {
        let ids = self.0.borrow();
        ids.iter()
            .filter(|(_, count)| **count > 1)
            .map(|(id, count)| (id.clone(), *count))
            .collect()
    }

    /// Waits until every id in `ids` was recorded.
    async fn wait_for(&self, ids: &[String], bound: Duration) {
        let mut receiver = self.0.subscribe();
        let all_there = |seen: &BTreeMap<String, u32>| ids.iter().all(|id| seen.contains_key(id));
        let waited = tokio::time::timeout(bound, receiver.wait_for(all_there)).await;
        if waited.is_err() {
            let seen = self.0.borrow().clone();
            let missing: Vec<_> = ids.iter().filter(|id| !seen.contains_key(*id)).collect();
            panic!(
                "{} ids never handled, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            );
        }
    }
}

/// The endpoints the Rust servers of these tests offer.
fn endpoints(server_name: &str, recorder: &Recorder) -> Vec<Endpoint> {
    let name = server_name.to_string();
    let recorder = recorder.clone();
    let plain = Endpoint::new()
        .method("echo", move |ctx: RpcContext, args| {
            let name = name.clone();
            async move { Ok(json!({"args": args, "context": ctx.values(), "server": name})) }
        })
        .method("fail_value", |_ctx, args: Value| async move {
            let text = args["text"].as_str().unwrap_or_default().to_string();
            Err(RpcError::builtin(
                "ValueError",
                format!("bad value: {text}"),
            ))
        })
        .method("fail_custom", |_ctx, _args| async move {
            Err(RpcError::new("QuotaExceeded", "quota exceeded for widgets"))
        })
        .method("slow", |_ctx, args: Value| async move {
            let seconds = args["seconds"].as_f64().unwrap_or(1.0);
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            Ok(json!("done"))
        })
        .method("record", move |_ctx, args: Value| {
            let recorder = recorder.clone();
            async move {
                recorder.record(args["id"].as_str().unwrap_or_default());
                Ok(Value::Null)
            }
        });
    let math = Endpoint::new().namespace("math").version("1.2").method(
        "add",
        |_ctx, args: Value| async move {
            let sum = args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0);
            Ok(json!(sum))
        },
    );
    vec![plain, math]
}

async fn start_server(
    transport: &Transport,
    topic: &str,
    server: &str,
    recorder: &Recorder,
    stop: &CancellationToken,
) -> RunningServer {
    let target = Target::topic(topic).server(server);
    let rpc_server = RpcServer::new(transport, target, endpoints(server, recorder))
        .expect("the test endpoints are valid");
    let running = rpc_server.start(stop.clone());
    tokio::time::timeout(PATIENCE, running.status().listening())
        .await
        .expect("the server starts listening");
    running
}

fn remote(error: CallError) -> service_runtime::rpc::RemoteError {
    match error {
        CallError::Remote(remote) => remote,
        other => panic!("expected a remote failure, got: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_and_rust_server() {
    let _shared = BROKER.read().await;
    if !broker_available().await {
        return;
    }
    let exchange = unique("rpc-rr");
    let transport = transport(&exchange, &[]);
    let topic = unique("topic");
    let recorder_a = Recorder::new();
    let recorder_b = Recorder::new();
    let stop = CancellationToken::new();
    let server_a = start_server(&transport, &topic, "a", &recorder_a, &stop).await;
    let server_b = start_server(&transport, &topic, "b", &recorder_b, &stop).await;
    let client = RpcClient::new(&transport, Target::topic(&topic));
    let ctx = RpcContext::new().with("request_id", "req-rust");

    let echoed = client
        .call(&ctx, "echo", json!({"text": "hi"}))
        .await
        .unwrap();
    assert_eq!(echoed["args"], json!({"text": "hi"}));
    assert_eq!(echoed["context"]["request_id"], "req-rust");

    let to_b = client.prepare(|t| t.server("b"));
    for _ in 0..3 {
        let echoed = to_b.call(&ctx, "echo", json!({})).await.unwrap();
        assert_eq!(
            echoed["server"], "b",
            "a server-directed call reaches that server"
        );
    }

    let math = client.prepare(|t| t.namespace("math").version("1.1"));
    assert_eq!(
        math.call(&ctx, "add", json!({"a": 2, "b": 40}))
            .await
            .unwrap(),
        json!(42)
    );

    let failure = remote(
        client
            .call(&ctx, "fail_value", json!({"text": "x"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (failure.class.as_str(), failure.module.as_str()),
        ("ValueError", "builtins")
    );
    assert_eq!(failure.message, "bad value: x");
    let failure = remote(client.call(&ctx, "no_such", Value::Null).await.unwrap_err());
    assert_eq!(failure.class, "NoSuchMethod");
    assert_eq!(failure.module, "oslo_messaging.rpc.dispatcher");
    let too_new = client.prepare(|t| t.namespace("math").version("1.3"));
    let failure = remote(too_new.call(&ctx, "add", json!({})).await.unwrap_err());
    assert_eq!(failure.class, "UnsupportedVersion");

    client
        .cast(&ctx, "record", json!({"id": "cast-1"}))
        .await
        .unwrap();
    let fanout = client.prepare(|t| t.fanout(true));
    fanout
        .cast(&ctx, "record", json!({"id": "fan-1"}))
        .await
        .unwrap();
    recorder_a.wait_for(&["fan-1".to_string()], PATIENCE).await;
    recorder_b.wait_for(&["fan-1".to_string()], PATIENCE).await;
    let either = tokio::time::timeout(PATIENCE, async {
        loop {
            if recorder_a.contains("cast-1") || recorder_b.contains("cast-1") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    either.await.expect("the cast reached one of the servers");

    let monitored = client.clone().call_monitor_timeout(Duration::from_secs(2));
    let answer = monitored.call(&ctx, "slow", json!({"seconds": 3})).await;
    assert_eq!(
        answer.unwrap(),
        json!("done"),
        "heartbeats keep a monitored call alive"
    );

    stop.cancel();
    server_a.wait().await.unwrap();
    server_b.wait().await.unwrap();
    transport.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_failures_are_clear() {
    let _shared = BROKER.read().await;
    if !broker_available().await {
        return;
    }
    let transport = transport(&unique("rpc-fail"), &[]);
    let ctx = RpcContext::new();

    let nobody = RpcClient::new(&transport, Target::topic(unique("nobody")));
    match nobody.call(&ctx, "echo", Value::Null).await.unwrap_err() {
        CallError::NoRoute { routing_key, .. } => assert!(routing_key.starts_with("nobody-")),
        other => panic!("expected NoRoute, got: {other}"),
    }
    let cast = nobody
        .clone()
        .at_least_once(true)
        .cast(&ctx, "echo", Value::Null)
        .await;
    assert!(matches!(cast, Err(CallError::NoRoute { .. })), "{cast:?}");

    let topic = unique("topic");
    let stop = CancellationToken::new();
    let server = start_server(&transport, &topic, "s", &Recorder::new(), &stop).await;
    let impatient =
        RpcClient::new(&transport, Target::topic(&topic)).timeout(Duration::from_secs(1));
    let error = impatient
        .call(&ctx, "slow", json!({"seconds": 3}))
        .await
        .unwrap_err();
    match &error {
        CallError::Timeout {
            method, topic: t, ..
        } => assert_eq!((method.as_str(), t), ("slow", &topic)),
        other => panic!("expected Timeout, got: {other}"),
    }
    assert!(error.to_string().contains("no reply to `slow`"), "{error}");

    let invalid = impatient
        .prepare(|t| t.fanout(true))
        .call(&ctx, "echo", Value::Null)
        .await;
    assert!(matches!(invalid, Err(CallError::Invalid(_))), "{invalid:?}");
    let invalid = impatient.call(&ctx, "echo", json!([1, 2])).await;
    assert!(matches!(invalid, Err(CallError::Invalid(m)) if m.contains("JSON object")));

    stop.cancel();
    server.wait().await.unwrap();
    transport.close().await;
    let closed = impatient.call(&ctx, "echo", Value::Null).await;
    assert!(matches!(closed, Err(CallError::Closed)), "{closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_finishes_calls_in_flight() {
    let _shared = BROKER.read().await;
    if !broker_available().await {
        return;
    }
    let transport = transport(&unique("rpc-stop"), &[]);
    let topic = unique("topic");
    let stop = CancellationToken::new();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let started_tx = Arc::new(std::sync::Mutex::new(Some(started_tx)));
    let endpoint = Endpoint::new().method("slow", move |_ctx, _args| {
        let started_tx = started_tx.clone();
        async move {
            if let Some(started) = started_tx.lock().unwrap().take() {
                let _ = started.send(());
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok(json!("finished"))
        }
    });
    let target = Target::topic(&topic).server("s");
    let running = RpcServer::new(&transport, target, vec![endpoint])
        .unwrap()
        .start(stop.clone());
    tokio::time::timeout(PATIENCE, running.status().listening())
        .await
        .unwrap();

    let client = RpcClient::new(&transport, Target::topic(&topic));
    let call =
        tokio::spawn(async move { client.call(&RpcContext::new(), "slow", Value::Null).await });
    tokio::time::timeout(PATIENCE, started_rx)
        .await
        .unwrap()
        .unwrap();
    stop.cancel();

    assert_eq!(call.await.unwrap().unwrap(), json!("finished"));
    tokio::time::timeout(PATIENCE, running.wait())
        .await
        .unwrap()
        .unwrap();
    transport.close().await;
}

/// Runs the Python oslo.messaging client against a Rust server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_calls_rust_server() {
    let _shared = BROKER.read().await;
    if !broker_available().await {
        return;
    }
    let Some(python) = python().await else { return };
    let exchange = unique("rpc-py");
    let transport = transport(&exchange, &[]);
    let topic = unique("topic");
    let recorder = Recorder::new();
    let stop = CancellationToken::new();
    let server = start_server(&transport, &topic, "rust-1", &recorder, &stop).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/oslo_client.py");
    let run = Command::new(&python)
        .args([script, BROKER_URL, &exchange, &topic, "rust-1"])
        .stderr(Stdio::inherit())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the Python client finishes")
        .expect("the Python client runs");
    assert!(
        output.status.success(),
        "the Python client failed: {:?}",
        output.status
    );
    let steps: BTreeMap<String, Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("one JSON object per line"))
        .map(|step| (step["step"].as_str().unwrap_or_default().to_string(), step))
        .collect();
    let ok = |name: &str| match steps.get(name) {
        Some(step) if step.get("ok").is_some() => step["ok"].clone(),
        other => panic!("step {name} did not succeed: {other:?}"),
    };
    let error = |name: &str| match steps.get(name) {
        Some(step) if step.get("error").is_some() => step["error"].clone(),
        other => panic!("step {name} did not fail: {other:?}"),
    };

    let echoed = ok("echo");
    assert_eq!(echoed["args"], json!({"text": "hi", "items": [1, 2]}));
    assert_eq!(echoed["context"]["request_id"], "req-python");
    assert_eq!(echoed["context"]["user_id"], "alice");
    assert_eq!(ok("echo_server")["server"], "rust-1");
    assert_eq!(ok("add"), json!(5));

    let too_new = error("add_too_new");
    assert_eq!(
        (too_new["type"].as_str(), too_new["exc_type"].as_str()),
        (Some("RemoteError"), Some("UnsupportedVersion"))
    );
    let missing = error("no_such_method");
    assert_eq!(missing["exc_type"], "NoSuchMethod");
    let value_error = error("fail_value");
    assert_eq!(
        value_error["type"], "ValueError",
        "builtins come back as themselves"
    );
    assert!(
        value_error["message"]
            .as_str()
            .unwrap()
            .contains("bad value: bad")
    );
    let custom = error("fail_custom");
    assert_eq!(
        (custom["type"].as_str(), custom["exc_type"].as_str()),
        (Some("RemoteError"), Some("QuotaExceeded"))
    );
    assert!(
        custom["message"]
            .as_str()
            .unwrap()
            .contains("quota exceeded for widgets")
    );
    assert_eq!(
        ok("slow_monitored"),
        json!("done"),
        "call-monitor heartbeats reach Python"
    );
    assert_eq!(ok("cast"), Value::Null);
    assert_eq!(ok("fanout"), Value::Null);
    recorder
        .wait_for(&["cast-1".to_string(), "fanout-1".to_string()], PATIENCE)
        .await;

    stop.cancel();
    server.wait().await.unwrap();
    transport.close().await;
}

/// Runs a Python oslo.messaging server and calls it from Rust.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_calls_python_server() {
    let _shared = BROKER.read().await;
    if !broker_available().await {
        return;
    }
    let Some(python) = python().await else { return };
    let exchange = unique("rpc-pysrv");
    let topic = unique("topic");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/oslo_server.py");
    let mut child = Command::new(&python)
        .args([script, BROKER_URL, &exchange, &topic, "py-1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the Python server starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
    assert_eq!(ready.unwrap().unwrap().as_deref(), Some("READY"));

    let transport = transport(&exchange, &[]);
    let client = RpcClient::new(&transport, Target::topic(&topic));
    let ctx = RpcContext::new().with("user_id", "bob");

    let echoed = client
        .call(&ctx, "echo", json!({"text": "hi"}))
        .await
        .unwrap();
    assert_eq!(echoed["args"], json!({"text": "hi"}));
    assert_eq!(echoed["context"]["user_id"], "bob");
    let direct = client.prepare(|t| t.server("py-1"));
    assert_eq!(
        direct
            .call(&ctx, "add", json!({"a": 1, "b": 1}))
            .await
            .unwrap(),
        json!(2)
    );
    let v11 = client.prepare(|t| t.version("1.1"));
    assert_eq!(
        v11.call(&ctx, "add", json!({"a": 2, "b": 3}))
            .await
            .unwrap(),
        json!(5)
    );
    let math = client.prepare(|t| t.namespace("math").version("2.0"));
    assert_eq!(
        math.call(&ctx, "mul", json!({"a": 3, "b": 4}))
            .await
            .unwrap(),
        json!(12)
    );

    let failure = remote(
        client
            .call(&ctx, "fail", json!({"text": "boom"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (failure.class.as_str(), failure.module.as_str()),
        ("ValueError", "builtins")
    );
    assert_eq!(failure.message, "boom");
    assert!(
        failure
            .traceback
            .iter()
            .any(|line| line.contains("ValueError"))
    );
    let failure = remote(
        client
            .call(&ctx, "nothing_here", Value::Null)
            .await
            .unwrap_err(),
    );
    assert_eq!(failure.class, "NoSuchMethod");
    let v15 = client.prepare(|t| t.version("1.5"));
    let failure = remote(
        v15.call(&ctx, "add", json!({"a": 1, "b": 1}))
            .await
            .unwrap_err(),
    );
    assert_eq!(failure.class, "UnsupportedVersion");

    client
        .cast(&ctx, "record", json!({"id": "r-cast"}))
        .await
        .unwrap();
    let fanout = client.prepare(|t| t.fanout(true));
    fanout
        .cast(&ctx, "record", json!({"id": "r-fanout"}))
        .await
        .unwrap();
    let both = tokio::time::timeout(PATIENCE, async {
        loop {
            let recorded = client.call(&ctx, "recorded", Value::Null).await.unwrap();
            let ids: Vec<&str> = recorded
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if ids.contains(&"r-cast") && ids.contains(&"r-fanout") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    both.await.expect("the Python server handled both casts");

    transport.close().await;
    drop(child.stdin.take());
    let exited = tokio::time::timeout(Duration::from_secs(60), child.wait()).await;
    assert!(
        exited.unwrap().unwrap().success(),
        "the Python server stops cleanly"
    );
}

async fn rabbitmqctl(action: &str) {
    let program = std::env::var("RABBITMQCTL").unwrap_or_else(|_| "rabbitmqctl".into());
    let run = Command::new(&program)
        .arg(action)
        .stdout(Stdio::null())
        .status();
    let status = tokio::time::timeout(Duration::from_secs(120), run).await;
    assert!(
        matches!(status, Ok(Ok(status)) if status.success()),
        "`{program} {action}` failed: {status:?}"
    );
}

/// Casts the broker confirmed are all handled although the broker restarts
/// in the middle of the stream, and both sides reconnect by themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_reconnects_after_broker_restart() {
    let _exclusive = BROKER.write().await;
    if !broker_available().await {
        return;
    }
    // Durable queues and persistent messages survive the restart.
    let durable = [("oslo_messaging_rabbit", "amqp_durable_queues", "true")];
    let transport = transport("rpc_interop_durable", &durable);
    let topic = unique("restart");
    let recorder = Recorder::new();
    let stop = CancellationToken::new();
    let server = start_server(&transport, &topic, "s", &recorder, &stop).await;
    let client = RpcClient::new(&transport, Target::topic(&topic))
        .at_least_once(true)
        .timeout(Duration::from_secs(5));
    let ctx = RpcContext::new();

    // Casts flow before, during and after the restart, and stop 30 casts
    // after it finished; the bound only guards against a restart that hangs.
    const MAX_CASTS: usize = 5000;
    const RESTART_AT: usize = 30;
    const AFTER_RESTART: usize = 30;
    let mut confirmed = Vec::new();
    let mut restart = None;
    let mut sent_after_restart = 0;
    for index in 0..MAX_CASTS {
        if index == RESTART_AT {
            restart = Some(tokio::spawn(async {
                rabbitmqctl("stop_app").await;
                rabbitmqctl("start_app").await;
            }));
        }
        if restart.as_ref().is_some_and(JoinHandle::is_finished) {
            sent_after_restart += 1;
            if sent_after_restart > AFTER_RESTART {
                break;
            }
        }
        let id = format!("cast-{index}");
        let sent = tokio::time::timeout(Duration::from_secs(180), async {
            loop {
                match client.cast(&ctx, "record", json!({"id": id})).await {
                    Ok(()) => break,
                    Err(error) => {
                        eprintln!("cast {id} not confirmed yet: {error}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        sent.await.expect("every cast is eventually confirmed");
        confirmed.push(id);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        sent_after_restart > AFTER_RESTART,
        "the broker restart did not finish in time"
    );
    restart.expect("the restart ran").await.unwrap();

    // Delivery is at least once (docs/rpc.md): every confirmed cast must
    // be handled; one the broker delivered again after a lost
    // acknowledgement may be handled twice, which is reported, not failed.
    recorder
        .wait_for(&confirmed, Duration::from_secs(120))
        .await;
    let repeated = recorder.repeated();
    println!(
        "{} casts confirmed and handled, {} of them more than once: {:?}",
        confirmed.len(),
        repeated.len(),
        &repeated[..repeated.len().min(5)]
    );
    assert!(
        server.status().connections() >= 2,
        "the server reconnected (connections: {})",
        server.status().connections()
    );
    assert!(
        transport.client_connections() >= 2,
        "the client reconnected"
    );
    let echoed = client
        .call(&ctx, "echo", json!({"after": "restart"}))
        .await
        .unwrap();
    assert_eq!(echoed["args"]["after"], "restart");

    stop.cancel();
    server.wait().await.unwrap();
    transport.close().await;
    for queue in [topic.clone(), format!("{topic}.s")] {
        let program = std::env::var("RABBITMQCTL").unwrap_or_else(|_| "rabbitmqctl".into());
        let _ = Command::new(program)
            .args(["delete_queue", &queue])
            .output()
            .await;
    }
}
