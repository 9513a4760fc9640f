//! The options of the RPC layer, named and grouped as oslo.messaging names
//! them, so that an existing service's configuration file keeps working.

use crate::config_group;

/// Messaging options of the `[DEFAULT]` group.
#[config_group(name = "DEFAULT")]
#[derive(Clone, Debug)]
pub struct MessagingOpts {
    /// Where the message broker is, with credentials:
    /// `rabbit://user:pass@host:port[,user:pass@host2:port2]/virtual_host`.
    /// Several hosts form a cluster tried in turn. `rabbit://` alone means
    /// `guest:guest@localhost:5672`.
    #[opt(default = "rabbit://", secret)]
    pub transport_url: String,

    /// The exchange topics live in when a target names none.
    #[opt(default = "openstack")]
    pub control_exchange: String,

    /// Seconds a call waits for its reply, sending included, before it fails
    /// with a timeout. Also bounds how long a cast waits for the broker.
    #[opt(default = 60, min = 1)]
    pub rpc_response_timeout: u64,

    /// Most requests one RPC server handles at the same time. Further
    /// deliveries wait, unacknowledged, until a handler finishes.
    #[opt(default = 64, min = 1)]
    pub executor_thread_pool_size: u32,

    /// Answer the `oslo_rpc_server_ping` method with `"pong"` on every server.
    #[opt(default = false)]
    pub rpc_ping_enabled: bool,
}

/// Options of the `[oslo_messaging_rabbit]` group.
#[config_group(name = "oslo_messaging_rabbit")]
#[derive(Clone, Debug)]
pub struct RabbitOpts {
    /// Declare the topic exchange and the topic queues durable, and publish
    /// persistent messages to them, so that queued requests survive a broker
    /// restart. Every service sharing an exchange must agree on this value.
    #[opt(default = false)]
    pub amqp_durable_queues: bool,

    /// Declare the topic exchange and the topic queues auto-deleted: the
    /// broker removes a queue when its last consumer leaves.
    #[opt(default = false)]
    pub amqp_auto_delete: bool,

    /// Seconds to wait before the first reconnection attempt.
    #[opt(default = 1, min = 1)]
    pub rabbit_retry_interval: u64,

    /// Seconds added to the wait after each failed reconnection attempt.
    #[opt(default = 2, min = 0)]
    pub rabbit_retry_backoff: u64,

    /// Longest wait, in seconds, between two reconnection attempts.
    #[opt(default = 30, min = 1)]
    pub rabbit_interval_max: u64,

    /// Fixed seconds added to every reconnection wait.
    #[opt(default = 1.0, min = 0.0, max = 4.5)]
    pub kombu_reconnect_delay: f64,

    /// Up to this many random seconds added to every reconnection wait, on
    /// top of the built-in jitter, so that many clients do not reconnect in
    /// step.
    #[opt(default = 0.0, min = 0.0)]
    pub kombu_reconnect_splay: f64,

    /// How the next broker is picked when the current one is lost.
    #[opt(default = "round-robin", choices = ["round-robin", "shuffle"])]
    pub kombu_failover_strategy: String,

    /// Seconds a server keeps trying to deliver a reply whose reply queue is
    /// missing (its client may be reconnecting) before it gives up.
    #[opt(default = 60, min = 0)]
    pub kombu_missing_consumer_retry_timeout: u64,

    /// Seconds of silence after which the broker connection counts as dead.
    /// The broker and the client agree on the lower of both values. 0 asks
    /// for no heartbeat, which the broker may override with its own.
    #[opt(default = 60, min = 0)]
    pub heartbeat_timeout_threshold: u16,

    /// Accepted so that oslo.messaging files load unchanged. Heartbeats are
    /// sent twice per negotiated interval and the connection is dropped
    /// after four silent intervals, whatever this value.
    #[opt(default = 3, min = 1)]
    pub heartbeat_rate: u32,

    /// Unacknowledged requests the broker sends one server ahead of time.
    /// 0 means no limit.
    #[opt(default = 0, min = 0, max = 65535)]
    pub rabbit_qos_prefetch_count: u16,

    /// Seconds an unused reply or fanout queue lives before the broker
    /// removes it (`x-expires`). 0 keeps such queues forever.
    #[opt(default = 1800, min = 0)]
    pub rabbit_transient_queues_ttl: u64,

    /// Ask for mirrored queues (`x-ha-policy: all`, RabbitMQ before 3.0).
    #[opt(default = false)]
    pub rabbit_ha_queues: bool,

    /// Declare topic queues as quorum queues (`x-queue-type: quorum`);
    /// they are then durable whatever `amqp_durable_queues` says.
    #[opt(default = false)]
    pub rabbit_quorum_queue: bool,

    /// Redeliveries of one message a quorum queue allows (0: no limit).
    #[opt(default = 0, min = 0)]
    pub rabbit_quorum_delivery_limit: u64,

    /// Messages a quorum queue keeps in memory (0: no limit).
    #[opt(default = 0, min = 0)]
    pub rabbit_quorum_max_memory_length: u64,

    /// Bytes a quorum queue keeps in memory (0: no limit).
    #[opt(default = 0, min = 0)]
    pub rabbit_quorum_max_memory_bytes: u64,

    /// How to log in: `AMQPLAIN` or `PLAIN` (both send the user and password
    /// of the transport URL).
    #[opt(default = "AMQPLAIN", choices = ["AMQPLAIN", "PLAIN"])]
    pub rabbit_login_method: String,

    /// Connect over TLS. Not supported yet: setting it is an error rather
    /// than a silent plain-text connection.
    #[opt(default = false)]
    pub ssl: bool,
}
