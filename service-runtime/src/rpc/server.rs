//! The RPC server: consumes a topic's queues, runs the endpoint a request
//! names and sends the reply of calls.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};
use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::{
    Connector, ExchangeSpec, Link, Outgoing, PublishError, Published, Settings, is_refusal,
};
use super::endpoint::{Dispatcher, Endpoint};
use super::error::{RpcError, ServerError, TransportError};
use super::target::Target;
use super::transport::{RecentIds, Transport};
use super::wire::{self, Reply, Request};

const LOG_TARGET: &str = "service_runtime::rpc";

/// Handled request ids remembered, so that a request the broker delivers
/// again after a lost acknowledgement is not run twice by this server.
const HANDLED_IDS: usize = 4096;

/// Pause between two tries of a reply whose queue is missing.
const MISSING_QUEUE_PAUSE: Duration = Duration::from_millis(250);

/// How long a reply queue found missing for good is not tried again.
const GONE_QUEUE_MEMORY: Duration = Duration::from_secs(60);

/// Serves the endpoints of one target, like oslo.messaging's RPC server.
///
/// It consumes three queues: the topic queue `<topic>` shared by every
/// server of the topic, its own queue `<topic>.<server>`, and a fanout
/// queue `<topic>_fanout_<random>` bound to the exchange `<topic>_fanout`.
/// Each request runs in its own task, at most `executor_thread_pool_size` at
/// a time; a call's result or failure goes back to the caller's reply queue.
///
/// A request is acknowledged only after it was handled and its reply sent,
/// so a request whose server dies or loses the broker midway is delivered
/// again: delivery is at least once. When the broker connection is lost the
/// server reconnects with back-off, declares its queues again and resumes.
///
/// # Examples
///
/// ```no_run
/// use service_runtime::rpc::{Endpoint, RpcServer, Target, Transport};
/// use serde_json::json;
/// use tokio_util::sync::CancellationToken;
///
/// # async fn demo(transport: Transport) -> Result<(), Box<dyn std::error::Error>> {
/// let endpoint = Endpoint::new().method("echo", |_ctx, args| async move { Ok(args) });
/// let target = Target::topic("echo").server("host-1");
/// let server = RpcServer::new(&transport, target, vec![endpoint])?;
/// let stop = CancellationToken::new();
/// let running = server.start(stop.clone());
/// // ... later:
/// stop.cancel();
/// running.wait().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RpcServer {
    settings: Arc<Settings>,
    target: Target,
    exchange: String,
    dispatcher: Dispatcher,
}

impl RpcServer {
    /// A server of `endpoints` for `target`, which must name a topic and a
    /// server.
    ///
    /// # Errors
    ///
    /// A target without topic or server, or with fanout set; a method name
    /// starting with `_`; an endpoint version that does not parse.
    pub fn new(
        transport: &Transport,
        target: Target,
        endpoints: Vec<Endpoint>,
    ) -> Result<RpcServer, TransportError> {
        let invalid = |what: &str| TransportError::Invalid(format!("RPC server target: {what}"));
        if target.topic.is_empty() {
            return Err(invalid("expected a topic"));
        }
        if target.server.as_deref().is_none_or(str::is_empty) {
            return Err(invalid("expected a server name (usually the host name)"));
        }
        if target.fanout {
            return Err(invalid(
                "expected fanout = false: servers always listen to fanout",
            ));
        }
        let settings = transport.settings().clone();
        let dispatcher = Dispatcher::new(endpoints, settings.ping_enabled)?;
        let exchange = target
            .exchange
            .clone()
            .unwrap_or_else(|| settings.control_exchange.clone());
        Ok(RpcServer {
            settings,
            target,
            exchange,
            dispatcher,
        })
    }

    /// Runs the server in a new task until `stop` is cancelled.
    pub fn start(self, stop: CancellationToken) -> RunningServer {
        let status = Arc::new(ServerStatus::new());
        let task = tokio::spawn(self.serve(stop, status.clone()));
        RunningServer { status, task }
    }

