//! Long-running services for Rust, in the manner of OpenStack's oslo.service.
//!
//! A service is a struct plus an `impl` block annotated with [`service`]. Its
//! options are structs annotated with [`config_group`]; its periodic tasks are
//! methods annotated with [`periodic`]. [`main!`] generates the program's
//! `main`, which parses the command line, reads the configuration files and
//! hands the service to a launcher: in the main process for one worker, or in
//! supervised worker processes for more.
//!
//! ```no_run
//! use service_runtime::prelude::*;
//!
//! /// Options of the `[greeter]` group.
//! #[config_group(name = "greeter")]
//! pub struct GreeterOpts {
//!     /// Number of worker processes.
//!     #[opt(default = 2, min = 1)]
//!     workers: u32,
//! }
//!
//! pub struct Greeter;
//!
//! #[service(name = "greeter", workers = greeter.workers)]
//! impl Greeter {
//!     async fn new(_conf: &Conf) -> anyhow::Result<Self> {
//!         Ok(Greeter)
//!     }
//!
//!     #[periodic(spacing = 10, run_immediately)]
//!     async fn greet(&mut self, ctx: &Context) {
//!         tracing::info!(worker = ctx.worker_id(), "hello");
//!     }
//! }
//!
//! service_runtime::main!(Greeter);
//! ```

extern crate self as service_runtime;

pub mod config;
pub mod exit;
pub mod http;
mod launcher;
pub mod logging;
pub mod looping;
pub mod options;
pub mod periodic;
#[cfg(feature = "rpc")]
pub mod rpc;
pub mod service;
pub mod systemd;
pub mod task_group;
pub mod testkit;

pub use service_macros::{config_group, periodic, service};

pub use config::Conf;
pub use service::{Context, Service};

/// What a service module usually imports.
pub mod prelude {
    pub use crate::config::Conf;
    pub use crate::service::{Context, Service};
    pub use crate::{config_group, periodic, service};
}

/// Generates `fn main` for a service type annotated with [`service`].
///
/// The generated function parses the command line, loads the configuration,
/// sets up logging and runs the service with the launcher its worker count
/// asks for. It never returns: the process exits with the code described in
/// [`exit`].
#[macro_export]
macro_rules! main {
    ($service:ty) => {
        fn main() {
            $crate::__private::run_main::<$service>(env!("CARGO_PKG_VERSION"))
        }
    };
}

/// Items the macros' expansions use. Not a public API: it may change in any
/// release.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
