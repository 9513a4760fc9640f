//! The expansions under strict lints in the user's crate.
//!
//! `cargo test -p ui-tests` compiles this file with the rustc lints below
//! denied; `cargo clippy -p ui-tests --tests` adds clippy's `pedantic`,
//! `nursery` and a few `restriction` lints. Generated code must not make a
//! strict crate fail, and the user's own code is linted as usual.
#![deny(
    warnings,
    unused,
    unused_qualifications,
    unused_results,
    unused_import_braces,
    unused_lifetimes,
    unsafe_code,
    trivial_casts,
    trivial_numeric_casts,
    elided_lifetimes_in_paths,
    single_use_lifetimes,
    let_underscore_drop,
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms,
    future_incompatible,
    nonstandard_style,
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    clippy::allow_attributes,
    clippy::as_conversions,
    clippy::default_numeric_fallback,
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used,
    clippy::std_instead_of_core,
    clippy::absolute_paths
)]

use core::time::Duration;
use std::path::PathBuf;

use service_runtime::config::ConfigGroup;
use service_runtime::prelude::*;
use service_runtime::testkit;

/// Options of every shape.
#[config_group(name = "lints")]
#[derive(Debug)]
pub struct LintOpts {
    /// A bounded number.
    #[opt(default = 10, min = 1, max = 100)]
    pub count: u32,

    /// A float.
    #[opt(default = 0.5)]
    pub ratio: f64,

    /// A string with choices.
    #[opt(default = "a", choices = ["a", "b"], mutable)]
    pub mode: String,

    /// A path.
    #[opt(default = "/tmp/lints")]
    pub dir: PathBuf,

    /// A duration.
    #[opt(default = Duration::from_secs(3))]
    pub wait: Duration,

    /// A list.
    #[opt(default = ["x", "y"])]
    pub list: Vec<String>,

    /// Every occurrence.
    #[opt(multi, default = [1, 2])]
    pub many: Vec<u16>,

    /// Perhaps.
    pub maybe: Option<String>,

    /// Must be set.
    #[opt(required, secret)]
    pub token: String,

    /// Spacing of the task.
    #[opt(default = 2.5)]
    pub spacing: f64,
}

/// A service with every hook and task shape.
#[derive(Debug, Default)]
pub struct Linted {
    ticks: u64,
}

#[service(name = "lints", workers = lints.count)]
impl Linted {
    fn listeners(conf: &Conf) -> Vec<Listen> {
        let opts = conf.group::<LintOpts>();
        vec![Listen::unix("admin", opts.dir.join("admin.sock"), None)]
    }

    async fn new(_conf: &Conf) -> anyhow::Result<Self> {
        Ok(Self::default())
    }

    async fn start(&self, ctx: &Context) -> anyhow::Result<()> {
        let _worker = ctx.worker_id();
        Ok(())
    }

    async fn stop(&self, _graceful: bool) {}

    async fn reset(&self, _conf: &Conf) {}

    #[periodic(spacing = 10, run_immediately)]
    async fn tick(&mut self) {
        self.ticks += 1;
    }

    #[periodic(spacing = lints.spacing, initial_delay = 1, external_process_ok)]
    async fn option_spacing(&mut self, _ctx: &Context) -> Result<(), String> {
        self.ticks += 1;
        Ok(())
    }

    #[periodic(spacing = -1, name = "off")]
    async fn never(&self) {}
}

/// `main!` under the same lints; never called.
mod entry {
    service_runtime::main!(super::Linted);
}

#[test]
fn expansions_declare_what_was_written() {
    assert_eq!(Linted::periodic_tasks().len(), 3);
    assert_eq!(Linted::workers_option(), Some(("lints", "count")));
    assert_eq!(LintOpts::options().len(), 10);
    let conf = testkit::conf(&[("lints", "token", "t")]);
    assert_eq!(<Linted as Service>::listeners(&conf).len(), 1);
}
