//! What can go wrong: failures an endpoint sends back, failures a caller
//! sees, and bad transport settings.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

/// The module oslo.messaging's dispatcher errors live in; Python callers
/// recognise them by it.
pub(crate) const DISPATCHER_MODULE: &str = "oslo_messaging.rpc.dispatcher";

/// The module of failures raised by this runtime rather than by an endpoint.
pub(crate) const RUNTIME_MODULE: &str = "service_runtime.rpc";

/// A failure an endpoint returns to its caller, carried the way
/// oslo.messaging carries a Python exception: class name, module, message,
/// positional and keyword arguments.
///
/// A Python caller re-raises it as that class when the module is `builtins`
/// (so `RpcError::builtin("ValueError", ..)` is a `ValueError` there) or is
/// listed in its `allowed_remote_exmods`, and as
/// `oslo_messaging.RemoteError` otherwise. A Rust caller gets it back as a
/// [`RemoteError`].
///
/// # Examples
///
/// ```
/// use service_runtime::rpc::RpcError;
///
/// let error = RpcError::builtin("ValueError", "count must be positive");
/// assert_eq!(error.class(), "ValueError");
/// assert_eq!(error.module(), "builtins");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RpcError {
    class: String,
    module: String,
    message: String,
    args: Vec<Value>,
    kwargs: Map<String, Value>,
}

impl RpcError {
    /// A failure of class `class` in this runtime's module: Python callers
    /// see an `oslo_messaging.RemoteError` whose `exc_type` is `class`.
    pub fn new(class: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        RpcError {
            class: class.into(),
            module: RUNTIME_MODULE.to_string(),
            args: vec![Value::String(message.clone())],
            message,
            kwargs: Map::new(),
        }
    }

    /// A failure Python callers re-raise as the built-in exception `class`
    /// (`ValueError`, `KeyError`, `RuntimeError`...).
    pub fn builtin(class: impl Into<String>, message: impl Into<String>) -> Self {
        RpcError::new(class, message).with_module("builtins")
    }

    /// Sets the Python module of the exception class, for callers that
    /// allow it in `allowed_remote_exmods` and rebuild the exception.
    pub fn with_module(mut self, module: impl Into<String>) -> Self {
        self.module = module.into();
        self
    }

    /// Sets the positional arguments a Python caller builds the exception
    /// with (by default the message alone).
    pub fn with_args(mut self, args: Vec<Value>) -> Self {
        self.args = args;
        self
    }

    /// Sets the keyword arguments a Python caller builds the exception with.
    pub fn with_kwargs(mut self, kwargs: Map<String, Value>) -> Self {
        self.kwargs = kwargs;
        self
    }

    /// The exception class name.
    pub fn class(&self) -> &str {
        &self.class
    }

    /// The exception's Python module.
    pub fn module(&self) -> &str {
        &self.module
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The serialized failure oslo.messaging puts in a reply's `failure`.
    pub(crate) fn to_failure_json(&self, method: &str) -> String {
        let traceback = format!(
            "{}: {} (raised by RPC method `{method}` of a Rust endpoint)\n",
            self.class, self.message
        );
        let failure = serde_json::json!({
            "class": self.class,
            "module": self.module,
            "message": self.message,
            "tb": [traceback],
            "args": self.args,
            "kwargs": self.kwargs,
        });
        failure.to_string()
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}: {}", self.module, self.class, self.message)
    }
}

impl std::error::Error for RpcError {}

impl From<anyhow::Error> for RpcError {
    /// Any other error becomes an `RpcEndpointError` carrying its message
    /// and causes.
    fn from(error: anyhow::Error) -> Self {
        RpcError::new("RpcEndpointError", format!("{error:#}"))
    }
}

/// A failure raised by the remote endpoint of a call, as it came back.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteError {
    /// The exception class name (`ValueError`, `NoSuchMethod`...).
    pub class: String,
    /// The exception's Python module (`builtins`, ...).
    pub module: String,
    /// The exception message.
    pub message: String,
    /// The remote traceback, one entry per line group.
    pub traceback: Vec<String>,
    /// Positional arguments of the exception.
    pub args: Vec<Value>,
    /// Keyword arguments of the exception.
    pub kwargs: Map<String, Value>,
}

