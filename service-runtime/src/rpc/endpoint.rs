//! Endpoints and the dispatcher: which handler serves a request, chosen by
//! namespace, version and method name as oslo.messaging's dispatcher
//! chooses.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::context::RpcContext;
use super::error::{DISPATCHER_MODULE, RpcError, TransportError};
use super::version::version_is_compatible;

/// The method every server answers when `rpc_ping_enabled` is set.
pub(crate) const PING_METHOD: &str = "oslo_rpc_server_ping";

/// What a handler returns.
pub type HandlerResult = Result<Value, RpcError>;

/// One RPC method: an async function of the caller's context and the
/// method's keyword arguments (a JSON object), returning the JSON result or
/// a failure for the caller.
///
/// # Examples
///
/// ```
/// use service_runtime::rpc::{Handler, RpcContext};
/// use serde_json::{Value, json};
///
/// let echo = Handler::new(|_ctx: RpcContext, args: Value| async move {
///     Ok(json!({ "echo": args["text"] }))
/// });
/// # let _ = echo;
/// ```
#[derive(Clone)]
pub struct Handler(
    Arc<dyn Fn(RpcContext, Value) -> BoxFuture<'static, HandlerResult> + Send + Sync>,
);

impl Handler {
    /// Wraps an async function as a handler.
    pub fn new<F, Fut>(function: F) -> Self
    where
        F: Fn(RpcContext, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        Handler(Arc::new(move |ctx, args| Box::pin(function(ctx, args))))
    }

    pub(crate) fn call(&self, ctx: RpcContext, args: Value) -> BoxFuture<'static, HandlerResult> {
        (self.0)(ctx, args)
    }
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handler")
    }
}

/// A set of methods sharing a namespace and an interface version, like an
/// oslo.messaging endpoint object with its `target`.
///
/// # Examples
///
/// ```
/// use service_runtime::rpc::{Endpoint, Handler};
/// use serde_json::{Value, json};
///
/// let methods = vec![(
///     "add",
///     Handler::new(|_ctx, args: Value| async move {
///         Ok(json!(args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0)))
///     }),
/// )];
/// let endpoint = Endpoint::from_methods(methods).version("1.2").namespace("math");
/// assert!(endpoint.has_method("add"));
/// ```
#[derive(Clone, Debug)]
pub struct Endpoint {
    namespace: Option<String>,
    legacy_namespaces: Vec<String>,
    version: String,
    methods: BTreeMap<String, Handler>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint {
            namespace: None,
            legacy_namespaces: Vec::new(),
            version: "1.0".into(),
            methods: BTreeMap::new(),
        }
    }
}

impl Endpoint {
    /// An endpoint of the default namespace, version 1.0, without methods.
    pub fn new() -> Self {
        Endpoint::default()
    }

    /// An endpoint with the given `(name, handler)` methods.
    pub fn from_methods<N: Into<String>>(methods: impl IntoIterator<Item = (N, Handler)>) -> Self {
        let mut endpoint = Endpoint::new();
        for (name, handler) in methods {
            endpoint.methods.insert(name.into(), handler);
        }
        endpoint
    }

    /// Adds the method `name`.
    pub fn method<F, Fut>(mut self, name: impl Into<String>, function: F) -> Self
    where
        F: Fn(RpcContext, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.methods.insert(name.into(), Handler::new(function));
        self
    }

    /// Serves requests of `namespace` instead of the default namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Also serves requests of `namespace`, for renaming a namespace during
    /// a rolling upgrade.
    pub fn legacy_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.legacy_namespaces.push(namespace.into());
        self
    }

    /// Implements interface version `version` (`major.minor`): it serves
    /// requests of the same major version and no greater minor version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Whether the endpoint has the method `name`.
    pub fn has_method(&self, name: &str) -> bool {
        self.methods.contains_key(name)
    }

    fn accepts_namespace(&self, namespace: Option<&str>) -> bool {
        self.namespace.as_deref() == namespace
            || namespace.is_some_and(|ns| self.legacy_namespaces.iter().any(|l| l == ns))
    }
}

/// The endpoints of one server, checked.
#[derive(Clone, Debug)]
pub(crate) struct Dispatcher {
    endpoints: Vec<Endpoint>,
}

