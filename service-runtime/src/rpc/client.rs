//! The RPC client: calls that wait for a reply, casts that do not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connection::{
    Connector, ExchangeSpec, Link, Outgoing, PublishError, Published, Settings,
};
use super::context::RpcContext;
use super::error::{CallError, RemoteError};
use super::target::Target;
use super::transport::{RecentIds, Transport};
use super::version::version_is_compatible;
use super::wire::{self, OutgoingRequest, Reply};

const LOG_TARGET: &str = "service_runtime::rpc";

/// Reply ids remembered to drop a reply delivered twice.
const SEEN_REPLIES: usize = 256;

/// Sends requests to the servers of a [`Target`], like oslo.messaging's
/// `RPCClient`.
///
/// A call publishes the request with the `mandatory` flag, so that a topic
/// no server listens on fails at once with [`CallError::NoRoute`] rather
/// than after the timeout, then waits for the reply on the transport's reply
/// queue. A cast returns once the broker confirmed it took the message.
/// Both retry over broker reconnections until the client's timeout.
///
/// # Examples
///
/// ```no_run
/// use service_runtime::rpc::{RpcClient, RpcContext, Target, Transport};
/// use serde_json::json;
///
/// # async fn demo(transport: Transport) -> Result<(), Box<dyn std::error::Error>> {
/// let client = RpcClient::new(&transport, Target::topic("compute"));
/// let ctx = RpcContext::new().with("request_id", "req-42");
/// let answer = client.call(&ctx, "echo", json!({"text": "hi"})).await?;
/// client
///     .prepare(|target| target.fanout(true))
///     .cast(&ctx, "refresh", json!({}))
///     .await?;
/// # let _ = answer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RpcClient {
    transport: Transport,
    target: Target,
    timeout: Option<Duration>,
    call_monitor_timeout: Option<Duration>,
    version_cap: Option<String>,
    at_least_once: bool,
}

impl RpcClient {
    /// A client of `target` over `transport`.
    pub fn new(transport: &Transport, target: Target) -> Self {
        RpcClient {
            transport: transport.clone(),
            target,
            timeout: None,
            call_monitor_timeout: None,
            version_cap: None,
            at_least_once: false,
        }
    }

    /// The target requests go to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// A copy of this client with its target changed by `adjust`, as
    /// oslo.messaging's `prepare(server=..., fanout=..., version=...)`.
    pub fn prepare(&self, adjust: impl FnOnce(Target) -> Target) -> RpcClient {
        let mut client = self.clone();
        client.target = adjust(client.target);
        client
    }

    /// How long a call waits for its reply, and a call or cast for the
    /// broker, instead of the transport's `rpc_response_timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Asks the server to send a heartbeat every half of `timeout` while it
    /// handles a call, and fails the call with [`CallError::ServerGone`]
    /// when none comes for `timeout`: a long call then fails soon after its
    /// server dies instead of at the end of its timeout.
    pub fn call_monitor_timeout(mut self, timeout: Duration) -> Self {
        self.call_monitor_timeout = Some(timeout);
        self
    }

    /// Refuses to send requests whose target version is not compatible
    /// with `cap`, for rolling upgrades.
    pub fn version_cap(mut self, cap: impl Into<String>) -> Self {
        self.version_cap = Some(cap.into());
        self
    }

    /// Makes casts fail with [`CallError::NoRoute`] when no queue receives
    /// them (oslo.messaging's `TransportOptions(at_least_once=True)`).
    /// Calls always do.
    pub fn at_least_once(mut self, enabled: bool) -> Self {
        self.at_least_once = enabled;
        self
    }