impl RemoteError {
    /// Reads oslo.messaging's serialized failure; `None` when it is not
    /// one.
    pub(crate) fn from_failure_json(text: &str) -> Option<RemoteError> {
        let Value::Object(failure) = serde_json::from_str(text).ok()? else {
            return None;
        };
        let text = |key: &str| failure.get(key).and_then(Value::as_str).unwrap_or("");
        let traceback = match failure.get("tb") {
            Some(Value::Array(lines)) => lines
                .iter()
                .map(|line| line.as_str().unwrap_or_default().to_string())
                .collect(),
            Some(Value::String(line)) => vec![line.clone()],
            _ => Vec::new(),
        };
        Some(RemoteError {
            class: text("class").to_string(),
            module: text("module").to_string(),
            message: text("message").to_string(),
            traceback,
            args: match failure.get("args") {
                Some(Value::Array(args)) => args.clone(),
                _ => Vec::new(),
            },
            kwargs: match failure.get("kwargs") {
                Some(Value::Object(kwargs)) => kwargs.clone(),
                _ => Map::new(),
            },
        })
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "remote {}.{}: {}", self.module, self.class, self.message)
    }
}

/// Why a call or a cast failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The endpoint ran and failed; its failure is attached.
    #[error("{0}")]
    Remote(RemoteError),

    /// No reply came within the call's timeout. The request may or may not
    /// have been handled.
    #[error(
        "no reply to `{method}` on topic `{topic}` within {}s \
         (message id {msg_id})",
        timeout.as_secs_f64()
    )]
    Timeout {
        /// The topic called.
        topic: String,
        /// The method called.
        method: String,
        /// The message id of the request.
        msg_id: String,
        /// The timeout that passed.
        timeout: Duration,
    },

    /// The call-monitor heartbeats of the server stopped: the server
    /// handling the request is gone.
    #[error(
        "the server handling `{method}` on topic `{topic}` stopped sending \
         heartbeats for {}s (message id {msg_id})",
        timeout.as_secs_f64()
    )]
    ServerGone {
        /// The topic called.
        topic: String,
        /// The method called.
        method: String,
        /// The message id of the request.
        msg_id: String,
        /// The call-monitor timeout that passed.
        timeout: Duration,
    },

    /// The broker accepted the message but no queue was bound to receive
    /// it: no server listens on that topic (or server, or fanout).
    #[error(
        "no queue receives messages for `{routing_key}` on exchange `{exchange}`: \
         is a server listening? (broker said: {reason})"
    )]
    NoRoute {
        /// The exchange published to.
        exchange: String,
        /// The routing key used.
        routing_key: String,
        /// The broker's reply text.
        reason: String,
    },

    /// The broker refused the message (a negative publisher confirm).
    #[error("the broker refused the message for `{routing_key}` on exchange `{exchange}`")]
    Refused {
        /// The exchange published to.
        exchange: String,
        /// The routing key used.
        routing_key: String,
    },

    /// The message could not be handed to the broker before the deadline.
    #[error("could not send to the broker within {}s: {reason}", timeout.as_secs_f64())]
    Unreachable {
        /// How long sending was tried.
        timeout: Duration,
        /// The last error seen.
        reason: String,
    },

    /// The broker rejected an operation for good (for example an exchange
    /// that exists with different settings).
    #[error("the broker rejected the request: {0}")]
    Broker(String),

    /// The call cannot be made as asked.
    #[error("invalid call: {0}")]
    Invalid(String),

    /// The transport was closed.
    #[error("the transport is closed")]
    Closed,
}

/// Bad transport settings, found before anything is sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// `transport_url` does not parse.
    #[error("invalid transport_url: {reason}")]
    InvalidUrl {
        /// What was wrong and what was expected.
        reason: String,
    },

    /// A setting this implementation does not support.
    #[error("unsupported setting: {0}")]
    Unsupported(String),

    /// A target or endpoint table that cannot work.
    #[error("{0}")]
    Invalid(String),
}

/// Why an RPC server stopped other than by being asked to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The broker refused the server's queues or exchanges for good (for
    /// example a queue that exists with different settings).
    #[error("the broker refused the server's setup: {0}")]
    Setup(String),
}
