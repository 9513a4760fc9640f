//! RPC over RabbitMQ, wire-compatible with OpenStack's oslo.messaging.
//!
//! A [`Transport`] comes from the `[DEFAULT] transport_url` option and the
//! `[oslo_messaging_rabbit]` group. An [`RpcServer`] serves the methods of
//! its [`Endpoint`]s on a [`Target`] (topic and server); an [`RpcClient`]
//! calls them and waits for the result, or casts them without waiting, to
//! one server, any server of a topic, or all of them (fanout). Python
//! services using oslo.messaging's `RPCClient` and `get_rpc_server` can talk
//! to both: exchanges, queues, message envelope, context, replies and
//! serialized failures are the same on the wire.
//!
//! Requests are acknowledged after they were handled, so delivery is at
//! least once; servers and clients reconnect on their own when the broker
//! goes away. See `docs/rpc.md` for the details and the known gaps.
//!
//! ```no_run
//! use serde_json::json;
//! use service_runtime::rpc::{
//!     Endpoint, RpcClient, RpcContext, RpcError, RpcServer, Target, Transport,
//! };
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo(conf: &service_runtime::Conf) -> Result<(), Box<dyn std::error::Error>> {
//! let transport = Transport::from_conf(conf)?;
//!
//! let endpoint = Endpoint::new().method("divide", |_ctx, args| async move {
//!     let (a, b) = (args["a"].as_f64().unwrap_or(0.0), args["b"].as_f64().unwrap_or(0.0));
//!     if b == 0.0 {
//!         return Err(RpcError::builtin("ZeroDivisionError", "division by zero"));
//!     }
//!     Ok(json!(a / b))
//! });
//! let target = Target::topic("calculator").server("host-1");
//! let stop = CancellationToken::new();
//! let server = RpcServer::new(&transport, target, vec![endpoint])?.start(stop.clone());
//! server.status().listening().await;
//!
//! let client = RpcClient::new(&transport, Target::topic("calculator"));
//! let half = client.call(&RpcContext::new(), "divide", json!({"a": 1, "b": 2})).await?;
//! assert_eq!(half, json!(0.5));
//!
//! stop.cancel();
//! server.wait().await?;
//! transport.close().await;
//! # Ok(())
//! # }
//! ```

mod client;
mod connection;
mod context;
mod endpoint;
mod error;
mod options;
mod server;
mod target;
mod transport;
mod url;
mod version;
mod wire;

pub use client::RpcClient;
pub use context::RpcContext;
pub use endpoint::{Endpoint, Handler, HandlerResult};
pub use error::{CallError, RemoteError, RpcError, ServerError, TransportError};
pub use options::{MessagingOpts, RabbitOpts};
pub use server::{RpcServer, RunningServer, ServerStatus};
pub use target::Target;
pub use transport::Transport;
pub use url::{BrokerHost, TransportUrl};
pub use version::version_is_compatible;