    /// Calls `method` with keyword arguments `args` (a JSON object, or
    /// null for none) and returns its result.
    ///
    /// # Errors
    ///
    /// The endpoint's failure as [`CallError::Remote`]; no reply in time;
    /// no server listening; the broker unreachable until the timeout.
    pub async fn call(
        &self,
        ctx: &RpcContext,
        method: &str,
        args: Value,
    ) -> Result<Value, CallError> {
        if self.target.fanout {
            return Err(CallError::Invalid(
                "a call cannot be sent to a fanout target".into(),
            ));
        }
        let Sending {
            args,
            timeout,
            deadline,
            session,
        } = self.begin(method, args).await?;

        let msg_id = wire::unique_hex();
        let mut waiter = session.wait_for(&msg_id);
        let monitor = self.call_monitor_timeout.map(|t| t.as_secs_f64().ceil());
        let reply = Some((msg_id.as_str(), session.reply_queue.as_str(), monitor));
        let request = self.request(ctx, method, args, reply);
        let body = wire::wrap(&request.to_message());
        let exchange = self.exchange();
        let routing_key = self.target.routing_key();
        let outgoing = Outgoing {
            exchange: Some(&exchange),
            routing_key: &routing_key,
            body: &body,
            mandatory: true,
            persistent: self.transport.settings().durable,
            expiration: Some(timeout),
        };
        let published = session.link.publish(&outgoing, deadline).await;
        check_published(published, &exchange.name, &routing_key, timeout)?;

        let wait = ReplyWait {
            topic: &self.target.topic,
            method,
            msg_id: &msg_id,
            timeout,
            deadline,
            monitor: self.call_monitor_timeout,
        };
        wait.run(&mut waiter.replies).await
    }

    /// Sends `method` with keyword arguments `args` without waiting for it
    /// to run: to one server of the topic, to the named server, or to every
    /// server with a fanout target.
    ///
    /// # Errors
    ///
    /// The broker unreachable until the timeout, a refusal, or (with
    /// [`RpcClient::at_least_once`]) no queue receiving the message.
    pub async fn cast(&self, ctx: &RpcContext, method: &str, args: Value) -> Result<(), CallError> {
        let Sending {
            args,
            timeout,
            deadline,
            session,
        } = self.begin(method, args).await?;

        let request = self.request(ctx, method, args, None);
        let body = wire::wrap(&request.to_message());
        let (exchange, routing_key, persistent) = if self.target.fanout {
            let exchange = ExchangeSpec::fanout(&self.target.topic);
            (exchange, self.target.topic.clone(), false)
        } else {
            let persistent = self.transport.settings().durable;
            (self.exchange(), self.target.routing_key(), persistent)
        };
        let outgoing = Outgoing {
            exchange: Some(&exchange),
            routing_key: &routing_key,
            body: &body,
            mandatory: self.at_least_once,
            persistent,
            expiration: None,
        };
        let published = session.link.publish(&outgoing, deadline).await;
        check_published(published, &exchange.name, &routing_key, timeout)
    }

    /// What a call and a cast both start with: the checked arguments, the
    /// timeout and its deadline, and the broker session to send on.
    async fn begin(&self, method: &str, args: Value) -> Result<Sending, CallError> {
        let args = self.check(method, args)?;
        let timeout = self.effective_timeout();
        let session = self
            .transport
            .client_session()
            .await
            .ok_or(CallError::Closed)?;
        Ok(Sending {
            args,
            timeout,
            deadline: crate::deadline::from_now(timeout),
            session,
        })
    }

    /// The request for `method` to this client's target.
    fn request<'a>(
        &'a self,
        ctx: &'a RpcContext,
        method: &'a str,
        args: Map<String, Value>,
        reply: Option<(&'a str, &'a str, Option<f64>)>,
    ) -> OutgoingRequest<'a> {
        OutgoingRequest {
            method,
            args,
            namespace: self.target.namespace.as_deref(),
            version: self.target.version.as_deref(),
            context: ctx,
            reply,
        }
    }

    fn effective_timeout(&self) -> Duration {
        self.timeout.unwrap_or(self.transport.response_timeout())
    }

    fn exchange(&self) -> ExchangeSpec {
        let name = match &self.target.exchange {
            Some(exchange) => exchange.as_str(),
            None => self.transport.control_exchange(),
        };
        self.transport.settings().topic_exchange(name)
    }

    fn check(&self, method: &str, args: Value) -> Result<Map<String, Value>, CallError> {
        if self.target.topic.is_empty() {
            return Err(CallError::Invalid("the target has no topic".into()));
        }
        if method.is_empty() {
            return Err(CallError::Invalid("the method name is empty".into()));
        }
        if let (Some(cap), Some(version)) = (&self.version_cap, &self.target.version) {
            let compatible = version_is_compatible(cap, version).map_err(CallError::Invalid)?;
            if !compatible {
                return Err(CallError::Invalid(format!(
                    "version {version} is above the version cap {cap}: expected the same \
                     major version and no greater minor version"
                )));
            }
        }
        match args {
            Value::Object(args) => Ok(args),
            Value::Null => Ok(Map::new()),
            other => Err(CallError::Invalid(format!(
                "expected the arguments as a JSON object of keyword arguments, found {other}"
            ))),
        }
    }
}

