//! Broker connections: connecting with failover and back-off, the current
//! live connection of a server or client, and publishing with publisher
//! confirms across reconnections.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::protocol::AMQPErrorKind;
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::{
    AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo, SASLMechanism,
};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ErrorKind, ExchangeKind};
use rand::Rng;
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::TransportError;
use super::options::{MessagingOpts, RabbitOpts};
use super::url::{BrokerHost, TransportUrl};

/// How long one TCP connect and AMQP handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause before publishing again on a connection that is still up after a
/// channel failed.
const CHANNEL_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Everything a server or client needs from the options, checked once.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) url: TransportUrl,
    pub(crate) control_exchange: String,
    pub(crate) response_timeout: Duration,
    pub(crate) max_concurrent: usize,
    pub(crate) ping_enabled: bool,
    /// Topic exchange and topic queues are durable, messages persistent.
    pub(crate) durable: bool,
    pub(crate) auto_delete: bool,
    pub(crate) topic_queue_args: FieldTable,
    pub(crate) transient_queue_args: FieldTable,
    pub(crate) prefetch: u16,
    pub(crate) missing_consumer_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) heartbeat: u16,
    pub(crate) login: SASLMechanism,
    pub(crate) shuffle: bool,
}

impl Settings {
    pub(crate) fn new(
        messaging: &MessagingOpts,
        rabbit: &RabbitOpts,
    ) -> Result<Settings, TransportError> {
        if rabbit.ssl {
            return Err(TransportError::Unsupported(
                "[oslo_messaging_rabbit] ssl = true: TLS connections to the broker are not \
                 supported yet; expected ssl = false"
                    .into(),
            ));
        }
        if rabbit.rabbit_quorum_queue && rabbit.rabbit_ha_queues {
            return Err(TransportError::Invalid(
                "[oslo_messaging_rabbit] rabbit_quorum_queue and rabbit_ha_queues are both \
                 true: expected at most one kind of replicated queue"
                    .into(),
            ));
        }
        let login = match rabbit.rabbit_login_method.as_str() {
            "PLAIN" => SASLMechanism::Plain,
            _ => SASLMechanism::AMQPlain,
        };
        Ok(Settings {
            url: TransportUrl::parse(&messaging.transport_url)?,
            control_exchange: messaging.control_exchange.clone(),
            response_timeout: Duration::from_secs(messaging.rpc_response_timeout),
            max_concurrent: messaging.executor_thread_pool_size as usize,
            ping_enabled: messaging.rpc_ping_enabled,
            durable: rabbit.amqp_durable_queues || rabbit.rabbit_quorum_queue,
            auto_delete: rabbit.amqp_auto_delete,
            topic_queue_args: topic_queue_args(rabbit),
            transient_queue_args: transient_queue_args(rabbit),
            prefetch: rabbit.rabbit_qos_prefetch_count,
            missing_consumer_timeout: Duration::from_secs(
                rabbit.kombu_missing_consumer_retry_timeout,
            ),
            retry: RetryPolicy::from_opts(rabbit),
            heartbeat: rabbit.heartbeat_timeout_threshold,
            login,
            shuffle: rabbit.kombu_failover_strategy == "shuffle",
        })
    }

    /// The exchange of a non-fanout target.
    pub(crate) fn topic_exchange(&self, name: &str) -> ExchangeSpec {
        ExchangeSpec {
            name: name.to_string(),
            kind: ExchangeKind::Topic,
            durable: self.durable,
            auto_delete: self.auto_delete,
        }
    }
}

/// Arguments of topic queues: replication only.
fn topic_queue_args(rabbit: &RabbitOpts) -> FieldTable {
    let mut args = FieldTable::default();
    if rabbit.rabbit_ha_queues {
        args.insert("x-ha-policy".into(), long_string("all"));
    }
    if rabbit.rabbit_quorum_queue {
        args.insert("x-queue-type".into(), long_string("quorum"));
        let limits = [
            ("x-delivery-limit", rabbit.rabbit_quorum_delivery_limit),
            (
                "x-max-in-memory-length",
                rabbit.rabbit_quorum_max_memory_length,
            ),
            (
                "x-max-in-memory-bytes",
                rabbit.rabbit_quorum_max_memory_bytes,
            ),
        ];
        for (name, value) in limits.into_iter().filter(|(_, value)| *value > 0) {
            args.insert(name.into(), AMQPValue::LongLongInt(value as i64));
        }
    }
    args
}

/// Arguments of reply and fanout queues: replication and expiry.
fn transient_queue_args(rabbit: &RabbitOpts) -> FieldTable {
    let mut args = FieldTable::default();
    if rabbit.rabbit_ha_queues {
        args.insert("x-ha-policy".into(), long_string("all"));
    }
    if rabbit.rabbit_transient_queues_ttl > 0 {
        let millis = rabbit.rabbit_transient_queues_ttl.saturating_mul(1000);
        args.insert("x-expires".into(), AMQPValue::LongLongInt(millis as i64));
    }
    args
}

