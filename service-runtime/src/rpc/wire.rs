//! The bytes on the wire: oslo.messaging's message envelope, requests and
//! replies.
//!
//! Every message body is a JSON object `{"oslo.version": "2.0",
//! "oslo.message": "<JSON text>"}`; the inner text is the request or reply
//! object. A body without those two keys is read as an unwrapped message
//! (envelope version 1.0), as oslo.messaging does.

use rand::Rng;
use serde_json::{Map, Value};

use super::context::RpcContext;
use super::version::version_is_compatible;

const VERSION_KEY: &str = "oslo.version";
const MESSAGE_KEY: &str = "oslo.message";
const ENVELOPE_VERSION: &str = "2.0";
const CONTEXT_PREFIX: &str = "_context_";

/// 128 random bits as 32 lowercase hex digits, like Python's `uuid4().hex`.
pub(crate) fn unique_hex() -> String {
    let bits: u128 = rand::rng().random();
    format!("{bits:032x}")
}

/// Wraps a message object in the version 2.0 envelope.
pub(crate) fn wrap(message: &Map<String, Value>) -> Vec<u8> {
    let inner = Value::Object(message.clone()).to_string();
    let mut envelope = Map::new();
    envelope.insert(VERSION_KEY.into(), Value::String(ENVELOPE_VERSION.into()));
    envelope.insert(MESSAGE_KEY.into(), Value::String(inner));
    Value::Object(envelope).to_string().into_bytes()
}

/// Reads a message body into its message object.
pub(crate) fn unwrap(body: &[u8]) -> Result<Map<String, Value>, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| format!("expected a JSON message body: {error}"))?;
    let Value::Object(mut outer) = value else {
        return Err("expected a JSON object as message body".into());
    };
    if !(outer.contains_key(VERSION_KEY) && outer.contains_key(MESSAGE_KEY)) {
        return Ok(outer);
    }
    let version = outer[VERSION_KEY].as_str().unwrap_or_default().to_string();
    if !version_is_compatible(ENVELOPE_VERSION, &version).unwrap_or(false) {
        return Err(format!(
            "expected envelope version {ENVELOPE_VERSION}, found `{version}`"
        ));
    }
    let Some(Value::String(inner)) = outer.remove(MESSAGE_KEY) else {
        return Err(format!("expected `{MESSAGE_KEY}` to hold JSON text"));
    };
    match serde_json::from_str(&inner) {
        Ok(Value::Object(message)) => Ok(message),
        Ok(_) => Err(format!("expected `{MESSAGE_KEY}` to hold a JSON object")),
        Err(error) => Err(format!("expected `{MESSAGE_KEY}` to hold JSON: {error}")),
    }
}

/// A request as a server reads it.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) args: Map<String, Value>,
    pub(crate) namespace: Option<String>,
    pub(crate) version: String,
    pub(crate) context: RpcContext,
    pub(crate) msg_id: Option<String>,
    pub(crate) reply_q: Option<String>,
    pub(crate) client_timeout: Option<f64>,
    pub(crate) unique_id: Option<String>,
}

impl Request {
    /// Splits a received message into method, arguments and context.
    pub(crate) fn from_message(mut message: Map<String, Value>) -> Result<Request, String> {
        let mut context = Map::new();
        let context_keys: Vec<String> = message
            .keys()
            .filter(|key| key.starts_with(CONTEXT_PREFIX))
            .cloned()
            .collect();
        for key in context_keys {
            let value = message.remove(&key).unwrap_or(Value::Null);
            context.insert(key[CONTEXT_PREFIX.len()..].to_string(), value);
        }
        let text = |value: Option<Value>| match value {
            Some(Value::String(text)) => Some(text),
            _ => None,
        };
        let msg_id = text(message.remove("_msg_id"));
        let reply_q = text(message.remove("_reply_q"));
        let unique_id = text(message.remove("_unique_id"));
        let client_timeout = message.remove("_timeout").and_then(|value| value.as_f64());

        let method = match message.remove("method") {
            Some(Value::String(method)) => method,
            _ => return Err("expected a `method` string in the request".into()),
        };
        let args = match message.remove("args") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(args)) => args,
            Some(_) => return Err("expected `args` to be a JSON object".into()),
        };
        let namespace = text(message.remove("namespace"));
        let version = text(message.remove("version")).unwrap_or_else(|| "1.0".into());
        let mut context = RpcContext::from_values(context);
        context.msg_id = msg_id.clone();
        Ok(Request {
            method,
            args,
            namespace,
            version,
            context,
            msg_id,
            reply_q,
            client_timeout,
            unique_id,
        })
    }
}

/// What a client puts in a request, before the envelope.
pub(crate) struct OutgoingRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) args: Map<String, Value>,
    pub(crate) namespace: Option<&'a str>,
    pub(crate) version: Option<&'a str>,
    pub(crate) context: &'a RpcContext,
    /// `(msg_id, reply_q, call-monitor seconds)` of a call.
    pub(crate) reply: Option<(&'a str, &'a str, Option<f64>)>,
}

