//! The expansion adds no warning under strict lints in the user's crate.
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
    nonstandard_style
)]
//! A crate with strict lints.

use service_runtime::prelude::*;

/// The service.
#[derive(Debug, Default)]
pub struct Strict {
    ticks: u32,
}

#[service(name = "strict", workers = 2)]
impl Strict {
    async fn start(&mut self, ctx: &Context) -> anyhow::Result<()> {
        let _worker = ctx.worker_id();
        Ok(())
    }

    async fn stop(&mut self, _graceful: bool) {}

    #[periodic(spacing = 10, run_immediately)]
    async fn tick(&mut self, _ctx: &Context) -> Result<(), String> {
        self.ticks += 1;
        Ok(())
    }
}

#[allow(dead_code)]
mod entry {
    service_runtime::main!(super::Strict);
}

fn main() {
    assert_eq!(Strict::periodic_tasks().len(), 1);
}
