//! Where a message goes, or what a server listens to.

/// The address of RPC messages, as oslo.messaging's `Target`.
///
/// A server listens on `topic` and `server` (both required) in `exchange`.
/// A client sends to `topic`, to one named `server` of it, or to all its
/// servers with `fanout`; `namespace` and `version` select the interface the
/// request is meant for.
///
/// # Examples
///
/// ```
/// use service_runtime::rpc::Target;
///
/// let target = Target::topic("compute").server("host-1").version("1.3");
/// assert_eq!(target.routing_key(), "compute.host-1");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// The exchange; `None` means the transport's `control_exchange`.
    pub exchange: Option<String>,
    /// The topic.
    pub topic: String,
    /// One server of the topic.
    pub server: Option<String>,
    /// Every server of the topic (casts only).
    pub fanout: bool,
    /// The interface namespace; `None` is the default interface.
    pub namespace: Option<String>,
    /// The interface version the request needs (`major.minor`).
    pub version: Option<String>,
}

impl Target {
    /// A target for `topic`.
    pub fn topic(topic: impl Into<String>) -> Self {
        Target {
            topic: topic.into(),
            ..Target::default()
        }
    }

    /// Addresses one server of the topic.
    pub fn server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }

    /// Uses `exchange` instead of the control exchange.
    pub fn exchange(mut self, exchange: impl Into<String>) -> Self {
        self.exchange = Some(exchange.into());
        self
    }

    /// Addresses every server of the topic.
    pub fn fanout(mut self, fanout: bool) -> Self {
        self.fanout = fanout;
        self
    }

    /// Addresses the interface `namespace`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Asks for interface version `version`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The routing key of a non-fanout message: `topic` or `topic.server`.
    pub fn routing_key(&self) -> String {
        match &self.server {
            Some(server) => format!("{}.{server}", self.topic),
            None => self.topic.clone(),
        }
    }

    /// The fanout exchange of the topic: `<topic>_fanout`.
    pub fn fanout_exchange(&self) -> String {
        format!("{}_fanout", self.topic)
    }
}