impl OutgoingRequest<'_> {
    pub(crate) fn to_message(&self) -> Map<String, Value> {
        let mut message = Map::new();
        message.insert("method".into(), Value::String(self.method.into()));
        message.insert("args".into(), Value::Object(self.args.clone()));
        if let Some(namespace) = self.namespace {
            message.insert("namespace".into(), Value::String(namespace.into()));
        }
        if let Some(version) = self.version {
            message.insert("version".into(), Value::String(version.into()));
        }
        if let Some((msg_id, reply_q, monitor)) = self.reply {
            message.insert("_msg_id".into(), Value::String(msg_id.into()));
            message.insert("_reply_q".into(), Value::String(reply_q.into()));
            let monitor = monitor.map_or(Value::Null, Value::from);
            message.insert("_timeout".into(), monitor);
        }
        message.insert("_unique_id".into(), Value::String(unique_hex()));
        for (key, value) in self.context.values() {
            message.insert(format!("{CONTEXT_PREFIX}{key}"), value.clone());
        }
        message
    }
}

/// One reply message of a call.
#[derive(Debug, PartialEq)]
pub(crate) struct Reply {
    pub(crate) msg_id: Option<String>,
    pub(crate) result: Value,
    /// oslo.messaging's serialized failure (JSON text).
    pub(crate) failure: Option<String>,
    /// `false` on call-monitor heartbeats.
    pub(crate) ending: bool,
    pub(crate) unique_id: Option<String>,
}

impl Reply {
    pub(crate) fn to_message(&self) -> Map<String, Value> {
        let mut message = Map::new();
        message.insert("result".into(), self.result.clone());
        let failure = self.failure.clone().map_or(Value::Null, Value::String);
        message.insert("failure".into(), failure);
        message.insert("ending".into(), Value::Bool(self.ending));
        let msg_id = self.msg_id.clone().map_or(Value::Null, Value::String);
        message.insert("_msg_id".into(), msg_id);
        message.insert("_unique_id".into(), Value::String(unique_hex()));
        message
    }

    pub(crate) fn from_message(mut message: Map<String, Value>) -> Reply {
        let text = |value: Option<Value>| match value {
            Some(Value::String(text)) => Some(text),
            _ => None,
        };
        Reply {
            msg_id: text(message.remove("_msg_id")),
            result: message.remove("result").unwrap_or(Value::Null),
            failure: text(message.remove("failure")),
            ending: matches!(message.remove("ending"), Some(Value::Bool(true))),
            unique_id: text(message.remove("_unique_id")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn envelope_holds_the_message_as_json_text() {
        let mut message = Map::new();
        message.insert("method".into(), json!("echo"));
        let body: Value = serde_json::from_slice(&wrap(&message)).unwrap();
        assert_eq!(body["oslo.version"], "2.0");
        let inner: Value = serde_json::from_str(body["oslo.message"].as_str().unwrap()).unwrap();
        assert_eq!(inner, json!({"method": "echo"}));
        assert_eq!(unwrap(&wrap(&message)).unwrap(), message);
    }

    #[test]
    fn unwrapped_bodies_are_read_as_messages() {
        let message = unwrap(br#"{"method": "echo", "args": {}}"#).unwrap();
        assert_eq!(message["method"], "echo");
    }

    #[test]
    fn incompatible_envelope_is_refused() {
        let body = br#"{"oslo.version": "3.0", "oslo.message": "{}"}"#;
        assert!(unwrap(body).unwrap_err().contains("envelope version 2.0"));
        assert!(unwrap(b"[1]").unwrap_err().contains("JSON object"));
        assert!(
            unwrap(b"not json")
                .unwrap_err()
                .contains("JSON message body")
        );
    }

    #[test]
    fn request_round_trip_keeps_context_and_reply_address() {
        let context = RpcContext::new().with("user_id", "u1");
        let outgoing = OutgoingRequest {
            method: "add",
            args: json!({"a": 1}).as_object().unwrap().clone(),
            namespace: Some("math"),
            version: Some("1.2"),
            context: &context,
            reply: Some(("m1", "reply_q1", Some(10.0))),
        };
        let message = outgoing.to_message();
        assert_eq!(message["_context_user_id"], "u1");
        assert_eq!(message["_unique_id"].as_str().unwrap().len(), 32);

        let request = Request::from_message(message).unwrap();
        assert_eq!(request.method, "add");
        assert_eq!(request.args["a"], 1);
        assert_eq!(request.namespace.as_deref(), Some("math"));
        assert_eq!(request.version, "1.2");
        assert_eq!(request.context.get("user_id"), Some(&json!("u1")));
        assert_eq!(request.msg_id.as_deref(), Some("m1"));
        assert_eq!(request.reply_q.as_deref(), Some("reply_q1"));
        assert_eq!(request.client_timeout, Some(10.0));
        assert!(request.context.is_call());
    }

    #[test]
    fn request_defaults_follow_oslo() {
        let message = json!({"method": "ping"}).as_object().unwrap().clone();
        let request = Request::from_message(message).unwrap();
        assert_eq!(request.version, "1.0");
        assert!(request.args.is_empty());
        assert!(request.msg_id.is_none());
        let message = json!({"args": {}}).as_object().unwrap().clone();
        assert!(
            Request::from_message(message)
                .unwrap_err()
                .contains("`method`")
        );
    }

    #[test]
    fn reply_round_trip() {
        let reply = Reply {
            msg_id: Some("m1".into()),
            result: json!({"x": 1}),
            failure: None,
            ending: true,
            unique_id: None,
        };
        let message = reply.to_message();
        assert_eq!(message["failure"], Value::Null);
        let back = Reply::from_message(message);
        assert_eq!(back.msg_id.as_deref(), Some("m1"));
        assert_eq!(back.result, json!({"x": 1}));
        assert!(back.ending);
        assert!(back.unique_id.is_some());
    }
}