    /// Runs the server until `stop` is cancelled, then stops gracefully:
    /// no new request is taken, requests being handled finish and are
    /// replied to and acknowledged, the fanout queue is deleted and the
    /// connection closed.
    ///
    /// # Errors
    ///
    /// The broker refusing the server's exchanges or queues for good (for
    /// example a queue that exists with other settings). Lost connections
    /// are not errors: the server reconnects.
    pub async fn run(self, stop: CancellationToken) -> Result<(), ServerError> {
        self.serve(stop, Arc::new(ServerStatus::new())).await
    }

    async fn serve(
        self,
        stop: CancellationToken,
        status: Arc<ServerStatus>,
    ) -> Result<(), ServerError> {
        let connector = Connector::new(self.settings.clone());
        let purpose = format!("rpc server {}", self.target.routing_key());
        let shared = Arc::new(Shared {
            fanout_queue: format!("{}_fanout_{}", self.target.topic, wire::unique_hex()),
            settings: self.settings,
            target: self.target,
            exchange: self.exchange,
            dispatcher: self.dispatcher,
            link: Link::new(),
            handled: Mutex::new(RecentIds::new(HANDLED_IDS)),
            gone_reply_queues: Mutex::new(HashMap::new()),
            status,
        });
        let work = Work {
            tracker: TaskTracker::new(),
            permits: Arc::new(Semaphore::new(shared.settings.max_concurrent)),
        };

        let mut setup_failures = 0;
        let outcome = loop {
            let Some(connection) = connector.connect(&purpose, &stop).await else {
                break Ok(());
            };
            match shared.clone().listen(connection, &stop, &work).await {
                Listened::Stopped { channel, live } => {
                    shared.status.set_listening(false);
                    work.finish().await;
                    let delete = QueueDeleteOptions::default();
                    let _ = channel.queue_delete(&shared.fanout_queue, delete).await;
                    live.close().await;
                    break Ok(());
                }
                Listened::Refused(reason) => break Err(ServerError::Setup(reason)),
                Listened::Lost { reason, consumed } => {
                    shared.status.set_listening(false);
                    shared.link.clear();
                    tracing::warn!(
                        target: LOG_TARGET,
                        topic = %shared.target.topic,
                        %reason,
                        "lost the RPC server's broker connection; reconnecting"
                    );
                    setup_failures = if consumed { 0 } else { setup_failures + 1 };
                    if setup_failures > 0 && !shared.pause(setup_failures - 1, &stop).await {
                        break Ok(());
                    }
                }
            }
        };
        shared.status.set_listening(false);
        work.finish().await;
        shared.link.clear();
        outcome
    }
}

/// A server running in its own task.
#[derive(Debug)]
pub struct RunningServer {
    status: Arc<ServerStatus>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// What the server is doing.
    pub fn status(&self) -> &ServerStatus {
        &self.status
    }

    /// Waits until the server stopped (after its token was cancelled, or on
    /// a setup error).
    ///
    /// # Errors
    ///
    /// As [`RpcServer::run`].
    ///
    /// # Panics
    ///
    /// If the server's task panicked, which would be a bug.
    pub async fn wait(self) -> Result<(), ServerError> {
        self.task.await.expect("the RPC server task does not panic")
    }
}

/// Whether a server consumes its queues, and how often it connected.
#[derive(Debug)]
pub struct ServerStatus {
    listening: watch::Sender<bool>,
    connections: std::sync::atomic::AtomicU64,
}