fn check_published(
    published: Result<Published, PublishError>,
    exchange: &str,
    routing_key: &str,
    timeout: Duration,
) -> Result<(), CallError> {
    match published {
        Ok(Published::Confirmed) => Ok(()),
        Ok(Published::Returned(reason)) => Err(CallError::NoRoute {
            exchange: exchange.to_string(),
            routing_key: routing_key.to_string(),
            reason,
        }),
        Ok(Published::Refused) => Err(CallError::Refused {
            exchange: exchange.to_string(),
            routing_key: routing_key.to_string(),
        }),
        Err(PublishError::Refused(reason)) => Err(CallError::Broker(reason)),
        Err(PublishError::Deadline(reason)) => Err(CallError::Unreachable { timeout, reason }),
    }
}

/// Waiting for the replies of one call.
struct ReplyWait<'a> {
    topic: &'a str,
    method: &'a str,
    msg_id: &'a str,
    timeout: Duration,
    deadline: Instant,
    monitor: Option<Duration>,
}

impl ReplyWait<'_> {
    /// Reads replies until the ending one. Older servers send the result
    /// first and an empty ending reply after; call-monitor heartbeats are
    /// non-ending replies without a result.
    async fn run(&self, replies: &mut mpsc::UnboundedReceiver<Reply>) -> Result<Value, CallError> {
        let mut result = Value::Null;
        let mut heard = Instant::now();
        loop {
            let monitor_deadline = self
                .monitor
                .map(|monitor| crate::deadline::after(heard, monitor));
            let wake = monitor_deadline.map_or(self.deadline, |m| m.min(self.deadline));
            let reply = match tokio::time::timeout_at(wake, replies.recv()).await {
                Ok(Some(reply)) => reply,
                Ok(None) => return Err(CallError::Closed),
                Err(_) if wake < self.deadline => return Err(self.server_gone()),
                Err(_) => return Err(self.timed_out()),
            };
            heard = Instant::now();
            if let Some(failure) = reply.failure {
                return Err(CallError::Remote(remote_error(&failure)));
            }
            if reply.ending {
                return Ok(if reply.result.is_null() {
                    result
                } else {
                    reply.result
                });
            }
            if !reply.result.is_null() {
                result = reply.result;
            }
        }
    }

    fn timed_out(&self) -> CallError {
        CallError::Timeout {
            topic: self.topic.to_string(),
            method: self.method.to_string(),
            msg_id: self.msg_id.to_string(),
            timeout: self.timeout,
        }
    }

    fn server_gone(&self) -> CallError {
        CallError::ServerGone {
            topic: self.topic.to_string(),
            method: self.method.to_string(),
            msg_id: self.msg_id.to_string(),
            timeout: self.monitor.unwrap_or_default(),
        }
    }
}

fn remote_error(failure: &str) -> RemoteError {
    RemoteError::from_failure_json(failure).unwrap_or_else(|| RemoteError {
        class: "RemoteError".into(),
        module: String::new(),
        message: failure.to_string(),
        traceback: Vec::new(),
        args: Vec::new(),
        kwargs: Map::new(),
    })
}

/// The connection and reply queue the clients of one transport share.
#[derive(Debug)]
pub(crate) struct ClientSession {
    pub(crate) link: Link,
    pub(crate) reply_queue: String,
    waiters: Mutex<HashMap<String, mpsc::UnboundedSender<Reply>>>,
    seen: Mutex<RecentIds>,
    finished: CancellationToken,
}

/// A registered call; unregisters itself when dropped.
struct Waiter<'a> {
    session: &'a ClientSession,
    msg_id: String,
    replies: mpsc::UnboundedReceiver<Reply>,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.session.waiters().remove(&self.msg_id);
    }
}

impl ClientSession {
    /// Starts connecting in the background.
    pub(crate) fn start(settings: Arc<Settings>, cancel: CancellationToken) -> Arc<ClientSession> {
        let session = Arc::new(ClientSession {
            link: Link::new(),
            reply_queue: format!("reply_{}", wire::unique_hex()),
            waiters: Mutex::new(HashMap::new()),
            seen: Mutex::new(RecentIds::new(SEEN_REPLIES)),
            finished: CancellationToken::new(),
        });
        let connector = Connector::new(settings.clone());
        tokio::spawn(session.clone().supervise(connector, settings, cancel));
        session
    }

