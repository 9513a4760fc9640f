//! Long-running services for Rust, in the manner of OpenStack's oslo.service.

extern crate self as service_runtime;

pub mod config;
pub mod http;
pub mod periodic;
pub mod service;

pub use config::Conf;
pub use service::{Context, Service};