impl ServerStatus {
    fn new() -> Self {
        ServerStatus {
            listening: watch::Sender::new(false),
            connections: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn set_listening(&self, listening: bool) {
        if listening {
            self.connections
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.listening.send_replace(listening);
    }

    /// Whether the server currently consumes its queues.
    pub fn is_listening(&self) -> bool {
        *self.listening.borrow()
    }

    /// Waits until the server consumes its queues.
    pub async fn listening(&self) {
        let mut receiver = self.listening.subscribe();
        let _ = receiver.wait_for(|listening| *listening).await;
    }

    /// How many times the server connected and started consuming: 1 after
    /// start-up, one more after each reconnection.
    pub fn connections(&self) -> u64 {
        self.connections.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The requests being handled.
struct Work {
    tracker: TaskTracker,
    permits: Arc<Semaphore>,
}

impl Work {
    async fn finish(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// How one connection's consumption ended.
enum Listened {
    /// `stop` fired; consumers are cancelled, the channel still open.
    Stopped {
        channel: Channel,
        live: Arc<super::connection::Live>,
    },
    /// The broker refused the setup for good.
    Refused(String),
    /// The connection or channel failed; `consumed` if consuming had started.
    Lost { reason: String, consumed: bool },
}

struct Shared {
    settings: Arc<Settings>,
    target: Target,
    exchange: String,
    fanout_queue: String,
    dispatcher: Dispatcher,
    link: Link,
    handled: Mutex<RecentIds>,
    gone_reply_queues: Mutex<HashMap<String, Instant>>,
    status: Arc<ServerStatus>,
}

impl Shared {
    /// Sleeps before a new attempt after a failed setup; false if stopped.
    async fn pause(&self, failures: u32, stop: &CancellationToken) -> bool {
        let wait = self
            .settings
            .retry
            .wait(failures, rand::random(), rand::random());
        tokio::select! {
            _ = stop.cancelled() => false,
            _ = tokio::time::sleep(wait) => true,
        }
    }

    async fn listen(
        self: Arc<Self>,
        connection: lapin::Connection,
        stop: &CancellationToken,
        work: &Work,
    ) -> Listened {
        let (channel, consumers) = match self.declare(&connection).await {
            Ok(declared) => declared,
            Err(error) if is_refusal(&error) => {
                let _ = connection.close(200, "setup refused").await;
                return Listened::Refused(error.to_string());
            }
            Err(error) => {
                let _ = connection.close(200, "setup failed").await;
                return Listened::Lost {
                    reason: error.to_string(),
                    consumed: false,
                };
            }
        };
        let tags: Vec<_> = consumers.iter().map(Consumer::tag).collect();
        let live = self.link.set(connection);
        self.status.set_listening(true);
        tracing::info!(
            target: LOG_TARGET,
            topic = %self.target.topic,
            server = self.target.server.as_deref().unwrap_or_default(),
            exchange = %self.exchange,
            "RPC server listening"
        );

        let mut deliveries = futures::stream::select_all(consumers);
        loop {
            let next = tokio::select! {
                biased;
                _ = stop.cancelled() => None,
                next = deliveries.next() => Some(next),
            };
            let delivery = match next {
                None => {
                    for tag in &tags {
                        let _ = channel
                            .basic_cancel(tag.as_str(), BasicCancelOptions::default())
                            .await;
                    }
                    return Listened::Stopped { channel, live };
                }
                Some(Some(Ok(delivery))) => delivery,
                Some(Some(Err(error))) => {
                    let reason = error.to_string();
                    return Listened::Lost {
                        reason,
                        consumed: true,
                    };
                }
                Some(None) => {
                    let reason = "the broker cancelled the consumers".to_string();
                    return Listened::Lost {
                        reason,
                        consumed: true,
                    };
                }
            };
            let permit = tokio::select! {
                // Not acknowledged: the broker hands it out again.
                _ = stop.cancelled() => continue,
                permit = work.permits.clone().acquire_owned() => permit,
            };
            let Ok(permit) = permit else { continue };
            let shared = self.clone();
            work.tracker.spawn(async move {
                shared.handle(delivery).await;
                drop(permit);
            });
        }
    }

    /// Declares the exchanges, queues and bindings, and starts consuming.
    async fn declare(
        &self,
        connection: &lapin::Connection,
    ) -> lapin::Result<(Channel, Vec<Consumer>)> {
        let channel = connection.create_channel().await?;
        if self.settings.prefetch > 0 {
            let qos = BasicQosOptions::default();
            channel.basic_qos(self.settings.prefetch, qos).await?;
        }
        let topic = &self.target.topic;
        let topic_exchange = self.settings.topic_exchange(&self.exchange);
        topic_exchange.declare(&channel).await?;
        let fanout_exchange = ExchangeSpec::fanout(topic);
        fanout_exchange.declare(&channel).await?;

        let shared_queue = QueueSpec {
            name: topic.clone(),
            durable: self.settings.durable,
            auto_delete: self.settings.auto_delete,
            args: self.settings.topic_queue_args.clone(),
        };
        let server_queue = QueueSpec {
            name: self.target.routing_key(),
            ..shared_queue.clone()
        };
        let fanout_queue = QueueSpec {
            name: self.fanout_queue.clone(),
            durable: false,
            auto_delete: false,
            args: self.settings.transient_queue_args.clone(),
        };
        let bindings = [
            (&shared_queue, &topic_exchange.name, topic.as_str()),
            (
                &server_queue,
                &topic_exchange.name,
                server_queue.name.as_str(),
            ),
            (&fanout_queue, &fanout_exchange.name, topic.as_str()),
        ];
        let mut consumers = Vec::new();
        for (queue, exchange, routing_key) in bindings {
            queue.declare(&channel).await?;
            let bind = QueueBindOptions::default();
            let args = FieldTable::default();
            channel
                .queue_bind(&queue.name, exchange, routing_key, bind, args)
                .await?;
            let consume = BasicConsumeOptions::default();
            let args = FieldTable::default();
            consumers.push(
                channel
                    .basic_consume(&queue.name, "", consume, args)
                    .await?,
            );
        }
        Ok((channel, consumers))
    }

    /// Handles one delivery: decode, run, reply, acknowledge.
    async fn handle(&self, delivery: Delivery) {
        let request = match wire::unwrap(&delivery.data).and_then(Request::from_message) {
            Ok(request) => request,
            Err(reason) => {
                tracing::warn!(target: LOG_TARGET, %reason, "dropping a malformed RPC message");
                let reject = BasicRejectOptions { requeue: false };
                let _ = delivery.acker.reject(reject).await;
                return;
            }
        };
        if self.already_handled(&request) {
            tracing::debug!(
                target: LOG_TARGET,
                method = %request.method,
                "skipping a request delivered again after it was handled"
            );
            self.acknowledge(&delivery).await;
            return;
        }

        let outcome = self.invoke(&request).await;
        match (&request.msg_id, &request.reply_q) {
            (Some(msg_id), Some(reply_q)) => {
                self.reply(msg_id, reply_q, &request.method, outcome).await;
            }
            _ => {
                if let Err(error) = outcome {
                    tracing::warn!(
                        target: LOG_TARGET,
                        method = %request.method,
                        %error,
                        "RPC cast failed"
                    );
                }
            }
        }
        if let Some(unique_id) = &request.unique_id {
            self.handled
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(unique_id);
        }
        self.acknowledge(&delivery).await;
    }

    fn already_handled(&self, request: &Request) -> bool {
        let handled = self.handled.lock().unwrap_or_else(PoisonError::into_inner);
        request
            .unique_id
            .as_deref()
            .is_some_and(|id| handled.contains(id))
    }

    async fn acknowledge(&self, delivery: &Delivery) {
        if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
            tracing::warn!(
                target: LOG_TARGET,
                %error,
                "could not acknowledge a handled request; the broker will deliver it again"
            );
        }
    }

    /// Runs the request's handler, sending call-monitor heartbeats while
    /// it runs when the caller asked for them.
    async fn invoke(&self, request: &Request) -> Result<Value, RpcError> {
        let namespace = request.namespace.as_deref();
        let handler = match self
            .dispatcher
            .find(&request.method, namespace, &request.version)
        {
            Ok(handler) => handler.clone(),
            Err(error) => {
                tracing::warn!(
                    target: LOG_TARGET,
                    method = %request.method,
                    %error,
                    "cannot dispatch"
                );
                return Err(error);
            }
        };
        let args = Value::Object(request.args.clone());
        let running = AssertUnwindSafe(handler.call(request.context.clone(), args)).catch_unwind();
        let heartbeats = self.heartbeats(request);
        tokio::pin!(running, heartbeats);
        let result = tokio::select! {
            result = &mut running => result,
            () = &mut heartbeats => running.await,
        };
        result.unwrap_or_else(|panic| {
            let message = panic_message(&panic);
            tracing::error!(
                target: LOG_TARGET,
                method = %request.method,
                %message,
                "RPC handler panicked"
            );
            Err(RpcError::new("RpcEndpointPanic", message))
        })
    }

    /// Sends a heartbeat every half of the caller's call-monitor timeout;
    /// returns only if one cannot be sent.
    async fn heartbeats(&self, request: &Request) {
        let (Some(msg_id), Some(reply_q), Some(timeout)) =
            (&request.msg_id, &request.reply_q, request.client_timeout)
        else {
            return std::future::pending().await;
        };
        let interval = timeout.trunc() / 2.0;
        if interval < 1.0 {
            tracing::warn!(
                target: LOG_TARGET,
                timeout,
                "ignoring a call-monitor timeout under 2 s"
            );
            return std::future::pending().await;
        }
        let interval = Duration::from_secs_f64(interval);
        loop {
            tokio::time::sleep(interval).await;
            let beat = Reply {
                msg_id: Some(msg_id.clone()),
                result: Value::Null,
                failure: None,
                ending: false,
                unique_id: None,
            };
            let body = wire::wrap(&beat.to_message());
            let outgoing = reply_outgoing(reply_q, &body);
            let sent = self
                .link
                .publish(&outgoing, crate::deadline::from_now(interval))
                .await;
            if !matches!(sent, Ok(Published::Confirmed)) {
                tracing::debug!(target: LOG_TARGET, msg_id, "stopping call-monitor heartbeats");
                return;
            }
        }
    }

    /// Sends the reply of a call to its reply queue through the default
    /// exchange, trying again while the queue is missing (its client may be
    /// reconnecting) for up to `kombu_missing_consumer_retry_timeout`.
    async fn reply(
        &self,
        msg_id: &str,
        reply_q: &str,
        method: &str,
        outcome: Result<Value, RpcError>,
    ) {
        if self.reply_queue_gone(reply_q) {
            tracing::warn!(
                target: LOG_TARGET,
                reply_q,
                msg_id,
                "reply queue is gone; dropping the reply"
            );
            return;
        }
        let (result, failure) = match outcome {
            Ok(result) => (result, None),
            Err(error) => (Value::Null, Some(error.to_failure_json(method))),
        };
        let reply = Reply {
            msg_id: Some(msg_id.to_string()),
            result,
            failure,
            ending: true,
            unique_id: None,
        };
        let body = wire::wrap(&reply.to_message());
        let outgoing = reply_outgoing(reply_q, &body);
        let deadline = crate::deadline::from_now(self.settings.missing_consumer_timeout);
        loop {
            let problem = match self.link.publish(&outgoing, deadline).await {
                Ok(Published::Confirmed) => return,
                Ok(Published::Returned(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(MISSING_QUEUE_PAUSE).await;
                    continue;
                }
                Ok(Published::Returned(reason)) => {
                    self.remember_gone(reply_q);
                    format!("the reply queue does not exist ({reason})")
                }
                Ok(Published::Refused) => "the broker refused it".to_string(),
                Err(PublishError::Refused(reason) | PublishError::Deadline(reason)) => reason,
            };
            tracing::error!(
                target: LOG_TARGET,
                reply_q,
                msg_id,
                method,
                %problem,
                "could not send an RPC reply; abandoning it"
            );
            return;
        }
    }

    fn reply_queue_gone(&self, reply_q: &str) -> bool {
        let mut gone = self
            .gone_reply_queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        gone.retain(|_, since| since.elapsed() < GONE_QUEUE_MEMORY);
        gone.contains_key(reply_q)
    }

    fn remember_gone(&self, reply_q: &str) {
        let mut gone = self
            .gone_reply_queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        gone.insert(reply_q.to_string(), Instant::now());
    }
}

fn reply_outgoing<'a>(reply_q: &'a str, body: &'a [u8]) -> Outgoing<'a> {
    Outgoing {
        exchange: None,
        routing_key: reply_q,
        body,
        mandatory: true,
        persistent: false,
        expiration: None,
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    crate::periodic::panic_text(panic.as_ref())
        .unwrap_or("the handler panicked")
        .to_string()
}

/// A queue to declare.
#[derive(Clone)]
struct QueueSpec {
    name: String,
    durable: bool,
    auto_delete: bool,
    args: FieldTable,
}

impl QueueSpec {
    async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let options = QueueDeclareOptions {
            durable: self.durable,
            auto_delete: self.auto_delete,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(&self.name, options, self.args.clone())
            .await?;
        Ok(())
    }
}