    pub(crate) fn connections(&self) -> u64 {
        self.link.connections()
    }

    /// Waits until the session closed its connection.
    pub(crate) async fn closed(&self) {
        self.finished.cancelled().await;
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<Reply>>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_for(&self, msg_id: &str) -> Waiter<'_> {
        let (sender, replies) = mpsc::unbounded_channel();
        self.waiters().insert(msg_id.to_string(), sender);
        Waiter {
            session: self,
            msg_id: msg_id.to_string(),
            replies,
        }
    }

    /// Keeps the reply queue consumed, reconnecting whenever the
    /// connection is lost, until `cancel` fires.
    async fn supervise(
        self: Arc<Self>,
        connector: Connector,
        settings: Arc<Settings>,
        cancel: CancellationToken,
    ) {
        let mut setup_failures = 0;
        while let Some(connection) = connector.connect("rpc client", &cancel).await {
            match self.consume_replies(connection, &settings, &cancel).await {
                Ok(()) => break,
                Err((error, consumed)) => {
                    self.link.clear();
                    tracing::warn!(
                        target: LOG_TARGET,
                        %error,
                        "lost the RPC client's broker connection"
                    );
                    setup_failures = if consumed { 0 } else { setup_failures + 1 };
                    if setup_failures > 0 {
                        let wait =
                            settings
                                .retry
                                .wait(setup_failures - 1, rand::random(), rand::random());
                        tokio::select! {
                            _ = cancel.cancelled() => break,
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                }
            }
        }
        self.link.clear();
        self.waiters().clear();
        self.finished.cancel();
    }

    /// Declares the reply queue and routes replies to their calls until
    /// the connection fails (`Err`, with whether consuming had started) or
    /// `cancel` fires (`Ok`, after deleting the queue).
    async fn consume_replies(
        &self,
        connection: lapin::Connection,
        settings: &Settings,
        cancel: &CancellationToken,
    ) -> Result<(), (String, bool)> {
        let setup = |error: lapin::Error| (error.to_string(), false);
        let channel = connection.create_channel().await.map_err(setup)?;
        let declare = QueueDeclareOptions::default();
        let args = settings.transient_queue_args.clone();
        channel
            .queue_declare(&self.reply_queue, declare, args)
            .await
            .map_err(setup)?;
        let consume = BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        };
        let mut consumer = channel
            .basic_consume(&self.reply_queue, "", consume, FieldTable::default())
            .await
            .map_err(setup)?;
        let live = self.link.set(connection);

        loop {
            tokio::select! {
                _ = cancel.cancelled() => {
                    let delete = QueueDeleteOptions::default();
                    let _ = channel.queue_delete(&self.reply_queue, delete).await;
                    live.close().await;
                    return Ok(());
                }
                delivery = consumer.next() => match delivery {
                    Some(Ok(delivery)) => self.route(&delivery.data),
                    Some(Err(error)) => return Err((error.to_string(), true)),
                    None => return Err(("the broker cancelled the reply consumer".into(), true)),
                },
            }
        }
    }

    /// Hands one reply to the call waiting for it.
    fn route(&self, body: &[u8]) {
        let reply = match wire::unwrap(body) {
            Ok(message) => Reply::from_message(message),
            Err(reason) => {
                tracing::warn!(target: LOG_TARGET, %reason, "dropping a malformed RPC reply");
                return;
            }
        };
        if let Some(unique_id) = &reply.unique_id {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if !seen.insert(unique_id) {
                tracing::debug!(target: LOG_TARGET, unique_id, "dropping a reply received twice");
                return;
            }
        }
        let Some(msg_id) = reply.msg_id.clone() else {
            tracing::warn!(target: LOG_TARGET, "dropping an RPC reply without `_msg_id`");
            return;
        };
        match self.waiters().get(&msg_id) {
            Some(sender) => {
                let _ = sender.send(reply);
            }
            None => tracing::debug!(
                target: LOG_TARGET,
                msg_id,
                "dropping a reply no call waits for (it timed out)"
            ),
        }
    }
}

/// The common start of a call and a cast (see `RpcClient::begin`).
struct Sending {
    args: Map<String, Value>,
    timeout: Duration,
    deadline: Instant,
    session: Arc<ClientSession>,
}
