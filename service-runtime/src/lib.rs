//! Long-running services for Rust, in the manner of OpenStack's oslo.service.
//!
//! A service is a struct plus an `impl` block annotated with
//! [`#[service]`](macro@service). Its options are structs annotated with
//! [`#[config_group]`](macro@config_group); its periodic tasks are methods
//! annotated with [`#[periodic]`](macro@periodic). [`main!`] generates the
//! program's `main`, which parses the command line, reads the configuration
//! files and hands the service to a launcher: in the main process for one
//! worker, or in supervised worker processes for more.
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
mod control;
mod deadline;
pub mod exit;
pub mod http;
mod launcher;
pub mod listen;
pub mod logging;
pub mod looping;
pub mod options;
mod paths;
pub mod periodic;
#[cfg(feature = "rpc")]
pub mod rpc;
pub mod service;
pub mod systemd;
pub mod task_group;
pub mod testkit;
mod utc;

#[doc = include_str!("macros_doc/config_group.md")]
pub use service_macros::config_group;
#[doc = include_str!("macros_doc/periodic.md")]
pub use service_macros::periodic;
#[doc = include_str!("macros_doc/service.md")]
pub use service_macros::service;

pub use config::Conf;
pub use service::{Context, Service};

/// What a service module usually imports.
pub mod prelude {
    pub use crate::config::Conf;
    pub use crate::listen::Listen;
    pub use crate::service::{Context, Service};
    pub use crate::{config_group, periodic, service};
}

#[doc = include_str!("macros_doc/main.md")]
#[macro_export]
macro_rules! main {
    ($service:ty $(,)?) => {
        fn main() {
            $crate::__private::main::<$service>($crate::__private::env!("CARGO_PKG_VERSION"))
        }
    };
    // On a misuse: the error, and a `fn main` so that none is reported
    // missing as well.
    () => {
        $crate::__private::compile_error!(
            "`main!` needs the service type: `service_runtime::main!(MyService);`"
        );
        fn main() {}
    };
    ($($other:tt)*) => {
        $crate::__private::compile_error!(
            "`main!` takes one argument, the service type: `service_runtime::main!(MyService);`"
        );
        fn main() {}
    };
}

/// Items the macros' expansions use. Not a public API: it may change in any
/// release.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