fn long_string(text: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(text))
}

/// The waits between reconnection attempts, as oslo.messaging spaces them,
/// with jitter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RetryPolicy {
    pub(crate) interval: Duration,
    pub(crate) backoff: Duration,
    pub(crate) max: Duration,
    pub(crate) delay: Duration,
    pub(crate) splay: Duration,
}

impl RetryPolicy {
    fn from_opts(rabbit: &RabbitOpts) -> Self {
        RetryPolicy {
            interval: Duration::from_secs(rabbit.rabbit_retry_interval),
            backoff: Duration::from_secs(rabbit.rabbit_retry_backoff),
            max: Duration::from_secs(rabbit.rabbit_interval_max),
            delay: Duration::from_secs_f64(rabbit.kombu_reconnect_delay),
            splay: Duration::from_secs_f64(rabbit.kombu_reconnect_splay),
        }
    }

    /// The wait after the `failures`-th failed attempt in a row (from 0):
    /// `interval + failures × backoff`, at most `max`, scaled by a random
    /// factor between one half and one (`jitter`, from 0 to 1), plus the
    /// fixed `delay` and up to `splay` more (`splay_share`, from 0 to 1).
    pub(crate) fn wait(&self, failures: u32, jitter: f64, splay_share: f64) -> Duration {
        let linear = self.interval + self.backoff.saturating_mul(failures);
        let base = linear.min(self.max);
        let jittered = base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        jittered + self.delay + self.splay.mul_f64(splay_share.clamp(0.0, 1.0))
    }
}

/// Opens connections to the brokers of the transport URL, one after the
/// other.
#[derive(Debug)]
pub(crate) struct Connector {
    settings: Arc<Settings>,
    next_host: AtomicUsize,
}

impl Connector {
    pub(crate) fn new(settings: Arc<Settings>) -> Self {
        let start = if settings.shuffle {
            rand::rng().random_range(0..settings.url.hosts.len())
        } else {
            0
        };
        Connector {
            settings,
            next_host: AtomicUsize::new(start),
        }
    }

