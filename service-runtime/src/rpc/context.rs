//! The request context that travels with every message.

use serde_json::{Map, Value};

/// The caller's context of a request: a JSON object carried next to the
/// method's arguments (oslo.messaging packs each entry as a `_context_<key>`
/// field), typically `request_id`, `user_id`, `project_id`...
///
/// A server's endpoints receive the caller's context; a client sends the one
/// it is given.
///
/// # Examples
///
/// ```
/// use service_runtime::rpc::RpcContext;
///
/// let ctx = RpcContext::new().with("request_id", "req-1");
/// assert_eq!(ctx.get("request_id").and_then(|v| v.as_str()), Some("req-1"));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RpcContext {
    values: Map<String, Value>,
    pub(crate) msg_id: Option<String>,
}

impl RpcContext {
    /// An empty context.
    pub fn new() -> Self {
        RpcContext::default()
    }

    /// A context holding `values`.
    pub fn from_values(values: Map<String, Value>) -> Self {
        RpcContext {
            values,
            msg_id: None,
        }
    }

    /// Adds or replaces the entry `key`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.values.insert(key.into(), value.into());
        self
    }

    /// The entry `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// Every entry.
    pub fn values(&self) -> &Map<String, Value> {
        &self.values
    }

    /// On a server: whether the caller waits for a reply (a call rather than
    /// a cast).
    pub fn is_call(&self) -> bool {
        self.msg_id.is_some()
    }
}