impl Dispatcher {
    pub(crate) fn new(mut endpoints: Vec<Endpoint>, ping: bool) -> Result<Self, TransportError> {
        for endpoint in &endpoints {
            check_endpoint(endpoint)?;
        }
        let ping_taken = endpoints.iter().any(|e| e.has_method(PING_METHOD));
        if ping && !ping_taken {
            let pong = |_ctx, _args| async { Ok(Value::String("pong".into())) };
            endpoints.push(Endpoint::new().method(PING_METHOD, pong));
        }
        Ok(Dispatcher { endpoints })
    }

    /// The handler for a request, or the failure oslo.messaging sends when
    /// there is none: `NoSuchMethod` when some endpoint matches namespace
    /// and version, `UnsupportedVersion` otherwise.
    pub(crate) fn find(
        &self,
        method: &str,
        namespace: Option<&str>,
        version: &str,
    ) -> Result<&Handler, RpcError> {
        let mut found_compatible = false;
        for endpoint in &self.endpoints {
            if !endpoint.accepts_namespace(namespace) {
                continue;
            }
            match version_is_compatible(&endpoint.version, version) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(reason) => return Err(RpcError::builtin("ValueError", reason)),
            }
            if let Some(handler) = endpoint.methods.get(method) {
                return Ok(handler);
            }
            found_compatible = true;
        }
        Err(if found_compatible {
            let message = format!("Endpoint does not support RPC method {method}");
            RpcError::new("NoSuchMethod", message).with_module(DISPATCHER_MODULE)
        } else {
            let message = format!(
                "Endpoint does not support RPC version {version}. Attempted method: {method}"
            );
            RpcError::new("UnsupportedVersion", message).with_module(DISPATCHER_MODULE)
        })
    }
}

fn check_endpoint(endpoint: &Endpoint) -> Result<(), TransportError> {
    version_is_compatible(&endpoint.version, &endpoint.version)
        .map_err(|reason| TransportError::Invalid(format!("endpoint version: {reason}")))?;
    for name in endpoint.methods.keys() {
        if name.is_empty() || name.starts_with('_') {
            return Err(TransportError::Invalid(format!(
                "RPC method `{name}`: expected a name not starting with `_` \
                 (oslo.messaging never dispatches those)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> Handler {
        Handler::new(|_ctx, _args| async { Ok(Value::Null) })
    }

    fn dispatcher() -> Dispatcher {
        let plain = Endpoint::from_methods([("echo", noop())]);
        let math = Endpoint::from_methods([("add", noop())])
            .namespace("math")
            .legacy_namespace("arith")
            .version("1.3");
        Dispatcher::new(vec![plain, math], true).unwrap()
    }

    #[test]
    fn finds_by_namespace_version_and_name() {
        let dispatcher = dispatcher();
        assert!(dispatcher.find("echo", None, "1.0").is_ok());
        assert!(dispatcher.find("add", Some("math"), "1.2").is_ok());
        assert!(dispatcher.find("add", Some("arith"), "1.3").is_ok());
        assert!(dispatcher.find(PING_METHOD, None, "1.0").is_ok());
    }

    #[test]
    fn unknown_method_of_a_matching_endpoint_is_no_such_method() {
        let error = dispatcher().find("nope", Some("math"), "1.0").unwrap_err();
        assert_eq!(error.class(), "NoSuchMethod");
        assert_eq!(error.module(), DISPATCHER_MODULE);
        assert!(error.message().contains("nope"));
    }

    #[test]
    fn too_new_a_version_is_unsupported() {
        let error = dispatcher().find("add", Some("math"), "1.4").unwrap_err();
        assert_eq!(error.class(), "UnsupportedVersion");
        let error = dispatcher().find("echo", None, "2.0").unwrap_err();
        assert_eq!(error.class(), "UnsupportedVersion");
        let error = dispatcher().find("echo", Some("other"), "1.0").unwrap_err();
        assert_eq!(error.class(), "UnsupportedVersion");
    }

    #[test]
    fn private_method_names_are_refused() {
        let endpoint = Endpoint::from_methods([("_secret", noop())]);
        let error = Dispatcher::new(vec![endpoint], false).unwrap_err();
        assert!(error.to_string().contains("`_secret`"), "{error}");
        let endpoint = Endpoint::new().version("one");
        assert!(Dispatcher::new(vec![endpoint], false).is_err());
    }
}
