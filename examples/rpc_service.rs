//! An RPC service over RabbitMQ that Python services using oslo.messaging
//! can call: two worker processes, each serving the same topic.
//!
//! It needs a running RabbitMQ; `transport_url` says where (the default,
//! `rabbit://`, is `guest:guest@localhost:5672`). See `docs/rpc.md`.
//!
//! ```text
//! cargo run -p service-examples --example rpc_service -- --config-file examples/rpc_service.conf
//! ```
//!
//! Then, from Python with oslo.messaging installed:
//!
//! ```text
//! import oslo_messaging
//! from oslo_config import cfg
//! cfg.CONF([])
//! oslo_messaging.set_transport_defaults(control_exchange="examples")
//! transport = oslo_messaging.get_rpc_transport(cfg.CONF, url="rabbit://")
//! client = oslo_messaging.get_rpc_client(
//!     transport, oslo_messaging.Target(topic="calculator"))
//! client.call({}, "add", a=2, b=3)          # 5
//! client.call({}, "divide", a=1, b=0)       # raises ZeroDivisionError
//! client.cast({}, "record", id="hello")     # one worker logs it
//! client.prepare(fanout=True).cast({}, "record", id="all")  # every worker
//! ```
//!
//! Methods:
//! - `echo(**args)`: the arguments, the caller's context and which worker
//!   answered;
//! - `add(a, b)`: the sum of two integers;
//! - `divide(a, b)`: the quotient, or `ZeroDivisionError` when `b` is 0;
//! - `record(id)`: logs the id (meant to be cast).

use serde_json::{Value, json};
use service_runtime::prelude::*;
use service_runtime::rpc::{Endpoint, RpcContext, RpcError, RpcServer, Target, Transport};

/// Options of the `[calculator]` group.
#[config_group(name = "calculator")]
pub struct CalculatorOpts {
    /// Number of worker processes; each one is an RPC server of the topic.
    #[opt(default = 2, min = 1)]
    pub workers: u32,

    /// The topic the service serves.
    #[opt(default = "calculator")]
    pub topic: String,

    /// The server name, for calls meant for this host only (oslo.messaging
    /// services use the host name). The workers share it.
    #[opt(default = "calculator-1")]
    pub server: String,
}

/// The service in one worker; the RPC server runs in a task of its own.
pub struct Calculator;

#[service(name = "rpc_service", workers = calculator.workers)]
impl Calculator {
    async fn new(_conf: &Conf) -> anyhow::Result<Self> {
        Ok(Calculator)
    }

    /// Connects and starts serving; the server stops, finishing the
    /// requests in flight, when the worker is asked to stop.
    async fn start(&mut self, ctx: &Context) -> anyhow::Result<()> {
        let conf = ctx.conf();
        let opts = conf.group::<CalculatorOpts>();
        let transport = Transport::from_conf(&conf)?;
        let target = Target::topic(&opts.topic).server(&opts.server);
        let worker = ctx.worker_id();
        let server = RpcServer::new(&transport, target, vec![endpoint(worker)])?;
        let running = server.start(ctx.shutdown_token().child_token());
        let failing = ctx.clone();
        ctx.spawn(async move {
            if let Err(error) = running.wait().await {
                failing.fail(format!("RPC server failed: {error}"));
            }
            transport.close().await;
        });
        Ok(())
    }
}

/// The methods every worker serves.
fn endpoint(worker: u32) -> Endpoint {
    Endpoint::new()
        .method("echo", move |ctx: RpcContext, args| async move {
            Ok(json!({
                "args": args,
                "context": ctx.values(),
                "worker": worker,
                "pid": std::process::id(),
            }))
        })
        .method("add", |_ctx, args: Value| async move {
            let (a, b) = integers(&args)?;
            a.checked_add(b)
                .map(Value::from)
                .ok_or_else(|| RpcError::builtin("OverflowError", "the sum does not fit"))
        })
        .method("divide", |_ctx, args: Value| async move {
            let (a, b) = integers(&args)?;
            if b == 0 {
                return Err(RpcError::builtin("ZeroDivisionError", "division by zero"));
            }
            Ok(json!(a as f64 / b as f64))
        })
        .method("record", move |_ctx, args: Value| async move {
            let id = args["id"].as_str().unwrap_or_default();
            tracing::info!(worker, id, "recorded");
            Ok(Value::Null)
        })
}

/// The integer arguments `a` and `b`, or a `TypeError` as Python would
/// raise it.
fn integers(args: &Value) -> Result<(i64, i64), RpcError> {
    let get = |name: &str| {
        args[name]
            .as_i64()
            .ok_or_else(|| RpcError::builtin("TypeError", format!("`{name}` must be an integer")))
    };
    Ok((get("a")?, get("b")?))
}

service_runtime::main!(Calculator);
