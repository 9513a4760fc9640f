//! Long-running services for Rust, in the manner of OpenStack's oslo.service.

extern crate self as service_runtime;

pub mod config;
pub mod looping;
pub mod periodic;
pub mod service;
pub mod task_group;
pub mod testkit;

pub use config::Conf;
pub use service::{Context, Service};