    /// Connects, trying the brokers in turn and waiting longer after each
    /// failure, until it works or `cancel` fires (then `None`).
    pub(crate) async fn connect(
        &self,
        purpose: &str,
        cancel: &CancellationToken,
    ) -> Option<Connection> {
        let mut failures = 0;
        loop {
            let host = self.pick_host();
            let attempt = tokio::time::timeout(CONNECT_TIMEOUT, self.connect_to(host, purpose));
            let outcome = tokio::select! {
                _ = cancel.cancelled() => return None,
                outcome = attempt => outcome,
            };
            let error = match outcome {
                Ok(Ok(connection)) => {
                    tracing::info!(
                        target: "service_runtime::rpc",
                        broker = %format_args!("{}:{}", host.host, host.port),
                        purpose,
                        "connected to the message broker"
                    );
                    return Some(connection);
                }
                Ok(Err(error)) => error.to_string(),
                Err(_) => format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
            };
            let (jitter, splay) = {
                let mut random = rand::rng();
                (random.random::<f64>(), random.random::<f64>())
            };
            let wait = self.settings.retry.wait(failures, jitter, splay);
            tracing::warn!(
                target: "service_runtime::rpc",
                broker = %format_args!("{}:{}", host.host, host.port),
                purpose,
                %error,
                retry_in_secs = wait.as_secs_f64(),
                "cannot reach the message broker"
            );
            failures = failures.saturating_add(1);
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn pick_host(&self) -> &BrokerHost {
        let hosts = &self.settings.url.hosts;
        let index = if self.settings.shuffle {
            rand::rng().random_range(0..hosts.len())
        } else {
            self.next_host.fetch_add(1, Ordering::Relaxed) % hosts.len()
        };
        &hosts[index]
    }

    async fn connect_to(&self, host: &BrokerHost, purpose: &str) -> lapin::Result<Connection> {
        let uri = AMQPUri {
            scheme: AMQPScheme::AMQP,
            authority: AMQPAuthority {
                userinfo: AMQPUserInfo {
                    username: host.username.clone(),
                    password: host.password.clone(),
                },
                host: host.host.clone(),
                port: host.port,
            },
            vhost: self.settings.url.virtual_host.clone(),
            query: AMQPQueryString {
                heartbeat: Some(self.settings.heartbeat),
                connection_timeout: Some(CONNECT_TIMEOUT.as_millis() as u64),
                auth_mechanism: Some(self.settings.login),
                ..AMQPQueryString::default()
            },
        };
        let name = connection_name(purpose);
        let properties = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio::current())
            .with_connection_name(LongString::from(name));
        Connection::connect_uri(uri, properties).await
    }
}

/// `<program>:<pid>:<purpose>`, shown by `rabbitmqctl list_connections`.
fn connection_name(purpose: &str) -> String {
    let program = std::env::args()
        .next()
        .and_then(|path| {
            let name = std::path::Path::new(&path).file_name()?;
            Some(name.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    format!("{program}:{}:{purpose}", std::process::id())
}

/// An exchange to declare before publishing to it.
#[derive(Clone, Debug)]
pub(crate) struct ExchangeSpec {
    pub(crate) name: String,
    pub(crate) kind: ExchangeKind,
    pub(crate) durable: bool,
    pub(crate) auto_delete: bool,
}

impl ExchangeSpec {
    /// The fanout exchange of `topic`, as oslo.messaging declares it.
    pub(crate) fn fanout(topic: &str) -> Self {
        ExchangeSpec {
            name: format!("{topic}_fanout"),
            kind: ExchangeKind::Fanout,
            durable: false,
            auto_delete: true,
        }
    }

    pub(crate) async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let options = ExchangeDeclareOptions {
            durable: self.durable,
            auto_delete: self.auto_delete,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                &self.name,
                self.kind.clone(),
                options,
                FieldTable::default(),
            )
            .await
    }
}

/// One message to publish.
#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    /// `None` publishes to the default exchange (replies).
    pub(crate) exchange: Option<&'a ExchangeSpec>,
    pub(crate) routing_key: &'a str,
    pub(crate) body: &'a [u8],
    pub(crate) mandatory: bool,
    pub(crate) persistent: bool,
    pub(crate) expiration: Option<Duration>,
}

impl Outgoing<'_> {
    fn exchange_name(&self) -> &str {
        self.exchange.map_or("", |exchange| exchange.name.as_str())
    }

    fn properties(&self) -> BasicProperties {
        let mut properties = BasicProperties::default()
            .with_content_type(ShortString::from("application/json"))
            .with_content_encoding(ShortString::from("utf-8"))
            .with_delivery_mode(if self.persistent { 2 } else { 1 });
        if let Some(expiration) = self.expiration {
            let millis = expiration.as_millis().max(1).to_string();
            properties = properties.with_expiration(ShortString::from(millis));
        }
        properties
    }
}

/// What the broker said about a published message.
#[derive(Debug, PartialEq)]
pub(crate) enum Published {
    /// Taken and routed to at least one queue (or not mandatory).
    Confirmed,
    /// Mandatory and routed nowhere; the broker's reason.
    Returned(String),
    /// Refused (negative confirm).
    Refused,
}

/// An open connection and its publishing channel.
pub(crate) struct Live {
    pub(crate) connection: Connection,
    pub(crate) generation: u64,
    publisher: Mutex<Option<Channel>>,
    declared: std::sync::Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Live {
    /// Publishes one message and waits for the broker's confirm.
    pub(crate) async fn publish(&self, outgoing: &Outgoing<'_>) -> lapin::Result<Published> {
        let confirm = {
            let mut publisher = self.publisher.lock().await;
            let channel = match publisher.as_ref() {
                Some(channel) if channel.status().connected() => channel.clone(),
                _ => {
                    let channel = self.connection.create_channel().await?;
                    channel
                        .confirm_select(ConfirmSelectOptions::default())
                        .await?;
                    *publisher = Some(channel.clone());
                    channel
                }
            };
            if let Some(exchange) = outgoing.exchange {
                self.declare_once(&channel, exchange).await?;
            }
            let options = BasicPublishOptions {
                mandatory: outgoing.mandatory,
                ..BasicPublishOptions::default()
            };
            channel
                .basic_publish(
                    outgoing.exchange_name(),
                    outgoing.routing_key,
                    options,
                    outgoing.body,
                    outgoing.properties(),
                )
                .await?
        };
        Ok(match confirm.await? {
            Confirmation::Ack(Some(returned)) => {
                Published::Returned(returned.reply_text.as_str().to_string())
            }
            Confirmation::Ack(None) | Confirmation::NotRequested => Published::Confirmed,
            Confirmation::Nack(_) => Published::Refused,
        })
    }

    async fn declare_once(&self, channel: &Channel, exchange: &ExchangeSpec) -> lapin::Result<()> {
        let known = |declared: &HashSet<String>| declared.contains(&exchange.name);
        if known(&self.declared.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(());
        }
        exchange.declare(channel).await?;
        let mut declared = self.declared.lock().unwrap_or_else(|e| e.into_inner());
        declared.insert(exchange.name.clone());
        Ok(())
    }

    /// Closes the connection politely; errors mean it was gone already.
    pub(crate) async fn close(&self) {
        let _ = self.connection.close(200, "closing").await;
    }
}

/// Whether an error is the broker refusing an operation (the same request
/// would fail again), as opposed to a lost connection or channel.
pub(crate) fn is_refusal(error: &lapin::Error) -> bool {
    match error.kind() {
        ErrorKind::ProtocolError(amqp) => matches!(amqp.kind(), AMQPErrorKind::Soft(_)),
        _ => false,
    }
}

/// The current connection of one server or client, replaced after each
/// reconnection.
#[derive(Debug)]
pub(crate) struct Link {
    live: watch::Sender<Option<Arc<Live>>>,
    generation: AtomicU64,
}

impl Link {
    pub(crate) fn new() -> Self {
        Link {
            live: watch::Sender::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// Makes `connection` the current one.
    pub(crate) fn set(&self, connection: Connection) -> Arc<Live> {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let live = Arc::new(Live {
            connection,
            generation,
            publisher: Mutex::new(None),
            declared: std::sync::Mutex::new(HashSet::new()),
        });
        self.live.send_replace(Some(live.clone()));
        live
    }

    /// Marks the link as reconnecting.
    pub(crate) fn clear(&self) {
        self.live.send_replace(None);
    }

    /// How many connections were made so far.
    pub(crate) fn connections(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// The current connection if it is newer than `after`, waiting for one
    /// until `deadline`.
    pub(crate) async fn wait_newer(&self, after: u64, deadline: Instant) -> Option<Arc<Live>> {
        let mut receiver = self.live.subscribe();
        let newer = |live: &Option<Arc<Live>>| live.as_ref().is_some_and(|l| l.generation > after);
        let wait = receiver.wait_for(newer);
        match tokio::time::timeout_at(deadline, wait).await {
            Ok(Ok(live)) => live.clone(),
            _ => None,
        }
    }

    /// Publishes `outgoing`, waiting for a connection and trying again on
    /// reconnection, until `deadline`.
    pub(crate) async fn publish(
        &self,
        outgoing: &Outgoing<'_>,
        deadline: Instant,
    ) -> Result<Published, PublishError> {
        let mut after = 0;
        let mut last_error = String::from("not connected to the broker yet");
        loop {
            let Some(live) = self.wait_newer(after, deadline).await else {
                return Err(PublishError::Deadline(last_error));
            };
            match live.publish(outgoing).await {
                Ok(published) => return Ok(published),
                Err(error) if is_refusal(&error) => {
                    return Err(PublishError::Refused(error.to_string()));
                }
                Err(error) => last_error = error.to_string(),
            }
            if live.connection.status().connected() {
                // Only the channel failed: try again on the same connection.
                after = live.generation - 1;
                tokio::time::sleep(CHANNEL_RETRY_PAUSE).await;
            } else {
                after = live.generation;
            }
        }
    }
}

/// Why [`Link::publish`] gave up.
#[derive(Debug)]
pub(crate) enum PublishError {
    /// The broker refused the operation; trying again would not help.
    Refused(String),
    /// The deadline passed; the last error seen.
    Deadline(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            interval: Duration::from_secs(1),
            backoff: Duration::from_secs(2),
            max: Duration::from_secs(30),
            delay: Duration::from_secs(1),
            splay: Duration::from_secs(4),
        }
    }

    #[test]
    fn waits_grow_linearly_up_to_the_maximum() {
        let policy = policy();
        let waits: Vec<u64> = (0..20)
            .map(|failures| policy.wait(failures, 1.0, 0.0).as_secs())
            .collect();
        assert_eq!(&waits[..4], &[2, 4, 6, 8]);
        assert_eq!(waits[19], 31, "30 s at most, plus the fixed delay");
    }

    #[test]
    fn jitter_and_splay_stay_within_their_bounds() {
        let policy = policy();
        assert_eq!(policy.wait(2, 0.0, 0.0), Duration::from_millis(3500));
        assert_eq!(policy.wait(2, 1.0, 1.0), Duration::from_secs(10));
        assert_eq!(policy.wait(2, 7.0, -3.0), Duration::from_secs(6), "clamped");
    }

    #[tokio::test(start_paused = true)]
    async fn publish_without_a_connection_gives_up_at_the_deadline() {
        let link = Link::new();
        let outgoing = Outgoing {
            exchange: None,
            routing_key: "q",
            body: b"{}",
            mandatory: true,
            persistent: false,
            expiration: None,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let error = link.publish(&outgoing, deadline).await.unwrap_err();
        assert!(
            matches!(error, PublishError::Deadline(reason) if reason.contains("not connected"))
        );
        assert_eq!(Instant::now(), deadline);
    }
}
